"""L4: property tests for leverage and sizing, and the exit rules."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydra_plugins.core.config import SEED_ASSETS, RiskConfig
from hydra_plugins.risk.correlation import OpenLeg, correlation_multiplier
from hydra_plugins.risk.exits import exit_reason, health_ratio, stop_price, tightened_stop_pct
from hydra_plugins.risk.leverage import pair_leverage
from hydra_plugins.risk.sizing import kelly_fraction, risk_stake

CFG = RiskConfig()
assets = st.sampled_from(sorted(SEED_ASSETS.items()))
stops = st.floats(min_value=0.05, max_value=20.0)


@settings(max_examples=300, deadline=None)
@given(
    asset=assets,
    exchange_max=st.floats(1.0, 125.0),
    stop=st.one_of(st.none(), stops),
    vol=st.one_of(st.none(), st.floats(0.1, 10.0)),
)
def test_leverage_respects_every_cap(asset, exchange_max, stop, vol):
    _, spec = asset
    lev = pair_leverage(spec, CFG, exchange_max, stop, vol_ratio=vol)
    assert lev >= 1 and lev == int(lev)
    regime = 2.0 if vol is None else max(1.0, vol)
    caps = [spec.max_leverage / spec.volatility_multiplier / regime, CFG.max_leverage, exchange_max]
    if stop is not None:
        caps.append(CFG.liquidation_buffer / (stop / 100))
    assert lev <= max(1.0, min(caps))
    if stop is not None and lev > 1:
        assert stop / 100 * lev <= CFG.liquidation_buffer  # stop well inside liquidation


@settings(max_examples=200, deadline=None)
@given(asset=assets, stop=stops, calm=st.floats(0.1, 5.0), wilder=st.floats(0.0, 5.0))
def test_leverage_never_rises_with_volatility_or_risk(asset, stop, calm, wilder):
    _, spec = asset
    assert pair_leverage(spec, CFG, 125, stop, vol_ratio=calm + wilder) <= pair_leverage(spec, CFG, 125, stop, calm)
    assert pair_leverage(spec, CFG, 125, stop * 2, vol_ratio=calm) <= pair_leverage(spec, CFG, 125, stop, calm)


def test_leverage_examples():
    assert pair_leverage(SEED_ASSETS["BTC"], CFG, 125, 1.0, vol_ratio=1.0) == 10  # config cap
    assert pair_leverage(SEED_ASSETS["DOGE"], CFG, 125, 1.0, vol_ratio=0.7) == 5  # 10x / volatility 2.0
    assert pair_leverage(SEED_ASSETS["DOGE"], CFG, 125, 1.0, vol_ratio=2.5) == 2  # ... / 2.5x normal volatility
    assert pair_leverage(SEED_ASSETS["DOGE"], CFG, 125, 1.0) == 2  # unknown volatility regime: as if 2x normal
    assert pair_leverage(SEED_ASSETS["BTC"], CFG, 4, 1.0, vol_ratio=1.0) == 4  # exchange tier
    assert pair_leverage(SEED_ASSETS["BTC"], CFG, 125, 8.0, vol_ratio=1.0) == 6  # 0.5 / 8 %
    assert pair_leverage(SEED_ASSETS["BTC"], CFG, 125, float("nan"), vol_ratio=1.0) == 10


@settings(max_examples=500, deadline=None)
@given(
    equity=st.floats(100.0, 1e6),
    stop=stops,
    leverage=st.integers(1, 20),
    size_mult=st.floats(0.1, 1.0),
    gate_mult=st.sampled_from([1.0, 0.5]),
    exposure=st.floats(0.0, 60_000.0),
    positions=st.integers(0, 6),
    min_stake=st.one_of(st.none(), st.floats(0.0, 200.0)),
    max_stake=st.floats(10.0, 1e6),
)
def test_sizing_never_risks_more_than_allowed(
    equity, stop, leverage, size_mult, gate_mult, exposure, positions, min_stake, max_stake
):
    d = risk_stake(
        equity=equity, stop_pct=stop, leverage=leverage, size_mult=size_mult, gate_mult=gate_mult,
        open_exposure_usd=exposure, open_positions=positions, min_stake=min_stake, max_stake=max_stake, cfg=CFG,
    )  # fmt: skip
    assert d.stake >= 0 and d.reason
    if d.stake == 0:
        return
    position = d.stake * leverage
    loss_at_stop = position * stop / 100
    assert loss_at_stop <= equity * CFG.risk_per_trade * size_mult * gate_mult * (1 + 1e-9)
    assert position <= CFG.max_position_usd * (1 + 1e-9)
    assert position + exposure <= CFG.max_exposure_usd * (1 + 1e-9)
    assert d.stake <= max_stake * (1 + 1e-9)
    assert positions < CFG.max_positions
    assert min_stake is None or d.stake >= min_stake


@settings(max_examples=300, deadline=None)
@given(
    stop=stops,
    wider=st.floats(1.0, 5.0),
    p=st.floats(0.0, 1.0),
    better=st.floats(0.0, 0.5),
    b=st.floats(0.2, 5.0),
    corr=st.floats(0.05, 1.0),
    veto=st.sampled_from(["gate", "positions", "exposure", "none"]),
)
def test_sizing_is_monotone_in_risk_and_zero_when_any_gate_vetoes(stop, wider, p, better, b, corr, veto):
    kw = {
        "equity": 10_000, "leverage": 5, "size_mult": 1.0, "gate_mult": 1.0, "open_exposure_usd": 0.0,
        "open_positions": 0, "min_stake": None, "max_stake": 1e9, "cfg": CFG, "reward_risk": b,
        "correlation_mult": corr,
    }  # fmt: skip
    base = risk_stake(stop_pct=stop, win_prob=p, **kw)
    # A wider stop (more risk per unit) never gets a larger position; a better edge never a smaller one.
    assert risk_stake(stop_pct=stop * wider, win_prob=p, **kw).position_usd <= base.position_usd * (1 + 1e-9)
    assert risk_stake(stop_pct=stop, win_prob=min(1.0, p + better), **kw).position_usd >= base.position_usd * (1 - 1e-9)
    vetoed = {
        "gate": {"gate_mult": 0.0},
        "positions": {"open_positions": CFG.max_positions},
        "exposure": {"open_exposure_usd": CFG.max_exposure_usd},
        "none": {},
    }[veto]
    d = risk_stake(stop_pct=stop, win_prob=p, **{**kw, **vetoed})
    if veto != "none":
        assert d.stake == 0 and d.position_usd == 0
        assert d.code in {"gate_block", "max_positions", "exposure_cap", "no_edge"}  # Kelly may veto first


def test_sizing_example_and_refusals():
    kw = {
        "equity": 10_000, "leverage": 5, "size_mult": 1.0, "gate_mult": 1.0, "open_exposure_usd": 0,
        "open_positions": 0, "min_stake": 5.0, "max_stake": 10_000, "cfg": CFG,
    }  # fmt: skip
    d = risk_stake(stop_pct=2.0, **kw)
    assert d.position_usd == pytest.approx(5_000) and d.stake == pytest.approx(1_000)
    assert risk_stake(stop_pct=0.5, **kw).position_usd == pytest.approx(10_000)  # max position cap
    assert risk_stake(stop_pct=float("nan"), **kw).stake == 0
    assert risk_stake(stop_pct=2.0, **{**kw, "gate_mult": 0.0}).reason == "L2 gate blocks new entries"
    assert "positions open" in risk_stake(stop_pct=2.0, **{**kw, "open_positions": 5}).reason
    assert "exposure cap" in risk_stake(stop_pct=2.0, **{**kw, "open_exposure_usd": 50_000}).reason
    refused = risk_stake(stop_pct=2.0, **{**kw, "equity": 100, "min_stake": 20})
    assert refused.stake == 0 and "below exchange minimum" in refused.reason


def test_stop_price_and_exits():
    assert stop_price(100, 2, is_short=False) == pytest.approx(98)
    assert stop_price(100, 2, is_short=True) == pytest.approx(102)
    kw = {"open_rate": 100, "stop_pct": 2.0, "target_pct": 3.0, "held_hours": 1, "max_hold_hours": 24}
    assert exit_reason(current_rate=103.1, is_short=False, **kw) == "hydra_take_profit"
    assert exit_reason(current_rate=96.9, is_short=True, **kw) == "hydra_take_profit"
    assert exit_reason(current_rate=102, is_short=False, **kw) is None
    assert exit_reason(current_rate=102, is_short=False, **{**kw, "held_hours": 24}) == "hydra_time_stop"
    assert exit_reason(current_rate=200, is_short=False, **{**kw, "target_pct": None}) is None
    assert exit_reason(current_rate=97.9, is_short=False, **kw) == "hydra_stop"  # already past the stop
    assert exit_reason(current_rate=102.1, is_short=True, **kw) == "hydra_stop"
    assert exit_reason(current_rate=98.1, is_short=False, **{**kw, "held_hours": 30}) == "hydra_time_stop"
    assert math.isfinite(stop_price(1e-6, 0.1, False))


def test_thesis_exit_comes_after_the_price_exits_and_before_the_time_stop():
    base = {"open_rate": 100.0, "is_short": False, "stop_pct": 2.0, "target_pct": 3.0, "max_hold_hours": 24.0}
    broken = "hydra_thesis_funding_squeeze"
    assert exit_reason(current_rate=97.9, held_hours=1, thesis_broken=broken, **base) == "hydra_stop"
    assert exit_reason(current_rate=103.1, held_hours=1, thesis_broken=broken, **base) == "hydra_take_profit"
    assert exit_reason(current_rate=101.0, held_hours=30, thesis_broken=broken, **base) == broken
    assert exit_reason(current_rate=101.0, held_hours=30, thesis_broken=None, **base) == "hydra_time_stop"
    assert exit_reason(current_rate=101.0, held_hours=1, thesis_broken=None, **base) is None


def test_kelly_sizing_risks_less_when_the_edge_is_thin_and_nothing_without_one():
    kw = {
        "equity": 10_000, "leverage": 5, "size_mult": 1.0, "gate_mult": 1.0, "open_exposure_usd": 0,
        "open_positions": 0, "min_stake": 5.0, "max_stake": 10_000, "cfg": CFG, "stop_pct": 2.0,
    }  # fmt: skip
    assert kelly_fraction(0.6, 2.0) == pytest.approx(0.4)
    strong = risk_stake(win_prob=0.6, reward_risk=2.0, **kw)  # quarter Kelly 10 % > 1 %: the 1 % cap binds
    assert strong.position_usd == pytest.approx(5_000) and strong.rationale["risk_fraction"] == 0.01
    thin = risk_stake(win_prob=0.36, reward_risk=2.0, **kw)  # Kelly 0.04: a quarter of it is exactly 1 %
    assert thin.rationale["kelly"] == pytest.approx(0.04) and thin.rationale["risk_fraction"] == pytest.approx(0.01)
    thinner = risk_stake(win_prob=0.34, reward_risk=2.0, **kw)
    assert thinner.rationale["risk_fraction"] == pytest.approx(0.25 * 0.01)
    assert thinner.position_usd == pytest.approx(10_000 * 0.0025 / 0.02)
    none = risk_stake(win_prob=0.3, reward_risk=2.0, **kw)
    assert none.stake == 0 and "no edge" in none.reason
    assert risk_stake(win_prob=float("nan"), reward_risk=2.0, **kw).stake == 0  # unknown p: refuse
    halved = risk_stake(win_prob=0.6, reward_risk=2.0, correlation_mult=0.5, **kw)
    assert halved.position_usd == pytest.approx(2_500) and halved.rationale["correlation_mult"] == 0.5


@settings(max_examples=200, deadline=None)
@given(
    p=st.floats(0.0, 1.0),
    b=st.floats(0.05, 10.0),
    corr=st.floats(0.01, 1.0),
    stop=st.floats(0.1, 10.0),
    gate=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_kelly_sizing_never_risks_more_than_kelly_or_the_cap(p, b, corr, stop, gate):
    d = risk_stake(
        equity=10_000, stop_pct=stop, leverage=5, size_mult=1.0, gate_mult=gate, open_exposure_usd=0,
        open_positions=0, min_stake=None, max_stake=1e9, cfg=CFG, win_prob=p, reward_risk=b, correlation_mult=corr,
    )  # fmt: skip
    assert d.stake >= 0
    kelly = p - (1 - p) / b
    if kelly <= 0 or gate == 0:
        assert d.stake == 0
        return
    loss_at_stop = d.stake * 5 * stop / 100
    assert loss_at_stop <= 10_000 * min(CFG.risk_per_trade, CFG.kelly_multiplier * kelly) * gate * corr * (1 + 1e-9)


def closes(values, start="2024-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="15min", tz="UTC"))


def test_correlation_penalty_counts_what_moves_together_and_treats_unknown_as_the_worst():
    rng = np.random.default_rng(3)
    walk = closes(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 800))))
    other = closes(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 800))))
    mirror = closes(10_000 / walk.to_numpy())
    same = OpenLeg("ETH/USDT:USDT", 1, walk)
    mult, counted = correlation_multiplier(walk, 1, [same], CFG)
    assert mult == pytest.approx(0.5) and counted["ETH/USDT:USDT"] == pytest.approx(1.0)
    assert correlation_multiplier(walk, -1, [same], CFG)[0] == pytest.approx(1 / 1.5)  # opposite side: half
    assert correlation_multiplier(walk, 1, [OpenLeg("X", 1, mirror)], CFG)[0] == pytest.approx(1.0)  # hedge
    independent, _ = correlation_multiplier(walk, 1, [OpenLeg("Y", 1, other)], CFG)
    assert 0.9 < independent <= 1.0
    short_history = OpenLeg("Z", 1, closes(walk.to_numpy()[-20:], start="2030-01-01"))
    assert correlation_multiplier(walk, 1, [short_history], CFG)[0] == pytest.approx(0.5)  # unknown: worst case


@settings(max_examples=300, deadline=None)
@given(stop=stops, ratio=st.floats(-1.0, 2.0), lower=st.floats(0.0, 1.0), floor=st.floats(0.1, 1.0))
def test_a_weakening_thesis_only_ever_tightens_the_stop(stop, ratio, lower, floor):
    tightened = tightened_stop_pct(stop, ratio, floor)
    assert floor * stop * (1 - 1e-12) <= tightened <= stop  # never wider than the stop the size assumed
    assert tightened_stop_pct(stop, min(ratio, 1.0) * lower, floor) <= tightened * (1 + 1e-12)  # weaker: tighter


def test_health_ratio_is_relative_to_the_signal_candle():
    assert health_ratio(1.0, 0.25) == 0.25
    assert health_ratio(0.5, 0.25) == 0.5
    assert health_ratio(0.5, 0.9) == 1.0  # stronger than at entry: the entry stop
    assert health_ratio(0.0, 0.5) is None and health_ratio(None, 0.5) is None and health_ratio(1.0, None) is None
    assert tightened_stop_pct(2.0, 0.5, 0.5) == pytest.approx(1.5)
