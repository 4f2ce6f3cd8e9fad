"""L1 features beyond funding: open interest, positioning ratios, premium index and order book.

Every series is joined to the candles with a backward as-of merge of its *availability* time on
the candle's *close* time: a candle sees only what the bot could have known when it closed. Each
source also gets an age column (minutes since its newest known row), which the data-health gate
compares with that source's freshness limit. Trailing statistics of a series (z-scores, deltas)
are computed on the series itself before the join.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hydra_plugins.core import columns as col
from hydra_plugins.core.config import SourceAges
from hydra_plugins.core.symbols import OPEN_INTEREST_MINUTES

_MINUTE = pd.Timedelta(minutes=1)
OI_TIMEFRAME = pd.Timedelta(minutes=OPEN_INTEREST_MINUTES)


@dataclass(frozen=True)
class IntelInputs:
    """Everything L1 reads for one pair: Freqtrade candle types and intel-store series."""

    funding: pd.DataFrame | None = None  # Freqtrade funding_rate candles: date, funding_rate
    open_interest: pd.DataFrame | None = None  # Freqtrade open_interest candles: date, amount, value
    open_interest_timeframe: pd.Timedelta = OI_TIMEFRAME
    series: Mapping[str, pd.DataFrame] = field(default_factory=dict)  # intel-store rows by series name


def join_known(
    candles: pd.DataFrame,
    rows: pd.DataFrame | None,
    timeframe: pd.Timedelta,
    known: str,
    columns: list[str],
    max_age: pd.Timedelta | None = None,
    stamp: str | None = None,
) -> pd.DataFrame:
    """Return ``columns`` of the newest row whose ``known`` time is at or before each candle's close.

    Adds ``age_min``: minutes from that row's ``stamp`` time (the data's own timestamp, e.g. an
    answer's ``event_time``; default: its ``known`` time) to the close, so an answer received now
    that describes two hours ago is two hours old. Missing rows give NaN, and so do values older than
    ``max_age`` (a three-week-old open interest is no reading of now); the age still shows how old
    the newest row was.
    """
    out = pd.DataFrame(np.nan, index=candles.index, columns=[*columns, "age_min"])
    if rows is None or rows.empty or candles.empty:
        return out
    stamp = stamp if stamp is not None and stamp in rows.columns else known
    taken = list(dict.fromkeys([known, stamp, *columns]))
    right = rows.loc[:, taken].dropna(subset=[known]).sort_values(known, kind="stable")
    right = right.assign(_known=right[known], _stamp=right[stamp])
    # One resolution on both sides: Freqtrade's candles are in ms, parsed rows may be in us or ns.
    for name in ("_known", "_stamp"):
        right[name] = pd.to_datetime(right[name], utc=True).astype("datetime64[ns, UTC]")
    right = right.loc[:, ["_known", "_stamp", *columns]]
    left = pd.DataFrame({"_close": (candles["date"] + timeframe).astype("datetime64[ns, UTC]")})
    joined = pd.merge_asof(left, right, left_on="_close", right_on="_known", direction="backward")
    age = joined["_close"] - joined["_stamp"]
    fresh = age.notna() if max_age is None else age <= max_age
    for name in columns:
        out[name] = joined[name].where(fresh).to_numpy()
    out["age_min"] = (age / _MINUTE).to_numpy()
    return out


def open_interest_columns(
    candles: pd.DataFrame,
    inputs: IntelInputs,
    timeframe: pd.Timedelta,
    ages: SourceAges,
    z_rows: int = 288,
) -> pd.DataFrame:
    """Open interest value, 1h change, trailing z-score, price/OI divergence and age.

    A Freqtrade open-interest candle stamped T counts as known at T + its timeframe, as for every
    candle type.
    """
    oi = inputs.open_interest
    rows = None
    if oi is not None and not oi.empty:
        rows = oi.loc[:, ["date", "open_interest_value"]].dropna().sort_values("date", ignore_index=True)
        step = inputs.open_interest_timeframe
        per_hour = max(1, int(pd.Timedelta(hours=1) / step))
        value = rows["open_interest_value"]
        rows["delta"] = (value / value.shift(per_hour) - 1.0) * 100.0
        # Rows must be contiguous for shift() to mean "an hour ago": gaps give NaN, not a wrong delta.
        contiguous = rows["date"].diff(per_hour) == step * per_hour
        rows["delta"] = rows["delta"].where(contiguous)
        window = value.rolling(z_rows, min_periods=z_rows)
        rows["z"] = (value - window.mean()) / window.std().replace(0.0, np.nan)
        rows["known"] = rows["date"] + step
    max_age = pd.Timedelta(minutes=ages.open_interest)
    joined = join_known(candles, rows, timeframe, "known", ["open_interest_value", "delta", "z"], max_age)
    bars_per_hour = max(1, int(pd.Timedelta(hours=1) / timeframe))
    price_up = candles["close"] > candles["close"].shift(bars_per_hour)
    price_down = candles["close"] < candles["close"].shift(bars_per_hour)
    oi_down = joined["delta"] < 0
    divergence = np.where(price_up & oi_down, 1, np.where(price_down & oi_down, -1, 0))
    return pd.DataFrame(
        {
            col.OI_VALUE_USD: joined["open_interest_value"],
            col.OI_DELTA_PCT_1H: joined["delta"],
            col.OI_Z: joined["z"],
            col.OI_DIVERGENCE: np.where(joined["delta"].isna(), 0, divergence).astype("int8"),
            col.OI_AGE_MIN: joined["age_min"],
        },
        index=candles.index,
    )


def store_columns(
    candles: pd.DataFrame, inputs: IntelInputs, timeframe: pd.Timedelta, ages: SourceAges
) -> pd.DataFrame:
    """Positioning ratios, premium index and order-book features from the intel store, with ages."""
    series = inputs.series

    def join(name: str, columns: list[str], max_age_min: float) -> pd.DataFrame:
        max_age = pd.Timedelta(minutes=max_age_min)
        return join_known(candles, series.get(name), timeframe, "available_at", columns, max_age, "event_time")

    global_ls = join("global_long_short", ["long_short_ratio"], ages.ratios)
    top_pos = join("top_long_short_position", ["long_short_ratio"], ages.ratios)
    taker = join("taker_ratio", ["buy_sell_ratio"], ages.ratios)
    premium = join("premium_index", ["predicted_funding_rate", "mark_price", "index_price"], ages.premium_index)
    book = join("depth", ["imbalance_top", "spread_bps", "bid_depth_usd", "ask_depth_usd"], ages.depth)
    return pd.DataFrame(
        {
            col.LONG_SHORT_RATIO: global_ls["long_short_ratio"],
            col.TOP_POSITION_RATIO: top_pos["long_short_ratio"],
            col.TAKER_RATIO: taker["buy_sell_ratio"],
            # The three ratios are published together; the oldest of them is the block's age.
            col.RATIOS_AGE_MIN: pd.concat([global_ls["age_min"], top_pos["age_min"], taker["age_min"]], axis=1).max(
                axis=1, skipna=False
            ),
            col.PREDICTED_FUNDING: premium["predicted_funding_rate"],
            col.BASIS_BPS: (premium["mark_price"] / premium["index_price"] - 1.0) * 1e4,
            col.PREMIUM_AGE_MIN: premium["age_min"],
            col.BOOK_IMBALANCE: book["imbalance_top"],
            col.SPREAD_BPS: book["spread_bps"],
            col.BOOK_DEPTH_USD: book["bid_depth_usd"] + book["ask_depth_usd"],
            col.BOOK_AGE_MIN: book["age_min"],
        },
        index=candles.index,
    )
