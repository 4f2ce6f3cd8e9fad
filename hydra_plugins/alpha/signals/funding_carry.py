"""FUNDING_CARRY: in a quiet, ranging market, hold the side that receives funding.

Fires when the regime is RANGING, the volatility regime (trailing percentile of 24h realized
volatility) is at most ``vol_pctile_max``, and the funding rate is at least ``min_funding_8h``
(8h-equivalent) away from zero. The rate it reads is the live predicted rate of the next settlement
where recorded (``premiumIndex``); elsewhere the last settled rate stands in (a proxy: funding
persists, but not always), and the signal says so and keeps ``PROXY_CONFIDENCE`` of its confidence.
The two must agree in sign when both are known.

* direction: -sign(funding): short when longs pay, long when shorts pay
* confidence: 0.5 at the minimum, +0.25 per doubling of the rate, capped at 1
* expected return: the funding collected over ``hold_hours`` at the current rate (a carry, not a
  price target); expected risk: ``stop_atr`` ATRs
* invalidation: funding below half the minimum or flipped, or the market no longer ranging
* health: the rate on the receiving side, linear from 1 at ``min_funding_8h`` to 0 at half of it,
  and 0 when the market is not ranging; always 1 where the signal fires (volatility and the
  predicted/settled agreement gate entries only, so they do not enter health either)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hydra_plugins.alpha.signals.base import PROXY_CONFIDENCE, Param, Signal, SignalOutput, sided
from hydra_plugins.core import columns as col
from hydra_plugins.stats.regime import Regime


class FundingCarry(Signal):
    """Collect funding while nothing happens."""

    name = "FUNDING_CARRY"
    requires = (
        col.REGIME, col.VOL_PCTILE, col.FUNDING_RATE_8H, col.PREDICTED_FUNDING, col.FUNDING_INTERVAL_H, col.ATR_PCT,
    )  # fmt: skip
    target_exit = False  # the return is the funding collected while holding, not a price target
    params = {
        "min_funding_8h": Param(0.0002, 0.00005, 0.002, decimals=5),
        "vol_pctile_max": Param(0.5, 0.1, 0.9, decimals=2),
        "hold_hours": Param(24, 8, 72),
        "stop_atr": Param(3.0, 1.0, 6.0, decimals=1),
    }
    regime_fit = {Regime.RANGING: 1.0}

    def _compute(self, frame: pd.DataFrame, p: Mapping[str, float]) -> SignalOutput:
        settled = frame[col.FUNDING_RATE_8H]
        interval_h = frame[col.FUNDING_INTERVAL_H].where(frame[col.FUNDING_INTERVAL_H] > 0, 8.0).fillna(8.0)
        predicted = frame[col.PREDICTED_FUNDING] * 8.0 / interval_h
        known = predicted.notna()
        rate = predicted.where(known, settled)
        agree = ~known | settled.isna() | (np.sign(predicted) == np.sign(settled))
        quiet = (frame[col.REGIME] == Regime.RANGING) & (frame[col.VOL_PCTILE] <= p["vol_pctile_max"]) & agree
        direction = sided(quiet & (rate <= -p["min_funding_8h"]), quiet & (rate >= p["min_funding_8h"]))
        confidence = 0.5 + 0.25 * np.log2((rate.abs() / p["min_funding_8h"]).clip(lower=1.0).fillna(1.0))
        not_ranging = frame[col.REGIME] != Regime.RANGING
        half = p["min_funding_8h"] / 2  # the invalidation level
        return SignalOutput(
            direction=direction,
            confidence=confidence.where(known, confidence * PROXY_CONFIDENCE),
            exp_ret_pct=(rate.abs() * p["hold_hours"] / 8.0 * 100.0).fillna(0.0),
            exp_risk_pct=(p["stop_atr"] * frame[col.ATR_PCT]).fillna(0.0),
            proxy=~known,
            invalid_long=not_ranging | (rate > -half),
            invalid_short=not_ranging | (rate < half),
            health_long=((-rate - half) / half).mask(not_ranging, 0.0),
            health_short=((rate - half) / half).mask(not_ranging, 0.0),
        )
