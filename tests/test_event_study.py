"""Signal event study: entry and exit prices, fees and funding by hand, overlap, summary and outputs."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.core import columns as col
from hydra_plugins.reports import event_study
from hydra_plugins.reports.event_study import (
    EVENT_COLUMNS,
    SUMMARY_COLUMNS,
    plot_summary,
    render_table,
    signal_events,
    summarize,
)

TF = pd.Timedelta(hours=1)
START = pd.Timestamp("2026-01-01", tz="UTC")
SIG = "squeeze"
DIR, CONF = col.signal_column(SIG, "dir"), col.signal_column(SIG, "conf")
PROXY = col.signal_column(SIG, "proxy")
OPENS = [100.0, 101.0, 102.0, 104.0, 103.0, 105.0, 106.0, 108.0, 107.0, 110.0]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def candles(dirs: list[int], confs: list[float] | None = None, regimes: list[str] | None = None) -> pd.DataFrame:
    n = len(dirs)
    opens = (OPENS * (n // len(OPENS) + 1))[:n]
    return pd.DataFrame(
        {
            "date": pd.date_range(START, periods=n, freq=TF),
            "open": opens,
            "close": opens,
            col.REGIME: regimes or ["TREND_UP"] * n,
            DIR: dirs,
            CONF: confs if confs is not None else [0.8 if d else 0.0 for d in dirs],
        }
    )


def at(bar: int) -> pd.Timestamp:
    return START + bar * TF


def events_of(frame, horizons=(2,), funding=None, fee_rate=0.0005, min_confidence=0.5) -> pd.DataFrame:
    return signal_events(frame, funding, SIG, horizons, TF, fee_rate, min_confidence)


FUNDING = pd.DataFrame(
    {
        # at entry (not paid), inside, at exit (paid), after exit (not paid)
        "date": [at(2), at(3), at(4), at(5)],
        "funding_rate": [0.001, -0.0002, 0.0005, 0.01],
    }
)


@pytest.mark.parametrize("side", [1, -1])
def test_one_event_by_hand(side):
    dirs = [0] * 10
    dirs[1] = side
    ev = events_of(candles(dirs), funding=FUNDING)
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert len(ev) == 1
    row = ev.iloc[0]
    # Signal on candle 1 -> entry at open[2] = 102 at 02:00, exit two bars later at open[4] = 103 at 04:00.
    assert row["date"] == at(1)
    assert row["entry_date"] == at(2) and row["exit_date"] == at(4)
    assert (row["entry_price"], row["exit_price"]) == (102.0, 103.0)
    assert row["direction"] == side and row["horizon_bars"] == 2 and row["horizon_h"] == 2.0
    assert row["regime"] == "TREND_UP" and not row["proxy"] and row["signal"] == SIG
    gross = side * (103.0 / 102.0 - 1.0) * 100.0
    fees = 2 * 0.0005 * 100  # 0.1 %
    funding = side * (-0.0002 + 0.0005) * 100  # settlements at 03:00 and at exit, not at entry or after
    assert row["gross_pct"] == pytest.approx(gross)
    assert row["fee_pct"] == pytest.approx(0.1)
    assert row["funding_pct"] == pytest.approx(funding)
    assert row["net_pct"] == pytest.approx(gross - fees - funding)


def test_no_funding_frame_costs_nothing_and_nan_rates_count_as_zero():
    dirs = [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert events_of(candles(dirs))["funding_pct"].iloc[0] == 0.0
    gappy = FUNDING.assign(funding_rate=[0.001, np.nan, 0.0005, 0.01])
    assert events_of(candles(dirs), funding=gappy)["funding_pct"].iloc[0] == pytest.approx(0.05)


def test_events_do_not_overlap_per_horizon():
    ev = events_of(candles([1] * 10), horizons=(1, 2, 3))
    by_h = {h: [int((d - START) / TF) for d in g["date"]] for h, g in ev.groupby("horizon_bars")}
    # Every candle fires; exit open[t+1+h] must exist (t + 1 + h <= 9), next event at t' >= t + h.
    assert by_h == {1: [0, 1, 2, 3, 4, 5, 6, 7], 2: [0, 2, 4, 6], 3: [0, 3]}
    h3 = ev[ev["horizon_bars"] == 3]
    assert h3["entry_date"].iloc[1] == h3["exit_date"].iloc[0]  # back to back, never overlapping
    assert (ev["fired_candles"] == 10).all()


def test_skips_firing_candles_inside_an_open_event():
    dirs = [1, 0, -1, 1, 0, 0, 1, 0, 0, 0]
    ev = events_of(candles(dirs), horizons=(3,))
    # 0 -> next allowed from 3: candle 2 is skipped, candle 3 counts; then from 6: candle 6 (exit at 10) is dropped.
    assert [int((d - START) / TF) for d in ev["date"]] == [0, 3]
    assert ev["fired_candles"].tolist() == [4, 4]


def test_events_whose_exit_lies_beyond_the_data_are_dropped():
    dirs = [0] * 10
    dirs[6] = dirs[7] = dirs[8] = dirs[9] = 1
    ev = events_of(candles(dirs), horizons=(1, 2, 3))
    # The last candle is 9: an exit at open[t + 1 + h] needs t + 1 + h <= 9.
    assert sorted(zip(ev["horizon_bars"], ev["date"], strict=True)) == [(1, at(6)), (1, at(7)), (2, at(6))]
    assert ev["exit_date"].max() == at(9)


def test_events_across_a_gap_in_the_data_are_dropped():
    frame = candles([1, 0, 0, 0, 1, 0, 0, 0, 0, 0]).drop(index=2).reset_index(drop=True)
    ev = events_of(frame, horizons=(2,))
    assert ev["date"].tolist() == [at(4)]


def test_min_confidence_is_inclusive_and_zero_direction_never_fires():
    dirs = [1, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    confs = [0.5, 0.49, 0.9, 0.7, 0, 0, 0, 0, 0, 0]
    ev = events_of(candles(dirs, confs), horizons=(1,), min_confidence=0.5)
    assert ev["date"].tolist() == [at(0), at(3)]
    assert (ev["fired_candles"] == 2).all()


def test_regime_proxy_and_fired_candles_per_regime():
    dirs = [1, 0, 1, 0, -1, 0, 0, 0, 0, 0]
    regimes = ["CHOP", "CHOP", "TREND_UP", "TREND_UP", "CHOP", *["CHOP"] * 5]
    frame = candles(dirs, regimes=regimes).assign(**{PROXY: [True, None, False, None, True, *[False] * 5]})
    ev = events_of(frame, horizons=(1,))
    assert ev["regime"].tolist() == ["CHOP", "TREND_UP", "CHOP"]
    assert ev["proxy"].tolist() == [True, False, True]
    assert ev["direction"].tolist() == [1, 1, -1]
    assert ev["fired_candles"].tolist() == [2, 1, 2]


def test_missing_columns_are_named():
    frame = candles([1] * 10).drop(columns=[CONF, col.REGIME])
    with pytest.raises(KeyError, match=CONF) as info:
        events_of(frame)
    assert col.REGIME in str(info.value)
    with pytest.raises(KeyError, match="hydra_sig_other_dir"):
        signal_events(candles([1] * 10), None, "other", (1,), TF, 0.0, 0.5)


def test_no_events_gives_an_empty_frame_with_the_columns():
    ev = events_of(candles([0] * 10))
    assert ev.empty and list(ev.columns) == list(EVENT_COLUMNS)
    summary = summarize(ev)
    assert summary.empty and list(summary.columns) == list(SUMMARY_COLUMNS)
    assert "no signal events" in render_table(summary)


def hand_events(net: list[float], signal: str = SIG, regime: str = "CHOP", horizon: int = 4, **extra) -> pd.DataFrame:
    n = len(net)
    return pd.DataFrame(
        {
            "signal": signal,
            "date": pd.date_range(START, periods=n, freq=TF),
            "direction": 1,
            "regime": regime,
            "horizon_bars": horizon,
            "horizon_h": horizon * 0.25,
            "entry_date": pd.date_range(START + TF, periods=n, freq=TF),
            "exit_date": pd.date_range(START + 2 * TF, periods=n, freq=TF),
            "entry_price": 100.0,
            "exit_price": 101.0,
            "gross_pct": [v + 0.1 for v in net],
            "fee_pct": 0.1,
            "funding_pct": 0.0,
            "net_pct": net,
            "proxy": [i % 2 == 0 for i in range(n)],
            "fired_candles": 7,
            **extra,
        }
    )


def test_summary_ci_matches_a_hand_computation():
    summary = summarize(hand_events([1.0, 2.0, 3.0, 4.0]))
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    row = summary[(summary["pair"] == "ALL") & (summary["regime"] == "ALL")].iloc[0]
    # mean 2.5, sample std sqrt(5/3), t(0.975, 3 df) = 3.182446305284263
    half = 3.182446305284263 * math.sqrt(5.0 / 3.0) / 2.0
    assert row["n_events"] == 4 and row["mean_net_pct"] == pytest.approx(2.5)
    assert row["ci_low"] == pytest.approx(2.5 - half) and row["ci_high"] == pytest.approx(2.5 + half)
    assert row["ci_low"] < row["mean_net_pct"] < row["ci_high"]
    assert row["mean_gross_pct"] == pytest.approx(2.6) and row["mean_fee_pct"] == pytest.approx(0.1)
    assert row["proxy_share"] == 0.5 and row["fired_candles"] == 7 and row["horizon_h"] == 1.0


def test_hit_rate_counts_only_positive_net_and_ci_needs_two_events():
    summary = summarize(hand_events([1.0, -1.0, 2.0, 0.0]))
    assert summary["hit_rate"].iloc[0] == 0.5
    single = summarize(hand_events([0.3]))
    assert single["n_events"].iloc[0] == 1
    assert single["ci_low"].isna().all() and single["ci_high"].isna().all()


def test_summary_groups_by_pair_and_regime_with_aggregates():
    events = pd.concat(
        [
            hand_events([1.0, 2.0], regime="CHOP", pair="BTC/USDT:USDT", fired_candles=5),
            hand_events([3.0], regime="TREND_UP", pair="BTC/USDT:USDT", fired_candles=2),
            hand_events([-1.0, -2.0, 0.5], regime="CHOP", pair="ETH/USDT:USDT", fired_candles=9),
            hand_events([4.0], regime="CHOP", pair="ETH/USDT:USDT", horizon=8, fired_candles=9),
            hand_events([1.0], signal="other", pair="ETH/USDT:USDT", fired_candles=1),
        ],
        ignore_index=True,
    )
    summary = summarize(events).set_index(["signal", "pair", "regime", "horizon_bars"])
    assert summary.loc[(SIG, "ALL", "ALL", 4), "n_events"] == 6
    assert summary.loc[(SIG, "ALL", "ALL", 4), "mean_net_pct"] == pytest.approx((1 + 2 + 3 - 1 - 2 + 0.5) / 6)
    assert summary.loc[(SIG, "ALL", "CHOP", 4), "n_events"] == 5
    assert summary.loc[(SIG, "BTC/USDT:USDT", "ALL", 4), "n_events"] == 3
    assert summary.loc[(SIG, "ETH/USDT:USDT", "CHOP", 8), "n_events"] == 1
    # fired candles: once per pair x regime, whatever the horizon
    assert summary.loc[(SIG, "ALL", "ALL", 4), "fired_candles"] == 5 + 2 + 9
    assert summary.loc[(SIG, "ALL", "ALL", 8), "fired_candles"] == 5 + 2 + 9
    assert summary.loc[(SIG, "ALL", "CHOP", 4), "fired_candles"] == 5 + 9
    assert summary.loc[("other", "ALL", "ALL", 4), "fired_candles"] == 1
    first = summarize(events).iloc[0]
    assert (first["signal"], first["pair"], first["regime"]) == ("other", "ALL", "ALL")


def test_signal_events_feed_summarize_end_to_end():
    ev = events_of(candles([1, -1] * 10), horizons=(1, 3), funding=FUNDING)
    summary = summarize(ev)
    overall = summary[(summary["pair"] == "ALL") & (summary["regime"] == "ALL")]
    assert overall["horizon_bars"].tolist() == [1, 3]
    assert overall["n_events"].tolist() == [len(ev[ev["horizon_bars"] == 1]), len(ev[ev["horizon_bars"] == 3])]
    assert (overall["fired_candles"] == 20).all()


def test_render_table_lists_signals_and_optionally_pairs():
    events = pd.concat(
        [
            hand_events([1.0, 2.0, 3.0, 4.0], pair="BTC/USDT:USDT"),
            hand_events([0.25], signal="other", pair="ETH/USDT:USDT"),
        ],
        ignore_index=True,
    )
    summary = summarize(events)
    table = render_table(summary)
    assert SIG in table and "other" in table and "BTC/USDT:USDT" not in table
    assert "2.500" in table and "n/a" in table and "[0.446, 4.554]" in table
    lines = table.splitlines()
    assert len({len(line) for line in lines}) == 1  # aligned
    assert len(lines) == 2 + 4  # header, rule, per signal: ALL and CHOP
    assert "BTC/USDT:USDT" in render_table(summary, per_pair=True)


@pytest.mark.parametrize("signals", [[SIG], [SIG, "other", "third", "fourth"]])
def test_plot_summary_writes_a_png(tmp_path, signals):
    events = pd.concat(
        [hand_events([1.0, -0.5, 2.0], signal=s) for s in signals] + [hand_events([0.7], horizon=16)],
        ignore_index=True,
    )
    path = tmp_path / "plots" / "signals.png"
    plot_summary(summarize(events), path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_plot_summary_with_only_nan_intervals_and_with_nothing(tmp_path):
    plot_summary(summarize(hand_events([0.2])), tmp_path / "one.png")
    plot_summary(summarize(events_of(candles([0] * 10))), tmp_path / "none.png")
    assert (tmp_path / "one.png").read_bytes().startswith(PNG_SIGNATURE)
    assert (tmp_path / "none.png").read_bytes().startswith(PNG_SIGNATURE)


def test_without_scipy_the_interval_uses_the_normal_quantile(monkeypatch):
    monkeypatch.setattr(event_study, "_scipy_stats", None)
    row = summarize(hand_events([1.0, 2.0, 3.0, 4.0])).iloc[0]
    assert row["ci_high"] - 2.5 == pytest.approx(1.959963984540054 * math.sqrt(5.0 / 3.0) / 2.0)


def test_the_module_does_not_load_freqtrade():
    code = "import sys, hydra_plugins.reports.event_study; print(any(m.startswith('freqtrade') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
