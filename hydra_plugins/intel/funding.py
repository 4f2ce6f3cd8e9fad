"""Funding settlements joined to candles point-in-time, with the features HYDRA derives from them.

A settlement stamped ``T`` becomes known at ``T + publish_lag`` (Binance publishes the settled rate
shortly after the funding time). Each candle sees the newest settlement known at its *close*, through
a backward as-of merge, so no candle ever sees a rate that was not yet published. Statistics over
settlements (z-score, momentum) are computed on the settlement series itself, trailing, before the
join: each settlement's value uses only settlements at or before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col
from hydra_plugins.intel.features import join_known

_HOUR = pd.Timedelta(hours=1)


def funding_columns(
    candles: pd.DataFrame,
    funding: pd.DataFrame | None,
    timeframe: pd.Timedelta,
    publish_lag: pd.Timedelta,
    z_settlements: int = 21,
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
            col.FUNDING_Z: np.nan,
            col.FUNDING_ANNUAL: np.nan,
            col.FUNDING_MOMENTUM_8H: np.nan,
            col.MINUTES_TO_FUNDING: np.nan,
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
    settled["known_at"] = settled["date"] + publish_lag
    interval_h = settled["date"].diff() / _HOUR
    # The first row has no predecessor: assume Binance's standard 8h until a second row arrives.
    settled["interval_h"] = interval_h.fillna(8.0)
    rate_8h = settled["funding_rate"] * 8.0 / settled["interval_h"]
    window = rate_8h.rolling(z_settlements, min_periods=z_settlements)
    settled["z"] = (rate_8h - window.mean()) / window.std().replace(0.0, np.nan)
    settled["momentum"] = rate_8h.diff(3)
    joined = join_known(
        candles, settled, timeframe, "known_at", ["date", "funding_rate", "interval_h", "z", "momentum"]
    )
    out[col.FUNDING_RATE] = joined["funding_rate"]
    out[col.FUNDING_INTERVAL_H] = joined["interval_h"]
    out[col.FUNDING_RATE_8H] = joined["funding_rate"] * 8.0 / joined["interval_h"]
    out[col.FUNDING_AGE_H] = joined["age_min"] / 60.0
    out[col.FUNDING_Z] = joined["z"]
    out[col.FUNDING_MOMENTUM_8H] = joined["momentum"]
    out[col.FUNDING_ANNUAL] = out[col.FUNDING_RATE_8H] * 3 * 365
    out[col.FUNDING_MOMENTUM_8H] = joined["momentum"].to_numpy()
    # Settlements follow a fixed schedule from the last one: the next is the first slot after the close.
    period = joined["interval_h"] * _HOUR
    close = (candles["date"] + timeframe).astype("datetime64[ns, UTC]")
    since = close - pd.to_datetime(joined["date"], utc=True).astype("datetime64[ns, UTC]")
    slots = np.ceil(since / period).clip(lower=1)
    out[col.MINUTES_TO_FUNDING] = (slots * period - since) / pd.Timedelta(minutes=1)
    return out


def funding_paid(funding: pd.DataFrame | None, entry_ns: np.ndarray, exit_ns: np.ndarray) -> np.ndarray:
    """Return the sum of the funding rates settled while each position was open (fraction of notional).

    ``entry_ns`` / ``exit_ns`` are UTC nanoseconds. A settlement exactly at entry counts as before the
    position, one exactly at exit as inside it. A long pays this sum (a short receives it); a missing
    rate counts as 0, and no funding frame as no funding. Raise KeyError when ``funding`` lacks
    ``date`` or ``funding_rate``.
    """
    if funding is None or funding.empty:
        return np.zeros(len(entry_ns))
    missing = [c for c in ("date", "funding_rate") if c not in funding.columns]
    if missing:
        raise KeyError(f"funding frame is missing columns {missing}")
    times = pd.DatetimeIndex(pd.to_datetime(funding["date"], utc=True)).astype("datetime64[ns, UTC]").asi8
    rates = pd.to_numeric(funding["funding_rate"]).to_numpy(dtype=float, na_value=np.nan)
    order = np.argsort(times, kind="stable")
    times = times[order]
    cumulative = np.concatenate([[0.0], np.cumsum(np.nan_to_num(rates[order], nan=0.0))])
    return (
        cumulative[np.searchsorted(times, exit_ns, side="right")]
        - cumulative[np.searchsorted(times, entry_ns, side="right")]
    )
