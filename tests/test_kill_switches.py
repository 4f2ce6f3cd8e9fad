"""L4 kill switches: the conditions (property tests), the persisted state, and the guard that runs them."""

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydra_plugins.core.config import KillSwitchConfig
from hydra_plugins.risk.guard import KillSwitchGuard
from hydra_plugins.risk.journal import RiskJournal, count_events, read_journal
from hydra_plugins.risk.kill_switch import (
    ALL_PAIRS,
    Firing,
    KillSwitchState,
    PairCandle,
    daily_drawdown,
    funding_spike,
    market_cascade,
    pair_cascade,
    pair_firings,
    regime_break,
)

CFG = KillSwitchConfig()
T0 = datetime(2022, 5, 12, tzinfo=UTC)
STEP = timedelta(minutes=15)
maybe = st.one_of(st.none(), st.just(float("nan")), st.floats(-1.0, 1.0))


@settings(max_examples=300, deadline=None)
@given(start=st.floats(1.0, 1e7), equity=st.floats(0.0, 2e7), lower=st.floats(0.0, 1.0))
def test_daily_drawdown_fires_exactly_beyond_the_limit_and_more_so_lower(start, equity, lower):
    fired = daily_drawdown(start, equity, CFG) is not None
    assert fired == ((1 - equity / start) * 100 > CFG.daily_drawdown_pct)
    if fired:  # less equity never un-fires it
        assert daily_drawdown(start, equity * lower, CFG) is not None


@pytest.mark.parametrize("start,equity", [(None, 90.0), (100.0, None), (0.0, 1.0), (float("nan"), 1.0)])
def test_daily_drawdown_never_fires_on_unknown_equity(start, equity):
    assert daily_drawdown(start, equity, CFG) is None


@settings(max_examples=300, deadline=None)
@given(last=maybe, predicted=maybe)
def test_funding_spike_is_symmetric_and_ignores_unknown_rates(last, predicted):
    known = [abs(v) for v in (last, predicted) if v is not None and math.isfinite(v)]
    fired = funding_spike(last, predicted, CFG) is not None
    assert fired == any(v > CFG.funding_spike_pct / 100 for v in known)
    flip = [None if v is None else -v for v in (last, predicted)]
    assert (funding_spike(*flip, CFG) is not None) == fired


def test_funding_spike_names_the_rate():
    assert "predicted funding rate +0.7500%" in funding_spike(0.0001, 0.0075, CFG)
    assert "last settled funding rate -0.6000%" in funding_spike(-0.006, None, CFG)
    assert funding_spike(0.005, -0.005, CFG) is None  # exactly at the limit is not beyond it


@settings(max_examples=300, deadline=None)
@given(
    probs=st.dictionaries(st.sampled_from("ABCDEFGH"), st.one_of(st.none(), st.floats(0.0, 1.0)), max_size=8),
    raise_pair=st.sampled_from("ABCDEFGH"),
    to=st.floats(0.0, 1.0),
)
def test_market_cascade_needs_a_share_of_pairs_and_never_unfires_when_a_probability_rises(probs, raise_pair, to):
    known = {k: v for k, v in probs.items() if v is not None}
    above = [v for v in known.values() if v > CFG.cascade_prob]
    fired = market_cascade(probs, CFG) is not None
    assert fired == bool(len(above) >= 2 and len(above) / len(known) >= CFG.cascade_market_share)
    if fired and raise_pair in known:
        higher = {**probs, raise_pair: max(known[raise_pair], to)}
        assert market_cascade(higher, CFG) is not None


def test_cascade_firings_per_pair_and_market_wide():
    one = pair_firings("BTC", PairCandle(cascade_prob=0.8), CFG)
    assert [(s, scope) for s, scope, _ in one] == [("cascade", "BTC")]
    assert market_cascade({"BTC": 0.8, "ETH": 0.1, "SOL": 0.1}, CFG) is None  # one pair: that pair's cascade
    assert "2 of 3 pairs" in market_cascade({"BTC": 0.8, "ETH": 0.75, "SOL": 0.1}, CFG)
    spike = pair_firings("BTC", PairCandle(funding_rate=0.006), CFG)
    assert [(s, scope) for s, scope, _ in spike] == [("funding_spike", "BTC")]
    off = KillSwitchConfig(switches=("daily_drawdown",))
    assert pair_firings("BTC", PairCandle(funding_rate=0.006, cascade_prob=0.9), off) == []
    assert pair_cascade(float("nan"), CFG) is None


flag = st.one_of(st.none(), st.booleans())


@settings(max_examples=100, deadline=None)
@given(side=st.sampled_from(["long", "short"]), now=flag, clear=flag, extreme=flag)
def test_regime_break_only_on_a_flip_against_the_side_in_extreme_volatility(side, now, clear, extreme):
    fired = regime_break(side, now, clear, extreme, "HIGH_VOLATILITY") is not None
    assert fired == bool(extreme and now and clear is True)  # unknown history: no flip


def test_firings_cover_their_scope_and_side_and_only_trades_opened_before():
    state = KillSwitchState()
    until = T0 + timedelta(hours=12)
    assert state.fire(Firing("regime_break", "BTC", T0, until, "why", side="long"))
    assert not state.fire(Firing("regime_break", "BTC", T0 + STEP, until, "again", side="long"))  # no stacking
    assert state.flattening("BTC", "long", T0 - STEP, T0 + STEP) is not None
    assert state.flattening("BTC", "short", T0 - STEP, T0 + STEP) is None  # the other side
    assert state.flattening("BTC", "long", T0, T0 + STEP) is None  # opened at the firing, not before
    assert state.flattening("ETH", "long", T0 - STEP, T0 + STEP) is None
    assert state.blocking("BTC", T0 + STEP) is not None and state.blocking("BTC", until) is None
    state.fire(Firing("daily_drawdown", ALL_PAIRS, T0, until, "dd"))
    assert state.blocking("DOGE", T0) is not None
    assert [f.switch for f in state.expire(until)] == ["regime_break", "daily_drawdown"]
    assert state.firings == [] and len(state.history) == 2


def test_state_survives_a_restart_and_an_operator_clear_while_running(tmp_path):
    path = tmp_path / "hydra" / "kill_switches.json"
    bot = KillSwitchState.open(path)
    bot.fire(Firing("cascade", ALL_PAIRS, T0, T0 + timedelta(hours=12), "cascade probability 0.80 above 0.70"))
    bot.fire(Firing("funding_spike", "BTC", T0, T0 + timedelta(hours=12), "rate"))
    bot.start_day(T0, 1000.0)
    bot.save()

    restarted = KillSwitchState.open(path)
    assert restarted.firings == bot.firings and restarted.day_start_equity == 1000.0 and restarted.day == T0.date()

    operator = KillSwitchState.open(path)  # `hydra risk clear --switch cascade`
    assert [f.switch for f in operator.clear(switch="cascade")] == ["cascade"]
    operator.save()
    # The bot fires something new before it re-reads the file: the cleared firing stays cleared.
    bot.fire(Firing("funding_spike", "ETH", T0 + STEP, T0 + timedelta(hours=12), "rate"))
    bot.save()
    assert sorted((f.switch, f.scope) for f in KillSwitchState.open(path).firings) == [
        ("funding_spike", "BTC"),
        ("funding_spike", "ETH"),
    ]


def test_an_unreadable_state_file_is_named(tmp_path):
    path = tmp_path / "kill_switches.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"kill_switches\.json is unreadable"):
        KillSwitchState.open(path)
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        KillSwitchState.open(path)


def inputs(closes, *, funding=None, cascade=None, start=T0):
    n = len(closes)
    index = pd.DatetimeIndex([start + STEP * (i + 1) for i in range(n)])  # close times
    return pd.DataFrame(
        {
            "close": closes,
            "funding_rate": funding if funding is not None else [0.0001] * n,
            "predicted_funding": [np.nan] * n,
            "cascade_prob": cascade if cascade is not None else [0.1] * n,
        },
        index=index,
    )


class Recorder:
    def __init__(self):
        self.messages = []

    def __call__(self, message, warning):
        self.messages.append((message, warning))


def make_guard(tmp_path, cfg=CFG, path=None):
    tell = Recorder()
    journal = RiskJournal(tmp_path / "journal.jsonl", fresh=True)
    return KillSwitchGuard(cfg, KillSwitchState.open(path), journal, 15, tell), tell


def test_guard_fires_once_per_cooldown_reads_only_closed_candles_and_catches_up(tmp_path):
    guard, tell = make_guard(tmp_path)
    cascade = [0.1] * 10 + [0.9] * 90
    guard.record_inputs("BTC", inputs([100.0] * 100, cascade=cascade))
    guard.record_inputs("ETH", inputs([50.0] * 100))
    guard.record_inputs("SOL", inputs([20.0] * 100))  # one pair of three: not market-wide
    # Candle 11 (index 10) closes at T0 + 11 steps: not known at T0 + 10 steps plus a minute.
    assert guard.check(T0 + 10 * STEP + timedelta(minutes=1), lambda _: None) == []
    # Two candles later (no check in between): caught up, fired at candle 11's close.
    fired = guard.check(T0 + 12 * STEP, lambda _: None)
    assert [(f.switch, f.scope, f.fired_at) for f in fired] == [("cascade", "BTC", T0 + 11 * STEP)]
    assert "KILL SWITCH cascade on BTC" in tell.messages[-1][0] and tell.messages[-1][1]
    assert guard.check(T0 + 20 * STEP, lambda _: None) == []  # still in force: not again
    # 12 h later the cool-down is over; the probability is still high, so it fires anew.
    later = T0 + 11 * STEP + timedelta(hours=12)
    fired = guard.check(later, lambda _: None)
    assert [f.fired_at for f in fired] == [later]
    assert any("cool-down over" in m for m, _ in tell.messages)
    counts = count_events(read_journal(tmp_path / "journal.jsonl"))
    assert counts["fired"]["cascade"] == 2 and counts["expired"]["cascade"] == 1


def test_guard_daily_drawdown_from_the_days_first_equity_then_from_each_firing(tmp_path):
    guard, _ = make_guard(tmp_path)
    equity = {T0: 1000.0, T0 + STEP: 960.0, T0 + 2 * STEP: 949.0, T0 + 3 * STEP: 900.0}
    for t in sorted(equity):
        fired = guard.check(t, equity.get)
        if t < T0 + 2 * STEP:
            assert fired == []
    assert [f.switch for f in guard.state.history] == ["daily_drawdown"]  # in force: 900 does not fire again
    assert guard.state.history[0].fired_at == T0 + 2 * STEP and "5.10% below" in guard.state.history[0].reason
    # The operator clears it the same day: the next firing needs another 5 % below the first firing's 949.
    guard.state.clear()
    assert guard.check(T0 + 4 * STEP, lambda _: 910.0) == []
    again = guard.check(T0 + 5 * STEP, lambda _: 900.0)
    assert [f.switch for f in again] == ["daily_drawdown"] and "after an earlier firing today" in again[0].reason
    next_day = T0 + timedelta(days=1)
    guard.state.expire(next_day)
    assert guard.check(next_day, lambda _: 900.0) == []  # a new day starts from 900
    assert guard.state.day_start_equity == 900.0
    assert [f.switch for f in guard.check(next_day + STEP, lambda _: 850.0)] == ["daily_drawdown"]


def test_a_late_pairs_candle_is_still_checked_and_the_market_waits_for_it(tmp_path):
    guard, _ = make_guard(tmp_path)
    guard.record_inputs("BTC", inputs([100.0] * 8, cascade=[0.1] * 7 + [0.9]))
    guard.record_inputs("ETH", inputs([50.0] * 6, cascade=[0.1] * 6))  # two candles behind
    guard.record_inputs("SOL", inputs([20.0] * 8, cascade=[0.1] * 7 + [0.9]))
    now = T0 + 8 * STEP
    guard.check(now - STEP, lambda _: None)  # the first check: the newest candle only
    fired = guard.check(now, lambda _: None)
    assert sorted(f.scope for f in fired) == ["BTC", "SOL"] and guard.state.market_checked == T0 + 6 * STEP
    # ETH's two candles arrive, the second with a funding spike and a cascade: all checked, market too.
    guard.record_inputs("ETH", inputs([50.0] * 8, funding=[0.0001] * 7 + [0.006], cascade=[0.1] * 7 + [0.9]))
    fired = guard.check(now + timedelta(minutes=1), lambda _: None)
    found = sorted((f.switch, f.scope) for f in fired)
    assert found == [("cascade", "*"), ("cascade", "ETH"), ("funding_spike", "ETH")]
    assert all(f.fired_at == now for f in fired)


def test_a_fresh_state_does_not_fire_on_what_it_never_watched(tmp_path):
    guard, _ = make_guard(tmp_path)
    guard.record_inputs("BTC", inputs([100.0] * 10, cascade=[0.9] * 5 + [0.1] * 5))
    assert guard.check(T0 + 10 * STEP, lambda _: None) == []  # the cascade 5 candles ago is history


def test_disarmed_guard_does_nothing(tmp_path):
    guard, tell = make_guard(tmp_path, cfg=KillSwitchConfig(enabled=False))
    guard.record_inputs("BTC", inputs([100.0] * 20, cascade=[0.99] * 20))
    assert guard.check(T0 + 20 * STEP, lambda _: 1.0) == [] and tell.messages == []


def test_guard_values_positions_at_the_newest_closed_candle(tmp_path):
    guard, _ = make_guard(tmp_path)
    guard.record_inputs("BTC", inputs([100.0, 101.0, 102.0, np.nan]))
    assert guard.close_at("BTC", T0 + 2 * STEP + timedelta(minutes=3)) == 101.0
    assert guard.close_at("BTC", T0 + 10 * STEP) == 102.0  # the newest close is unknown: the one before
    assert guard.close_at("ETH", T0 + 10 * STEP) is None


def test_a_new_backtest_over_the_same_strategy_starts_clean(tmp_path):
    guard, _ = make_guard(tmp_path)  # in memory, as in backtests and hyperopt
    guard.record_inputs("BTC", inputs([100.0] * 100, cascade=[0.9] * 100))
    assert guard.check(T0 + 90 * STEP, lambda _: None)  # the first epoch ends with a firing in force
    assert guard.state.blocking("BTC", T0 + 91 * STEP) is not None
    fired = guard.check(T0 + 5 * STEP, lambda _: None)  # the next epoch starts over
    assert [f.fired_at for f in fired] == [T0 + 5 * STEP]  # from its own newest candle, not the old firing
    assert guard.state.firings == fired


def test_a_restart_checks_on_from_the_last_candle_it_checked(tmp_path):
    path = tmp_path / "kill_switches.json"
    guard, _ = make_guard(tmp_path, path=path)
    cascade = [0.1] * 4 + [0.9] * 3 + [0.1] * 3  # cascade on the candles closing at T0 + 5, 6 and 7 steps
    guard.record_inputs("BTC", inputs([100.0] * 10, cascade=cascade))
    guard.check(T0 + 3 * STEP, lambda _: None)
    assert [f.fired_at for f in guard.check(T0 + 5 * STEP, lambda _: None)] == [T0 + 5 * STEP]
    assert guard.check(T0 + 7 * STEP, lambda _: None) == []  # in force: candles 6 and 7 checked, nothing new
    operator = KillSwitchState.open(path)  # `hydra risk clear --all`
    operator.clear()
    operator.save()
    restarted, _ = make_guard(tmp_path, path=path)  # the same candles, read again after a restart
    restarted.record_inputs("BTC", inputs([100.0] * 10, cascade=cascade))
    assert restarted.state.pair_checked["BTC"] == T0 + 7 * STEP
    assert restarted.check(T0 + 8 * STEP, lambda _: None) == []  # candles already checked are not found again


# The guard walks only candidate candles: those must be every candle a switch could fire on.

_STEP = timedelta(minutes=15)
_T0 = datetime(2024, 3, 1, tzinfo=UTC)
_rate = st.one_of(st.just(math.nan), st.just(math.inf), st.floats(-0.02, 0.02))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_rate, _rate, st.one_of(st.just(math.nan), st.floats(0, 1))), min_size=1, max_size=40))
def test_the_guard_s_candidates_hold_every_candle_a_switch_fires_on(rows):
    from hydra_plugins.risk.guard import _pair_candle

    cfg = KillSwitchConfig()
    guard = KillSwitchGuard(cfg, KillSwitchState(), RiskJournal(None), 15, lambda m, w: None)
    index = pd.DatetimeIndex([_T0 + i * _STEP for i in range(len(rows))])
    inputs = pd.DataFrame(
        [(f, p, c, 100.0) for f, p, c in rows], index=index,
        columns=["funding_rate", "predicted_funding", "cascade_prob", "close"],
    )  # fmt: skip
    guard.record_inputs("BTC", inputs)
    firing = [
        t.to_pydatetime()
        for t, row in zip(index, rows, strict=True)
        if pair_firings("BTC", _pair_candle((*row, 1.0)), cfg)
    ]
    assert set(firing) <= set(guard._pair_candidates["BTC"])


@settings(max_examples=100, deadline=None)
@given(
    st.sets(st.integers(0, 60), max_size=30),
    st.one_of(st.none(), st.integers(0, 60)),
    st.integers(0, 60),
    st.integers(1, 20),
)
def test_candidates_are_the_candles_a_check_reads(marks, last, upto, horizon_candles):
    from hydra_plugins.risk.guard import _candidates

    times = sorted(_T0 + i * _STEP for i in marks)
    last_t = None if last is None else _T0 + last * _STEP
    upto_t, horizon = _T0 + upto * _STEP, horizon_candles * _STEP
    if last_t is None:
        read = [upto_t]
    else:  # every candle close after the last check, at most a cool-down back, up to upto
        read = [t for t in (_T0 + i * _STEP for i in range(61)) if max(last_t + _STEP, upto_t - horizon) <= t <= upto_t]
    assert _candidates(times, last_t, upto_t, _STEP, horizon) == [t for t in read if t in set(times)]
