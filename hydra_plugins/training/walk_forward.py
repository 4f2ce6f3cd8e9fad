"""Purged walk-forward validation over event time, and the metrics reported for each fold.

A label reads the future: the trade label of an event at ``t`` is known only at its ``label_end``. A
model trained on an event whose label window reaches into the test period has seen the test period,
so each fold trains only on events whose label was known, plus an ``embargo``, before its test block
starts (purging). The split is expanding: every fold trains on all the purged past, never the future.

Rows are events in any order (several pairs interleaved, not sorted); a fold holds row positions.

Every metric is a plain Python ``int`` or ``float`` (NaN where undefined), in lists and dicts, so a
fold report serialises with :func:`json.dumps`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train and test row positions, and the test block ``[test_start, test_end)``."""

    number: int
    train: np.ndarray
    test: np.ndarray
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def _utc_ns(name: str, values: pd.Series | Sequence) -> np.ndarray:
    stamps = pd.DatetimeIndex(pd.to_datetime(pd.Series(values), utc=True)).astype("datetime64[ns, UTC]")
    if stamps.isna().any():
        raise ValueError(f"{name} holds missing times")
    return stamps.asi8


def _stamp(ns: int) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")


def purged_walk_forward(
    times: pd.Series,
    label_end: pd.Series,
    n_splits: int,
    embargo: pd.Timedelta,
    min_train: int = 50,
) -> list[Fold]:
    """Return the expanding-window, purged walk-forward folds over the events' times.

    ``[min(times), max(times)]`` is split into ``n_splits + 1`` equal time blocks. Fold ``k``
    (``k = 1 .. n_splits``) tests the events of block ``k + 1``, ``[test_start, test_end)``; the last
    block's ``test_end`` is one nanosecond past ``max(times)`` so the latest event is tested. It trains on
    the events before the block whose label is known, embargo included, by the time the block starts:
    ``times < test_start`` and ``label_end + embargo <= test_start``. Folds with fewer than
    ``min_train`` train rows or no test row are skipped, and the kept folds are numbered from 1.
    ``train`` and ``test`` are sorted row positions; ``train_end`` is the latest train event time.

    Raise ``ValueError`` for ``n_splits < 1``, ``min_train < 1``, a negative embargo, lengths that
    differ, missing times, or a ``label_end`` before its event's time.
    """
    if int(n_splits) != n_splits or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    if int(min_train) != min_train or min_train < 1:
        raise ValueError(f"min_train must be a positive integer, got {min_train!r}")
    embargo = pd.Timedelta(embargo)
    if embargo < pd.Timedelta(0):
        raise ValueError(f"embargo must not be negative, got {embargo}")
    if len(times) != len(label_end):
        raise ValueError(f"times and label_end differ in length: {len(times)} != {len(label_end)}")
    event_ns, known_ns = _utc_ns("times", times), _utc_ns("label_end", label_end)
    early = known_ns < event_ns
    if early.any():
        raise ValueError(f"label_end is before the event time on {int(early.sum())} rows, first row {early.argmax()}")
    if len(event_ns) == 0:
        return []

    first, last = int(event_ns.min()), int(event_ns.max())
    blocks = n_splits + 1
    # Integer nanoseconds keep the block edges exact.
    edges = [first + (last - first) * i // blocks for i in range(blocks + 1)]
    edges[-1] = last + 1
    ready_ns = known_ns + embargo.value
    folds: list[Fold] = []
    for k in range(1, n_splits + 1):
        start, end = edges[k], edges[k + 1]
        test = np.flatnonzero((event_ns >= start) & (event_ns < end))
        train = np.flatnonzero((event_ns < start) & (ready_ns <= start))
        if len(test) == 0 or len(train) < min_train:
            continue
        folds.append(
            Fold(
                number=len(folds) + 1,
                train=train,
                test=test,
                train_end=_stamp(event_ns[train].max()),
                test_start=_stamp(start),
                test_end=_stamp(end),
            )
        )
    return folds


def _numbers(name: str, values: object) -> np.ndarray:
    array = pd.Series(values).to_numpy(dtype=float, na_value=np.nan)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds missing or infinite values")
    return array


def binary_metrics(y_true: Sequence | np.ndarray, p: Sequence | np.ndarray, threshold: float, base_rate: float) -> dict:
    """Return the metrics of predicted probabilities ``p`` against 0/1 (or boolean) outcomes ``y_true``.

    Keys: ``n``; ``positive_rate``; ``auc`` (ROC AUC, NaN when ``y_true`` holds one class); ``brier`` and
    ``brier_base_rate``, the Brier score of always predicting ``base_rate`` (the train set's positive
    rate: the score to beat); ``precision``, ``recall`` and ``share_passed`` of the trades that pass
    ``p >= threshold`` (precision and recall are 0 where undefined); and ``calibration``, one
    ``{"bin_low", "bin_high", "n", "mean_predicted", "observed"}`` per non-empty bin of
    :data:`CALIBRATION_BINS` equal-width bins on ``[0, 1]`` (the last bin includes 1).

    Raise ``ValueError`` for empty or unequal inputs, missing values, outcomes other than 0/1, or
    probabilities outside ``[0, 1]``.
    """
    y, prob = _numbers("y_true", y_true), _numbers("p", p)
    if len(y) != len(prob):
        raise ValueError(f"y_true and p differ in length: {len(y)} != {len(prob)}")
    if len(y) == 0:
        raise ValueError("no rows to score")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y_true must hold only 0 and 1")
    if prob.min() < 0 or prob.max() > 1:
        raise ValueError(f"p must lie in [0, 1], got values from {prob.min()} to {prob.max()}")
    if not 0 <= base_rate <= 1:
        raise ValueError(f"base_rate must lie in [0, 1], got {base_rate}")

    labels = y.astype(np.int64)
    passed = (prob >= threshold).astype(np.int64)
    one_class = labels.min() == labels.max()
    bins = np.minimum(np.floor(prob * CALIBRATION_BINS), CALIBRATION_BINS - 1).astype(np.int64)
    calibration = [
        {
            "bin_low": b / CALIBRATION_BINS,
            "bin_high": (b + 1) / CALIBRATION_BINS,
            "n": int((bins == b).sum()),
            "mean_predicted": float(prob[bins == b].mean()),
            "observed": float(y[bins == b].mean()),
        }
        for b in np.unique(bins).tolist()
    ]
    return {
        "n": len(y),
        "positive_rate": float(y.mean()),
        "auc": math.nan if one_class else float(roc_auc_score(labels, prob)),
        "brier": float(np.mean((prob - y) ** 2)),
        "brier_base_rate": float(np.mean((base_rate - y) ** 2)),
        "precision": float(precision_score(labels, passed, labels=[0, 1], zero_division=0)),
        "recall": float(recall_score(labels, passed, labels=[0, 1], zero_division=0)),
        "share_passed": float(passed.mean()),
        "calibration": calibration,
    }


def _class_codes(name: str, values: object, classes: list[str]) -> np.ndarray:
    series = pd.Series(values, dtype=object)
    if series.isna().any():
        raise ValueError(f"{name} holds missing values")
    codes = pd.Index(classes).get_indexer(series.map(str)).astype(np.int64)
    if (codes < 0).any():
        raise ValueError(f"{name} holds values not in classes: {sorted(set(series[codes < 0].map(str)))}")
    return codes


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else math.nan


def multiclass_metrics(y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray, classes: Sequence[str]) -> dict:
    """Return the metrics of predicted classes ``y_pred`` against ``y_true``, both drawn from ``classes``.

    Keys: ``n``; ``accuracy``; ``macro_f1``, the unweighted mean F1 over the classes that occur in
    ``y_true`` or ``y_pred`` (a class absent from both says nothing about the model; a class predicted
    but never true scores F1 0); ``per_class``, ``{class: {"support", "recall", "precision"}}`` for
    every class, recall NaN without support and precision NaN when never predicted; and ``confusion``,
    counts as a list of lists in ``classes`` order, rows true and columns predicted.

    Raise ``ValueError`` for empty or unequal inputs, duplicate classes, missing values, or values
    not in ``classes``.
    """
    names = [str(c) for c in classes]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"classes must be distinct and not empty, got {list(classes)}")
    truth, guess = _class_codes("y_true", y_true, names), _class_codes("y_pred", y_pred, names)
    if len(truth) != len(guess):
        raise ValueError(f"y_true and y_pred differ in length: {len(truth)} != {len(guess)}")
    if len(truth) == 0:
        raise ValueError("no rows to score")

    k = len(names)
    confusion = np.bincount(truth * k + guess, minlength=k * k).reshape(k, k)
    support, predicted, hits = confusion.sum(axis=1), confusion.sum(axis=0), np.diag(confusion)
    present = [i for i in range(k) if support[i] or predicted[i]]
    macro_f1 = f1_score(truth, guess, labels=present, average="macro", zero_division=0)
    return {
        "n": len(truth),
        "accuracy": float(hits.sum() / len(truth)),
        "macro_f1": float(macro_f1),
        "per_class": {
            name: {
                "support": int(support[i]),
                "recall": _ratio(int(hits[i]), int(support[i])),
                "precision": _ratio(int(hits[i]), int(predicted[i])),
            }
            for i, name in enumerate(names)
        },
        "confusion": confusion.tolist(),
    }


def summarize_folds(fold_metrics: list[dict], keys: Sequence[str]) -> dict:
    """Return ``{key: {"mean", "min", "max", "n_folds"}}`` of each metric across folds, ignoring NaN.

    ``n_folds`` counts the folds with a finite value; mean, min and max are NaN when none has one. A
    missing key or a ``None`` value counts as NaN.
    """
    summary: dict[str, dict[str, float | int]] = {}
    for key in keys:
        raw = [metrics.get(key) for metrics in fold_metrics]
        values = np.array([math.nan if v is None else float(v) for v in raw], dtype=float)
        values = values[np.isfinite(values)]
        summary[key] = {
            "mean": float(values.mean()) if len(values) else math.nan,
            "min": float(values.min()) if len(values) else math.nan,
            "max": float(values.max()) if len(values) else math.nan,
            "n_folds": len(values),
        }
    return summary
