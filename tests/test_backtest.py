"""Freqtrade itself runs Hydra offline on real data: backtesting, lookahead and recursive analysis."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from freqtrade.data.btanalysis import load_backtest_data
from freqtrade.misc import deep_merge_dicts

from hydra_plugins.alpha.signals import REGISTRY
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import load_hydra_config
from hydra_plugins.pipeline import STARTUP_CANDLES, Pipeline
from hydra_plugins.risk.journal import BACKTEST_JOURNAL, count_events, read_journal
from hydra_plugins.training.history import ResearchData, load_pair
from tests.conftest import DATADIR, ROOT, needs_data

pytestmark = [needs_data, pytest.mark.backtest]
# Freqtrade's names for the stop (trailing_stop_loss once HYDRA has moved it in) and HYDRA's own exits.
KNOWN_EXITS = (
    {
        "stop_loss",
        "trailing_stop_loss",
        "hydra_stop",
        "hydra_take_profit",
        "hydra_time_stop",
        "force_exit",
        "hydra_llm_exit",
    }
    | {f"hydra_thesis_{name.lower()}" for name in REGISTRY}
    | {f"hydra_kill_{switch}" for switch in ("daily_drawdown", "funding_spike", "cascade", "regime_break")}
)
FREQTRADE = str(Path(sys.executable).with_name("freqtrade"))


def freqtrade(command: str, offline_config: Path, userdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        FREQTRADE, command, "--strategy", "Hydra",
        "-c", str(ROOT / "config" / "config.json"), "-c", str(offline_config),
        "--strategy-path", str(ROOT / "user_data" / "strategies"),
        "--userdir", str(userdir), "--datadir", str(DATADIR), *args,
    ]  # fmt: skip
    # The user's .env and FREQTRADE__* variables must not change what the test measures.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREQTRADE__")} | {"HYDRA_DOTENV": "0"}
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def kill_switch_check(trades: pd.DataFrame, journal: list[dict]) -> list[tuple[dict, pd.Series]]:
    """Pair every firing with the trades it covered (open when it fired); assert each was closed within a candle."""
    candle = pd.Timedelta(minutes=15)
    covered = []
    for firing in (r for r in journal if r["event"] == "fired"):
        fired = pd.Timestamp(firing["time"])
        for _, trade in trades.iterrows():
            side = "short" if trade["is_short"] else "long"
            open_then = trade["open_date"] < fired <= trade["close_date"]
            if open_then and firing["pair"] in ("*", trade["pair"]) and firing.get("side") in (None, side):
                covered.append((firing, trade))
                assert trade["close_date"] <= fired + candle, (firing, trade.to_dict())
    return covered


def test_a_kill_switch_flattens_every_position_it_covers_within_one_candle(offline_config, userdir):
    """FTX's collapse: SOL's funding settled at -0.54 % on 2022-11-28 with a SOL long open (the crash shows
    funding at -2 % on the 10th); the funding spike switch closes it in the candle it fires."""
    all_signals = str(ROOT / "config" / "all-signals.json")
    args = ["-c", all_signals, "--timerange", "20221125-20221130", "--cache", "none", "--enable-protections"]
    freqtrade("backtesting", offline_config, userdir, *args)
    trades = load_backtest_data(userdir / "backtest_results")
    journal = read_journal(userdir / BACKTEST_JOURNAL)
    covered = kill_switch_check(trades, journal)
    assert covered, "no position was open when a switch fired"
    firing, trade = covered[0]
    assert (firing["code"], trade["pair"]) == ("funding_spike", "SOL/USDT:USDT")
    assert trade["exit_reason"] == "hydra_kill_funding_spike"
    assert pd.Timestamp(firing["time"]) == trade["close_date"]  # closed at the open of the next candle
    refused = count_events(journal)["refused"]
    assert refused["kill_funding_spike"] > 0  # and SOL's entries were refused while it was in force
    assert set(trades["exit_reason"]) <= KNOWN_EXITS

    # The same span with the switches disarmed: the position rides on.
    freqtrade("backtesting", offline_config, userdir, *args, "-c", str(ROOT / "config" / "no-kill-switches.json"))
    off = load_backtest_data(userdir / "backtest_results")
    assert not off["exit_reason"].str.startswith("hydra_kill_").any()
    assert not [r for r in read_journal(userdir / BACKTEST_JOURNAL) if r["event"] == "fired"]


def test_backtest_three_months_trades_with_hydra_tags(offline_config, userdir):
    all_signals = str(ROOT / "config" / "all-signals.json")
    result = freqtrade(
        "backtesting", offline_config, userdir, "-c", all_signals, "--timerange", "20240101-20240401", "--cache", "none"
    )
    assert "STRATEGY SUMMARY" in result.stdout
    trades = load_backtest_data(userdir / "backtest_results")
    assert len(trades) >= 20
    assert set(trades["enter_tag"]) <= set(REGISTRY)
    # Several of the five signals trade, each attributed by its enter_tag (ENTER TAG STATS).
    assert trades["enter_tag"].nunique() >= 3, trades["enter_tag"].value_counts()
    assert trades["enter_tag"].notna().all()
    assert trades["is_short"].any() and (~trades["is_short"]).any()
    assert trades["pair"].nunique() >= 5
    # Thesis-health exits: trades close when their signal's invalidation condition holds.
    reasons = set(trades["exit_reason"])
    assert any(r.startswith("hydra_thesis_") for r in reasons), reasons
    assert reasons <= KNOWN_EXITS, reasons
    # 1 % risk sizing: no single trade may lose much more than 1 % of the 10 000 USDT wallet.
    assert trades["profit_abs"].min() > -0.0125 * 10_000


@pytest.mark.parametrize(
    ("overlays", "min_signals"),
    [(["all-signals.json"], 15), (["all-signals.json", "ml-gate.json"], 8)],
    ids=["regime-model", "regime-model-and-scorer"],
)
def test_lookahead_analysis_finds_no_bias(offline_config, userdir, tmp_path, overlays, min_signals):
    report = tmp_path / "lookahead.csv"
    configs = [arg for name in overlays for arg in ("-c", str(ROOT / "config" / name))]
    result = freqtrade(
        "lookahead-analysis", offline_config, userdir, *configs,
        "--timerange", "20240201-20240315", "--lookahead-analysis-exportfilename", str(report),
    )  # fmt: skip
    logs = result.stdout + result.stderr
    assert "HYDRA regime model: in use" in logs
    assert ("HYDRA signal scorer: in use" in logs) == ("ml-gate.json" in overlays)
    with report.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1
    assert rows[0]["has_bias"] == "False", rows[0]
    assert int(rows[0]["total_signals"]) >= min_signals
    assert rows[0]["biased_entry_signals"] == "0" and rows[0]["biased_indicators"] == ""


def test_backtest_trades_only_what_the_signal_scorer_passes(offline_config, userdir):
    """The L3 gate in a real backtest: every trade's signal candle scored at or above the threshold."""
    overlays = ["all-signals.json", "ml-gate.json"]
    configs = [arg for name in overlays for arg in ("-c", str(ROOT / "config" / name))]
    freqtrade(
        "backtesting", offline_config, userdir, *configs, "--timerange", "20240101-20240301",
        "--cache", "none", "--export", "trades",
    )  # fmt: skip
    trades = load_backtest_data(userdir / "backtest_results")
    assert len(trades) >= 5
    # Recompute what the strategy saw, independently of the backtest, from the same config.
    merged = {}
    for name in ["config.json", *overlays]:
        merged = deep_merge_dicts(json.loads((ROOT / "config" / name).read_text()).get("hydra", {}), merged)
    pipe = Pipeline(load_hydra_config(merged), 15)
    pipe.load_models()
    assert pipe.scorer.active is not None
    threshold = pipe.cfg.alpha.ml_threshold
    below = 0
    for pair, group in trades.groupby("pair"):
        start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-03-02", tz="UTC")
        candles, inputs = load_pair(ResearchData(DATADIR), pair, start, end, STARTUP_CANDLES)
        frame = pipe.alpha(pipe.populate(candles, inputs)).set_index("date")
        for trade in group.itertuples():
            row = frame.loc[pd.Timestamp(trade.open_date) - pd.Timedelta(minutes=15)]
            assert row[col.SIGNAL] == trade.enter_tag
            assert row[col.ML_SCORE] >= threshold, (pair, trade.open_date, row[col.ML_SCORE])
        firing = np.logical_or.reduce([frame[col.signal_column(s.name, "dir")] != 0 for s in pipe.signals])
        scores = frame[[col.signal_score_column(s.name) for s in pipe.signals]]
        below += int((scores[firing] < threshold).any(axis=1).sum())
    assert below > 0  # signals the gate turned away


def test_recursive_analysis_confirms_the_startup_candle_count(offline_config, userdir):
    result = freqtrade(
        "recursive-analysis", offline_config, userdir,
        "--timerange", "20240101-20240201", "-p", "ETH/USDT:USDT", "--startup-candle", "800", "2400",
    )  # fmt: skip
    table = result.stdout + result.stderr
    rows = [line for line in table.splitlines() if "hydra_" in line and "│" in line]
    assert rows, table[-3000:]
    for line in rows:
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        name, at_declared, at_longer = cells[0], cells[2], cells[3]
        # At the declared count every column matches a longer warm-up to float precision.
        assert at_declared in ("-", "0.000%", "-0.000%"), (name, cells)
        assert at_longer in ("-", "0.000%", "-0.000%"), (name, cells)
    # ...while half of it is not enough: the 14-day volatility regime is still filling.
    short = {c[0]: c[1] for c in ([x.strip() for x in line.strip("│ ").split("│")] for line in rows)}
    assert short["hydra_vol_pctile"] not in ("-", "0.000%", "-0.000%"), short


def test_backtest_reads_imported_open_interest_and_ratios(offline_config, userdir, tmp_path):
    """The importer's output is what `freqtrade backtesting` loads: the strategy sees it, point in time."""
    metrics = DATADIR.parent / "binance-metrics"
    if not metrics.is_dir():
        pytest.skip("no metrics archive")
    datadir = tmp_path / "binance"
    (datadir / "futures").mkdir(parents=True)
    for src in (DATADIR / "futures").glob("BTC_USDT_USDT-*"):
        (datadir / "futures" / src.name).symlink_to(src)
    store = userdir / "hydra" / "intel.sqlite"
    hydra = str(Path(sys.executable).with_name("hydra"))
    subprocess.run(
        [hydra, "intel", "import-metrics", str(metrics / "BTCUSDT"), "--datadir", str(datadir), "--store", str(store)],
        check=True, capture_output=True, env={**os.environ, "HYDRA_DOTENV": "0"},
    )  # fmt: skip
    cmd = [
        FREQTRADE, "backtesting", "--strategy", "Hydra", "-c", str(ROOT / "config" / "config.json"),
        "-c", str(offline_config), "--strategy-path", str(ROOT / "user_data" / "strategies"),
        "--userdir", str(userdir), "--datadir", str(datadir), "-p", "BTC/USDT:USDT",
        "--timerange", "20240502-20240505", "--cache", "none",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREQTRADE__")} | {"HYDRA_DOTENV": "0"}
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    # Freqtrade's log handler may wrap the line: read the numbers after the marker, wherever they are.
    text = " ".join(result.stderr.split("HYDRA intel coverage BTC/USDT:USDT", 1)[1].split())
    shares = {
        k: int(v)
        for k, v in re.findall(r"(funding|open_interest|ratios|premium_index|depth|liquidations recorded) (\d+)%", text)
    }
    assert shares["funding"] == 100
    # The backtest's frame starts 1600 candles (16+ days) before 2024-05-02, where no OI exists yet
    # (but for 2024-04-12), and covers 3 days with it: about 4 days of 19.
    assert 12 <= shares["open_interest"] <= 30 and 12 <= shares["ratios"] <= 30
    assert shares["premium_index"] == 0 and shares["depth"] == 0 and shares["liquidations recorded"] == 0


def test_hyperopt_tunes_the_signal_thresholds(offline_config, userdir):
    """`freqtrade hyperopt --spaces buy` finds HYDRA's parameters and each epoch's values reach the signals."""
    freqtrade(
        "hyperopt", offline_config, userdir, "-c", str(ROOT / "config" / "all-signals.json"),
        "--timerange", "20240101-20240301", "-p", "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT",
        "--spaces", "buy", "-e", "5", "-j", "1", "--random-state", "7", "--hyperopt-loss", "SharpeHyperOptLossDaily",
        "--disable-param-export",
    )  # fmt: skip
    (results,) = (userdir / "hyperopt_results").glob("*.fthypt")
    epochs = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(epochs) == 5
    expected = {f"{name.lower()}_{p}" for name, cls in REGISTRY.items() for p in cls.params}
    assert all(set(e["params_dict"]) == expected for e in epochs)
    assert len({e["results_metrics"]["total_trades"] for e in epochs}) >= 2  # the thresholds change the trading


def test_a_replayed_news_journal_vetoes_entries_and_exits_at_the_first_candle_it_is_known(offline_config, userdir):
    from datetime import UTC, datetime, timedelta

    from hydra_plugins.alpha.news_verdict import parse_verdict
    from hydra_plugins.alpha.verdict_journal import VerdictJournal

    journal = VerdictJournal(userdir / "hydra" / "llm_journal.sqlite")

    def verdict(base, action, at, hours):
        raw = {"action": action, "confidence": 0.8, "horizon_hours": 4, "reasons": ["test"], "article_ids": []}
        journal.record_verdict(parse_verdict(raw, base, [], at, timedelta(hours=hours)), prompt_hash="t", model="m")

    bearish_from = datetime(2022, 11, 26, tzinfo=UTC)
    exit_known = datetime(2022, 11, 28, 5, 7, tzinfo=UTC)  # between two candles
    verdict("BNB", "bearish", bearish_from, 24)
    verdict("SOL", "exit", exit_known, 1)
    overlay = userdir / "analyst.json"
    overlay.write_text(json.dumps({"hydra": {"alpha": {"news_analyst": {"enabled": True}}}}))
    args = ["-c", str(ROOT / "config" / "all-signals.json"), "-c", str(overlay), "--timerange", "20221125-20221130"]
    result = freqtrade("backtesting", offline_config, userdir, *args, "--cache", "none")
    assert "LLM gate reads" in result.stderr + result.stdout
    trades = load_backtest_data(userdir / "backtest_results")
    # The exit verdict closes the SOL long open when it became known, at the next candle's open, never earlier.
    sol = trades[(trades["pair"] == "SOL/USDT:USDT") & (trades["open_date"] < exit_known)]
    sol = sol[sol["close_date"] >= exit_known]
    assert len(sol) == 1 and sol.iloc[0]["exit_reason"] == "hydra_llm_exit"
    assert sol.iloc[0]["close_date"] == pd.Timestamp("2022-11-28 05:15", tz="UTC")
    # The bearish verdict: no BNB long opened while it was in force, and the refusals say why.
    bnb = trades[(trades["pair"] == "BNB/USDT:USDT") & ~trades["is_short"]]
    opened = bnb["open_date"]
    assert not ((opened >= bearish_from) & (opened < bearish_from + pd.Timedelta(hours=24))).any()
    refused = count_events(read_journal(userdir / BACKTEST_JOURNAL))["refused"]
    assert refused["llm_bearish"] > 0
