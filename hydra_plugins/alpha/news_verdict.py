"""The news analyst's verdict: the only thing an LLM answer can become, and what it may do.

The model answers by calling one tool, ``record_verdict``, whose input schema is :class:`VerdictInput`'s.
The answer is validated again here (pydantic, strict: no extra keys), and the article ids it cites
must be among the ones it was shown. Whatever the news said, a verdict can only restrict trading:

==========  ======================================================================
action      effect
==========  ======================================================================
bullish     favour longs: new shorts on the pair are vetoed
bearish     favour shorts: new longs on the pair are vetoed
hold        wait for clarity: no new entries on the pair
exit        close the open positions on the pair, and no new entries
==========  ======================================================================

It can never open a trade, raise a size or a leverage: there is no field for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Action = Literal["bullish", "bearish", "hold", "exit"]
TOOL_NAME = "record_verdict"


class VerdictInput(BaseModel):
    """What the model must fill in (the tool's input schema)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action = Field(
        description="bullish: favour longs; bearish: favour shorts; hold: no new entries until the news is "
        "clearer; exit: close open positions on the pair now"
    )
    confidence: Annotated[float, Field(ge=0.0, le=1.0, description="how sure, 0 to 1")]
    horizon_hours: Annotated[float, Field(gt=0.0, le=72.0, description="how long the view should hold")]
    reasons: Annotated[
        list[Annotated[str, Field(max_length=200)]],
        Field(min_length=1, max_length=3, description="at most three short reasons"),
    ]
    article_ids: Annotated[
        list[str], Field(max_length=20, description="ids of the articles the verdict relies on (may be empty)")
    ]


def verdict_tool() -> dict[str, Any]:
    """The one tool the model may call, in the Messages API's ``tools`` format."""
    return {
        "name": TOOL_NAME,
        "description": "Record the trading verdict for the pair from the news given. Call it exactly once.",
        "input_schema": VerdictInput.model_json_schema(),
    }


@dataclass(frozen=True)
class Verdict:
    """A pair's verdict, from the analyst or the configured default, with when it holds."""

    base: str
    action: Action | Literal["neutral"]
    confidence: float
    horizon_hours: float
    reasons: tuple[str, ...]
    article_ids: tuple[str, ...]
    available_at: datetime  # when the bot could first act on it (the answer's arrival)
    expires_at: datetime
    source: str  # "llm", "cache" or "default: <why>"

    def active(self, when: datetime) -> bool:
        return self.available_at <= when < self.expires_at

    def vetoes(self, side: str) -> bool:
        """Whether this verdict refuses a new ``side`` ("long"/"short") entry."""
        if self.action in ("hold", "exit"):
            return True
        return (self.action == "bullish" and side == "short") or (self.action == "bearish" and side == "long")


def parse_verdict(
    raw: Any, base: str, shown_ids: Iterable[str], available_at: datetime, ttl: timedelta, source: str = "llm"
) -> Verdict:
    """Validate a tool input; raise ValueError naming what was wrong (an id it was never shown, a bad field)."""
    try:
        data = VerdictInput.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "input"
        raise ValueError(f"verdict out of schema: {where}: {first['msg']}") from None
    unknown = sorted(set(data.article_ids) - set(shown_ids))
    if unknown:
        raise ValueError(f"verdict cites articles it was not shown: {unknown[:5]}")
    return Verdict(
        base=base,
        action=data.action,
        confidence=data.confidence,
        horizon_hours=data.horizon_hours,
        reasons=tuple(data.reasons),
        article_ids=tuple(data.article_ids),
        available_at=available_at,
        expires_at=available_at + ttl,
        source=source,
    )


def default_verdict(base: str, action: Literal["neutral", "hold"], why: str, now: datetime, ttl: timedelta) -> Verdict:
    """The configured answer when the analyst fails: ``neutral`` (no opinion) or ``hold``."""
    return Verdict(base, action, 0.0, ttl.total_seconds() / 3600, (why,), (), now, now + ttl, f"default: {why}")
