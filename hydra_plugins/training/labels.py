"""Labels for HYDRA's two models: the outcome of a signalled trade, and the regime that follows.

Both functions read the future on purpose: their output is a **label**, never a feature. Every row
carries (or implies) the time its label becomes known, so walk-forward validation can purge it.

Trade outcomes simulate HYDRA's exits as Freqtrade backtests them, for a trade signalled on candle
``t`` (row positions in a candle frame with columns ``date`` (UTC candle open), ``open``, ``high``,
``low``, ``close``):

* The trade enters at the **next** candle's open: ``entry = open[t+1]`` at ``entry_date = date[t+1]``.
* On each candle ``j = t+1, t+2, ...`` the **stop** comes first: ``entry x (1 - stop_pct/100)`` for a
  long, ``entry x (1 + stop_pct/100)`` for a short. When the candle's low (long) or high (short)
  reaches it the trade exits at the stop price, or at the candle's open when the open is already beyond
  the stop (a gap). Checking the stop before the target inside one candle is the conservative choice:
  OHLC data cannot tell which came first.
* Then, at the candle's close: **take-profit** when the close has moved at least ``target_pct`` in the
  trade's favour (``close >= entry x (1 + target_pct/100)`` long, ``<= entry x (1 - target_pct/100)``
  short; a NaN or non-positive target means none), else the **time stop** when ``j - t >= max_hold_bars``;
  both exit at the close.
* The outcome is **unknown** when the data ends, or stops being contiguous (each candle exactly one
  ``timeframe`` after the previous one, all four prices finite), from ``t`` to the exit candle.
* ``gross_pct = direction x (exit / entry - 1) x 100``; ``fee_pct = 2 x fee_rate x 100``;
  ``funding_pct = direction x sum(rate) x 100`` over the settlements with
  ``entry_date < settlement <= exit_date`` (a long pays positive funding, a short receives it; a
  missing rate counts as 0, no funding frame as no funding cost); ``net_pct = gross - fee - funding``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hydra_plugins.intel.funding import funding_paid
from hydra_plugins.stats.regime import RULE_ORDER

OUTCOME_COLUMNS = (
    "signal_pos",
    "entry_date",
    "exit_date",
    "exit_reason",
    "bars_held",
    "entry_price",
    "exit_price",
    "gross_pct",
    "fee_pct",
    "funding_pct",
    "net_pct",
    "profitable",
    "label_end",
)
STOP, TAKE_PROFIT, TIME_STOP, UNKNOWN = "stop", "take_profit", "time_stop", "unknown"
_REASONS = np.array([STOP, TAKE_PROFIT, TIME_STOP, UNKNOWN], dtype=object)

# Ties in future_regime go to the first class here: the rule order of stats/regime.py.
REGIME_PRIORITY = RULE_ORDER
FUTURE_REGIME = "future_regime"

_WINDOW_CELLS = 2_000_000  # trades x candles simulated at once: bounds memory, keeps numpy busy


def _utc_ns(values: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).astype("datetime64[ns, UTC]").asi8


def _utc_dates(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.astype(np.int64).view("datetime64[ns]")).tz_localize("UTC")


def _aligned(name: str, values: object, size: int, dtype: type) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim == 0:
        return np.full(size, array.item(), dtype=dtype)
    if array.shape != (size,):
        raise ValueError(f"{name} must be a scalar or have one value per signal ({size}), got shape {array.shape}")
    return array


def _integers(name: str, values: object) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(f"{name} must hold whole numbers")
    elif array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def trade_outcomes(
    candles: pd.DataFrame,
    signal_pos: Sequence[int] | np.ndarray,
    direction: Sequence[int] | np.ndarray | int,
    stop_pct: Sequence[float] | np.ndarray | float,
    target_pct: Sequence[float] | np.ndarray | float,
    max_hold_bars: Sequence[int] | np.ndarray | int,
    funding: pd.DataFrame | None,
    fee_rate: float,
    timeframe: pd.Timedelta,
) -> pd.DataFrame:
    """Return the outcome of each trade signalled on the candle positions ``signal_pos``.

    The exits follow the module docstring's contract. ``signal_pos`` are row positions (not index
    labels) in ``candles``; ``direction`` (+1 long, -1 short), ``stop_pct`` (> 0), ``target_pct`` and
    ``max_hold_bars`` (>= 1) are aligned with it, or scalars shared by every trade.

    One row per signal, in input order, with the columns :data:`OUTCOME_COLUMNS`. ``exit_reason`` is
    ``"stop"``, ``"take_profit"``, ``"time_stop"`` or ``"unknown"``. An unknown outcome keeps its row:
    ``profitable`` and ``bars_held`` are ``<NA>`` (pandas nullable ``boolean`` and ``Int64``), its
    ``exit_date`` is NaT and its exit price and returns NaN (``fee_pct`` excepted). ``entry_date`` and
    ``entry_price`` are ``date[t+1]`` and ``open[t+1]`` whenever that candle exists.
    ``label_end = date[t] + (max_hold_bars + 1) x timeframe`` is the close of the last candle the trade
    can hold: the latest time its label can become known, for purging.

    Raise ``KeyError`` naming missing columns and ``ValueError`` naming any invalid input.
    """
    missing = [c for c in ("date", "open", "high", "low", "close") if c not in candles.columns]
    if missing:
        raise KeyError(f"the candle frame is missing columns {missing}")
    timeframe = pd.Timedelta(timeframe)
    if timeframe <= pd.Timedelta(0):
        raise ValueError(f"timeframe must be positive, got {timeframe}")
    if not np.isfinite(fee_rate) or fee_rate < 0:
        raise ValueError(f"fee_rate must be a finite number >= 0, got {fee_rate}")

    pos = _integers("signal_pos", signal_pos)
    if pos.ndim != 1:
        raise ValueError(f"signal_pos must be one-dimensional, got shape {pos.shape}")
    size, n = len(pos), len(candles)
    side = _aligned("direction", _integers("direction", direction), size, np.int64)
    stop = _aligned("stop_pct", stop_pct, size, float)
    target = _aligned("target_pct", target_pct, size, float)
    hold = _aligned("max_hold_bars", _integers("max_hold_bars", max_hold_bars), size, np.int64)
    if size and (pos.min() < 0 or pos.max() >= n):
        raise ValueError(f"signal_pos must lie in [0, {n - 1}], got values from {pos.min()} to {pos.max()}")
    if not np.all(np.isin(side, (-1, 1))):
        raise ValueError(f"direction must be +1 or -1, got {sorted(set(side.tolist()) - {-1, 1})}")
    if not np.all(stop > 0):  # also rejects NaN
        raise ValueError("stop_pct must be a positive number of percent for every trade")
    if size and hold.min() < 1:
        raise ValueError(f"max_hold_bars must be >= 1, got {hold.min()}")

    date_ns = _utc_ns(candles["date"])
    prices = {
        c: pd.to_numeric(candles[c]).to_numpy(dtype=float, na_value=np.nan) for c in ("open", "high", "low", "close")
    }
    opens, highs, lows, closes = prices["open"], prices["high"], prices["low"], prices["close"]
    # breaks[i] counts the candles 1..i that do not continue a clean run: a time gap or a bad price.
    usable = np.isfinite(opens) & np.isfinite(highs) & np.isfinite(lows) & np.isfinite(closes) & (opens > 0)
    broken = np.ones(n, dtype=np.int64)
    broken[1:] = (np.diff(date_ns) != timeframe.value) | ~usable[1:]
    breaks = np.cumsum(broken)

    reason = np.full(size, 3, dtype=np.int64)  # index into _REASONS; 3 = unknown
    exit_pos = np.full(size, -1, dtype=np.int64)
    exit_price = np.full(size, np.nan)
    entry_price = np.full(size, np.nan)
    has_entry = pos + 1 < n
    entry_price[has_entry] = opens[pos[has_entry] + 1]

    target_on = np.isfinite(target) & (target > 0)
    stop_price = entry_price * (1.0 - side * stop / 100.0)
    target_price = np.where(target_on, entry_price * (1.0 + side * np.where(target_on, target, 0.0) / 100.0), np.nan)

    width = int(hold.max()) if size else 1
    chunk = max(1, _WINDOW_CELLS // width)
    steps = np.arange(width, dtype=np.int64)
    for lo in range(0, size, chunk):
        rows = np.arange(lo, min(lo + chunk, size))
        t = pos[rows]
        window = t[:, None] + 1 + steps[None, :]
        inside = window < n
        at = np.minimum(window, n - 1)
        active = inside & (breaks[at] == breaks[t][:, None]) & (steps[None, :] < hold[rows][:, None])
        long = side[rows][:, None] == 1
        stops = stop_price[rows][:, None]
        stop_hit = np.where(long, lows[at] <= stops, highs[at] >= stops)
        targets = target_price[rows][:, None]
        target_hit = np.where(long, closes[at] >= targets, closes[at] <= targets)  # NaN target: never
        time_hit = steps[None, :] + 1 == hold[rows][:, None]
        event = active & (stop_hit | target_hit | time_hit)
        found = event.any(axis=1)
        first = event.argmax(axis=1)
        picked = np.arange(len(rows))
        kind = np.where(stop_hit[picked, first], 0, np.where(target_hit[picked, first], 1, 2))
        reason[rows] = np.where(found, kind, 3)
        exit_pos[rows] = np.where(found, at[picked, first], -1)

    done = reason < 3
    where = exit_pos[done]
    entries = entry_price[done]
    stops = stop_price[done]
    gapped = np.where(side[done] == 1, opens[where] <= stops, opens[where] >= stops)
    exit_price[done] = np.where(reason[done] == 0, np.where(gapped, opens[where], stops), closes[where])

    no_time = np.iinfo(np.int64).min  # NaT as nanoseconds
    entry_ns = np.where(has_entry, date_ns[np.minimum(pos + 1, n - 1)] if n else no_time, no_time)
    exit_ns = np.where(done, date_ns[np.maximum(exit_pos, 0)] if n else no_time, no_time)

    gross_pct = np.full(size, np.nan)
    gross_pct[done] = side[done] * (exit_price[done] / entries - 1.0) * 100.0
    fee_pct = np.full(size, 2.0 * fee_rate * 100.0)
    funding_pct = np.full(size, np.nan)
    funding_pct[done] = side[done] * funding_paid(funding, entry_ns[done], exit_ns[done]) * 100.0
    net_pct = gross_pct - fee_pct - funding_pct
    profitable = pd.array(np.where(done, net_pct > 0, False), dtype="boolean")
    profitable[~done] = pd.NA
    bars_held = pd.array(np.where(done, exit_pos - pos, 0), dtype="Int64")
    bars_held[~done] = pd.NA

    label_end_ns = date_ns[pos] + (hold + 1) * timeframe.value
    return pd.DataFrame(
        {
            "signal_pos": pos,
            "entry_date": _utc_dates(entry_ns),
            "exit_date": _utc_dates(exit_ns),
            "exit_reason": pd.Series(_REASONS[reason], dtype=object),
            "bars_held": bars_held,
            "entry_price": entry_price,
            "exit_price": exit_price,
            "gross_pct": gross_pct,
            "fee_pct": fee_pct,
            "funding_pct": funding_pct,
            "net_pct": net_pct,
            "profitable": profitable,
            "label_end": _utc_dates(label_end_ns),
        }
    )


def future_regime(regimes: pd.Series, horizon_bars: int) -> pd.Series:
    """Return the regime the next ``horizon_bars`` candles turn out to be: a LABEL, never a feature.

    Row ``t`` gets the most frequent value among ``regimes[t+1 .. t+horizon_bars]``; it reads only the
    future, so it depends on ``regimes[t+1:]`` and not on ``regimes[t]`` itself. Ties go to the class
    listed first in :data:`REGIME_PRIORITY` (the rule order of stats/regime.py). A row is ``None`` when its
    window is incomplete (the last ``horizon_bars`` rows) or holds a missing value (None or NaN).

    ``regimes`` holds :class:`Regime` values (as strings or members), one per consecutive candle of one
    pair. Return an object Series of plain strings and ``None`` with the same index, named
    ``future_regime``. Raise ``ValueError`` for ``horizon_bars < 1`` or a value that is not a regime.
    """
    if isinstance(horizon_bars, bool) or int(horizon_bars) != horizon_bars or horizon_bars < 1:
        raise ValueError(f"horizon_bars must be a positive integer, got {horizon_bars!r}")
    h = int(horizon_bars)
    values = regimes.astype(object)
    missing = values.isna().to_numpy()
    names = [str(r) for r in REGIME_PRIORITY]
    codes = pd.Index(names).get_indexer(values.where(~missing, None))
    strays = (codes < 0) & ~missing
    if strays.any():
        raise ValueError(f"regimes holds values that are not a Regime: {sorted({str(v) for v in values[strays]})}")

    n = len(values)
    one_hot = np.zeros((n, len(names) + 1), dtype=np.int64)
    one_hot[np.arange(n), np.where(missing, len(names), codes)] = 1
    cumulative = np.vstack([np.zeros((1, len(names) + 1), dtype=np.int64), np.cumsum(one_hot, axis=0)])
    out = np.full(n, None, dtype=object)
    complete = n - h  # rows 0 .. n-h-1 have a full window t+1 .. t+h
    if complete > 0:
        counts = cumulative[h + 1 : n + 1] - cumulative[1 : complete + 1]
        # argmax returns the first maximum, and the columns are in priority order: ties break by rule order.
        winner = np.array(names, dtype=object)[counts[:, : len(names)].argmax(axis=1)]
        out[:complete] = np.where(counts[:, len(names)] == 0, winner, None)
    return pd.Series(out, index=regimes.index, name=FUTURE_REGIME, dtype=object)
