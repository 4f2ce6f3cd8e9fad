"""L3: the conformance test every registered signal must pass, and each signal's own logic."""

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.alpha.select import select_best
from hydra_plugins.alpha.signals import REGISTRY, build_signals
from hydra_plugins.alpha.signals.crowding_fade import CrowdingFade
from hydra_plugins.alpha.signals.funding_carry import FundingCarry
from hydra_plugins.alpha.signals.funding_squeeze import FundingSqueeze
from hydra_plugins.alpha.signals.liquidation_reversal import LiquidationReversal
from hydra_plugins.alpha.signals.oi_divergence import OIDivergence
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import HydraConfig, SignalsConfig, SignalSwitch
from hydra_plugins.core.errors import ConfigError
from hydra_plugins.pipeline import Pipeline
from hydra_plugins.stats.regime import Regime
from hydra_plugins.stats.volatility import candle_flow
from hydra_plugins.training.history import ResearchData, load_pair
from tests.conftest import DATADIR, data_root, needs_data

ALL = build_signals(SignalsConfig(), include_disabled=True)
PIPE = Pipeline(HydraConfig(), 15)


def test_every_registered_signal_is_built_and_switchable():
    assert [s.name for s in ALL] == list(REGISTRY)
    off = SignalsConfig(funding_carry=SignalSwitch(enabled=False), crowding_fade=SignalSwitch(weight=0.5))
    built = {s.name: s for s in build_signals(off)}
    assert "FUNDING_CARRY" not in built and built["CROWDING_FADE"].weight == 0.5


@pytest.fixture(scope="module")
def prepared():
    """BTC through L1 and L2, with the real open interest and ratios of 2024-05-02..04 from the metrics archive."""
    data = ResearchData(DATADIR, metrics_dir=data_root() / "binance-metrics")
    start, end = pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-05-06", tz="UTC")
    candles, inputs = load_pair(data, "BTC/USDT:USDT", start, end, PIPE.warmup_candles)
    return PIPE.populate(candles, inputs)


@needs_data
@pytest.mark.parametrize("signal", ALL, ids=lambda s: s.name)
def test_signal_conformance(prepared, signal):
    before = prepared.copy()
    out = signal.generate(prepared)
    pd.testing.assert_frame_equal(prepared, before)  # input untouched
    assert out.index.equals(prepared.index)
    assert list(out.columns) == signal.output_columns()  # its own columns, nothing else
    assert all(c.startswith(col.PREFIX) for c in out.columns)
    pd.testing.assert_frame_equal(signal.generate(prepared), out)  # deterministic
    for n in (PIPE.warmup_candles + 10, 4000, len(prepared) - 7):  # no lookahead
        pd.testing.assert_frame_equal(signal.generate(prepared.iloc[:n]), out.iloc[:n])
    warm = out.iloc[PIPE.warmup_candles :]
    d, conf, ret, risk, proxy, inv_long, inv_short, health_long, health_short = (
        warm[c] for c in signal.output_columns()
    )
    assert not warm.drop(columns=[health_long.name, health_short.name]).isna().any().any()
    assert set(d.unique()) <= {-1, 0, 1}
    assert ((conf >= 0) & (conf <= 1)).all()
    assert (conf[d == 0] == 0).all() and (conf[d != 0] > 0).all()
    assert (risk > 0).all() and (ret >= 0).all()
    assert proxy.dtype == bool and inv_long.dtype == bool and inv_short.dtype == bool
    for health, invalid in ((health_long, inv_long), (health_short, inv_short)):
        assert health.dtype == float
        assert (health.between(0.0, 1.0) | health.isna()).all()
        assert (health[invalid] == 0.0).all()  # invalidated: no health left
    assert set(signal.regime_fit) <= set(Regime)


# Signals whose entry needs the invalidation quantity at its entry threshold: full health wherever they fire.
FULL_HEALTH_AT_ENTRY = {"FUNDING_SQUEEZE", "OI_DIVERGENCE", "FUNDING_CARRY"}


@needs_data
@pytest.mark.parametrize("signal", ALL, ids=lambda s: s.name)
def test_thesis_health_is_full_where_the_signal_fires(prepared, signal):
    out = signal.generate(prepared)
    names = signal.output_columns()
    d, health_long, health_short = out[names[0]], out[names[7]], out[names[8]]
    at_entry = pd.concat([health_long[d == 1], health_short[d == -1]])
    if signal.name in FULL_HEALTH_AT_ENTRY:
        assert (at_entry == 1.0).all()
    elif signal.name == "LIQUIDATION_REVERSAL":  # entry only needs no burst on the candle: health above 0
        assert ((at_entry > 0.0) | at_entry.isna()).all()
    else:  # CROWDING_FADE: full where the funding vote agrees, as it must with the proxy
        z = prepared[col.FUNDING_Z]
        voted = -d * z >= signal.params["funding_z_min"].default
        assert (at_entry[voted.loc[at_entry.index]] == 1.0).all()


@needs_data
def test_signals_fire_on_real_data_where_their_inputs_exist(prepared):
    fired = {s.name: int((s.generate(prepared)[s.output_columns()[0]] != 0).sum()) for s in ALL}
    # FUNDING_CARRY needs a quiet ranging market with rich funding, which April-May 2024 does not offer.
    assert all(fired[name] > 0 for name in ("FUNDING_SQUEEZE", "LIQUIDATION_REVERSAL", "OI_DIVERGENCE")), fired
    oi = OIDivergence()
    out = oi.generate(prepared)
    firing = out[oi.output_columns()[0]] != 0
    assert prepared.loc[firing, col.OI_DELTA_PCT_1H].notna().all()  # only where open interest was known


def test_signal_refuses_missing_inputs():
    with pytest.raises(KeyError, match="FUNDING_SQUEEZE needs columns"):
        FundingSqueeze().generate(pd.DataFrame({"close": [1.0]}))


def test_parameters_are_checked_against_their_range():
    sig = FundingSqueeze()
    assert sig.values()["threshold_8h"] == 0.0005
    assert sig.values({"funding_squeeze_threshold_8h": 0.001})["threshold_8h"] == 0.001
    with pytest.raises(ConfigError, match=r"funding_squeeze_threshold_8h=0.5 is outside \[0.0002, 0.003\]"):
        sig.values({"funding_squeeze_threshold_8h": 0.5})
    for s in ALL:
        assert s.params and all(s.parameter_name(k).startswith(s.name.lower()) for k in s.params)


def squeeze_frame(funding, closes):
    n = len(closes)
    return pd.DataFrame({"close": closes, col.FUNDING_RATE_8H: [funding] * n, col.ATR_PCT: [0.5] * n})


def test_funding_squeeze_trades_against_the_payers_once_price_turns():
    sig = FundingSqueeze()
    p = {"funding_squeeze_momentum_bars": 4, "funding_squeeze_stop_atr": 2.0, "funding_squeeze_reward_risk": 1.5}
    rising_then_falling = [100, 101, 102, 103, 104, 100]
    out = sig.generate(squeeze_frame(0.001, rising_then_falling), p)  # longs pay 0.1% / 8h
    d, conf, ret, risk, proxy, inv_long, inv_short, _, health_short = (out[c] for c in sig.output_columns())
    assert d.tolist() == [0, 0, 0, 0, 0, -1]  # short only once price falls below its mean
    assert (health_short == 1.0).all()  # funding at 2x the threshold
    assert conf.iloc[-1] == pytest.approx(0.75)  # funding at 2x the threshold
    assert risk.iloc[-1] == pytest.approx(1.0) and ret.iloc[-1] == pytest.approx(1.5)
    assert not proxy.any() and not inv_short.any() and inv_long.all()  # a short's thesis holds while longs pay
    out = sig.generate(squeeze_frame(-0.002, [100, 99, 98, 97, 96, 100]), p)  # shorts pay 4x
    assert out[sig.output_columns()[0]].iloc[-1] == 1
    assert out[sig.output_columns()[1]].iloc[-1] == pytest.approx(1.0)
    out = sig.generate(squeeze_frame(0.0004, rising_then_falling), p)  # below the threshold
    assert (out[sig.output_columns()[0]] == 0).all()
    out = sig.generate(squeeze_frame(0.0001, rising_then_falling), p)  # funding normalised
    assert out[sig.output_columns()[6]].all()


def cascade_frame(liq_z, imbalance, closes, opens=None, proxy=False):
    n = len(closes)
    closes = np.asarray(closes, dtype=float)
    opens = closes if opens is None else np.asarray(opens, dtype=float)
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes) + 0.1,
            "low": np.minimum(opens, closes) - 0.1,
            "close": closes,
            col.LIQ_Z: liq_z,
            col.LIQ_IMBALANCE: imbalance,
            col.LIQ_IS_PROXY: [proxy] * n,
            col.ATR_PCT: [0.5] * n,
            col.OPP_LONG_NEAR_SHARE: [0.2] * n,
            col.OPP_SHORT_NEAR_SHARE: [0.9] * n,
        }
    )


def test_liquidation_reversal_buys_the_exhausted_long_cascade():
    sig = LiquidationReversal()
    closes = [100, 99, 97, 96, 96.5]
    opens = [100, 100, 99, 97, 96.0]  # the last candle closes up: sellers exhausted
    frame = cascade_frame([0, 5, 6, 3, 1], [0, 0.8, 0.9, 0.5, 0], closes, opens)
    out = sig.generate(frame)
    d, conf, _, _, proxy, inv_long, _, _, _ = (out[c] for c in sig.output_columns())
    assert d.tolist() == [0, 0, 0, 0, 1]
    # peak z 6 is 2 over z_min 4 -> +0.2; 80 % of the longs' liquidation levels are out of reach -> +0.16
    assert conf.iloc[-1] == pytest.approx(0.5 + 0.2 + 0.2 * 0.8)
    assert inv_long.tolist() == [False, True, True, False, False]  # bursts while the cascade runs
    assert not proxy.any()
    proxied = sig.generate(cascade_frame([0, 5, 6, 3, 1], [0, 0.8, 0.9, 0.5, 0], closes, opens, proxy=True))
    assert proxied[sig.output_columns()[1]].iloc[-1] == pytest.approx(0.86 * 0.85)
    small = sig.generate(cascade_frame([0, 5, 6, 3, 1], [0, 0.8, 0.9, 0.5, 0], [100, 99.8, 99.6, 99.5, 99.7], opens))
    assert (small[sig.output_columns()[0]] == 0).all()  # a move of under 5 ATRs is no cascade


def divergence_frame(closes, oi_delta):
    n = len(closes)
    return pd.DataFrame({"close": closes, col.OI_DELTA_PCT_1H: oi_delta, col.ATR_PCT: [0.5] * n})


def test_oi_divergence_fades_moves_that_open_interest_contradicts():
    sig = OIDivergence()
    p = {"oi_divergence_lookback_bars": 4}
    up = [100, 100.5, 101, 101.5, 102]  # +2 % = 4 ATRs
    assert sig.generate(divergence_frame(up, [np.nan] * 4 + [-1.0]), p).iloc[-1, 0] == -1  # shorts covering
    assert sig.generate(divergence_frame(up[::-1], [np.nan] * 4 + [1.0]), p).iloc[-1, 0] == 1  # late shorts
    assert sig.generate(divergence_frame(up, [np.nan] * 4 + [1.0]), p).iloc[-1, 0] == 0  # confirmed move
    out = sig.generate(divergence_frame(up, [np.nan] * 5), p)  # no open interest: off, not guessed
    assert (out.iloc[:, 0] == 0).all() and not out.iloc[:, 4].any()
    confirmed = sig.generate(divergence_frame(up, [np.nan] * 4 + [1.0]), p)
    assert confirmed[sig.output_columns()[6]].iloc[-1]  # a short's thesis ends when OI follows price up


def crowd_frame(n=20, ls=np.nan, taker=np.nan, z=3.0, funding=0.0005, last_close_down=True):
    closes = np.linspace(100, 105, n)
    if last_close_down:
        closes[-1] = closes[-2] - 0.1
    candles = pd.DataFrame(
        {"high": closes + 0.05, "low": closes - 0.5, "close": closes, "volume": 10.0}
    )  # closes near the highs: buyers in control
    return candles.assign(
        **{
            col.CANDLE_FLOW: candle_flow(candles),
            col.FUNDING_RATE_8H: funding,
            col.FUNDING_Z: z,
            col.LONG_SHORT_RATIO: ls,
            col.TAKER_RATIO: taker,
            col.SMA_FAST: 100.0,
            col.ATR_PCT: 0.5,
        }
    )


def test_crowding_fade_fades_the_crowd_with_real_ratios_or_a_labelled_proxy():
    sig = CrowdingFade()
    names = sig.output_columns()
    real = sig.generate(crowd_frame(ls=3.0, taker=1.3))
    assert real[names[0]].iloc[-1] == -1 and not real[names[4]].iloc[-1]
    assert real[names[1]].iloc[-1] == pytest.approx(0.5 + 0.1 * 1 + 0.1 * 1.0)  # 4 votes, z one over
    proxy = sig.generate(crowd_frame())  # no ratios: funding, extension and candle flow
    assert proxy[names[0]].iloc[-1] == -1 and proxy[names[4]].iloc[-1]
    assert proxy[names[1]].iloc[-1] == pytest.approx((0.5 + 0.1) * 0.85)
    assert sig.generate(crowd_frame(ls=1.0, taker=0.9))[names[0]].iloc[-1] == 0  # only 2 of 4 agree
    assert sig.generate(crowd_frame(last_close_down=False))[names[0]].iloc[-1] == 0  # no turn yet
    assert sig.generate(crowd_frame(z=-0.5))[names[6]].iloc[-1]  # crowding gone: the short's thesis is over


def carry_frame(regime=Regime.RANGING, pctile=0.2, funding=0.0004, predicted=np.nan):
    return pd.DataFrame(
        {
            col.REGIME: [regime],
            col.VOL_PCTILE: [pctile],
            col.FUNDING_RATE_8H: [funding],
            col.PREDICTED_FUNDING: [predicted],
            col.FUNDING_INTERVAL_H: [8.0],
            col.ATR_PCT: [0.5],
        }
    )


def test_funding_carry_receives_funding_in_quiet_ranges_only():
    sig = FundingCarry()
    names = sig.output_columns()
    out = sig.generate(carry_frame())
    assert out[names[0]].iloc[0] == -1 and out[names[4]].iloc[0]  # settled rate stands in: proxy
    assert out[names[1]].iloc[0] == pytest.approx(0.75 * 0.85)
    assert out[names[2]].iloc[0] == pytest.approx(0.0004 * 3 * 100)  # 24h of funding, percent
    assert not sig.target_exit
    live = sig.generate(carry_frame(predicted=0.0004))
    assert live[names[0]].iloc[0] == -1 and not live[names[4]].iloc[0]
    assert sig.generate(carry_frame(predicted=-0.0001))[names[0]].iloc[0] == 0  # next rate disagrees
    assert sig.generate(carry_frame(pctile=0.8))[names[0]].iloc[0] == 0
    trending = sig.generate(carry_frame(regime=Regime.TRENDING_UP))
    assert trending[names[0]].iloc[0] == 0 and trending[names[6]].iloc[0]


def test_select_best_applies_regime_fit_weight_and_minimum():
    sig = FundingSqueeze()
    d, c, ret, risk = sig.output_columns()[:4]
    f = pd.DataFrame(
        {
            d: [-1, -1, -1, 0],
            c: [0.6, 0.6, 0.75, 0.0],
            ret: [3.0, 3.0, 3.0, 3.0],
            risk: [2.0, 2.0, 2.0, 2.0],
            col.REGIME: [Regime.SQUEEZE_LONG, Regime.HIGH_VOLATILITY, Regime.HIGH_VOLATILITY, Regime.RANGING],
        }
    )
    out = select_best(f, [sig], min_confidence=0.5)
    assert out[col.SIGNAL].tolist() == ["FUNDING_SQUEEZE", "", "FUNDING_SQUEEZE", ""]
    assert out[col.DIRECTION].tolist() == [-1, 0, -1, 0]
    assert out[col.SCORE].tolist() == pytest.approx([0.6, 0.0, 0.525, 0.0])
    assert out[col.STOP_PCT].iloc[0] == 2.0 and np.isnan(out[col.STOP_PCT].iloc[1])
    light = select_best(f, [FundingSqueeze(weight=0.9)], min_confidence=0.5)
    assert light[col.SIGNAL].tolist() == ["FUNDING_SQUEEZE", "", "", ""]  # 0.75 x 0.7 x 0.9 < 0.5


def test_select_best_picks_the_higher_score():
    a, b = FundingSqueeze(), LiquidationReversal()
    f = pd.DataFrame({col.REGIME: [Regime.HIGH_VOLATILITY] * 2})
    for sig, (dirs, confs) in ((a, ([1, 1], [0.9, 0.6])), (b, ([-1, -1], [0.7, 0.9]))):
        names = sig.output_columns()
        f[names[0]], f[names[1]], f[names[2]], f[names[3]] = dirs, confs, 2.0, 1.0
    out = select_best(f, [a, b], min_confidence=0.5)
    # FUNDING_SQUEEZE fits HIGH_VOLATILITY 0.7, LIQUIDATION_REVERSAL 1.0
    assert out[col.SIGNAL].tolist() == ["LIQUIDATION_REVERSAL", "LIQUIDATION_REVERSAL"]
    assert out[col.SCORE].tolist() == pytest.approx([0.7, 0.9])


def health(sig, frame, p=None):
    """Return (dir, inv_long, inv_short, health_long, health_short) after checking the trailing property."""
    out = sig.generate(frame, p)
    for n in range(1, len(frame)):
        pd.testing.assert_frame_equal(sig.generate(frame.iloc[:n], p), out.iloc[:n])
    names = sig.output_columns()
    return tuple(out[names[i]] for i in (0, 5, 6, 7, 8))


def test_funding_squeeze_health_follows_funding_down_to_the_invalidation_level():
    sig = FundingSqueeze()
    frame = squeeze_frame(0.0, [104, 104, 104, 104, 100, 99, 98, 97, 96])
    frame[col.FUNDING_RATE_8H] = [0.001] * 5 + [0.0005, 0.0003, 0.0001, np.nan]
    d, inv_long, inv_short, health_long, health_short = health(sig, frame, {"funding_squeeze_momentum_bars": 4})
    assert d.tolist() == [0, 0, 0, 0, -1, -1, 0, 0, 0]
    # threshold 0.05 %, invalidation 0.0125 %: (0.03 - 0.0125) / (0.05 - 0.0125) of the thesis is left
    assert health_short.iloc[4:8].tolist() == pytest.approx([1.0, 1.0, 0.0175 / 0.0375, 0.0])
    assert inv_short.tolist() == [False] * 7 + [True, False]
    assert (health_long.iloc[:8] == 0.0).all() and inv_long.iloc[:8].all()  # longs pay: no long thesis
    assert np.isnan(health_long.iloc[-1]) and np.isnan(health_short.iloc[-1])  # funding unknown


def test_crowding_fade_health_is_the_funding_z_score_over_its_threshold():
    sig = CrowdingFade()
    d, inv_long, inv_short, health_long, health_short = health(sig, crowd_frame())  # proxy: the funding vote
    assert d.iloc[-1] == -1 and health_short.iloc[-1] == 1.0
    assert (health_long == 0.0).all() and inv_long.all()
    # With the ratios known, positioning, taker flow and extension outvote funding at z 1 (z_min 2): the
    # short fires with half its thesis' funding pressure.
    d, _, inv_short, _, health_short = health(sig, crowd_frame(ls=3.0, taker=1.3, z=1.0))
    assert d.iloc[-1] == -1 and health_short.iloc[-1] == pytest.approx(0.5) and not inv_short.iloc[-1]
    _, _, inv_short, _, health_short = health(sig, crowd_frame(z=-0.5))
    assert inv_short.all() and (health_short == 0.0).all()
    _, _, _, health_long, health_short = health(sig, crowd_frame(z=np.nan))
    assert health_long.isna().all() and health_short.isna().all()


def test_funding_carry_health_runs_from_the_minimum_to_half_of_it_while_ranging():
    sig = FundingCarry()
    d, inv_long, _, health_long, health_short = health(sig, carry_frame())
    assert d.iloc[0] == -1 and health_short.iloc[0] == 1.0 and health_long.iloc[0] == 0.0 and inv_long.iloc[0]
    # min 0.02 %, invalidation 0.01 %: 0.015 % is half way; too little to enter, enough to stay
    d, _, inv_short, _, health_short = health(sig, carry_frame(funding=0.00015))
    assert d.iloc[0] == 0 and health_short.iloc[0] == pytest.approx(0.5) and not inv_short.iloc[0]
    assert health(sig, carry_frame(regime=Regime.TRENDING_UP))[4].iloc[0] == 0.0  # not ranging
    _, inv_long, inv_short, health_long, health_short = health(sig, carry_frame(funding=np.nan))
    assert np.isnan(health_long.iloc[0]) and np.isnan(health_short.iloc[0])
    assert not inv_long.iloc[0] and not inv_short.iloc[0]


def test_liquidation_reversal_health_is_the_distance_to_a_same_side_burst():
    sig = LiquidationReversal()
    closes, opens = [100, 99, 97, 96, 96.5], [100, 100, 99, 97, 96.0]
    frame = cascade_frame([0, 5, 6, 3, 1], [0, 0.8, 0.9, 0.5, 0], closes, opens)
    d, inv_long, _, health_long, health_short = health(sig, frame)
    # z 3 of 4 with the longs' imbalance beyond 0.3: a quarter of the way from a burst
    assert health_long.tolist() == pytest.approx([1.0, 0.0, 0.0, 0.25, 1.0])
    assert (health_long[inv_long] == 0.0).all() and (health_short == 1.0).all()  # no short burst
    # Exhaustion only needs no burst on the candle: a heavy but sub-burst candle still fires, at lower health.
    heavy = cascade_frame([0, 5, 6, 3, 3], [0, 0.8, 0.9, 0.5, 0.6], closes, opens)
    d, inv_long, _, health_long, _ = health(sig, heavy)
    assert d.iloc[-1] == 1 and health_long.iloc[-1] == pytest.approx(0.25) and not inv_long.iloc[-1]
    # imbalance 0.15 leans only half as far as a burst needs: the smaller axis decides
    mixed = cascade_frame([0, 5, 6, 3, 8], [0, 0.8, 0.9, 0.5, 0.15], closes, opens)
    assert health(sig, mixed)[3].iloc[-1] == pytest.approx(0.5)
    unknown = cascade_frame([0, 5, 6, 3, np.nan], [0, 0.8, 0.9, 0.5, 0], closes, opens)
    assert np.isnan(health(sig, unknown)[3].iloc[-1])


def test_oi_divergence_health_is_the_distance_to_open_interest_following_price():
    sig = OIDivergence()
    p = {"oi_divergence_lookback_bars": 4}
    up = [100, 100.5, 101, 101.5, 102]  # +2 % = 3.9 ATRs
    d, _, inv_short, _, health_short = health(sig, divergence_frame(up, [np.nan] * 4 + [-1.0]), p)
    assert d.iloc[-1] == -1 and health_short.iloc[-1] == 1.0 and not inv_short.iloc[-1]
    # open interest down 0.2 % of the 0.5 % a short needs: 0.4 of the divergence is left
    _, _, inv_short, _, health_short = health(sig, divergence_frame(up, [np.nan] * 4 + [-0.2]), p)
    assert health_short.iloc[-1] == pytest.approx(0.4) and not inv_short.iloc[-1]
    _, _, inv_short, _, health_short = health(sig, divergence_frame(up, [np.nan] * 4 + [0.2]), p)
    assert inv_short.iloc[-1] and health_short.iloc[-1] == 0.0  # open interest follows price up
    # Price fell 4 ATRs while open interest rose 0.2 %: the long's divergence is 0.4 of its threshold,
    # and the short's faded move is fully reversed.
    _, inv_long, _, health_long, health_short = health(sig, divergence_frame(up[::-1], [np.nan] * 4 + [0.2]), p)
    assert health_long.iloc[-1] == pytest.approx(0.4) and health_short.iloc[-1] == 1.0 and not inv_long.iloc[-1]
    _, inv_long, inv_short, health_long, health_short = health(sig, divergence_frame(up, [np.nan] * 5), p)
    assert health_long.isna().all() and health_short.isna().all()  # no open interest: unknown, not guessed
    assert not inv_long.any() and not inv_short.any()
