"""Volatility and trend measures, all trailing (each row uses only rows at or before it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import StatsConfig

_SHOCK_BARS = 4


def volatility_columns(candles: pd.DataFrame, cfg: StatsConfig) -> pd.DataFrame:
    """Return realized volatility, ATR %, trend and shock columns for OHLC ``candles``."""
    high = candles["high"].to_numpy(dtype=float)
    low = candles["low"].to_numpy(dtype=float)
    close = candles["close"].to_numpy(dtype=float)
    close_s = pd.Series(close, index=candles.index)
    log_ret = np.log(close_s).diff()
    rv = log_ret.rolling(cfg.rv_window_bars, min_periods=cfg.rv_window_bars).std() * 100.0
    rv_base = rv.rolling(cfg.rv_baseline_bars, min_periods=cfg.rv_baseline_bars // 2).median()
    atr = pd.Series(talib.ATR(high, low, close, timeperiod=cfg.atr_period), index=candles.index)
    abs_move = close_s.diff().abs()
    shock = abs_move.rolling(_SHOCK_BARS, min_periods=1).max() / atr.shift(_SHOCK_BARS)
    return pd.DataFrame(
        {
            col.LOG_RETURN: log_ret,
            col.RV_PCT_24H: rv,
            col.RV_RATIO: rv / rv_base,
            col.ATR_PCT: atr / close_s * 100.0,
            col.SMA_FAST: talib.SMA(close, timeperiod=cfg.sma_fast_bars),
            col.SMA_SLOW: talib.SMA(close, timeperiod=cfg.sma_slow_bars),
            col.ADX: talib.ADX(high, low, close, timeperiod=cfg.atr_period),
            col.SHOCK_ATR: shock,
        },
        index=candles.index,
    )
