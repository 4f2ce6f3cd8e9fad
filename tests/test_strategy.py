"""The thin strategy and the bridge: delegation, fail-closed entries, exits that never block."""

import importlib.util
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hydra_plugins.bridge import HydraBridge, check_secrets, fail_closed
from hydra_plugins.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def load_hydra_class():
    spec = importlib.util.spec_from_file_location("hydra_strategy", ROOT / "user_data" / "strategies" / "hydra.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Hydra


Hydra = load_hydra_class()


def ft_config(**hydra):
    config = json.loads((ROOT / "config" / "config.json").read_text())
    if hydra:
        config["hydra"] = hydra
    return config


class Broken:
    """A bridge whose every call fails, as a bug or bad data would."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RuntimeError(f"{name} exploded")

        return fail


@pytest.fixture
def broken_strategy():
    strategy = Hydra(ft_config())
    strategy.hydra = Broken()
    return strategy


NOW = datetime(2024, 3, 1, tzinfo=UTC)


def test_entry_callbacks_refuse_when_hydra_fails(broken_strategy, caplog):
    s = broken_strategy
    with caplog.at_level(logging.ERROR):
        assert (
            s.custom_stake_amount("BTC/USDT:USDT", NOW, 1.0, 500.0, 5.0, 1000.0, 3.0, "FUNDING_SQUEEZE", "long") == 0.0
        )
        assert s.leverage("BTC/USDT:USDT", NOW, 1.0, 3.0, 20.0, "FUNDING_SQUEEZE", "long") == 1.0
        assert s.confirm_trade_entry("BTC/USDT:USDT", "limit", 1, 1.0, "GTC", NOW, "FUNDING_SQUEEZE", "long") is False
    assert "custom_stake_amount failed" in caplog.text and "exploded" in caplog.text


def test_exit_callbacks_leave_freqtrade_in_charge_when_hydra_fails(broken_strategy):
    s = broken_strategy
    assert s.custom_stoploss("BTC/USDT:USDT", None, NOW, 1.0, 0.0, False) is None
    assert s.custom_exit("BTC/USDT:USDT", None, NOW, 1.0, 0.0) is None
    assert s.stoploss == -0.6  # the backstop Freqtrade keeps enforcing


def test_fail_closed_passes_results_through():
    @fail_closed(default=0.0)
    def ok(x):
        return x * 2

    assert ok(21) == 42


def test_strategy_declares_what_freqtrade_needs():
    assert Hydra.can_short is True and Hydra.timeframe == "15m"
    assert Hydra.use_custom_stoploss is True
    assert Hydra.startup_candle_count >= 768


def test_bot_start_refuses_bad_config():
    with pytest.raises(ConfigError, match=r"hydra\.risk\.max_leverage"):
        HydraBridge(Hydra(ft_config(risk={"max_leverage": 0}))).start()


def test_bot_start_refuses_a_pair_without_an_asset_row():
    config = ft_config()
    config["exchange"]["pair_whitelist"].append("PEPE/USDT:USDT")
    with pytest.raises(ConfigError, match="PEPE"):
        HydraBridge(Hydra(config)).start()


def test_bot_start_refuses_windows_longer_than_the_declared_warmup():
    with pytest.raises(ConfigError, match="warm-up candles"):
        HydraBridge(Hydra(ft_config(stats={"rv_baseline_bars": 2000}))).start()


def test_bot_start_accepts_the_shipped_config():
    bridge = HydraBridge(Hydra(ft_config()))
    bridge.start()
    assert [s.name for s in bridge.ready.signals] == ["FUNDING_SQUEEZE"]


def test_enabled_api_or_telegram_without_secrets_refuse_to_start():
    config = ft_config()
    config["api_server"]["enabled"] = True
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        check_secrets(config)
    config["api_server"].update(jwt_secret_key="x" * 40, password="p")
    check_secrets(config)
    config["telegram"]["enabled"] = True
    with pytest.raises(ConfigError, match="TELEGRAM__TOKEN"):
        check_secrets(config)
