"""One way to open HYDRA's SQLite files (the intel store, the verdict journal): one transaction per use."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd


def to_ms(when: datetime | pd.Timestamp) -> int:
    """A moment as the epoch milliseconds HYDRA's SQLite files (and Binance) store times in."""
    return int(pd.Timestamp(when).value // 1_000_000)


def from_ms(ms: int) -> datetime:
    """The UTC moment of epoch milliseconds."""
    return pd.Timestamp(ms, unit="ms", tz="UTC").to_pydatetime()


@contextmanager
def connect(path: Path, *, readonly: bool) -> Iterator[sqlite3.Connection]:
    """A connection that commits when the block ends and rolls back if it raises; waits up to 30 s for a lock.

    Read-only opens the file as such (a reader never creates or changes it).
    """
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    else:
        con = sqlite3.connect(path, timeout=30)
    try:
        con.execute("PRAGMA busy_timeout=30000")
        with con:  # one transaction: commit on success, roll back on error
            yield con
    finally:
        con.close()


class SqliteFile:
    """A SQLite file in WAL mode: one writer and any number of readers, each use one transaction.

    Opened for writing it creates the folder and runs ``schema`` (``CREATE ... IF NOT EXISTS``
    statements, so a newer HYDRA adds what an older file lacks); opened read-only it changes nothing.
    """

    def __init__(self, path: Path | str, *, readonly: bool = False, schema: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                for statement in schema:
                    con.execute(statement)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path, readonly=self.readonly)
