"""Running ``freqtrade backtesting`` as a subprocess and reading its results back.

Every HYDRA command that backtests (``hydra evaluate``, its walk-forward) runs the real thing, the
way a user would, behind the offline market snapshot, and reads Freqtrade's own result files.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zipfile import ZipFile

import pandas as pd
from freqtrade.data.btanalysis import (
    get_latest_backtest_filename,
    load_backtest_analysis_data,
    load_backtest_data,
    load_backtest_stats,
)

from hydra_plugins.core import columns as col
from hydra_plugins.core.errors import BacktestError
from hydra_plugins.risk.journal import BACKTEST_JOURNAL

logger = logging.getLogger(__name__)

# What the strategy logs at bot_start per model (pipeline.ModelUse.status): "HYDRA regime model: in use (...)".
_STATUS_LINE = re.compile(r"HYDRA (signal scorer|regime model): (.*)$")
_LOG_NAMES = {"signal scorer": "scorer", "regime model": "regime"}
ENTRY_COLUMNS = ("date", col.REGIME, col.ML_SCORE, col.SIGNAL)  # kept from each trade's signal candle


@dataclass(frozen=True)
class BacktestRun:
    """One strategy's result read back from Freqtrade's files."""

    strategy: str
    stats: Mapping[str, Any]  # Freqtrade's per-strategy statistics
    trades: pd.DataFrame
    entries: pd.DataFrame | None  # each trade's signal candle (``--export signals``), else None
    config: Mapping[str, Any]  # the config Freqtrade ran with (as stored in the result)
    result: Path  # the result zip
    risk_journal: Path | None = None  # HYDRA's risk journal of this run (refused entries, kill switch events)


def user_data_path(config: Mapping[str, Any], path: str) -> Path:
    """Where a strategy run with ``config`` (from the project folder) finds ``path``: as given when absolute, else
    inside Freqtrade's user_data folder."""
    return Path(path) if Path(path).is_absolute() else Path(config.get("user_data_dir") or "user_data") / path


def backtest_journal(config: Mapping[str, Any]) -> Path:
    """Where a Hydra backtest run with ``config`` writes its risk journal, afresh."""
    return user_data_path(config, BACKTEST_JOURNAL)


def model_statuses(logfile: Path) -> dict[str, str]:
    """What a Hydra backtest's log says of each model: ``{"scorer": "off (...)", "regime": "in use (...)"}``."""
    found = {}
    if logfile.is_file():
        for line in logfile.read_text(errors="replace").splitlines():
            match = _STATUS_LINE.search(line)
            if match:
                found[_LOG_NAMES[match.group(1)]] = match.group(2).strip()
    return found


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def result_file(path: Path) -> Path:
    """The result zip ``path`` names: itself, or the newest in a backtest folder (``.last_result.json``)."""
    path = Path(path)
    if path.is_dir():
        try:
            return path / get_latest_backtest_filename(path)
        except ValueError as exc:
            raise FileNotFoundError(f"{path}: no Freqtrade backtest result here ({exc})") from None
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such backtest result (a .zip, or the folder holding them)")
    return path


def _zip_config(zip_path: Path) -> dict[str, Any]:
    name = f"{zip_path.stem}_config.json"
    with ZipFile(zip_path) as archive:
        if name not in archive.namelist():
            return {}
        return json.loads(archive.read(name))


def _utc_ns(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def entry_candles(signals: Mapping[str, pd.DataFrame] | None, trades: pd.DataFrame) -> pd.DataFrame | None:
    """Each trade's signal candle (the last candle before its open), from Freqtrade's ``--export signals``.

    One row per trade: ``pair``, ``open_date`` and the strategy's ``hydra_regime``, ``hydra_ml_score``
    and ``hydra_signal`` on that candle (those it has).
    """
    if not signals or trades.empty:
        return None
    parts = []
    for pair, rows in trades.groupby("pair", sort=False):
        frame = signals.get(str(pair))
        if frame is None or frame.empty:
            continue
        candles = frame[[c for c in ENTRY_COLUMNS if c in frame]].assign(date=_utc_ns(frame["date"]))
        candles = candles.drop_duplicates("date").sort_values("date")
        left = rows[["pair", "open_date"]].assign(open_date=_utc_ns(rows["open_date"])).sort_values("open_date")
        parts.append(pd.merge_asof(left, candles, left_on="open_date", right_on="date", allow_exact_matches=False))
    return pd.concat(parts, ignore_index=True) if parts else None


def read_result(path: Path, strategy: str | None = None) -> BacktestRun:
    """Read a Freqtrade backtest result (a zip, or a folder's newest): stats, trades, signal candles, config.

    ``strategy`` defaults to Hydra when the result holds it, else its first strategy.
    """
    zip_path = result_file(path)
    stats = load_backtest_stats(zip_path)
    strategies = list(stats.get("strategy", {}))
    if not strategies:
        raise ValueError(f"{zip_path}: holds no strategy's results")
    if strategy is None:
        strategy = "Hydra" if "Hydra" in strategies else strategies[0]
    if strategy not in strategies:
        raise ValueError(f"{zip_path}: no results for strategy {strategy!r}; it has {', '.join(strategies)}")
    trades = load_backtest_data(zip_path, strategy)
    try:
        signals = load_backtest_analysis_data(zip_path, "signals")
    except ValueError:  # exported without --export signals: no signal candles in the zip
        signals = None
    entries = entry_candles((signals or {}).get(strategy), trades)
    return BacktestRun(strategy, stats["strategy"][strategy], trades, entries, _zip_config(zip_path), zip_path)


def run_backtest(
    strategy: str,
    config_files: Sequence[Path],
    *,
    datadir: Path,
    timerange: str,
    pairs: Sequence[str],
    wallet: float,
    out: Path,
    logfile: Path,
    extra_args: Sequence[str] = (),
    what: str = "",
    risk_journal: Path | None = None,
) -> BacktestRun:
    """Run ``freqtrade backtesting`` (``--export signals``, protections on) and read its result back.

    ``config_files`` are merged in order; ``out`` receives Freqtrade's result files, ``logfile`` its
    log and ``out/../<out.name>.txt`` its printed tables. ``what`` names the run in a failure's message.
    ``risk_journal`` is where a Hydra backtest writes its risk journal (``user_data/backtest_results/
    hydra_risk_journal.jsonl``, afresh each run): it is moved to ``out/../<out.name>_risk_journal.jsonl``,
    so the next backtest does not overwrite it.
    """
    out.mkdir(parents=True, exist_ok=True)  # must exist, or Freqtrade takes the path as a file-name prefix
    logfile.unlink(missing_ok=True)
    kept = out.with_name(f"{out.name}_risk_journal.jsonl")
    kept.unlink(missing_ok=True)
    if risk_journal is not None:
        risk_journal.unlink(missing_ok=True)  # what is there after the run is this run's
    cmd = [
        sys.executable, "-m", "freqtrade", "backtesting", "--strategy", strategy,
        *(arg for path in config_files for arg in ("-c", str(path))),
        "--datadir", str(datadir), "--timerange", timerange, "--pairs", *pairs,
        "--dry-run-wallet", repr(float(wallet)), "--export", "signals", "--backtest-directory", str(out),
        "--cache", "none", "--enable-protections", "--logfile", str(logfile), *extra_args,
    ]  # fmt: skip
    logger.info("%s: %s", what or strategy, " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    out.with_suffix(".txt").write_text(result.stdout)
    if result.returncode != 0:
        raise BacktestError(
            f"freqtrade backtesting failed (exit {result.returncode}) for {what or strategy} ({timerange}); "
            f"its last lines:\n{_tail(result.stderr or result.stdout)}"
        )
    if risk_journal is not None and risk_journal.is_file():
        shutil.move(risk_journal, kept)
    return replace(read_result(out, strategy), risk_journal=kept if kept.is_file() else None)
