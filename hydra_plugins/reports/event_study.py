"""Event study of HYDRA's signals, the numbers behind ``hydra report signals``.

The contract, per pair, signal and horizon ``h`` (in bars of the frame's timeframe):

* A signal **fires** on candle ``t`` when ``dir != 0`` and ``conf >= min_confidence`` (a missing
  ``dir`` counts as 0, a missing ``conf`` never fires). ``fired_candles`` counts every firing candle.
* Freqtrade enters at the **next** candle's open: ``entry = open[t+1]`` at ``entry_date = date[t+1]``,
  and the event exits at ``exit = open[t+1+h]``, ``exit_date = date[t+1+h]``. Events whose exit lies
  beyond the data are dropped, never padded. So are events whose candles ``t .. t+1+h`` are not
  contiguous (``exit_date - date != (h + 1) x timeframe``) or whose entry or exit open is not a positive
  number: their return would not be over the stated horizon.
* Events do not overlap, separately for every horizon: after an event at ``t`` the next counted event
  is the first valid firing candle at or after ``t + h``, whose entry is at or after the previous exit.
* ``gross_pct = dir x (exit / entry - 1) x 100``;
  ``fee_pct = 2 x fee_rate x 100`` (entry and exit, percent of notional);
  ``funding_pct = dir x sum(rate) x 100`` over the settlements with
  ``entry_date < settlement date <= exit_date`` (a long pays positive funding, a short receives it;
  a missing rate counts as 0, no funding frame as no funding cost);
  ``net_pct = gross_pct - fee_pct - funding_pct``.

Summary statistics per signal x pair x regime x horizon, where ``pair`` and ``regime`` may also be
``"ALL"`` (all pairs, all regimes; events without a ``pair`` column belong to pair ``"ALL"`` only):
``n_events``; ``hit_rate``, the share of events with ``net_pct > 0``; ``mean_net_pct`` and its 95%
interval ``[ci_low, ci_high]`` (Student t with ``n - 1`` degrees of freedom, the normal quantile if
scipy is missing, NaN when ``n < 2``); the means of the gross, fee and funding parts; ``proxy_share``,
the share of events whose signal ran on a proxied input; and ``fired_candles``.

``fired_candles`` travels on the events: every event row carries the number of candles on which its
signal fired in its pair's frame **and its regime** (the same value on every row of that pair, signal
and regime, whatever the horizon). A summary row adds that number once for each pair x regime its
events came from, so it does not depend on the horizon; firing candles of a pair x regime that left no
event at any horizon (all of them too close to the end of the data) are not counted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col
from hydra_plugins.intel.funding import funding_paid

try:
    from scipy import stats as _scipy_stats
except ImportError:  # pragma: no cover - scipy ships with the dev environment
    _scipy_stats = None

ALL = "ALL"
CONFIDENCE_LEVEL = 0.95
_NORMAL_975 = 1.959963984540054  # the normal quantile used when scipy is missing

EVENT_COLUMNS = (
    "signal",
    "date",
    "direction",
    "regime",
    "horizon_bars",
    "horizon_h",
    "entry_date",
    "exit_date",
    "entry_price",
    "exit_price",
    "gross_pct",
    "fee_pct",
    "funding_pct",
    "net_pct",
    "proxy",
    "fired_candles",
)
SUMMARY_COLUMNS = (
    "signal",
    "pair",
    "regime",
    "horizon_bars",
    "horizon_h",
    "n_events",
    "hit_rate",
    "mean_net_pct",
    "ci_low",
    "ci_high",
    "mean_gross_pct",
    "mean_fee_pct",
    "mean_funding_pct",
    "proxy_share",
    "fired_candles",
)


def _utc_index(values: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).astype("datetime64[ns, UTC]")


def _empty_events() -> pd.DataFrame:
    utc = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]")
    return pd.DataFrame(
        {
            "signal": pd.Series([], dtype=object),
            "date": utc,
            "direction": pd.Series([], dtype="int64"),
            "regime": pd.Series([], dtype=object),
            "horizon_bars": pd.Series([], dtype="int64"),
            "horizon_h": pd.Series([], dtype=float),
            "entry_date": utc,
            "exit_date": utc,
            **{name: pd.Series([], dtype=float) for name in EVENT_COLUMNS[8:14]},
            "proxy": pd.Series([], dtype=bool),
            "fired_candles": pd.Series([], dtype="int64"),
        }
    )


def signal_events(
    frame: pd.DataFrame,
    funding: pd.DataFrame | None,
    signal: str,
    horizons_bars: Sequence[int],
    timeframe: pd.Timedelta,
    fee_rate: float,
    min_confidence: float,
) -> pd.DataFrame:
    """Return one row per counted event of ``signal`` in one pair's frame, for every horizon.

    The rows follow the module docstring's contract, ordered by horizon then signal candle, with the
    columns :data:`EVENT_COLUMNS`. Raise ``KeyError`` naming the columns the frame lacks.
    """
    dir_col, conf_col, proxy_col = (
        col.signal_column(signal, "dir"),
        col.signal_column(signal, "conf"),
        col.signal_column(signal, "proxy"),
    )
    missing = [c for c in ("date", "open", col.REGIME, dir_col, conf_col) if c not in frame.columns]
    if missing:
        raise KeyError(f"signal {signal!r}: the frame is missing columns {missing}")
    horizons = [int(h) for h in horizons_bars]
    if any(h < 1 for h in horizons) or len(set(horizons)) != len(horizons):
        raise ValueError(f"horizons_bars must be distinct positive integers, got {list(horizons_bars)}")
    if fee_rate < 0 or timeframe <= pd.Timedelta(0):
        raise ValueError(f"need fee_rate >= 0 and a positive timeframe, got {fee_rate} and {timeframe}")

    dates = _utc_index(frame["date"])
    date_ns = dates.asi8
    opens = pd.to_numeric(frame["open"]).to_numpy(dtype=float, na_value=np.nan)
    direction = np.nan_to_num(np.sign(pd.to_numeric(frame[dir_col]).to_numpy(dtype=float, na_value=np.nan)))
    confidence = pd.to_numeric(frame[conf_col]).to_numpy(dtype=float, na_value=np.nan)
    regimes = frame[col.REGIME].astype(object).where(frame[col.REGIME].notna(), "UNKNOWN").astype(str).to_numpy()
    proxied = (
        frame[proxy_col].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if proxy_col in frame.columns
        else np.zeros(len(frame), dtype=bool)
    )

    fired = np.flatnonzero((direction != 0) & (confidence >= min_confidence))
    fired_by_regime = Counter(regimes[fired])
    tradable = np.isfinite(opens) & (opens > 0)
    n, bar_ns = len(frame), timeframe.value

    picked: list[np.ndarray] = []
    picked_h: list[np.ndarray] = []
    for h in horizons:
        candidates = fired[fired + 1 + h < n]
        exit_pos = candidates + 1 + h
        valid = (
            tradable[candidates + 1]
            & tradable[exit_pos]
            & (date_ns[exit_pos] - date_ns[candidates] == (h + 1) * bar_ns)
        )
        chosen: list[int] = []
        next_allowed = -1
        for t in candidates[valid]:
            if t >= next_allowed:
                chosen.append(int(t))
                next_allowed = t + h
        picked.append(np.asarray(chosen, dtype=np.int64))
        picked_h.append(np.full(len(chosen), h, dtype=np.int64))

    signal_pos = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    if signal_pos.size == 0:
        return _empty_events()
    horizon = np.concatenate(picked_h)
    entry_pos, exit_pos = signal_pos + 1, signal_pos + 1 + horizon
    entry_price, exit_price = opens[entry_pos], opens[exit_pos]
    side = direction[signal_pos]
    gross_pct = side * (exit_price / entry_price - 1.0) * 100.0
    fee_pct = np.full(len(signal_pos), 2.0 * fee_rate * 100.0)
    funding_pct = side * funding_paid(funding, date_ns[entry_pos], date_ns[exit_pos]) * 100.0
    event_regimes = regimes[signal_pos]
    return pd.DataFrame(
        {
            "signal": signal,
            "date": dates[signal_pos],
            "direction": side.astype(np.int64),
            "regime": event_regimes.astype(object),
            "horizon_bars": horizon,
            "horizon_h": horizon * (timeframe / pd.Timedelta(hours=1)),
            "entry_date": dates[entry_pos],
            "exit_date": dates[exit_pos],
            "entry_price": entry_price,
            "exit_price": exit_price,
            "gross_pct": gross_pct,
            "fee_pct": fee_pct,
            "funding_pct": funding_pct,
            "net_pct": gross_pct - fee_pct - funding_pct,
            "proxy": proxied[signal_pos],
            "fired_candles": np.array([fired_by_regime[r] for r in event_regimes], dtype=np.int64),
        }
    )


def _t_quantile(dof: int) -> float:
    if _scipy_stats is None:
        return _NORMAL_975
    return float(_scipy_stats.t.ppf(0.5 + CONFIDENCE_LEVEL / 2, dof))


def _group_row(group: pd.DataFrame, fired_candles: int) -> dict[str, float | int]:
    net = group["net_pct"].to_numpy(dtype=float)
    count = len(net)
    mean = float(net.mean())
    low = high = math.nan
    if count >= 2:
        half = _t_quantile(count - 1) * float(net.std(ddof=1)) / math.sqrt(count)
        low, high = mean - half, mean + half
    return {
        "horizon_h": float(group["horizon_h"].iloc[0]),
        "n_events": count,
        "hit_rate": float((net > 0).mean()),
        "mean_net_pct": mean,
        "ci_low": low,
        "ci_high": high,
        "mean_gross_pct": float(group["gross_pct"].mean()),
        "mean_fee_pct": float(group["fee_pct"].mean()),
        "mean_funding_pct": float(group["funding_pct"].mean()),
        "proxy_share": float(group["proxy"].astype(bool).mean()),
        "fired_candles": fired_candles,
    }


def summarize(events: pd.DataFrame) -> pd.DataFrame:
    """Return the statistics of the module docstring per signal x pair x regime x horizon.

    ``events`` is :func:`signal_events` output, optionally concatenated over pairs with a ``pair``
    column added. Rows are sorted by signal, pair, regime (``"ALL"`` first) and horizon; the columns
    are :data:`SUMMARY_COLUMNS`.
    """
    needed = [c for c in EVENT_COLUMNS if c not in ("date", "entry_date", "exit_date")]
    missing = [c for c in needed if c not in events.columns]
    if missing:
        raise KeyError(f"the events frame is missing columns {missing}")
    if events.empty:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in SUMMARY_COLUMNS})

    source = events.assign(
        source_pair=events["pair"].astype(str) if "pair" in events.columns else ALL,
        source_regime=events["regime"].astype(str),
    )
    fired = source.drop_duplicates(["signal", "source_pair", "source_regime"])
    pair_levels = ("source_pair", None) if "pair" in events.columns else (None,)
    rows: list[dict[str, object]] = []
    for pair_level in pair_levels:
        for regime_level in ("source_regime", None):
            labelled = source.assign(
                pair=source[pair_level] if pair_level else ALL,
                regime=source[regime_level] if regime_level else ALL,
            )
            for (signal, pair, regime, horizon), group in labelled.groupby(
                ["signal", "pair", "regime", "horizon_bars"], sort=False
            ):
                counted = fired[fired["signal"] == signal]
                if pair_level:
                    counted = counted[counted["source_pair"] == pair]
                if regime_level:
                    counted = counted[counted["source_regime"] == regime]
                rows.append(
                    {
                        "signal": signal,
                        "pair": pair,
                        "regime": regime,
                        "horizon_bars": int(horizon),
                        **_group_row(group, int(counted["fired_candles"].sum())),
                    }
                )
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    order = summary.assign(
        pair_all=summary["pair"] != ALL,
        regime_all=summary["regime"] != ALL,
    ).sort_values(["signal", "pair_all", "pair", "regime_all", "regime", "horizon_bars"], kind="stable")
    return summary.loc[order.index].reset_index(drop=True)


def _fmt(value: float, decimals: int) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{value:.{decimals}f}"
    return text.removeprefix("-") if float(text) == 0 else text  # no "-0.000"


def render_table(summary: pd.DataFrame, per_pair: bool = False) -> str:
    """Return the summary as an aligned Markdown pipe table, one line per signal x regime x horizon.

    Only the ``pair == "ALL"`` rows are shown unless ``per_pair``. Returns, mean and interval are in
    percent with three decimals; the hit rate is a percentage with one decimal; ``n/a`` marks an
    interval that needs at least two events.
    """
    rows = summary if per_pair else summary[summary["pair"] == ALL]
    if rows.empty:
        return "no signal events\n"
    headers = ["signal", *(["pair"] if per_pair else []), "regime", "horizon", "n", "fired", "hit %"]
    headers += ["mean net %", "95% CI net %", "gross %", "fees %", "funding %", "proxy %"]
    numeric_from = headers.index("horizon")
    lines: list[list[str]] = []
    for row in rows.itertuples(index=False):
        lines.append(
            [
                str(row.signal),
                *([str(row.pair)] if per_pair else []),
                str(row.regime),
                f"{row.horizon_bars} bars / {row.horizon_h:g}h",
                str(row.n_events),
                str(row.fired_candles),
                _fmt(100.0 * row.hit_rate, 1),
                _fmt(row.mean_net_pct, 3),
                "n/a" if not math.isfinite(row.ci_low) else f"[{_fmt(row.ci_low, 3)}, {_fmt(row.ci_high, 3)}]",
                _fmt(row.mean_gross_pct, 3),
                _fmt(row.mean_fee_pct, 3),
                _fmt(row.mean_funding_pct, 3),
                _fmt(100.0 * row.proxy_share, 1),
            ]
        )
    widths = [max(len(h), *(len(cells[i]) for cells in lines)) for i, h in enumerate(headers)]

    def join(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i >= numeric_from else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i >= numeric_from else "-" * (w + 2) for i, w in enumerate(widths))
    return "\n".join([join(headers), rule + "|", *(join(cells) for cells in lines)]) + "\n"


def plot_summary(summary: pd.DataFrame, path: Path) -> None:
    """Write one PNG: per signal, the mean net return against the horizon with its 95% interval.

    Uses the ``pair == "ALL"`` and ``regime == "ALL"`` rows; a point without an interval (one event)
    is drawn without an error bar. The figure is drawn on an Agg canvas, leaving pyplot's global
    backend alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = summary[(summary["pair"] == ALL) & (summary["regime"] == ALL)] if not summary.empty else summary
    signals = list(dict.fromkeys(rows["signal"])) if not rows.empty else []
    panels = max(1, len(signals))
    ncols = min(3, panels)
    nrows = math.ceil(panels / ncols)
    fig = Figure(figsize=(5.0 * ncols, 3.6 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    if not signals:
        axes[0].text(0.5, 0.5, "no signal events", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    for ax, signal in zip(axes, signals, strict=False):
        panel = rows[rows["signal"] == signal].sort_values("horizon_h")
        x = panel["horizon_h"].to_numpy(dtype=float)
        mean = panel["mean_net_pct"].to_numpy(dtype=float)
        low, high = panel["ci_low"].to_numpy(dtype=float), panel["ci_high"].to_numpy(dtype=float)
        has_ci = np.isfinite(low) & np.isfinite(high)
        counts = panel["n_events"].astype(int).tolist()
        ax.axhline(0.0, color="grey", linewidth=0.8)
        (line,) = ax.plot(x, mean, "o-")
        if has_ci.any():
            yerr = np.vstack([mean[has_ci] - low[has_ci], high[has_ci] - mean[has_ci]])
            ax.errorbar(x[has_ci], mean[has_ci], yerr=yerr, fmt="none", capsize=4, color=line.get_color())
        for xi, yi, count in zip(x, mean, counts, strict=True):
            ax.annotate(f"n={count}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
        spread = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        ax.set_title(f"{signal} (n={spread} per horizon)")
        # Horizons grow geometrically (15m ... 1d): a log axis keeps the short ones apart.
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [f"{h:g}h" for h in x])
        ax.minorticks_off()
        ax.set_xlabel("horizon (hours, log scale)")
        ax.set_ylabel("mean net return (%)")
        ax.grid(alpha=0.3)
    for ax in axes[panels:]:
        ax.set_axis_off()
    fig.suptitle("Signal event study: all pairs, all regimes, 95% interval of the mean")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(path), format="png", dpi=100)
