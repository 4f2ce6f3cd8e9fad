"""``hydra calibrate cascade`` and ``hydra report signals``: HYDRA's research on recorded history.

Both run the same pipeline the strategy runs, one pair at a time, on data in Freqtrade's layout
(``--datadir``): trade candles, funding settlements, and open interest where imported. Positioning
ratios and recorded liquidations come from the intel store when one is given, and Binance metrics
archive files (``--metrics``) can be read directly, without importing them first. What was real and
what was a proxy is reported with every result.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from freqtrade.configuration import TimeRange
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType
from freqtrade.exceptions import OperationalException
from freqtrade.optimize.hyperopt_tools import HyperoptTools

from hydra_plugins.alpha.select import regime_fit
from hydra_plugins.alpha.signals import Signal, build_signals
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.core.symbols import OPEN_INTEREST_TIMEFRAME, pair_to_symbol
from hydra_plugins.intel.features import IntelInputs
from hydra_plugins.intel.sources.binance_metrics import metrics_to_series, open_interest_candles, read_metrics_file
from hydra_plugins.intel.store import IntelStore
from hydra_plugins.pipeline import Pipeline
from hydra_plugins.reports import event_study
from hydra_plugins.stats.cascade import (
    CascadeEvent,
    CascadeModel,
    alert_quality,
    cascade_events,
    cascade_features,
    cascade_label,
    fit_cascade_model,
    reliability,
)

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


def _slice(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
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


def _load(handler, pair: str, timeframe: str, candle_type: CandleType) -> pd.DataFrame:
    # Freqtrade 2026.9 fills candle gaps with reset_index(inplace=True), which pandas 3.1 deprecates.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The inplace keyword", category=DeprecationWarning)
        return handler.ohlcv_load(pair, timeframe, candle_type, warn_no_data=False)


def load_pair(
    data: ResearchData, pair: str, start: pd.Timestamp | None, end: pd.Timestamp | None, warmup: int
) -> tuple[pd.DataFrame, IntelInputs] | None:
    """Return a pair's candles from ``warmup`` candles before ``start`` to ``end``, with its intel inputs."""
    handler = get_datahandler(data.datadir, "feather")
    candles = _load(handler, pair, data.timeframe, CandleType.FUTURES)
    if candles.empty:
        logger.warning("no %s %s candles in %s; skipping %s", data.timeframe, "futures", data.datadir, pair)
        return None
    if start is not None:
        first = max(0, int(candles["date"].searchsorted(start)) - warmup)
        candles = candles.iloc[first:].reset_index(drop=True)
    candles = _slice(candles, None, end)
    funding = _load(handler, pair, FUNDING_TIMEFRAME, CandleType.FUNDING_RATE)
    oi = _load(handler, pair, OPEN_INTEREST_TIMEFRAME, CandleType.OPEN_INTEREST)
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


def _market_states(
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


# hydra calibrate cascade
def calibrate_cascade(
    cfg: HydraConfig,
    data: ResearchData,
    pairs: Sequence[str],
    fit_range: str,
    check_range: str,
    event: CascadeEvent | None = None,
    thresholds: Sequence[float] = (0.4, 0.5, 0.7),
) -> CascadeModel:
    """Fit the cascade probability on ``fit_range`` and measure it on ``check_range``; return it with its report."""
    event = event or CascadeEvent()
    report: dict[str, object] = {"event": vars(event).copy(), "pairs": list(pairs)}
    fit_x, fit_y = [], []
    pipe = Pipeline(cfg, int(pd.Timedelta(data.timeframe).total_seconds() // 60))
    for _, state, _, start in _market_states(pipe, data, pairs, fit_range):
        x, y, _ = _rows(state, event, start)
        fit_x.append(x)
        fit_y.append(y)
    if not fit_x:
        raise ValueError(f"no candles for {list(pairs)} in {data.datadir} over {fit_range}")
    x_all, y_all = pd.concat(fit_x, ignore_index=True), pd.concat(fit_y, ignore_index=True)
    model = fit_cascade_model(x_all, y_all, event)
    report["fit"] = {"timerange": fit_range, "rows": len(y_all), "positive_rate": float(y_all.mean())}
    check = {"timerange": check_range, "alerts": {}}
    probs, labels = [], []
    counts = {t: {"events": 0, "warned": 0, "alerts": 0, "false_alerts": 0} for t in thresholds}
    for _, state, _, start in _market_states(pipe, data, pairs, check_range):
        x, y, events = _rows(state, event, start)
        p = model.predict(x)
        probs.append(p)
        labels.append(y)
        for t in thresholds:
            for key, value in alert_quality(p, events, t, event.horizon_bars).items():
                counts[t][key] += value
    p_all, y_chk = pd.concat(probs, ignore_index=True), pd.concat(labels, ignore_index=True)
    check.update(
        rows=len(y_chk),
        positive_rate=float(y_chk.mean()),
        mean_predicted=float(p_all.mean()),
        brier=float(((p_all - y_chk.astype(float)) ** 2).mean()),
        brier_base_rate=float(((y_chk.mean() - y_chk.astype(float)) ** 2).mean()),
        reliability=reliability(p_all, y_chk, [0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]),
        alerts={str(t): c for t, c in counts.items()},
    )
    report["check"] = check
    return CascadeModel(model.features, model.mean, model.scale, model.coef, model.intercept, event, report)


def _rows(
    frame: pd.DataFrame, event: CascadeEvent, start: pd.Timestamp | None
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Features, labels and events from ``start`` on, where features are known and the label's horizon is in the data.

    Events and features are computed on the whole frame (warm-up included) and cut afterwards.
    """
    events = cascade_events(frame, frame[col.ATR_PCT], event)
    label = cascade_label(events, event.horizon_bars)
    keep = frame[col.RV_RATIO].notna() & frame[col.ATR_PCT].notna()
    keep &= pd.Series(range(len(frame)), index=frame.index) < len(frame) - event.horizon_bars
    if start is not None:
        keep &= frame["date"] >= start
    return cascade_features(frame).loc[keep], label.loc[keep], events.loc[keep]


# hydra report signals
def _as_selected(frame: pd.DataFrame, signal: Signal) -> pd.DataFrame:
    """Return ``frame`` with the signal's confidence replaced by its selection score (confidence x fit x weight)."""
    conf = col.signal_column(signal.name, "conf")
    return frame.assign(**{conf: frame[conf] * regime_fit(signal, frame[col.REGIME]) * signal.weight})


@dataclass(frozen=True)
class SignalReport:
    """The event study's results."""

    events: pd.DataFrame
    summary: pd.DataFrame
    silent: tuple[str, ...]  # signals that never fired on the data given


def report_signals(
    cfg: HydraConfig,
    data: ResearchData,
    pairs: Sequence[str],
    timerange: str | None,
    horizons_bars: Sequence[int] = (4, 16, 48, 96),
    fee_rate: float = 0.0005,
    overrides: Mapping[str, float] | None = None,
) -> SignalReport:
    """Run every registered signal (enabled or not) and study what followed the trades it would open.

    A signal counts as firing where the strategy would trade it if it were the only one enabled:
    confidence x its fit with the candle's regime x its weight at or above
    ``hydra.alpha.min_signal_confidence`` (the selection rule of ``alpha/select.py``). Thresholds
    are the signals' defaults, replaced by ``overrides`` (hyperopt parameter names, as in
    ``hydra.json``). Signals that never fired are listed in ``silent``.
    """
    pipe = Pipeline(cfg, int(pd.Timedelta(data.timeframe).total_seconds() // 60))
    signals = build_signals(cfg.alpha.signals, include_disabled=True)
    all_events = []
    for pair, state, inputs, start in _market_states(pipe, data, pairs, timerange):
        frame = pipe.assess(state)
        frame = pd.concat([frame, *(sig.generate(frame, overrides) for sig in signals)], axis=1)
        frame = _slice(frame, start, None)
        for sig in signals:
            ev = event_study.signal_events(
                _as_selected(frame, sig),
                inputs.funding,
                sig.name,
                horizons_bars,
                pipe.timeframe,
                fee_rate,
                cfg.alpha.min_signal_confidence,
            )
            ev.insert(0, "pair", pair)
            all_events.append(ev)
    if not all_events:
        raise ValueError(f"no candles for {list(pairs)} in {data.datadir} over {timerange or 'all data'}")
    events = pd.concat(all_events, ignore_index=True)
    fired = set(events["signal"])
    return SignalReport(events, event_study.summarize(events), tuple(s.name for s in signals if s.name not in fired))
