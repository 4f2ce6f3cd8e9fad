"""The decision journal: every cycle's decision for every pair, each layer's verdict and reason.

A live or dry-run bot writes one row per pair and closed candle (``user_data/hydra/decisions.sqlite``,
SQLite in WAL mode, so ``hydra status`` and ``hydra dashboard`` read it while the bot writes). A row
says what each layer made of the candle: L1's data health, L2's regime and gate, L3's best signal,
its confidence and ML score and the news analyst's verdict, L4's size and the kill switches, and
the final word (``ENTER LONG``, ``ENTER SHORT``, ``BLOCKED``, ``NO SIGNAL``, ``IN POSITION``) with why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra_plugins.core.sqlite import SqliteFile, from_ms, to_ms

FINALS = ("ENTER LONG", "ENTER SHORT", "BLOCKED", "NO SIGNAL", "IN POSITION")
TABLE_HEADER = ("Symbol", "Price", "L2 Regime", "Best Signal", "Conf", "ML Score", "L4 Size", "Final")


@dataclass(frozen=True)
class Decision:
    """One pair's decision on one closed candle (``time`` is the candle's open, UTC)."""

    time: datetime
    pair: str
    price: float
    health: str  # "ok" or why entries are blocked by L1's data health
    regime: str
    gate: str  # ALLOW / REDUCE / BLOCK
    gate_reason: str
    signal: str  # the best signal's name, "" without one
    direction: int  # +1 long, -1 short, 0 none
    confidence: float | None
    ml_score: float | None
    news: str  # the news analyst's verdict in force, "" without one
    kill: str  # the kill switch in force on the pair, "" without one
    size_usd: float | None  # the position L4 sizes for the signal (notional), None without one or when refused
    size_reason: str
    final: str
    final_reason: str
    written_at: datetime

    def cells(self) -> tuple[str, ...]:
        """The pipeline table's row: Symbol | Price | L2 Regime | Best Signal | Conf | ML Score | L4 Size | Final."""
        side = {1: " long", -1: " short"}.get(self.direction, "")
        return (
            self.pair.split("/", 1)[0],
            f"{self.price:,.6g}",
            self.regime or "-",
            f"{self.signal}{side}" if self.signal else "-",
            _fmt(self.confidence, "{:.2f}"),
            _fmt(self.ml_score, "{:.2f}"),
            _fmt(self.size_usd, "{:,.0f} USD"),
            self.final,
        )

    def layers(self) -> dict[str, str]:
        """Each layer's verdict with its reason, for the verbose views."""
        side = "long" if self.direction == 1 else "short"
        scores = f"conf {_fmt(self.confidence, '{:.2f}')} ML {_fmt(self.ml_score, '{:.2f}')}"
        return {
            "L1 data health": self.health,
            "L2 regime / gate": f"{self.regime} / {self.gate}" + (f": {self.gate_reason}" if self.gate_reason else ""),
            "L3 signal": f"{self.signal} {side} {scores}" if self.signal else "no signal",
            "L3 news analyst": self.news or "no verdict in force",
            "L4 size": _fmt(self.size_usd, "{:,.0f} USD") + (f" ({self.size_reason})" if self.size_reason else ""),
            "L4 kill switch": self.kill or "none in force",
            "Final": self.final + (f": {self.final_reason}" if self.final_reason else ""),
        }

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["time"], out["written_at"] = self.time.isoformat(), self.written_at.isoformat()
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else spec.format(value)


_COLUMNS = [f.name for f in fields(Decision)]
DDL = (
    "CREATE TABLE IF NOT EXISTS decisions (time INTEGER NOT NULL, pair TEXT NOT NULL, price REAL, health TEXT, "
    "regime TEXT, gate TEXT, gate_reason TEXT, signal TEXT, direction INTEGER, confidence REAL, ml_score REAL, "
    "news TEXT, kill TEXT, size_usd REAL, size_reason TEXT, final TEXT, final_reason TEXT, written_at INTEGER, "
    "PRIMARY KEY (time, pair)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS decisions_written ON decisions (written_at)",
)


class DecisionJournal(SqliteFile):
    """Write and read the decisions (a candle analysed again replaces its row)."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        super().__init__(path, readonly=readonly, schema=DDL)

    def write(self, decisions: list[Decision]) -> None:
        rows = []
        for d in decisions:
            values = asdict(d)
            values["time"], values["written_at"] = to_ms(d.time), to_ms(d.written_at)
            rows.append(tuple(values[c] for c in _COLUMNS))
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._connect() as con:
            con.executemany(f"INSERT OR REPLACE INTO decisions ({', '.join(_COLUMNS)}) VALUES ({marks})", rows)

    def latest(self) -> list[Decision]:
        """The newest decision of every pair, by pair."""
        query = (
            f"SELECT {', '.join('d.' + c for c in _COLUMNS)} FROM decisions d JOIN (SELECT pair, MAX(time) AS t "
            "FROM decisions GROUP BY pair) m ON d.pair = m.pair AND d.time = m.t ORDER BY d.pair"
        )
        return self._read(query, ())

    def history(self, limit: int = 200, pair: str | None = None) -> list[Decision]:
        """The newest ``limit`` decisions (of one pair, or all), newest first."""
        where, params = ("WHERE pair = ?", (pair,)) if pair else ("", ())
        query = f"SELECT {', '.join(_COLUMNS)} FROM decisions {where} ORDER BY time DESC, pair LIMIT ?"
        return self._read(query, (*params, limit))

    def _read(self, query: str, params: tuple) -> list[Decision]:
        with self._connect() as con:
            rows = con.execute(query, params).fetchall()
        out = []
        for row in rows:
            values = dict(zip(_COLUMNS, row, strict=True))
            values["time"], values["written_at"] = from_ms(values["time"]), from_ms(values["written_at"])
            out.append(Decision(**values))
        return out


def render_table(decisions: list[Decision]) -> str:
    """The pipeline table as aligned text (``hydra status``)."""
    rows = [TABLE_HEADER, *(d.cells() for d in decisions)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADER))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
