"""The data-health gate: a pair's entries are blocked while its inputs are missing or stale.

Per candle it checks what the dataframe itself can show (funding known and fresh, no gap-filled
candles recently). Wall-clock staleness of the newest candle is a live-only check,
:func:`candle_delay_reason`, applied when an entry is confirmed.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import IntelConfig


def health_columns(candles: pd.DataFrame, intel: pd.DataFrame, cfg: IntelConfig) -> pd.DataFrame:
    """Return HEALTH_OK and HEALTH_REASON for each candle; the first failing check names the reason."""
    funding_missing = intel[col.FUNDING_RATE].isna().to_numpy()
    funding_stale = (intel[col.FUNDING_AGE_H] > cfg.max_funding_age_hours).to_numpy()
    # Freqtrade fills exchange gaps with flat, zero-volume candles; trust none of the last few.
    filled = (candles["volume"].fillna(0.0) <= 0.0).astype(float)
    recent_filled = (filled.rolling(cfg.max_flat_candles, min_periods=1).max() > 0).to_numpy()
    price_missing = candles["close"].isna().to_numpy()
    reason = np.select(
        [price_missing, recent_filled, funding_missing, funding_stale],
        [
            "candle missing",
            f"gap-filled candle in the last {cfg.max_flat_candles}",
            "no funding rate known",
            f"funding older than {cfg.max_funding_age_hours:g}h",
        ],
        default="",
    )
    return pd.DataFrame({col.HEALTH_OK: reason == "", col.HEALTH_REASON: reason}, index=candles.index)


def candle_delay_reason(
    last_candle_open: datetime, now: datetime, timeframe_minutes: int, max_delay_candles: int
) -> str | None:
    """Return why the newest candle is too old to trade on at ``now``, or None when it is fresh."""
    age_min = (now - last_candle_open).total_seconds() / 60.0 - timeframe_minutes
    if age_min > max_delay_candles * timeframe_minutes:
        return f"newest candle closed {age_min:.0f} min ago (limit {max_delay_candles * timeframe_minutes} min)"
    return None
