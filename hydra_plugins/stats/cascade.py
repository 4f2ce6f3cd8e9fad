"""Cascade probability: P(a liquidation cascade is under way now or starts within the next 4 hours).

**What counts as a cascade** (:func:`cascade_events`, on 15m candles): an hour in which price moved
at least ``move_atr`` ATRs (ATR as measured before that hour) close to close, on at least
``volume_mult`` times the hour's usual volume (the median 1h volume of the preceding day). Forced
liquidations are what turns a move into that: a large, fast, high-volume move. The event is dated
at the hour's last candle, so it is known at that candle's close.

**What is estimated** (:class:`CascadeModel`): for candle ``t``, the probability that an event is
dated at ``t`` or at one of the next ``horizon_bars`` candles. It is a logistic regression over
trailing features only (:data:`FEATURES`):

* ``fuel_near``: the opponent model's share of leveraged positions, on the more exposed side, whose
  liquidation price is within ``near_pct`` of the close. This is the open-interest build-up: the
  opponent model adds real open interest where it is known and its volume proxy elsewhere;
* ``funding_bps``: the absolute 8h funding rate in basis points (a crowded, paying side), capped at 30;
* ``funding_z``: the absolute funding z-score over the trailing settlements, capped at 5;
* ``liq_z``: the liquidation z-score of the candle (recorded, or the labelled proxy), in [-2, 10];
* ``vol_expansion``: log of 24h realized volatility over its trailing median;
* ``shock_atr``: the largest close-to-close move of the last hour in ATRs (a cascade under way).

Missing inputs count as their neutral value (0), never as alarming. The weights are fitted by
``hydra calibrate cascade`` on a development span and checked on a later span the fit never saw:
the calibration file shipped with HYDRA (``cascade_calibration.json`` beside this module) records
the spans, the event count, the reliability table (predicted vs observed frequency), how often the
estimate rose above each alert level before an event, and how often it did so falsely. The README
quotes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col
from hydra_plugins.core.errors import ModelArtifactError

CALIBRATION_PATH = Path(__file__).with_name("cascade_calibration.json")
FEATURES = ("fuel_near", "funding_bps", "funding_z", "liq_z", "vol_expansion", "shock_atr")
_HOUR_BARS = 4


@dataclass(frozen=True)
class CascadeEvent:
    """The definition of a cascade (see the module docstring)."""

    move_atr: float = 6.0
    volume_mult: float = 4.0
    horizon_bars: int = 16


def cascade_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the model's trailing features (:data:`FEATURES`) from populated L1/L2 columns."""
    fuel = frame[[col.OPP_LONG_NEAR_SHARE, col.OPP_SHORT_NEAR_SHARE]].max(axis=1)
    return pd.DataFrame(
        {
            "fuel_near": fuel.fillna(0.0),
            "funding_bps": (frame[col.FUNDING_RATE_8H].abs() * 1e4).clip(upper=30.0).fillna(0.0),
            "funding_z": frame[col.FUNDING_Z].abs().clip(upper=5.0).fillna(0.0),
            "liq_z": frame[col.LIQ_Z].clip(-2.0, 10.0).fillna(0.0),
            "vol_expansion": np.log(frame[col.RV_RATIO]).clip(-2.0, 3.0).fillna(0.0),
            "shock_atr": frame[col.SHOCK_ATR].clip(upper=20.0).fillna(0.0),
        },
        index=frame.index,
    )


def cascade_events(candles: pd.DataFrame, atr_pct: pd.Series, event: CascadeEvent) -> pd.Series:
    """Return True on the last candle of every cascade hour (known at that candle's close)."""
    close = candles["close"]
    atr_before = (atr_pct / 100.0 * close).shift(_HOUR_BARS)
    moved = (close - close.shift(_HOUR_BARS)).abs() >= event.move_atr * atr_before
    hour_volume = candles["volume"].rolling(_HOUR_BARS, min_periods=_HOUR_BARS).sum()
    usual = hour_volume.shift(_HOUR_BARS).rolling(96, min_periods=96).median()
    return (moved & (hour_volume >= event.volume_mult * usual)).fillna(False).astype(bool)


def cascade_label(events: pd.Series, horizon_bars: int) -> pd.Series:
    """Return, for training and evaluation only, whether an event is dated at t or within t+1..t+horizon.

    This looks forward by construction; the pipeline never calls it.
    """
    flags = events.astype(float)
    ahead = flags[::-1].rolling(horizon_bars + 1, min_periods=1).max()[::-1]
    return ahead > 0


@dataclass(frozen=True)
class CascadeModel:
    """A fitted logistic regression on standardised :data:`FEATURES`, with its provenance."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    event: CascadeEvent = CascadeEvent()
    report: Mapping[str, Any] = field(default_factory=dict)

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Return the probability for each row of ``features``."""
        # Feature by feature, element-wise: a matrix product may sum in an order that depends on the
        # array's length, and a truncated history must give bit-identical rows (lookahead-analysis).
        z = np.full(len(features), self.intercept)
        for name, mean, scale, coef in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            z += coef * ((features[name].to_numpy(dtype=float) - mean) / scale)
        return pd.Series(1.0 / (1.0 + np.exp(-z)), index=features.index, name=col.CASCADE_PROB)

    def save(self, path: Path) -> None:
        """Write the model and its report as JSON."""
        body = asdict(self)
        body["features"], body["event"] = list(self.features), asdict(self.event)
        path.write_text(json.dumps(body, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path = CALIBRATION_PATH) -> CascadeModel:
        """Read a calibration file, or raise ModelArtifactError saying what is wrong with it."""
        try:
            body = json.loads(Path(path).read_text())
            model = cls(
                features=tuple(body["features"]),
                mean=tuple(float(v) for v in body["mean"]),
                scale=tuple(float(v) for v in body["scale"]),
                coef=tuple(float(v) for v in body["coef"]),
                intercept=float(body["intercept"]),
                event=CascadeEvent(**body.get("event", {})),
                report=body.get("report", {}),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelArtifactError(f"cascade calibration {path} is unusable: {exc}") from None
        if model.features != FEATURES or not len(model.mean) == len(model.scale) == len(model.coef) == len(FEATURES):
            raise ModelArtifactError(f"cascade calibration {path} has features {model.features}, expected {FEATURES}")
        if not all(s > 0 for s in model.scale):
            raise ModelArtifactError(f"cascade calibration {path} has a non-positive feature scale")
        return model


def fit_cascade_model(features: pd.DataFrame, labels: pd.Series, event: CascadeEvent) -> CascadeModel:
    """Fit the logistic regression on rows where every feature is known (scikit-learn, L2, C=1)."""
    from sklearn.linear_model import LogisticRegression

    x = features.loc[:, list(FEATURES)].to_numpy(dtype=float)
    y = labels.to_numpy(dtype=bool)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    fitted = LogisticRegression(C=1.0, max_iter=1000).fit((x - mean) / scale, y)
    return CascadeModel(
        features=FEATURES,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in fitted.coef_[0]),
        intercept=float(fitted.intercept_[0]),
        event=event,
    )


def alert_quality(prob: pd.Series, events: pd.Series, threshold: float, horizon_bars: int) -> dict[str, float | int]:
    """How an alert at ``threshold`` behaves on one pair's candles (all series on one index, in time order).

    * ``events``: event onsets (an event not preceded by another within the horizon);
    * ``warned``: onsets where the probability was at or above the threshold on one of the
      ``horizon_bars`` candles before the onset (a warning before the move, not during it);
    * ``alerts``: candles where the probability crossed up through the threshold;
    * ``false_alerts``: alerts with no event dated within the next ``horizon_bars`` candles
      (or at the alert candle itself).
    """
    fired = (prob >= threshold).to_numpy()
    ev = events.to_numpy(dtype=bool)
    n = len(ev)
    previous = np.concatenate([[False], fired[:-1]])
    alerts = np.flatnonzero(fired & ~previous)
    ev_idx = np.flatnonzero(ev)
    onsets = [i for k, i in enumerate(ev_idx) if k == 0 or i - ev_idx[k - 1] > horizon_bars]
    warned = sum(1 for i in onsets if fired[max(0, i - horizon_bars) : i].any())
    cum = np.concatenate([[0], np.cumsum(ev)])
    false_alerts = sum(1 for i in alerts if cum[min(n, i + horizon_bars + 1)] - cum[i] == 0)
    return {"events": len(onsets), "warned": warned, "alerts": len(alerts), "false_alerts": false_alerts}


def reliability(prob: pd.Series, label: pd.Series, edges: Iterable[float]) -> list[dict[str, float | int]]:
    """Predicted vs observed frequency per probability bin: the check that the number means what it says."""
    bins = pd.cut(prob, list(edges), include_lowest=True)
    table = pd.DataFrame({"p": prob, "y": label.astype(float), "bin": bins}).groupby("bin", observed=True)
    return [
        {
            "bin": str(name),
            "rows": len(g),
            "mean_predicted": float(g["p"].mean()),
            "observed": float(g["y"].mean()),
        }
        for name, g in table
    ]
