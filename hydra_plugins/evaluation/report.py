"""``hydra report backtest``: one HTML report with PNG plots from a Freqtrade backtest (or a walk-forward).

Sections: the headline figures next to an equal-weight buy-and-hold of the same pairs, the equity
curve and drawdown (marked to market, :mod:`hydra_plugins.evaluation.equity`), monthly returns,
performance per signal (Freqtrade's ``enter_tag``), per regime at entry and per exit reason (grouped:
kill switches, thesis, stops, take-profit, time, LLM, operator), the scorer's precision and recall,
and which inputs were recorded, proxied or absent (:mod:`hydra_plugins.evaluation.evidence`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType
from jinja2 import Environment, PackageLoader, select_autoescape

from hydra_plugins.core import columns as col
from hydra_plugins.core.artifacts import read_card
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.core.errors import ModelArtifactError
from hydra_plugins.evaluation import equity
from hydra_plugins.evaluation.evidence import MlAccuracy
from hydra_plugins.intel.store import IntelStore
from hydra_plugins.risk.journal import count_events, read_journal
from hydra_plugins.training.backtests import read_result
from hydra_plugins.training.evaluate import jsonable
from hydra_plugins.training.history import ResearchData, load_candles

BUY_AND_HOLD = "Buy-and-hold (equal weight)"

# Exit reasons by family, first match wins (Freqtrade's own reasons and HYDRA's).
EXIT_FAMILIES = (
    ("kill switch", ("hydra_kill_",)),
    ("thesis broken", ("hydra_thesis_",)),
    ("LLM", ("hydra_llm_",)),
    ("stop", ("hydra_stop", "stop_loss", "stoploss_on_exchange", "trailing_stop_loss", "liquidation")),
    ("take-profit", ("hydra_take_profit", "roi")),
    ("time limit", ("hydra_time_stop",)),
    ("forced (operator, or the backtest's end)", ("force_exit", "emergency_exit")),
)


def exit_family(reason: str) -> str:
    """The family of an exit reason (``other`` for the rest, e.g. an exit signal)."""
    for family, prefixes in EXIT_FAMILIES:
        if any(str(reason).startswith(p) for p in prefixes):
            return family
    return "other"


@dataclass(frozen=True)
class Run:
    """One strategy's trades over a span, and what it ran with."""

    label: str
    trades: pd.DataFrame
    config: Mapping[str, Any] = field(default_factory=dict)
    entries: pd.DataFrame | None = None  # per trade: the strategy's own columns on its signal candle
    source: str = ""
    journals: tuple[Path, ...] = ()  # HYDRA's risk journals of the run (one per backtest)


@dataclass(frozen=True)
class Loaded:
    """A Freqtrade backtest result read back: the run, its span and its pairs."""

    run: Run
    span: equity.Span
    pairs: list[str]
    stats: Mapping[str, Any]


def load_result(path: Path, strategy: str | None = None, label: str | None = None) -> Loaded:
    """Read a Freqtrade backtest result (zip, or the folder's newest) as a :class:`Run` over its span."""
    result = read_result(path, strategy)
    st = result.stats
    timeframe = pd.Timedelta(st["timeframe"])
    span = equity.Span(
        start=pd.Timestamp(st["backtest_start"], tz="UTC"),
        end=pd.Timestamp(st["backtest_end"], tz="UTC") + timeframe,  # its last candle closes then
        timeframe=timeframe,
        wallet=float(st["starting_balance"]),
    )
    run = Run(label or result.strategy, result.trades, result.config, result.entries, source=str(result.result))
    return Loaded(run, span, list(st.get("pairlist", [])), st)


def load_prices(datadir: Path, pairs: Sequence[str], span: equity.Span, timeframe: str) -> tuple[dict, dict]:
    """Each pair's ``timeframe`` candle opens and closes in ``span`` (indexed by candle open); pairs without
    candles left out."""
    handler = get_datahandler(Path(datadir), "feather")
    opens, closes = {}, {}
    for pair in pairs:
        candles = load_candles(handler, pair, timeframe, CandleType.FUTURES)
        if candles.empty:
            continue
        dates = pd.to_datetime(candles["date"], utc=True)
        inside = ((dates >= span.start) & (dates < span.end)).to_numpy()
        if not inside.any():
            continue
        index = pd.DatetimeIndex(dates[inside])
        opens[pair] = pd.Series(candles["open"].to_numpy()[inside], index=index)
        closes[pair] = pd.Series(candles["close"].to_numpy()[inside], index=index)
    return opens, closes


def research_data(datadir: Path, timeframe: str, store: Path | None = None) -> ResearchData:
    """The history the evidence is measured on: Freqtrade's data, the metrics archive beside it, the intel store."""
    metrics = Path(datadir).parent / "binance-metrics"
    return ResearchData(
        Path(datadir),
        timeframe=timeframe,
        store=IntelStore(store, readonly=True) if store is not None and Path(store).is_file() else None,
        metrics_dir=metrics if metrics.is_dir() else None,
    )


def missing_pairs(pairs: Sequence[str], closes: Mapping[str, pd.Series]) -> list[str]:
    """A note naming the pairs without candles in the span: left out of buy-and-hold, and any trade of theirs
    counted at its realised profit only (no price to mark it to while open)."""
    absent = [p for p in pairs if p not in closes]
    if not absent:
        return []
    return [
        f"No candles in the span for {', '.join(absent)}: left out of buy-and-hold; a trade of theirs (if any) "
        "counts at its realised profit only."
    ]


def model_sample_notes(cfg: HydraConfig, span: equity.Span) -> list[str]:
    """Say, per model, whether the span is out of sample for it, from its card."""
    lines = []
    for name, model in (("signal scorer", cfg.alpha.scorer), ("regime model", cfg.stats.regime_model)):
        try:
            card = read_card(Path(model.path))
        except (ModelArtifactError, OSError):
            continue
        lines.append(sample_note(name, card, span))
    return lines


def sample_note(name: str, card: Mapping[str, Any], span: equity.Span) -> str:
    """Whether ``span`` is out of sample for the model of ``card``: trained before it, after it, or across it."""
    trained = training_span(card)
    if trained is None:
        return f"The {name}'s card does not say what it was trained on: in or out of sample is unknown."
    t_start, t_end = trained
    on = f"{t_start:%Y-%m-%d %H:%M} → {t_end:%Y-%m-%d %H:%M} UTC"
    if t_end < span.start:
        return f"Out of sample for the {name}: trained on candles {on}, before this span."
    if t_start >= span.end:
        return (
            f"Not out of sample for the {name}: trained on candles {on}, after this span, so it has seen what "
            "followed every trade here."
        )
    return (
        f"In sample for the {name}: trained on candles {on}, which overlaps this span; use a later span "
        "(or hydra evaluate walk-forward) for out-of-sample figures."
    )


def training_span(card: Mapping[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first and last candle a model was trained on, from its card's ``training.span``
    (``"2022-01-03 16:30 -> 2023-06-25 00:00 UTC"``); None when the card does not say."""
    text = str(card.get("training", {}).get("span") or "")
    parts = [p.strip().removesuffix("UTC").strip() for p in text.split("->")]
    if len(parts) != 2:
        return None
    try:
        return pd.Timestamp(parts[0], tz="UTC"), pd.Timestamp(parts[1], tz="UTC")
    except ValueError:
        return None


def scorer_note(cfg: HydraConfig, hydra: Run, scored: bool, status: str | None = None) -> str:
    """What the ML accuracy section measured, and whether the scorer gated ``hydra``'s entries.

    ``status`` is what the backtest's log said of the scorer; without it, a trade with an ML score on
    its signal candle shows the scorer was in use (no trade, or no ``--export signals``: unknown).
    """
    if not scored:
        return f"No signal scorer could be loaded from {cfg.alpha.scorer.path}: no ML accuracy."
    entries = hydra.entries
    if status and status.startswith("in use"):
        gate = "gated Hydra's entries"
    elif status and status.startswith("NOT LOADED"):
        gate = f"failed its checks, so Hydra opened no new entry ({status})"
    elif status:
        gate = f"did not gate Hydra's entries ({status})"
    elif entries is not None and col.ML_SCORE in entries and bool(entries[col.ML_SCORE].notna().any()):
        gate = "gated Hydra's entries"
    elif entries is not None and col.ML_SCORE in entries:
        gate = "did not gate Hydra's entries (off, or its card does not recommend it)"
    else:
        gate = "may or may not have gated Hydra's entries (no trade with a signal candle to tell)"
    return (
        f"Every candle on which an enabled signal would trade in the span, scored by {cfg.alpha.scorer.path} and "
        f"labelled by what that trade would have done under HYDRA's exits after fees and funding. The scorer {gate}."
    )


# Tables


def group_table(trades: pd.DataFrame, key: pd.Series | np.ndarray, name: str) -> pd.DataFrame:
    """Trades, win rate, profit and profit factor per value of ``key`` (one per trade)."""
    columns = [name, "trades", "win_rate_pct", "profit_abs", "avg_profit_pct", "profit_factor"]
    if trades.empty:
        return pd.DataFrame(columns=columns)
    frame = trades.assign(_key=np.asarray(key))
    rows = []
    for value, part in frame.groupby("_key", sort=False, dropna=False):
        rows.append(
            {
                name: "unknown" if value is None or (isinstance(value, float) and math.isnan(value)) else value,
                "trades": len(part),
                "win_rate_pct": 100.0 * float((part["profit_abs"] > 0).mean()),
                "profit_abs": float(part["profit_abs"].sum()),
                "avg_profit_pct": 100.0 * float(part["profit_ratio"].mean()),
                "profit_factor": equity.profit_factor(part),
            }
        )
    return pd.DataFrame(rows, columns=columns).sort_values("trades", ascending=False, ignore_index=True)


def regime_at_entry(run: Run) -> tuple[np.ndarray, str]:
    """Each trade's regime on its signal candle, and where it came from."""
    if run.entries is None or col.REGIME not in run.entries:
        return np.full(len(run.trades), None, dtype=object), "unknown: the backtest was not run with --export signals"
    by_trade = run.entries.set_index(["pair", "open_date"])[col.REGIME]
    keys = zip(run.trades["pair"], pd.to_datetime(run.trades["open_date"], utc=True), strict=True)
    regimes = np.array([by_trade.get(k) for k in keys], dtype=object)
    return regimes, "the strategy's own hydra_regime on the signal candle"


# Plots


def _figure(width: float = 11, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def distinct_curves(curves: Mapping[str, pd.Series]) -> dict[str, pd.Series]:
    """The curves with identical ones drawn once, under their labels joined by " = "."""
    out: dict[str, pd.Series] = {}
    for label, curve in curves.items():
        same = next((k for k, c in out.items() if c.equals(curve)), None)
        if same is None:
            out[label] = curve
        else:
            out[f"{same} = {label}"] = out.pop(same)
    return out


def _style(label: str, i: int) -> dict[str, Any]:
    return {"color": "black", "linestyle": "--"} if label == BUY_AND_HOLD else {"color": f"C{i}"}


def plot_equity(curves: Mapping[str, pd.Series], path: Path, title: str) -> None:
    """The balances over time; below, the strategies alone on their own scale (buy-and-hold can dwarf them)."""
    curves = distinct_curves(curves)
    strategies = {k: v for k, v in curves.items() if k != BUY_AND_HOLD}
    panels = [curves, strategies] if BUY_AND_HOLD in curves and strategies else [curves]
    fig = _figure(height=4.5 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, shown, heading in zip(axes, panels, (title, "The strategies alone"), strict=False):
        for i, (label, curve) in enumerate(shown.items()):
            hourly = curve.resample("1h").last().dropna()
            ax.plot(hourly.index, hourly.to_numpy(), label=label, linewidth=1.2, **_style(label, i))
        ax.set_title(heading)
        ax.set_ylabel("balance (stake currency)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.savefig(path, format="png", dpi=100)


def plot_drawdown(curves: Mapping[str, pd.Series], path: Path) -> None:
    fig = _figure(height=3.2)
    ax = fig.subplots()
    for i, (label, curve) in enumerate(distinct_curves(curves).items()):
        dd = equity.drawdown(curve.resample("1h").last().dropna())
        ax.plot(dd.index, dd.to_numpy(), label=label, linewidth=1.0, **_style(label, i))
    ax.set_title("Drawdown below the running peak, marked to market (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.savefig(path, format="png", dpi=100)


def plot_monthly(monthly: pd.DataFrame, path: Path) -> None:
    monthly = pd.DataFrame(distinct_curves({str(c): monthly[c] for c in monthly.columns}))
    fig = _figure(height=3.2)
    ax = fig.subplots()
    x = np.arange(len(monthly))
    width = 0.8 / max(1, len(monthly.columns))
    for i, name in enumerate(monthly.columns):
        ax.bar(x + i * width, monthly[name].to_numpy(), width, label=name, color=_style(name, i)["color"], alpha=0.8)
    ax.set_xticks(x + width * (len(monthly.columns) - 1) / 2, monthly.index, rotation=45, fontsize=8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_title("Monthly returns (%)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="best", fontsize=8)
    fig.savefig(path, format="png", dpi=100)


def plot_breakdown(table: pd.DataFrame, key: str, path: Path, title: str) -> None:
    fig = _figure(width=7, height=0.5 + 0.4 * max(3, len(table)))
    ax = fig.subplots()
    if not table.empty:
        values = table["profit_abs"].to_numpy(dtype=float)
        ax.barh([str(v) for v in table[key]], values, color=np.where(values >= 0, "tab:green", "tab:red"))
        ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_title(title)
    ax.set_xlabel("profit (stake currency)")
    ax.grid(alpha=0.3, axis="x")
    fig.savefig(path, format="png", dpi=100)


# The report


@dataclass
class Report:
    """Everything the report shows; :func:`write_report` renders it."""

    title: str
    intro: list[str]
    span: equity.Span
    pairs: list[str]
    runs: list[Run]
    curves: dict[str, pd.Series]
    metrics: pd.DataFrame
    monthly: pd.DataFrame
    per_signal: pd.DataFrame
    per_regime: pd.DataFrame
    regime_source: str
    per_exit: pd.DataFrame
    per_exit_family: pd.DataFrame
    ml: MlAccuracy | None
    ml_note: str
    inputs: pd.DataFrame | None
    risk_events: pd.DataFrame | None = None  # event, code, count from the risk journals of the first run
    notes: list[str] = field(default_factory=list)


def build_report(
    title: str,
    intro: Sequence[str],
    runs: Sequence[Run],
    span: equity.Span,
    pairs: Sequence[str],
    prices: tuple[dict, dict],
    *,
    ml: MlAccuracy | None = None,
    ml_note: str = "",
    inputs: pd.DataFrame | None = None,
    notes: Sequence[str] = (),
) -> Report:
    """Compute every section for ``runs`` (the first is the one broken down), next to buy-and-hold."""
    opens, closes = prices
    curves = {run.label: equity.mark_to_market(run.trades, closes, span) for run in runs}
    curves[BUY_AND_HOLD] = equity.buy_and_hold(closes, opens, span)
    rows = []
    for run in runs:
        rows.append({"strategy": run.label, **equity.metrics(curves[run.label], run.trades, span)})
    rows.append({"strategy": BUY_AND_HOLD, **equity.metrics(curves[BUY_AND_HOLD], None, span)})
    main = runs[0]
    trades = main.trades
    regimes, regime_source = regime_at_entry(main)
    reasons = trades["exit_reason"].astype(str) if not trades.empty else pd.Series(dtype=str)
    return Report(
        title=title,
        intro=list(intro),
        span=span,
        pairs=list(pairs),
        runs=list(runs),
        curves=curves,
        metrics=pd.DataFrame(rows),
        monthly=pd.DataFrame({label: equity.monthly_returns(curve, span.timeframe) for label, curve in curves.items()}),
        per_signal=group_table(trades, trades["enter_tag"].fillna("") if not trades.empty else [], "signal"),
        per_regime=group_table(trades, regimes, "regime at entry"),
        regime_source=regime_source,
        per_exit=group_table(trades, reasons, "exit reason"),
        per_exit_family=group_table(trades, [exit_family(r) for r in reasons], "exit family"),
        ml=ml,
        ml_note=ml_note,
        inputs=inputs,
        risk_events=risk_events(main.journals),
        notes=list(notes),
    )


RISK_EVENT_TITLES = {"refused": "entry refused", "fired": "kill switch fired", "expired": "cool-down over"}


def risk_events(journals: Sequence[Path]) -> pd.DataFrame | None:
    """Count the risk journals' events by kind and code (None without a journal): what each layer refused,
    which kill switches fired."""
    if not journals:
        return None
    counts: dict[tuple[str, str], int] = {}
    for path in journals:
        for event, codes in count_events(read_journal(path)).items():
            for code, n in codes.items():
                counts[(event, code)] = counts.get((event, code), 0) + n
    rows = [
        {"event": RISK_EVENT_TITLES.get(event, event), "code": code, "count": n}
        for (event, code), n in sorted(counts.items(), key=lambda item: (item[0][0] != "refused", -item[1]))
    ]
    return pd.DataFrame(rows, columns=["event", "code", "count"])


def _number(value: Any, digits: int = 2) -> str:
    if value is None or isinstance(value, str):
        return "" if value is None else value
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    value = float(value)
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "∞"
    if value.is_integer() and abs(value) < 1e6 and digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


METRIC_COLUMNS = {
    "strategy": "strategy",
    "return_pct": "return %",
    "max_drawdown_pct": "max drawdown %",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "calmar": "Calmar",
    "profit_factor": "profit factor",
    "trades": "trades",
    "win_rate_pct": "win rate %",
    "exposure_pct": "exposure %",
    "final_balance": "final balance",
}


def table_rows(frame: pd.DataFrame, columns: Mapping[str, str]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells of ``frame``'s ``columns`` (name → heading)."""
    header = list(columns.values())
    digits = {"trades": 0, "signals": 0, "allowed": 0, "profitable": 0}
    body = [[_number(row[c], digits.get(c, 2)) for c in columns] for _, row in frame.iterrows()]
    return header, body


def markdown_table(frame: pd.DataFrame, columns: Mapping[str, str]) -> str:
    header, body = table_rows(frame, columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


GROUP_COLUMNS = {
    "trades": "trades",
    "win_rate_pct": "win rate %",
    "profit_abs": "profit",
    "avg_profit_pct": "avg profit %",
    "profit_factor": "profit factor",
}


def ml_rows(ml: MlAccuracy) -> list[tuple[str, str]]:
    return [
        ("signals the scorer judged", f"{ml.signals:,}"),
        ("profitable had they all traded (base rate)", f"{ml.profitable:,} ({100 * ml.base_rate:.1f} %)"),
        (f"allowed (P ≥ {ml.threshold:.2f})", f"{ml.allowed:,}"),
        ("precision: allowed that were profitable", f"{100 * ml.precision:.1f} %" if ml.allowed else "-"),
        ("recall: profitable that it allowed", f"{100 * ml.recall:.1f} %" if ml.profitable else "-"),
        ("rejected", f"{ml.rejected:,}"),
        ("rejected that would have lost", f"{ml.rejected_losing:,}"),
        ("accuracy", f"{100 * ml.accuracy:.1f} %" if ml.signals else "-"),
    ]


def render_markdown(report: Report) -> str:
    """The headline table and the breakdowns as Markdown (what the command prints)."""
    lines = [f"# {report.title}", "", *report.intro, ""]
    lines += [markdown_table(report.metrics, METRIC_COLUMNS), ""]
    for heading, table, key in (
        ("Per signal", report.per_signal, "signal"),
        (f"Per regime at entry ({report.regime_source})", report.per_regime, "regime at entry"),
        ("Per exit family", report.per_exit_family, "exit family"),
    ):
        lines += [f"## {heading}", "", markdown_table(table, {key: key, **GROUP_COLUMNS}), ""]
    lines += ["## ML accuracy", ""]
    if report.ml is not None:
        lines += [f"- {name}: {value}" for name, value in ml_rows(report.ml)]
    lines += [f"{report.ml_note}", ""]
    if report.risk_events is not None:
        lines += [
            f"## What the risk brain refused and fired ({report.runs[0].label})",
            "",
            markdown_table(report.risk_events, RISK_COLUMNS)
            if len(report.risk_events)
            else "Nothing refused or fired.",
            "",
        ]
    if report.inputs is not None:
        lines += ["## Inputs", "", markdown_table(report.inputs, INPUT_COLUMNS), ""]
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines).rstrip() + "\n"


ML_SIGNAL_COLUMNS = {
    "signal": "signal",
    "signals": "signals",
    "profitable": "profitable",
    "allowed": "allowed",
    "allowed_profitable": "allowed and profitable",
}
RISK_COLUMNS = {"event": "event", "code": "code", "count": "count"}
INPUT_COLUMNS = {"input": "input", "status": "status", "recorded_pct": "recorded %", "proxied_pct": "proxied %"}


def write_report(report: Report, out: Path, stem: str = "report") -> dict[str, Path]:
    """Write ``<stem>.html`` (with its PNGs beside it), ``<stem>.md`` and ``<stem>.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    pngs = {
        "equity": out / f"{stem}_equity.png",
        "drawdown": out / f"{stem}_drawdown.png",
        "monthly": out / f"{stem}_monthly.png",
        "signals": out / f"{stem}_signals.png",
        "exits": out / f"{stem}_exits.png",
    }
    plot_equity(report.curves, pngs["equity"], f"{report.title}: balance marked to market")
    plot_drawdown(report.curves, pngs["drawdown"])
    plot_monthly(report.monthly, pngs["monthly"])
    plot_breakdown(report.per_signal, "signal", pngs["signals"], f"{report.runs[0].label}: profit per signal")
    plot_breakdown(report.per_exit_family, "exit family", pngs["exits"], f"{report.runs[0].label}: profit per exit")
    env = Environment(loader=PackageLoader("hydra_plugins.evaluation"), autoescape=select_autoescape())
    monthly = report.monthly.reset_index(names="month")
    html = env.get_template("report.html").render(
        report=report,
        png={k: p.name for k, p in pngs.items()},
        metrics=table_rows(report.metrics, METRIC_COLUMNS),
        monthly=table_rows(monthly, {"month": "month", **{c: c for c in report.monthly.columns}}),
        groups=[
            ("Per signal (enter tag)", table_rows(report.per_signal, {"signal": "signal", **GROUP_COLUMNS}), "signals"),
            (
                f"Per regime at entry ({report.regime_source})",
                table_rows(report.per_regime, {"regime at entry": "regime", **GROUP_COLUMNS}),
                None,
            ),
            (
                "Per exit family",
                table_rows(report.per_exit_family, {"exit family": "exit family", **GROUP_COLUMNS}),
                "exits",
            ),
            ("Per exit reason", table_rows(report.per_exit, {"exit reason": "exit reason", **GROUP_COLUMNS}), None),
        ],
        ml=ml_rows(report.ml) if report.ml is not None else None,
        ml_per_signal=table_rows(report.ml.per_signal, ML_SIGNAL_COLUMNS) if report.ml is not None else None,
        inputs=table_rows(report.inputs, INPUT_COLUMNS) if report.inputs is not None else None,
        risk=table_rows(report.risk_events, RISK_COLUMNS) if report.risk_events is not None else None,
    )
    files = {"html": out / f"{stem}.html", "markdown": out / f"{stem}.md", "json": out / f"{stem}.json", **pngs}
    files["html"].write_text(html, encoding="utf-8")
    files["markdown"].write_text(render_markdown(report), encoding="utf-8")
    payload = {
        "title": report.title,
        "span": {"start": report.span.start, "end": report.span.end, "wallet": report.span.wallet},
        "pairs": report.pairs,
        "metrics": report.metrics.to_dict(orient="records"),
        "monthly_pct": report.monthly.to_dict(orient="index"),
        "per_signal": report.per_signal.to_dict(orient="records"),
        "per_regime": report.per_regime.to_dict(orient="records"),
        "per_exit": report.per_exit.to_dict(orient="records"),
        "ml": None if report.ml is None else report.ml.summary(),
        "inputs": None if report.inputs is None else report.inputs.to_dict(orient="records"),
        "risk_events": None if report.risk_events is None else report.risk_events.to_dict(orient="records"),
        "notes": report.notes,
    }
    files["json"].write_text(json.dumps(jsonable(payload), indent=2), encoding="utf-8")
    return files
