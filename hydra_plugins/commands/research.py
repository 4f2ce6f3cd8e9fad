"""``hydra calibrate cascade`` and ``hydra report signals``: HYDRA's research on recorded history.

Both run the same pipeline the strategy runs, one pair at a time, on data in Freqtrade's layout
(``--datadir``): trade candles, funding settlements, and open interest where imported. Positioning
ratios and recorded liquidations come from the intel store when one is given, and Binance metrics
archive files (``--metrics``) can be read directly, without importing them first. What was real and
what was a proxy is reported with every result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from hydra_plugins.alpha.select import regime_fit
from hydra_plugins.alpha.signals import Signal, build_signals
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import HydraConfig
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
from hydra_plugins.training.history import ResearchData, market_states, slice_dates

logger = logging.getLogger(__name__)


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
    for _, state, _, start in market_states(pipe, data, pairs, fit_range):
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
    for _, state, _, start in market_states(pipe, data, pairs, check_range):
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
    for pair, state, inputs, start in market_states(pipe, data, pairs, timerange):
        frame = pipe.assess(state)
        frame = pd.concat([frame, *(sig.generate(frame, overrides) for sig in signals)], axis=1)
        frame = slice_dates(frame, start, None)
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
