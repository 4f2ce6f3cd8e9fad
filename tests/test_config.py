import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from hydra_plugins.core.config import (
    SEED_ASSETS,
    ConfigError,
    HydraConfig,
    check_pairs,
    load_hydra_config,
)

ROOT = Path(__file__).resolve().parents[1]


def shipped_config() -> dict:
    return json.loads((ROOT / "config" / "config.json").read_text())


def test_defaults_are_the_seed_limits():
    cfg = load_hydra_config({})
    assert cfg.risk.max_leverage == 10
    assert cfg.risk.max_position_usd == 10_000
    assert cfg.risk.max_exposure_usd == 50_000
    assert cfg.risk.max_positions == 5
    assert cfg.risk.risk_per_trade == 0.01
    assert cfg.alpha.ml_threshold == 0.45
    assert cfg.alpha.min_signal_confidence == 0.50
    assert cfg.assets == SEED_ASSETS


def test_seed_asset_table():
    table = {k: (v.volatility_multiplier, v.size_multiplier, v.max_leverage) for k, v in SEED_ASSETS.items()}
    assert table == {
        "BTC": (1.0, 1.0, 20), "ETH": (1.15, 1.0, 20), "SOL": (1.5, 0.8, 15), "BNB": (1.1, 0.8, 15),
        "ADA": (1.3, 0.6, 10), "XRP": (1.25, 0.7, 10), "LTC": (1.05, 0.7, 15), "DOGE": (2.0, 0.5, 10),
    }  # fmt: skip


def test_shipped_config_parses_to_the_seed_values():
    config = shipped_config()
    cfg = load_hydra_config(config["hydra"])
    assert cfg == HydraConfig()
    check_pairs(cfg, config["exchange"]["pair_whitelist"])
    assert len(config["exchange"]["pair_whitelist"]) == 8


def test_shipped_config_is_binance_futures_dry_run():
    config = shipped_config()
    assert config["exchange"]["name"] == "binance"
    assert (config["trading_mode"], config["margin_mode"]) == ("futures", "isolated")
    assert config["dry_run"] is True and config["dry_run_wallet"] == 10000
    assert config["initial_state"] == "running"  # `freqtrade trade` trades, not waits for /start
    assert (config["stake_currency"], config["timeframe"]) == ("USDT", "15m")
    assert config["telegram"]["enabled"] is False and config["api_server"]["enabled"] is False
    assert config["exchange"]["key"] == "" and config["exchange"]["secret"] == ""
    assert config["telegram"]["token"] == "" and config["api_server"]["password"] == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"risk": {"max_leverage": 500}},
            "hydra.risk.max_leverage: Input should be less than or equal to 125 (got 500)",
        ),
        ({"risk": {"risk_per_trade": 0.2}}, "hydra.risk.risk_per_trade: Input should be less than or equal to 0.05"),
        ({"risk": {"max_positions": 0}}, "hydra.risk.max_positions: Input should be greater than or equal to 1"),
        ({"alpha": {"ml_threshold": 1.5}}, "hydra.alpha.ml_threshold: Input should be less than or equal to 1"),
        ({"risk": {"max_levrage": 5}}, "hydra.risk.max_levrage: Extra inputs are not permitted"),
        ({"bogus": 1}, "hydra.bogus: Extra inputs are not permitted"),
        (
            {"assets": {"BTC": {"volatility_multiplier": 1, "size_multiplier": 0, "max_leverage": 5}}},
            "hydra.assets.BTC.size_multiplier: Input should be greater than 0",
        ),
        ({"stats": {"sma_fast_bars": 300}}, "sma_fast_bars must be smaller than sma_slow_bars"),
        ({"risk": {"max_leverage": "ten"}}, "hydra.risk.max_leverage: Input should be a valid integer"),
    ],
)
def test_bad_values_are_refused_with_the_key_and_range(raw, expected):
    with pytest.raises(ConfigError) as info:
        load_hydra_config(raw)
    assert expected in str(info.value)


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        load_hydra_config({"risk": {"max_leverage": 0, "max_positions": 0}})
    assert "max_leverage" in str(info.value) and "max_positions" in str(info.value)


def test_section_must_be_an_object():
    with pytest.raises(ConfigError, match="must be an object"):
        load_hydra_config([1, 2])


def test_config_is_frozen():
    cfg = load_hydra_config({})
    with pytest.raises(ValidationError):
        cfg.risk.max_leverage = 50


def test_pairs_without_an_asset_row_are_refused():
    cfg = load_hydra_config({})
    check_pairs(cfg, ["BTC/USDT:USDT"])
    with pytest.raises(ConfigError, match="PEPE/USDT:USDT"):
        check_pairs(cfg, ["BTC/USDT:USDT", "PEPE/USDT:USDT"])
    with pytest.raises(ConfigError, match="'PEPE'"):
        cfg.asset("PEPE/USDT:USDT")
    assert cfg.asset("SOL/USDT:USDT").max_leverage == 15
