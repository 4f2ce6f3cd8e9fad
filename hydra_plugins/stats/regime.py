"""Rule-based market regime, one of seven classes, and the L2 gate.

Rules, first match wins (each uses only values known at the candle's close):

========================  ==================================================================
CASCADE_RISK              a close-to-close move within the last hour larger than ``shock_atr``
                          ATRs (as measured before the move): forced flow is likely under way
HIGH_VOLATILITY           24h realized volatility above ``high_vol_ratio`` x its trailing median
SQUEEZE_LONG              funding (8h-equivalent) above +``squeeze_funding_8h``: crowded longs pay
SQUEEZE_SHORT             funding below -``squeeze_funding_8h``: crowded shorts pay
TRENDING_UP               ADX above ``adx_trend_min``, fast SMA above slow SMA, close above fast
TRENDING_DOWN             ADX above ``adx_trend_min``, fast SMA below slow SMA, close below fast
RANGING                   none of the above
========================  ==================================================================

The L2 gate says BLOCK (no new entries) in a cascade or when volatility is above
``block_vol_ratio`` x normal, REDUCE (size x ``reduce_size_mult``) above ``reduce_vol_ratio``,
ALLOW otherwise. Until the trailing baseline exists the gate says BLOCK: unknown is not safe.
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


class Gate(StrEnum):
    """L2's verdict on new entries."""

    ALLOW = "ALLOW"
    REDUCE = "REDUCE"
    BLOCK = "BLOCK"


def regime_column(frame: pd.DataFrame, cfg: StatsConfig) -> pd.Series:
    """Label each candle from volatility, trend and funding columns."""
    funding = frame[col.FUNDING_RATE_8H]
    trend = frame[col.ADX] > cfg.adx_trend_min
    close = frame["close"]
    conditions = [
        frame[col.SHOCK_ATR] > cfg.shock_atr,
        frame[col.RV_RATIO] > cfg.high_vol_ratio,
        funding > cfg.squeeze_funding_8h,
        funding < -cfg.squeeze_funding_8h,
        trend & (frame[col.SMA_FAST] > frame[col.SMA_SLOW]) & (close > frame[col.SMA_FAST]),
        trend & (frame[col.SMA_FAST] < frame[col.SMA_SLOW]) & (close < frame[col.SMA_FAST]),
    ]
    labels = [
        Regime.CASCADE_RISK,
        Regime.HIGH_VOLATILITY,
        Regime.SQUEEZE_LONG,
        Regime.SQUEEZE_SHORT,
        Regime.TRENDING_UP,
        Regime.TRENDING_DOWN,
    ]
    values = np.select(
        [c.fillna(False).to_numpy(dtype=bool) for c in conditions], [str(x) for x in labels], str(Regime.RANGING)
    )
    return pd.Series(values, index=frame.index, name=col.REGIME)


def gate_columns(frame: pd.DataFrame, cfg: StatsConfig) -> pd.DataFrame:
    """Return GATE, GATE_REASON and GATE_SIZE_MULT from the volatility columns and the regime."""
    ratio = frame[col.RV_RATIO]
    unknown = ratio.isna() | frame[col.ATR_PCT].isna()
    cascade = frame[col.REGIME] == Regime.CASCADE_RISK
    extreme = ratio > cfg.block_vol_ratio
    elevated = ratio > cfg.reduce_vol_ratio
    conds = [c.to_numpy(dtype=bool) for c in (unknown, cascade, extreme, elevated)]
    gate = np.select(conds, [Gate.BLOCK, Gate.BLOCK, Gate.BLOCK, Gate.REDUCE], Gate.ALLOW)
    reason = np.select(
        conds,
        [
            "volatility baseline not yet known",
            f"price shock over {cfg.shock_atr:g} ATR (cascade risk)",
            f"volatility over {cfg.block_vol_ratio:g}x normal",
            f"volatility over {cfg.reduce_vol_ratio:g}x normal",
        ],
        "",
    )
    size = np.where(gate == Gate.REDUCE, cfg.reduce_size_mult, np.where(gate == Gate.ALLOW, 1.0, 0.0))
    return pd.DataFrame(
        {col.GATE: gate.astype(str), col.GATE_REASON: reason, col.GATE_SIZE_MULT: size}, index=frame.index
    )
