"""The point-in-time intel store: every external series HYDRA records, with when it became known.

Storage is one SQLite file in WAL mode. Why: the collector (one process) writes while one or more
bots and reports read. WAL lets readers see a consistent snapshot without blocking the writer, and a
transaction either lands whole or not at all, so a crash never leaves half a batch. It is in the
standard library and needs no server. Partitioned Parquet would need its own locking and compaction
for a stream of small writes.

Each series is one table keyed by ``(symbol, event_time)``. Writes use ``INSERT ... ON CONFLICT DO
NOTHING``: re-importing a file or restarting the collector adds no duplicates, and the first record of
an event keeps its ``available_at`` (what the bot could have known then is never rewritten later).
Times are integer milliseconds since the epoch, UTC. A newer HYDRA adds the tables of new series
when it opens a store for writing; a read-only reader treats a missing table as an empty series.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from hydra_plugins.core.sqlite import SqliteFile
from hydra_plugins.intel.news import NewsArticle

KEY_COLUMNS = ("symbol", "source", "event_time", "available_at")
RATIO_COLUMNS = ("long_short_ratio", "long_account", "short_account")


@dataclass(frozen=True)
class SeriesSpec:
    """One kind of record: its table name, value columns and what it is."""

    name: str
    value_columns: tuple[str, ...]
    description: str


SERIES: dict[str, SeriesSpec] = {
    s.name: s
    for s in (
        SeriesSpec(
            "premium_index",
            ("mark_price", "index_price", "estimated_settle_price", "predicted_funding_rate", "interest_rate",
             "next_funding_time"),
            "GET /fapi/v1/premiumIndex: mark/index price and the predicted (next) funding rate",
        ),
        SeriesSpec(
            "global_long_short",
            RATIO_COLUMNS,
            "all accounts' long/short ratio (globalLongShortAccountRatio; archive count_long_short_ratio)",
        ),
        SeriesSpec(
            "top_long_short_account",
            RATIO_COLUMNS,
            "top traders' long/short account ratio (topLongShortAccountRatio; archive count_toptrader_...)",
        ),
        SeriesSpec(
            "top_long_short_position",
            RATIO_COLUMNS,
            "top traders' long/short position ratio (topLongShortPositionRatio; archive sum_toptrader_...)",
        ),
        SeriesSpec(
            "taker_ratio",
            ("buy_sell_ratio", "buy_vol", "sell_vol"),
            "taker buy/sell volume ratio (takerlongshortRatio; archive sum_taker_long_short_vol_ratio)",
        ),
        SeriesSpec(
            "liquidation",
            ("side_sign", "price", "quantity", "notional_usd"),
            "forced orders from the forceOrder stream; at most one per symbol per second is pushed, "
            "so sums are a lower bound",
        ),
        SeriesSpec(
            "stream_heartbeat",
            ("connected",),
            "one row a minute per websocket stream (symbol = stream name) while it is connected: "
            "proves a quiet stream was recording, not down",
        ),
        SeriesSpec(
            "depth",
            ("imbalance_top", "spread_bps", "bid_depth_usd", "ask_depth_usd", "mid_price"),
            "order-book snapshot: top-N imbalance, spread, depth within the configured band",
        ),
    )
}  # fmt: skip


# News: one row per story (the first-known copy of it), and which bases it concerns.
NEWS_COLUMNS = (
    "key", "source", "source_id", "published_at", "available_at", "title", "body", "url", "publisher",
    "categories", "tags",
)  # fmt: skip
NEWS_DDL = (
    "CREATE TABLE IF NOT EXISTS news (key TEXT PRIMARY KEY, source TEXT NOT NULL, source_id TEXT NOT NULL, "
    "published_at INTEGER NOT NULL, available_at INTEGER NOT NULL, title TEXT NOT NULL, body TEXT, url TEXT, "
    "publisher TEXT, categories TEXT, tags TEXT) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS news_known ON news (available_at)",
    "CREATE TABLE IF NOT EXISTS news_pairs (base TEXT NOT NULL, key TEXT NOT NULL, available_at INTEGER NOT NULL, "
    "PRIMARY KEY (base, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS news_pairs_known ON news_pairs (base, available_at)",
)


def _ms(when: datetime) -> int:
    return int(pd.Timestamp(when).value // 1_000_000)


def _spec(series: str) -> SeriesSpec:
    try:
        return SERIES[series]
    except KeyError:
        raise KeyError(f"unknown intel series {series!r}; known: {sorted(SERIES)}") from None


def _tables(con: sqlite3.Connection) -> set[str]:
    return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def to_ms(values: pd.Series) -> np.ndarray:
    """Return UTC timestamps as integer milliseconds."""
    return pd.to_datetime(values, utc=True).astype("datetime64[ms, UTC]").astype("int64").to_numpy()


def _schema() -> list[str]:
    statements = []
    for spec in SERIES.values():
        values = ", ".join(f'"{c}" REAL' for c in spec.value_columns)
        statements += [
            f'CREATE TABLE IF NOT EXISTS "{spec.name}" (symbol TEXT NOT NULL, source TEXT NOT NULL, '
            f"event_time INTEGER NOT NULL, available_at INTEGER NOT NULL, {values}, "
            "PRIMARY KEY (symbol, event_time)) WITHOUT ROWID",
            f'CREATE INDEX IF NOT EXISTS "{spec.name}_known" ON "{spec.name}" (symbol, available_at)',
        ]
    return [*statements, *NEWS_DDL]


class IntelStore(SqliteFile):
    """Read and write point-in-time series in one SQLite file."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        super().__init__(path, readonly=readonly, schema=_schema())

    def write(self, series: str, frame: pd.DataFrame) -> int:
        """Insert rows not yet stored (by symbol and event_time); return how many were new.

        ``frame`` has ``symbol, source, event_time, available_at`` (datetimes) and the series' value
        columns (missing ones are stored as NULL).
        """
        spec = _spec(series)
        if frame.empty:
            return 0
        missing = [c for c in KEY_COLUMNS if c not in frame.columns]
        if missing:
            raise KeyError(f"intel rows for {series} lack {missing}")
        if (to_ms(frame["available_at"]) < to_ms(frame["event_time"])).any():
            raise ValueError(f"intel rows for {series} claim to be known before they happened")
        columns = [*KEY_COLUMNS, *spec.value_columns]
        rows = pd.DataFrame({c: frame[c] if c in frame.columns else None for c in columns})
        rows["event_time"] = to_ms(frame["event_time"])
        rows["available_at"] = to_ms(frame["available_at"])
        records = [
            tuple(None if (isinstance(v, float) and np.isnan(v)) else v for v in rec)
            for rec in rows.itertuples(index=False, name=None)
        ]
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        with self._connect() as con:
            before = con.total_changes
            con.executemany(
                f'INSERT INTO "{spec.name}" ({names}) VALUES ({marks}) ON CONFLICT (symbol, event_time) DO NOTHING',
                records,
            )
            return con.total_changes - before

    def read_all(self, symbol: str, *, start: pd.Timestamp | None = None) -> dict[str, pd.DataFrame]:
        """Return every series that holds rows for ``symbol`` (available from ``start`` on), by name."""
        frames = {name: self.read(name, symbol, start=start) for name in SERIES}
        return {name: frame for name, frame in frames.items() if not frame.empty}

    def read(
        self,
        series: str,
        symbol: str,
        *,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Return a symbol's rows with ``available_at`` in [start, end), ordered by availability.

        Times come back as UTC datetimes. An empty frame has the right columns.
        """
        spec = _spec(series)
        clauses, params = ["symbol = ?"], [symbol]
        if start is not None:
            clauses.append("available_at >= ?")
            params.append(int(pd.Timestamp(start).value // 1_000_000))
        if end is not None:
            clauses.append("available_at < ?")
            params.append(int(pd.Timestamp(end).value // 1_000_000))
        columns = ", ".join(f'"{c}"' for c in (*KEY_COLUMNS, *spec.value_columns))
        query = f'SELECT {columns} FROM "{spec.name}" WHERE {" AND ".join(clauses)} ORDER BY available_at, event_time'
        with self._connect() as con:
            if spec.name not in _tables(con):  # a store written by an older HYDRA, opened read-only
                frame = pd.DataFrame(columns=[*KEY_COLUMNS, *spec.value_columns])
            else:
                frame = pd.read_sql_query(query, con, params=params)
        for c in ("event_time", "available_at"):
            frame[c] = pd.to_datetime(frame[c], unit="ms", utc=True)
        for c in spec.value_columns:
            frame[c] = frame[c].astype(float)
        return frame

    def write_news(self, articles: Iterable[NewsArticle]) -> int:
        """Insert stories not yet stored (by :attr:`NewsArticle.key`); return how many were new.

        The first-known copy of a story keeps its ``available_at``; a later copy from another source
        adds nothing, not even pairs.
        """
        rows, pairs = [], []
        for a in articles:
            rows.append(
                (a.key, a.source, a.source_id, _ms(a.published_at), _ms(a.available_at), a.title, a.body, a.url,
                 a.publisher, "|".join(a.categories), "|".join(a.tags))
            )  # fmt: skip
            pairs += [(base, a.key, _ms(a.available_at)) for base in a.pairs]
        if not rows:
            return 0
        with self._connect() as con:
            before = con.total_changes
            con.executemany(
                f"INSERT INTO news ({', '.join(NEWS_COLUMNS)}) VALUES ({', '.join('?' for _ in NEWS_COLUMNS)}) "
                "ON CONFLICT (key) DO NOTHING",
                rows,
            )
            added = con.total_changes - before
            # Pairs only for stories this write added (a story's pairs are fixed by its first copy).
            con.executemany(
                "INSERT INTO news_pairs (base, key, available_at) SELECT ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM news WHERE key = ? AND available_at = ?) ON CONFLICT (base, key) DO NOTHING",
                [(b, k, t, k, t) for b, k, t in pairs],
            )
            return added

    def read_news(
        self,
        base: str | None = None,
        *,
        known_by: datetime | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[NewsArticle]:
        """Stories known by ``known_by`` (and since ``since``), newest first; only ``base``'s when given."""
        clauses: list[str] = []
        params: list[object] = []
        table = "news"
        if base is not None:
            table = "news JOIN news_pairs USING (key)"
            clauses.append("news_pairs.base = ?")
            params.append(base)
        if known_by is not None:
            clauses.append("news.available_at <= ?")
            params.append(_ms(known_by))
        if since is not None:
            clauses.append("news.available_at >= ?")
            params.append(_ms(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        columns = ", ".join(f"news.{c}" for c in NEWS_COLUMNS)
        query = f"SELECT {columns} FROM {table} {where} ORDER BY news.available_at DESC, news.key"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._connect() as con:
            if "news" not in _tables(con):
                return []
            rows = con.execute(query, params).fetchall()
            keys = [r[0] for r in rows]
            bases: dict[str, list[str]] = {k: [] for k in keys}
            for chunk in range(0, len(keys), 500):
                part = keys[chunk : chunk + 500]
                marks = ", ".join("?" for _ in part)
                for b, k in con.execute(f"SELECT base, key FROM news_pairs WHERE key IN ({marks})", part):
                    bases[k].append(b)
        return [_article(row, tuple(sorted(bases[row[0]]))) for row in rows]

    def coverage(self) -> pd.DataFrame:
        """Return one row per series, symbol and source: rows, first and last event, last availability."""
        parts = []
        with self._connect() as con:
            present = _tables(con)
            for spec in SERIES.values():
                if spec.name not in present:
                    continue
                part = pd.read_sql_query(
                    f'SELECT "{spec.name}" AS series, symbol, source, COUNT(*) AS rows, '
                    "MIN(event_time) AS first_event, MAX(event_time) AS last_event, "
                    f'MAX(available_at) AS last_available FROM "{spec.name}" GROUP BY symbol, source',
                    con,
                )
                parts.append(part)
        columns = ["series", "symbol", "source", "rows", "first_event", "last_event", "last_available"]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
        for c in ("first_event", "last_event", "last_available"):
            frame[c] = pd.to_datetime(frame[c], unit="ms", utc=True)
        return frame.sort_values(["symbol", "series", "source"], ignore_index=True)


def _article(row: tuple, pairs: tuple[str, ...]) -> NewsArticle:
    (_, source, source_id, published, available, title, body, url, publisher, categories, tags) = row

    def when(ms: int) -> datetime:
        return pd.Timestamp(ms, unit="ms", tz="UTC").to_pydatetime()

    def split(value: str | None) -> tuple[str, ...]:
        return tuple(v for v in (value or "").split("|") if v)

    return NewsArticle(
        source=source, source_id=source_id, published_at=when(published), available_at=when(available),
        title=title, body=body or "", url=url or "", publisher=publisher or "", categories=split(categories),
        tags=split(tags), pairs=pairs,
    )  # fmt: skip
