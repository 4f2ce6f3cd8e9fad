"""Shared fixtures: real market data from ../shared/data, a free loopback markets server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from hydra_plugins.replay.markets import MarketsServer, ccxt_overlay, load_snapshot

ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """Return the market-data root the tests read: $HYDRA_DATA_DIR, else ../shared/data."""
    env = os.environ.get("HYDRA_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


DATADIR = data_root() / "binance"
FUTURES = DATADIR / "futures"

needs_data = pytest.mark.skipif(
    not (FUTURES / "BTC_USDT_USDT-15m-futures.feather").exists(),
    reason=f"real market data not found under {FUTURES}",
)


def load_candles(symbol: str = "BTC", start: str = "2024-01-01", end: str = "2024-03-01") -> pd.DataFrame:
    """Return real 15m candles for one pair, [start, end)."""
    frame = pd.read_feather(FUTURES / f"{symbol}_USDT_USDT-15m-futures.feather")
    keep = (frame["date"] >= pd.Timestamp(start, tz="UTC")) & (frame["date"] < pd.Timestamp(end, tz="UTC"))
    return frame.loc[keep].reset_index(drop=True)


def load_funding(symbol: str = "BTC") -> pd.DataFrame:
    """Return real funding settlements for one pair."""
    return pd.read_feather(FUTURES / f"{symbol}_USDT_USDT-1h-funding_rate.feather")


@pytest.fixture
def markets_server():
    """A markets server on a free loopback port, stopped after the test."""
    server = MarketsServer(load_snapshot(), port=0).start()
    yield server
    server.stop()


@pytest.fixture
def offline_config(markets_server, tmp_path) -> Path:
    """A config overlay pointing ccxt at the test's markets server."""
    path = tmp_path / "offline.json"
    path.write_text(json.dumps(ccxt_overlay(markets_server.url)))
    return path


@pytest.fixture
def userdir(tmp_path) -> Path:
    """A Freqtrade user directory of the test's own."""
    ud = tmp_path / "user_data"
    for sub in ("backtest_results", "data", "logs", "strategies"):
        (ud / sub).mkdir(parents=True)
    return ud


@pytest.fixture(autouse=True)
def pair_locks_in_memory():
    """Freqtrade's pair locks kept in memory (no trade database in unit tests), empty for every test."""
    from freqtrade.persistence import PairLocks

    PairLocks.use_db = False
    PairLocks.reset_locks()
    yield
    PairLocks.reset_locks()


@pytest.fixture
def clean_env(monkeypatch):
    """A command run as a user would: the user's .env and FREQTRADE__* variables must not change what the test
    measures, and it runs from the project."""

    for name in [k for k in os.environ if k.startswith("FREQTRADE__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HYDRA_DOTENV", "0")
    monkeypatch.delenv("PYTEST_VERSION", raising=False)  # Freqtrade sets up no logging (no --logfile) under pytest
    monkeypatch.chdir(ROOT)
