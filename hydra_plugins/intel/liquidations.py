"""Liquidations per candle: recorded from Binance's forceOrder stream where HYDRA was listening,
estimated by a documented proxy everywhere else, and always labelled (``hydra_liq_is_proxy``).

Recorded: a liquidation counts in the candle during which it became known (``available_at`` in
(open, close]). A candle counts as recorded only if the stream's heartbeat was seen at least once
a minute through it (all but one minute), so a quiet, connected stream reads 0 while a dead one
falls back to the proxy. Binance sends at most one liquidation per symbol per second, so
recorded sums are lower bounds.

Proxy (no recording, e.g. every backtest before you ran the collector), per candle:

* excess volume, in USDT: ``max(0, volume - median volume of the trailing day) x close``;
* longs are forced sellers, so their share is the lower wick's share of the range,
  ``(min(open, close) - low) / (high - low)``; shorts take the upper wick's share;
* liquidations close positions: when open interest is known and did not fall over the last hour,
  the proxy is 0.

The proxy ranks candles by how liquidation-like they look; its dollar level is not calibrated and
must never be read as a recorded amount.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col

_MINUTE = pd.Timedelta(minutes=1)


def recorded_per_candle(
    candles: pd.DataFrame,
    events: pd.DataFrame | None,
    heartbeats: pd.DataFrame | None,
    timeframe: pd.Timedelta,
) -> pd.DataFrame:
    """Long and short liquidated USDT known during each candle, and whether the stream covered it."""
    opens = candles["date"].astype("datetime64[ns, UTC]")
    edges = pd.DatetimeIndex(opens).append(pd.DatetimeIndex([opens.iloc[-1] + timeframe])) if len(opens) else None
    out = pd.DataFrame({"long": 0.0, "short": 0.0, "covered": False}, index=candles.index)
    if edges is None:
        return out

    def bucket(times: pd.Series) -> np.ndarray:
        # (open, close]: a row known exactly at the close belongs to the candle that just closed.
        t = pd.DatetimeIndex(pd.to_datetime(times, utc=True).astype("datetime64[ns, UTC]"))
        return np.searchsorted(edges.asi8, t.asi8, side="left") - 1

    if heartbeats is not None and not heartbeats.empty:
        idx = bucket(heartbeats["available_at"])
        counts = np.bincount(idx[(idx >= 0) & (idx < len(candles))], minlength=len(candles))
        out["covered"] = counts >= max(1, int(timeframe / _MINUTE) - 1)
    if events is not None and not events.empty:
        idx = bucket(events["available_at"])
        keep = (idx >= 0) & (idx < len(candles))
        for side, name in ((1.0, "long"), (-1.0, "short")):
            mask = keep & (events["side_sign"].to_numpy() == side)
            sums = np.bincount(idx[mask], weights=events["notional_usd"].to_numpy()[mask], minlength=len(candles))
            out[name] = sums
    return out


def proxy_per_candle(candles: pd.DataFrame, oi_delta_pct_1h: pd.Series, median_bars: int = 96) -> pd.DataFrame:
    """The documented liquidation proxy (see the module docstring), long and short USDT per candle."""
    high, low, open_, close = candles["high"], candles["low"], candles["open"], candles["close"]
    span = (high - low).replace(0.0, np.nan)
    lower_share = ((np.minimum(open_, close) - low) / span).fillna(0.0)
    upper_share = ((high - np.maximum(open_, close)) / span).fillna(0.0)
    baseline = candles["volume"].rolling(median_bars, min_periods=median_bars).median()
    excess_usd = (candles["volume"] - baseline).clip(lower=0.0) * close
    # Open interest known and not falling: positions were opened, not force-closed.
    oi_allows = ~(oi_delta_pct_1h >= 0)
    long_ = (excess_usd * lower_share).where(oi_allows, 0.0)
    short = (excess_usd * upper_share).where(oi_allows, 0.0)
    return pd.DataFrame({"long": long_, "short": short}, index=candles.index)


def liquidation_columns(
    candles: pd.DataFrame,
    events: pd.DataFrame | None,
    heartbeats: pd.DataFrame | None,
    oi_delta_pct_1h: pd.Series,
    timeframe: pd.Timedelta,
) -> pd.DataFrame:
    """Per-candle liquidation features, recorded where covered and proxied elsewhere, with the label."""
    recorded = recorded_per_candle(candles, events, heartbeats, timeframe)
    proxy = proxy_per_candle(candles, oi_delta_pct_1h)
    is_proxy = ~recorded["covered"]
    long_ = recorded["long"].where(~is_proxy, proxy["long"])
    short = recorded["short"].where(~is_proxy, proxy["short"])
    total = long_ + short
    bars_hour = max(1, int(pd.Timedelta(hours=1) / timeframe))
    bars_day = max(2, int(pd.Timedelta(days=1) / timeframe))
    window = total.rolling(bars_day, min_periods=bars_day)
    z = (total - window.mean()) / window.std().replace(0.0, np.nan)
    # A z-score across recorded and proxied candles would compare two different scales: leave it out.
    mixed = is_proxy.astype(float).rolling(bars_day, min_periods=1).mean().between(0.0, 1.0, inclusive="neither")
    velocity = total.rolling(bars_hour, min_periods=bars_hour).sum()
    velocity_mixed = is_proxy.astype(float).rolling(bars_hour, min_periods=1).mean().between(0, 1, inclusive="neither")
    return pd.DataFrame(
        {
            col.LIQ_LONG_USD: long_,
            col.LIQ_SHORT_USD: short,
            col.LIQ_IMBALANCE: ((long_ - short) / total.replace(0.0, np.nan)).fillna(0.0),
            col.LIQ_VELOCITY_USD_1H: velocity.mask(velocity_mixed),
            col.LIQ_Z: z.mask(mixed),
            col.LIQ_IS_PROXY: is_proxy,
        },
        index=candles.index,
    )
