"""The replay exchange: recorded Binance USDT-M data served on loopback as if it were happening now.

Speaks the part of Binance's USDT-M REST API a Freqtrade dry-run bot and HYDRA's in-bot intel
refresh use: exchange info and server time, klines (trade, mark; index as mark), funding history
and the premium index, tickers, order-book depth, open interest and the futures-data ratios, in
Binance's documented shapes (numbers as strings, times in ms). Every answer is what was known at
the replay's present (:class:`~hydra_plugins.replay.clock.ReplayClock`), timestamps shifted to
the present; candles close on schedule (see :mod:`hydra_plugins.replay.tape` for the forming one).
Wrong parameters and unknown paths get Binance's error bodies.

Faults, to see the bot under them (``--fault`` at start or ``POST /hydra/faults`` while running):
``timeout`` (no answer for ``seconds``), ``error`` (HTTP 500), ``rate_limit`` (HTTP 429 with
Retry-After), ``garbage`` (HTTP 200 that is not JSON) and ``stale`` (answers as of ``seconds``
ago) on every path starting with ``path``, for ``count`` requests or until cleared.
``GET /hydra/status`` reports the clock, the faults and the requests served per path.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any

import numpy as np
import pandas as pd

from hydra_plugins.core.sqlite import to_ms
from hydra_plugins.intel.sources.binance_rest import DEPTH_LIMITS, PERIODS
from hydra_plugins.replay.clock import ReplayClock
from hydra_plugins.replay.markets import MarketsServer, Reply, binance_error
from hydra_plugins.replay.tape import INTERVALS, RATIO_COLUMNS, SymbolTape

logger = logging.getLogger(__name__)

FAULT_KINDS = ("timeout", "error", "rate_limit", "garbage", "stale")


class BinanceRequestError(Exception):
    """A request Binance would refuse: answered with its error code and message."""

    def __init__(self, code: int, msg: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass
class Fault:
    """An injected fault on every path starting with ``path``, for ``count`` requests (None: until cleared)."""

    kind: str
    path: str = "/"
    count: int | None = None
    seconds: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not isinstance(self.seconds, int | float):
            raise ValueError("fault path must be a string and seconds a number")
        if self.count is not None and (not isinstance(self.count, int) or isinstance(self.count, bool)):
            raise ValueError("fault count must be a whole number")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"fault path must start with '/', got {self.path!r}")
        if self.count is not None and self.count < 1:
            raise ValueError("fault count must be at least 1")
        if not 0 < self.seconds <= 86_400 * 365:
            raise ValueError("fault seconds must be positive")

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``KIND[:PATH[:COUNT[:SECONDS]]]``, e.g. ``error:/fapi/v1/klines:3`` or ``stale:/:0:3600`` (0: no end)."""
        kind, path, count, seconds = ([*text.split(":"), "", "", ""])[:4]
        return cls(kind, path or "/", int(count) or None if count else None, float(seconds) if seconds else 30.0)


def _ts(ms: str | None) -> pd.Timestamp | None:
    return None if ms is None else pd.Timestamp(int(ms), unit="ms", tz="UTC")


def _num(value: float, places: int) -> str:
    return f"{value:.{max(places, 0)}f}" if np.isfinite(value) else "0"


class ReplayServer(MarketsServer):
    """The replay exchange (see the module docstring)."""

    def __init__(
        self,
        exchange_info: dict[str, Any],
        tapes: dict[str, SymbolTape],
        clock: ReplayClock,
        host: str = "127.0.0.1",
        port: int = 18710,
        faults: list[Fault] | None = None,
    ) -> None:
        super().__init__(exchange_info, host, port)
        # Served in present time: every recorded timestamp moves by the clock's shift, once.
        self.tapes = {symbol: tape.shifted(pd.Timedelta(milliseconds=clock.shift_ms)) for symbol, tape in tapes.items()}
        self.clock = clock
        self.faults: list[Fault] = list(faults or [])
        self.served: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._specs = {s["symbol"]: s for s in self.exchange_info["symbols"]}
        self._routes: dict[str, Callable[[dict[str, str], pd.Timestamp], Any]] = {
            "/fapi/v1/klines": lambda q, now: self._klines(q, now, mark=False),
            "/fapi/v1/continuousKlines": lambda q, now: self._klines({**q, "symbol": q.get("pair", "")}, now),
            "/fapi/v1/markPriceKlines": lambda q, now: self._klines(q, now, mark=True),
            # The index price was not recorded; the mark price (index plus a small basis) stands in.
            "/fapi/v1/indexPriceKlines": lambda q, now: self._klines({**q, "symbol": q.get("pair", "")}, now, True),
            "/fapi/v1/fundingRate": self._funding_rate,
            "/fapi/v1/fundingInfo": self._funding_info,
            "/fapi/v1/premiumIndex": self._premium_index,
            "/fapi/v1/ticker/24hr": self._ticker_24hr,
            "/fapi/v1/ticker/price": self._ticker_price,
            "/fapi/v2/ticker/price": self._ticker_price,
            "/fapi/v1/ticker/bookTicker": self._book_ticker,
            "/fapi/v1/depth": self._depth,
            "/fapi/v1/openInterest": self._open_interest,
            "/futures/data/openInterestHist": self._open_interest_hist,
            "/futures/data/takerlongshortRatio": self._taker_ratio,
            **{f"/futures/data/{name}": self._ratio(name) for name in RATIO_COLUMNS},
        }

    def now_ms(self) -> int:
        return self.clock.served_ms()

    # -- dispatch --------------------------------------------------------------------------------
    def answer(self, method: str, path: str, query: dict[str, str], payload: bytes) -> Reply:
        if path.startswith("/hydra/"):
            return self._control(method, path, payload)
        with self._lock:
            self.served[path] += 1
            fault = self._take_fault(path)
        now = self.clock.served_now()
        if fault is not None:
            logger.info("replay fault %s on %s", fault.kind, path)
            if fault.kind == "timeout":
                return Reply(HTTPStatus.OK, delay_s=fault.seconds, drop=True)
            if fault.kind == "error":
                body = binance_error(-1000, "An unknown error occured while processing the request.")
                return Reply(HTTPStatus.INTERNAL_SERVER_ERROR, body)
            if fault.kind == "rate_limit":
                body = binance_error(-1003, "Too many requests; current limit is 2400 requests per minute.")
                return Reply(HTTPStatus.TOO_MANY_REQUESTS, body, headers={"Retry-After": str(int(fault.seconds))})
            if fault.kind == "garbage":
                return Reply(HTTPStatus.OK, raw=b'{"symbol": "BTCUSDT", "markPrice": <html>502 Bad Gateway')
            now -= pd.Timedelta(seconds=fault.seconds)  # stale
        route = self._routes.get(path) if method == "GET" else None
        if route is None:
            return super().answer(method, path, query, payload)
        try:
            return Reply(HTTPStatus.OK, route(query, now))
        except BinanceRequestError as exc:
            return Reply(exc.status, binance_error(exc.code, exc.msg))
        except Exception:  # a bug here must not leave the bot without an answer: Binance's 500
            logger.exception("replay: %s %s failed", path, query)
            return Reply(HTTPStatus.INTERNAL_SERVER_ERROR, binance_error(-1000, "An unknown error occured."))

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if path.startswith(fault.path):
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                return fault
        return None

    def _control(self, method: str, path: str, payload: bytes) -> Reply:
        if path == "/hydra/status" and method == "GET":
            now = self.clock.recorded_now()  # what is being replayed, in recorded time
            with self._lock:
                return Reply(
                    HTTPStatus.OK,
                    {"recorded_now": now.isoformat(), "served_now_ms": self.now_ms(), "speed": self.clock.speed,
                     "shift_hours": self.clock.shift_ms // 3_600_000, "symbols": sorted(self.tapes),
                     "clock": {"origin": self.clock.origin, "started": self.clock.started, "speed": self.clock.speed},
                     "faults": [asdict(f) for f in self.faults], "served": dict(self.served)},
                )  # fmt: skip
        if path == "/hydra/faults" and method == "POST":
            try:
                fault = Fault(**json.loads(payload or b"{}"))
            except (ValueError, TypeError) as exc:
                return Reply(HTTPStatus.BAD_REQUEST, {"error": f"bad fault: {exc}"})
            with self._lock:
                self.faults.append(fault)
            logger.info("replay fault added: %s", fault)
            return Reply(HTTPStatus.OK, asdict(fault))
        if path == "/hydra/faults" and method == "DELETE":
            with self._lock:
                cleared, self.faults = len(self.faults), []
            return Reply(HTTPStatus.OK, {"cleared": cleared})
        return Reply(HTTPStatus.NOT_FOUND, {"error": f"no control endpoint {method} {path}"})

    # -- parameters ------------------------------------------------------------------------------
    def _tape(self, query: dict[str, str], required: bool = True) -> SymbolTape | None:
        symbol = query.get("symbol")
        if not symbol:
            if required:
                raise BinanceRequestError(
                    -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
                )
            return None
        if symbol not in self.tapes or symbol not in self._specs:
            raise BinanceRequestError(-1121, "Invalid symbol.")
        return self.tapes[symbol]

    def _selected(self, query: dict[str, str]) -> list[SymbolTape]:
        one = self._tape(query, required=False)
        if one is not None:
            return [one]
        return [self.tapes[s] for s in self._specs if s in self.tapes and self.tapes[s].candles]

    @staticmethod
    def _limit(query: dict[str, str], default: int, maximum: int) -> int:
        try:
            limit = int(query.get("limit", default))
        except ValueError:
            raise BinanceRequestError(
                -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."
            ) from None
        return min(max(limit, 1), maximum)

    def _window(self, query: dict[str, str]) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        try:
            start = _ts(query.get("startTime"))
            end = _ts(query.get("endTime"))
        except ValueError:
            raise BinanceRequestError(
                -1100, "Illegal characters found in parameter 'startTime' or 'endTime'."
            ) from None
        if start is not None and end is not None and start > end:
            raise BinanceRequestError(-1128, "startTime must be less than endTime.")
        return start, end

    def _prices(self, symbol: str) -> tuple[int, int]:
        spec = self._specs[symbol]
        return int(spec["pricePrecision"]), int(spec["quantityPrecision"])

    def _filter(self, symbol: str, kind: str, key: str) -> float:
        for item in self._specs[symbol]["filters"]:
            if item.get("filterType") == kind:
                return float(item[key])
        raise BinanceRequestError(-1121, "Invalid symbol.")

    # -- market data -----------------------------------------------------------------------------
    def _klines(self, query: dict[str, str], now: pd.Timestamp, mark: bool = False) -> list[list[Any]]:
        tape = self._tape(query)
        interval = query.get("interval")
        if interval not in INTERVALS:
            raise BinanceRequestError(-1120, "Invalid interval.")
        minutes = INTERVALS[interval]
        start, end = self._window(query)
        frame = tape.klines(minutes, now, mark=mark, start=start, end=end, limit=self._limit(query, 500, 1500))
        price, qty = self._prices(tape.symbol)
        step_ms = minutes * 60_000
        rows = []
        for date, o, h, low, c, v in frame[["date", "open", "high", "low", "close", "volume"]].itertuples(index=False):
            opened = to_ms(pd.Timestamp(date))
            volume = 0.0 if mark else v
            rows.append(
                [opened, _num(o, price), _num(h, price), _num(low, price), _num(c, price), _num(volume, qty),
                 opened + step_ms - 1, _num(volume * c, 4), 0, "0", "0", "0"]
            )  # fmt: skip
        return rows

    def _funding_rate(self, query: dict[str, str], now: pd.Timestamp) -> list[dict[str, Any]]:
        start, end = self._window(query)
        limit = self._limit(query, 100, 1000)
        out = []
        for tape in self._selected(query):
            price, _ = self._prices(tape.symbol)
            rows = tape.settlements(now, start=start, end=end, limit=limit)
            out += [
                {"symbol": tape.symbol, "fundingTime": to_ms(pd.Timestamp(d)),
                 "fundingRate": _num(r, 8), "markPrice": _num(m, price)}
                for d, r, m in rows[["date", "funding_rate", "mark"]].itertuples(index=False)
            ]  # fmt: skip
        out.sort(key=lambda r: (r["fundingTime"], r["symbol"]))
        return out[:limit] if start is not None else out[-limit:]

    def _funding_info(self, query: dict[str, str], now: pd.Timestamp) -> list[dict[str, Any]]:
        out = []
        for tape in self._selected(query):
            done = tape.settlements(now, limit=2)
            if len(done) == 2:
                hours = int((done["date"].iloc[1] - done["date"].iloc[0]) / pd.Timedelta(hours=1))
                out.append({"symbol": tape.symbol, "adjustedFundingRateCap": "0.02000000",
                            "adjustedFundingRateFloor": "-0.02000000", "fundingIntervalHours": hours,
                            "disclaimer": False})  # fmt: skip
        return out

    def _per_symbol(
        self, query: dict[str, str], now: pd.Timestamp, row: Callable[[SymbolTape, pd.Timestamp], dict | None]
    ) -> Any:
        """One symbol's row as an object (``symbol`` given), else every symbol's as a list; no data, no row."""
        rows = [r for r in (row(tape, now) for tape in self._selected(query)) if r is not None]
        return rows[0] if "symbol" in query and rows else rows

    def _premium_index(self, query: dict[str, str], now: pd.Timestamp) -> Any:
        def row(tape: SymbolTape, now: pd.Timestamp) -> dict | None:
            mark, funding = tape.mark_price(now), tape.last_funding(now)
            if mark is None or funding is None:
                return None
            price, _ = self._prices(tape.symbol)
            rate, following = funding
            return {
                "symbol": tape.symbol, "markPrice": _num(mark, price), "indexPrice": _num(mark, price),
                "estimatedSettlePrice": _num(mark, price), "lastFundingRate": _num(rate, 8),
                "interestRate": "0.00010000", "nextFundingTime": to_ms(following), "time": to_ms(now),
            }  # fmt: skip

        return self._per_symbol(query, now, row)

    def _ticker_24hr(self, query: dict[str, str], now: pd.Timestamp) -> Any:
        def row(tape: SymbolTape, now: pd.Timestamp) -> dict | None:
            stats = tape.day_stats(now)
            if stats is None:
                return None
            price, qty = self._prices(tape.symbol)
            change = stats["close"] - stats["open"]
            average = stats["quote_volume"] / stats["volume"] if stats["volume"] else stats["close"]
            return {
                "symbol": tape.symbol, "priceChange": _num(change, price),
                "priceChangePercent": _num(100.0 * change / stats["open"], 3), "weightedAvgPrice": _num(average, price),
                "lastPrice": _num(stats["close"], price), "lastQty": _num(0.0, qty),
                "openPrice": _num(stats["open"], price), "highPrice": _num(stats["high"], price),
                "lowPrice": _num(stats["low"], price), "volume": _num(stats["volume"], qty),
                "quoteVolume": _num(stats["quote_volume"], 2), "openTime": to_ms(stats["open_time"]),
                "closeTime": to_ms(now), "firstId": 0, "lastId": 0, "count": 0,
            }  # fmt: skip

        return self._per_symbol(query, now, row)

    def _ticker_price(self, query: dict[str, str], now: pd.Timestamp) -> Any:
        def row(tape: SymbolTape, now: pd.Timestamp) -> dict | None:
            last = tape.price(now)
            if last is None:
                return None
            return {"symbol": tape.symbol, "price": _num(last, self._prices(tape.symbol)[0]), "time": to_ms(now)}

        return self._per_symbol(query, now, row)

    def _book_ticker(self, query: dict[str, str], now: pd.Timestamp) -> Any:
        def row(tape: SymbolTape, now: pd.Timestamp) -> dict | None:
            book = self._book(tape, now, 5)
            if book is None:
                return None
            price, qty = self._prices(tape.symbol)
            (bid, bid_qty), (ask, ask_qty) = book[0][0], book[1][0]
            return {
                "symbol": tape.symbol, "bidPrice": _num(bid, price), "bidQty": _num(bid_qty, qty),
                "askPrice": _num(ask, price), "askQty": _num(ask_qty, qty), "time": to_ms(now),
            }  # fmt: skip

        return self._per_symbol(query, now, row)

    def _book(self, tape: SymbolTape, now: pd.Timestamp, levels: int) -> tuple[list, list] | None:
        tick = self._filter(tape.symbol, "PRICE_FILTER", "tickSize")
        step = self._filter(tape.symbol, "LOT_SIZE", "stepSize")
        return tape.book(now, levels, tick, step)

    def _depth(self, query: dict[str, str], now: pd.Timestamp) -> dict[str, Any]:
        tape = self._tape(query)
        asked = self._limit(query, 500, 1000)
        levels = next(n for n in DEPTH_LIMITS if n >= asked)
        book = self._book(tape, now, levels)
        if book is None:
            raise BinanceRequestError(-1121, "Invalid symbol.")
        price, qty = self._prices(tape.symbol)
        served = to_ms(now)
        return {
            "lastUpdateId": served, "E": served, "T": served,
            "bids": [[_num(p, price), _num(q, qty)] for p, q in book[0]],
            "asks": [[_num(p, price), _num(q, qty)] for p, q in book[1]],
        }  # fmt: skip

    def _metrics(self, query: dict[str, str], now: pd.Timestamp) -> tuple[SymbolTape, pd.DataFrame, int]:
        tape = self._tape(query)
        period = query.get("period")
        if period not in PERIODS:
            raise BinanceRequestError(-1130, "Invalid data sent for a parameter.")
        start, end = self._window(query)
        minutes = INTERVALS[period]
        return tape, tape.futures_data(now, minutes, start, end, self._limit(query, 30, 500)), minutes

    def _ratio(self, name: str) -> Callable[[dict[str, str], pd.Timestamp], list[dict[str, Any]]]:
        column = RATIO_COLUMNS[name]

        def route(query: dict[str, str], now: pd.Timestamp) -> list[dict[str, Any]]:
            tape, rows, _ = self._metrics(query, now)
            out = []
            for date, ratio in rows[["date", column]].itertuples(index=False):
                if np.isfinite(ratio) and ratio > 0:
                    out.append(
                        {"symbol": tape.symbol, "longShortRatio": _num(ratio, 4),
                         "longAccount": _num(ratio / (1 + ratio), 4), "shortAccount": _num(1 / (1 + ratio), 4),
                         "timestamp": to_ms(pd.Timestamp(date))}
                    )  # fmt: skip
            return out

        return route

    def _taker_ratio(self, query: dict[str, str], now: pd.Timestamp) -> list[dict[str, Any]]:
        tape, rows, minutes = self._metrics(query, now)
        out = []
        volumes = tape.taker_volumes(rows, minutes)
        for (date, ratio), (buy, sell) in zip(
            rows[["date", "sum_taker_long_short_vol_ratio"]].itertuples(index=False), volumes, strict=True
        ):
            if np.isfinite(ratio) and np.isfinite(buy):
                out.append({"buySellRatio": _num(ratio, 4), "buyVol": _num(buy, 4), "sellVol": _num(sell, 4),
                            "timestamp": to_ms(pd.Timestamp(date))})  # fmt: skip
        return out

    def _open_interest_hist(self, query: dict[str, str], now: pd.Timestamp) -> list[dict[str, Any]]:
        tape, rows, _ = self._metrics(query, now)
        columns = ["date", "sum_open_interest", "sum_open_interest_value"]
        return [
            {"symbol": tape.symbol, "sumOpenInterest": _num(oi, 8), "sumOpenInterestValue": _num(value, 8),
             "timestamp": to_ms(pd.Timestamp(date))}
            for date, oi, value in rows[columns].itertuples(index=False)
            if np.isfinite(oi) and np.isfinite(value)
        ]  # fmt: skip

    def _open_interest(self, query: dict[str, str], now: pd.Timestamp) -> dict[str, Any]:
        tape = self._tape(query)
        rows = tape.futures_data(now, 5, limit=1)
        if rows.empty or rows["date"].iloc[-1] < now - pd.Timedelta(minutes=10):
            # Open interest was recorded only on the days of the metrics archive.
            raise BinanceRequestError(-4108, "Open interest was not recorded at this time.", HTTPStatus.NOT_FOUND)
        _, qty = self._prices(tape.symbol)
        return {"symbol": tape.symbol, "openInterest": _num(float(rows["sum_open_interest"].iloc[-1]), qty),
                "time": to_ms(now)}  # fmt: skip
