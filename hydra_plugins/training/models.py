"""Train the signal scorer and the regime classifier, validate them walk-forward, and write them with their cards.

Both follow the same steps:

1. Build the rows (:mod:`hydra_plugins.training.datasets`) over the requested span.
2. Purged walk-forward validation (:func:`hydra_plugins.training.walk_forward.purged_walk_forward`):
   each fold trains on the rows whose label was known, plus an embargo as long as the label's
   horizon, before its test block starts, and is measured on that block against a trivial
   baseline: the training base rate for the scorer, the rules themselves for the regime model.
3. Train the shipped model on every row, with the same settings (no early stopping, so no test
   block steers it), and write it in the library's native format with its model card. The card
   says ``recommended: true`` only when the walk-forward metrics beat the baseline; HYDRA uses a
   model in its default (auto) mode only then.

Seeds are fixed, so the same data and command give the same model.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import catboost
import numpy as np
import pandas as pd
import sklearn
import xgboost
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

import hydra_plugins
from hydra_plugins.alpha import scorer as scorer_module
from hydra_plugins.alpha.features import CATEGORICAL_FEATURES, FEATURE_GROUPS, SCORER_FEATURES
from hydra_plugins.alpha.scorer import feature_pool
from hydra_plugins.core.artifacts import write_artifact
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.stats import regime_model
from hydra_plugins.stats.regime_model import CLASSES, REGIME_MODEL_FEATURES
from hydra_plugins.training.datasets import FEE_RATE, regime_dataset, scorer_dataset
from hydra_plugins.training.history import ResearchData
from hydra_plugins.training.walk_forward import binary_metrics, multiclass_metrics, purged_walk_forward, summarize_folds

SCORER_FILE = "signal_scorer.cbm"  # the file names in models/ (and in each walk-forward window)
REGIME_FILE = "regime_classifier.ubj"
SCORER_LABEL = (
    "1 if the trade the signal would open (entry at the next candle's open, HYDRA's exits: the "
    "signal's ATR stop, its take-profit where the signal uses one, its time limit) made money after "
    "taker fees on both sides and the funding settled while it was open; else 0"
)
REGIME_LABEL = (
    "the rule regime (stats/regime.py) most frequent over the {h} candles after the candle "
    "({hours:g} hours); ties go to the rule order (CASCADE_RISK first, RANGING last)"
)


@dataclass(frozen=True)
class TrainSpec:
    """What to train on and how."""

    pairs: Sequence[str]
    timerange: str | None
    n_splits: int = 5
    seed: int = 42
    progress: bool = False
    overrides: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ScorerSettings:
    # Small and strongly regularised: a few thousand overlapping trades. (300 trees of depth 4 at
    # 0.05 overfit: mean walk-forward Brier 0.262 against 0.224 for the base rate, on 2022-01..2023-06.)
    iterations: int = 150
    depth: int = 3
    learning_rate: float = 0.03
    l2_leaf_reg: float = 10.0


@dataclass(frozen=True)
class RegimeSettings:
    horizon_bars: int = 16
    step_bars: int = 4
    rounds: int = 150
    max_depth: int = 5
    eta: float = 0.1


def _span(dates: pd.Series) -> str:
    return f"{dates.min():%Y-%m-%d %H:%M} -> {dates.max():%Y-%m-%d %H:%M} UTC"


def _common_card(kind: str, spec: TrainSpec, data: ResearchData, ds: pd.DataFrame) -> dict[str, Any]:
    dates, pairs, rows = ds["date"], ds["pair"], len(ds)
    return {
        "kind": kind,
        "hydra_version": hydra_plugins.__version__,
        "library": {
            "catboost": catboost.__version__,
            "xgboost": xgboost.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
        },
        "training": {
            "span": _span(dates),
            "timerange": spec.timerange,
            "pairs": [p for p in spec.pairs if p in set(pairs)],  # those that gave rows (no candles: skipped)
            "rows": rows,
            "timeframe": data.timeframe,
            "datadir": str(data.datadir),
            "seed": spec.seed,
            "signal_thresholds": dict(spec.overrides) or "the signals' defaults",
        },
    }


def _folds_bar(folds: list, spec: TrainSpec, what: str) -> Any:
    return tqdm(folds, desc=f"{what} walk-forward", unit="fold", disable=not spec.progress, leave=False)


# The signal scorer


def _fit_scorer(x: pd.DataFrame, y: pd.Series, settings: ScorerSettings, seed: int) -> catboost.CatBoostClassifier:
    model = catboost.CatBoostClassifier(
        iterations=settings.iterations,
        depth=settings.depth,
        learning_rate=settings.learning_rate,
        l2_leaf_reg=settings.l2_leaf_reg,
        loss_function="Logloss",
        random_seed=seed,
        thread_count=1,
        verbose=False,
        allow_writing_files=False,
    )
    model.fit(feature_pool(x, y.astype(int)))
    return model


def _coverage(ds: pd.DataFrame) -> dict[str, Any]:
    numeric = [f for f in SCORER_FEATURES if f not in CATEGORICAL_FEATURES]
    known = ds[numeric].notna().mean()
    return {
        "known_share": {f: round(float(known[f]), 4) for f in numeric},
        "absent": [f for f in numeric if known[f] == 0.0],
        "proxied": {
            "sig_proxy": f"{ds['sig_proxy'].mean():.1%} of rows: the signal ran on a labelled proxy input",
            "liq_imbalance, liq_velocity_rel, liq_z": (
                f"{ds['liq_is_proxy'].mean():.1%} of rows: liquidations estimated from candles and open "
                "interest (no recorded history)"
            ),
        },
    }


def train_scorer(
    cfg: HydraConfig, data: ResearchData, spec: TrainSpec, output: Path, settings: ScorerSettings | None = None
) -> dict[str, Any]:
    """Train, validate and write the signal scorer to ``output`` (a ``.cbm`` file); return its card."""
    settings = settings or ScorerSettings()
    ds = scorer_dataset(cfg, data, spec.pairs, spec.timerange, overrides=spec.overrides, progress=spec.progress)
    hold = pd.Timedelta(hours=cfg.risk.max_hold_hours)
    threshold = cfg.alpha.ml_threshold
    folds = purged_walk_forward(ds["date"], ds["label_end"], spec.n_splits, embargo=hold)
    if not folds:
        raise ValueError(f"{len(ds)} signal rows are too few for {spec.n_splits} walk-forward folds")
    fold_rows = []
    for fold in _folds_bar(folds, spec, "scorer"):
        train, test = ds.iloc[fold.train], ds.iloc[fold.test]
        model = _fit_scorer(train, train["profitable"], settings, spec.seed)
        p = model.predict_proba(feature_pool(test))[:, 1]
        y = test["profitable"].to_numpy(dtype=int)
        metrics = binary_metrics(y, p, threshold, base_rate=float(train["profitable"].mean()))
        passed = p >= threshold
        one_class = len(set(y)) < 2
        metrics.update(
            fold=fold.number,
            train_rows=len(train),
            train_end=str(fold.train_end),
            test_span=f"{fold.test_start} -> {fold.test_end}",
            auc_confidence=float("nan") if one_class else float(roc_auc_score(y, test["sig_confidence"])),
            mean_net_pct_all=float(test["net_pct"].mean()),
            mean_net_pct_passed=float(test["net_pct"][passed].mean()) if passed.any() else float("nan"),
            n_passed=int(passed.sum()),
        )
        fold_rows.append(metrics)
    keys = ["auc", "auc_confidence", "brier", "brier_base_rate", "precision", "recall", "share_passed"]
    summary = summarize_folds(fold_rows, [*keys, "mean_net_pct_all", "mean_net_pct_passed"])
    beats = summary["brier"]["mean"] < summary["brier_base_rate"]["mean"] and summary["auc"]["mean"] > 0.5
    final = _fit_scorer(ds, ds["profitable"], settings, spec.seed)
    card = _common_card(scorer_module.KIND, spec, data, ds)
    card.update(
        features=list(SCORER_FEATURES),
        feature_groups={k: list(v) for k, v in FEATURE_GROUPS.items()},
        categorical_features=list(CATEGORICAL_FEATURES),
        classes=list(scorer_module.CLASSES),
        label={
            "definition": SCORER_LABEL,
            "horizon_hours": cfg.risk.max_hold_hours,
            "fee_rate_per_side": FEE_RATE,
            "positive_rate": float(ds["profitable"].mean()),
        },
        rows_per_signal={str(k): int(v) for k, v in ds["signal"].value_counts().items()},
        settings=vars(settings),
        threshold=threshold,
        feature_coverage=_coverage(ds),
        walk_forward={
            "method": "expanding window, purged: train rows' labels known before the test block, "
            f"plus an embargo of {hold} (the label horizon)",
            "folds": fold_rows,
            "summary": summary,
            "baseline": "always the training base rate (brier_base_rate); the signal's own confidence (auc_confidence)",
        },
        recommended=bool(beats),
        recommendation=(
            "beats the base rate out of sample (lower mean Brier, AUC above 0.5)"
            if beats
            else "does NOT beat the base rate out of sample: HYDRA's auto mode leaves it unused"
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.cbm"
        final.save_model(str(path), format="cbm")
        return write_artifact(output, path.read_bytes(), card)


# The regime classifier


def _class_weights(codes: np.ndarray) -> np.ndarray:
    counts = np.bincount(codes, minlength=len(CLASSES)).astype(float)
    present = counts > 0
    weight = np.zeros(len(CLASSES))
    weight[present] = len(codes) / (present.sum() * counts[present])
    return weight[codes]


def _fit_regime(x: pd.DataFrame, codes: np.ndarray, settings: RegimeSettings, seed: int) -> xgboost.Booster:
    params = {
        "objective": "multi:softprob",
        "num_class": len(CLASSES),
        "max_depth": settings.max_depth,
        "eta": settings.eta,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 5.0,
        "tree_method": "hist",
        "eval_metric": "mlogloss",
        # A fixed starting margin (equal for every class): XGBoost 3 otherwise fits one per class,
        # which takes seconds per round when a class is absent from a window's training rows.
        "base_score": 0.5,
        "seed": seed,
        # One thread: the models are small, and multi-threaded XGBoost slows down a hundredfold when
        # another process (a backtest, the bot) holds the cores; one thread is also reproducible.
        "nthread": 1,
    }
    matrix = xgboost.DMatrix(
        x[list(REGIME_MODEL_FEATURES)].to_numpy(dtype=float),
        label=codes,
        weight=_class_weights(codes),
        missing=np.nan,
        feature_names=list(REGIME_MODEL_FEATURES),
    )
    return xgboost.train(params, matrix, num_boost_round=settings.rounds)


def _predict_classes(booster: xgboost.Booster, x: pd.DataFrame) -> np.ndarray:
    matrix = xgboost.DMatrix(
        x[list(REGIME_MODEL_FEATURES)].to_numpy(dtype=float), missing=np.nan, feature_names=list(REGIME_MODEL_FEATURES)
    )
    probs = booster.predict(matrix).reshape(len(x), len(CLASSES))
    return np.asarray(CLASSES, dtype=object)[probs.argmax(axis=1)]


def train_regime(
    cfg: HydraConfig, data: ResearchData, spec: TrainSpec, output: Path, settings: RegimeSettings | None = None
) -> dict[str, Any]:
    """Train, validate and write the regime classifier to ``output`` (a ``.ubj`` file); return its card."""
    settings = settings or RegimeSettings()
    ds = regime_dataset(
        cfg,
        data,
        spec.pairs,
        spec.timerange,
        horizon_bars=settings.horizon_bars,
        step_bars=settings.step_bars,
        progress=spec.progress,
    )
    codes = pd.Categorical(ds["label"], categories=list(CLASSES)).codes.astype(int)
    timeframe = pd.Timedelta(data.timeframe)
    horizon = settings.horizon_bars * timeframe
    folds = purged_walk_forward(ds["date"], ds["label_end"], spec.n_splits, embargo=horizon)
    if not folds:
        raise ValueError(f"{len(ds)} regime rows are too few for {spec.n_splits} walk-forward folds")
    fold_rows = []
    for fold in _folds_bar(folds, spec, "regime"):
        train, test = ds.iloc[fold.train], ds.iloc[fold.test]
        booster = _fit_regime(train, codes[fold.train], settings, spec.seed)
        truth = test["label"].to_numpy(dtype=object)
        model = multiclass_metrics(truth, _predict_classes(booster, test), CLASSES)
        rules = multiclass_metrics(truth, test["rule_label"].to_numpy(dtype=object), CLASSES)
        majority = train["label"].mode().iloc[0]
        constant = multiclass_metrics(truth, np.full(len(test), majority, dtype=object), CLASSES)
        fold_rows.append(
            {
                "fold": fold.number,
                "train_rows": len(train),
                "train_end": str(fold.train_end),
                "test_span": f"{fold.test_start} -> {fold.test_end}",
                "macro_f1": model["macro_f1"],
                "accuracy": model["accuracy"],
                "rules_macro_f1": rules["macro_f1"],
                "rules_accuracy": rules["accuracy"],
                "majority_macro_f1": constant["macro_f1"],
                "model": model,
                "rules": rules,
            }
        )
    summary = summarize_folds(
        fold_rows, ["macro_f1", "accuracy", "rules_macro_f1", "rules_accuracy", "majority_macro_f1"]
    )
    wins = sum(r["macro_f1"] > r["rules_macro_f1"] for r in fold_rows)
    beats = summary["macro_f1"]["mean"] > summary["rules_macro_f1"]["mean"] and wins * 2 > len(fold_rows)
    final = _fit_regime(ds, codes, settings, spec.seed)
    card = _common_card(regime_model.KIND, spec, data, ds)
    card.update(
        features=list(REGIME_MODEL_FEATURES),
        classes=list(CLASSES),
        label={
            "definition": REGIME_LABEL.format(h=settings.horizon_bars, hours=horizon / pd.Timedelta(hours=1)),
            "horizon_bars": settings.horizon_bars,
            "horizon_hours": horizon / pd.Timedelta(hours=1),
            "class_counts": {c: int((ds["label"] == c).sum()) for c in CLASSES},
        },
        settings=vars(settings),
        walk_forward={
            "method": "expanding window, purged: train rows' labels known before the test block, "
            f"plus an embargo of {horizon} (the label horizon)",
            "folds": fold_rows,
            "summary": summary,
            "folds_beating_rules": wins,
            "baseline": "the rules: the candle's own rule regime as the prediction (rules_*); the majority class",
        },
        recommended=bool(beats),
        recommendation=(
            f"beats the rules out of sample (mean macro-F1, and in {wins} of {len(fold_rows)} folds)"
            if beats
            else f"does NOT beat the rules out of sample ({wins} of {len(fold_rows)} folds): auto mode keeps the rules"
        ),
    )
    return write_artifact(output, bytes(final.save_raw(raw_format="ubj")), card)
