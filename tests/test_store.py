"""The intel store: idempotent writes, point-in-time reads, readers beside a writer in another process."""

import multiprocessing
import sqlite3
import time

import pandas as pd
import pytest

from hydra_plugins.intel.store import SERIES, IntelStore

T0 = pd.Timestamp("2024-05-02 00:00", tz="UTC")


MINUTE = pd.Timedelta(minutes=1)


def rows(n, start=0, symbol="BTCUSDT", value=1.0, lag=MINUTE):
    t = T0 + pd.to_timedelta(range(start * 5, (start + n) * 5, 5), unit="min")
    return pd.DataFrame(
        {
            "symbol": symbol,
            "source": "test",
            "event_time": t,
            "available_at": t + lag,
            "buy_sell_ratio": value,
            "buy_vol": float("nan"),
        }
    )


def test_writes_are_idempotent_and_first_record_wins(tmp_path):
    store = IntelStore(tmp_path / "intel.sqlite")
    assert store.write("taker_ratio", rows(10)) == 10
    assert store.write("taker_ratio", rows(10)) == 0  # re-import: nothing new
    assert store.write("taker_ratio", rows(15, value=2.0, lag=pd.Timedelta(hours=1))) == 5  # only the gap
    got = store.read("taker_ratio", "BTCUSDT")
    assert len(got) == 15
    assert (got["buy_sell_ratio"].iloc[:10] == 1.0).all()  # what was known first is never rewritten
    assert (got["available_at"].iloc[:10] - got["event_time"].iloc[:10] == pd.Timedelta(minutes=1)).all()
    assert got["buy_vol"].isna().all() and got["sell_vol"].isna().all()


def test_reads_filter_by_availability_and_symbol(tmp_path):
    store = IntelStore(tmp_path / "intel.sqlite")
    store.write("taker_ratio", rows(12))
    store.write("taker_ratio", rows(12, symbol="ETHUSDT", value=3.0))
    got = store.read("taker_ratio", "ETHUSDT", start=T0 + pd.Timedelta(minutes=11), end=T0 + pd.Timedelta(minutes=31))
    assert got["available_at"].tolist() == [T0 + pd.Timedelta(minutes=m) for m in (11, 16, 21, 26)]
    assert (got["symbol"] == "ETHUSDT").all() and (got["buy_sell_ratio"] == 3.0).all()
    empty = store.read("depth", "BTCUSDT")
    assert empty.empty and {"imbalance_top", "available_at"} <= set(empty.columns)


def test_bad_rows_are_refused(tmp_path):
    store = IntelStore(tmp_path / "intel.sqlite")
    with pytest.raises(KeyError, match="unknown intel series"):
        store.write("bogus", rows(1))
    with pytest.raises(KeyError, match="lack"):
        store.write("taker_ratio", rows(1).drop(columns="available_at"))
    with pytest.raises(ValueError, match="known before they happened"):
        store.write("taker_ratio", rows(2, lag=pd.Timedelta(minutes=-1)))
    assert store.read("taker_ratio", "BTCUSDT").empty


def test_coverage_per_series_symbol_and_source(tmp_path):
    store = IntelStore(tmp_path / "intel.sqlite")
    store.write("taker_ratio", rows(6))
    store.write("global_long_short", rows(3).rename(columns={"buy_sell_ratio": "long_short_ratio"}))
    cov = store.coverage()
    assert set(zip(cov["series"], cov["rows"], strict=True)) == {("taker_ratio", 6), ("global_long_short", 3)}
    assert (cov["last_event"] == T0 + pd.Timedelta(minutes=25)).any()


def test_store_is_wal_and_readonly_readers_cannot_write(tmp_path):
    path = tmp_path / "intel.sqlite"
    IntelStore(path).write("taker_ratio", rows(2))
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reader = IntelStore(path, readonly=True)
    assert len(reader.read("taker_ratio", "BTCUSDT")) == 2
    with pytest.raises(sqlite3.OperationalError):
        reader.write("taker_ratio", rows(3, start=5))


def _writer(path, batches):
    store = IntelStore(path)
    for i in range(batches):
        store.write("taker_ratio", rows(50, start=i * 50))
        time.sleep(0.02)  # keep the writer busy long enough for the reader to overlap it


def test_readers_see_whole_batches_while_another_process_writes(tmp_path):
    path = tmp_path / "intel.sqlite"
    IntelStore(path)
    batches = 40
    writer = multiprocessing.get_context("spawn").Process(target=_writer, args=(path, batches))
    writer.start()
    reader = IntelStore(path, readonly=True)
    seen = []
    deadline = time.monotonic() + 60
    while writer.is_alive() and time.monotonic() < deadline:
        seen.append(len(reader.read("taker_ratio", "BTCUSDT")))
    writer.join(timeout=60)
    assert writer.exitcode == 0
    assert len(set(seen)) >= 3, "the reader never overlapped the writer"
    assert all(n % 50 == 0 for n in seen), "a reader saw half a batch"
    assert seen == sorted(seen)
    assert len(reader.read("taker_ratio", "BTCUSDT")) == batches * 50


def test_every_series_declares_its_columns():
    for spec in SERIES.values():
        assert spec.value_columns and spec.description


def test_a_store_from_an_older_version_reads_and_upgrades(tmp_path):
    path = tmp_path / "intel.sqlite"
    IntelStore(path).write("taker_ratio", rows(3))
    with sqlite3.connect(path) as con:
        con.execute('DROP TABLE "stream_heartbeat"')  # as written before that series existed
    reader = IntelStore(path, readonly=True)
    assert reader.read("stream_heartbeat", "BTCUSDT").empty
    assert set(reader.coverage()["series"]) == {"taker_ratio"}
    IntelStore(path)  # opening for writing adds the missing table
    assert IntelStore(path, readonly=True).read("stream_heartbeat", "BTCUSDT").empty


def test_coverage_of_an_empty_file(tmp_path):
    path = tmp_path / "intel.sqlite"
    path.touch()  # e.g. created by hand, or by a reader before any writer
    assert IntelStore(path, readonly=True).coverage().empty
