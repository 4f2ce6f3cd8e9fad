"""What every signal provides.

A signal reads the columns it declares in ``requires`` and returns exactly its own four columns
(:data:`hydra_plugins.core.columns.SIGNAL_FIELDS`): direction (+1, -1, 0), confidence in [0, 1],
expected return and expected risk in percent of price. It is pure and trailing: the rows it returns
for ``frame[:n]`` equal the first ``n`` rows it returns for ``frame``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import pandas as pd

from hydra_plugins.core import columns as col


class Signal(ABC):
    """Base class of the behavioural signals."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]
    # How well the signal's thesis fits each regime, in [0, 1]; regimes not listed fit 0.
    regime_fit: ClassVar[Mapping[str, float]]

    def output_columns(self) -> list[str]:
        """Return the columns this signal writes."""
        return [col.signal_column(self.name, f) for f in col.SIGNAL_FIELDS]

    def generate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Check the inputs, then return this signal's columns on ``frame``'s index."""
        missing = [c for c in self.requires if c not in frame.columns]
        if missing:
            raise KeyError(f"signal {self.name} needs columns {missing}")
        direction, confidence, exp_ret, exp_risk = self._compute(frame)
        names = self.output_columns()
        return pd.DataFrame(
            {
                names[0]: direction.astype("int8"),
                names[1]: confidence.clip(0.0, 1.0),
                names[2]: exp_ret,
                names[3]: exp_risk,
            },
            index=frame.index,
        )

    @abstractmethod
    def _compute(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        """Return direction, confidence, expected return %, expected risk % (NaN-free where inputs are)."""
