"""Recorded history for HYDRA's research and training: a pair's candles and intel, as the strategy sees them.

Data in Freqtrade's layout (``--datadir``): trade candles, funding settlements, and open interest
where imported. Positioning ratios and recorded liquidations come from the intel store when one is
given, and Binance metrics archive files (``metrics_dir``) can be read directly, without importing
them first.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from freqtrade.configuration import TimeRange
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType
from freqtrade.exceptions import OperationalException
from freqtrade.optimize.hyperopt_tools import HyperoptTools

from hydra_plugins.core.symbols import OPEN_INTEREST_TIMEFRAME, pair_to_symbol
from hydra_plugins.intel.features import IntelInputs
from hydra_plugins.intel.sources.binance_metrics import metrics_to_series, open_interest_candles, read_metrics_file
from hydra_plugins.intel.store import IntelStore
from hydra_plugins.pipeline import Pipeline

logger = logging.getLogger(__name__)
FUNDING_TIMEFRAME = "1h"
METRICS_PUBLISH_LAG = pd.Timedelta(minutes=1)


@dataclass(frozen=True)
class ResearchData:
    """Where the history comes from."""

    datadir: Path
    timeframe: str = "15m"
    store: IntelStore | None = None
    metrics_dir: Path | None = None


def slice_dates(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame["date"] >= start
    if end is not None:
        keep &= frame["date"] < end
    return frame.loc[keep].reset_index(drop=True)


def _metrics(metrics_dir: Path | None, symbol: str) -> pd.DataFrame | None:
    if metrics_dir is None or not (metrics_dir / symbol).is_dir():
        return None
    files = sorted((metrics_dir / symbol).glob(f"{symbol}-metrics-*.*"))
    return pd.concat([read_metrics_file(f) for f in files], ignore_index=True) if files else None


def load_candles(handler, pair: str, timeframe: str, candle_type: CandleType) -> pd.DataFrame:
    # Freqtrade 2026.9 fills candle gaps with reset_index(inplace=True), which pandas 3.1 deprecates.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The inplace keyword", category=DeprecationWarning)
        return handler.ohlcv_load(pair, timeframe, candle_type, warn_no_data=False)


def load_pair(
    data: ResearchData, pair: str, start: pd.Timestamp | None, end: pd.Timestamp | None, warmup: int
) -> tuple[pd.DataFrame, IntelInputs] | None:
    """Return a pair's candles from ``warmup`` candles before ``start`` to ``end``, with its intel inputs."""
    handler = get_datahandler(data.datadir, "feather")
    candles = load_candles(handler, pair, data.timeframe, CandleType.FUTURES)
    if candles.empty:
        logger.warning("no %s %s candles in %s; skipping %s", data.timeframe, "futures", data.datadir, pair)
        return None
    if start is not None:
        first = max(0, int(candles["date"].searchsorted(start)) - warmup)
        candles = candles.iloc[first:].reset_index(drop=True)
    candles = slice_dates(candles, None, end)
    funding = load_candles(handler, pair, FUNDING_TIMEFRAME, CandleType.FUNDING_RATE)
    oi = load_candles(handler, pair, OPEN_INTEREST_TIMEFRAME, CandleType.OPEN_INTEREST)
    symbol = pair_to_symbol(pair)
    series = data.store.read_all(symbol) if data.store is not None else {}
    raw = _metrics(data.metrics_dir, symbol)
    if raw is not None:
        oi = pd.concat([oi, open_interest_candles(raw)], ignore_index=True).drop_duplicates("date")
        oi = oi.sort_values("date", ignore_index=True)
        for name, rows in metrics_to_series(raw, METRICS_PUBLISH_LAG).items():
            series[name] = pd.concat([series.get(name), rows], ignore_index=True) if name in series else rows
    return candles, IntelInputs(
        funding=None if funding.empty else funding, open_interest=None if oi.empty else oi, series=series
    )


def strategy_parameters(path: Path) -> dict[str, float]:
    """Return the entry ("buy") parameters of a Freqtrade strategy parameter file such as ``hydra.json``."""
    try:
        params = HyperoptTools.load_params_from_file(path)["params"].get("buy", {})
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path} is not a Freqtrade strategy parameter file: {exc}") from None
    if not isinstance(params, dict) or not all(isinstance(v, int | float) for v in params.values()):
        raise ValueError(f"{path}: params.buy must map parameter names to numbers")
    return {str(k): float(v) for k, v in params.items()}


def parse_timerange(text: str | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Parse Freqtrade's ``YYYYMMDD-YYYYMMDD`` (either side may be empty) into UTC bounds."""
    if not text:
        return None, None
    try:
        tr = TimeRange.parse_timerange(text)
    except OperationalException as exc:  # Freqtrade's ConfigurationError
        raise ValueError(f"timerange {text!r}: {exc}") from None
    start = pd.Timestamp(tr.startts, unit="s", tz="UTC") if tr.startts else None
    end = pd.Timestamp(tr.stopts, unit="s", tz="UTC") if tr.stopts else None
    return start, end


def market_states(
    pipe: Pipeline, data: ResearchData, pairs: Iterable[str], timerange: str | None
) -> Iterable[tuple[str, pd.DataFrame, IntelInputs, pd.Timestamp | None]]:
    """Yield each pair's L1 and L2 state up to the opponent model, with its inputs and the span's start.

    The frame still holds the warm-up candles before the start: cut it only after everything that
    reads trailing windows has run, as the strategy would see it.
    """
    start, end = parse_timerange(timerange)
    for pair in pairs:
        loaded = load_pair(data, pair, start, end, pipe.warmup_candles)
        if loaded is not None:
            logger.info("%s: %d candles", pair, len(loaded[0]))
            yield pair, pipe.market_state(*loaded), loaded[1], start


def latest_candle(data: ResearchData, pairs: Iterable[str]) -> pd.Timestamp | None:
    """Return the newest candle's date over ``pairs`` (None when none has candles)."""
    handler = get_datahandler(data.datadir, "feather")
    newest = None
    for pair in pairs:
        candles = load_candles(handler, pair, data.timeframe, CandleType.FUTURES)
        if not candles.empty:
            last = candles["date"].iloc[-1]
            newest = last if newest is None else max(newest, last)
    return newest
