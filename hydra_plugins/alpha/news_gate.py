"""The news analyst's verdicts at work: entries they veto, positions they close, read from the journal.

The strategy never calls the model: the analyst runs apart and writes its journal; callbacks only
read the newest verdict known at their moment (``available_at`` ≤ now < ``expires_at``). Backtests
read the very same journal, so a replayed verdict acts at the first candle after it was known, never
earlier. Where no verdict is in force the gate is neutral (a ``neutral`` verdict, the failure default,
is neutral too).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from hydra_plugins.alpha.news_verdict import Verdict
from hydra_plugins.alpha.verdict_journal import VerdictJournal

EXIT_REASON = "hydra_llm_exit"


class NewsGate:
    """Reads verdicts from the journal at ``path`` (read-only) for entries, exits and the messages on change.

    The journal may not exist yet when the bot starts (the analyst writes it); until it does, and
    while it cannot be read, the gate is neutral.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._journal: VerdictJournal | None = None
        self._said: dict[str, str] = {}

    @property
    def journal(self) -> VerdictJournal | None:
        if self._journal is None and self.path.is_file():
            self._journal = VerdictJournal(self.path, readonly=True)
        return self._journal

    def span(self) -> tuple[int, datetime, datetime] | None:
        try:
            return self.journal.span() if self.journal is not None else None
        except sqlite3.Error:  # created, tables not yet written
            return None

    def verdict(self, base: str, when: datetime) -> Verdict | None:
        try:
            return self.journal.verdict_at(base, when) if self.journal is not None else None
        except sqlite3.Error:
            return None

    def entry_refusal(self, base: str, side: str, when: datetime) -> tuple[str, str] | None:
        """(code, reason) when the verdict in force vetoes a new ``side`` entry on ``base``, else None."""
        verdict = self.verdict(base, when)
        if verdict is None or not verdict.vetoes(side):
            return None
        reasons = "; ".join(verdict.reasons)
        return f"llm_{verdict.action}", f"news analyst says {verdict.action} ({verdict.confidence:.2f}): {reasons}"

    def exit_reason(self, base: str, opened_at: datetime, when: datetime) -> str | None:
        """``hydra_llm_exit`` when an ``exit`` verdict known after the position opened is in force."""
        verdict = self.verdict(base, when)
        if verdict is not None and verdict.action == "exit" and opened_at < verdict.available_at:
            return EXIT_REASON
        return None

    def changes(self, bases: Iterable[str], when: datetime) -> list[str]:
        """Messages for the pairs whose verdict became ``hold`` or ``exit`` (or stopped being one) since last asked."""
        out = []
        for base in bases:
            verdict = self.verdict(base, when)
            action = verdict.action if verdict is not None else "none"
            before = self._said.get(base, "none")
            self._said[base] = action
            if action == before:
                continue
            if action in ("hold", "exit"):
                assert verdict is not None
                out.append(
                    f"HYDRA news analyst: {base} {action.upper()} until {verdict.expires_at:%H:%M} UTC"
                    f" ({verdict.confidence:.2f}): {'; '.join(verdict.reasons)}"
                )
            elif before in ("hold", "exit"):
                out.append(f"HYDRA news analyst: {base} no longer {before} (now {action})")
        return out
