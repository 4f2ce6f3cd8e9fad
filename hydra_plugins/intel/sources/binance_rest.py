"""Binance USDT-M REST sources: premium index (mark, index, predicted funding), the futures-data
ratios, open-interest history and order-book depth.

Three parts, as every source here: the raw response models (what Binance documents), a client that
only does I/O (an injected ``httpx.Client``), and pure parse functions from responses to intel-store
rows. A malformed response is logged and yields no rows; it never raises into the caller's loop.

Availability: a row is known when its answer was received (never before its own timestamp), the
definition every live source shares. History with a documented publication time comes from the
metrics archive instead (``binance_metrics.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import httpx
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from hydra_plugins.intel.sources.http import get_json

logger = logging.getLogger(__name__)

FAPI_URL = "https://fapi.binance.com"
SOURCE = "binance_rest"
PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
RATIO_PATHS = {
    "global_long_short": "/futures/data/globalLongShortAccountRatio",
    "top_long_short_account": "/futures/data/topLongShortAccountRatio",
    "top_long_short_position": "/futures/data/topLongShortPositionRatio",
}
TAKER_PATH = "/futures/data/takerlongshortRatio"
OPEN_INTEREST_HIST_PATH = "/futures/data/openInterestHist"
PREMIUM_INDEX_PATH = "/fapi/v1/premiumIndex"
DEPTH_PATH = "/fapi/v1/depth"
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


# -- raw response models ------------------------------------------------------------------------
class _Raw(BaseModel):
    # Binance adds fields over time (e.g. CMCCirculatingSupply); unknown ones are ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


class PremiumIndexRaw(_Raw):
    symbol: str
    markPrice: float  # noqa: N815 (Binance's field names)
    indexPrice: float  # noqa: N815
    estimatedSettlePrice: float  # noqa: N815
    lastFundingRate: float  # noqa: N815
    interestRate: float  # noqa: N815
    nextFundingTime: int  # noqa: N815
    time: int


class RatioRaw(_Raw):
    symbol: str
    longShortRatio: float  # noqa: N815
    longAccount: float  # noqa: N815
    shortAccount: float  # noqa: N815
    timestamp: int  # a string in the docs, an integer live: both accepted


class TakerRaw(_Raw):
    buySellRatio: float  # noqa: N815
    buyVol: float  # noqa: N815
    sellVol: float  # noqa: N815
    timestamp: int


class OpenInterestHistRaw(_Raw):
    symbol: str
    sumOpenInterest: float  # noqa: N815
    sumOpenInterestValue: float  # noqa: N815
    timestamp: int


class DepthRaw(_Raw):
    lastUpdateId: int  # noqa: N815
    E: int  # message time
    T: int  # transaction time
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]

    @field_validator("bids", "asks")
    @classmethod
    def _positive(cls, levels: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if any(p <= 0 or q < 0 for p, q in levels):
            raise ValueError("non-positive price or negative quantity in book")
        return levels


def _valid(model: type[_Raw], items: Iterable[Any], what: str) -> list[Any]:
    rows = []
    for item in items:
        try:
            rows.append(model.model_validate(item))
        except ValidationError as exc:
            logger.warning("dropping malformed %s entry %r: %s", what, item, exc.errors()[0]["msg"])
    return rows


def _as_list(payload: Any, what: str) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict) and "code" not in payload:
        return [payload]
    logger.warning("malformed %s answer (%s); treated as missing", what, str(payload)[:200])
    return []


def _ms(values: Iterable[int]) -> pd.DatetimeIndex:
    return pd.to_datetime(list(values), unit="ms", utc=True)


def _store_rows(
    rows: list[Any], symbols: list[str], times: list[int], received_at: pd.Timestamp, values: dict[str, list[float]]
) -> pd.DataFrame:
    """Intel-store rows: known on reception, and never before the event itself."""
    event = _ms(times)
    known = np.maximum(event, pd.DatetimeIndex([received_at] * len(rows)))
    return pd.DataFrame({"symbol": symbols, "source": SOURCE, "event_time": event, "available_at": known, **values})


# -- pure parsers -------------------------------------------------------------------------------
def parse_premium_index(payload: Any, received_at: pd.Timestamp, symbols: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows for the ``premium_index`` series from one or all symbols' answer."""
    wanted = set(symbols) if symbols is not None else None
    rows = [r for r in _valid(PremiumIndexRaw, _as_list(payload, "premiumIndex"), "premiumIndex")
            if wanted is None or r.symbol in wanted]  # fmt: skip
    values = {
        "mark_price": [r.markPrice for r in rows],
        "index_price": [r.indexPrice for r in rows],
        "estimated_settle_price": [r.estimatedSettlePrice for r in rows],
        "predicted_funding_rate": [r.lastFundingRate for r in rows],
        "interest_rate": [r.interestRate for r in rows],
        "next_funding_time": [float(r.nextFundingTime) for r in rows],
    }
    return _store_rows(rows, [r.symbol for r in rows], [r.time for r in rows], received_at, values)


def parse_ratios(payload: Any, received_at: pd.Timestamp) -> pd.DataFrame:
    """Rows for a long/short ratio series from globalLongShortAccountRatio, topLongShort*Ratio."""
    rows = _valid(RatioRaw, _as_list(payload, "long/short ratio"), "long/short ratio")
    values = {
        "long_short_ratio": [r.longShortRatio for r in rows],
        "long_account": [r.longAccount for r in rows],
        "short_account": [r.shortAccount for r in rows],
    }
    return _store_rows(rows, [r.symbol for r in rows], [r.timestamp for r in rows], received_at, values)


def parse_taker_ratio(payload: Any, symbol: str, received_at: pd.Timestamp) -> pd.DataFrame:
    """Rows for ``taker_ratio`` (the answer names no symbol: the caller's request does)."""
    rows = _valid(TakerRaw, _as_list(payload, "takerlongshortRatio"), "takerlongshortRatio")
    values = {
        "buy_sell_ratio": [r.buySellRatio for r in rows],
        "buy_vol": [r.buyVol for r in rows],
        "sell_vol": [r.sellVol for r in rows],
    }
    return _store_rows(rows, [symbol] * len(rows), [r.timestamp for r in rows], received_at, values)


def parse_open_interest_hist(payload: Any) -> pd.DataFrame:
    """Freqtrade ``open_interest`` candles (``date, open_interest_amount, open_interest_value``)."""
    rows = _valid(OpenInterestHistRaw, _as_list(payload, "openInterestHist"), "openInterestHist")
    frame = pd.DataFrame(
        {
            "date": _ms(r.timestamp for r in rows),
            "open_interest_amount": [r.sumOpenInterest for r in rows],
            "open_interest_value": [r.sumOpenInterestValue for r in rows],
        }
    )
    return frame.drop_duplicates("date").sort_values("date", ignore_index=True)


def parse_depth(
    payload: Any, symbol: str, received_at: pd.Timestamp, *, top_levels: int = 5, band_bps: float = 50.0
) -> pd.DataFrame:
    """One ``depth`` row: top-N imbalance, spread and USDT depth within ±``band_bps`` of the mid."""
    try:
        book = DepthRaw.model_validate(payload)
    except ValidationError as exc:
        logger.warning("malformed depth answer for %s: %s", symbol, exc.errors()[0]["msg"])
        return pd.DataFrame(columns=["symbol", "source", "event_time", "available_at"])
    bids = sorted(book.bids, key=lambda level: -level[0])
    asks = sorted(book.asks, key=lambda level: level[0])
    if not bids or not asks or bids[0][0] >= asks[0][0]:
        logger.warning("unusable depth answer for %s (empty or crossed book)", symbol)
        return pd.DataFrame(columns=["symbol", "source", "event_time", "available_at"])
    mid = (bids[0][0] + asks[0][0]) / 2
    bid_top = sum(q for _, q in bids[:top_levels])
    ask_top = sum(q for _, q in asks[:top_levels])
    low, high = mid * (1 - band_bps / 1e4), mid * (1 + band_bps / 1e4)
    event = pd.Timestamp(book.T, unit="ms", tz="UTC")
    return pd.DataFrame(
        {
            "symbol": [symbol],
            "source": SOURCE,
            "event_time": [event],
            "available_at": [max(event, received_at)],
            "imbalance_top": [(bid_top - ask_top) / (bid_top + ask_top) if bid_top + ask_top > 0 else 0.0],
            "spread_bps": [(asks[0][0] - bids[0][0]) / mid * 1e4],
            "bid_depth_usd": [sum(p * q for p, q in bids if p >= low)],
            "ask_depth_usd": [sum(p * q for p, q in asks if p <= high)],
            "mid_price": [mid],
        }
    )


# -- client (I/O only) --------------------------------------------------------------------------
class BinanceFuturesClient:
    """GET calls to Binance USDT-M public endpoints; errors become IntelUnavailable."""

    def __init__(self, http: httpx.Client, base_url: str = FAPI_URL, timeout_s: float = 10.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.used_weight_1m: int | None = None

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """Return the decoded JSON of ``GET path``; raise IntelUnavailable saying why and if retryable."""
        return get_json(
            self.http, self.base_url, path, params=params, timeout_s=self.timeout_s, on_response=self._weight
        )

    def _weight(self, response: httpx.Response) -> None:
        weight = response.headers.get("x-mbx-used-weight-1m")
        if weight is not None and weight.isdigit():
            self.used_weight_1m = int(weight)

    def premium_index(self, symbol: str | None = None) -> Any:
        return self.get(PREMIUM_INDEX_PATH, {"symbol": symbol} if symbol else None)

    def ratios(self, series: str, symbol: str, period: str = "5m", limit: int = 30) -> Any:
        _check_period(period, limit)
        return self.get(RATIO_PATHS[series], {"symbol": symbol, "period": period, "limit": limit})

    def taker_ratio(self, symbol: str, period: str = "5m", limit: int = 30) -> Any:
        _check_period(period, limit)
        return self.get(TAKER_PATH, {"symbol": symbol, "period": period, "limit": limit})

    def open_interest_hist(self, symbol: str, period: str = "5m", limit: int = 30) -> Any:
        _check_period(period, limit)
        return self.get(OPEN_INTEREST_HIST_PATH, {"symbol": symbol, "period": period, "limit": limit})

    def depth(self, symbol: str, limit: int = 100) -> Any:
        if limit not in DEPTH_LIMITS:
            raise ValueError(f"depth limit must be one of {DEPTH_LIMITS}, got {limit}")
        return self.get(DEPTH_PATH, {"symbol": symbol, "limit": limit})


def _check_period(period: str, limit: int) -> None:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}")
    if not 1 <= limit <= 500:
        raise ValueError(f"limit must be within 1..500, got {limit}")
