"""L2 opponent model: liquidation levels of other traders' modelled positions."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import OpponentConfig
from hydra_plugins.stats import opponent
from hydra_plugins.stats.opponent import COLUMNS, liquidation_map, opponent_columns
from tests.conftest import load_candles, needs_data

CFG = OpponentConfig()
SMALL = OpponentConfig(window_bars=16, proxy_half_life_bars=4)
PROXY_KEEP = 0.5 ** (1 / CFG.proxy_half_life_bars)


def synthetic(n: int, seed: int = 0, start: float = 30_000.0) -> pd.DataFrame:
    """Random-walk 15m candles, volatile enough that high-leverage levels get wiped often."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.006, n)))
    open_ = np.concatenate(([start], close[:-1]))
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + rng.exponential(0.003, n)),
            "low": np.minimum(open_, close) * (1 - rng.exponential(0.003, n)),
            "close": close,
            "volume": rng.lognormal(3.0, 0.5, n),
        }
    )


def synthetic_oi(candles: pd.DataFrame, seed: int = 0, known_from: int = 0, gaps: float = 0.0) -> pd.Series:
    """Open interest in USDT that rises and falls, unknown before ``known_from`` and in random gaps."""
    rng = np.random.default_rng(seed + 1)
    n = len(candles)
    oi = 1e9 * np.exp(np.cumsum(rng.normal(0.0002, 0.004, n)))
    oi[:known_from] = np.nan
    oi[rng.random(n) < gaps] = np.nan
    return pd.Series(oi, index=candles.index)


def flat(n: int, price: float = 100.0, volume0: float = 1000.0) -> pd.DataFrame:
    """Candles that never move; only the first one has volume (so one proxied cohort)."""
    volume = np.zeros(n)
    volume[0] = volume0
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC"),
            "open": price,
            "high": price,
            "low": price,
            "close": price,
            "volume": volume,
        }
    )


def no_oi(candles: pd.DataFrame) -> pd.Series:
    return pd.Series(np.nan, index=candles.index)


def grid_bin(price: float, cfg: OpponentConfig = CFG) -> int:
    return math.floor(math.log(price) / math.log1p(cfg.bin_pct / 100))


def centre(g: int, cfg: OpponentConfig = CFG) -> float:
    return math.exp((g + 0.5) * math.log1p(cfg.bin_pct / 100))


def reference(candles: pd.DataFrame, oi_value_usd: pd.Series, cfg: OpponentConfig) -> pd.DataFrame:
    """The model as the docstring states it, simulated position by position, candle by candle."""
    high, low, close, volume = (candles[k].to_numpy(dtype=float) for k in ("high", "low", "close", "volume"))
    oi = oi_value_usd.to_numpy(dtype=float)

    def known(i: int) -> bool:
        return i >= 0 and math.isfinite(oi[i]) and oi[i] > 0

    live: list[dict] = []
    rows = []
    for t in range(len(candles)):
        real = known(t) and known(t - 1)
        keep = min(1.0, oi[t] / oi[t - 1]) if real else 0.5 ** (1 / cfg.proxy_half_life_bars)
        live = [
            {**pos, "usd": pos["usd"] * keep}
            for pos in live
            if t - pos["opened"] < cfg.window_bars
            and not (pos["side"] == "long" and low[t] <= pos["level"])
            and not (pos["side"] == "short" and high[t] >= pos["level"])
        ]
        price = (high[t] + low[t] + close[t]) / 3
        amount = max(0.0, oi[t] - oi[t - 1]) if real else volume[t] * price * cfg.proxy_open_share
        for lev, share in cfg.leverage_bands.items() if amount > 0 else ():
            for side, level in (
                ("long", price * (1 - 1 / lev + cfg.maintenance_margin)),
                ("short", price * (1 + 1 / lev - cfg.maintenance_margin)),
            ):
                live.append({"opened": t, "side": side, "level": level, "usd": amount * share / 2, "proxied": not real})
        rows.append(_summarise(live, close[t], cfg))
    return pd.DataFrame(rows, index=candles.index, columns=list(COLUMNS))


def _summarise(live: list[dict], close: float, cfg: OpponentConfig) -> dict:
    out = {}
    totals = {}
    for side, sign in (("long", -1), ("short", 1)):
        mass: dict[int, float] = defaultdict(float)
        for pos in live:
            if pos["side"] == side:
                mass[grid_bin(pos["level"], cfg)] += pos["usd"]
        totals[side] = sum(mass.values())

        def within(g: int, pct: float, sign: int = sign) -> bool:
            away = sign * (centre(g, cfg) - close) / close * 100
            return 0 < away <= pct

        pct = cfg.cluster_range_pct
        reach = grid_bin(close * (1 + pct / 100), cfg) + 2 - (grid_bin(close * max(1e-6, 1 - pct / 100), cfg) - 2)
        first = grid_bin(close * max(1e-6, 1 - pct / 100), cfg) - 2
        in_range = [g for g in range(first, first + reach + 1) if within(g, pct)]
        in_range.sort(key=lambda g: sign * g)  # nearest the close first
        bar = cfg.cluster_density * 3 * sum(mass.get(g, 0.0) for g in in_range) / max(1, len(in_range)) * (1 - 1e-9)

        def three(g: int, mass: dict = mass, pct: float = pct) -> float:
            return sum(mass.get(g + d, 0.0) for d in (-1, 0, 1) if within(g + d, pct))

        dist, usd = np.nan, 0.0
        qualifying = [i for i, g in enumerate(in_range) if three(g) > 0 and three(g) >= bar]
        if qualifying:
            i = qualifying[0]
            while i + 1 < len(in_range):
                here, there = three(in_range[i]), three(in_range[i + 1])
                own_more = mass.get(in_range[i + 1], 0.0) > mass.get(in_range[i], 0.0)
                if there > here * (1 + 1e-9) or (there >= here * (1 - 1e-9) and own_more):
                    i += 1
                else:
                    break
            g = in_range[i]
            dist, usd = sign * (centre(g, cfg) - close) / close * 100, three(g)
        near = sum(m for g, m in mass.items() if within(g, cfg.near_pct))
        prefix = "LONG" if side == "long" else "SHORT"
        out[getattr(col, f"OPP_{prefix}_LIQ_DIST_PCT")] = dist
        out[getattr(col, f"OPP_{prefix}_LIQ_USD")] = usd
        out[getattr(col, f"OPP_{prefix}_NEAR_SHARE")] = near / totals[side] if totals[side] > 0 else 0.0
    total = totals["long"] + totals["short"]
    proxied = sum(pos["usd"] for pos in live if pos["proxied"])
    out[col.OPP_PROXY_SHARE] = proxied / total if total > 0 else np.nan
    return out


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, rtol: float, atol: float = 1e-9) -> None:
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=rtol, atol=atol)


# --- hand-built examples ----------------------------------------------------------------------------


def test_single_cohort_lands_in_each_bands_bin():
    candles = flat(5)
    amount = 1000.0 * 100.0 * CFG.proxy_open_share
    book = liquidation_map(candles, no_oi(candles), CFG, at=0)
    expected_long, expected_short = {}, {}
    for lev, share in CFG.leverage_bands.items():
        expected_long[centre(grid_bin(100 * (1 - 1 / lev + CFG.maintenance_margin)))] = amount * share / 2
        expected_short[centre(grid_bin(100 * (1 + 1 / lev - CFG.maintenance_margin)))] = amount * share / 2
    longs = book["long_usd"][book["long_usd"] > 0]
    shorts = book["short_usd"][book["short_usd"] > 0]
    pd.testing.assert_series_equal(
        longs, pd.Series(expected_long).sort_index(), check_names=False, check_index_type=False, rtol=1e-12
    )
    pd.testing.assert_series_equal(
        shorts, pd.Series(expected_short).sort_index(), check_names=False, check_index_type=False, rtol=1e-12
    )

    row = opponent_columns(candles, no_oi(candles), CFG).iloc[0]
    # Within 15 % lie the 10x, 25x, 50x and 100x bands (85 % of a side) over about 65 bins: the
    # average three bins hold 3.9 %, so a cluster needs 7.8 %. The nearest such is the 100x band (10 %).
    long_centre = centre(grid_bin(100 * (1 - 1 / 100 + CFG.maintenance_margin)))
    short_centre = centre(grid_bin(100 * (1 + 1 / 100 - CFG.maintenance_margin)))
    assert row[col.OPP_LONG_LIQ_DIST_PCT] == pytest.approx(100 - long_centre, rel=1e-12)
    assert row[col.OPP_SHORT_LIQ_DIST_PCT] == pytest.approx(short_centre - 100, rel=1e-12)
    assert row[col.OPP_LONG_LIQ_USD] == pytest.approx(amount * 0.10 / 2, rel=1e-12)
    assert row[col.OPP_SHORT_LIQ_USD] == pytest.approx(amount * 0.10 / 2, rel=1e-12)
    denser = opponent_columns(candles, no_oi(candles), OpponentConfig(cluster_density=4.0)).iloc[0]
    # At 4x the average (15.7 %) the 100x and 50x bands are too thin: the nearest cluster is 25x.
    assert denser[col.OPP_LONG_LIQ_DIST_PCT] == pytest.approx(
        100 - centre(grid_bin(100 * (1 - 1 / 25 + CFG.maintenance_margin))), rel=1e-12
    )
    # Within 3 %: the 100x (0.6 % away) and 50x (1.6 %) bands, 25 % of the mass.
    assert row[col.OPP_LONG_NEAR_SHARE] == pytest.approx(0.25, rel=1e-12)
    assert row[col.OPP_SHORT_NEAR_SHARE] == pytest.approx(0.25, rel=1e-12)
    assert row[col.OPP_PROXY_SHARE] == 1.0


def test_low_through_the_25x_level_wipes_25x_and_higher_only():
    candles = flat(4)
    candles.loc[1, "low"] = 96.0  # 25x long level: 96.4; 10x: 90.4
    amount = 1000.0 * 100.0 * CFG.proxy_open_share
    book = liquidation_map(candles, no_oi(candles), CFG, at=1)
    longs = book["long_usd"][book["long_usd"] > 0]
    expected = {
        centre(grid_bin(100 * (1 - 1 / lev + CFG.maintenance_margin))): amount
        * CFG.leverage_bands[lev]
        / 2
        * PROXY_KEEP
        for lev in (5, 10)
    }
    pd.testing.assert_series_equal(
        longs, pd.Series(expected).sort_index(), check_names=False, check_index_type=False, rtol=1e-12
    )
    assert (book["short_usd"] > 0).sum() == len(CFG.leverage_bands)  # the high never moved: shorts intact

    out = opponent_columns(candles, no_oi(candles), CFG)
    row = out.iloc[1]
    ten_x = centre(grid_bin(100 * (1 - 1 / 10 + CFG.maintenance_margin)))
    assert row[col.OPP_LONG_LIQ_DIST_PCT] == pytest.approx(100 - ten_x, rel=1e-12)
    assert row[col.OPP_LONG_LIQ_USD] == pytest.approx(amount * 0.30 / 2 * PROXY_KEEP, rel=1e-12)
    assert row[col.OPP_LONG_NEAR_SHARE] == 0.0
    assert row[col.OPP_SHORT_NEAR_SHARE] == pytest.approx(0.25, rel=1e-12)
    # The candle that opens a cohort does not wipe it: only later candles do.
    same_candle = flat(2)
    same_candle.loc[0, "low"] = 50.0
    assert (liquidation_map(same_candle, no_oi(same_candle), CFG, at=0)["long_usd"] > 0).sum() == 5


def test_cohort_is_forgotten_after_window_bars():
    candles = flat(SMALL.window_bars + 3)
    out = opponent_columns(candles, no_oi(candles), SMALL)
    last = SMALL.window_bars - 1
    amount = 1000.0 * 100.0 * SMALL.proxy_open_share
    kept = 0.5 ** (last / SMALL.proxy_half_life_bars)
    # The nearest cluster is the 100x band (10 % of the cohort; see the single-cohort test).
    assert out[col.OPP_LONG_LIQ_USD].iloc[last] == pytest.approx(amount * 0.10 / 2 * kept, rel=1e-12)
    gone = out.iloc[last + 1 :]
    assert gone[col.OPP_LONG_LIQ_DIST_PCT].isna().all()
    assert gone[col.OPP_SHORT_LIQ_DIST_PCT].isna().all()
    assert (gone[[col.OPP_LONG_LIQ_USD, col.OPP_SHORT_LIQ_USD]] == 0.0).all().all()
    assert (gone[[col.OPP_LONG_NEAR_SHARE, col.OPP_SHORT_NEAR_SHARE]] == 0.0).all().all()
    assert gone[col.OPP_PROXY_SHARE].isna().all()
    assert liquidation_map(candles, no_oi(candles), SMALL, at=last + 1).empty


def test_open_interest_fall_shrinks_mass_proportionally():
    candles = flat(6, volume0=0.0)
    oi = pd.Series([1e9, 1e9 + 1e6, 1e9 + 1e6, (1e9 + 1e6) * 0.5, np.nan, np.nan], index=candles.index)
    out = opponent_columns(candles, oi, CFG)
    opened = 1e6 * 0.10 / 2  # the nearest cluster: the 100x band
    usd = out[col.OPP_LONG_LIQ_USD]
    assert usd.iloc[0] == 0.0  # no volume, no open interest change known: nothing opened
    assert usd.iloc[1] == pytest.approx(opened, rel=1e-12)
    assert usd.iloc[2] == pytest.approx(opened, rel=1e-12)  # flat open interest closes nothing
    assert usd.iloc[3] == pytest.approx(opened * 0.5, rel=1e-12)
    assert usd.iloc[4] == pytest.approx(opened * 0.5 * PROXY_KEEP, rel=1e-12)  # unknown again: proxy decay
    assert out[col.OPP_SHORT_LIQ_USD].iloc[3] == pytest.approx(opened * 0.5, rel=1e-12)
    assert (out[col.OPP_PROXY_SHARE].iloc[1:] == 0.0).all()
    book = liquidation_map(candles, oi, CFG, at=3)
    assert book.to_numpy().sum() == pytest.approx(1e6 * 0.5, rel=1e-12)


def test_proxy_share_follows_open_interest_coverage():
    candles = synthetic(900)
    proxied = opponent_columns(candles, no_oi(candles), CFG)[col.OPP_PROXY_SHARE]
    assert (proxied == 1.0).all()
    real = opponent_columns(candles, synthetic_oi(candles), CFG)[col.OPP_PROXY_SHARE]
    assert real.iloc[0] == 1.0
    assert (real.iloc[CFG.window_bars :] == 0.0).all()
    half = opponent_columns(candles, synthetic_oi(candles, known_from=450), CFG)[col.OPP_PROXY_SHARE]
    assert half.iloc[:450].eq(1.0).all()
    mixed = half.iloc[451 : 450 + CFG.window_bars]  # proxied cohorts age out as real ones arrive
    assert mixed.between(0.0, 1.0).all()
    assert mixed.between(0.0, 1.0, inclusive="neither").mean() > 0.9
    assert (half.iloc[450 + CFG.window_bars :] == 0.0).all()


# --- against the position-by-position simulation ----------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "block_bars", "max_log_decay"),
    [
        (SMALL, None, None),
        (SMALL, 7, None),  # blocks of one window each
        (SMALL, None, 0.5),  # blocks of a few candles, cut short by retention
        (OpponentConfig(window_bars=40, cluster_range_pct=2.0, near_pct=5.0, bin_pct=0.1), 50, None),
        (OpponentConfig(window_bars=30, leverage_bands={1: 0.5, 3: 0.5}, cluster_range_pct=50.0), 20, None),
    ],
)
def test_matches_position_by_position_simulation(cfg, block_bars, max_log_decay, monkeypatch):
    if block_bars is not None:
        monkeypatch.setattr(opponent, "_BLOCK_MIN_BARS", block_bars)
    if max_log_decay is not None:
        monkeypatch.setattr(opponent, "_BLOCK_MAX_LOG_DECAY", max_log_decay)
    candles = synthetic(300, seed=3)
    oi = synthetic_oi(candles, seed=3, known_from=80, gaps=0.1)
    assert_same(opponent_columns(candles, oi, cfg), reference(candles, oi, cfg), rtol=1e-9)


# --- no lookahead, start independence -----------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 500, 1023, 1024, 1025, 2049])
def test_prefix_does_not_see_the_future(n):
    candles = synthetic(2500, seed=1)
    oi = synthetic_oi(candles, seed=1, known_from=700, gaps=0.05)
    full = opponent_columns(candles, oi, CFG)
    assert_same(opponent_columns(candles.iloc[:n], oi.iloc[:n], CFG), full.iloc[:n], rtol=1e-9)


@pytest.mark.parametrize("k", [1, 37, 1000])
@pytest.mark.parametrize("known_from", [0, 900, 10_000])
def test_start_independent_after_warm_up(k, known_from):
    candles = synthetic(2600, seed=2)
    oi = synthetic_oi(candles, seed=2, known_from=known_from, gaps=0.02)
    full = opponent_columns(candles, oi, CFG)
    late = opponent_columns(candles.iloc[k:], oi.iloc[k:], CFG)
    warm = late.index[CFG.window_bars :]
    assert_same(late.loc[warm], full.loc[warm], rtol=1e-6, atol=1e-6)


# --- interface ------------------------------------------------------------------------------------


def test_inputs_untouched_and_index_kept():
    candles = synthetic(300, seed=4)
    candles.index = pd.RangeIndex(1000, 1300)
    oi = synthetic_oi(candles, seed=4, known_from=100)
    before, oi_before = candles.copy(), oi.copy()
    out = opponent_columns(candles, oi, SMALL)
    pd.testing.assert_frame_equal(candles, before)
    pd.testing.assert_series_equal(oi, oi_before)
    assert out.index.equals(candles.index)
    assert list(out.columns) == list(COLUMNS)
    dated = candles.set_index("date", drop=False)
    out_dated = opponent_columns(dated, oi.set_axis(dated.index), SMALL)
    assert out_dated.index.equals(dated.index)
    np.testing.assert_array_equal(out_dated.to_numpy(), out.to_numpy())


def test_empty_frame():
    candles = synthetic(3).iloc[:0]
    out = opponent_columns(candles, no_oi(candles), CFG)
    assert out.empty
    assert list(out.columns) == list(COLUMNS)
    assert out.index.equals(candles.index)


def test_misaligned_open_interest_is_refused():
    candles = synthetic(10)
    with pytest.raises(ValueError, match="rows"):
        opponent_columns(candles, no_oi(candles).iloc[:5], CFG)


def test_bad_close_gives_nan_row_only():
    candles = synthetic(50, seed=5)
    candles.loc[20, "close"] = np.nan
    out = opponent_columns(candles, no_oi(candles), SMALL)
    assert out.iloc[20].isna().all()
    assert out.drop(index=20)[col.OPP_PROXY_SHARE].eq(1.0).all()


# --- real data ----------------------------------------------------------------------------------


@needs_data
def test_real_btc_quarter():
    candles = load_candles("BTC", "2024-01-01", "2024-04-01")
    oi = no_oi(candles)
    out = opponent_columns(candles, oi, CFG)
    warm = out.iloc[CFG.window_bars :]
    dists = [col.OPP_LONG_LIQ_DIST_PCT, col.OPP_SHORT_LIQ_DIST_PCT]
    assert not warm.drop(columns=dists).isna().any().any()
    for dist, usd in zip(dists, (col.OPP_LONG_LIQ_USD, col.OPP_SHORT_LIQ_USD), strict=True):
        # Where positions are spread evenly no place is twice as dense as the average: no cluster.
        assert 0.9 < warm[dist].notna().mean() < 1.0
        found = warm[dist].notna()
        assert (warm.loc[found, dist] > 0).all() and (warm.loc[found, dist] <= CFG.cluster_range_pct).all()
        assert (warm.loc[found, usd] > 0).all() and (warm.loc[~found, usd] == 0).all()
    for share in (col.OPP_LONG_NEAR_SHARE, col.OPP_SHORT_NEAR_SHARE):
        assert warm[share].between(0.0, 1.0).all()
    assert (warm[col.OPP_PROXY_SHARE] == 1.0).all()
    # Freqtrade's recursive analysis: starting later changes nothing once the window is full.
    k = 500
    late = opponent_columns(candles.iloc[k:], oi.iloc[k:], CFG)
    rows = late.index[CFG.window_bars :]
    assert_same(late.loc[rows], out.loc[rows], rtol=1e-6, atol=1e-6)


@needs_data
def test_a_truncated_history_gives_bit_identical_rows():
    """Freqtrade's lookahead-analysis compares full and truncated runs exactly, not within a tolerance."""
    candles = load_candles("BNB", "2024-01-10", "2024-03-15")
    oi = pd.Series(np.nan, index=candles.index)
    full = opponent_columns(candles, oi, OpponentConfig())
    for n in range(1500, len(candles), 389):
        head = opponent_columns(candles.iloc[:n], oi.iloc[:n], OpponentConfig())
        assert full.iloc[:n].compare(head).empty, n
