"""Volatility and trend measures, all trailing (each row uses only rows at or before it).

Realized volatility is the standard deviation of log returns, in percent per bar, over 1h, 4h, 24h
and 7 days. The volatility regime is the trailing percentile of the 24h figure within the last
``vol_pctile_bars`` candles (14 days by default): 0.95 means quieter than now on 95 % of that
window. It is a rank within a trailing window, never a statistic of the whole column. ATR,
Bollinger bands, ADX, RSI and the SMAs come from TA-Lib. Volume is described by its z-score over
the trailing day and by the candle flow (:func:`candle_flow`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import StatsConfig

_SHOCK_BARS = 4
_FLOW_BARS = 16  # 4h
_VOLUME_Z_BARS = 96  # 24h
_BARS_PER_HOUR = 4  # the windows below are in 15m candles; other timeframes scale through the config


def candle_flow(candles: pd.DataFrame, bars: int = _FLOW_BARS) -> pd.Series:
    """Return the volume-weighted close location over ``bars`` candles, in [-1, 1] (+1: closes at the highs).

    Where taker buy volume is not in the candles, this is HYDRA's proxy for cumulative volume delta
    momentum: candles closing near their highs on volume were mostly bought.
    """
    span = (candles["high"] - candles["low"]).replace(0.0, np.nan)
    clv = (((candles["close"] - candles["low"]) - (candles["high"] - candles["close"])) / span).fillna(0.0)
    volume = candles["volume"]
    weighted = (clv * volume).rolling(bars, min_periods=bars).sum()
    return weighted / volume.rolling(bars, min_periods=bars).sum().replace(0.0, np.nan)


def quote_volume_per_hour(candles: pd.DataFrame, timeframe: pd.Timedelta) -> pd.Series:
    """Return the traded volume in quote currency (USDT) per hour, averaged over the trailing day.

    It scales liquidation volume and book depth, so the same number means the same on BTC and DOGE.
    """
    bars_per_hour = max(1, int(pd.Timedelta(hours=1) / timeframe))
    quote = candles["volume"].astype(float) * candles["close"].astype(float)
    mean = quote.rolling(24 * bars_per_hour, min_periods=bars_per_hour).mean()
    return (mean * bars_per_hour).replace(0.0, np.nan)


def volatility_columns(candles: pd.DataFrame, cfg: StatsConfig) -> pd.DataFrame:
    """Return realized volatility, ATR %, Bollinger width, trend and shock columns for OHLC ``candles``."""
    high = candles["high"].to_numpy(dtype=float)
    low = candles["low"].to_numpy(dtype=float)
    close = candles["close"].to_numpy(dtype=float)
    close_s = pd.Series(close, index=candles.index)
    log_ret = np.log(close_s).diff()

    def realized(bars: int) -> pd.Series:
        return log_ret.rolling(bars, min_periods=bars).std() * 100.0

    rv = realized(cfg.rv_window_bars)
    rv_base = rv.rolling(cfg.rv_baseline_bars, min_periods=cfg.rv_baseline_bars // 2).median()
    pctile = rv.rolling(cfg.vol_pctile_bars, min_periods=cfg.vol_pctile_bars).rank(pct=True)
    atr = pd.Series(talib.ATR(high, low, close, timeperiod=cfg.atr_period), index=candles.index)
    upper, middle, lower = talib.BBANDS(close, timeperiod=cfg.bb_period, nbdevup=2.0, nbdevdn=2.0)
    abs_move = close_s.diff().abs()
    shock = abs_move.rolling(_SHOCK_BARS, min_periods=1).max() / atr.shift(_SHOCK_BARS)
    sma_fast = pd.Series(talib.SMA(close, timeperiod=cfg.sma_fast_bars), index=candles.index)
    sma_slow = pd.Series(talib.SMA(close, timeperiod=cfg.sma_slow_bars), index=candles.index)
    volume = candles["volume"].astype(float)
    vol_mean = volume.rolling(_VOLUME_Z_BARS, min_periods=_VOLUME_Z_BARS).mean()
    vol_std = volume.rolling(_VOLUME_Z_BARS, min_periods=_VOLUME_Z_BARS).std()
    return pd.DataFrame(
        {
            col.LOG_RETURN: log_ret,
            col.RV_PCT_1H: realized(_BARS_PER_HOUR),
            col.RV_PCT_4H: realized(4 * _BARS_PER_HOUR),
            col.RV_PCT_24H: rv,
            col.RV_PCT_7D: realized(cfg.rv_baseline_bars),
            col.RV_RATIO: rv / rv_base,
            col.VOL_PCTILE: pctile,
            col.ATR_PCT: atr / close_s * 100.0,
            col.BB_WIDTH_PCT: (upper - lower) / middle * 100.0,
            col.SMA_FAST: sma_fast,
            col.SMA_SLOW: sma_slow,
            col.SMA_FAST_SLOPE_PCT: (sma_fast / sma_fast.shift(4 * _BARS_PER_HOUR) - 1.0) * 100.0,
            col.SMA_SLOW_SLOPE_PCT: (sma_slow / sma_slow.shift(24 * _BARS_PER_HOUR) - 1.0) * 100.0,
            col.CLOSE_VS_SMA_FAST_PCT: (close_s / sma_fast - 1.0) * 100.0,
            col.CLOSE_VS_SMA_SLOW_PCT: (close_s / sma_slow - 1.0) * 100.0,
            col.ADX: talib.ADX(high, low, close, timeperiod=cfg.atr_period),
            col.SHOCK_ATR: shock,
            col.RSI: talib.RSI(close, timeperiod=cfg.atr_period),
            col.VOLUME_Z: (volume - vol_mean) / vol_std.replace(0.0, np.nan),
            col.CANDLE_FLOW: candle_flow(candles),
        },
        index=candles.index,
    )
