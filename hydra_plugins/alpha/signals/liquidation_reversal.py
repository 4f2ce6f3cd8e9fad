"""LIQUIDATION_REVERSAL: after a liquidation cascade the forced sellers (buyers) are exhausted; fade it.

A cascade is a burst of one-sided liquidations: the per-candle liquidation z-score at or above
``z_min`` with one side at least 65 % of the liquidated value (``|imbalance| >= 0.3``), within the
last ``lookback_bars`` candles, while price moved at least ``move_atr`` ATRs in the cascade's
direction (from the lookback's high down to the close after long liquidations, from its low up
after short liquidations). The signal fires on each candle of the lookback that shows exhaustion:
no burst on this candle and it closed against the cascade (up after long liquidations).

* direction: +1 after long liquidations (buy the forced selling), -1 after short liquidations
* confidence: 0.5, +0.1 per unit of peak z-score above ``z_min``, +0.2 x the share of the
  opponent model's positions on the cascade's side that are no longer within reach of price (the
  fuel is spent); proxied liquidations keep ``PROXY_CONFIDENCE`` of it
* expected risk / return: ``stop_atr`` ATRs, ``reward_risk`` times that
* invalidation: the cascade resumes, a new burst on the same side
* health: how far this candle is from such a burst, ``1 - min(z / z_min, imbalance / 0.3)`` clipped
  to [0, 1], with the imbalance signed towards the cascade's side (``+imbalance``, the longs, for a
  long position; ``-imbalance`` for a short). It is 0 exactly on a same-side burst (both at their
  burst thresholds) and 1 where the candle's liquidations are at or below their usual level
  (z <= 0) or lean to the other side. Exhaustion only asks for no burst on the firing candle, so
  the signal can fire with health below 1 (heavy but not quite bursting liquidations on the
  cascade's side); health is above 0 on every firing candle.
* proxy: where the liquidation stream was not recorded the documented candle proxy stands in
  (``hydra_liq_is_proxy``); the signal then says so
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hydra_plugins.alpha.signals.base import PROXY_CONFIDENCE, Param, Signal, SignalOutput, sided, stop_and_target
from hydra_plugins.core import columns as col
from hydra_plugins.stats.regime import Regime

_ONE_SIDED = 0.3


class LiquidationReversal(Signal):
    """Fade an exhausted liquidation cascade."""

    name = "LIQUIDATION_REVERSAL"
    requires = (
        "open", "high", "low", "close",
        col.LIQ_Z, col.LIQ_IMBALANCE, col.LIQ_IS_PROXY, col.ATR_PCT,
        col.OPP_LONG_NEAR_SHARE, col.OPP_SHORT_NEAR_SHARE,
    )  # fmt: skip
    params = {
        "z_min": Param(4.0, 2.0, 8.0, decimals=1),
        "lookback_bars": Param(8, 2, 24),
        "move_atr": Param(5.0, 1.5, 10.0, decimals=1),
        "stop_atr": Param(2.0, 1.0, 5.0, decimals=1),
        "reward_risk": Param(2.0, 1.0, 4.0, decimals=1),
    }
    regime_fit = {
        Regime.HIGH_VOLATILITY: 1.0,
        Regime.CASCADE_RISK: 0.8,
        Regime.RANGING: 0.7,
        Regime.TRENDING_UP: 0.6,
        Regime.TRENDING_DOWN: 0.6,
        Regime.SQUEEZE_LONG: 0.6,
        Regime.SQUEEZE_SHORT: 0.6,
    }

    def _compute(self, frame: pd.DataFrame, p: Mapping[str, float]) -> SignalOutput:
        bars = int(p["lookback_bars"])
        z = frame[col.LIQ_Z]
        burst = z >= p["z_min"]
        longs_burst = burst & (frame[col.LIQ_IMBALANCE] >= _ONE_SIDED)
        shorts_burst = burst & (frame[col.LIQ_IMBALANCE] <= -_ONE_SIDED)

        def recent(flag: pd.Series) -> pd.Series:
            return flag.astype(float).rolling(bars, min_periods=1).max() > 0

        close = frame["close"]
        atr_price = frame[col.ATR_PCT] / 100.0 * close
        fell = (frame["high"].rolling(bars, min_periods=1).max() - close) >= p["move_atr"] * atr_price
        rose = (close - frame["low"].rolling(bars, min_periods=1).min()) >= p["move_atr"] * atr_price
        up_close, down_close = close > frame["open"], close < frame["open"]
        direction = sided(
            recent(longs_burst) & fell & ~longs_burst & up_close,
            recent(shorts_burst) & rose & ~shorts_burst & down_close,
        )
        peak = z.rolling(bars, min_periods=1).max().fillna(p["z_min"])
        spent = 1.0 - frame[col.OPP_LONG_NEAR_SHARE].where(direction >= 0, frame[col.OPP_SHORT_NEAR_SHARE])
        proxied = frame[col.LIQ_IS_PROXY].astype(float).rolling(bars, min_periods=1).max() > 0
        confidence = 0.5 + 0.1 * (peak - p["z_min"]).clip(lower=0.0) + 0.2 * spent.fillna(0.0).clip(0.0, 1.0)
        exp_ret, exp_risk = stop_and_target(frame[col.ATR_PCT], p["stop_atr"], p["reward_risk"])
        # The burst intensity of each side, in units of its thresholds: 1 or more on both axes is a burst.
        intensity = z.astype(float) / p["z_min"]
        one_sided = frame[col.LIQ_IMBALANCE].astype(float) / _ONE_SIDED
        return SignalOutput(
            direction=direction,
            confidence=confidence.where(~proxied, confidence * PROXY_CONFIDENCE),
            exp_ret_pct=exp_ret,
            exp_risk_pct=exp_risk,
            proxy=proxied,
            invalid_long=longs_burst,
            invalid_short=shorts_burst,
            health_long=1.0 - np.minimum(intensity, one_sided),
            health_short=1.0 - np.minimum(intensity, -one_sided),
        )
