"""``hydra intel import-metrics`` and ``hydra intel status``.

The importer turns Binance's daily UM metrics archive files into what HYDRA reads in backtests:
open interest as Freqtrade ``open_interest`` candles (so ``dp.get_pair_dataframe`` and
``freqtrade backtesting`` load it like any other candle type) and the positioning ratios as
point-in-time rows in the intel store. Re-importing a file changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType

from hydra_plugins.core.symbols import OPEN_INTEREST_TIMEFRAME, symbol_to_pair
from hydra_plugins.intel.sources.binance_metrics import metrics_to_series, open_interest_candles, read_metrics_file
from hydra_plugins.intel.store import IntelStore

METRICS_GLOBS = ("*-metrics-*.csv", "*-metrics-*.zip")


def expand_paths(paths: list[Path]) -> list[Path]:
    """Return the metrics files named, searching folders recursively; refuse names that do not exist."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(f for pattern in METRICS_GLOBS for f in path.rglob(pattern)))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such metrics file or folder: {path}")
    return files


@dataclass(frozen=True)
class ImportResult:
    """What importing one file did."""

    file: Path
    symbol: str
    rows: int
    oi_candles_added: int
    store_rows_added: int


def import_metrics(
    paths: list[Path], datadir: Path, store: IntelStore, publish_lag: pd.Timedelta
) -> list[ImportResult]:
    """Import every metrics file in ``paths``; return one result per file and symbol."""
    datadir.mkdir(parents=True, exist_ok=True)
    handler = get_datahandler(datadir, "feather")
    results = []
    for file in expand_paths(paths):
        raw = read_metrics_file(file)
        for symbol, rows in raw.groupby("symbol", sort=True):
            pair = symbol_to_pair(str(symbol))
            candles = open_interest_candles(rows)
            existing = handler.ohlcv_load(
                pair, OPEN_INTEREST_TIMEFRAME, CandleType.OPEN_INTEREST, fill_missing=False, drop_incomplete=False,
                warn_no_data=False,
            )  # fmt: skip
            merged = (
                pd.concat([existing.loc[:, list(candles.columns)], candles], ignore_index=True)
                .drop_duplicates("date", keep="first")
                .sort_values("date", ignore_index=True)
            )
            added_candles = len(merged) - len(existing)
            if added_candles:
                handler.ohlcv_store(pair, OPEN_INTEREST_TIMEFRAME, merged, CandleType.OPEN_INTEREST)
            added_rows = sum(store.write(name, frame) for name, frame in metrics_to_series(rows, publish_lag).items())
            results.append(ImportResult(file, str(symbol), len(rows), added_candles, added_rows))
    return results


def status_table(store: IntelStore | None, datadir: Path | None, pairs: list[str], now: pd.Timestamp) -> pd.DataFrame:
    """Return one row per pair and source: kind, rows, coverage span, last update and staleness.

    Rows come from the intel store (recorded series) and from Freqtrade's candle files in
    ``datadir`` (``funding_rate`` and ``open_interest``), so one table shows everything HYDRA reads.
    """
    parts = []
    if store is not None:
        cov = store.coverage()
        if not cov.empty:
            cov["pair"] = cov["symbol"].map(symbol_to_pair)
            cov["kind"] = np.where(cov["series"] == "liquidation", "recorded (lower bound)", "recorded")
            parts.append(cov.rename(columns={"series": "source_series"}))
    if datadir is not None:
        handler = get_datahandler(datadir, "feather")
        for pair in pairs:
            for candle_type, timeframe in (
                (CandleType.FUNDING_RATE, "1h"),
                (CandleType.OPEN_INTEREST, OPEN_INTEREST_TIMEFRAME),
            ):
                frame = handler.ohlcv_load(
                    pair, timeframe, candle_type, fill_missing=False, drop_incomplete=False, warn_no_data=False
                )
                if frame.empty:
                    continue
                parts.append(
                    pd.DataFrame(
                        {
                            "pair": [pair],
                            "source_series": [f"freqtrade {candle_type.value} {timeframe}"],
                            "source": ["candles"],
                            "kind": ["recorded"],
                            "rows": [len(frame)],
                            "first_event": [frame["date"].min()],
                            "last_event": [frame["date"].max()],
                            "last_available": [frame["date"].max()],
                        }
                    )
                )
    recorded_liq = {p for part in parts for p, series in zip(part["pair"], part["source_series"], strict=True)
                    if series == "stream_heartbeat"}  # fmt: skip
    for pair in pairs:
        if pair not in recorded_liq:
            parts.append(pd.DataFrame({"pair": [pair], "source_series": ["liquidation"], "source": ["candles + OI"],
                                       "kind": ["proxy (labelled hydra_liq_is_proxy)"], "rows": [0]}))  # fmt: skip
    columns = ["pair", "source_series", "source", "kind", "rows", "first_event", "last_event", "last_available"]
    if not parts:
        return pd.DataFrame(columns=[*columns, "stale_for"])
    table = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    table["stale_for"] = (now - pd.to_datetime(table["last_available"], utc=True)).dt.floor("min")
    return table.sort_values(["pair", "source_series"], ignore_index=True)
