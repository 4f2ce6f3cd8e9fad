"""Recorded market data as a tape the replay exchange plays back: what was known at a recorded moment.

Pure functions over frames read once from Freqtrade's data layout (``<datadir>/futures/…feather``)
and Binance's metrics archive (``binance-metrics/<SYMBOL>/…csv``). Every answer is bounded by the
recorded moment ``now``: closed candles in full, and the candle forming at ``now`` only as far as it
had got. Within a candle only its open, high, low and close were recorded, so the forming candle
follows the conventional path open → low → high → close for a rising candle (open → high → low →
close for a falling one), its volume accruing evenly; the price a ticker or order book shows at
``now`` is that path's. The order book is synthetic: one tick wide around that price, its depth
scaled from the candle's volume (order-book history does not exist anywhere public).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hydra_plugins.core.errors import HydraError
from hydra_plugins.intel.sources.binance_metrics import MetricsFormatError, read_metrics_file

logger = logging.getLogger(__name__)

# Binance's kline intervals, in minutes.
INTERVALS = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240, "6h": 360, "8h": 480,
    "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080,
}  # fmt: skip
RATIO_COLUMNS = {
    "globalLongShortAccountRatio": "count_long_short_ratio",
    "topLongShortAccountRatio": "count_toptrader_long_short_ratio",
    "topLongShortPositionRatio": "sum_toptrader_long_short_ratio",
}
RATIO_HISTORY = pd.Timedelta(days=30)  # the futures-data endpoints serve only the last 30 days


class TapeError(HydraError):
    """The recorded data cannot be played back as asked."""


def symbol_to_file_stem(symbol: str) -> str:
    """``BTCUSDT`` → ``BTC_USDT_USDT`` (Freqtrade's file name for the USDT-M perpetual)."""
    if not symbol.endswith("USDT"):
        raise TapeError(f"{symbol}: only USDT-margined symbols are recorded")
    return f"{symbol[:-4]}_USDT_USDT"


def _read_candles(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    frame = pd.read_feather(path)
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    return frame.sort_values("date").drop_duplicates("date").reset_index(drop=True)


@dataclass
class SymbolTape:
    """One symbol's recorded series: trade candles by interval, 1h mark candles, funding settlements, metrics."""

    symbol: str
    candles: dict[int, pd.DataFrame] = field(default_factory=dict)  # minutes → candles
    mark: pd.DataFrame | None = None
    funding: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None

    def shifted(self, by: pd.Timedelta) -> SymbolTape:
        """This tape with every timestamp moved by ``by`` (the replay serves recorded time shifted to the present)."""

        def move(frame: pd.DataFrame | None, column: str = "date") -> pd.DataFrame | None:
            return None if frame is None else frame.assign(**{column: frame[column] + by})

        metrics = move(move(self.metrics), "create_time") if self.metrics is not None else None
        return SymbolTape(
            self.symbol, {m: move(f) for m, f in self.candles.items()}, move(self.mark), move(self.funding), metrics,
        )  # fmt: skip

    # -- candles -------------------------------------------------------------------------------
    def finest(self) -> int:
        if not self.candles:
            raise TapeError(f"{self.symbol}: no candles recorded")
        return min(self.candles)

    def klines(
        self, minutes: int, now: pd.Timestamp, *, mark: bool = False, start=None, end=None, limit: int = 500
    ) -> pd.DataFrame:
        """Candles of ``minutes`` known at ``now``: closed ones, then the forming one as far as it had got.

        Closed candles come from the series recorded at that interval, else are aggregated from the
        coarsest recorded one that divides it; the forming candle from the finest recorded series that
        covers it. ``start``/``end`` bound open times as Binance's ``startTime``/``endTime`` do: with a
        start the first ``limit`` from it, otherwise the newest ``limit``.
        """
        series = ({60: self.mark} if self.mark is not None else {}) if mark else self.candles
        fits = sorted(m for m in series if minutes % m == 0)
        if not fits:
            return _empty_candles()
        step = pd.Timedelta(minutes=minutes)
        forming_at = candle_open(now, minutes)
        hi = forming_at if end is None else min(forming_at, candle_open(pd.Timestamp(end), minutes))
        if start is not None:
            lo = candle_open(pd.Timestamp(start), minutes)
            lo = lo if lo == pd.Timestamp(start) else lo + step
        else:
            lo = hi - step * limit
        if lo > hi:
            return _empty_candles()
        own = series[fits[-1]]
        rows = own[(own["date"] >= lo) & (own["date"] < min(hi + step, forming_at))]
        closed = rows if fits[-1] == minutes else _resample(rows, minutes)
        parts = [closed[closed["date"] + step <= now]]
        if hi == forming_at:
            forming = self._forming_mark(forming_at, now) if mark else None
            if forming is None:
                forming = self._forming(series, fits, forming_at, step, now)
            if forming is not None:
                parts.append(forming.to_frame().T)
        out = (
            pd.concat([p for p in parts if not p.empty], ignore_index=True)
            if any(not p.empty for p in parts)
            else _empty_candles()
        )
        out = out.head(limit) if start is not None else out.tail(limit)
        out = out.astype(dict.fromkeys(PRICE_COLUMNS, float))
        return out.assign(date=pd.to_datetime(out["date"], utc=True)).reset_index(drop=True)

    def _forming_mark(self, opened: pd.Timestamp, now: pd.Timestamp) -> pd.Series | None:
        """The forming mark candle: closed mark hours, then the trade price's forming hour plus its opening basis."""
        hour = now.floor("1h")
        if self.mark is None:
            return None
        marks = self.mark[(self.mark["date"] >= opened) & (self.mark["date"] <= hour)]
        trade_fits = sorted(m for m in self.candles if 60 % m == 0)
        if marks.empty or marks["date"].iloc[-1] != hour or not trade_fits:
            return None
        trade = self._forming(self.candles, trade_fits, hour, pd.Timedelta(hours=1), now)
        if trade is None:
            return None
        basis = float(marks["open"].iloc[-1]) - float(trade["open"])
        current = {k: float(trade[k]) + basis for k in ("open", "high", "low", "close")}
        done = marks.iloc[:-1]
        return pd.Series(
            {"date": opened, "open": done["open"].iloc[0] if len(done) else current["open"],
             "high": max([current["high"], *done["high"]]), "low": min([current["low"], *done["low"]]),
             "close": current["close"], "volume": 0.0}
        )  # fmt: skip

    @staticmethod
    def _forming(series: dict, fits: list[int], opened: pd.Timestamp, step: pd.Timedelta, now: pd.Timestamp):
        for minutes in fits:  # finest first: truest to what had happened by `now`
            frame = series[minutes]
            base_step = pd.Timedelta(minutes=minutes)
            rows = frame[(frame["date"] >= opened) & (frame["date"] <= now)]
            if rows.empty or rows["date"].iloc[0] != opened:
                continue
            done = rows[rows["date"] + base_step <= now]
            last = rows.iloc[-1]
            parts = [done]
            if last["date"] + base_step > now:
                parts.append(_partial_candle(last, (now - last["date"]) / base_step).to_frame().T)
            pieces = pd.concat([p for p in parts if not p.empty], ignore_index=True)
            return pd.Series(
                {"date": opened, "open": pieces["open"].iloc[0], "high": pieces["high"].max(),
                 "low": pieces["low"].min(), "close": pieces["close"].iloc[-1], "volume": pieces["volume"].sum()}
            )  # fmt: skip
        return None

    def price(self, now: pd.Timestamp) -> float | None:
        """The last price at ``now``: the forming candle's, on the finest recorded interval."""
        frame = self.klines(self.finest(), now, limit=1)
        return None if frame.empty else float(frame["close"].iloc[-1])

    def mark_price(self, now: pd.Timestamp) -> float | None:
        frame = self.klines(60, now, mark=True, limit=1)
        return self.price(now) if frame.empty else float(frame["close"].iloc[-1])

    def day_stats(self, now: pd.Timestamp) -> pd.Series | None:
        """Open, high, low, close and volume of the 24 hours up to ``now`` (Binance's rolling ticker)."""
        minutes = self.finest()
        frame = self.klines(minutes, now, start=now - pd.Timedelta(hours=24), limit=100_000)
        if frame.empty:
            return None
        return pd.Series(
            {"open": frame["open"].iloc[0], "high": frame["high"].max(), "low": frame["low"].min(),
             "close": frame["close"].iloc[-1], "volume": frame["volume"].sum(),
             "quote_volume": float((frame["volume"] * frame["close"]).sum()), "open_time": frame["date"].iloc[0]}
        )  # fmt: skip

    def book(self, now: pd.Timestamp, levels: int, tick: float, step: float) -> tuple[list, list] | None:
        """A synthetic book at ``now``: best bid and ask one tick apart around the price, ``levels`` each side.

        Each level holds a hundredth of the forming candle's per-minute volume in base units, at least one
        ``step``, so the book is deeper in busy candles; the ladder widens a tick per level.
        """
        price = self.price(now)
        if price is None:
            return None
        minutes = self.finest()
        frame = self.klines(minutes, now, limit=2)
        per_minute = float(frame["volume"].iloc[0]) / minutes if len(frame) else 0.0
        qty = max(step, _round_to(per_minute / 100.0, step))
        best_bid = np.floor(price / tick) * tick
        bids = [[best_bid - i * tick, qty] for i in range(levels)]
        asks = [[best_bid + (i + 1) * tick, qty] for i in range(levels)]
        return [b for b in bids if b[0] > 0], asks

    # -- funding -------------------------------------------------------------------------------
    def settlements(self, now: pd.Timestamp, start=None, end=None, limit: int = 100) -> pd.DataFrame:
        """Funding settlements made by ``now`` (Binance's ``fundingRate``), with the mark price at each."""
        if self.funding is None:
            return pd.DataFrame(columns=["date", "funding_rate", "mark"])
        rows = self.funding[self.funding["date"] <= now]
        if start is not None:
            rows = rows[rows["date"] >= pd.Timestamp(start)]
        if end is not None:
            rows = rows[rows["date"] <= pd.Timestamp(end)]
        rows = rows.head(limit) if start is not None else rows.tail(limit)
        # The mark price at each settlement: the open of the (mark) candle it falls in.
        source = self.mark if self.mark is not None else self.candles.get(self.finest())
        marks = source[["date", "open"]].rename(columns={"open": "mark"})
        rows = pd.merge_asof(
            rows.astype({"date": "datetime64[ns, UTC]"}), marks.astype({"date": "datetime64[ns, UTC]"}), on="date"
        )
        return rows.reset_index(drop=True)

    def last_funding(self, now: pd.Timestamp) -> tuple[float, pd.Timestamp] | None:
        """The newest settled rate and the next settlement time, both as known at ``now``.

        Binance's ``lastFundingRate`` is the rate accruing for the next settlement; that estimate was not
        recorded, so the newest settled rate stands in for it (never the coming settlement's own rate).
        """
        done = self.settlements(now, limit=2)
        if done.empty:
            return None
        interval = done["date"].diff().iloc[-1] if len(done) > 1 else pd.Timedelta(hours=8)
        upcoming = self.funding[self.funding["date"] > now] if self.funding is not None else None
        following = upcoming["date"].iloc[0] if upcoming is not None and not upcoming.empty else None
        return float(done["funding_rate"].iloc[-1]), following or done["date"].iloc[-1] + interval

    # -- futures data (open interest, ratios) ----------------------------------------------------
    def futures_data(self, now: pd.Timestamp, minutes: int, start=None, end=None, limit: int = 30) -> pd.DataFrame:
        """Metrics rows published by ``now`` on the ``minutes`` grid, within Binance's 30-day window."""
        if self.metrics is None:
            return self.metrics_empty()
        grid = pd.Timedelta(minutes=minutes)
        # Published when sampled (create_time, a second or two after the grid time it is served at).
        known = self.metrics["create_time"] <= now
        rows = self.metrics[known & (self.metrics["date"] > now - RATIO_HISTORY)]
        rows = rows[(rows["date"] - rows["date"].dt.floor(grid)) == pd.Timedelta(0)]
        if start is not None:
            rows = rows[rows["date"] >= pd.Timestamp(start)]
        if end is not None:
            rows = rows[rows["date"] <= pd.Timestamp(end)]
        rows = rows.head(limit) if start is not None else rows.tail(limit)
        return rows.reset_index(drop=True)

    def metrics_empty(self) -> pd.DataFrame:
        return pd.DataFrame(
            columns=["date", "create_time", *RATIO_COLUMNS.values(), "sum_taker_long_short_vol_ratio",
                     "sum_open_interest", "sum_open_interest_value"]
        )  # fmt: skip

    def taker_volumes(self, rows: pd.DataFrame, minutes: int) -> list[tuple[float, float]]:
        """Taker buy and sell volume per metrics row: the period's recorded volume split by the archived ratio.

        The archive keeps only the buy/sell ratio; the volumes Binance's endpoint also returns are rebuilt
        from the candles of the same period (base units), so buy / sell equals the recorded ratio.
        """
        out = []
        finest = self.finest()
        base = self.candles[finest]
        for when, ratio in zip(rows["date"], rows["sum_taker_long_short_vol_ratio"], strict=True):
            # The newest candle closed by the row's time gives the pace of trading, per minute.
            done = base[base["date"] + pd.Timedelta(minutes=finest) <= when].tail(1)
            volume = float(done["volume"].iloc[0]) * minutes / finest if not done.empty else 0.0
            buy = volume * ratio / (1.0 + ratio) if np.isfinite(ratio) and ratio > 0 else float("nan")
            out.append((buy, volume - buy))
        return out


def _empty_candles() -> pd.DataFrame:
    return pd.DataFrame(
        {"date": pd.Series(dtype="datetime64[ns, UTC]"), **{c: pd.Series(dtype=float) for c in PRICE_COLUMNS}}
    )


PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
_MONDAY = pd.Timestamp("1970-01-05", tz="UTC")  # Binance's weekly candles open on Mondays 00:00 UTC
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def candle_open(when, minutes: int):
    """The open time of the ``minutes`` candle holding ``when`` (a Timestamp or a Series of them)."""
    anchor = _MONDAY if minutes == INTERVALS["1w"] else _EPOCH
    step = pd.Timedelta(minutes=minutes)
    return anchor + ((when - anchor) // step) * step


def path_price(open_: float, high: float, low: float, close: float, fraction: float) -> tuple[float, float, float]:
    """Price, high so far and low so far at ``fraction`` (0 to 1) of a candle's conventional path."""
    points = [open_, low, high, close] if close >= open_ else [open_, high, low, close]
    position = min(max(fraction, 0.0), 1.0) * 3.0
    leg = min(int(position), 2)
    price = points[leg] + (points[leg + 1] - points[leg]) * (position - leg)
    seen = [*points[: leg + 1], price]
    return price, max(seen), min(seen)


def _partial_candle(row: pd.Series, fraction: float) -> pd.Series:
    price, high, low = path_price(row["open"], row["high"], row["low"], row["close"], fraction)
    return pd.Series(
        {"date": row["date"], "open": row["open"], "high": high, "low": low, "close": price,
         "volume": row["volume"] * min(max(fraction, 0.0), 1.0)}
    )  # fmt: skip


def _resample(frame: pd.DataFrame, minutes: int) -> pd.DataFrame:
    if frame.empty:
        return _empty_candles()
    dates = pd.to_datetime(frame["date"], utc=True)
    grouped = frame.assign(date=dates).groupby(candle_open(dates, minutes))
    out = grouped.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
                      volume=("volume", "sum"))  # fmt: skip
    return out.rename_axis("date").reset_index()


def _round_to(value: float, step: float) -> float:
    return float(np.floor(value / step) * step) if step > 0 else value


def load_tape(datadir: Path, symbols: list[str], metrics_dir: Path | None = None) -> dict[str, SymbolTape]:
    """Read every recorded series of ``symbols`` from a Freqtrade data dir (``…/binance``) and metrics folder."""
    futures = datadir / "futures"
    if not futures.is_dir():
        raise TapeError(f"{futures} does not exist: point --datadir at a Freqtrade data dir (…/binance)")
    tapes: dict[str, SymbolTape] = {}
    for symbol in symbols:
        stem = symbol_to_file_stem(symbol)
        tape = SymbolTape(symbol)
        for interval, minutes in INTERVALS.items():
            frame = _read_candles(futures / f"{stem}-{interval}-futures.feather")
            if frame is not None and not frame.empty:
                tape.candles[minutes] = frame
        tape.mark = _read_candles(futures / f"{stem}-1h-mark.feather")
        funding = futures / f"{stem}-1h-funding_rate.feather"
        if funding.is_file():
            rates = pd.read_feather(funding)
            rates["date"] = pd.to_datetime(rates["date"], utc=True)
            tape.funding = rates.sort_values("date").reset_index(drop=True)
        if metrics_dir is not None:
            tape.metrics = _read_metrics(metrics_dir / symbol)
        if not tape.candles:
            logger.warning("replay: no candles recorded for %s in %s; it will answer empty", symbol, futures)
        tapes[symbol] = tape
    return tapes


def _read_metrics(folder: Path) -> pd.DataFrame | None:
    frames = []
    for path in sorted(folder.glob("*-metrics-*")):
        try:
            frames.append(read_metrics_file(path))
        except MetricsFormatError as exc:
            logger.warning("replay: skipping %s", exc)
    if not frames:
        return None
    raw = pd.concat(frames, ignore_index=True)
    # Rows carry a second or two of jitter; Binance's endpoints answer on the 5-minute grid.
    raw["date"] = raw["create_time"].dt.round("5min")
    return raw.sort_values("date").drop_duplicates("date").reset_index(drop=True)


def recorded_span(tapes: dict[str, SymbolTape]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The span every symbol with candles has recorded on its finest interval."""
    spans = [(t.candles[t.finest()]["date"].iloc[0], t.candles[t.finest()]["date"].iloc[-1]) for t in tapes.values()
             if t.candles]  # fmt: skip
    if not spans:
        raise TapeError("no symbol has recorded candles")
    return max(s for s, _ in spans), min(e for _, e in spans)
