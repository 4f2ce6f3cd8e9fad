"""The regime classifier: XGBoost, seven classes, trained by ``hydra train regime``.

It predicts the regime the next hours turn out to be (the label, written in its model card, is the
most frequent rule regime over the following ``horizon`` candles), from these trailing features:
trend (ADX, SMA slopes, close vs the SMAs), volatility (realized 1h/24h, its ratio to normal and
its percentile, ATR, Bollinger width), crowding (funding rate and z-score, open-interest change,
long/short ratio), forced flow (liquidation volume relative to traded volume, liquidation
imbalance, cascade probability), activity (volume z-score, the candle-flow proxy of CVD momentum)
and the rule regime of the candle itself.

L2 uses its most likely class as ``hydra_regime`` when the model is enabled and passes its checks;
the rules (``hydra_regime_rules``) stay the fallback and the baseline it must beat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost

from hydra_plugins.core import columns as col
from hydra_plugins.core.artifacts import Carded, read_artifact
from hydra_plugins.core.errors import ModelArtifactError
from hydra_plugins.stats.regime import Regime
from hydra_plugins.stats.volatility import quote_volume_per_hour

KIND = "regime_classifier"
CLASSES: tuple[str, ...] = tuple(str(r) for r in Regime)

_COPIED = {
    "adx": col.ADX,
    "sma_fast_slope_pct": col.SMA_FAST_SLOPE_PCT,
    "sma_slow_slope_pct": col.SMA_SLOW_SLOPE_PCT,
    "close_vs_sma_fast_pct": col.CLOSE_VS_SMA_FAST_PCT,
    "close_vs_sma_slow_pct": col.CLOSE_VS_SMA_SLOW_PCT,
    "rv_1h_pct": col.RV_PCT_1H,
    "rv_24h_pct": col.RV_PCT_24H,
    "rv_ratio": col.RV_RATIO,
    "vol_pctile": col.VOL_PCTILE,
    "atr_pct": col.ATR_PCT,
    "bb_width_pct": col.BB_WIDTH_PCT,
    "funding_rate_8h": col.FUNDING_RATE_8H,
    "funding_z": col.FUNDING_Z,
    "oi_delta_pct_1h": col.OI_DELTA_PCT_1H,
    "long_short_ratio": col.LONG_SHORT_RATIO,
    "liq_imbalance": col.LIQ_IMBALANCE,
    "cascade_prob": col.CASCADE_PROB,
    "volume_z": col.VOLUME_Z,
    "candle_flow": col.CANDLE_FLOW,
}
REGIME_MODEL_FEATURES: tuple[str, ...] = (*_COPIED, "liq_velocity_rel", "rule_regime")


def regime_features(frame: pd.DataFrame, timeframe: pd.Timedelta) -> pd.DataFrame:
    """Return the classifier's features for every row of an assessed frame (rule regime included)."""
    out = pd.DataFrame({name: pd.to_numeric(frame[src], errors="coerce") for name, src in _COPIED.items()})
    out["liq_velocity_rel"] = frame[col.LIQ_VELOCITY_USD_1H] / quote_volume_per_hour(frame, timeframe)
    codes = pd.Categorical(frame[col.REGIME_RULES], categories=list(CLASSES)).codes.astype(float)
    out["rule_regime"] = np.where(codes < 0, np.nan, codes)
    return out[list(REGIME_MODEL_FEATURES)].astype(float)


@dataclass(frozen=True)
class RegimeModel(Carded):
    """A verified regime classifier and its card."""

    booster: xgboost.Booster
    card: dict

    @classmethod
    def load(cls, path: Path) -> RegimeModel:
        """Load and verify ``path`` (raises ModelArtifactError saying which check failed)."""
        artifact = read_artifact(
            path, kind=KIND, features=REGIME_MODEL_FEATURES, library="xgboost", library_version=xgboost.__version__
        )
        if tuple(artifact.card.get("classes", ())) != CLASSES:
            raise ModelArtifactError(f"{path}: classes {artifact.card.get('classes')} are not {list(CLASSES)}")
        booster = xgboost.Booster()
        try:
            booster.load_model(bytearray(artifact.blob))
            booster.set_param({"nthread": 1})  # a few rows per candle; threads only contend with the bot
        except xgboost.core.XGBoostError as exc:
            raise ModelArtifactError(f"{path}: XGBoost cannot read it: {str(exc).splitlines()[0]}") from None
        if booster.feature_names != list(REGIME_MODEL_FEATURES):
            raise ModelArtifactError(f"{path}: the model's own feature names differ from its card")
        num_class = json.loads(booster.save_config())["learner"]["learner_model_param"]["num_class"]
        if int(num_class) != len(CLASSES):
            raise ModelArtifactError(f"{path}: the model has {num_class} classes, not {len(CLASSES)}")
        return cls(booster, artifact.card)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Return one probability column per class (:data:`CLASSES` order) for each row."""
        matrix = xgboost.DMatrix(
            features[list(REGIME_MODEL_FEATURES)].to_numpy(dtype=float),
            missing=np.nan,
            feature_names=list(REGIME_MODEL_FEATURES),
        )
        probs = self.booster.predict(matrix).reshape(len(features), len(CLASSES))
        return pd.DataFrame(probs, index=features.index, columns=list(CLASSES))
