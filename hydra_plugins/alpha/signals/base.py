"""What every signal provides.

A signal reads the columns it declares in ``requires`` and returns exactly its own columns
(:data:`hydra_plugins.core.columns.SIGNAL_FIELDS`):

* ``dir``: +1 long, -1 short, 0 nothing;
* ``conf``: confidence in [0, 1], 0 when not firing;
* ``exp_ret_pct`` / ``exp_risk_pct``: the expected return (the target) and the expected risk (the
  stop distance), percent of price, defined on every candle so a trade can always find the values of
  the candle that opened it;
* ``proxy``: True where an input the thesis is about was missing and a labelled proxy stood in;
* ``inv_long`` / ``inv_short``: the thesis of a long (short) position opened by this signal no
  longer holds on this candle (for the thesis-health exits of the risk brain);
* ``health_long`` / ``health_short``: how much of that thesis still holds on this candle, in [0, 1]:
  1 where the condition that opens the trade holds at least as strongly as its entry threshold, 0
  where the thesis is invalidated (always where ``inv_long`` / ``inv_short`` is True), linear in
  between on the quantity the invalidation measures (piecewise where it combines two; each signal's
  docstring names it), and NaN where that quantity is unknown. The risk brain can tighten a stop as
  health falls, before the thesis breaks outright.

Thresholds are :class:`Param` declarations: defaults that work untuned, with the range
``freqtrade hyperopt`` may search (the bridge turns each into a ``DecimalParameter`` or
``IntParameter`` named ``<signal>_<param>``). A signal is pure and trailing: the rows it returns for
``frame[:n]`` equal the first ``n`` rows it returns for ``frame``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col
from hydra_plugins.core.errors import ConfigError

# A signal running on a proxy instead of the input its thesis is about keeps this share of its confidence.
PROXY_CONFIDENCE = 0.85


@dataclass(frozen=True)
class Param:
    """One tunable threshold: its untuned default and the range hyperopt may search."""

    default: float
    low: float
    high: float
    decimals: int | None = None  # None: an integer parameter

    def __post_init__(self) -> None:
        if not self.low <= self.default <= self.high:
            raise ValueError(f"default {self.default} outside [{self.low}, {self.high}]")


@dataclass(frozen=True)
class SignalOutput:
    """What a signal computes, before it is named and typed."""

    direction: pd.Series
    confidence: pd.Series
    exp_ret_pct: pd.Series
    exp_risk_pct: pd.Series
    proxy: pd.Series
    invalid_long: pd.Series
    invalid_short: pd.Series
    health_long: pd.Series  # unclipped is fine; NaN where the thesis's inputs are unknown
    health_short: pd.Series


class Signal(ABC):
    """Base class of the behavioural signals."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]
    params: ClassVar[Mapping[str, Param]]
    # How well the signal's thesis fits each regime, in [0, 1]; regimes not listed fit 0.
    regime_fit: ClassVar[Mapping[str, float]]
    # False: the expected return is not a price move, so the trade takes no profit at a price target
    # (it ends by its stop, its invalidation or its time limit, the ``hold_hours`` parameter if declared).
    target_exit: ClassVar[bool] = True

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def output_columns(self) -> list[str]:
        """Return the columns this signal writes."""
        return [col.signal_column(self.name, f) for f in col.SIGNAL_FIELDS]

    @classmethod
    def parameter_name(cls, param: str) -> str:
        """Return the strategy attribute (hyperopt parameter) that tunes ``param``."""
        return f"{cls.name.lower()}_{param}"

    def values(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """Return every parameter's value: the defaults, replaced by ``overrides`` (keyed by parameter name)."""
        out: dict[str, float] = {}
        for key, spec in self.params.items():
            value = (overrides or {}).get(self.parameter_name(key), spec.default)
            slack = 1e-9 * max(1.0, abs(spec.high))  # hyperopt's decimals come back as 1.2000000000000002
            if not spec.low - slack <= value <= spec.high + slack:
                raise ConfigError(
                    f"strategy parameter {self.parameter_name(key)}={value} is outside [{spec.low}, {spec.high}]"
                )
            out[key] = value
        return out

    def generate(self, frame: pd.DataFrame, overrides: Mapping[str, float] | None = None) -> pd.DataFrame:
        """Check the inputs, then return this signal's columns on ``frame``'s index."""
        missing = [c for c in self.requires if c not in frame.columns]
        if missing:
            raise KeyError(f"signal {self.name} needs columns {missing}")
        out = self._compute(frame, self.values(overrides))
        firing = out.direction != 0
        names = self.output_columns()
        invalid_long = out.invalid_long.fillna(False).astype(bool)
        invalid_short = out.invalid_short.fillna(False).astype(bool)
        return pd.DataFrame(
            {
                names[0]: out.direction.astype("int8"),
                names[1]: out.confidence.where(firing, 0.0).clip(0.0, 1.0).fillna(0.0),
                names[2]: out.exp_ret_pct,
                names[3]: out.exp_risk_pct,
                names[4]: out.proxy.fillna(False).astype(bool),
                names[5]: invalid_long,
                names[6]: invalid_short,
                names[7]: _health(out.health_long, invalid_long),
                names[8]: _health(out.health_short, invalid_short),
            },
            index=frame.index,
        )

    @abstractmethod
    def _compute(self, frame: pd.DataFrame, p: Mapping[str, float]) -> SignalOutput:
        """Return the signal's series for parameter values ``p`` (NaN-free where inputs are)."""


def _health(health: pd.Series, invalid: pd.Series) -> pd.Series:
    # An invalidated thesis has no health left even where the health inputs are unknown.
    return health.astype(float).clip(0.0, 1.0).mask(invalid, 0.0)


def sided(long_: pd.Series, short: pd.Series) -> pd.Series:
    """Return +1 where ``long_`` holds, -1 where ``short`` holds (long wins a tie), else 0."""
    return pd.Series(np.where(long_.fillna(False), 1, np.where(short.fillna(False), -1, 0)), index=long_.index)


def stop_and_target(atr_pct: pd.Series, stop_atr: float, reward_risk: float) -> tuple[pd.Series, pd.Series]:
    """Return (expected return, expected risk) in percent: a ``reward_risk`` target over an ATR stop."""
    risk = (stop_atr * atr_pct).fillna(0.0)
    return reward_risk * risk, risk
