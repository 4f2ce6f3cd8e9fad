"""Walk-forward backtest: retrain on rolling windows, backtest each following window with the model of its time.

The development span is cut into consecutive test windows of ``step_days``; the first starts
``train_days`` after the span's start. For each window:

1. Train the models asked for on ``[train_start, test_start)``: all the history since the span's
   start (expanding, the default) or the last ``train_days`` (rolling). The history loader cuts the
   candles at the training range's end (``date < test_start``) before anything is computed, so no
   label can read a candle of the test window: a signalled trade whose exit would need a later
   candle has an unknown outcome and is dropped, a future-regime label needs its ``horizon_bars``
   candles inside the range, and funding counts only between a trade's entry and its exit. Every
   training row's label was therefore known by ``test_start``.
2. Run ``freqtrade backtesting`` (the real thing, as a subprocess) on ``[test_start, test_end)``
   with the user's config files, the offline market snapshot and an overlay pointing
   ``hydra.alpha.scorer`` / ``hydra.stats.regime_model`` at that window's files: ``enabled: null``
   (auto: a model is used only where its card says it beat its baseline walk-forward) or ``true``
   (``force_models``). A model not asked for, or that could not be trained, is off.
3. Run the same window again with both models off: the baseline.

Each run starts a window with the balance the previous window of the same run ended with, so both
equity curves compound across windows from ``wallet``. The shipped models in ``models/`` are never
used here: they were trained on the whole development span.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from freqtrade.configuration.load_config import load_from_files
from freqtrade.data.metrics import calculate_max_drawdown
from tqdm import tqdm

from hydra_plugins.core.config import HydraConfig, load_hydra_config
from hydra_plugins.core.errors import BacktestError
from hydra_plugins.intel.store import IntelStore
from hydra_plugins.replay.markets import MarketsServer, ccxt_overlay, load_snapshot
from hydra_plugins.training.backtests import BacktestRun, backtest_journal, model_statuses, run_backtest
from hydra_plugins.training.history import ResearchData, parse_timerange
from hydra_plugins.training.models import REGIME_FILE, SCORER_FILE, TrainSpec, train_regime, train_scorer

logger = logging.getLogger(__name__)

MODEL_CHOICES = ("scorer", "regime", "all")
WITH_MODELS, BASELINE = "models", "baseline"
RUNS = (WITH_MODELS, BASELINE)
RUN_TITLES = {WITH_MODELS: "with the models of their time", BASELINE: "without models"}
DEFAULT_WALLET = 10_000.0
_DROP_TRADE_COLUMNS = ("orders",)


@dataclass(frozen=True)
class Window:
    """One walk-forward window: train on ``[train_start, train_end)``, test on ``[test_start, test_end)``."""

    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    @property
    def train_timerange(self) -> str:
        """The training range as a Freqtrade timerange; the history loader reads candles ``< train_end``."""
        return f"{freqtrade_time(self.train_start)}-{freqtrade_time(self.train_end)}"

    def test_timerange(self, timeframe: pd.Timedelta) -> str:
        """The test range for ``freqtrade backtesting``, whose end is inclusive: the last candle opens before
        ``test_end`` (and closes at it)."""
        return f"{freqtrade_time(self.test_start)}-{freqtrade_time(self.test_end - timeframe)}"


@dataclass(frozen=True)
class ModelRecord:
    """One model in one window: whether it was trained, what its card says, and whether the backtest used it."""

    name: str
    path: str | None = None
    trained: bool = False
    error: str | None = None
    recommended: bool | None = None
    forced: bool = False
    in_use: bool = False
    status: str = "off"
    training_span: str | None = None
    training_timerange: str | None = None
    training_rows: int | None = None
    walk_forward: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowRun:
    """One backtest: one window of one run (``models`` or ``baseline``)."""

    run: str
    window: int
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    starting_balance: float
    final_balance: float
    trades: int
    wins: int
    losses: int
    profit_abs: float
    profit_pct: float
    max_drawdown_pct: float
    max_drawdown_abs: float
    market_change_pct: float
    backtest_dir: str
    models: tuple[ModelRecord, ...]


@dataclass(frozen=True)
class WalkForwardResult:
    """Everything the walk-forward backtest measured, and where it wrote it."""

    settings: Mapping[str, Any]
    windows: list[Window]
    runs: dict[str, list[WindowRun]]
    trades: pd.DataFrame
    totals: dict[str, dict[str, float]]
    files: dict[str, Path]
    entries: pd.DataFrame | None = None  # each trade's signal candle (columns ``run``, ``pair``, ``open_date``...)


def freqtrade_time(ts: pd.Timestamp) -> str:
    """Format a UTC time as Freqtrade's timerange does: ``YYYYMMDD``, or ``YYYYMMDDTHHMM`` off midnight."""
    return f"{ts:%Y%m%d}" if ts == ts.normalize() else f"{ts:%Y%m%dT%H%M}"


def walk_forward_windows(
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    train_days: float,
    step_days: float,
    rolling: bool = False,
) -> list[Window]:
    """Return the walk-forward windows over ``[start, end)``.

    Test windows are consecutive and ``step_days`` long (the last one clipped at ``end``); the first
    starts at ``start + train_days``. Each window trains up to its test window's start: from
    ``start`` (expanding) or over the last ``train_days`` (``rolling``).
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    if not (math.isfinite(train_days) and train_days > 0):
        raise ValueError(f"train_days must be a positive number of days, got {train_days}")
    if not (math.isfinite(step_days) and step_days > 0):
        raise ValueError(f"step_days must be a positive number of days, got {step_days}")
    if end <= start:
        raise ValueError(f"the span's end {end:%Y-%m-%d %H:%M} is not after its start {start:%Y-%m-%d %H:%M}")
    train, step = pd.Timedelta(days=train_days), pd.Timedelta(days=step_days)
    if start + train >= end:
        raise ValueError(
            f"{start:%Y-%m-%d} -> {end:%Y-%m-%d} ({(end - start) / pd.Timedelta(days=1):g} days) is too short for one "
            f"walk-forward window: {train_days:g} training days leave no test window; shorten --train-days or "
            f"widen --timerange"
        )
    windows = []
    test_start = start + train
    while test_start < end:
        test_end = min(test_start + step, end)
        train_start = test_start - train if rolling else start
        windows.append(Window(len(windows) + 1, train_start, test_start, test_start, test_end))
        test_start = test_end
    return windows


def _config_wallet(config: Mapping[str, Any]) -> float:
    wallet = config.get("dry_run_wallet", DEFAULT_WALLET)
    if isinstance(wallet, Mapping):  # Freqtrade also accepts {currency: amount}
        wallet = wallet.get(config.get("stake_currency", "USDT"), DEFAULT_WALLET)
    return float(wallet)


def model_overlay(records: Mapping[str, ModelRecord]) -> dict[str, Any]:
    """Return the config overlay pointing the strategy at ``records``' files; a model absent or untrained is off."""

    def entry(record: ModelRecord | None, default: str) -> dict[str, Any]:
        if record is None or not record.trained:
            return {"path": default, "enabled": False}
        return {"path": record.path, "enabled": True if record.forced else None}

    return {
        "hydra": {
            "alpha": {"scorer": entry(records.get("scorer"), f"models/{SCORER_FILE}")},
            "stats": {"regime_model": entry(records.get("regime"), f"models/{REGIME_FILE}")},
        }
    }


def _card_summary(card: Mapping[str, Any]) -> dict[str, float]:
    summary = card.get("walk_forward", {}).get("summary", {})
    return {k: float(v["mean"]) for k, v in summary.items() if isinstance(v, Mapping) and "mean" in v}


def _train_window(
    window: Window,
    wanted: Sequence[str],
    cfg: HydraConfig,
    data: ResearchData,
    pairs: Sequence[str],
    *,
    n_splits: int,
    seed: int,
    force: bool,
    model_dir: Path,
    progress: bool,
    bar: Any,
    overrides: Mapping[str, float],
) -> dict[str, ModelRecord]:
    spec = TrainSpec(
        pairs, window.train_timerange, n_splits=n_splits, seed=seed, progress=progress, overrides=overrides
    )
    trainers = {"scorer": (train_scorer, SCORER_FILE), "regime": (train_regime, REGIME_FILE)}
    records = {}
    for name in wanted:
        train, filename = trainers[name]
        bar.set_postfix_str(f"window {window.number}: training {name}")
        path = model_dir / filename
        try:
            card = train(cfg, data, spec, path)
        except ValueError as exc:  # too few rows for the folds, or none at all: no model of that time
            logger.warning("window %d: %s not trained on %s: %s", window.number, name, window.train_timerange, exc)
            records[name] = ModelRecord(name, error=str(exc), forced=force, status=f"not trained: {exc}")
        else:
            records[name] = ModelRecord(
                name,
                path=str(path.resolve()),
                trained=True,
                recommended=bool(card["recommended"]),
                forced=force,
                training_span=card["training"]["span"],
                training_timerange=card["training"]["timerange"],
                training_rows=int(card["training"]["rows"]),
                walk_forward=_card_summary(card),
            )
        bar.update()
    return records


def _with_status(records: Mapping[str, ModelRecord], logfile: Path, window: Window) -> tuple[ModelRecord, ...]:
    statuses = model_statuses(logfile)
    out = []
    for record in records.values():
        status = statuses.get(record.name)
        if status is None:  # no such line in the log: report what the overlay asked for, and say so
            in_use = record.trained and (record.forced or bool(record.recommended))
            status = f"{'in use' if in_use else 'off'} (as configured; no status line in Freqtrade's log)"
        elif status.startswith("NOT LOADED"):
            raise BacktestError(f"window {window.number}: the {record.name} model failed its checks: {status}")
        else:
            in_use = status.startswith("in use")
        if not record.trained:
            status = record.status
        out.append(replace(record, in_use=in_use, status=status))
    return tuple(out)


def _backtest(
    run: str,
    window: Window,
    *,
    config_files: Sequence[Path],
    offline: Path,
    overlay: Path,
    datadir: Path,
    pairs: Sequence[str],
    timeframe: pd.Timedelta,
    balance: float,
    window_dir: Path,
    strategy: str,
    extra_args: Sequence[str],
    risk_journal: Path,
) -> tuple[BacktestRun, Path]:
    logfile = window_dir / f"freqtrade_{run}.log"
    result = run_backtest(
        strategy, [*config_files, offline, overlay], datadir=datadir, timerange=window.test_timerange(timeframe),
        pairs=pairs, wallet=balance, out=window_dir / f"backtest_{run}", logfile=logfile, extra_args=extra_args,
        what=f"window {window.number} ({run})", risk_journal=risk_journal,
    )  # fmt: skip
    return result, logfile


def _max_drawdown(trades: pd.DataFrame, starting_balance: float) -> tuple[float, float]:
    """Return the deepest drop of the closed-trade balance, in % of its peak and in the stake currency."""
    if trades.empty:
        return 0.0, 0.0
    dd = calculate_max_drawdown(trades, starting_balance=starting_balance, relative=True)
    return float(dd.relative_account_drawdown) * 100.0, float(dd.drawdown_abs)


def _window_run(
    run: str, window: Window, stats: Mapping[str, Any], trades: pd.DataFrame, out: Path, models: tuple
) -> WindowRun:
    start_balance = float(stats["starting_balance"])
    dd_pct, dd_abs = _max_drawdown(trades, start_balance)
    return WindowRun(
        run=run,
        window=window.number,
        test_start=window.test_start,
        test_end=window.test_end,
        starting_balance=start_balance,
        final_balance=float(stats["final_balance"]),
        trades=int(stats["total_trades"]),
        wins=int(stats["wins"]),
        losses=int(stats["losses"]),
        profit_abs=float(stats["profit_total_abs"]),
        profit_pct=float(stats["profit_total"]) * 100.0,
        max_drawdown_pct=dd_pct,
        max_drawdown_abs=dd_abs,
        market_change_pct=float(stats.get("market_change", float("nan"))) * 100.0,
        backtest_dir=str(out),
        models=models,
    )


def _totals(runs: Sequence[WindowRun], trades: pd.DataFrame, wallet: float) -> dict[str, float]:
    final = runs[-1].final_balance if runs else wallet
    count = sum(r.trades for r in runs)
    wins = sum(r.wins for r in runs)
    dd_pct, dd_abs = _max_drawdown(trades, wallet)
    return {
        "windows": len(runs),
        "trades": count,
        "wins": wins,
        "win_rate_pct": 100.0 * wins / count if count else float("nan"),
        "profit_abs": final - wallet,
        "profit_pct": (final / wallet - 1.0) * 100.0,
        "max_drawdown_pct": dd_pct,
        "max_drawdown_abs": dd_abs,
        "starting_balance": wallet,
        "final_balance": final,
    }


def walk_forward_backtest(
    config_files: Sequence[Path | str],
    datadir: Path | str,
    pairs: Sequence[str] | None,
    timerange: str,
    *,
    train_days: float = 180,
    step_days: float = 90,
    rolling: bool = False,
    models: str = "all",
    force_models: bool = False,
    output_dir: Path | str,
    seed: int = 42,
    wallet: float | None = None,
    progress: bool = False,
    n_splits: int = 5,
    store: Path | None = None,
    strategy: str = "Hydra",
    extra_args: Sequence[str] = (),
    overrides: Mapping[str, float] | None = None,
) -> WalkForwardResult:
    """Retrain on each window's past, backtest its test window with those models and without; write the report.

    ``config_files`` are merged as Freqtrade merges them: their ``hydra`` section trains the models
    and every backtest runs with them. ``pairs`` default to the config's whitelist, ``wallet`` to its
    ``dry_run_wallet``. ``store`` is an intel store the training reads (the backtests find the
    strategy's own). ``extra_args`` go to every ``freqtrade backtesting`` (e.g. ``--userdir``).
    ``overrides`` are the signal thresholds the training labels with (the backtests load the
    strategy's ``hydra.json`` themselves, so pass the same values).
    Writes ``walk_forward.md``, ``walk_forward.json``, ``walk_forward_trades.csv`` and
    ``walk_forward_equity.png`` into ``output_dir``, and each window's models, overlays and
    Freqtrade results into ``output_dir/window_NN/``.
    """
    if models not in MODEL_CHOICES:
        raise ValueError(f"unknown model {models!r}; expected one of {MODEL_CHOICES}")
    config_files = [Path(p) for p in config_files]
    missing = [str(p) for p in config_files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"config file(s) not found: {', '.join(missing)}")
    datadir, output_dir = Path(datadir), Path(output_dir)
    if not datadir.is_dir():
        raise FileNotFoundError(f"no Freqtrade data in {datadir}")
    config = load_from_files([str(p) for p in config_files])
    cfg = load_hydra_config(config.get("hydra"))
    pairs = list(pairs or config.get("exchange", {}).get("pair_whitelist") or [])
    if not pairs:
        raise ValueError("no pairs: pass pairs or a config with exchange.pair_whitelist")
    start, end = parse_timerange(timerange)
    if start is None or end is None:
        raise ValueError(f"timerange {timerange!r} needs both a start and an end, e.g. 20220101-20230701")
    windows = walk_forward_windows(start, end, train_days, step_days, rolling)
    wallet = float(wallet) if wallet is not None else _config_wallet(config)
    if not (math.isfinite(wallet) and wallet > 0):
        raise ValueError(f"wallet must be a positive amount, got {wallet}")
    timeframe_text = config.get("timeframe", "15m")
    timeframe = pd.Timedelta(timeframe_text)
    metrics = datadir.parent / "binance-metrics"
    data = ResearchData(
        datadir,
        timeframe=timeframe_text,
        store=IntelStore(store, readonly=True) if store is not None and store.is_file() else None,
        metrics_dir=metrics if metrics.is_dir() else None,
    )
    wanted = ["scorer", "regime"] if models == "all" else [models]
    output_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "config_files": [str(p) for p in config_files],
        "datadir": str(datadir),
        "pairs": pairs,
        "timerange": timerange,
        "train_days": train_days,
        "step_days": step_days,
        "training": "rolling" if rolling else "expanding",
        "models": models,
        "force_models": force_models,
        "wallet": wallet,
        "seed": seed,
        "folds": n_splits,
        "timeframe": timeframe_text,
        "strategy": strategy,
    }
    runs: dict[str, list[WindowRun]] = {run: [] for run in RUNS}
    trade_parts, entry_parts = [], []
    balance = dict.fromkeys(RUNS, wallet)
    server = MarketsServer(load_snapshot(None), port=0).start()  # a free port: no clash with another backtest
    try:
        with tempfile.TemporaryDirectory(prefix="hydra-wf-") as tmp:
            offline = Path(tmp) / "offline.json"
            offline.write_text(json.dumps(ccxt_overlay(server.url)))
            steps = len(windows) * (len(wanted) + len(RUNS))
            bar = tqdm(total=steps, desc="walk-forward", unit="step", disable=not progress)
            for window in windows:
                window_dir = output_dir / f"window_{window.number:02d}"
                records = _train_window(
                    window, wanted, cfg, data, pairs, n_splits=n_splits, seed=seed, force=force_models,
                    model_dir=window_dir / "models", progress=progress, bar=bar, overrides=overrides or {},
                )  # fmt: skip
                overlays = {WITH_MODELS: model_overlay(records), BASELINE: model_overlay({})}
                for run in RUNS:
                    bar.set_postfix_str(f"window {window.number}: backtest {run}")
                    overlay = window_dir / f"overlay_{run}.json"
                    overlay.write_text(json.dumps(overlays[run], indent=4))
                    result, logfile = _backtest(
                        run, window, config_files=config_files, offline=offline, overlay=overlay, datadir=datadir,
                        pairs=pairs, timeframe=timeframe, balance=balance[run], window_dir=window_dir,
                        strategy=strategy, extra_args=extra_args,
                        risk_journal=backtest_journal(config),
                    )  # fmt: skip
                    used = _with_status(records, logfile, window) if run == WITH_MODELS else ()
                    window_run = _window_run(
                        run, window, result.stats, result.trades, window_dir / f"backtest_{run}", used
                    )
                    runs[run].append(window_run)
                    balance[run] = window_run.final_balance
                    trades = result.trades
                    if not trades.empty:
                        trade_parts.append(
                            trades.drop(columns=[c for c in _DROP_TRADE_COLUMNS if c in trades.columns]).assign(
                                run=run, window=window.number
                            )
                        )
                    if result.entries is not None:
                        entry_parts.append(result.entries.assign(run=run))
                    bar.update()
            bar.close()
    finally:
        server.stop()
    trades = _all_trades(trade_parts)
    totals = {run: _totals(runs[run], trades[trades["run"] == run], wallet) for run in RUNS}
    entries = pd.concat(entry_parts, ignore_index=True) if entry_parts else None
    files = write_report(settings, windows, runs, trades, totals, output_dir, entries)
    return WalkForwardResult(settings, windows, runs, trades, totals, files, entries)


def _all_trades(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=["run", "window", "pair", "open_date", "close_date", "profit_abs"])
    trades = pd.concat(parts, ignore_index=True)
    first = ["run", "window"]
    trades = trades[first + [c for c in trades.columns if c not in first]]
    return trades.sort_values(["run", "close_date", "pair"], kind="stable", ignore_index=True)


# The report


def _fmt_model(record: ModelRecord | None) -> str:
    if record is None:
        return "off"
    if not record.trained:
        return "not trained"
    if record.in_use:
        return "forced" if record.forced else "in use"
    return "not recommended: off"


def _models_cell(run: WindowRun) -> dict[str, str]:
    by_name = {m.name: m for m in run.models}
    return {name: _fmt_model(by_name.get(name)) for name in ("scorer", "regime")}


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"


def _day(ts: pd.Timestamp) -> str:
    return freqtrade_time(ts) if ts != ts.normalize() else f"{ts:%Y-%m-%d}"


def _wf_figures(record: ModelRecord) -> str:
    s = record.walk_forward
    if not record.trained:
        return record.error or "-"
    if record.name == "scorer":
        return (
            f"AUC {s.get('auc', float('nan')):.3f} (confidence alone {s.get('auc_confidence', float('nan')):.3f}), "
            f"Brier {s.get('brier', float('nan')):.4f} (base rate {s.get('brier_base_rate', float('nan')):.4f})"
        )
    return (
        f"macro-F1 {s.get('macro_f1', float('nan')):.3f} (rules {s.get('rules_macro_f1', float('nan')):.3f}), "
        f"accuracy {s.get('accuracy', float('nan')):.3f} (rules {s.get('rules_accuracy', float('nan')):.3f})"
    )


def render_markdown(
    settings: Mapping[str, Any],
    windows: Sequence[Window],
    runs: Mapping[str, Sequence[WindowRun]],
    totals: Mapping[str, Mapping[str, float]],
) -> str:
    """Return the report: settings, one row per window for both runs, the models of each window, totals."""
    mode = "forced on (enabled: true)" if settings["force_models"] else "auto (used only where the card recommends it)"
    training = (
        f"the last {settings['train_days']:g} days before each test window"
        if settings["training"] == "rolling"
        else f"everything from {_day(windows[0].train_start)} up to each test window (expanding)"
    )
    lines = [
        "# HYDRA walk-forward backtest",
        "",
        "Out of sample: each test window is backtested by `freqtrade backtesting` with models trained only on "
        "candles before it (every training label was known by the window's start), then again without models.",
        "",
        f"- span {settings['timerange']}; {len(windows)} test windows of {settings['step_days']:g} days "
        f"(the last clipped at the span's end); training: {training}",
        f"- models: {settings['models']}, {mode}; seed {settings['seed']}, {settings['folds']} walk-forward folds",
        f"- pairs: {', '.join(settings['pairs'])}; data {settings['datadir']}; "
        f"config {', '.join(settings['config_files'])}",
        f"- wallet {settings['wallet']:,.2f}, compounding: each window starts with the previous window's final balance",
        "",
        "## Per window (with models / without)",
        "",
        "| window | training | test | scorer | regime | trades | wins | profit % | max drawdown % | final balance |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for window, with_m, without in zip(windows, runs[WITH_MODELS], runs[BASELINE], strict=True):
        used = _models_cell(with_m)
        lines.append(
            f"| {window.number} | {_day(window.train_start)} → {_day(window.train_end)} | "
            f"{_day(window.test_start)} → {_day(window.test_end)} | {used['scorer']} | {used['regime']} | "
            f"{with_m.trades} / {without.trades} | {with_m.wins} / {without.wins} | "
            f"{with_m.profit_pct:+.2f} / {without.profit_pct:+.2f} | "
            f"{with_m.max_drawdown_pct:.2f} / {without.max_drawdown_pct:.2f} | "
            f"{with_m.final_balance:,.2f} / {without.final_balance:,.2f} |"
        )
    lines += [
        "",
        "## Totals",
        "",
        "| run | windows | trades | win rate % | profit | profit % | max drawdown % | final balance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in RUNS:
        t = totals[run]
        lines.append(
            f"| {RUN_TITLES[run]} | {t['windows']} | {t['trades']} | {_pct(t['win_rate_pct'])} | "
            f"{t['profit_abs']:+,.2f} | {t['profit_pct']:+.2f} | {t['max_drawdown_pct']:.2f} | "
            f"{t['final_balance']:,.2f} |"
        )
    lines += [
        "",
        "Max drawdown: the deepest drop of the closed-trade balance below its running peak (Freqtrade's "
        "relative account drawdown); the total is measured on the chained curve.",
        "",
        "## The models of their time",
        "",
        "| window | model | trained on | rows | walk-forward (fold means) | recommended | in the backtest |",
        "|---|---|---|---|---|---|---|",
    ]
    for with_m in runs[WITH_MODELS]:
        for record in with_m.models:
            recommended = "-" if record.recommended is None else ("yes" if record.recommended else "no")
            lines.append(
                f"| {with_m.window} | {record.name} | {record.training_span or '-'} | {record.training_rows or '-'} | "
                f"{_wf_figures(record)} | {recommended} | {record.status} |"
            )
    return "\n".join(lines) + "\n"


def equity_curves(trades: pd.DataFrame, windows: Sequence[Window], wallet: float) -> dict[str, pd.Series]:
    """Return each run's closed-trade balance over time, chained across windows, from ``wallet``."""
    curves = {}
    for run in RUNS:
        rows = trades[trades["run"] == run].sort_values("close_date", kind="stable")
        dates = [windows[0].test_start, *pd.to_datetime(rows["close_date"], utc=True)]
        values = [wallet, *(wallet + rows["profit_abs"].astype(float).cumsum())]
        curves[run] = pd.Series(values, index=pd.DatetimeIndex(dates), name=run)
    return curves


def plot_equity(curves: Mapping[str, pd.Series], windows: Sequence[Window], wallet: float, path: Path) -> None:
    """Write one PNG: both equity curves, with the test windows' boundaries."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    styles = {WITH_MODELS: {"color": "tab:blue"}, BASELINE: {"color": "tab:gray", "linestyle": "--"}}
    end = windows[-1].test_end
    for run, curve in curves.items():
        extended = pd.concat([curve, pd.Series([curve.iloc[-1]], index=pd.DatetimeIndex([end]))])
        ax.step(extended.index, extended.to_numpy(), where="post", label=RUN_TITLES[run], **styles[run])
    for window in windows:
        ax.axvline(window.test_start, color="black", alpha=0.15, linewidth=0.8)
    ax.axhline(wallet, color="black", alpha=0.4, linewidth=0.8)
    ax.set_title("HYDRA walk-forward backtest: out-of-sample balance, windows chained")
    ax.set_ylabel("balance (stake currency)")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.savefig(Path(path), format="png", dpi=100)


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: timestamps as ISO text, NaN and infinities as null, numpy numbers as Python's."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def write_report(
    settings: Mapping[str, Any],
    windows: Sequence[Window],
    runs: Mapping[str, Sequence[WindowRun]],
    trades: pd.DataFrame,
    totals: Mapping[str, Mapping[str, float]],
    output_dir: Path,
    entries: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write ``walk_forward.md``, ``.json``, ``_trades.csv``, ``_entries.csv`` (each trade's signal candle, when
    known) and ``_equity.png``; return their paths."""
    files = {
        "markdown": output_dir / "walk_forward.md",
        "json": output_dir / "walk_forward.json",
        "trades": output_dir / "walk_forward_trades.csv",
        "equity": output_dir / "walk_forward_equity.png",
    }
    files["markdown"].write_text(render_markdown(settings, windows, runs, totals))
    payload = {
        "settings": settings,
        "windows": [
            {
                **asdict(w),
                "train_timerange": w.train_timerange,
                "test_timerange": w.test_timerange(pd.Timedelta(settings["timeframe"])),
            }
            for w in windows
        ],
        "runs": {run: [asdict(r) for r in rows] for run, rows in runs.items()},
        "totals": totals,
    }
    files["json"].write_text(json.dumps(jsonable(payload), indent=2))
    trades.to_csv(files["trades"], index=False)
    if entries is not None:
        files["entries"] = output_dir / "walk_forward_entries.csv"
        entries.to_csv(files["entries"], index=False)
    plot_equity(equity_curves(trades, windows, settings["wallet"]), windows, settings["wallet"], files["equity"])
    return files
