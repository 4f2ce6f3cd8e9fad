"""``hydra evaluate``: Hydra, its ablations, a reference strategy and buy-and-hold, in one run on the same data.

Every variant is a real ``freqtrade backtesting`` run with the same config files, data, pairs,
timerange, wallet, fees and protections, behind one offline market snapshot; an ablation adds one
overlay and changes nothing else:

==========================  ====================================================================
Hydra                       the config as given
without the ML gate         ``hydra.alpha.scorer.enabled: false``
without the LLM gate        ``hydra.alpha.news_analyst.enabled: false``
without kill switches       ``hydra.risk.kill_switches.enabled: false``
reference strategy          Freqtrade's bundled ``SampleStrategy`` (RSI, TEMA, Bollinger bands), run on
                            Hydra's timeframe
buy-and-hold                equal weight over the same pairs (:func:`~hydra_plugins.evaluation.equity.buy_and_hold`)
==========================  ====================================================================

An ablation whose overlay leaves HYDRA's settings as they were (the LLM gate is off by default) is
not run again: its row is Hydra's, and the table says so. The comparison table, the plot and Hydra's
own breakdowns go into one report (:mod:`hydra_plugins.evaluation.report`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import freqtrade
import pandas as pd
from freqtrade.configuration.load_config import load_from_files
from freqtrade.misc import deep_merge_dicts

from hydra_plugins.core.config import HydraConfig, load_hydra_config
from hydra_plugins.evaluation import equity
from hydra_plugins.evaluation.evidence import ScorerWindow, input_coverage, ml_accuracy
from hydra_plugins.evaluation.report import (
    Report,
    Run,
    build_report,
    load_prices,
    load_result,
    missing_pairs,
    model_sample_notes,
    research_data,
    scorer_note,
    write_report,
)
from hydra_plugins.replay.markets import MarketsServer, ccxt_overlay, load_snapshot
from hydra_plugins.training.backtests import backtest_journal, model_statuses, run_backtest, user_data_path
from hydra_plugins.training.evaluate import freqtrade_time
from hydra_plugins.training.history import parse_timerange

REFERENCE = "SampleStrategy"
MODEL_NAMES = {"scorer": "signal scorer", "regime": "regime model"}
# What Hydra's log says of a scorer that took no part (pipeline.ModelUse.status); "NOT LOADED" is not one of them:
# a scorer that fails its checks stops every new entry, so turning it off changes everything.
SCORER_UNUSED = ("off (config)", "no model at", "verified but not used")


def sample_strategy(folder: Path) -> Path:
    """Copy Freqtrade's bundled sample strategy into ``folder`` (for ``--strategy-path``); return ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py", folder)
    return folder


@dataclass(frozen=True)
class Variant:
    """One row of the comparison: a strategy and the overlay that makes it."""

    key: str
    label: str
    strategy: str = "Hydra"
    overlay: Callable[[HydraConfig], dict[str, Any]] | None = None  # the hydra section's change, from the config


VARIANTS = (
    Variant("hydra", "Hydra"),
    Variant(
        "no_ml_gate",
        "Hydra without the ML gate",
        overlay=lambda cfg: {"alpha": {"scorer": {"path": cfg.alpha.scorer.path, "enabled": False}}},
    ),
    Variant(
        "no_llm_gate", "Hydra without the LLM gate", overlay=lambda cfg: {"alpha": {"news_analyst": {"enabled": False}}}
    ),
    Variant(
        "no_kill_switches",
        "Hydra without kill switches",
        overlay=lambda cfg: {"risk": {"kill_switches": {"enabled": False}}},
    ),
    Variant("reference", f"Reference: Freqtrade's {REFERENCE}", strategy=REFERENCE),
)


@dataclass
class Evaluation:
    """What ``hydra evaluate`` measured and where it wrote it."""

    report: Report
    files: dict[str, Path]
    same_as_hydra: dict[str, str] = field(default_factory=dict)  # variant label -> why it was not run again


def _hydra_section(config: Mapping[str, Any]) -> HydraConfig:
    return load_hydra_config(config.get("hydra"))


def _unchanged(
    config: Mapping[str, Any], cfg: HydraConfig, change: dict[str, Any], variant: Variant, models: Mapping[str, str]
) -> str:
    """Why ``variant`` would trade exactly as Hydra did ("" when it might not): its overlay changes no setting, or
    it turns off a model Hydra's run did not use."""
    if _hydra_section(deep_merge_dicts({"hydra": change}, json.loads(json.dumps(config)))) == cfg:
        return f"its overlay {json.dumps(change)} changes nothing in this config"
    status = models.get("scorer", "")
    if variant.key == "no_ml_gate" and status.startswith(SCORER_UNUSED):
        return f"the signal scorer was not in use in Hydra's run ({status.split(' (')[0]})"
    return ""


def verdict_journal(config: Mapping[str, Any], cfg: HydraConfig) -> Path:
    """The news analyst's verdict journal the backtests of ``config`` read (the LLM gate's input)."""
    return user_data_path(config, cfg.alpha.news_analyst.journal_path)


def _forget(output_dir: Path, key: str) -> None:
    """Remove what an earlier evaluation in ``output_dir`` wrote for the variant ``key``."""
    shutil.rmtree(output_dir / f"backtest_{key}", ignore_errors=True)
    for stale in (
        output_dir / f"overlay_{key}.json",
        output_dir / f"freqtrade_{key}.log",
        output_dir / f"backtest_{key}.txt",
        output_dir / f"backtest_{key}_risk_journal.jsonl",
    ):
        stale.unlink(missing_ok=True)


def evaluate(
    config_files: Sequence[Path],
    datadir: Path,
    timerange: str,
    output_dir: Path,
    *,
    pairs: Sequence[str] | None = None,
    wallet: float | None = None,
    store: Path | None = None,
    overrides: Mapping[str, float] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Evaluation:
    """Backtest every variant on ``timerange``, compare them with buy-and-hold, write the report into ``output_dir``."""
    config_files = [Path(p) for p in config_files]
    missing = [str(p) for p in config_files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"config file(s) not found: {', '.join(missing)}")
    datadir = Path(datadir)
    if not datadir.is_dir():
        raise FileNotFoundError(f"no Freqtrade data in {datadir}")
    start, end = parse_timerange(timerange)
    if start is None or end is None:
        raise ValueError(f"timerange {timerange!r} needs both a start and an end, e.g. 20230701-20240630")
    config = load_from_files([str(p) for p in config_files])
    cfg = _hydra_section(config)
    pairs = list(pairs or config.get("exchange", {}).get("pair_whitelist") or [])
    if not pairs:
        raise ValueError("no pairs: pass --pairs or a config with exchange.pair_whitelist")
    wallet = float(wallet if wallet is not None else config.get("dry_run_wallet", 10_000))
    timeframe = str(config.get("timeframe", "15m"))
    output_dir.mkdir(parents=True, exist_ok=True)

    runs: dict[str, Run] = {}
    same: dict[str, str] = {}
    stats: dict[str, Mapping[str, Any]] = {}
    models: dict[str, str] = {}
    server = MarketsServer(load_snapshot(None), port=0).start()
    try:
        with tempfile.TemporaryDirectory(prefix="hydra-evaluate-") as tmp:
            offline = Path(tmp) / "offline.json"
            offline.write_text(json.dumps(ccxt_overlay(server.url)))
            strategies = sample_strategy(Path(tmp) / "strategies")
            for variant in VARIANTS:
                files = [*config_files, offline]
                extra: list[str] = ["--timeframe", timeframe]
                if variant.overlay is not None:
                    change = variant.overlay(cfg)
                    why = _unchanged(config, cfg, change, variant, models)
                    if why:
                        same[variant.label] = why
                        _forget(output_dir, variant.key)  # an earlier evaluation's files for it would mislead
                        hydra = runs["hydra"]
                        runs[variant.key] = replace(hydra, label=variant.label)
                        continue
                    overlay = output_dir / f"overlay_{variant.key}.json"
                    overlay.write_text(json.dumps({"hydra": change}, indent=4))
                    files.append(overlay)
                if variant.strategy == REFERENCE:
                    extra += ["--strategy-path", str(strategies)]
                progress(f"backtesting {variant.label}")
                result = run_backtest(
                    variant.strategy, files, datadir=datadir, timerange=timerange, pairs=pairs, wallet=wallet,
                    out=output_dir / f"backtest_{variant.key}", logfile=output_dir / f"freqtrade_{variant.key}.log",
                    extra_args=extra, what=variant.label,
                    risk_journal=backtest_journal(config) if variant.strategy == "Hydra" else None,
                )  # fmt: skip
                stats[variant.key] = result.stats
                if variant.key == "hydra":
                    models = model_statuses(output_dir / "freqtrade_hydra.log")
                journals = (result.risk_journal,) if result.risk_journal is not None else ()
                runs[variant.key] = Run(
                    variant.label, result.trades, result.config, result.entries, str(result.result), journals
                )
    finally:
        server.stop()

    hydra_stats = stats["hydra"]
    tf = pd.Timedelta(hydra_stats["timeframe"])
    span = equity.Span(
        start=pd.Timestamp(hydra_stats["backtest_start"], tz="UTC"),
        end=pd.Timestamp(hydra_stats["backtest_end"], tz="UTC") + tf,
        timeframe=tf,
        wallet=wallet,
    )
    traded = list(hydra_stats.get("pairlist", pairs))
    prices = load_prices(datadir, traded, span, timeframe)
    progress("measuring the scorer and the inputs")
    data = research_data(datadir, timeframe, store)
    ml = ml_accuracy(
        cfg, data, traded, timerange, [ScorerWindow(Path(cfg.alpha.scorer.path), span.start, span.end)], overrides
    )
    report = build_report(
        "HYDRA evaluation: baselines and ablations",
        [
            "Every strategy below was backtested by freqtrade backtesting in this one run, on the same data, pairs, "
            f"timerange ({timerange}), wallet, fees and protections; config {', '.join(map(str, config_files))}.",
            *model_sample_notes(cfg, span),
        ],
        [runs[v.key] for v in VARIANTS],
        span,
        traded,
        prices,
        ml=ml,
        ml_note=scorer_note(cfg, runs["hydra"], ml is not None, models.get("scorer")),
        inputs=input_coverage(cfg, data, traded, timerange, verdict_journal(config, cfg)),
        notes=[
            *(f"{label}: not run again, {why}; its row is Hydra's." for label, why in same.items()),
            *(f"In Hydra's run the {MODEL_NAMES[k]} was {v}." for k, v in models.items()),
            *missing_pairs(traded, prices[1]),
        ],
    )
    files = write_report(report, output_dir, stem="evaluation")
    return Evaluation(report, files, same)


def walk_forward_report(
    folder: Path,
    datadir: Path,
    *,
    store: Path | None = None,
    overrides: Mapping[str, float] | None = None,
) -> tuple[Report, dict[str, Path]]:
    """Build the backtest report from a ``hydra evaluate walk-forward`` folder: the chained out-of-sample runs.

    Hydra's headline is the run with the models of their time (each window's models were trained
    only on candles before it); the scorer's accuracy is measured per window with that window's scorer.
    Writes ``report.html`` (and its PNGs, ``.md``, ``.json``) into ``folder``.
    """
    summary_file = folder / "walk_forward.json"
    if not summary_file.is_file():
        raise FileNotFoundError(f"{folder}: no walk_forward.json (run hydra evaluate walk-forward first)")
    summary = json.loads(summary_file.read_text())
    settings, windows = summary["settings"], summary["windows"]
    trades = pd.read_csv(folder / "walk_forward_trades.csv")
    entries_file = folder / "walk_forward_entries.csv"
    entries = pd.read_csv(entries_file) if entries_file.is_file() else None
    for frame in (trades, entries):
        if frame is not None and not frame.empty:
            for column in ("open_date", "close_date", "date"):
                if column in frame:
                    frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    titles = {"models": "Hydra, walk-forward (models of their time)", "baseline": "Hydra, walk-forward, no models"}
    runs = []
    for key, label in titles.items():
        part = trades.loc[trades["run"] == key].reset_index(drop=True) if "run" in trades else trades.iloc[:0]
        run_entries = entries.loc[entries["run"] == key] if entries is not None and "run" in entries else None
        journals = tuple(sorted(folder.glob(f"window_*/backtest_{key}_risk_journal.jsonl")))
        runs.append(Run(label, part, {}, run_entries, str(folder), journals))
    tf = pd.Timedelta(settings["timeframe"])
    span = equity.Span(
        start=pd.Timestamp(windows[0]["test_start"]),
        end=pd.Timestamp(windows[-1]["test_end"]),
        timeframe=tf,
        wallet=float(settings["wallet"]),
    )
    config = load_from_files(settings["config_files"])
    cfg = _hydra_section(config)
    pairs = list(settings["pairs"])
    timerange = f"{span.start:%Y%m%d}-{span.end:%Y%m%d}"
    scorers, gated = [], 0
    for window_run in summary["runs"].get("models", []):
        for model in window_run["models"]:
            if model["name"] == "scorer" and model.get("trained"):
                start, end = pd.Timestamp(window_run["test_start"]), pd.Timestamp(window_run["test_end"])
                scorers.append(ScorerWindow(Path(model["path"]), start, end))
                gated += bool(model.get("in_use"))
    data = research_data(datadir, settings["timeframe"], store)
    ml = ml_accuracy(cfg, data, pairs, timerange, scorers, overrides) if scorers else None
    prices = load_prices(datadir, pairs, span, settings["timeframe"])
    report = build_report(
        "HYDRA walk-forward backtest (out of sample)",
        [
            f"{len(windows)} test windows from {span.start:%Y-%m-%d} to {span.end:%Y-%m-%d}, each backtested by "
            f"freqtrade backtesting with models trained only on candles before it ({settings['training']} "
            f"training, {settings['train_days']:g} days first), then again without models; balances chain "
            f"across windows from {span.wallet:,.2f}. Every figure here is out of sample.",
        ],
        runs,
        span,
        pairs,
        prices,
        ml=ml,
        ml_note=(
            "Each window's signals scored by that window's own scorer (trained before the window), labelled by what "
            "the trade would have done under HYDRA's exits after fees and funding. The scorer gated the entries of "
            f"{gated} of the {len(windows)} windows (in the others it was off, untrained, or not recommended)."
            if ml is not None
            else "No scorer was trained in any window: no ML accuracy."
        ),
        inputs=input_coverage(cfg, data, pairs, timerange, verdict_journal(config, cfg)),
        notes=missing_pairs(pairs, prices[1]),
    )
    return report, write_report(report, folder, stem="report")


def result_report(
    path: Path,
    datadir: Path,
    output_dir: Path,
    *,
    strategy: str | None = None,
    store: Path | None = None,
    overrides: Mapping[str, float] | None = None,
) -> tuple[Report, dict[str, Path]]:
    """Build the report of one Freqtrade backtest result (a zip, or a folder's newest) into ``output_dir``.

    The ML accuracy and the inputs table need HYDRA's config in the result; another strategy's report has
    the rest.
    """
    loaded = load_result(path, strategy)
    span, run = loaded.span, loaded.run
    hydra = "hydra" in run.config
    cfg = _hydra_section(run.config)
    timeframe = str(loaded.stats["timeframe"])
    prices = load_prices(datadir, loaded.pairs, span, timeframe)
    timerange = f"{freqtrade_time(span.start)}-{freqtrade_time(span.end)}"
    data = research_data(datadir, timeframe, store)
    scorer = [ScorerWindow(Path(cfg.alpha.scorer.path), span.start, span.end)]
    ml = ml_accuracy(cfg, data, loaded.pairs, timerange, scorer, overrides) if hydra else None
    report = build_report(
        f"{run.label} backtest",
        [f"Freqtrade backtest result {run.source}.", *(model_sample_notes(cfg, span) if hydra else [])],
        [run],
        span,
        loaded.pairs,
        prices,
        ml=ml,
        ml_note=scorer_note(cfg, run, ml is not None) if hydra else "Not a HYDRA backtest: no ML accuracy.",
        inputs=input_coverage(cfg, data, loaded.pairs, timerange, verdict_journal(run.config, cfg)) if hydra else None,
        notes=missing_pairs(loaded.pairs, prices[1]),
    )
    return report, write_report(report, output_dir)
