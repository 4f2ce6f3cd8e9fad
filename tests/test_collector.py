"""The collector service against loopback fakes of Binance's REST API and liquidation stream."""

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hydra_plugins.intel.collector import Collector
from hydra_plugins.intel.recorder import IntelRecorder, binance_tasks
from hydra_plugins.intel.sources.binance_rest import BinanceFuturesClient
from hydra_plugins.intel.store import IntelStore
from tests.fakes import FakeBinance, FakeLiquidationStream

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def test_collector_fills_the_store_from_every_source(tmp_path):
    store = IntelStore(tmp_path / "intel.sqlite")
    with FakeBinance(SYMBOLS) as rest, FakeLiquidationStream() as stream, httpx.Client() as http:
        rest.faults["/fapi/v1/premiumIndex"].extend(["500", "garbage"])  # the first calls fail
        client = BinanceFuturesClient(http, rest.url, timeout_s=1.0)
        tasks = binance_tasks(client, SYMBOLS, premium_every_s=0.5, depth_every_s=0.5)
        recorder = IntelRecorder(store, tasks)
        recorder.backoff = type(recorder.backoff)(base_s=0.1, cap_s=0.5)
        collector = Collector(store, recorder, SYMBOLS, stream.url, flush_every_s=0.2, heartbeat_every_s=0.5)
        asyncio.run(collector.run(asyncio.Event(), duration_s=3.0))
    for series in ("premium_index", "global_long_short", "taker_ratio", "depth", "liquidation", "stream_heartbeat"):
        for symbol in SYMBOLS:
            assert not store.read(series, symbol).empty, (series, symbol)
    liq = store.read("liquidation", "BTCUSDT")
    assert liq["event_time"].is_unique  # Binance's repeated snapshot stored once
    assert (liq["side_sign"] == 1.0).all() and (store.read("liquidation", "ETHUSDT")["side_sign"] == -1.0).all()
    assert store.read("liquidation", "PEPEUSDT").empty  # only the traded symbols
    assert collector.heartbeats_written >= 2 * len(SYMBOLS)


def test_collect_command_stops_cleanly_on_sigterm(tmp_path):
    store = tmp_path / "intel.sqlite"
    with FakeBinance(SYMBOLS) as rest, FakeLiquidationStream() as stream:
        cmd = [str(Path(sys.executable).with_name("hydra")), "intel", "collect", "--store", str(store),
               "--symbols", *SYMBOLS, "--rest-url", rest.url, "--ws-url", stream.url, "--depth-every", "1"]  # fmt: skip
        env = {**os.environ, "HYDRA_DOTENV": "0"}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if store.exists() and not IntelStore(store, readonly=True).read("liquidation", "BTCUSDT").empty:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "Stopped:" in out
    reader = IntelStore(store, readonly=True)
    assert not reader.read("liquidation", "BTCUSDT").empty
    assert not reader.read("premium_index", "ETHUSDT").empty


def test_collector_keeps_recording_when_the_store_refuses_a_write(tmp_path, monkeypatch):
    store = IntelStore(tmp_path / "intel.sqlite")
    real_write, failures = store.write, []

    def flaky(series, rows):
        if series in ("liquidation", "stream_heartbeat") and len(failures) < 2:
            failures.append(series)
            raise sqlite3.OperationalError("database is locked")
        return real_write(series, rows)

    monkeypatch.setattr(store, "write", flaky)
    with FakeBinance(SYMBOLS) as rest, FakeLiquidationStream() as stream, httpx.Client() as http:
        recorder = IntelRecorder(store, binance_tasks(BinanceFuturesClient(http, rest.url), SYMBOLS))
        collector = Collector(store, recorder, SYMBOLS, stream.url, flush_every_s=0.2, heartbeat_every_s=0.3)
        asyncio.run(collector.run(asyncio.Event(), duration_s=2.0))
    assert len(failures) == 2
    assert collector.liquidations_written > 0 and collector.heartbeats_written > 0
    assert not store.read("liquidation", "ETHUSDT").empty  # the refused batch was written on a later flush


def test_sigterm_is_clean_even_while_binance_does_not_answer(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    with FakeLiquidationStream() as stream:
        cmd = [str(Path(sys.executable).with_name("hydra")), "intel", "collect", "--store", str(tmp_path / "i.sqlite"),
               "--symbols", *SYMBOLS, "--rest-url", url, "--ws-url", stream.url, "--timeout", "2"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "HYDRA_DOTENV": "0"})  # fmt: skip
        time.sleep(3)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    silent.close()
    assert proc.returncode == 0, err[-2000:]
    assert stopped_in < 10  # within Docker's 30 s grace period, with room to spare
    assert "Stopped:" in out
