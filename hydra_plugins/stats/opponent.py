"""The opponent model: where other traders' leveraged positions sit and at what price they would be liquidated.

Every candle ``c`` opens positions at its typical price ``p_c = (high + low + close) / 3``:

* **amount** (USDT): with open interest known at ``c`` and at ``c - 1``, the rise
  ``max(0, OI_c - OI_{c-1})`` (a *real* cohort); otherwise the labelled proxy
  ``volume_c x p_c x proxy_open_share`` (a *proxied* cohort);
* **closing**: positions opened before ``c`` shrink at ``c``: with open interest known at ``c``
  and ``c - 1``, every live cohort by the same factor ``min(1, OI_c / OI_{c-1})`` (open interest
  that fell was closed pro rata); otherwise each keeps ``0.5 ** (1 / proxy_half_life_bars)``;
* **sides and leverage**: each contract has a long and a short side, so an amount is split half
  longs, half shorts, and across ``leverage_bands`` by their shares. A long opened at ``p`` with
  leverage ``L`` is liquidated at ``p x (1 - 1/L + mm)``, a short at ``p x (1 + 1/L - mm)``
  (``mm = maintenance_margin``);
* **wiping**: a long level is liquidated, and its mass leaves the model, once a *later* candle's
  low is at or below it; a short level once a later candle's high is at or above it. The exact
  level decides;
* **forgetting**: a cohort opened at ``c`` counts at the closes of ``c .. c + window_bars - 1``
  and never after, so every output depends on the last ``window_bars`` candles only (and on the
  open interest of the candle before them).

A live level's mass at candle ``t`` is its opened share times ``prod(keep_{c+1..t})``. Masses sum
on a fixed log-price grid: bin ``g`` holds levels in ``[b**g, b**(g+1))`` with
``b = 1 + bin_pct / 100`` and is priced at its geometric centre ``b**(g + 1/2)``. A bin is *below*
the close when its centre is below it, *within x %* when its centre is at most ``x`` % away.

Outputs, per candle, the state at its close:

* long cluster: the bin nearest the close, below it and within ``cluster_range_pct``, whose mass
  plus its two neighbours' (neighbours outside that range count 0) is at least
  ``cluster_density`` times the average three-bin mass of the range (the range's long mass x 3 /
  its bins, to one part in 1e9), then moved outwards to the peak of that concentration (while the
  next bin's three-bin mass is larger, or equal with more mass of its own): the nearest place where
  long liquidations concentrate.
  ``hydra_opp_long_liq_dist_pct`` is ``(close - bin centre) / close x 100`` (> 0) and
  ``hydra_opp_long_liq_usd`` that three-bin mass; NaN and 0 when no long mass lies in range;
* short cluster: the same above the close, distance ``(bin centre - close) / close x 100``;
* ``hydra_opp_long_near_share``: long mass in bins below the close within ``near_pct`` over all
  live long mass (0 when there is none); likewise shorts above the close;
* ``hydra_opp_proxy_share``: the share of live mass (both sides) from proxied cohorts; NaN only
  when nothing is live.

The model is an assumption about other traders (how much volume opens positions, which leverage
they use), not a measurement: its dollar levels rank places on the chart and must not be read as
recorded positions. Before open interest was recorded every cohort is proxied. Open interest that
is not a positive number counts as unknown.

Computation: each level's death (its wiping candle, or expiry) comes from a sparse table of the
lows/highs after its cohort in O(log window_bars) vector steps (a death at candle ``d`` changes
rows from ``d`` on only, so nothing looks ahead); the grid state is then rebuilt from those
exact lifetimes in blocks of candles (add at birth, subtract at death, cumulative sum over
candles), with retention folded into a per-block scale, so no state is carried further than the
live cohorts themselves. Each block's grid spans only the bins its look-up ranges read, plus one
bin either side where levels farther away pool: they count in their side's total only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import OpponentConfig

COLUMNS = (
    col.OPP_LONG_LIQ_DIST_PCT,
    col.OPP_LONG_LIQ_USD,
    col.OPP_SHORT_LIQ_DIST_PCT,
    col.OPP_SHORT_LIQ_USD,
    col.OPP_LONG_NEAR_SHARE,
    col.OPP_SHORT_NEAR_SHARE,
    col.OPP_PROXY_SHARE,
)

_TIE_RTOL = 1e-9  # three-bin masses this close count as a tie
_BLOCK_MIN_BARS = 1024
_BLOCK_MAX_LOG_DECAY = 300.0  # keeps exp() of in-block retention finite: e**300 ~ 1e130
_LOWEST_LONG_FACTOR = 1e-9  # a 1x long with no maintenance margin is never liquidated: park it far below


@dataclass(frozen=True)
class _Flows:
    """Per candle: what opened, whether it was proxied, and the cumulative log-retention."""

    opened_usd: np.ndarray
    proxied: np.ndarray  # bool
    log_keep_cum: np.ndarray  # sum of log(keep) over candles 1..t; mass(c -> t) = exp(cum[t] - cum[c])


@dataclass(frozen=True)
class _Book:
    """One side's levels, one per (cohort, band) with a positive amount, ordered by cohort."""

    cohort: np.ndarray  # candle that opened it
    grid_bin: np.ndarray  # log-grid bin of its liquidation level
    opened_usd: np.ndarray  # its share of the cohort's amount, at opening
    end: np.ndarray  # first candle at whose close it no longer counts (wiped or forgotten)
    proxied: np.ndarray  # bool


@dataclass(frozen=True)
class _Side:
    """One side's book and look-up ranges (grid bins per candle), with its output columns."""

    book: _Book
    away: int  # -1: the side's levels that matter lie below the close, +1: above
    nearest: np.ndarray  # the range's bin nearest the close
    farthest: np.ndarray  # cluster_range_pct away
    near_edge: np.ndarray  # near_pct away
    dist_col: str
    usd_col: str
    near_col: str
    # Columns to look at: from the config alone, never from the data, so every row is computed with
    # the same array widths whatever rows follow it (a truncated history must give identical bits).
    cluster_width: int
    near_width: int


def _span_bins(pct: float, cfg: OpponentConfig) -> int:
    """Return an upper bound on the bins of a range reaching ``pct`` percent either way from any close."""
    step = _grid_step(cfg)
    reach = max(abs(math.log1p(-min(pct, 99.0) / 100.0)), math.log1p(pct / 100.0))
    return math.ceil(reach / step) + 2


def _grid_step(cfg: OpponentConfig) -> float:
    return math.log1p(cfg.bin_pct / 100.0)


def _flows(candles: pd.DataFrame, oi_value_usd: pd.Series, cfg: OpponentConfig) -> _Flows:
    high = candles["high"].to_numpy(dtype=float)
    low = candles["low"].to_numpy(dtype=float)
    close = candles["close"].to_numpy(dtype=float)
    volume = candles["volume"].to_numpy(dtype=float)
    typical = (high + low + close) / 3.0
    oi = oi_value_usd.to_numpy(dtype=float)
    known = np.isfinite(oi) & (oi > 0.0)
    real = known & np.concatenate(([False], known[:-1]))
    prev_oi = np.concatenate(([np.nan], oi[:-1]))
    opened = np.where(real, np.maximum(0.0, oi - prev_oi), volume * typical * cfg.proxy_open_share)
    opened = np.where(np.isfinite(opened) & (opened > 0.0) & np.isfinite(typical) & (typical > 0.0), opened, 0.0)
    keep = np.full(len(oi), 0.5 ** (1.0 / cfg.proxy_half_life_bars))
    np.divide(oi, prev_oi, out=keep, where=real)
    log_keep = np.log(np.minimum(keep, 1.0))
    log_keep[:1] = 0.0  # nothing is open before the first candle
    return _Flows(opened_usd=opened, proxied=~real, log_keep_cum=np.cumsum(log_keep))


def _first_reach(levels: np.ndarray, starts: np.ndarray, extreme: np.ndarray, window: int) -> np.ndarray:
    """Return, per level, the first candle after its start whose ``extreme`` reaches down to it.

    Capped at start + window (forgotten by then). Binary lifting over a sparse table of minima:
    ``depth`` vector steps for all levels together.
    """
    n = len(extreme)
    depth = max(1, (window - 1).bit_length())  # steps of 2**k, k < depth, reach window - 1 candles
    base = np.full(n + (1 << depth) + 1, np.inf)
    base[:n] = np.where(np.isnan(extreme), np.inf, extreme)
    tables = [base]
    for k in range(1, depth):
        half = 1 << (k - 1)
        prev = tables[-1]
        table = np.full_like(prev, np.inf)
        table[:-half] = np.minimum(prev[:-half], prev[half:])
        tables.append(table)
    pos = starts + 1
    for k in reversed(range(depth)):
        pos = pos + np.where(tables[k][pos] > levels, 1 << k, 0)  # not reached in [pos, pos + 2**k)
    return np.minimum(pos, starts + window)


def _books(candles: pd.DataFrame, flows: _Flows, cfg: OpponentConfig) -> tuple[_Book, _Book]:
    high = candles["high"].to_numpy(dtype=float)
    low = candles["low"].to_numpy(dtype=float)
    typical = (high + low + candles["close"].to_numpy(dtype=float)) / 3.0
    bands = sorted(cfg.leverage_bands.items())
    leverage = np.array([lev for lev, _ in bands], dtype=float)
    share = np.array([s for _, s in bands], dtype=float)
    mm = cfg.maintenance_margin
    n, nb = len(typical), len(bands)
    cohort = np.repeat(np.arange(n), nb)
    usd = (flows.opened_usd[:, None] * share[None, :] / 2.0).ravel()
    keep = usd > 0.0
    cohort, usd = cohort[keep], usd[keep]
    band = np.tile(np.arange(nb), n)[keep]
    price = typical[cohort]
    step = _grid_step(cfg)
    books = []
    for factor, extreme, sign in (
        (np.maximum(1.0 - 1.0 / leverage + mm, _LOWEST_LONG_FACTOR), low, 1.0),
        (1.0 + 1.0 / leverage - mm, high, -1.0),
    ):
        level = price * factor[band]
        # Shorts: high >= level is -high <= -level, so one search serves both sides.
        end = _first_reach(sign * level, cohort, sign * extreme, cfg.window_bars)
        grid_bin = np.floor(np.log(level) / step).astype(np.int64)
        books.append(_Book(cohort, grid_bin, usd, end, flows.proxied[cohort]))
    return books[0], books[1]


def _blocks(log_keep_cum: np.ndarray, size: int):
    """Yield [t0, t1) blocks of at most ``size`` candles whose retention stays within e**-300."""
    n = len(log_keep_cum)
    decay = -log_keep_cum  # non-decreasing
    t0 = 0
    while t0 < n:
        limit = int(np.searchsorted(decay, decay[t0] + _BLOCK_MAX_LOG_DECAY, side="right"))
        t1 = min(n, t0 + size, max(t0 + 1, limit))
        yield t0, t1
        t0 = t1


def _live_mass(
    book: _Book, part: slice, cells: np.ndarray, n_cells: int, t0: int, t1: int, log_keep_cum: np.ndarray
) -> np.ndarray:
    """Return live mass per (candle in [t0, t1), cell) in units of the block scale ``exp(cum[t0])``.

    ``part`` selects the book's levels in question and ``cells`` gives each its column.
    """
    rows = t1 - t0
    cohort, end = book.cohort[part], book.end[part]
    live = end > t0
    cohort, end_row, cells = cohort[live], end[live] - t0, cells[live]
    weight = book.opened_usd[part][live] * np.exp(log_keep_cum[t0] - log_keep_cum[cohort])
    born = (np.maximum(cohort, t0) - t0) * n_cells + cells
    dies = end_row < rows
    died = end_row[dies] * n_cells + cells[dies]
    size = rows * n_cells
    mass = np.bincount(np.concatenate((born, died)), np.concatenate((weight, -weight[dies])), minlength=size)
    count = np.bincount(born, minlength=size) - np.bincount(died, minlength=size)
    mass = np.cumsum(mass.reshape(rows, n_cells), axis=0)
    count = np.cumsum(count.reshape(rows, n_cells), axis=0)
    # An emptied cell is exactly empty, not the rounding left by adding and subtracting its levels.
    return np.where(count > 0, np.maximum(mass, 0.0), 0.0)


def _gather(mass: np.ndarray, lo_bin: int, bins: np.ndarray, inside: np.ndarray) -> np.ndarray:
    cols = np.clip(bins - lo_bin, 0, mass.shape[1] - 1)
    return np.where(inside, mass[np.arange(len(mass))[:, None], cols], 0.0)


def _cluster(m: np.ndarray, inside: np.ndarray, density: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the chosen centre's position and its three-bin mass (0: none); ``m`` has one guard column each side.

    Columns run nearest-first, so ``argmax`` over the qualifying ones picks the nearest.
    """
    centre_ok = inside[:, 1:-1]
    three = np.where(centre_ok, m[:, :-2] + m[:, 1:-1] + m[:, 2:], 0.0)
    in_range = np.where(centre_ok, m[:, 1:-1], 0.0).sum(axis=1)
    bins = np.maximum(centre_ok.sum(axis=1), 1)
    bar = (density * 3.0 * in_range / bins)[:, None] * (1.0 - _TIE_RTOL)
    dense = centre_ok & (three > 0.0) & (three >= bar)
    found = dense.any(axis=1)
    pick = dense.argmax(axis=1)
    # Climb from the nearest qualifying window to its peak: the next window farther out wins while its
    # three-bin mass is larger, or equal with more mass in its own centre bin.
    rows, own, last = np.arange(len(three)), m[:, 1:-1], three.shape[1] - 1
    for _ in range(last):
        nxt = np.minimum(pick + 1, last)
        here, there = three[rows, pick], three[rows, nxt]
        more = there > here * (1.0 + _TIE_RTOL)
        tie = (there >= here * (1.0 - _TIE_RTOL)) & (own[rows, nxt] > own[rows, pick])
        climb = found & (nxt > pick) & centre_ok[rows, nxt] & (more | tie)
        if not climb.any():
            break
        pick = np.where(climb, nxt, pick)
    return pick, np.where(found, three[rows, pick], 0.0)


def _ranges(close: np.ndarray, cfg: OpponentConfig) -> dict[str, np.ndarray]:
    """Grid bins of each look-up range: centres below / above the close within a percentage."""
    step = _grid_step(cfg)
    x = np.log(close) / step - 0.5  # bin g's centre is below the close iff g < x
    below = np.ceil(x).astype(np.int64) - 1
    above = np.floor(x).astype(np.int64) + 1

    def lowest(pct: float) -> np.ndarray:
        return np.ceil(x + math.log1p(-pct / 100.0) / step).astype(np.int64)

    def highest(pct: float) -> np.ndarray:
        return np.floor(x + math.log1p(pct / 100.0) / step).astype(np.int64)

    return {
        "long_hi": below,
        "long_lo": lowest(cfg.cluster_range_pct),
        "long_near_lo": lowest(cfg.near_pct),
        "short_lo": above,
        "short_hi": highest(cfg.cluster_range_pct),
        "short_near_hi": highest(cfg.near_pct),
    }


def opponent_columns(candles: pd.DataFrame, oi_value_usd: pd.Series, cfg: OpponentConfig) -> pd.DataFrame:
    """Return the opponent model's columns (see the module docstring) for ``candles``, on their index.

    ``candles`` needs high, low, close and volume (base units), one row per candle in time order;
    ``oi_value_usd`` is open interest in USDT known at each candle's close, aligned with the rows
    (NaN where unknown). A row whose close is not a positive number gets NaN throughout.
    """
    n = len(candles)
    if len(oi_value_usd) != n:
        raise ValueError(f"oi_value_usd has {len(oi_value_usd)} rows, candles {n}")
    out = {name: np.full(n, np.nan) for name in COLUMNS}
    if n == 0:
        return pd.DataFrame(out, index=candles.index)
    flows = _flows(candles, oi_value_usd, cfg)
    longs, shorts = _books(candles, flows, cfg)
    close = candles["close"].to_numpy(dtype=float)
    bad_close = ~(np.isfinite(close) & (close > 0.0))
    close_ok = pd.Series(np.where(bad_close, np.nan, close)).ffill().bfill().fillna(1.0).to_numpy()
    rng = _ranges(close_ok, cfg)
    widths = {"cluster_width": _span_bins(cfg.cluster_range_pct, cfg), "near_width": _span_bins(cfg.near_pct, cfg)}
    sides = (
        _Side(longs, -1, rng["long_hi"], rng["long_lo"], rng["long_near_lo"],
              col.OPP_LONG_LIQ_DIST_PCT, col.OPP_LONG_LIQ_USD, col.OPP_LONG_NEAR_SHARE, **widths),
        _Side(shorts, 1, rng["short_lo"], rng["short_hi"], rng["short_near_hi"],
              col.OPP_SHORT_LIQ_DIST_PCT, col.OPP_SHORT_LIQ_USD, col.OPP_SHORT_NEAR_SHARE, **widths),
    )  # fmt: skip
    step = _grid_step(cfg)
    cum = flows.log_keep_cum
    for t0, t1 in _blocks(cum, max(_BLOCK_MIN_BARS, cfg.window_bars)):
        rows = slice(t0, t1)
        ref = close_ok[rows]
        parts = [
            slice(np.searchsorted(b.cohort, t0 - cfg.window_bars + 1), np.searchsorted(b.cohort, t1))
            for b in (longs, shorts)
        ]
        # Bins each range looks at, nearest the close first: (range, guard column each side, near range).
        looks = []
        for side in sides:
            first, away = side.nearest[rows, None], side.away
            cluster_bins = first - away + away * np.arange(side.cluster_width + 2)
            cluster_in = (away * (cluster_bins - first) >= 0) & (away * (cluster_bins - side.farthest[rows, None]) <= 0)
            near_bins = first + away * np.arange(side.near_width)
            near_in = away * (near_bins - side.near_edge[rows, None]) <= 0
            looks.append((cluster_bins, cluster_in, near_bins, near_in))
        # The block's grid: the bins any range reads, plus one each side where farther levels pool
        # (they count in the side's total and nowhere else).
        lo_bin = min(int(bins.min()) for look in looks for bins in (look[0], look[2])) - 1
        hi_bin = max(int(bins.max()) for look in looks for bins in (look[0], look[2])) + 1
        n_bins = hi_bin - lo_bin + 1
        scale = np.exp(cum[rows] - cum[t0])
        by_origin = np.zeros((t1 - t0, 2))  # live mass of both sides: column 0 real, 1 proxied
        for side, part, (cluster_bins, cluster_in, near_bins, near_in) in zip(sides, parts, looks, strict=True):
            book = side.book
            cells = np.clip(book.grid_bin[part], lo_bin, hi_bin) - lo_bin
            mass = _live_mass(book, part, cells, n_bins, t0, t1, cum)
            by_origin += _live_mass(book, part, book.proxied[part].astype(np.int64), 2, t0, t1, cum)
            # The side's total is accumulated on its own, not summed across this block's grid: the grid's
            # width depends on the block's last candle, and a different summation order would make a
            # truncated history differ in the last bit (Freqtrade's lookahead-analysis compares exactly).
            whole = np.zeros(part.stop - part.start, dtype=np.int64)
            side_total = _live_mass(book, part, whole, 1, t0, t1, cum)[:, 0]
            pick, three = _cluster(_gather(mass, lo_bin, cluster_bins, cluster_in), cluster_in, cfg.cluster_density)
            centre = np.exp((cluster_bins[np.arange(t1 - t0), pick + 1] + 0.5) * step)
            found = three > 0.0
            out[side.dist_col][rows] = np.where(found, side.away * (centre - ref) / ref * 100.0, np.nan)
            out[side.usd_col][rows] = np.where(found, three * scale, 0.0)
            near = _gather(mass, lo_bin, near_bins, near_in).sum(axis=1)
            share = np.zeros(t1 - t0)
            np.divide(near, side_total, out=share, where=side_total > 0.0)
            out[side.near_col][rows] = np.minimum(share, 1.0)
        total = by_origin.sum(axis=1)
        proxy_share = np.full(t1 - t0, np.nan)
        np.divide(by_origin[:, 1], total, out=proxy_share, where=total > 0.0)
        out[col.OPP_PROXY_SHARE][rows] = np.minimum(proxy_share, 1.0)
    frame = pd.DataFrame(out, index=candles.index)
    frame.loc[bad_close] = np.nan
    return frame


def liquidation_map(candles: pd.DataFrame, oi_value_usd: pd.Series, cfg: OpponentConfig, at: int = -1) -> pd.DataFrame:
    """Return the live liquidation mass per grid bin at the close of row ``at`` (positional).

    Index: each non-empty bin's centre price, ascending; columns ``long_usd`` and ``short_usd``.
    Computed level by level, independently of :func:`opponent_columns`'s block arithmetic.
    """
    n = len(candles)
    t = range(n)[at]
    flows = _flows(candles, oi_value_usd, cfg)
    step = _grid_step(cfg)
    sums = {}
    for name, book in zip(("long_usd", "short_usd"), _books(candles, flows, cfg), strict=True):
        alive = (book.cohort <= t) & (book.cohort > t - cfg.window_bars) & (book.end > t)
        usd = book.opened_usd[alive] * np.exp(flows.log_keep_cum[t] - flows.log_keep_cum[book.cohort[alive]])
        sums[name] = pd.Series(usd).groupby(book.grid_bin[alive]).sum()
    frame = pd.DataFrame(sums).fillna(0.0).sort_index()
    frame.index = pd.Index(np.exp((frame.index.to_numpy(dtype=float) + 0.5) * step), name="price")
    return frame
