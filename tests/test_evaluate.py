"""The walk-forward backtest: its windows, its overlays, leak-free training labels, and one real run."""

from __future__ import annotations

import argparse
import json
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest

from hydra_plugins.commands.evaluate import add_parser
from hydra_plugins.core.config import load_hydra_config
from hydra_plugins.core.errors import BacktestError
from hydra_plugins.training.datasets import regime_dataset, scorer_dataset
from hydra_plugins.training.evaluate import (
    ModelRecord,
    Window,
    equity_curves,
    model_overlay,
    walk_forward_backtest,
    walk_forward_windows,
)
from hydra_plugins.training.history import ResearchData
from tests.conftest import DATADIR, ROOT, needs_data

UTC = "UTC"
DAY = pd.Timedelta(days=1)
CANDLE = pd.Timedelta(minutes=15)
CONFIG = ROOT / "config" / "config.json"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


# The windows


def test_expanding_windows_train_from_the_start_and_test_consecutively():
    windows = walk_forward_windows(ts("2022-01-01"), ts("2022-12-31"), train_days=180, step_days=90)
    assert [w.number for w in windows] == [1, 2, 3]
    assert windows[0].test_start == ts("2022-01-01") + 180 * DAY
    for w in windows:
        assert w.train_start == ts("2022-01-01")
        assert w.train_end == w.test_start
    for before, after in pairwise(windows):
        assert after.test_start == before.test_end
    assert [w.test_end - w.test_start for w in windows[:-1]] == [90 * DAY, 90 * DAY]
    # 364 days = 180 + 90 + 90 + 4: the last test window is clipped at the end.
    assert windows[-1].test_end == ts("2022-12-31") and windows[-1].test_end - windows[-1].test_start == 4 * DAY


def test_rolling_windows_train_on_the_last_train_days_only():
    windows = walk_forward_windows(ts("2022-01-01"), ts("2023-07-01"), train_days=180, step_days=90, rolling=True)
    assert len(windows) == 5
    for w in windows:
        assert w.train_end == w.test_start
        assert w.test_start - w.train_start == 180 * DAY
    expanding = walk_forward_windows(ts("2022-01-01"), ts("2023-07-01"), train_days=180, step_days=90)
    assert [(w.test_start, w.test_end) for w in windows] == [(w.test_start, w.test_end) for w in expanding]
    assert windows[0].train_start == expanding[0].train_start
    assert windows[-1].train_start > expanding[-1].train_start


def test_a_span_that_fits_exactly_has_no_clipped_window():
    windows = walk_forward_windows("2022-01-01", "2022-03-02", train_days=30, step_days=15)
    assert [(w.test_start, w.test_end) for w in windows] == [
        (ts("2022-01-31"), ts("2022-02-15")),
        (ts("2022-02-15"), ts("2022-03-02")),
    ]
    assert windows[0].train_start.tz is not None  # naive input is read as UTC


def test_timeranges_for_training_and_for_freqtrade():
    w = Window(1, ts("2022-01-01"), ts("2022-04-01"), ts("2022-04-01"), ts("2022-05-01"))
    assert w.train_timerange == "20220101-20220401"  # the history loader keeps candles < 2022-04-01
    # Freqtrade's end is inclusive: the last candle opens 15 minutes before the window ends.
    assert w.test_timerange(CANDLE) == "20220401-20220430T2345"
    odd = Window(2, ts("2022-01-01 06:00"), ts("2022-04-01 06:00"), ts("2022-04-01 06:00"), ts("2022-05-01 06:00"))
    assert odd.test_timerange(CANDLE) == "20220401T0600-20220501T0545"


@pytest.mark.parametrize(
    ("start", "end", "train", "step", "message"),
    [
        ("2022-01-01", "2022-06-01", 180, 90, "too short for one walk-forward window"),
        ("2022-01-01", "2022-07-01", 181, 30, "too short for one walk-forward window"),
        ("2022-06-01", "2022-01-01", 30, 30, "is not after its start"),
        ("2022-01-01", "2022-12-31", 0, 30, "train_days must be a positive"),
        ("2022-01-01", "2022-12-31", 30, -1, "step_days must be a positive"),
        ("2022-01-01", "2022-12-31", 30, float("nan"), "step_days must be a positive"),
    ],
)
def test_window_errors_say_what_is_wrong(start, end, train, step, message):
    with pytest.raises(ValueError, match=message):
        walk_forward_windows(start, end, train, step)


@pytest.mark.parametrize(
    ("timerange", "message"),
    [
        ("20220101-", "needs both a start and an end"),
        ("2022-01-01:2022-06-01", "timerange"),
        ("20220101-20220301", "too short for one walk-forward window"),
    ],
)
def test_walk_forward_backtest_refuses_a_bad_timerange_before_any_work(tmp_path, timerange, message):
    with pytest.raises(ValueError, match=message):
        walk_forward_backtest([CONFIG], tmp_path, ["BTC/USDT:USDT"], timerange, output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_walk_forward_backtest_refuses_an_unknown_model(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        walk_forward_backtest([CONFIG], tmp_path, None, "20220101-20230701", models="both", output_dir=tmp_path)


# The overlays and the curves


def test_model_overlay_auto_forced_and_off():
    auto = ModelRecord("scorer", path="/m/signal_scorer.cbm", trained=True, recommended=False)
    forced = ModelRecord("regime", path="/m/regime_classifier.ubj", trained=True, forced=True)
    overlay = model_overlay({"scorer": auto, "regime": forced})
    assert overlay["hydra"]["alpha"]["scorer"] == {"path": "/m/signal_scorer.cbm", "enabled": None}
    assert overlay["hydra"]["stats"]["regime_model"] == {"path": "/m/regime_classifier.ubj", "enabled": True}
    # A model not asked for, or that could not be trained, is off: never the shipped in-sample file.
    untrained = ModelRecord("scorer", error="6 signal rows are too few", forced=True)
    overlay = model_overlay({"scorer": untrained})
    assert overlay["hydra"]["alpha"]["scorer"]["enabled"] is False
    assert overlay["hydra"]["stats"]["regime_model"]["enabled"] is False
    # The overlay is valid for the strategy's config model, and JSON null reads as auto.
    parsed = load_hydra_config(json.loads(json.dumps(model_overlay({"scorer": auto})))["hydra"])
    assert parsed.alpha.scorer.enabled is None and parsed.stats.regime_model.enabled is False


def test_equity_curves_chain_windows_from_the_wallet():
    windows = walk_forward_windows("2022-01-01", "2022-03-02", train_days=30, step_days=15)
    trades = pd.DataFrame(
        {
            "run": ["models", "models", "baseline"],
            "window": [1, 2, 2],
            "close_date": [ts("2022-02-03"), ts("2022-02-20"), ts("2022-02-21")],
            "profit_abs": [100.0, -50.0, -10.0],
        }
    )
    curves = equity_curves(trades, windows, 1000.0)
    assert curves["models"].tolist() == [1000.0, 1100.0, 1050.0]
    assert curves["models"].index[0] == windows[0].test_start
    assert curves["baseline"].tolist() == [1000.0, 990.0]


# No training label reads the test window


@needs_data
def test_training_labels_are_known_before_the_training_range_ends():
    """The loader cuts candles at the range's end, so every label kept is the one the full history gives."""
    cfg = load_hydra_config(json.loads(CONFIG.read_text())["hydra"])
    data = ResearchData(DATADIR)
    pair, cut = ["BNB/USDT:USDT"], ts("2022-03-07")  # signals fire in the day before, some trades still open
    short = scorer_dataset(cfg, data, pair, "20220101-20220307")
    full = scorer_dataset(cfg, data, pair, "20220101-20220407")
    key = ["pair", "date", "signal"]
    assert len(short) > 100 and short["date"].max() < cut
    joined = short.merge(full, on=key, suffixes=("", "_full"), validate="one_to_one")
    assert len(joined) == len(short)  # every short row exists in the longer history...
    assert (joined["profitable"] == joined["profitable_full"]).all()  # ...with the same outcome
    assert (joined["net_pct"] - joined["net_pct_full"]).abs().max() < 1e-12
    # The rows the cut dropped are trades still open at the cut: their outcome needed later candles.
    before = full[full["date"] < cut - CANDLE]
    dropped = before.merge(short[key], on=key, how="left", indicator=True).query("_merge == 'left_only'")
    assert len(dropped) > 0 and (dropped["label_end"] > cut).all()

    regime = regime_dataset(cfg, data, pair, "20220101-20220307")
    assert len(regime) > 1000 and (regime["label_end"] <= cut).all()


# One real walk-forward backtest


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hydra")
    add_parser(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@needs_data
@pytest.mark.backtest
def test_walk_forward_backtest_end_to_end(tmp_path, clean_env, capsys):
    out = tmp_path / "wf"
    code = _cli(
        [
            "evaluate", "walk-forward", "-c", str(CONFIG), "--datadir", str(DATADIR),
            "--pairs", "BNB/USDT:USDT", "SOL/USDT:USDT", "--timerange", "20220101-20220630",
            "--train-days", "90", "--step-days", "30", "--force-models", "--output-dir", str(out), "--no-progress",
            "--store", str(tmp_path / "no-store.sqlite"),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "| window | training | test |" in printed and "with the models of their time" in printed
    for name in ("walk_forward.md", "walk_forward.json", "walk_forward_trades.csv"):
        assert (out / name).stat().st_size > 0
    assert (out / "walk_forward_equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The same backtest report as hydra report backtest, with the out-of-sample run as its headline.
    assert "Report (out of sample):" in printed
    summary = json.loads((out / "report.json").read_text())
    totals = json.loads((out / "walk_forward.json").read_text())["totals"]
    rows = {m["strategy"]: m for m in summary["metrics"]}
    assert list(rows) == [
        "Hydra, walk-forward (models of their time)", "Hydra, walk-forward, no models", "Buy-and-hold (equal weight)"
    ]  # fmt: skip
    for run, label in (
        ("models", "Hydra, walk-forward (models of their time)"),
        ("baseline", "Hydra, walk-forward, no models"),
    ):
        assert rows[label]["trades"] == totals[run]["trades"]
        assert rows[label]["final_balance"] == pytest.approx(totals[run]["final_balance"], rel=1e-9)
    assert summary["title"] == "HYDRA walk-forward backtest (out of sample)"
    assert summary["ml"]["signals"] > 0  # judged by each window's own scorer
    assert sum(r["trades"] for r in summary["per_regime"]) == totals["models"]["trades"]
    assert "unknown" not in {r["regime at entry"] for r in summary["per_regime"]}
    assert (out / "report_equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary["risk_events"] is not None  # the models run's journals, one per window, counted
    assert len(list(out.glob("window_*/backtest_models_risk_journal.jsonl"))) == 3  # the three windows

    report = json.loads((out / "walk_forward.json").read_text())
    windows = report["windows"]
    assert [(w["test_start"][:10], w["test_end"][:10]) for w in windows] == [
        ("2022-04-01", "2022-05-01"),
        ("2022-05-01", "2022-05-31"),
        ("2022-05-31", "2022-06-30"),
    ]
    runs = report["runs"]
    assert set(runs) == {"models", "baseline"} and all(len(runs[r]) == 3 for r in runs)

    # Balances chain: each window starts where the previous one of the same run ended.
    for rows in runs.values():
        assert rows[0]["starting_balance"] == pytest.approx(10_000.0)
        for before, after in pairwise(rows):
            assert after["starting_balance"] == pytest.approx(before["final_balance"], abs=1e-6)
        assert report["totals"][rows[0]["run"]]["final_balance"] == pytest.approx(rows[-1]["final_balance"])

    # Every out-of-sample trade lies inside its own test window.
    trades = pd.read_csv(out / "walk_forward_trades.csv", parse_dates=["open_date", "close_date"])
    assert len(trades) > 0 and set(trades["run"]) <= {"models", "baseline"}
    bounds = {w["number"]: (pd.Timestamp(w["test_start"]), pd.Timestamp(w["test_end"])) for w in windows}
    for row in trades.itertuples():
        start, end = bounds[row.window]
        assert start <= row.open_date and row.close_date <= end, row
    for run, rows in runs.items():
        for r in rows:
            assert (trades[(trades["run"] == run) & (trades["window"] == r["window"])].shape[0]) == r["trades"]

    # The models of window k were trained on candles before its test window only, and were in use.
    for w, with_models in zip(windows, runs["models"], strict=True):
        test_start = pd.Timestamp(w["test_start"])
        assert {m["name"] for m in with_models["models"]} == {"scorer", "regime"}
        for m in with_models["models"]:
            card = json.loads(Path(m["path"]).with_suffix(".meta.json").read_text())
            assert Path(m["path"]).parent == out / f"window_{w['number']:02d}" / "models"
            assert card["training"]["timerange"] == w["train_timerange"]
            span_end = pd.Timestamp(card["training"]["span"].split(" -> ")[1].removesuffix(" UTC"), tz=UTC)
            assert span_end < test_start
            assert m["forced"] and m["in_use"] and m["status"].startswith(f"in use ({m['path']} sha256"), m
            assert m["recommended"] == card["recommended"] and m["training_rows"] == card["training"]["rows"]

    # The baseline ran the same windows with both models off.
    for w in windows:
        folder = out / f"window_{w['number']:02d}"
        overlay = json.loads((folder / "overlay_baseline.json").read_text())["hydra"]
        assert overlay["alpha"]["scorer"]["enabled"] is False and overlay["stats"]["regime_model"]["enabled"] is False
        log = (folder / "freqtrade_baseline.log").read_text()
        assert "HYDRA signal scorer: off (config)" in log and "HYDRA regime model: off (config)" in log
    assert runs["baseline"][0]["models"] == []


@needs_data
@pytest.mark.backtest
def test_a_failing_backtest_raises_with_freqtrade_s_last_lines(tmp_path, clean_env):
    with pytest.raises(BacktestError, match=r"(?s)window 1 \(models.*NoSuchStrategy"):
        walk_forward_backtest(
            [CONFIG], DATADIR, ["BTC/USDT:USDT"], "20220101-20220215", train_days=30, step_days=15,
            models="regime", output_dir=tmp_path, strategy="NoSuchStrategy",
        )  # fmt: skip


def test_the_command_s_defaults_and_choices():
    from hydra_plugins.commands import evaluate as command
    from hydra_plugins.training import evaluate as training

    assert command.MODEL_CHOICES == training.MODEL_CHOICES
    parser = argparse.ArgumentParser(prog="hydra")
    add_parser(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(["evaluate", "walk-forward"])
    assert (args.timerange, args.train_days, args.step_days, args.model) == ("20220101-20230701", 180, 90, "all")
    assert not (args.rolling or args.force_models or args.no_progress) and args.wallet is None and args.config is None
    assert args.output_dir == "user_data/hydra/walk_forward" and args.func is command.cmd_walk_forward
    args = parser.parse_args(
        ["evaluate", "walk-forward", "-c", "a.json", "-c", "b.json", "--rolling", "--model", "regime"]
    )
    assert args.config == ["a.json", "b.json"] and args.rolling and args.model == "regime"
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "walk-forward", "--model", "both"])
