"""FUNDING_SQUEEZE: extreme funding bleeds one side; trade against the payers once price turns on them.

When the 8h-equivalent funding rate is beyond ``threshold_8h`` the side paying it (longs when
positive, shorts when negative) is crowded and bleeding. The signal waits for price to turn against
that side (close beyond its ``momentum_bars`` mean) and takes the other side.

* direction: -sign(funding) when both hold, else 0
* confidence: 0.5 at the threshold, +0.25 for each doubling of the funding extremity, capped at 1
* expected risk: the stop distance, ``stop_atr`` x ATR %
* expected return: the take-profit distance, ``reward_risk`` x expected risk
* invalidation: funding has normalised, below a quarter of the threshold on the payers' side
* health: funding on the payers' side, linear from 1 at ``threshold_8h`` to 0 at a quarter of it
  (the invalidation level); always 1 where the signal fires, which needs funding at the threshold
* proxy: never, settled funding exists for every candle HYDRA trades
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hydra_plugins.alpha.signals.base import Param, Signal, SignalOutput, sided, stop_and_target
from hydra_plugins.core import columns as col
from hydra_plugins.stats.regime import Regime


class FundingSqueeze(Signal):
    """Trade against the side paying extreme funding."""

    name = "FUNDING_SQUEEZE"
    requires = ("close", col.FUNDING_RATE_8H, col.ATR_PCT)
    params = {
        "threshold_8h": Param(0.0005, 0.0002, 0.003, decimals=4),
        "momentum_bars": Param(16, 4, 64),
        "stop_atr": Param(2.0, 1.0, 5.0, decimals=1),
        "reward_risk": Param(1.5, 1.0, 4.0, decimals=1),
    }
    regime_fit = {
        Regime.SQUEEZE_LONG: 1.0,
        Regime.SQUEEZE_SHORT: 1.0,
        Regime.RANGING: 0.9,
        Regime.TRENDING_UP: 0.8,
        Regime.TRENDING_DOWN: 0.8,
        Regime.HIGH_VOLATILITY: 0.7,
        Regime.CASCADE_RISK: 0.0,
    }

    def _compute(self, frame: pd.DataFrame, p: Mapping[str, float]) -> SignalOutput:
        threshold = p["threshold_8h"]
        funding = frame[col.FUNDING_RATE_8H]
        close = frame["close"]
        bars = int(p["momentum_bars"])
        mean = close.rolling(bars, min_periods=bars).mean()
        direction = sided((funding <= -threshold) & (close > mean), (funding >= threshold) & (close < mean))
        extremity = (funding.abs() / threshold).clip(lower=1.0).fillna(1.0)
        exp_ret, exp_risk = stop_and_target(frame[col.ATR_PCT], p["stop_atr"], p["reward_risk"])
        floor = threshold / 4  # the invalidation level
        return SignalOutput(
            direction=direction,
            confidence=0.5 + 0.25 * np.log2(extremity),
            exp_ret_pct=exp_ret,
            exp_risk_pct=exp_risk,
            proxy=pd.Series(False, index=frame.index),
            invalid_long=funding > -floor,
            invalid_short=funding < floor,
            health_long=(-funding - floor) / (threshold - floor),
            health_short=(funding - floor) / (threshold - floor),
        )
