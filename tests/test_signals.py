"""L3: the conformance test every registered signal must pass, and each signal's own logic."""

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.alpha.select import select_best
from hydra_plugins.alpha.signals import REGISTRY, build_signals
from hydra_plugins.alpha.signals.funding_squeeze import FundingSqueeze
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import FundingSqueezeConfig, HydraConfig, SignalsConfig
from hydra_plugins.intel.features import IntelInputs
from hydra_plugins.pipeline import Pipeline
from hydra_plugins.stats.regime import Regime
from tests.conftest import load_candles, load_funding, needs_data

SIGNALS = build_signals(SignalsConfig())


def test_every_registered_signal_is_built_by_default():
    assert {type(s).name for s in SIGNALS} == set(REGISTRY)


@pytest.fixture(scope="module")
def prepared():
    """Real candles through L1 and L2 (the inputs signals read)."""
    candles = load_candles("DOGE", "2024-01-01", "2024-03-15")
    pipe = Pipeline(HydraConfig(), 15)
    full = pipe.populate(candles, IntelInputs(funding=load_funding("DOGE")))
    produced = {c for s in SIGNALS for c in s.output_columns()} | {
        col.SIGNAL, col.DIRECTION, col.CONFIDENCE, col.SCORE, col.STOP_PCT, col.TARGET_PCT,
    }  # fmt: skip
    return full.drop(columns=list(produced))


@needs_data
@pytest.mark.parametrize("signal", SIGNALS, ids=lambda s: s.name)
def test_signal_conformance(prepared, signal):
    out = signal.generate(prepared)
    assert out.index.equals(prepared.index)
    assert list(out.columns) == signal.output_columns()
    assert all(c.startswith(col.PREFIX) for c in out.columns)
    pd.testing.assert_frame_equal(signal.generate(prepared), out)  # deterministic
    for n in (1000, 3000, len(prepared) - 7):  # no lookahead
        pd.testing.assert_frame_equal(signal.generate(prepared.iloc[:n]), out.iloc[:n])
    warm = out.iloc[800:]
    assert not warm.isna().any().any()
    d, conf, ret, risk = (warm[c] for c in signal.output_columns())
    assert set(d.unique()) <= {-1, 0, 1}
    assert ((conf >= 0) & (conf <= 1)).all()
    assert (conf[d == 0] == 0).all() and (conf[d != 0] >= 0.5).all()
    assert (risk > 0).all() and (ret >= 0).all()
    assert (d != 0).sum() > 0, "the signal never fires on 2.5 months of real data"
    assert set(signal.regime_fit) <= set(Regime)


def test_signal_refuses_missing_inputs():
    with pytest.raises(KeyError, match="FUNDING_SQUEEZE needs columns"):
        SIGNALS[0].generate(pd.DataFrame({"close": [1.0]}))


def squeeze_frame(funding, closes):
    n = len(closes)
    return pd.DataFrame({"close": closes, col.FUNDING_RATE_8H: [funding] * n, col.ATR_PCT: [0.5] * n})


def test_funding_squeeze_trades_against_the_payers_once_price_turns():
    sig = FundingSqueeze(FundingSqueezeConfig(threshold_8h=0.0005, momentum_bars=4, stop_atr=2, reward_risk=1.5))
    rising_then_falling = [100, 101, 102, 103, 104, 100]
    out = sig.generate(squeeze_frame(0.001, rising_then_falling))  # longs pay 0.1% / 8h
    d, conf, ret, risk = (out[c] for c in sig.output_columns())
    assert d.tolist() == [0, 0, 0, 0, 0, -1]  # short only once price falls below its mean
    assert conf.iloc[-1] == pytest.approx(0.75)  # funding at 2x the threshold
    assert risk.iloc[-1] == pytest.approx(1.0) and ret.iloc[-1] == pytest.approx(1.5)
    out = sig.generate(squeeze_frame(-0.002, [100, 99, 98, 97, 96, 100]))  # shorts pay 4x
    assert out[sig.output_columns()[0]].iloc[-1] == 1
    assert out[sig.output_columns()[1]].iloc[-1] == pytest.approx(1.0)
    out = sig.generate(squeeze_frame(0.0004, rising_then_falling))  # below the threshold
    assert (out[sig.output_columns()[0]] == 0).all()


def test_select_best_applies_regime_fit_and_minimum():
    sig = FundingSqueeze(FundingSqueezeConfig())
    names = sig.output_columns()
    f = pd.DataFrame(
        {
            names[0]: [-1, -1, -1, 0],
            names[1]: [0.6, 0.6, 0.75, 0.0],
            names[2]: [3.0, 3.0, 3.0, 3.0],
            names[3]: [2.0, 2.0, 2.0, 2.0],
            col.REGIME: [Regime.SQUEEZE_LONG, Regime.HIGH_VOLATILITY, Regime.HIGH_VOLATILITY, Regime.RANGING],
        }
    )
    out = select_best(f, [sig], min_confidence=0.5)
    assert out[col.SIGNAL].tolist() == ["FUNDING_SQUEEZE", "", "FUNDING_SQUEEZE", ""]
    assert out[col.DIRECTION].tolist() == [-1, 0, -1, 0]
    assert out[col.SCORE].tolist() == pytest.approx([0.6, 0.0, 0.525, 0.0])
    assert out[col.STOP_PCT].iloc[0] == 2.0 and np.isnan(out[col.STOP_PCT].iloc[1])
