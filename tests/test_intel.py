"""L1: point-in-time funding join and the data-health gate."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import IntelConfig
from hydra_plugins.intel.funding import funding_columns
from hydra_plugins.intel.health import candle_delay_reason, health_columns
from tests.conftest import load_candles, load_funding, needs_data

TF = pd.Timedelta(minutes=15)
LAG = pd.Timedelta(minutes=1)


def candles(start="2024-01-01 00:00", periods=96, volume=1.0):
    dates = pd.date_range(start, periods=periods, freq="15min", tz="UTC")
    return pd.DataFrame({"date": dates, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": volume})


def settlements(*rows):
    return pd.DataFrame({"date": pd.to_datetime([r[0] for r in rows], utc=True), "funding_rate": [r[1] for r in rows]})


def test_a_settlement_is_seen_only_by_candles_closing_after_it_is_published():
    c = candles("2024-01-01 07:30", periods=4)  # closes 07:45, 08:00, 08:15, 08:30
    f = settlements(("2024-01-01 00:00", 0.0001), ("2024-01-01 08:00", 0.0009))
    out = funding_columns(c, f, TF, LAG)
    # The 08:00 settlement is published at 08:01: the candle closing at 08:00 must not see it.
    assert out[col.FUNDING_RATE].tolist() == [0.0001, 0.0001, 0.0009, 0.0009]
    assert out[col.FUNDING_AGE_H].round(4).tolist() == [7.7333, 7.9833, 0.2333, 0.4833]


def test_funding_is_scaled_to_8h_from_the_observed_interval():
    c = candles("2024-01-01 08:00", periods=2)
    f = settlements(("2024-01-01 00:00", 0.0001), ("2024-01-01 04:00", 0.0002))
    out = funding_columns(c, f, TF, LAG)
    assert out[col.FUNDING_INTERVAL_H].tolist() == [4.0, 4.0]
    assert out[col.FUNDING_RATE_8H].tolist() == pytest.approx([0.0004, 0.0004])


def test_candles_before_any_settlement_or_without_funding_get_nan():
    c = candles("2024-01-01 00:00", periods=2)
    f = settlements(("2024-01-02 00:00", 0.0001))
    assert funding_columns(c, f, TF, LAG)[col.FUNDING_RATE].isna().all()
    assert funding_columns(c, None, TF, LAG)[col.FUNDING_RATE].isna().all()
    assert list(funding_columns(c, None, TF, LAG).index) == list(c.index)


@needs_data
def test_join_on_real_data_never_uses_a_future_settlement():
    c = load_candles("ETH", "2024-02-01", "2024-02-08")
    f = load_funding("ETH")
    out = funding_columns(c, f, TF, LAG)
    close = c["date"] + TF
    known = f.set_index("date")["funding_rate"]
    for i in range(0, len(c), 37):
        published = known[known.index + LAG <= close[i]]
        assert out[col.FUNDING_RATE][i] == published.iloc[-1]
    assert (out[col.FUNDING_AGE_H] >= 0).all() and (out[col.FUNDING_AGE_H] < 8).all()


def test_health_names_the_first_failing_check():
    c = candles(periods=8)
    intel = pd.DataFrame({col.FUNDING_RATE: 0.0001, col.FUNDING_AGE_H: 1.0}, index=c.index)
    cfg = IntelConfig(max_flat_candles=2, max_funding_age_hours=9)
    intel.loc[2, col.FUNDING_RATE] = np.nan
    intel.loc[3, col.FUNDING_AGE_H] = 12.0
    c.loc[5, "volume"] = 0.0
    c.loc[7, "close"] = np.nan
    out = health_columns(c, intel, cfg, live=False)
    assert out[col.HEALTH_OK].tolist() == [True, True, False, False, True, False, False, False]
    reasons = out[col.HEALTH_REASON].tolist()
    assert reasons[2] == "no funding rate known"
    assert reasons[3] == "funding older than 9h"
    assert reasons[5] == reasons[6] == "gap-filled candle in the last 2"
    assert reasons[7] == "candle missing"


def test_live_health_requires_fresh_intel_sources_backtests_do_not():
    c = candles(periods=4)
    intel = pd.DataFrame({col.FUNDING_RATE: 0.0001, col.FUNDING_AGE_H: 1.0, col.OI_AGE_MIN: 5.0,
                          col.RATIOS_AGE_MIN: 5.0, col.PREMIUM_AGE_MIN: 1.0, col.BOOK_AGE_MIN: np.nan},
                         index=c.index)  # fmt: skip
    intel.loc[1, col.OI_AGE_MIN] = np.nan
    intel.loc[2, col.RATIOS_AGE_MIN] = 45.0
    cfg = IntelConfig()
    assert health_columns(c, intel, cfg, live=False)[col.HEALTH_OK].all()
    live = health_columns(c, intel, cfg, live=True)
    assert live[col.HEALTH_OK].tolist() == [True, False, False, True]
    assert live[col.HEALTH_REASON].tolist()[1:3] == ["no open_interest known", "ratios older than 30 min"]
    depth_required = IntelConfig(required_live=("depth",))
    assert health_columns(c, intel, depth_required, live=True)[col.HEALTH_REASON].iloc[0] == "no depth known"


def test_live_candle_delay():
    opened = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert candle_delay_reason(opened, datetime(2024, 1, 1, 12, 16, tzinfo=UTC), 15, 2) is None
    assert candle_delay_reason(opened, datetime(2024, 1, 1, 12, 45, tzinfo=UTC), 15, 2) is None
    reason = candle_delay_reason(opened, datetime(2024, 1, 1, 13, 0, tzinfo=UTC), 15, 2)
    assert reason == "newest candle closed 45 min ago (limit 30 min)"


def test_funding_features_are_computed_on_settlements_and_trail():
    rates = [0.0001, 0.0002, 0.0003, 0.0001, 0.0005, 0.0009]
    f = settlements(*[(f"2024-01-0{1 + i // 3} {8 * (i % 3):02d}:00", r) for i, r in enumerate(rates)])
    c = candles("2024-01-02 16:00", periods=3)  # closes 16:15, 16:30, 16:45: last settlement 16:00 known
    out = funding_columns(c, f, TF, LAG, z_settlements=4)
    last4 = pd.Series(rates[-4:])
    assert out[col.FUNDING_Z].iloc[0] == pytest.approx((rates[-1] - last4.mean()) / last4.std())
    assert out[col.FUNDING_MOMENTUM_8H].iloc[0] == pytest.approx(rates[-1] - rates[-4])
    assert out[col.FUNDING_ANNUAL].iloc[0] == pytest.approx(0.0009 * 3 * 365)
    assert out[col.MINUTES_TO_FUNDING].tolist() == [465.0, 450.0, 435.0]  # next settlement 00:00
    early = funding_columns(candles("2024-01-01 08:00", periods=1), f, TF, LAG, z_settlements=4)
    assert np.isnan(early[col.FUNDING_Z].iloc[0])  # fewer than 4 settlements known: no z-score


@needs_data
def test_funding_z_is_finite_on_real_data():
    c = load_candles("BNB", "2024-02-01", "2024-02-15")
    out = funding_columns(c, load_funding("BNB"), TF, pd.Timedelta(minutes=30))
    assert out[col.FUNDING_Z].notna().all()
    assert (out[col.MINUTES_TO_FUNDING] >= 0).all() and (out[col.MINUTES_TO_FUNDING] <= 8 * 60).all()
