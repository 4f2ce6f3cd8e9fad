"""Training labels: trade exits worked out by hand, funding, unknown outcomes, and the future regime."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.stats.regime import Regime
from hydra_plugins.training import labels
from hydra_plugins.training.labels import OUTCOME_COLUMNS, future_regime, trade_outcomes

TF = pd.Timedelta(hours=1)
START = pd.Timestamp("2026-01-01", tz="UTC")
FLAT = (100.0, 100.0, 100.0, 100.0)
FEE = 0.0005


def at(bar: int) -> pd.Timestamp:
    return START + bar * TF


def candles(rows: list[tuple[float, float, float, float]], dates: list[pd.Timestamp] | None = None) -> pd.DataFrame:
    o, h, lo, c = (list(x) for x in zip(*rows, strict=True))
    return pd.DataFrame(
        {"date": dates or [at(i) for i in range(len(rows))], "open": o, "high": h, "low": lo, "close": c}
    )


def one(frame, pos=0, direction=1, stop=2.0, target=float("nan"), hold=10, funding=None, fee=FEE) -> pd.Series:
    out = trade_outcomes(frame, [pos], [direction], [stop], [target], [hold], funding, fee, TF)
    assert list(out.columns) == list(OUTCOME_COLUMNS)
    return out.iloc[0]


# ------------------------------------------------------------------------------------------- exits


def test_stop_hit_inside_a_candle_exits_at_the_stop_price():
    frame = candles([FLAT, (100, 101, 99, 100.5), (100.5, 101, 97.5, 98.5), FLAT])
    row = one(frame)
    assert row.exit_reason == "stop"
    assert row.entry_date == at(1) and row.entry_price == 100.0
    assert row.exit_date == at(2) and row.bars_held == 2
    assert row.exit_price == pytest.approx(98.0)
    assert row.gross_pct == pytest.approx(-2.0)
    assert row.fee_pct == pytest.approx(0.1)
    assert row.funding_pct == 0.0
    assert row.net_pct == pytest.approx(-2.1)
    assert not row.profitable


def test_gap_through_the_stop_exits_at_the_open():
    frame = candles([FLAT, (100, 101, 99, 100.5), (97, 97.5, 96, 97.2), FLAT])
    row = one(frame)
    assert row.exit_reason == "stop"
    assert row.exit_price == 97.0
    assert row.gross_pct == pytest.approx(-3.0)


def test_take_profit_needs_the_close_not_a_wick():
    # candle 1 wicks to 103 but closes at 101; candle 2 closes 2.5% up.
    frame = candles([FLAT, (100, 103, 99.5, 101), (101, 103, 100.5, 102.5), FLAT])
    row = one(frame, target=2.0)
    assert row.exit_reason == "take_profit"
    assert row.exit_date == at(2) and row.bars_held == 2
    assert row.exit_price == 102.5
    assert row.gross_pct == pytest.approx(2.5)
    assert row.net_pct == pytest.approx(2.4)
    assert row.profitable


def test_stop_wins_when_stop_and_target_share_a_candle():
    frame = candles([FLAT, (100, 104, 97, 103), FLAT])
    row = one(frame, target=2.0)
    assert row.exit_reason == "stop"
    assert row.exit_price == pytest.approx(98.0)


@pytest.mark.parametrize("target", [float("nan"), 0.0, -1.0])
def test_missing_or_non_positive_target_means_no_take_profit(target):
    frame = candles([FLAT, (100, 120, 99, 119), (119, 120, 118, 119), FLAT])
    row = one(frame, target=target, hold=2)
    assert row.exit_reason == "time_stop"
    assert row.exit_price == 119.0


def test_time_stop_exits_at_the_close_of_the_last_held_candle():
    frame = candles([FLAT, FLAT, FLAT, (100, 101, 99.5, 100.7), FLAT, FLAT])
    row = one(frame, hold=3)
    assert row.exit_reason == "time_stop"
    assert row.exit_date == at(3) and row.bars_held == 3
    assert row.exit_price == 100.7
    assert row.label_end == at(4)


def test_short_mirrors_the_long():
    stopped = candles([FLAT, (100, 101, 99, 100.5), (100.5, 102.5, 100, 101), FLAT])
    row = one(stopped, direction=-1)
    assert (row.exit_reason, row.exit_price) == ("stop", pytest.approx(102.0))
    assert row.gross_pct == pytest.approx(-2.0)

    gapped = candles([FLAT, (100, 101, 99, 100.5), (103, 104, 102.5, 103.5), FLAT])
    row = one(gapped, direction=-1)
    assert (row.exit_reason, row.exit_price) == ("stop", 103.0)
    assert row.gross_pct == pytest.approx(-3.0)

    target = candles([FLAT, (100, 100.5, 97, 99), (99, 99.5, 97, 97.5), FLAT])
    row = one(target, direction=-1, target=2.0)
    assert (row.exit_reason, row.exit_price) == ("take_profit", 97.5)
    assert row.gross_pct == pytest.approx(2.5)
    assert row.profitable

    both = candles([FLAT, (100, 103, 96, 97), FLAT])
    assert one(both, direction=-1, target=2.0).exit_reason == "stop"


def test_trades_keep_their_input_order_and_their_own_parameters():
    frame = candles([FLAT, FLAT, (100, 100.5, 98.5, 99), FLAT, FLAT, FLAT])
    out = trade_outcomes(frame, [2, 0, 0], [1, 1, -1], [5.0, 1.0, 1.0], [np.nan, np.nan, 0.8], [2, 4, 4], None, 0.0, TF)
    assert out["signal_pos"].tolist() == [2, 0, 0]
    assert out["exit_reason"].tolist() == ["time_stop", "stop", "take_profit"]
    assert out["exit_price"].tolist() == pytest.approx([100.0, 99.0, 99.0])
    assert out["bars_held"].tolist() == [2, 2, 2]
    assert out["label_end"].tolist() == [at(5), at(5), at(5)]


def test_scalars_are_shared_by_every_trade():
    frame = candles([FLAT] * 6)
    out = trade_outcomes(frame, [0, 1], 1, 2.0, np.nan, 2, None, FEE, TF)
    assert out["exit_reason"].tolist() == ["time_stop", "time_stop"]
    assert out["bars_held"].tolist() == [2, 2]


# ----------------------------------------------------------------------------------------- funding

FUNDING = pd.DataFrame(
    {
        # at entry (not paid), inside, at exit (paid), after exit (not paid)
        "date": [at(1), at(2), at(3), at(4)],
        "funding_rate": [0.001, -0.0002, 0.0005, 0.01],
    }
)


@pytest.mark.parametrize("direction", [1, -1])
def test_funding_sign_and_boundaries(direction):
    frame = candles([FLAT] * 6)
    row = one(frame, direction=direction, hold=3, funding=FUNDING)
    assert (row.entry_date, row.exit_date) == (at(1), at(3))
    # a long pays the positive sum, a short receives it
    assert row.funding_pct == pytest.approx(direction * 0.03)
    assert row.net_pct == pytest.approx(0.0 - 0.1 - direction * 0.03)


def test_funding_frame_unsorted_with_missing_rates_and_naive_dates():
    frame = candles([FLAT] * 6)
    funding = pd.DataFrame(
        {"date": [at(3).tz_localize(None), at(2).tz_localize(None), at(2)], "funding_rate": [0.0005, np.nan, -0.0002]}
    )
    assert one(frame, hold=3, funding=funding).funding_pct == pytest.approx(0.03)
    assert one(frame, hold=3, funding=funding.iloc[:0]).funding_pct == 0.0


def test_funding_frame_without_its_columns_is_a_key_error():
    with pytest.raises(KeyError, match="funding_rate"):
        one(candles([FLAT] * 4), funding=pd.DataFrame({"date": [at(1)]}))


# ------------------------------------------------------------------------------------------ unknown


def test_unknown_when_the_data_ends_before_the_exit():
    frame = candles([FLAT] * 4)
    out = trade_outcomes(frame, [1, 3, 0], 1, 2.0, np.nan, [5, 5, 3], FUNDING, FEE, TF)
    assert out["exit_reason"].tolist() == ["unknown", "unknown", "time_stop"]
    assert str(out["profitable"].dtype) == "boolean" and str(out["bars_held"].dtype) == "Int64"
    assert out["profitable"].isna().tolist() == [True, True, False]
    assert out["bars_held"].isna().tolist() == [True, True, False]
    unknown = out.iloc[0]
    assert unknown.entry_date == at(2) and unknown.entry_price == 100.0
    assert pd.isna(unknown.exit_date)
    assert all(math.isnan(unknown[c]) for c in ("exit_price", "gross_pct", "funding_pct", "net_pct"))
    assert unknown.fee_pct == pytest.approx(0.1)
    assert unknown.label_end == at(7)
    no_entry = out.iloc[1]  # signalled on the last candle: there is no next candle to enter on
    assert pd.isna(no_entry.entry_date) and math.isnan(no_entry.entry_price)


def test_a_stop_before_the_data_ends_is_known():
    frame = candles([FLAT, (100, 100, 97, 98)])
    assert one(frame, hold=50).exit_reason == "stop"


def test_unknown_when_the_candles_are_not_contiguous():
    dates = [at(0), at(1), at(2), at(4), at(5), at(6)]  # the candle at bar 3 is missing
    frame = candles([FLAT] * 6, dates=dates)
    out = trade_outcomes(frame, [0, 0, 2, 3], 1, 2.0, np.nan, [2, 3, 1, 2], None, FEE, TF)
    # exits before the hole are known; trades across it, or entering across it, are not
    assert out["exit_reason"].tolist() == ["time_stop", "unknown", "unknown", "time_stop"]


def test_a_missing_price_makes_the_outcome_unknown():
    frame = candles([FLAT, FLAT, (100, np.nan, 99, 100), FLAT, FLAT])
    out = trade_outcomes(frame, [0, 0], 1, 2.0, np.nan, [1, 3], None, FEE, TF)
    assert out["exit_reason"].tolist() == ["time_stop", "unknown"]


def test_no_signals_give_an_empty_frame_with_the_columns():
    out = trade_outcomes(candles([FLAT] * 3), [], [], [], [], [], None, FEE, TF)
    assert list(out.columns) == list(OUTCOME_COLUMNS) and out.empty


# --------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"signal_pos": [0, 1]}, "direction must be a scalar or have one value per signal"),
        ({"direction": [0]}, "direction must be"),
        ({"direction": [2]}, "direction must be"),
        ({"stop_pct": [0.0]}, "stop_pct"),
        ({"stop_pct": [np.nan]}, "stop_pct"),
        ({"max_hold_bars": [0]}, "max_hold_bars must be >= 1"),
        ({"max_hold_bars": [1.5]}, "max_hold_bars must hold whole numbers"),
        ({"signal_pos": [4]}, r"signal_pos must lie in \[0, 3\]"),
        ({"signal_pos": [-1]}, "signal_pos must lie"),
        ({"signal_pos": [True]}, "signal_pos must hold integers"),
        ({"fee_rate": -0.1}, "fee_rate"),
        ({"timeframe": pd.Timedelta(0)}, "timeframe must be positive"),
    ],
)
def test_invalid_inputs_are_value_errors_naming_the_problem(kwargs, message):
    args = {
        "candles": candles([FLAT] * 4),
        "signal_pos": [0],
        "direction": [1],
        "stop_pct": [2.0],
        "target_pct": [np.nan],
        "max_hold_bars": [2],
        "funding": None,
        "fee_rate": FEE,
        "timeframe": TF,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        trade_outcomes(**args)


def test_missing_candle_columns_are_a_key_error():
    with pytest.raises(KeyError, match="low"):
        trade_outcomes(candles([FLAT] * 3).drop(columns="low"), [0], 1, 2.0, np.nan, 1, None, FEE, TF)


# ------------------------------------------------------------------- vectorized == a plain loop


def reference(frame: pd.DataFrame, t: int, d: int, stop: float, target: float, hold: int) -> tuple[str, float]:
    o, h, lo, c, dates = (frame[k].to_numpy() for k in ("open", "high", "low", "close", "date"))
    if t + 1 >= len(frame):
        return "unknown", math.nan
    entry = o[t + 1]
    stop_price = entry * (1 - d * stop / 100)
    for j in range(t + 1, t + hold + 1):
        if j >= len(frame) or dates[j] - dates[j - 1] != TF:
            return "unknown", math.nan
        if (d == 1 and lo[j] <= stop_price) or (d == -1 and h[j] >= stop_price):
            beyond = o[j] <= stop_price if d == 1 else o[j] >= stop_price
            return "stop", o[j] if beyond else stop_price
        if target > 0 and (c[j] >= entry * (1 + target / 100) if d == 1 else c[j] <= entry * (1 - target / 100)):
            return "take_profit", c[j]
        if j - t >= hold:
            return "time_stop", c[j]
    raise AssertionError("unreachable")


def test_vectorized_exits_match_a_plain_loop_across_chunks(monkeypatch):
    monkeypatch.setattr(labels, "_WINDOW_CELLS", 50)  # many small chunks
    rng = np.random.default_rng(7)
    n = 400
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]] * (1 + rng.normal(0, 0.004, n))  # gaps between candles
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.006, n)))
    dates = [at(i + (i >= 250)) for i in range(n)]  # a one-candle hole after row 249
    frame = pd.DataFrame({"date": dates, "open": open_, "high": high, "low": low, "close": close})
    m = 300
    pos = rng.integers(0, n, m)
    side = rng.choice([-1, 1], m)
    stop = rng.uniform(0.3, 3.0, m)
    target = np.where(rng.random(m) < 0.2, np.nan, rng.uniform(0.3, 3.0, m))
    hold = rng.integers(1, 30, m)
    out = trade_outcomes(frame, pos, side, stop, target, hold, None, FEE, TF)
    expected = [reference(frame, *args) for args in zip(pos, side, stop, target, hold, strict=True)]
    assert out["exit_reason"].tolist() == [e[0] for e in expected]
    np.testing.assert_allclose(out["exit_price"].to_numpy(), [e[1] for e in expected])
    assert set(out["exit_reason"]) == {"stop", "take_profit", "time_stop", "unknown"}


# ---------------------------------------------------------------------------------- future regime

R, UP, DOWN, HV = Regime.RANGING, Regime.TRENDING_UP, Regime.TRENDING_DOWN, Regime.HIGH_VOLATILITY
CASCADE, SL, SS = Regime.CASCADE_RISK, Regime.SQUEEZE_LONG, Regime.SQUEEZE_SHORT


def regimes(*values) -> pd.Series:
    plain = [v if v is None or isinstance(v, float) else str(v) for v in values]  # keep None and NaN
    return pd.Series(plain, index=pd.RangeIndex(10, 10 + len(values)), dtype=object)


def test_future_regime_is_the_mode_of_the_next_candles():
    out = future_regime(regimes(R, UP, UP, R, DOWN, DOWN, DOWN), 3)
    assert out.name == "future_regime" and out.dtype == object
    assert out.index.tolist() == list(range(10, 17))
    assert out.tolist() == ["TRENDING_UP", "TRENDING_UP", "TRENDING_DOWN", "TRENDING_DOWN", None, None, None]
    assert all(type(v) is str for v in out.iloc[:4])


@pytest.mark.parametrize(
    ("window", "winner"),
    [
        ((R, CASCADE), CASCADE),
        ((UP, HV), HV),
        ((SS, SL), SL),
        ((R, SS), SS),
        ((DOWN, UP), UP),
        ((R, DOWN), DOWN),
        ((R, R), R),
    ],
)
def test_ties_go_to_the_rule_order(window, winner):
    assert future_regime(regimes(R, *window), 2).iloc[0] == winner


def test_missing_values_in_the_window_make_the_label_missing():
    out = future_regime(regimes(None, UP, UP, float("nan"), R, R, R), 2)
    # row 0's own value is missing but its window is not; rows 1 and 2 see the missing row 3
    assert out.tolist() == ["TRENDING_UP", None, None, "RANGING", "RANGING", None, None]


def test_future_regime_reads_only_the_future():
    base = [R, R, UP, UP, R, R]
    before = future_regime(regimes(*base), 2)
    changed = future_regime(regimes(*base[:3], CASCADE, *base[4:]), 2)
    assert changed.iloc[3] == before.iloc[3]  # label t does not read regimes[t]
    assert (before.iloc[2], changed.iloc[2]) == ("TRENDING_UP", "CASCADE_RISK")  # label t-1 does


def test_future_regime_matches_a_plain_loop():
    rng = np.random.default_rng(3)
    values = list(rng.choice([*(str(r) for r in Regime), None], 300))
    h = 5
    out = future_regime(pd.Series(values), h)
    order = [str(r) for r in labels.REGIME_PRIORITY]
    for t in range(len(values)):
        window = values[t + 1 : t + 1 + h]
        if len(window) < h or None in window:
            assert out.iloc[t] is None
        else:
            counts = [window.count(name) for name in order]
            assert out.iloc[t] == order[counts.index(max(counts))]


def test_future_regime_accepts_members_and_short_input():
    assert future_regime(pd.Series([R, UP]), 1).tolist() == ["TRENDING_UP", None]
    assert future_regime(pd.Series([R, UP]), 5).tolist() == [None, None]
    assert future_regime(pd.Series([], dtype=object), 3).empty


@pytest.mark.parametrize("horizon", [0, -2, 1.5])
def test_future_regime_rejects_a_bad_horizon(horizon):
    with pytest.raises(ValueError, match="horizon_bars"):
        future_regime(regimes(R, R, R), horizon)


def test_future_regime_rejects_values_that_are_not_regimes():
    with pytest.raises(ValueError, match="UNKNOWN"):
        future_regime(regimes(R, "UNKNOWN", R), 1)
