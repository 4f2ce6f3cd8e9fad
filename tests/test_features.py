"""L1 features from open interest and the intel store: as-of joins, trailing statistics, no lookahead."""

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.commands.intel import import_metrics
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import HydraConfig, SourceAges
from hydra_plugins.intel.features import IntelInputs, join_known, open_interest_columns, store_columns
from hydra_plugins.intel.store import SERIES, IntelStore
from hydra_plugins.pipeline import Pipeline
from tests.conftest import FUTURES, data_root, load_candles, load_funding, needs_data

TF = pd.Timedelta(minutes=15)
AGES = SourceAges()


def candles(start, periods, closes=None):
    dates = pd.date_range(start, periods=periods, freq="15min", tz="UTC")
    close = closes if closes is not None else [100.0] * periods
    return pd.DataFrame({"date": dates, "open": close, "high": close, "low": close, "close": close, "volume": 1.0})


def test_join_known_uses_availability_at_the_close():
    c = candles("2024-01-01 00:00", 3)  # closes 00:15, 00:30, 00:45
    rows = pd.DataFrame(
        {"available_at": pd.to_datetime(["2024-01-01 00:15", "2024-01-01 00:31"], utc=True), "v": [1.0, 2.0]}
    )
    out = join_known(c, rows, TF, "available_at", ["v"])
    assert out["v"].tolist() == [1.0, 1.0, 2.0]
    assert out["age_min"].tolist() == [0.0, 15.0, 14.0]
    assert join_known(c, None, TF, "available_at", ["v"])["v"].isna().all()
    stale = join_known(c, rows, TF, "available_at", ["v"], max_age=pd.Timedelta(minutes=10))
    assert stale["v"].iloc[0] == 1.0 and stale["v"].iloc[1:].isna().all()  # older than 10 min: missing
    assert stale["age_min"].tolist() == [0.0, 15.0, 14.0]  # the age still tells how old it was


def test_an_answer_received_now_about_long_ago_is_as_old_as_its_own_timestamp():
    c = candles("2024-01-01 00:00", 2)  # closes 00:15, 00:30
    # Received at 00:29, but the exchange's answer describes 22:29 the day before (a lagging server).
    rows = pd.DataFrame(
        {"available_at": pd.to_datetime(["2024-01-01 00:14", "2024-01-01 00:29"], utc=True),
         "event_time": pd.to_datetime(["2024-01-01 00:14", "2023-12-31 22:29"], utc=True), "v": [1.0, 2.0]}
    )  # fmt: skip
    out = join_known(c, rows, TF, "available_at", ["v"], pd.Timedelta(minutes=10), "event_time")
    assert out["age_min"].tolist() == [1.0, 121.0]
    assert out["v"].iloc[0] == 1.0 and np.isnan(out["v"].iloc[1])  # too old to count: missing, so health blocks


def oi_rows(start, values):
    dates = pd.date_range(start, periods=len(values), freq="5min", tz="UTC")
    return pd.DataFrame({"date": dates, "open_interest_amount": values, "open_interest_value": values})


def test_open_interest_delta_divergence_and_gaps():
    values = [100.0] * 12 + [90.0] * 12  # OI falls 10 % at 01:00
    c = candles("2024-01-01 01:00", 5, closes=[100, 101, 102, 103, 104])  # price rising
    out = open_interest_columns(c, IntelInputs(open_interest=oi_rows("2024-01-01 00:00", values)), TF, AGES, z_rows=6)
    # Candle 01:00 closes 01:15: newest OI row known is 01:05 (stamped 01:05, known 01:10).
    assert out[col.OI_VALUE_USD].iloc[0] == 90.0
    assert out[col.OI_DELTA_PCT_1H].iloc[0] == pytest.approx(-10.0)
    # A weak up-move: price above its level an hour ago while OI fell. The first candles lack
    # an hour of price history, so they read 0.
    assert out[col.OI_DIVERGENCE].tolist() == [0, 0, 0, 0, 1]
    gappy = oi_rows("2024-01-01 00:00", values).drop(index=[3])
    out = open_interest_columns(c, IntelInputs(open_interest=gappy), TF, AGES, z_rows=6)
    assert np.isnan(out[col.OI_DELTA_PCT_1H].iloc[0])  # no exact hour-ago row: no delta
    assert open_interest_columns(c, IntelInputs(), TF, AGES)[col.OI_VALUE_USD].isna().all()


def test_store_columns_basis_ratios_and_book():
    c = candles("2024-01-01 00:00", 2)
    t = pd.to_datetime(["2024-01-01 00:10"], utc=True)
    series = {
        "premium_index": pd.DataFrame({"available_at": t, "predicted_funding_rate": [0.001], "mark_price": [101.0],
                                       "index_price": [100.0]}),
        "global_long_short": pd.DataFrame({"available_at": t, "long_short_ratio": [2.5]}),
        "depth": pd.DataFrame({"available_at": t, "imbalance_top": [0.2], "spread_bps": [1.0],
                               "bid_depth_usd": [5.0], "ask_depth_usd": [7.0]}),
    }  # fmt: skip
    out = store_columns(c, IntelInputs(series=series), TF, AGES)
    assert out[col.PREDICTED_FUNDING].iloc[0] == 0.001
    assert np.isnan(out[col.PREDICTED_FUNDING].iloc[1])  # 20 min old, the premium index limit is 10
    assert out[col.BASIS_BPS].iloc[0] == pytest.approx(100.0)
    assert out[col.LONG_SHORT_RATIO].iloc[1] == 2.5
    assert out[col.BOOK_DEPTH_USD].iloc[0] == 12.0 and out[col.BOOK_AGE_MIN].tolist() == [5.0, 20.0]
    assert out[col.RATIOS_AGE_MIN].isna().all()  # taker and top ratios missing: the block is not fresh


METRICS = data_root() / "binance-metrics"


@needs_data
@pytest.mark.skipif(not METRICS.is_dir(), reason="no metrics archive")
def test_pipeline_with_imported_metrics_has_no_lookahead(tmp_path):
    store = IntelStore(tmp_path / "intel.sqlite")
    datadir = tmp_path / "binance"
    import_metrics([METRICS / "BTCUSDT"], datadir, store, pd.Timedelta(minutes=1))
    oi = pd.read_feather(datadir / "futures" / "BTC_USDT_USDT-5m-open_interest.feather")
    series = {name: store.read(name, "BTCUSDT") for name in SERIES}
    # Live-only sources have no history: give them synthetic rows at irregular times, so the
    # no-lookahead check below covers every joined feature.
    rng = np.random.default_rng(7)
    known = pd.Timestamp("2024-05-03", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 86_400, 400)), unit="s")
    series["premium_index"] = pd.DataFrame(
        {
            "available_at": known,
            "predicted_funding_rate": rng.normal(0, 1e-4, 400),
            "mark_price": 60_000.0,
            "index_price": 59_990.0,
        }
    )
    series["depth"] = pd.DataFrame(
        {
            "available_at": known,
            "imbalance_top": rng.uniform(-1, 1, 400),
            "spread_bps": 0.1,
            "bid_depth_usd": 1e6,
            "ask_depth_usd": 2e6,
        }
    )
    series["liquidation"] = pd.DataFrame(
        {"available_at": known, "side_sign": rng.choice([-1.0, 1.0], 400), "notional_usd": rng.uniform(1e3, 1e5, 400)}
    )
    series["stream_heartbeat"] = pd.DataFrame(
        {"available_at": pd.date_range("2024-05-03", "2024-05-04", freq="1min", tz="UTC")}
    )
    inputs = IntelInputs(funding=load_funding("BTC"), open_interest=oi, series=series)
    c = load_candles("BTC", "2024-04-20", "2024-05-06")
    pipe = Pipeline(HydraConfig(), 15)
    full = pipe.populate(c, inputs)
    covered = full["date"].between(
        pd.Timestamp("2024-05-02 00:15", tz="UTC"), pd.Timestamp("2024-05-04 23:00", tz="UTC")
    )
    assert full.loc[covered, col.OI_VALUE_USD].notna().all()
    assert full.loc[full["date"] < pd.Timestamp("2024-05-02", tz="UTC"), col.OI_VALUE_USD].isna().all()
    assert full.loc[covered, col.TOP_POSITION_RATIO].notna().all() and full.loc[covered, col.TAKER_RATIO].notna().all()
    recorded_day = full["date"].between(
        pd.Timestamp("2024-05-03 00:00", tz="UTC"), pd.Timestamp("2024-05-03 23:45", tz="UTC")
    )
    assert not full.loc[recorded_day, col.LIQ_IS_PROXY].any() and full.loc[~recorded_day, col.LIQ_IS_PROXY].all()
    assert full.loc[recorded_day, col.LIQ_LONG_USD].sum() > 0
    # Book rows come every ~3.6 min at random: a few gaps pass the 10-minute limit and read missing.
    assert full.loc[recorded_day, col.BOOK_IMBALANCE].notna().mean() > 0.9
    # Spot check: the candle opening 2024-05-03 12:00 closes 12:15; the newest OI row known then is the
    # one stamped 12:10 (known at 12:15), never the 12:15 row (known at 12:20).
    row = full.loc[full["date"] == pd.Timestamp("2024-05-03 12:00", tz="UTC")].iloc[0]
    expected = oi.loc[oi["date"] == pd.Timestamp("2024-05-03 12:10", tz="UTC"), "open_interest_value"].iloc[0]
    assert row[col.OI_VALUE_USD] == expected
    for n in (1000, 1300, len(c) - 5):
        # Cut the candles *and* every input at what was known by the last candle's close: a value
        # taken from later in a series would then change, and the comparison would fail.
        close = c["date"].iloc[n - 1] + pd.Timedelta(minutes=15)
        cut = IntelInputs(
            funding=inputs.funding.loc[inputs.funding["date"] + pd.Timedelta(minutes=30) <= close],
            open_interest=oi.loc[oi["date"] + pd.Timedelta(minutes=5) <= close],
            series={k: v.loc[v["available_at"] <= close] for k, v in series.items()},
        )
        head = pipe.populate(c.iloc[:n], cut)
        pd.testing.assert_frame_equal(head, full.iloc[:n], check_exact=False, rtol=1e-9)
        pd.testing.assert_frame_equal(pipe.populate(c.iloc[:n], inputs), head, check_exact=False, rtol=1e-9)
    assert (FUTURES / "BTC_USDT_USDT-5m-open_interest.feather").exists() is False  # shared data untouched
