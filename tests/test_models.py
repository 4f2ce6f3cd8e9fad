"""The two models: trustworthy files, the 49 features, training from the commands, the gates in the pipeline."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.alpha.features import FEATURE_GROUPS, SCORER_FEATURES, market_features, signal_features
from hydra_plugins.alpha.scorer import SignalScorer
from hydra_plugins.alpha.signals import build_signals
from hydra_plugins.cli import main as hydra
from hydra_plugins.core import columns as col
from hydra_plugins.core.artifacts import ModelSlot, card_path, read_artifact, sha256, write_artifact
from hydra_plugins.core.config import load_hydra_config
from hydra_plugins.core.errors import ModelArtifactError
from hydra_plugins.pipeline import Pipeline
from hydra_plugins.stats.regime_model import CLASSES, REGIME_MODEL_FEATURES, RegimeModel
from hydra_plugins.training.history import ResearchData, load_pair
from tests.conftest import DATADIR, ROOT, needs_data

SCORER = ROOT / "models" / "signal_scorer.cbm"
REGIME = ROOT / "models" / "regime_classifier.ubj"
BTC = "BTC/USDT:USDT"


def copy_model(src: Path, dest_dir: Path) -> Path:
    dest = dest_dir / src.name
    shutil.copy(src, dest)
    shutil.copy(card_path(src), card_path(dest))
    return dest


def edit_card(path: Path, **changes) -> None:
    card = json.loads(card_path(path).read_text())
    card.update(changes)
    card_path(path).write_text(json.dumps(card))


# Model files and their cards


def test_write_and_read_an_artifact_with_its_checks(tmp_path):
    path = tmp_path / "m.bin"
    card = write_artifact(path, b"model-bytes", {"kind": "k", "features": ["a", "b"], "library": {"lib": "2.1.0"}})
    assert card["sha256"] == sha256(b"model-bytes") and card_path(path).name == "m.meta.json"
    assert (path.stat().st_mode & 0o777) == 0o644  # readable by the container user, not private
    ok = read_artifact(path, kind="k", features=["a", "b"], library="lib", library_version="2.9")
    assert ok.blob == b"model-bytes"
    with pytest.raises(ModelArtifactError, match="other order"):
        read_artifact(path, kind="k", features=["b", "a"], library="lib", library_version="2.9")
    with pytest.raises(ModelArtifactError, match=r"missing \['c'\]"):
        read_artifact(path, kind="k", features=["a", "b", "c"], library="lib", library_version="2.9")
    with pytest.raises(ModelArtifactError, match=r"written by lib 2\.1\.0, installed lib 3\.0"):
        read_artifact(path, kind="k", features=["a", "b"], library="lib", library_version="3.0")
    with pytest.raises(ModelArtifactError, match="kind"):
        read_artifact(path, kind="other", features=["a", "b"], library="lib", library_version="2.9")
    path.write_bytes(b"model-bytez")  # replaced behind the card's back
    with pytest.raises(ModelArtifactError, match="does not match its card"):
        read_artifact(path, kind="k", features=["a", "b"], library="lib", library_version="2.9")
    with pytest.raises(ModelArtifactError, match=r"card .* is missing"):
        read_artifact(tmp_path / "none.bin", kind="k", features=[], library="lib", library_version="1")


def test_model_slot_swaps_only_verified_files(tmp_path, caplog):
    path = tmp_path / "m.bin"

    def load(p):
        return read_artifact(p, kind="k", features=["a"], library="lib", library_version="1.0").blob

    slot = ModelSlot(path, load)
    slot.refresh()
    assert slot.model is None and "missing" in slot.error
    write_artifact(path, b"v1", {"kind": "k", "features": ["a"], "library": {"lib": "1.0"}})
    assert slot.refresh() and slot.model == b"v1" and slot.error is None
    assert not slot.refresh()  # nothing changed on disk: nothing re-read
    # A retraining run whose output fails its checks is refused; the verified model stays in use.
    with caplog.at_level(logging.ERROR):
        write_artifact(path, b"v2", {"kind": "k", "features": ["a", "extra"], "library": {"lib": "1.0"}})
        assert not slot.refresh()
    assert slot.model == b"v1" and "features differ" in slot.rejected and "keeps the model" in caplog.text
    write_artifact(path, b"v3", {"kind": "k", "features": ["a"], "library": {"lib": "1.0"}})
    assert slot.refresh() and slot.model == b"v3" and slot.rejected is None


def test_the_shipped_models_pass_their_checks_and_their_cards_say_what_they_are():
    scorer = SignalScorer.load(SCORER)
    regime = RegimeModel.load(REGIME)
    for card, features in ((scorer.card, SCORER_FEATURES), (regime.card, REGIME_MODEL_FEATURES)):
        assert card["features"] == list(features)
        assert card["sha256"] == sha256(Path(ROOT / "models" / card["model_file"]).read_bytes())
        assert {"catboost", "xgboost", "numpy", "pandas"} <= set(card["library"])
        assert card["training"]["pairs"] and card["training"]["span"] and card["label"]["definition"]
        assert len(card["walk_forward"]["folds"]) >= 3 and isinstance(card["recommended"], bool)
    assert regime.card["classes"] == list(CLASSES)
    s = scorer.card["walk_forward"]["summary"]
    beats = s["brier"]["mean"] < s["brier_base_rate"]["mean"] and s["auc"]["mean"] > 0.5
    assert scorer.card["recommended"] == beats
    assert "absent" in scorer.card["feature_coverage"] and "proxied" in scorer.card["feature_coverage"]
    r = regime.card["walk_forward"]["summary"]
    assert regime.card["recommended"] == (
        r["macro_f1"]["mean"] > r["rules_macro_f1"]["mean"]
        and 2 * regime.card["walk_forward"]["folds_beating_rules"] > len(regime.card["walk_forward"]["folds"])
    )
    # The shipped models were trained before the demo span, which stays out of sample.
    assert scorer.card["training"]["span"] < "2023-07" and regime.card["training"]["span"] < "2023-07"


def test_tampered_models_are_refused_with_the_reason(tmp_path):
    path = copy_model(SCORER, tmp_path)
    edit_card(path, library={"catboost": "0.26.1"})
    with pytest.raises(ModelArtifactError, match=r"written by catboost 0\.26\.1"):
        SignalScorer.load(path)
    path = copy_model(REGIME, tmp_path)
    edit_card(path, classes=list(reversed(CLASSES)))
    with pytest.raises(ModelArtifactError, match="classes"):
        RegimeModel.load(path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelArtifactError, match="sha256"):
        RegimeModel.load(path)


# The 49 features


def test_the_scorer_has_49_features_in_the_seed_groups():
    sizes = {group: len(names) for group, names in FEATURE_GROUPS.items()}
    assert sizes == {
        "signal": 9,
        "price": 10,
        "funding": 4,
        "open_interest": 3,
        "liquidations": 3,
        "order_book": 4,
        "positioning": 2,
        "regime": 9,
        "time": 5,
    }
    assert len(SCORER_FEATURES) == len(set(SCORER_FEATURES)) == 49


def assessed(start="2024-01-01", end="2024-03-01", cfg=None, pair=BTC, models=False):
    cfg = cfg or load_hydra_config({})
    pipe = Pipeline(cfg, 15)
    if models:
        pipe.load_models()
    candles, inputs = load_pair(
        ResearchData(DATADIR), pair, pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"), pipe.warmup_candles
    )
    return pipe, pipe.populate(candles, inputs)


@needs_data
def test_features_are_point_in_time_and_the_same_function_serves_training_and_live():
    pipe, frame = assessed()
    signals = build_signals(pipe.cfg.alpha.signals, include_disabled=True)
    frame = pd.concat([frame, *(s.generate(frame) for s in signals)], axis=1)
    full = signal_features(frame, signals[0], market_features(frame, pipe.timeframe))
    cut = len(frame) - 300
    part = frame.iloc[:cut]
    truncated = signal_features(part, signals[0], market_features(part, pipe.timeframe))
    pd.testing.assert_frame_equal(full.iloc[:cut], truncated)
    assert full["sig_source"].eq("FUNDING_SQUEEZE").all() and full["regime_rules"].notna().all()
    # Time features describe the candle's close: 23:45 opens close at midnight.
    row = full.loc[frame["date"].dt.strftime("%H:%M").eq("23:45").to_numpy()].iloc[0]
    assert row["hour_sin"] == pytest.approx(0.0, abs=1e-12) and row["hour_cos"] == pytest.approx(1.0)
    # Order book history does not exist: missing, never zero.
    assert full["book_imbalance"].isna().all()


# The gates in the pipeline


def forced(scorer=SCORER, regime=REGIME):
    """Both models forced on (whatever their cards recommend) and three signals trading."""
    signals = {name: {"enabled": True} for name in ("funding_squeeze", "liquidation_reversal", "funding_carry")}
    return load_hydra_config(
        {
            "alpha": {"scorer": {"path": str(scorer), "enabled": True}, "signals": signals},
            "stats": {"regime_model": {"path": str(regime), "enabled": True}},
        }
    )


@needs_data
def test_the_scorer_gate_drops_signals_scored_below_the_threshold():
    pipe, frame = assessed(cfg=forced(), models=True)
    out = pipe.alpha(frame)
    entries = pipe.entry_columns(out)
    entered = (entries["enter_long"] == 1) | (entries["enter_short"] == 1)
    assert entered.any()
    assert (out.loc[entered, col.ML_SCORE] >= pipe.cfg.alpha.ml_threshold).all()
    dropped = 0
    for sig in pipe.signals:
        score = out[col.signal_score_column(sig.name)]
        firing = out[col.signal_column(sig.name, "dir")] != 0
        assert score[firing].between(0, 1).all() and score[~firing].isna().all()
        dropped += int((score[firing] < pipe.cfg.alpha.ml_threshold).sum())
    assert dropped > 0  # the gate bites on real data
    # Without the scorer the same candles trade on the signals' confidence alone.
    plain = Pipeline(load_hydra_config({"alpha": {"scorer": {"path": "x", "enabled": False}}}), 15)
    assert plain.alpha(frame)[col.ML_SCORE].isna().all()


@needs_data
def test_the_regime_model_decides_the_regime_and_the_rules_stay_beside_it():
    _, frame = assessed(cfg=forced(), models=True)
    probs = frame[[col.regime_prob_column(c) for c in CLASSES]]
    known = probs.notna().all(axis=1)
    assert known[frame["date"] >= pd.Timestamp("2024-01-01", tz="UTC")].all()  # known once warmed up
    assert np.allclose(probs[known].sum(axis=1), 1.0)
    assert (
        frame.loc[known, col.REGIME] == probs[known].idxmax(axis=1).str.replace("hydra_regime_p_", "").str.upper()
    ).all()
    assert frame[col.REGIME_RULES].isin(CLASSES).all()
    _, rules_only = assessed(cfg=load_hydra_config({"stats": {"regime_model": {"path": "x", "enabled": False}}}))
    assert (rules_only[col.REGIME] == rules_only[col.REGIME_RULES]).all()
    assert rules_only[col.regime_prob_column("RANGING")].isna().all()


def test_a_model_that_fails_its_checks_stops_new_entries(tmp_path):
    path = copy_model(SCORER, tmp_path)
    edit_card(path, sha256="0" * 64)
    pipe = Pipeline(forced(scorer=path), 15)
    pipe.load_models()
    assert "sha256" in pipe.model_block and "NOT LOADED" in pipe.scorer.status()
    frame = pd.DataFrame(
        {col.HEALTH_OK: [True], col.GATE: ["ALLOW"], col.DIRECTION: [1], col.SIGNAL: ["FUNDING_SQUEEZE"]}
    )
    assert pipe.entry_columns(frame)["enter_long"].sum() == 0
    verdict = pipe.verdict(frame.iloc[0].to_dict(), "long", "FUNDING_SQUEEZE")
    assert not verdict.allowed and "model check failed" in verdict.reason
    # enabled: true and no file at all also stops entries; auto mode runs without and says so.
    missing = Pipeline(forced(scorer=tmp_path / "absent.cbm"), 15)
    missing.load_models()
    assert "missing" in missing.model_block
    auto = Pipeline(load_hydra_config({"alpha": {"scorer": {"path": str(tmp_path / "absent.cbm")}}}), 15)
    auto.load_models()
    assert auto.model_block is None and "running without it" in auto.scorer.status()


# Training from the commands


@needs_data
def test_hydra_train_writes_reproducible_models_validated_walk_forward(tmp_path, capsys):
    args = ["--pairs", BTC, "ETH/USDT:USDT", "--timerange", "20220101-20220901", "--folds", "3", "--no-progress"]
    assert hydra(["train", "all", *args, "--output-dir", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "signal scorer:" in printed and "regime classifier:" in printed and "walk-forward (3 folds" in printed
    scorer = SignalScorer.load(tmp_path / "a" / "signal_scorer.cbm")
    regime = RegimeModel.load(tmp_path / "a" / "regime_classifier.ubj")
    for card in (scorer.card, regime.card):
        assert card["training"]["pairs"] == [BTC, "ETH/USDT:USDT"] and card["training"]["seed"] == 42
        for fold in card["walk_forward"]["folds"]:
            assert fold["train_end"] < fold["test_span"].split(" -> ")[0]
    assert scorer.card["training"]["span"].endswith("UTC") and scorer.card["training"]["span"] < "2022-09-01"
    fold = scorer.card["walk_forward"]["folds"][0]
    assert {"auc", "brier", "brier_base_rate", "precision", "recall", "calibration"} <= set(fold)
    assert {"macro_f1", "rules_macro_f1", "model", "rules"} <= set(regime.card["walk_forward"]["folds"][0])
    assert set(regime.card["walk_forward"]["folds"][0]["model"]["per_class"]) == set(CLASSES)
    # Same data, same seed: the same model (the scorer again, through the seed's script). CatBoost
    # stamps each file with a fresh model GUID, so the files differ; every prediction must not.
    script = [
        sys.executable,
        str(ROOT / "scripts" / "train_signal_scorer.py"),
        *args,
        "--output-dir",
        str(tmp_path / "b"),
    ]
    result = subprocess.run(script, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    again = SignalScorer.load(tmp_path / "b" / "signal_scorer.cbm")
    assert again.card["walk_forward"]["folds"] == scorer.card["walk_forward"]["folds"]
    rng = np.random.default_rng(0)
    probe = pd.DataFrame(rng.normal(size=(200, len(SCORER_FEATURES))), columns=list(SCORER_FEATURES))
    probe["sig_source"], probe["regime_rules"] = "FUNDING_SQUEEZE", "RANGING"
    assert np.array_equal(scorer.predict(probe), again.predict(probe))


def test_the_seed_scripts_are_thin_wrappers_of_hydra_train():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from train_ml_models import translate
    finally:
        sys.path.pop(0)
    assert translate(["--days", "90"]) == ["train", "all", "--days", "90"]
    assert translate(["--regime-only"]) == ["train", "regime"]
    assert translate(["--scorer-only", "--datadir", "d"]) == ["train", "scorer", "--datadir", "d"]
    with pytest.raises(SystemExit):
        translate(["--regime-only", "--scorer-only"])


@needs_data
def test_train_days_takes_the_last_days_of_the_data(capsys):
    from hydra_plugins.commands.train import days_timerange

    assert days_timerange(ResearchData(DATADIR), [BTC], 90) == "20240401-"
    assert hydra(["train", "scorer", "--pairs", BTC, "--days", "3", "--timerange", "20240101-"]) == 2
    assert "--days or --timerange" in capsys.readouterr().err


# The bridge: verified at bot_start, swapped at the next candle, announced


@needs_data
def test_bridge_announces_a_refused_model_and_swaps_in_a_fixed_one_at_the_next_candle(tmp_path):
    from tests.test_strategy import Hydra, ft_config

    path = copy_model(SCORER, tmp_path)
    edit_card(path, sha256="0" * 64)
    config = ft_config()
    config["hydra"]["alpha"]["scorer"] = {"path": str(path), "enabled": True}
    strategy = Hydra(config)
    sent = []
    strategy.dp = type("DP", (), {"send_msg": staticmethod(sent.append)})()
    from hydra_plugins.bridge import HydraBridge

    bridge = HydraBridge(strategy)
    bridge.start()
    t0 = datetime(2024, 3, 1, 0, 1, tzinfo=UTC)
    bridge.refresh_models(t0)  # the first loop tells the user what bot_start found
    assert any("signal scorer: NOT LOADED" in m for m in sent) and any("regime model: in use" in m for m in sent)
    assert bridge.ready.model_block and any("new entries stopped" in m for m in sent)
    copy_model(SCORER, tmp_path)  # a retraining run writes a good file
    bridge.refresh_models(t0.replace(minute=7))  # same candle: no swap yet
    assert bridge.ready.model_block
    bridge.refresh_models(t0.replace(minute=16))
    assert bridge.ready.model_block is None and bridge.ready.scorer.active is not None
    assert sent[-1] == "HYDRA: models verified, entries allowed"


def test_auto_mode_picks_up_a_first_model_written_while_running(tmp_path):
    cfg = load_hydra_config({"stats": {"regime_model": {"path": str(tmp_path / "regime_classifier.ubj")}}})
    pipe = Pipeline(cfg, 15)
    pipe.load_models()
    assert pipe.model_block is None and pipe.regime_model.active is None
    copy_model(REGIME, tmp_path)  # the first `hydra train regime` finishes
    assert pipe.refresh_models() and pipe.regime_model.active is not None


def test_config_check_reports_the_models_and_fails_on_a_broken_one(tmp_path, capsys):
    path = copy_model(SCORER, tmp_path)
    edit_card(path, features=list(reversed(SCORER_FEATURES)))
    overlay = tmp_path / "broken.json"
    overlay.write_text(json.dumps({"hydra": {"alpha": {"scorer": {"path": str(path), "enabled": True}}}}))
    assert hydra(["config", "check", "-c", str(ROOT / "config" / "config.json")]) == 0
    assert "regime model: in use" in capsys.readouterr().out
    assert hydra(["config", "check", "-c", str(ROOT / "config" / "config.json"), "-c", str(overlay)]) == 1
    captured = capsys.readouterr()
    assert "signal scorer: NOT LOADED" in captured.out and "would stop new entries" in captured.err


def test_each_trade_keeps_its_signal_candles_score_and_regime():
    from tests.test_strategy import FakeTrade, signal_frame, started_bridge

    frame = signal_frame().assign(
        **{col.ML_SCORE: [0.1, 0.61234, 0.3, 0.4], col.REGIME: ["RANGING", "SQUEEZE_LONG", "RANGING", "RANGING"]}
    )
    bridge = started_bridge(frame)
    trade = FakeTrade(datetime(2024, 3, 1, 0, 30, 4, tzinfo=UTC))  # signal candle: 00:15, the second row
    bridge.record_entry(trade)
    assert trade.custom["hydra_ml_score"] == 0.6123 and trade.custom["hydra_regime"] == "SQUEEZE_LONG"


def test_a_malformed_card_or_a_file_written_out_of_order_is_refused_then_retried(tmp_path):
    path = copy_model(SCORER, tmp_path)
    edit_card(path, library="catboost 1.2")  # not an object: the card fails its checks, nothing crashes
    slot = ModelSlot(path, SignalScorer.load)
    slot.refresh()
    assert slot.model is None and "library missing or of the wrong type" in slot.error
    # A copy that lands card first, model second: refused while the bytes disagree, taken once they agree.
    shutil.copy(card_path(SCORER), card_path(path))
    path.write_bytes(SCORER.read_bytes()[:100])
    slot.refresh()
    assert slot.model is None and "sha256" in slot.error
    shutil.copy(SCORER, path)
    assert slot.refresh() and slot.model is not None


@needs_data
def test_a_model_failing_at_run_time_stops_entries_and_the_rules_take_the_regime(monkeypatch):
    def broken(self, features):
        raise RuntimeError("corrupt tree")

    monkeypatch.setattr(RegimeModel, "predict", broken)
    monkeypatch.setattr(SignalScorer, "predict", broken)
    pipe, again = assessed(cfg=forced(), models=True)
    assert (again[col.REGIME] == again[col.REGIME_RULES]).all()
    assert "regime model" in pipe.model_block and "corrupt tree" in pipe.model_block
    out = pipe.alpha(again)
    assert not pipe.entry_columns(out)[["enter_long", "enter_short"]].to_numpy().any()
    assert "NOT LOADED" in pipe.scorer.status() and "corrupt tree" in pipe.scorer.status()
