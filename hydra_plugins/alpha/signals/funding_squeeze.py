"""FUNDING_SQUEEZE: extreme funding bleeds one side; trade against the payers once price turns on them.

When the 8h-equivalent funding rate is beyond ``threshold_8h`` the side paying it (longs when
positive, shorts when negative) is crowded and bleeding. The signal waits for price to turn against
that side (close beyond its ``momentum_bars`` mean) and takes the other side.

* direction: -sign(funding) when both hold, else 0
* confidence: 0.5 at the threshold, +0.25 for each doubling of the funding extremity, capped at 1
* expected risk: the stop distance, ``stop_atr`` x ATR %
* expected return: the take-profit distance, ``reward_risk`` x expected risk (a target, not a
  measured edge; the signal report of the L2/L3 issue measures it)

Expected risk and return are defined on every candle, firing or not, so a trade can always find
the stop and target of the candle that opened it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hydra_plugins.alpha.signals.base import Signal
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import FundingSqueezeConfig
from hydra_plugins.stats.regime import Regime


class FundingSqueeze(Signal):
    """Trade against the side paying extreme funding."""

    name = "FUNDING_SQUEEZE"
    requires = ("close", col.FUNDING_RATE_8H, col.ATR_PCT)
    regime_fit = {
        Regime.SQUEEZE_LONG: 1.0,
        Regime.SQUEEZE_SHORT: 1.0,
        Regime.RANGING: 0.9,
        Regime.TRENDING_UP: 0.8,
        Regime.TRENDING_DOWN: 0.8,
        Regime.HIGH_VOLATILITY: 0.7,
        Regime.CASCADE_RISK: 0.0,
    }

    def __init__(self, cfg: FundingSqueezeConfig) -> None:
        self.cfg = cfg

    def _compute(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        cfg = self.cfg
        funding = frame[col.FUNDING_RATE_8H]
        close = frame["close"]
        mean = close.rolling(cfg.momentum_bars, min_periods=cfg.momentum_bars).mean()
        longs_pay = (funding >= cfg.threshold_8h) & (close < mean)
        shorts_pay = (funding <= -cfg.threshold_8h) & (close > mean)
        direction = pd.Series(np.where(longs_pay, -1, np.where(shorts_pay, 1, 0)), index=frame.index)
        extremity = (funding.abs() / cfg.threshold_8h).clip(lower=1.0).fillna(1.0)
        confidence = (0.5 + 0.25 * np.log2(extremity)).where(direction != 0, 0.0)
        exp_risk = (cfg.stop_atr * frame[col.ATR_PCT]).fillna(0.0)
        exp_ret = cfg.reward_risk * exp_risk
        return direction, confidence, exp_ret, exp_risk
