"""Binance USDT-M liquidations from the ``forceOrder`` websocket stream.

Binance pushes, per symbol, only the latest liquidation within each 1000 ms ("snapshot"), so the
record is a lower bound of what was liquidated; every feature built from it says so. Since the
2026 split of the futures websocket hosts, the stream lives on the ``/market`` base URL.

Parse (pure) turns one message into a store row; :func:`stream_force_orders` (I/O) keeps a
connection open, reconnecting with backoff, until told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pandas as pd
import websockets
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

FORCE_ORDER_URL = "wss://fstream.binance.com/market/ws/!forceOrder@arr"
STREAM_NAME = "!forceOrder@arr"
SOURCE = "binance_ws"
COLUMNS = ["symbol", "source", "event_time", "available_at", "side_sign", "price", "quantity", "notional_usd"]


class _Order(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    symbol: str = Field(alias="s")
    side: str = Field(alias="S", pattern="^(BUY|SELL)$")
    price: float = Field(alias="p", gt=0)
    average_price: float = Field(alias="ap", ge=0)
    quantity: float = Field(alias="q", gt=0)
    filled: float = Field(alias="z", ge=0)
    trade_time: int = Field(alias="T")


class ForceOrderRaw(BaseModel):
    """A ``forceOrder`` event as Binance documents it (unknown keys such as ``ps``/``st`` ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    e: str = Field(pattern="^forceOrder$")
    E: int
    o: _Order


def parse_force_order(message: str | bytes | dict[str, Any], received_at: pd.Timestamp) -> pd.DataFrame:
    """One ``liquidation`` row from a raw or combined-stream message; empty (and logged) if malformed.

    ``side_sign`` is +1 when a long was liquidated (a forced SELL), -1 for a short (a forced BUY).
    Price and size are the filled average and accumulated quantity, or the order's when unfilled.
    """
    try:
        payload = json.loads(message) if isinstance(message, str | bytes) else message
        if isinstance(payload, dict) and "data" in payload and "stream" in payload:
            payload = payload["data"]
        event = ForceOrderRaw.model_validate(payload)
        when = pd.Timestamp(event.o.trade_time, unit="ms", tz="UTC")
    except (ValueError, ValidationError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        logger.warning("dropping malformed forceOrder message %.200r: %s", message, why)
        return pd.DataFrame(columns=COLUMNS)
    order = event.o
    price = order.average_price or order.price
    quantity = order.filled or order.quantity
    return pd.DataFrame(
        {
            "symbol": [order.symbol],
            "source": [SOURCE],
            "event_time": [when],
            "available_at": [max(when, received_at)],
            "side_sign": [1.0 if order.side == "SELL" else -1.0],
            "price": [price],
            "quantity": [quantity],
            "notional_usd": [price * quantity],
        }
    )


async def stream_force_orders(
    on_message: Callable[[str], Awaitable[None]],
    stop: asyncio.Event,
    url: str = FORCE_ORDER_URL,
    *,
    on_connected: Callable[[bool], Awaitable[None]] | None = None,
    backoff_s: float = 1.0,
    max_backoff_s: float = 60.0,
    open_timeout_s: float = 10.0,
) -> None:
    """Deliver every message of ``url`` to ``on_message`` until ``stop`` is set, reconnecting on any drop."""
    delay = backoff_s
    while not stop.is_set():
        try:
            async with websockets.connect(url, open_timeout=open_timeout_s, ping_interval=60, max_size=2**20) as ws:
                logger.info("liquidation stream connected: %s", url)
                delay = backoff_s
                if on_connected:
                    await _notify(on_connected, True)
                while not stop.is_set():
                    try:
                        message = await asyncio.wait_for(ws.recv(), timeout=1.0)
                    except TimeoutError:
                        continue  # quiet market: check the stop flag and keep listening
                    text = message if isinstance(message, str) else message.decode("utf-8", errors="replace")
                    try:
                        await on_message(text)
                    except Exception:  # one bad message or a failed write must not end the stream
                        logger.exception("liquidation message handler failed; the stream goes on")
        except (OSError, websockets.exceptions.WebSocketException, TimeoutError) as exc:
            if stop.is_set():
                break
            logger.warning("liquidation stream dropped (%s); reconnecting in %.0fs", exc, delay)
        if on_connected:
            await _notify(on_connected, False)
        if stop.is_set():
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(max_backoff_s, delay * 2)


async def _notify(on_connected: Callable[[bool], Awaitable[None]], up: bool) -> None:
    try:
        await on_connected(up)
    except Exception:
        logger.exception("liquidation stream state handler failed")
