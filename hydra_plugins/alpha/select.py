"""Pick the best signal per candle: confidence x agreement with the regime x the signal's weight.

The winner must reach the minimum confidence (``hydra.alpha.min_signal_confidence``) on that score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hydra_plugins.alpha.signals.base import Signal
from hydra_plugins.core import columns as col
from hydra_plugins.stats.regime import Regime


def regime_fit(signal: Signal, regimes: pd.Series) -> np.ndarray:
    """Return how well ``signal`` fits each candle's regime (0 for regimes it does not list)."""
    codes = pd.Categorical(regimes, categories=[str(r) for r in Regime]).codes  # -1: not a regime
    table = np.array([signal.regime_fit.get(r, 0.0) for r in Regime] + [0.0])
    return table[codes]


def select_best(
    frame: pd.DataFrame,
    signals: Sequence[Signal],
    min_confidence: float,
    ml_scores: Mapping[str, np.ndarray] | None = None,
    ml_threshold: float = 0.0,
) -> pd.DataFrame:
    """Return the winner's columns (SIGNAL, DIRECTION, CONFIDENCE, SCORE, STOP_PCT, TARGET_PCT, ML_SCORE).

    With ``ml_scores`` (the signal scorer's P(profitable) per signal name, NaN where not scored), a
    signal competes only on candles where its score reaches ``ml_threshold``: the L3 gate.
    """
    n = len(frame)
    best_score = np.zeros(n)
    best_idx = np.full(n, -1)
    for i, sig in enumerate(signals):
        d, c = (frame[name].to_numpy() for name in sig.output_columns()[:2])
        fit = regime_fit(sig, frame[col.REGIME])
        ok = d != 0
        if ml_scores is not None:
            ok &= np.nan_to_num(ml_scores[sig.name], nan=-1.0) >= ml_threshold
        score = np.where(ok, np.nan_to_num(c) * fit * sig.weight, 0.0)
        better = score > best_score
        best_score = np.where(better, score, best_score)
        best_idx = np.where(better, i, best_idx)
    chosen = (best_idx >= 0) & (best_score >= min_confidence)
    out = pd.DataFrame(
        {
            col.SIGNAL: "",
            col.DIRECTION: np.zeros(n, dtype="int8"),
            col.CONFIDENCE: 0.0,
            col.SCORE: np.where(chosen, best_score, 0.0),
            col.STOP_PCT: np.nan,
            col.TARGET_PCT: np.nan,
            col.ML_SCORE: np.nan,
        },
        index=frame.index,
    )
    for i, sig in enumerate(signals):
        rows = chosen & (best_idx == i)
        if not rows.any():
            continue
        d, c, ret, risk = sig.output_columns()[:4]
        out.loc[rows, col.SIGNAL] = sig.name
        out.loc[rows, col.DIRECTION] = frame.loc[rows, d].to_numpy().astype("int8")
        out.loc[rows, col.CONFIDENCE] = frame.loc[rows, c].to_numpy()
        out.loc[rows, col.STOP_PCT] = frame.loc[rows, risk].to_numpy()
        out.loc[rows, col.TARGET_PCT] = frame.loc[rows, ret].to_numpy()
        if ml_scores is not None:
            out.loc[rows, col.ML_SCORE] = ml_scores[sig.name][rows]
    return out
