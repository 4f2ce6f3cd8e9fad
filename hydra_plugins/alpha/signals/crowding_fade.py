"""CROWDING_FADE: everyone is on the same side; fade the crowd once price stops going its way.

The crowd is long (short) when enough of these agree, each measured at the candle's close:

* positioning: the all-accounts long/short ratio at or above ``ls_long`` (at or below ``ls_short``);
* funding: the 8h rate at least ``funding_min_8h`` on the crowd's side and its z-score over the
  trailing settlements at least ``funding_z_min`` (the crowd pays more than it usually does);
* taker flow: taker buy/sell volume at or above ``taker_extreme`` (at or below its inverse);
* extension: the close at least ``extension_atr`` ATRs beyond the fast SMA in the crowd's direction.

With the positioning ratios known (live, or history imported from Binance's metrics archive) three
of the four must agree. Without them (most of history) a labelled proxy stands in: funding and
extension must agree and the taker flow is estimated from the candles (the volume-weighted close
location over the last 4h, ``((close - low) - (high - close)) / (high - low)``, at least
``flow_min`` in the crowd's direction); the confidence then keeps ``PROXY_CONFIDENCE`` of its value.
The trigger is a close against the crowd (below the previous close when fading longs).

* confidence: 0.5, +0.1 per agreeing vote beyond three, +0.1 per funding z-score unit beyond the
  threshold, capped at 1
* expected risk / return: ``stop_atr`` ATRs, ``reward_risk`` times that
* invalidation: the crowding is gone, funding back at or below its usual level (z-score <= 0)
* health: the funding z-score on the crowd's side, linear from 1 at ``funding_z_min`` to 0 at 0 (the
  invalidation level). With the positioning ratios known, three votes out of four open a trade, so
  the funding vote may be the one missing: the signal can then fire with health below 1, even at
  0 (a crowd in positioning, flow and extension that pays no more funding than usual; its own
  invalidation already holds). Health is 1 on every firing candle whose funding vote agrees, which
  includes every proxied one (the proxy needs the funding vote).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from hydra_plugins.alpha.signals.base import PROXY_CONFIDENCE, Param, Signal, SignalOutput, sided, stop_and_target
from hydra_plugins.core import columns as col
from hydra_plugins.stats.regime import Regime


class CrowdingFade(Signal):
    """Fade one-sided positioning."""

    name = "CROWDING_FADE"
    requires = (
        "close", col.CANDLE_FLOW,
        col.FUNDING_RATE_8H, col.FUNDING_Z, col.LONG_SHORT_RATIO, col.TAKER_RATIO, col.SMA_FAST, col.ATR_PCT,
    )  # fmt: skip
    params = {
        "funding_z_min": Param(2.0, 1.0, 4.0, decimals=1),
        "funding_min_8h": Param(0.0002, 0.00005, 0.002, decimals=5),
        "ls_long": Param(2.5, 1.5, 4.0, decimals=1),
        "ls_short": Param(0.8, 0.4, 1.2, decimals=2),
        "taker_extreme": Param(1.2, 1.05, 2.0, decimals=2),
        "extension_atr": Param(2.0, 0.5, 5.0, decimals=1),
        "flow_min": Param(0.25, 0.05, 0.8, decimals=2),
        "stop_atr": Param(2.0, 1.0, 5.0, decimals=1),
        "reward_risk": Param(1.5, 1.0, 4.0, decimals=1),
    }
    regime_fit = {
        Regime.SQUEEZE_LONG: 1.0,
        Regime.SQUEEZE_SHORT: 1.0,
        Regime.RANGING: 0.8,
        Regime.TRENDING_UP: 0.6,
        Regime.TRENDING_DOWN: 0.6,
        Regime.HIGH_VOLATILITY: 0.6,
        Regime.CASCADE_RISK: 0.0,
    }

    def _compute(self, frame: pd.DataFrame, p: Mapping[str, float]) -> SignalOutput:
        close = frame["close"]
        funding, z = frame[col.FUNDING_RATE_8H], frame[col.FUNDING_Z]
        extension = (close - frame[col.SMA_FAST]) / (frame[col.ATR_PCT] / 100.0 * close)
        ls, taker = frame[col.LONG_SHORT_RATIO], frame[col.TAKER_RATIO]
        flow = frame[col.CANDLE_FLOW]
        known = ls.notna() & taker.notna()

        def crowd(sign: int) -> tuple[pd.Series, pd.Series]:
            pays = (sign * funding >= p["funding_min_8h"]) & (sign * z >= p["funding_z_min"])
            stretched = sign * extension >= p["extension_atr"]
            if sign > 0:
                positioned, takers = ls >= p["ls_long"], taker >= p["taker_extreme"]
            else:
                positioned, takers = ls <= p["ls_short"], taker <= 1.0 / p["taker_extreme"]
            votes = pays.astype(int) + stretched.astype(int) + positioned.astype(int) + takers.astype(int)
            real = known & (votes >= 3)
            proxy = ~known & pays & stretched & (sign * flow >= p["flow_min"])
            return real | proxy, votes.where(known, 3)

        crowd_long, votes_long = crowd(1)
        crowd_short, votes_short = crowd(-1)
        prev = close.shift(1)
        direction = sided(crowd_short & (close > prev), crowd_long & (close < prev))
        votes = votes_long.where(direction < 0, votes_short)
        confidence = 0.5 + 0.1 * (votes - 3) + 0.1 * (z.abs() - p["funding_z_min"]).clip(lower=0.0).fillna(0.0)
        proxied = ~known
        exp_ret, exp_risk = stop_and_target(frame[col.ATR_PCT], p["stop_atr"], p["reward_risk"])
        return SignalOutput(
            direction=direction,
            confidence=confidence.where(known, confidence * PROXY_CONFIDENCE).clip(upper=1.0),
            exp_ret_pct=exp_ret,
            exp_risk_pct=exp_risk,
            proxy=proxied,
            invalid_long=z >= 0,
            invalid_short=z <= 0,
            health_long=-z / p["funding_z_min"],
            health_short=z / p["funding_z_min"],
        )
