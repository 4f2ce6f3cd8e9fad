"""The bridge in dry-run: intel refreshed from bot_loop_start, the health gate announced once per change."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from freqtrade.enums import CandleType, RunMode

from hydra_plugins.bridge import HydraBridge
from hydra_plugins.core import columns as col
from tests.conftest import load_candles, load_funding, needs_data
from tests.fakes import FakeBinance
from tests.test_strategy import Hydra

ROOT = Path(__file__).resolve().parents[1]


class LiveDP:
    runmode = RunMode.DRY_RUN

    def __init__(self):
        self.messages = []

    def get_funding_rate_timeframe(self):
        return "1h"

    def current_whitelist(self):
        return ["BTC/USDT:USDT", "ETH/USDT:USDT"]

    def get_pair_dataframe(self, pair, timeframe, candle_type):
        if candle_type == CandleType.FUNDING_RATE:
            return load_funding(pair.split("/")[0])
        return pd.DataFrame()

    def send_msg(self, message, **kwargs):
        self.messages.append(message)


def live_bridge(tmp_path, rest_url):
    config = json.loads((ROOT / "config" / "config.json").read_text())
    config["runmode"] = RunMode.DRY_RUN
    config["user_data_dir"] = tmp_path
    config["exchange"]["pair_whitelist"] = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    config["hydra"]["intel"] = {"binance_rest_url": rest_url, "refresh_calls_per_loop": 50}
    strategy = Hydra(config)
    strategy.dp = LiveDP()
    bridge = HydraBridge(strategy)
    bridge.start()
    return bridge


@needs_data
def test_dry_run_records_intel_and_announces_health_changes(tmp_path):
    with FakeBinance(["BTCUSDT", "ETHUSDT"]) as fake:
        bridge = live_bridge(tmp_path, fake.url)
        assert bridge.recorder is not None and (tmp_path / "hydra" / "intel.sqlite").exists()
        assert ("BTC/USDT:USDT", "5m", CandleType.OPEN_INTEREST) in bridge.informative_pairs()
        candles = load_candles("BTC", "2024-02-01", "2024-02-12")
        # Nothing recorded yet: no open interest (Freqtrade serves none here) -> entries blocked, said once.
        frame = bridge.populate_indicators(candles.copy(), {"pair": "BTC/USDT:USDT"})
        assert not frame[col.HEALTH_OK].iloc[-1]
        assert frame[col.HEALTH_REASON].iloc[-1] == "no open_interest known"
        bridge.populate_indicators(candles.copy(), {"pair": "BTC/USDT:USDT"})
        assert bridge.strategy.dp.messages == ["HYDRA BTC/USDT:USDT: entries blocked, no open_interest known"]

        bridge.refresh_intel(datetime(2026, 11, 27, tzinfo=UTC))
        paths = {path for path, _ in fake.calls}
        assert "/fapi/v1/premiumIndex" in paths and "/futures/data/takerlongshortRatio" in paths
        assert "/fapi/v1/depth" not in paths  # the bot records the light sources only
        symbols = {p.get("symbol") for _, p in fake.calls if p.get("symbol")}
        assert symbols == {"BTCUSDT", "ETHUSDT"}
        calls = len(fake.calls)
        bridge.refresh_intel(datetime(2026, 11, 27, 0, 0, 5, tzinfo=UTC))
        assert len(fake.calls) == calls  # nothing due five seconds later


def test_backtests_never_build_a_recorder(tmp_path):
    config = json.loads((ROOT / "config" / "config.json").read_text())
    config["runmode"] = RunMode.BACKTEST
    config["user_data_dir"] = tmp_path
    bridge = HydraBridge(Hydra(config))
    bridge.start()
    assert bridge.recorder is None
    bridge.refresh_intel(datetime(2026, 11, 27, tzinfo=UTC))  # a no-op, no network
    assert not (tmp_path / "hydra").exists()


def test_a_silent_binance_costs_the_trading_loop_at_most_the_budget(tmp_path):
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    bridge = live_bridge(tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}")
    started = time.monotonic()
    bridge.refresh_intel(datetime(2026, 11, 27, tzinfo=UTC))
    first = time.monotonic() - started
    started = time.monotonic()
    bridge.refresh_intel(datetime(2026, 11, 27, 0, 0, 5, tzinfo=UTC))
    second = time.monotonic() - started
    silent.close()
    assert first < 2.0 * 2 + 1  # the budget (2 s) plus one call's own timeout at most
    assert second < 0.5  # the failed task backs off (30 s) instead of stalling every loop
