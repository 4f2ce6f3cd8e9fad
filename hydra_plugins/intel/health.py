"""The data-health gate: a pair's entries are blocked while its inputs are missing or stale.

Per candle it checks what the dataframe itself can show: funding known and fresh, no gap-filled
candles recently, and live, every required intel source known and younger than its limit.
Wall-clock staleness of the newest candle is a live-only check, :func:`candle_delay_reason`,
applied when an entry is confirmed.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import IntelConfig

AGE_COLUMNS = {
    "open_interest": col.OI_AGE_MIN,
    "ratios": col.RATIOS_AGE_MIN,
    "premium_index": col.PREMIUM_AGE_MIN,
    "depth": col.BOOK_AGE_MIN,
}


def health_columns(candles: pd.DataFrame, intel: pd.DataFrame, cfg: IntelConfig, *, live: bool) -> pd.DataFrame:
    """Return HEALTH_OK and HEALTH_REASON for each candle; the first failing check names the reason.

    Candles and funding are required everywhere. The sources in ``cfg.required_live`` are required
    live only: their history mostly does not exist, so backtests report their coverage instead.
    """
    funding_missing = intel[col.FUNDING_RATE].isna()
    funding_stale = intel[col.FUNDING_AGE_H] > cfg.max_funding_age_hours
    # Freqtrade fills exchange gaps with flat, zero-volume candles; trust none of the last few.
    filled = (candles["volume"].fillna(0.0) <= 0.0).astype(float)
    recent_filled = filled.rolling(cfg.max_flat_candles, min_periods=1).max() > 0
    conditions = [candles["close"].isna(), recent_filled, funding_missing, funding_stale]
    reasons = [
        "candle missing",
        f"gap-filled candle in the last {cfg.max_flat_candles}",
        "no funding rate known",
        f"funding older than {cfg.max_funding_age_hours:g}h",
    ]
    if live:
        for source in cfg.required_live:
            age = intel[AGE_COLUMNS[source]]
            limit = getattr(cfg.max_age_minutes, source)
            conditions += [age.isna(), age > limit]
            reasons += [f"no {source} known", f"{source} older than {limit:g} min"]
    reason = np.select([c.to_numpy(dtype=bool) for c in conditions], reasons, default="")
    return pd.DataFrame({col.HEALTH_OK: reason == "", col.HEALTH_REASON: reason}, index=candles.index)


def candle_delay_reason(
    last_candle_open: datetime, now: datetime, timeframe_minutes: int, max_delay_candles: int
) -> str | None:
    """Return why the newest candle is too old to trade on at ``now``, or None when it is fresh."""
    age_min = (now - last_candle_open).total_seconds() / 60.0 - timeframe_minutes
    if age_min > max_delay_candles * timeframe_minutes:
        return f"newest candle closed {age_min:.0f} min ago (limit {max_delay_candles * timeframe_minutes} min)"
    return None


def coverage_summary(frame: pd.DataFrame) -> dict[str, float]:
    """Share of candles (0..1) on which each source was known and fresh: what a backtest really used."""
    if frame.empty:
        return {}
    shares = {"funding": float(frame[col.FUNDING_RATE].notna().mean())}
    value_columns = {
        "open_interest": col.OI_VALUE_USD,
        "ratios": col.LONG_SHORT_RATIO,
        "premium_index": col.PREDICTED_FUNDING,
        "depth": col.BOOK_IMBALANCE,
    }
    for source, name in value_columns.items():
        shares[source] = float(frame[name].notna().mean())
    shares["liquidations recorded"] = float((~frame[col.LIQ_IS_PROXY].astype(bool)).mean())
    return shares
