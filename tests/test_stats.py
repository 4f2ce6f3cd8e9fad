"""L2: volatility measures, regime rules and the gate."""

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import StatsConfig
from hydra_plugins.stats.regime import Gate, Regime, against_columns, gate_columns, regime_column
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
        col.SMA_SLOW_SLOPE_PCT: 0.0,
        col.RV_RATIO: 1.0,
        col.VOL_PCTILE: 0.5,
        col.SHOCK_ATR: 1.0,
        col.ATR_PCT: 0.5,
        col.CASCADE_PROB: 0.05,
    }
    base.update(overrides)
    return pd.DataFrame({k: [v] for k, v in base.items()})


UP = {col.ADX: 30.0, col.SMA_FAST: 101.0, col.SMA_SLOW_SLOPE_PCT: 0.5}


@pytest.mark.parametrize(
    ("overrides", "regime"),
    [
        ({}, Regime.RANGING),
        ({col.CASCADE_PROB: 0.6, col.RV_RATIO: 5.0}, Regime.CASCADE_RISK),
        ({col.RV_RATIO: 2.0, col.FUNDING_RATE_8H: 0.001}, Regime.HIGH_VOLATILITY),
        ({col.VOL_PCTILE: 0.97}, Regime.HIGH_VOLATILITY),
        ({col.FUNDING_RATE_8H: 0.001, col.ADX: 40.0}, Regime.SQUEEZE_LONG),
        ({col.FUNDING_RATE_8H: -0.001}, Regime.SQUEEZE_SHORT),
        ({**UP, "close": 102.0}, Regime.TRENDING_UP),
        ({**UP, col.SMA_SLOW_SLOPE_PCT: -0.1, "close": 102.0}, Regime.RANGING),  # the slow SMA still falls
        ({col.ADX: 30.0, col.SMA_FAST: 99.0, col.SMA_SLOW_SLOPE_PCT: -0.5, "close": 98.0}, Regime.TRENDING_DOWN),
        ({**UP, "close": 100.5}, Regime.RANGING),
        ({col.FUNDING_RATE_8H: np.nan}, Regime.RANGING),
        ({col.CASCADE_PROB: np.nan}, Regime.RANGING),
    ],
)
def test_regime_rules(overrides, regime):
    assert regime_column(frame(**overrides), CFG).iloc[0] == regime


DOWN = {col.ADX: 30.0, col.SMA_FAST: 99.0, col.SMA_SLOW_SLOPE_PCT: -0.5, "close": 98.0}


@pytest.mark.parametrize(
    ("overrides", "model", "against"),
    [
        ({}, None, (False, False)),
        ({**DOWN, col.VOL_PCTILE: 0.99}, None, (True, False)),  # HIGH_VOLATILITY first, but a downtrend holds
        ({**UP, "close": 102.0}, None, (False, True)),
        ({col.FUNDING_RATE_8H: 0.001}, None, (True, False)),  # crowded longs can be squeezed
        ({col.CASCADE_PROB: 0.6}, None, (True, True)),  # a cascade is against both sides
        ({}, Regime.TRENDING_DOWN, (True, False)),  # the regime model says so
    ],
)
def test_regimes_against_each_side_see_past_the_first_matching_rule(overrides, model, against):
    f = frame(**overrides)
    f[col.REGIME] = model or regime_column(f, CFG)
    out = against_columns(f, CFG)
    assert (bool(out[col.REGIME_AGAINST_LONG].iloc[0]), bool(out[col.REGIME_AGAINST_SHORT].iloc[0])) == against


@pytest.mark.parametrize(
    ("overrides", "gate", "mult", "reason"),
    [
        ({}, Gate.ALLOW, 1.0, ""),
        ({col.RV_RATIO: 2.5}, Gate.REDUCE, 0.5, "volatility over 2x normal"),
        ({col.RV_RATIO: 3.5}, Gate.BLOCK, 0.0, "volatility over 3x normal"),
        ({col.RV_RATIO: np.nan}, Gate.BLOCK, 0.0, "volatility baseline not yet known"),
        ({col.CASCADE_PROB: np.nan}, Gate.BLOCK, 0.0, "volatility baseline not yet known"),
        ({col.CASCADE_PROB: 0.45}, Gate.REDUCE, 0.5, "cascade probability at or over 0.4"),
        ({col.CASCADE_PROB: 0.7, col.RV_RATIO: 2.5}, Gate.BLOCK, 0.0, "cascade probability at or over 0.7"),
    ],
)
def test_gate(overrides, gate, mult, reason):
    f = frame(**overrides)
    f[col.REGIME] = regime_column(f, CFG)
    out = gate_columns(f, CFG)
    assert out[col.GATE].iloc[0] == gate
    assert out[col.GATE_SIZE_MULT].iloc[0] == mult
    assert out[col.GATE_REASON].iloc[0] == reason


@needs_data
def test_volatility_is_trailing_on_real_data():
    c = load_candles("SOL", "2023-11-01", "2024-01-20")
    full = volatility_columns(c, CFG)
    for n in (900, 3100, 5000):
        head = volatility_columns(c.iloc[:n], CFG)
        pd.testing.assert_frame_equal(head, full.iloc[:n], rtol=1e-9)
    warm = full.iloc[CFG.rv_window_bars + CFG.vol_pctile_bars :]
    assert not warm.isna().any().any()
    assert (warm[col.ATR_PCT] > 0).all() and (warm[col.RV_PCT_24H] > 0).all()
    assert warm[col.VOL_PCTILE].between(0.0, 1.0).all() and warm[col.BB_WIDTH_PCT].gt(0).all()
    assert (warm[col.RV_PCT_1H] > 0).all() and (warm[col.RV_PCT_7D] > 0).all()


def test_volatility_regime_is_a_trailing_rank():
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, 400)))
    candles = pd.DataFrame({"high": close * 1.001, "low": close * 0.999, "close": close, "volume": 1.0})
    cfg = StatsConfig(rv_window_bars=8, rv_baseline_bars=96, vol_pctile_bars=96, sma_fast_bars=5, sma_slow_bars=20)
    out = volatility_columns(candles, cfg)
    rv = out[col.RV_PCT_24H]
    t = 300
    window = rv.iloc[t - 95 : t + 1]
    assert out[col.VOL_PCTILE].iloc[t] == pytest.approx((window < rv.iloc[t]).sum() / 96 + 1 / 96)
    assert out[col.VOL_PCTILE].iloc[: 8 + 95 - 1].isna().all()  # unknown until the window is full
