"""The correlation penalty: a new position shrinks with the open positions it would move with.

For each open position, the correlation of the two pairs' log returns over the last
``correlation_bars`` candles counts when positive, fully for a position on the same side and
``correlation_opposite_weight`` for one on the other side (which partly hedges, partly shares the
same market risk). The size multiplier is ``1 / (1 + correlation_penalty x sum)``. A correlation
that cannot be measured (too little overlapping history) counts as 1: on the entry side, unknown
is treated as the worst case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hydra_plugins.core.config import RiskConfig

MIN_OVERLAP = 48  # candles both pairs must share for a correlation to count as measured


@dataclass(frozen=True)
class OpenLeg:
    """An open position, as the penalty sees it."""

    pair: str
    direction: int  # +1 long, -1 short
    closes: pd.Series  # close prices indexed by candle date, newest last


def log_returns(closes: pd.Series, bars: int) -> pd.Series:
    """Return the log returns of the last ``bars`` candles of ``closes`` (indexed by date; unknown ones dropped)."""
    tail = closes.iloc[-(bars + 1) :].astype(float)
    return pd.Series(np.diff(np.log(tail.to_numpy())), index=tail.index[1:]).dropna()


def pair_correlation(a: pd.Series, b: pd.Series, bars: int) -> float | None:
    """Return the correlation of two close series' returns on their shared dates, or None if too few."""
    ra, rb = log_returns(a, bars), log_returns(b, bars)
    if ra.index.equals(rb.index):  # the usual case: both pairs have every candle
        x, y = ra.to_numpy(), rb.to_numpy()
    else:
        joined = pd.concat([ra, rb], axis=1, join="inner").dropna()
        x, y = joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy()
    if len(x) < MIN_OVERLAP or min(x.std(), y.std()) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def correlation_multiplier(
    closes: pd.Series, direction: int, legs: Sequence[OpenLeg], cfg: RiskConfig
) -> tuple[float, dict[str, float]]:
    """Return the size multiplier (0, 1] for a new position and the correlation counted per open pair."""
    total, counted = 0.0, {}
    for leg in legs:
        rho = pair_correlation(closes, leg.closes, cfg.correlation_bars)
        rho = 1.0 if rho is None else rho
        weight = 1.0 if leg.direction == direction else cfg.correlation_opposite_weight
        counted[leg.pair] = round(rho, 4)
        total += weight * max(rho, 0.0)
    return 1.0 / (1.0 + cfg.correlation_penalty * total), counted
