"""The risk journal: one JSON line per kill switch event and per refused entry.

Live and dry-run bots append to ``user_data/<hydra.risk.kill_switches.journal_path>``; a backtest
writes ``user_data/backtest_results/hydra_risk_journal.jsonl`` afresh. ``hydra report risk`` counts
it by event and reason, next to Freqtrade's own exit-reason table.

Each line: ``time`` (ISO, UTC: the candle or moment the decision was made for), ``event``
(``refused``, ``fired``, ``expired``, ``cleared``), ``code`` (a refusal's short name, or the
switch), ``pair``, ``side``, ``tag`` and ``reason``.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

BACKTEST_JOURNAL = "backtest_results/hydra_risk_journal.jsonl"


class RiskJournal:
    """Appends events to ``path`` (None: writes nothing, as in hyperopt); ``fresh`` empties it first."""

    def __init__(self, path: Path | None, *, fresh: bool = False) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if fresh:
                path.write_text("", encoding="utf-8")

    def write(self, event: str, time: datetime, *, code: str, reason: str = "", **fields: Any) -> None:
        if self.path is None:
            return
        record = {"time": time.isoformat(), "event": event, "code": code, **fields, "reason": reason}
        # One open, one line, one close: nothing is lost to a buffer when the process ends, and another
        # process (``hydra report risk``) may read it at any time.
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Return the journal's records; a line that is not JSON is skipped (a crash can cut the last one)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "event" in record:
            records.append(record)
    return records


def count_events(records: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Count records per event by code: ``{"refused": Counter({"max_positions": 12, ...}), "fired": ...}``."""
    out: dict[str, Counter[str]] = {}
    for record in records:
        out.setdefault(str(record["event"]), Counter())[str(record.get("code", ""))] += 1
    return out
