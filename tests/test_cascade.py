"""The cascade probability: what counts as a cascade, the model file, and the shipped calibration."""

import json

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.core import columns as col
from hydra_plugins.core.errors import ModelArtifactError
from hydra_plugins.stats.cascade import (
    CALIBRATION_PATH,
    FEATURES,
    CascadeEvent,
    CascadeModel,
    alert_quality,
    cascade_events,
    cascade_features,
    cascade_label,
    fit_cascade_model,
)


def quiet_candles(n=200, volume=100.0):
    close = np.full(n, 100.0) + np.sin(np.arange(n)) * 0.1
    return pd.DataFrame({"close": close, "volume": np.full(n, volume)})


def test_a_cascade_is_a_large_fast_move_on_heavy_volume():
    candles = quiet_candles()
    atr_pct = pd.Series(0.2, index=candles.index)  # 0.2 % of 100 = 0.2 per candle
    candles.loc[150:153, "close"] = [99.0, 98.5, 98.0, 98.0]  # 2.0 down within the hour = 10 ATRs
    heavy = candles.copy()
    heavy.loc[150:153, "volume"] = 1000.0  # 4 x 1000 vs a usual hour of 400
    events = cascade_events(heavy, atr_pct, CascadeEvent(move_atr=6.0, volume_mult=4.0))
    # Hours ending at 151..153 fall 7.5-10 ATRs; the snap back up (hour ending 155, still on the heavy
    # candles) counts too: a cascade is forced flow either way. At 150 the move is only 5 ATRs.
    assert events[events].index.tolist() == [151, 152, 153, 155]
    assert not cascade_events(candles, atr_pct, CascadeEvent()).any()  # same move, usual volume: not forced
    assert not cascade_events(heavy, atr_pct, CascadeEvent(move_atr=12.0)).any()


def test_the_label_covers_now_and_the_horizon_and_never_the_past():
    events = pd.Series([False] * 10 + [True] + [False] * 9)
    label = cascade_label(events, horizon_bars=3)
    assert label[label].index.tolist() == [7, 8, 9, 10]


def test_features_treat_missing_inputs_as_neutral():
    frame = pd.DataFrame(
        {
            col.OPP_LONG_NEAR_SHARE: [0.3, np.nan],
            col.OPP_SHORT_NEAR_SHARE: [0.1, np.nan],
            col.FUNDING_RATE_8H: [-0.001, np.nan],
            col.FUNDING_Z: [-7.0, np.nan],
            col.LIQ_Z: [20.0, np.nan],
            col.RV_RATIO: [np.e, np.nan],
            col.SHOCK_ATR: [3.0, np.nan],
        }
    )
    f = cascade_features(frame)
    assert list(f.columns) == list(FEATURES)
    assert f.iloc[0].tolist() == pytest.approx([0.3, 10.0, 5.0, 10.0, 1.0, 3.0])
    assert f.iloc[1].tolist() == [0.0] * len(FEATURES)


def test_fit_save_load_predict_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(4000, len(FEATURES))), columns=list(FEATURES))
    y = pd.Series(rng.random(4000) < 1 / (1 + np.exp(-(2 * x["shock_atr"] - 2))))
    model = fit_cascade_model(x, y, CascadeEvent())
    assert model.coef[FEATURES.index("shock_atr")] > 1.0  # finds the real driver
    path = tmp_path / "cascade.json"
    model.save(path)
    again = CascadeModel.load(path)
    pd.testing.assert_series_equal(again.predict(x), model.predict(x))
    p = model.predict(x)
    assert p.between(0, 1).all() and abs(p.mean() - y.mean()) < 0.02  # calibrated in the mean


def test_unusable_calibration_files_are_refused(tmp_path):
    with pytest.raises(ModelArtifactError, match="unusable"):
        CascadeModel.load(tmp_path / "missing.json")
    body = json.loads(CALIBRATION_PATH.read_text())
    body["features"] = body["features"][:-1]
    (tmp_path / "short.json").write_text(json.dumps(body))
    with pytest.raises(ModelArtifactError, match="features"):
        CascadeModel.load(tmp_path / "short.json")


def test_the_shipped_calibration_means_what_it_says():
    model = CascadeModel.load()
    check = model.report["check"]
    assert check["timerange"] > model.report["fit"]["timerange"]  # checked on later data than it was fitted on
    assert check["brier"] < check["brier_base_rate"]  # better than always saying the base rate
    high = [r for r in check["reliability"] if r["mean_predicted"] >= 0.5 and r["rows"] >= 100]
    assert high and all(abs(r["observed"] - r["mean_predicted"]) < 0.15 for r in high)


def test_alert_quality_counts_warnings_and_false_alarms():
    prob = pd.Series([0.1, 0.8, 0.8, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1])
    events = pd.Series([False, False, False, True, False, False, False, False, False, False, False, False])
    q = alert_quality(prob, events, threshold=0.7, horizon_bars=3)
    # The alert at 1 came 2 candles before the event at 3; the alert at 6 saw nothing follow.
    assert q == {"events": 1, "warned": 1, "alerts": 2, "false_alerts": 1}
