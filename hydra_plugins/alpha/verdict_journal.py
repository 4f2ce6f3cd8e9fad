"""The news analyst's journal: every request and every verdict, point in time, in one SQLite file.

It is the audit trail (prompt hash, model, tokens, latency, cost estimate, outcome: never a key or a
prompt's secrets, since prompts hold none), the cache (a prompt already answered is answered again
from here, never paid twice), the budget's ledger (calls per hour, tokens per UTC day) and the
source backtests replay: a verdict applies from its ``available_at`` until its ``expires_at``.
SQLite in WAL mode, as the intel store: one writer (the analyst), readers (the bot, reports) alike.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from hydra_plugins.alpha.news_verdict import Verdict
from hydra_plugins.core.sqlite import SqliteFile, from_ms, to_ms

DDL = (
    "CREATE TABLE IF NOT EXISTS requests (prompt_hash TEXT NOT NULL, base TEXT NOT NULL, model TEXT NOT NULL, "
    "requested_at INTEGER NOT NULL, latency_ms INTEGER, input_tokens INTEGER, output_tokens INTEGER, "
    "cost_usd REAL, status TEXT NOT NULL, error TEXT, answer TEXT)",
    "CREATE INDEX IF NOT EXISTS requests_time ON requests (requested_at)",
    "CREATE INDEX IF NOT EXISTS requests_hash ON requests (prompt_hash, model, status)",
    "CREATE TABLE IF NOT EXISTS verdicts (base TEXT NOT NULL, available_at INTEGER NOT NULL, "
    "expires_at INTEGER NOT NULL, action TEXT NOT NULL, confidence REAL NOT NULL, horizon_hours REAL NOT NULL, "
    "reasons TEXT NOT NULL, article_ids TEXT NOT NULL, source TEXT NOT NULL, prompt_hash TEXT, model TEXT, "
    "PRIMARY KEY (base, available_at)) WITHOUT ROWID",
)


class VerdictJournal(SqliteFile):
    """Read and write the analyst's requests and verdicts."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        super().__init__(path, readonly=readonly, schema=DDL)

    # requests
    def record_request(
        self,
        *,
        prompt_hash: str,
        base: str,
        model: str,
        requested_at: datetime,
        latency_ms: int | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cost_usd: float | None,
        status: str,
        error: str | None = None,
        answer: dict[str, Any] | None = None,
    ) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (prompt_hash, base, model, to_ms(requested_at), latency_ms, input_tokens, output_tokens, cost_usd,
                 status, error, None if answer is None else json.dumps(answer, sort_keys=True)),
            )  # fmt: skip

    def cached_answer(self, prompt_hash: str, model: str) -> dict[str, Any] | None:
        """The validated answer an identical request (same prompt, same model) already got, if any."""
        with self._connect() as con:
            row = con.execute(
                "SELECT answer FROM requests WHERE prompt_hash = ? AND model = ? AND status = 'ok' "
                "ORDER BY requested_at LIMIT 1",
                (prompt_hash, model),
            ).fetchone()
        return None if row is None or row[0] is None else json.loads(row[0])

    def calls_since(self, since: datetime, until: datetime | None = None) -> int:
        """Paid calls (not cache hits) made in [since, until] (a backfill's clock is not the wall clock)."""
        with self._connect() as con:
            return int(
                con.execute(
                    "SELECT COUNT(*) FROM requests "
                    "WHERE requested_at >= ? AND requested_at <= ? AND status != 'cached'",
                    (to_ms(since), to_ms(until) if until else 2**62),
                ).fetchone()[0]
            )

    def tokens_since(self, since: datetime, until: datetime | None = None) -> int:
        with self._connect() as con:
            value = con.execute(
                "SELECT COALESCE(SUM(COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)), 0) FROM requests "
                "WHERE requested_at >= ? AND requested_at <= ? AND status != 'cached'",
                (to_ms(since), to_ms(until) if until else 2**62),
            ).fetchone()[0]
        return int(value)

    def cost_since(self, since: datetime) -> float:
        with self._connect() as con:
            value = con.execute(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE requested_at >= ?", (to_ms(since),)
            ).fetchone()[0]
        return float(value)

    # verdicts
    def record_verdict(self, verdict: Verdict, *, prompt_hash: str | None, model: str | None) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (base, available_at) DO NOTHING",
                (verdict.base, to_ms(verdict.available_at), to_ms(verdict.expires_at), verdict.action,
                 verdict.confidence, verdict.horizon_hours, json.dumps(list(verdict.reasons)),
                 json.dumps(list(verdict.article_ids)), verdict.source, prompt_hash, model),
            )  # fmt: skip

    def span(self) -> tuple[int, datetime, datetime] | None:
        """(verdicts, first known, last expiry) over the journal, or None when it holds none."""
        with self._connect() as con:
            n, first, last = con.execute("SELECT COUNT(*), MIN(available_at), MAX(expires_at) FROM verdicts").fetchone()
        return None if not n else (int(n), from_ms(first), from_ms(last))

    def count_in_force(self, start: datetime, end: datetime) -> int:
        """How many verdicts were in force at some moment of ``[start, end)`` (known before its end, expiring
        after its start)."""
        with self._connect() as con:
            (n,) = con.execute(
                "SELECT COUNT(*) FROM verdicts WHERE available_at < ? AND expires_at > ?", (to_ms(end), to_ms(start))
            ).fetchone()
        return int(n)

    def verdict_at(self, base: str, when: datetime) -> Verdict | None:
        """The verdict on ``base`` in force at ``when`` (known by then, not expired), or None.

        The model's own verdicts outrank defaults: a timeout's or "no news" neutral never cancels a
        hold or an exit still in force. Among the same kind, the newest wins.
        """
        with self._connect() as con:
            row = con.execute(
                "SELECT base, available_at, expires_at, action, confidence, horizon_hours, reasons, article_ids, "
                "source FROM verdicts WHERE base = ? AND available_at <= ? AND expires_at > ? "
                "ORDER BY source LIKE 'default:%' ASC, available_at DESC LIMIT 1",
                (base, to_ms(when), to_ms(when)),
            ).fetchone()
        if row is None:
            return None
        base_, available, expires, action, confidence, horizon, reasons, ids, source = row
        return Verdict(
            base=base_, action=action, confidence=confidence, horizon_hours=horizon,
            reasons=tuple(json.loads(reasons)), article_ids=tuple(json.loads(ids)),
            available_at=from_ms(available), expires_at=from_ms(expires), source=source,
        )  # fmt: skip


def day_start(when: datetime) -> datetime:
    return pd.Timestamp(when).floor("D").to_pydatetime()
