"""Purged walk-forward folds and the fold metrics, on small inputs worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.training.walk_forward import (
    Fold,
    binary_metrics,
    multiclass_metrics,
    purged_walk_forward,
    summarize_folds,
)

H = pd.Timedelta(hours=1)
START = pd.Timestamp("2026-01-01", tz="UTC")


def events(n_bars: int = 100, pairs: int = 2, label_bars: int = 5, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    """Return shuffled hourly events of several pairs and their label ends ``label_bars`` later."""
    times = pd.Series(np.tile(pd.date_range(START, periods=n_bars, freq=H), pairs))
    order = np.random.default_rng(seed).permutation(len(times))
    times = times.iloc[order].reset_index(drop=True)
    return times, times + label_bars * H


def test_folds_are_purged_ordered_and_expanding():
    times, label_end = events()
    embargo = H
    folds = purged_walk_forward(times, label_end, n_splits=4, embargo=embargo, min_train=5)
    assert [f.number for f in folds] == [1, 2, 3, 4]
    assert all(isinstance(f, Fold) for f in folds)
    previous_end = None
    previous_train: set[int] = set()
    for fold in folds:
        assert fold.test_start < fold.test_end
        if previous_end is not None:
            assert fold.test_start >= previous_end  # blocks do not overlap and move forward
        previous_end = fold.test_end
        assert (label_end.iloc[fold.train] + embargo <= fold.test_start).all()
        assert (times.iloc[fold.test] >= fold.test_start).all() and (times.iloc[fold.test] < fold.test_end).all()
        assert fold.train_end == times.iloc[fold.train].max() < fold.test_start
        assert np.all(np.diff(fold.train) > 0) and np.all(np.diff(fold.test) > 0)
        assert set(fold.train).isdisjoint(fold.test)
        # purging is exact: every earlier event left out has a label not yet known
        left_out = np.setdiff1d(np.flatnonzero(times < fold.test_start), fold.train)
        assert (label_end.iloc[left_out] + embargo > fold.test_start).all()
        assert previous_train <= set(fold.train)  # expanding window
        previous_train = set(fold.train)
    tested = np.concatenate([f.test for f in folds])
    assert len(tested) == len(set(tested))
    assert times.iloc[tested].max() == times.max()  # the latest event is tested


def test_fold_boundaries_by_hand():
    times, label_end = events(pairs=2)
    folds = purged_walk_forward(times, label_end, n_splits=4, embargo=H, min_train=5)
    # 99 hours in 5 blocks of 19.8 hours; fold 1 tests hours 20..39 of both pairs
    first = folds[0]
    assert first.test_start == START + pd.Timedelta(hours=19.8)
    assert first.test_end == START + pd.Timedelta(hours=39.6)
    assert sorted(set((times.iloc[first.test] - START) / H)) == list(range(20, 40))
    assert len(first.test) == 40
    # train: hour + 5 (label) + 1 (embargo) <= 19.8, so hours 0..13 of both pairs
    assert sorted(set((times.iloc[first.train] - START) / H)) == list(range(14))
    assert len(first.train) == 28
    assert first.train_end == START + 13 * H
    assert folds[-1].test_end == times.max() + pd.Timedelta(1, "ns")


def test_zero_embargo_never_trains_on_an_event_at_the_test_start():
    times = pd.Series(START + H * np.arange(11))
    folds = purged_walk_forward(times, times, n_splits=1, embargo=pd.Timedelta(0), min_train=1)
    (fold,) = folds
    assert fold.test_start == START + 5 * H
    assert fold.train.tolist() == [0, 1, 2, 3, 4]
    assert fold.test.tolist() == [5, 6, 7, 8, 9, 10]


def test_too_small_and_empty_folds_are_skipped_and_not_numbered():
    times, label_end = events(pairs=1)
    folds = purged_walk_forward(times, label_end, n_splits=4, embargo=H, min_train=20)
    # fold 1 trains on 14 events only; the others keep their blocks
    assert [f.number for f in folds] == [1, 2, 3]
    assert folds[0].test_start == START + pd.Timedelta(hours=39.6)

    hours = np.r_[np.arange(10), np.arange(90, 100)]
    sparse = pd.Series(START + H * hours)
    folds = purged_walk_forward(sparse, sparse + H, n_splits=4, embargo=H, min_train=5)
    assert [f.number for f in folds] == [1]
    assert folds[0].test_start == START + pd.Timedelta(hours=79.2)
    assert folds[0].train.tolist() == list(range(10))


def test_no_events_give_no_folds():
    empty = pd.Series([], dtype="datetime64[ns, UTC]")
    assert purged_walk_forward(empty, empty, n_splits=3, embargo=H) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_splits": 0}, "n_splits"),
        ({"embargo": -H}, "embargo"),
        ({"min_train": 0}, "min_train"),
        ({"label_end": "short"}, "differ in length"),
        ({"label_end": "early"}, "label_end is before"),
        ({"times": "missing"}, "missing times"),
    ],
)
def test_invalid_walk_forward_inputs(kwargs, message):
    times, label_end = events(n_bars=20, pairs=1)
    args = {"times": times, "label_end": label_end, "n_splits": 2, "embargo": H, "min_train": 1} | kwargs
    if kwargs.get("label_end") == "short":
        args["label_end"] = label_end.iloc[:-1]
    if kwargs.get("label_end") == "early":
        args["label_end"] = label_end.where(label_end.index != 3, times.iloc[3] - H)
    if kwargs.get("times") == "missing":
        args["times"] = times.where(times.index != 2, pd.NaT)
    with pytest.raises(ValueError, match=message):
        purged_walk_forward(**args)


# ------------------------------------------------------------------------------------------ metrics


def test_binary_metrics_of_a_perfect_predictor():
    out = binary_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], threshold=0.5, base_rate=0.5)
    assert out["n"] == 4 and out["positive_rate"] == 0.5
    assert out["auc"] == 1.0
    assert out["brier"] == pytest.approx(0.025)
    assert out["brier_base_rate"] == pytest.approx(0.25)
    assert (out["precision"], out["recall"], out["share_passed"]) == (1.0, 1.0, 0.5)
    assert [(c["bin_low"], c["bin_high"], c["n"]) for c in out["calibration"]] == [
        (0.1, 0.2, 1),
        (0.2, 0.3, 1),
        (0.8, 0.9, 1),
        (0.9, 1.0, 1),
    ]
    assert [c["observed"] for c in out["calibration"]] == [0.0, 0.0, 1.0, 1.0]
    json.dumps(out)


def test_binary_metrics_by_hand():
    y = np.array([True, False, True, False, True])
    p = [0.9, 0.7, 0.4, 0.05, 1.0]
    out = binary_metrics(y, p, threshold=0.6, base_rate=0.4)
    passed = [0.9, 0.7, 1.0]  # two winners, one loser
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["share_passed"] == pytest.approx(len(passed) / 5)
    assert out["auc"] == pytest.approx(5 / 6)  # 5 of the 6 winner-loser pairs ranked right
    assert out["brier_base_rate"] == pytest.approx((3 * 0.36 + 2 * 0.16) / 5)
    top = out["calibration"][-1]  # 0.9 and 1.0 share the last bin
    assert (top["n"], top["mean_predicted"], top["observed"]) == (2, pytest.approx(0.95), 1.0)
    assert all(type(v) in (int, float) for k, v in out.items() if k != "calibration")


def test_binary_metrics_with_one_class_and_no_one_passing():
    out = binary_metrics([0, 0, 0], [0.1, 0.2, 0.3], threshold=0.5, base_rate=0.2)
    assert math.isnan(out["auc"])
    assert (out["precision"], out["recall"], out["share_passed"]) == (0.0, 0.0, 0.0)
    assert out["positive_rate"] == 0.0


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1], [0.5], "differ in length"),
        ([], [], "no rows"),
        ([0, 2], [0.5, 0.5], "only 0 and 1"),
        ([0, 1], [0.5, 1.2], r"\[0, 1\]"),
        ([0, None], [0.5, 0.5], "missing"),
        (pd.array([True, pd.NA], dtype="boolean"), [0.5, 0.5], "missing"),
    ],
)
def test_binary_metrics_rejects_bad_inputs(y, p, message):
    with pytest.raises(ValueError, match=message):
        binary_metrics(y, p, threshold=0.5, base_rate=0.5)


CLASSES = ["A", "B", "C"]


def test_multiclass_metrics_by_hand():
    out = multiclass_metrics(["A", "A", "B", "B", "C"], ["A", "B", "B", "B", "A"], CLASSES)
    assert out["n"] == 5
    assert out["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert out["accuracy"] == pytest.approx(0.6)
    assert out["per_class"]["A"] == {"support": 2, "recall": 0.5, "precision": 0.5}
    assert out["per_class"]["B"] == {"support": 2, "recall": 1.0, "precision": pytest.approx(2 / 3)}
    assert out["per_class"]["C"]["recall"] == 0.0 and math.isnan(out["per_class"]["C"]["precision"])
    assert out["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    json.dumps(out)


def test_macro_f1_ignores_classes_absent_from_truth_and_predictions():
    base = multiclass_metrics(["A", "B"], ["A", "A"], ["A", "B"])
    wider = multiclass_metrics(["A", "B"], ["A", "A"], ["A", "B", "C", "D"])
    assert wider["macro_f1"] == base["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)
    assert wider["per_class"]["D"]["support"] == 0 and math.isnan(wider["per_class"]["D"]["recall"])
    assert wider["confusion"] == [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    # a class predicted but never true does count, with F1 0
    assert multiclass_metrics(["A", "A"], ["A", "C"], CLASSES)["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "classes", "message"),
    [
        (["A"], ["A", "B"], CLASSES, "differ in length"),
        ([], [], CLASSES, "no rows"),
        (["A", "Z"], ["A", "A"], CLASSES, "not in classes"),
        (["A", None], ["A", "A"], CLASSES, "missing"),
        (["A"], ["A"], ["A", "A"], "distinct"),
    ],
)
def test_multiclass_metrics_rejects_bad_inputs(y_true, y_pred, classes, message):
    with pytest.raises(ValueError, match=message):
        multiclass_metrics(y_true, y_pred, classes)


def test_summarize_folds_ignores_nan():
    folds = [{"auc": 0.6, "n": 10}, {"auc": math.nan, "n": 20}, {"auc": 0.8, "n": 30}, {"n": 40}]
    out = summarize_folds(folds, ["auc", "n", "brier"])
    assert out["auc"] == {"mean": pytest.approx(0.7), "min": 0.6, "max": 0.8, "n_folds": 2}
    assert out["n"] == {"mean": 25.0, "min": 10.0, "max": 40.0, "n_folds": 4}
    assert out["brier"]["n_folds"] == 0 and math.isnan(out["brier"]["mean"])
    json.dumps(out)
