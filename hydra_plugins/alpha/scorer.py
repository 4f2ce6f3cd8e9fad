"""The signal scorer: CatBoost, P(profitable) for a signal on a candle, trained by ``hydra train scorer``.

The label (written in its model card) is whether the trade the signal would open was profitable
under HYDRA's own exits (stop, take-profit, time limit) after fees and funding. The L3 gate drops a
signal whose score is below ``hydra.alpha.ml_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import catboost
import numpy as np
import pandas as pd

from hydra_plugins.alpha.features import CATEGORICAL_FEATURES, SCORER_FEATURES
from hydra_plugins.core.artifacts import Carded, read_artifact
from hydra_plugins.core.errors import ModelArtifactError

KIND = "signal_scorer"
CLASSES = ("unprofitable", "profitable")


def feature_pool(features: pd.DataFrame, label: pd.Series | None = None) -> catboost.Pool:
    """Return a CatBoost pool of the 49 features (categorical ones as strings), optionally labelled."""
    data = features[list(SCORER_FEATURES)].copy()
    for name in CATEGORICAL_FEATURES:
        data[name] = data[name].astype(str)
    return catboost.Pool(data, label=label, cat_features=list(CATEGORICAL_FEATURES))


@dataclass(frozen=True)
class SignalScorer(Carded):
    """A verified signal scorer and its card."""

    model: catboost.CatBoostClassifier
    card: dict

    @classmethod
    def load(cls, path: Path) -> SignalScorer:
        """Load and verify ``path`` (raises ModelArtifactError saying which check failed)."""
        artifact = read_artifact(
            path, kind=KIND, features=SCORER_FEATURES, library="catboost", library_version=catboost.__version__
        )
        model = catboost.CatBoostClassifier()
        try:
            model.load_model(blob=artifact.blob, format="cbm")
        except catboost.CatBoostError as exc:
            raise ModelArtifactError(f"{path}: CatBoost cannot read it: {exc}") from None
        if list(model.feature_names_) != list(SCORER_FEATURES):
            raise ModelArtifactError(f"{path}: the model's own feature names differ from its card")
        categorical = [SCORER_FEATURES.index(name) for name in CATEGORICAL_FEATURES]
        if sorted(model.get_cat_feature_indices()) != categorical:
            raise ModelArtifactError(f"{path}: the model's categorical features are not {list(CATEGORICAL_FEATURES)}")
        if artifact.card.get("classes") != list(CLASSES):
            raise ModelArtifactError(f"{path}: classes {artifact.card.get('classes')} are not {list(CLASSES)}")
        return cls(model, artifact.card)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Return P(profitable) for each row of ``features`` (empty input, empty output)."""
        if features.empty:
            return np.zeros(0)
        return self.model.predict_proba(feature_pool(features), thread_count=1)[:, 1]
