"""Funding settlements joined to candles point-in-time.

A settlement stamped ``T`` becomes known at ``T + publish_lag`` (Binance publishes the settled rate
shortly after the funding time). Each candle sees the newest settlement known at its *close*, through
a backward as-of merge, so no candle ever sees a rate that was not yet published.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col

_HOUR = pd.Timedelta(hours=1)


def funding_columns(
    candles: pd.DataFrame,
    funding: pd.DataFrame | None,
    timeframe: pd.Timedelta,
    publish_lag: pd.Timedelta,
) -> pd.DataFrame:
    """Return the funding columns for ``candles`` (same index), from ``date, funding_rate`` rows.

    Candles before the first known settlement, or without funding data at all, get NaN.
    """
    out = pd.DataFrame(
        {
            col.FUNDING_RATE: np.nan,
            col.FUNDING_INTERVAL_H: np.nan,
            col.FUNDING_RATE_8H: np.nan,
            col.FUNDING_AGE_H: np.nan,
        },
        index=candles.index,
    )
    if funding is None or funding.empty or candles.empty:
        return out
    settled = (
        funding.loc[:, ["date", "funding_rate"]]
        .dropna()
        .drop_duplicates("date")
        .sort_values("date")
        .reset_index(drop=True)
    )
    settled["known_at"] = settled["date"].astype(candles["date"].dtype) + publish_lag
    interval_h = settled["date"].diff() / _HOUR
    # The first row has no predecessor: assume Binance's standard 8h until a second row arrives.
    settled["interval_h"] = interval_h.fillna(8.0)
    close_time = pd.DataFrame({"close_time": candles["date"] + timeframe, "pos": np.arange(len(candles))})
    joined = pd.merge_asof(close_time, settled, left_on="close_time", right_on="known_at", direction="backward")
    out[col.FUNDING_RATE] = joined["funding_rate"].to_numpy()
    out[col.FUNDING_INTERVAL_H] = joined["interval_h"].to_numpy()
    out[col.FUNDING_RATE_8H] = (joined["funding_rate"] * 8.0 / joined["interval_h"]).to_numpy()
    out[col.FUNDING_AGE_H] = ((joined["close_time"] - joined["known_at"]) / _HOUR).to_numpy()
    return out
