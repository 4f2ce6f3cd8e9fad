"""Rule-based market regime, one of seven classes, and the L2 gate.

Rules, first match wins (each uses only values known at the candle's close):

========================  ==================================================================
CASCADE_RISK              the cascade probability (stats/cascade.py) is at least
                          ``cascade_regime_prob``: forced flow is under way or likely soon
HIGH_VOLATILITY           24h realized volatility above ``high_vol_ratio`` x its trailing median,
                          or in the top ``1 - high_vol_pctile`` of the last 14 days
SQUEEZE_LONG              funding (8h-equivalent) at or above +``squeeze_funding_8h``: crowded
                          longs pay and are the side that can be squeezed
SQUEEZE_SHORT             funding at or below -``squeeze_funding_8h``: crowded shorts pay
TRENDING_UP               ADX above ``adx_trend_min``, fast SMA above the slow one, the slow SMA
                          rising over the last day, close above the fast SMA
TRENDING_DOWN             the mirror image
RANGING                   none of the above
========================  ==================================================================

These rules are the fallback and the baseline for the regime classifier.

The L2 gate, first match wins: BLOCK (no new entries) until the volatility baseline is known
(unknown is not safe), when the cascade probability is at least ``cascade_block_prob``, or when
volatility is above ``block_vol_ratio`` x normal; REDUCE (size x ``reduce_size_mult``) when the
cascade probability is at least ``cascade_reduce_prob`` or volatility above ``reduce_vol_ratio`` x
normal; ALLOW otherwise. The reason names the rule and its number.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import StatsConfig


class Regime(StrEnum):
    """The seven market regimes shared by the rules and the regime model."""

    TRENDING_UP = "TRENDING_UP"
    TRENDING_DOWN = "TRENDING_DOWN"
    RANGING = "RANGING"
    HIGH_VOLATILITY = "HIGH_VOLATILITY"
    CASCADE_RISK = "CASCADE_RISK"
    SQUEEZE_LONG = "SQUEEZE_LONG"
    SQUEEZE_SHORT = "SQUEEZE_SHORT"


# The rules' order, first match wins; RANGING is what is left.
RULE_ORDER = (
    Regime.CASCADE_RISK,
    Regime.HIGH_VOLATILITY,
    Regime.SQUEEZE_LONG,
    Regime.SQUEEZE_SHORT,
    Regime.TRENDING_UP,
    Regime.TRENDING_DOWN,
    Regime.RANGING,
)


class Gate(StrEnum):
    """L2's verdict on new entries."""

    ALLOW = "ALLOW"
    REDUCE = "REDUCE"
    BLOCK = "BLOCK"


def rule_conditions(frame: pd.DataFrame, cfg: StatsConfig) -> pd.DataFrame:
    """Return, per candle, which of the rules hold (all of them, not only the first match); unknown is False."""
    funding = frame[col.FUNDING_RATE_8H]
    trend = frame[col.ADX] > cfg.adx_trend_min
    close, fast, slow, slope = frame["close"], frame[col.SMA_FAST], frame[col.SMA_SLOW], frame[col.SMA_SLOW_SLOPE_PCT]
    high_vol = (frame[col.RV_RATIO] > cfg.high_vol_ratio) | (frame[col.VOL_PCTILE] >= cfg.high_vol_pctile)
    conditions = {
        Regime.CASCADE_RISK: frame[col.CASCADE_PROB] >= cfg.cascade_regime_prob,
        Regime.HIGH_VOLATILITY: high_vol,
        Regime.SQUEEZE_LONG: funding >= cfg.squeeze_funding_8h,
        Regime.SQUEEZE_SHORT: funding <= -cfg.squeeze_funding_8h,
        Regime.TRENDING_UP: trend & (fast > slow) & (slope > 0) & (close > fast),
        Regime.TRENDING_DOWN: trend & (fast < slow) & (slope < 0) & (close < fast),
    }
    return pd.DataFrame({str(k): v.fillna(False).astype(bool) for k, v in conditions.items()}, index=frame.index)


def regime_column(frame: pd.DataFrame, cfg: StatsConfig) -> pd.Series:
    """Label each candle from the cascade, volatility, funding and trend columns."""
    held = rule_conditions(frame, cfg)
    values = np.select(
        [held[str(r)].to_numpy(dtype=bool) for r in RULE_ORDER[:-1]],
        [str(x) for x in RULE_ORDER[:-1]],
        str(Regime.RANGING),
    )
    return pd.Series(values, index=frame.index, name=col.REGIME)


# Regimes that go against a position on each side: a downtrend, crowded longs who can be squeezed, or a
# cascade under way are against a long; the mirror against a short.
AGAINST = {
    "long": (Regime.TRENDING_DOWN, Regime.SQUEEZE_LONG, Regime.CASCADE_RISK),
    "short": (Regime.TRENDING_UP, Regime.SQUEEZE_SHORT, Regime.CASCADE_RISK),
}


def against_columns(frame: pd.DataFrame, cfg: StatsConfig) -> pd.DataFrame:
    """Return REGIME_AGAINST_LONG / _SHORT: a regime against that side holds on the candle.

    Either the regime L2 uses (``frame[col.REGIME]``) is one of them, or one of their rules holds even
    though an earlier rule named the candle (extreme volatility is HIGH_VOLATILITY first, whatever
    the trend): for the regime-break kill switch, which asks exactly that while volatility is extreme.
    """
    held = rule_conditions(frame, cfg)
    regime = frame[col.REGIME].astype(str)
    out = {}
    for side, name in (("long", col.REGIME_AGAINST_LONG), ("short", col.REGIME_AGAINST_SHORT)):
        classes = [str(r) for r in AGAINST[side]]
        out[name] = held[classes].any(axis=1) | regime.isin(classes)
    return pd.DataFrame(out, index=frame.index)


def gate_columns(frame: pd.DataFrame, cfg: StatsConfig) -> pd.DataFrame:
    """Return GATE, GATE_REASON and GATE_SIZE_MULT from the volatility and cascade columns."""
    ratio = frame[col.RV_RATIO]
    prob = frame[col.CASCADE_PROB]
    unknown = ratio.isna() | frame[col.ATR_PCT].isna() | prob.isna()
    rules = [
        (unknown, Gate.BLOCK, "volatility baseline not yet known"),
        (prob >= cfg.cascade_block_prob, Gate.BLOCK, f"cascade probability at or over {cfg.cascade_block_prob:g}"),
        (ratio > cfg.block_vol_ratio, Gate.BLOCK, f"volatility over {cfg.block_vol_ratio:g}x normal"),
        (prob >= cfg.cascade_reduce_prob, Gate.REDUCE, f"cascade probability at or over {cfg.cascade_reduce_prob:g}"),
        (ratio > cfg.reduce_vol_ratio, Gate.REDUCE, f"volatility over {cfg.reduce_vol_ratio:g}x normal"),
    ]
    conds = [c.fillna(False).to_numpy(dtype=bool) for c, _, _ in rules]
    gate = np.select(conds, [str(g) for _, g, _ in rules], str(Gate.ALLOW))
    reason = np.select(conds, [r for _, _, r in rules], "")
    size = np.where(gate == Gate.REDUCE, cfg.reduce_size_mult, np.where(gate == Gate.ALLOW, 1.0, 0.0))
    return pd.DataFrame(
        {col.GATE: gate.astype(str), col.GATE_REASON: reason, col.GATE_SIZE_MULT: size}, index=frame.index
    )
