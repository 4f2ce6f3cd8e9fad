"""What a backtest stood on and how well the scorer judged: input coverage and ML accuracy.

* :func:`input_coverage`: for each input HYDRA reads, the share of the span's candles where it was
  recorded, proxied (liquidations and the opponent model's positions have labelled proxies) or absent,
  measured on the same L1 join the strategy runs (:meth:`Pipeline.market_state`).
* :func:`ml_accuracy`: every candle on which an enabled signal would trade in the span (the scorer's
  own training rows, :func:`~hydra_plugins.training.datasets.scorer_dataset`), with what that trade
  would have done under HYDRA's exits after fees and funding, scored by the model of its time: the
  scorer allows a signal at ``P(profitable) >= ml_threshold``. Precision: the share of allowed signals
  that were profitable; recall: the share of profitable signals it allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hydra_plugins.alpha.features import SCORER_FEATURES
from hydra_plugins.alpha.scorer import SignalScorer
from hydra_plugins.alpha.verdict_journal import VerdictJournal
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.core.errors import ModelArtifactError
from hydra_plugins.pipeline import Pipeline
from hydra_plugins.training.datasets import scorer_dataset
from hydra_plugins.training.history import ResearchData, market_states

RECORDED_AT = 0.99  # a share at least this high counts as recorded throughout

# (input, the column the L1 join fills when it is known); liquidations and the opponent model are below
_INPUTS = (
    ("funding settlements", col.FUNDING_RATE),
    ("open interest", col.OI_VALUE_USD),
    ("long/short ratio (all accounts)", col.LONG_SHORT_RATIO),
    ("top traders' position ratio", col.TOP_POSITION_RATIO),
    ("taker buy/sell ratio", col.TAKER_RATIO),
    ("predicted funding (premium index)", col.PREDICTED_FUNDING),
    ("order book", col.BOOK_IMBALANCE),
)


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _status(recorded: float, proxied: float) -> str:
    if recorded >= RECORDED_AT:
        return "recorded"
    if recorded > 0:
        return "partly recorded" + (", proxied elsewhere" if proxied > 0 else "")
    return "proxied" if proxied > 0 else "absent"


def input_coverage(
    cfg: HydraConfig, data: ResearchData, pairs: Sequence[str], timerange: str, journal: Path | None = None
) -> pd.DataFrame:
    """Return one row per input: ``input``, ``recorded_pct``, ``proxied_pct``, ``status``, over all pairs' candles.

    ``journal`` is the news analyst's verdict journal (the LLM gate's input), when known.
    """
    pipe = Pipeline(cfg, int(pd.Timedelta(data.timeframe).total_seconds() // 60))
    parts = []
    for _, state, _, start in market_states(pipe, data, pairs, timerange):
        parts.append(state.loc[state["date"] >= start] if start is not None else state)
    if not parts:
        raise ValueError(f"no candles for {list(pairs)} in {data.datadir} over {timerange}")
    frame = pd.concat(parts, ignore_index=True)
    rows = [{"input": "candles (trade price)", "recorded_pct": 100.0, "proxied_pct": 0.0, "status": "recorded"}]
    for name, column in _INPUTS:
        known = frame[column].notna().to_numpy() if column in frame else np.zeros(len(frame), dtype=bool)
        rows.append({"input": name, "recorded_pct": 100 * _share(known), "proxied_pct": 0.0})
    proxy = frame[col.LIQ_IS_PROXY].astype("boolean")
    rows.append(
        {
            "input": "liquidations",
            "recorded_pct": 100 * _share((proxy == False).fillna(False).to_numpy()),  # noqa: E712 (nullable)
            "proxied_pct": 100 * _share((proxy == True).fillna(False).to_numpy()),  # noqa: E712
        }
    )
    opp = frame[col.OPP_PROXY_SHARE].to_numpy(dtype=float)
    known = np.isfinite(opp)
    rows.append(
        {
            "input": "opponent positions (liquidation clusters)",
            "recorded_pct": 100 * float(np.sum(1.0 - opp[known])) / len(frame),
            "proxied_pct": 100 * float(np.sum(opp[known])) / len(frame),
        }
    )
    out = pd.DataFrame(rows)
    out["status"] = [
        s if isinstance(s, str) else _status(r / 100, p / 100)
        for s, r, p in zip(out["status"], out["recorded_pct"], out["proxied_pct"], strict=True)
    ]
    if journal is not None:
        start, end = frame["date"].min(), frame["date"].max()
        out = pd.concat([out, pd.DataFrame([news_gate_coverage(cfg, journal, start, end)])], ignore_index=True)
    return out


LLM_INPUT = "news analyst verdicts (LLM gate)"


def news_gate_coverage(cfg: HydraConfig, journal: Path, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, object]:
    """The LLM gate's input row: off, absent (no journal, or none of its verdicts in the span), or how many."""
    row: dict[str, object] = {"input": LLM_INPUT, "recorded_pct": float("nan"), "proxied_pct": float("nan")}
    if not cfg.alpha.news_analyst.enabled:
        return {**row, "status": "off (hydra.alpha.news_analyst.enabled is false)"}
    if not journal.is_file():
        return {**row, "status": f"absent: no verdict journal at {journal} (hydra llm backfill writes one)"}
    count = VerdictJournal(journal, readonly=True).count_in_force(start.to_pydatetime(), end.to_pydatetime())
    if count == 0:
        return {**row, "status": f"absent: {journal} holds no verdict in the span (hydra llm backfill)"}
    return {**row, "status": f"recorded: {count:,} verdicts in force during the span, in {journal}"}


@dataclass(frozen=True)
class ScorerWindow:
    """The scorer that judged the signals of ``[start, end)`` (a walk-forward window, or the whole span)."""

    path: Path
    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True)
class MlAccuracy:
    """The scorer's judgement of every signal it saw in the span, against what the signal would have done."""

    threshold: float
    signals: int
    profitable: int
    allowed: int
    allowed_profitable: int
    notes: tuple[str, ...]
    per_signal: pd.DataFrame

    def summary(self) -> dict[str, float]:
        """The counts and rates, for the report's JSON."""
        return {
            "threshold": self.threshold, "signals": self.signals, "profitable": self.profitable,
            "allowed": self.allowed, "allowed_profitable": self.allowed_profitable, "precision": self.precision,
            "recall": self.recall, "accuracy": self.accuracy, "base_rate": self.base_rate,
        }  # fmt: skip

    @property
    def precision(self) -> float:
        return self.allowed_profitable / self.allowed if self.allowed else float("nan")

    @property
    def recall(self) -> float:
        return self.allowed_profitable / self.profitable if self.profitable else float("nan")

    @property
    def base_rate(self) -> float:
        return self.profitable / self.signals if self.signals else float("nan")

    @property
    def rejected(self) -> int:
        return self.signals - self.allowed

    @property
    def rejected_losing(self) -> int:
        return self.rejected - (self.profitable - self.allowed_profitable)

    @property
    def accuracy(self) -> float:
        return (self.allowed_profitable + self.rejected_losing) / self.signals if self.signals else float("nan")


def _counts(profitable: np.ndarray, allowed: np.ndarray) -> dict[str, int]:
    return {
        "signals": int(profitable.size),
        "profitable": int(profitable.sum()),
        "allowed": int(allowed.sum()),
        "allowed_profitable": int((allowed & profitable).sum()),
    }


def ml_accuracy(
    cfg: HydraConfig,
    data: ResearchData,
    pairs: Sequence[str],
    timerange: str,
    scorers: Sequence[ScorerWindow],
    overrides: Mapping[str, float] | None = None,
) -> MlAccuracy | None:
    """Score the span's signals with the scorer of their time; None when no scorer could be loaded."""
    enabled = {name.upper() for name, switch in cfg.alpha.signals if switch.enabled}
    try:
        rows = scorer_dataset(cfg, data, pairs, timerange, overrides=overrides)
    except ValueError:  # no signal fired
        rows = pd.DataFrame(columns=["date", "signal", "profitable", *SCORER_FEATURES])
    rows = rows.loc[rows["signal"].isin(enabled)].reset_index(drop=True)
    dates = pd.to_datetime(rows["date"], utc=True)
    scores = np.full(len(rows), np.nan)
    notes = []
    for window in scorers:
        inside = ((dates >= window.start) & (dates < window.end)).to_numpy()
        try:
            scorer = SignalScorer.load(window.path)
        except (ModelArtifactError, OSError) as exc:
            notes.append(f"{window.start:%Y-%m-%d} → {window.end:%Y-%m-%d}: no scorer ({exc})")
            continue
        if inside.any():
            scores[inside] = scorer.predict(rows.loc[inside])
    scored = np.isfinite(scores)
    if len(notes) == len(scorers):  # not one scorer could be loaded
        return None
    profitable = rows["profitable"].to_numpy(dtype=bool)[scored]
    allowed = scores[scored] >= cfg.alpha.ml_threshold
    per_signal = []
    for name in sorted(set(rows.loc[scored, "signal"])):
        which = (rows.loc[scored, "signal"] == name).to_numpy()
        per_signal.append({"signal": name, **_counts(profitable[which], allowed[which])})
    return MlAccuracy(
        threshold=cfg.alpha.ml_threshold,
        **_counts(profitable, allowed),
        notes=tuple(notes),
        per_signal=pd.DataFrame(per_signal, columns=["signal", *_counts(np.zeros(0, bool), np.zeros(0, bool))]),
    )
