"""L2: volatility measures, regime rules and the gate."""

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import StatsConfig
from hydra_plugins.stats.regime import Gate, Regime, gate_columns, regime_column
from hydra_plugins.stats.volatility import volatility_columns
from tests.conftest import load_candles, needs_data

CFG = StatsConfig()


def frame(**overrides):
    base = {
        "close": 100.0,
        col.FUNDING_RATE_8H: 0.0001,
        col.ADX: 10.0,
        col.SMA_FAST: 100.0,
        col.SMA_SLOW: 100.0,
        col.RV_RATIO: 1.0,
        col.SHOCK_ATR: 1.0,
        col.ATR_PCT: 0.5,
    }
    base.update(overrides)
    return pd.DataFrame({k: [v] for k, v in base.items()})


@pytest.mark.parametrize(
    ("overrides", "regime"),
    [
        ({}, Regime.RANGING),
        ({col.SHOCK_ATR: 5.0, col.RV_RATIO: 5.0}, Regime.CASCADE_RISK),
        ({col.RV_RATIO: 2.0, col.FUNDING_RATE_8H: 0.001}, Regime.HIGH_VOLATILITY),
        ({col.FUNDING_RATE_8H: 0.001, col.ADX: 40.0}, Regime.SQUEEZE_LONG),
        ({col.FUNDING_RATE_8H: -0.001}, Regime.SQUEEZE_SHORT),
        ({col.ADX: 30.0, col.SMA_FAST: 101.0, "close": 102.0}, Regime.TRENDING_UP),
        ({col.ADX: 30.0, col.SMA_FAST: 99.0, "close": 98.0}, Regime.TRENDING_DOWN),
        ({col.ADX: 30.0, col.SMA_FAST: 101.0, "close": 100.5}, Regime.RANGING),
        ({col.FUNDING_RATE_8H: np.nan}, Regime.RANGING),
    ],
)
def test_regime_rules(overrides, regime):
    assert regime_column(frame(**overrides), CFG).iloc[0] == regime


@pytest.mark.parametrize(
    ("overrides", "gate", "mult"),
    [
        ({}, Gate.ALLOW, 1.0),
        ({col.RV_RATIO: 2.5}, Gate.REDUCE, 0.5),
        ({col.RV_RATIO: 3.5}, Gate.BLOCK, 0.0),
        ({col.RV_RATIO: np.nan}, Gate.BLOCK, 0.0),
        ({col.SHOCK_ATR: 6.0}, Gate.BLOCK, 0.0),
    ],
)
def test_gate(overrides, gate, mult):
    f = frame(**overrides)
    f[col.REGIME] = regime_column(f, CFG)
    out = gate_columns(f, CFG)
    assert out[col.GATE].iloc[0] == gate
    assert out[col.GATE_SIZE_MULT].iloc[0] == mult
    assert (out[col.GATE_REASON].iloc[0] == "") == (gate == Gate.ALLOW)


@needs_data
def test_volatility_is_trailing_on_real_data():
    c = load_candles("SOL", "2024-01-01", "2024-01-20")
    full = volatility_columns(c, CFG)
    for n in (900, 1300):
        head = volatility_columns(c.iloc[:n], CFG)
        pd.testing.assert_frame_equal(head, full.iloc[:n], rtol=1e-9)
    warm = full.iloc[800:]
    assert not warm.isna().any().any()
    assert (warm[col.ATR_PCT] > 0).all() and (warm[col.RV_PCT_24H] > 0).all()
