"""The ``hydra intel collect`` service: every live source for the traded symbols, into the intel store.

Runs the REST recorder (premium index, futures-data ratios, order book, each at its cadence with
backoff) and the forceOrder liquidation stream side by side. Liquidations are buffered and written
once a second; while the stream is connected a heartbeat row per symbol is written every minute, so
a quiet market reads "recorded, nothing liquidated" rather than "not recorded". SIGTERM (or
Ctrl-C) stops it cleanly: the buffer is flushed and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence

import pandas as pd

from hydra_plugins.intel.recorder import IntelRecorder
from hydra_plugins.intel.sources.binance_ws import FORCE_ORDER_URL, parse_force_order, stream_force_orders
from hydra_plugins.intel.store import IntelStore

logger = logging.getLogger(__name__)


class Collector:
    """Record REST sources and the liquidation stream until stopped."""

    def __init__(
        self,
        store: IntelStore,
        recorder: IntelRecorder,
        symbols: Sequence[str],
        ws_url: str = FORCE_ORDER_URL,
        *,
        flush_every_s: float = 1.0,
        heartbeat_every_s: float = 60.0,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.symbols = set(symbols)
        self.ws_url = ws_url
        self.flush_every_s = flush_every_s
        self.heartbeat_every_s = heartbeat_every_s
        self.connected = False
        self.liquidations_written = 0
        self.heartbeats_written = 0
        self._buffer: list[pd.DataFrame] = []
        self._stopping = threading.Event()  # what the REST worker thread can see

    async def run(self, stop: asyncio.Event, duration_s: float | None = None) -> None:
        """Collect until ``stop`` is set (or ``duration_s`` passes), then flush and return."""
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, stop.set)
        self._stopping.clear()
        stream = asyncio.create_task(
            stream_force_orders(self._on_message, stop, self.ws_url, on_connected=self._on_connected),
            name="liquidations",
        )
        # Should the stream task ever end early, stop vouching for it: no heartbeat for a dead stream.
        stream.add_done_callback(lambda _: setattr(self, "connected", False))
        jobs = [asyncio.create_task(self._rest(stop), name="rest"), stream, asyncio.create_task(self._periodic(stop))]
        await stop.wait()
        self._stopping.set()
        await asyncio.gather(*jobs, return_exceptions=True)
        await self._flush()
        logger.info(
            "collector stopped: %d liquidations, %d heartbeats written",
            self.liquidations_written,
            self.heartbeats_written,
        )

    async def _rest(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.recorder.run_due, time.time(), should_stop=self._stopping.is_set)
            except Exception:
                logger.exception("REST recording round failed; the next one goes on")
            wait = min(1.0, max(0.05, self.recorder.next_due_s() - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    async def _on_message(self, message: str) -> None:
        row = parse_force_order(message, pd.Timestamp.now(tz="UTC"))
        if not row.empty and row["symbol"].iloc[0] in self.symbols:
            self._buffer.append(row)

    async def _on_connected(self, up: bool) -> None:
        self.connected = up
        if up:
            await self._heartbeat()

    async def _periodic(self, stop: asyncio.Event) -> None:
        last_beat = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.flush_every_s)
            await self._flush()
            if time.monotonic() - last_beat >= self.heartbeat_every_s:
                last_beat = time.monotonic()
                if self.connected:
                    await self._heartbeat()

    async def _flush(self) -> None:
        # Detach the buffer here, on the event loop that appends to it; write it in a worker thread.
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        rows = pd.concat(batch, ignore_index=True)
        try:
            self.liquidations_written += await asyncio.to_thread(self.store.write, "liquidation", rows)
        except Exception:
            logger.exception("could not write %d liquidation rows; kept for the next flush", len(rows))
            self._buffer[:0] = batch

    async def _heartbeat(self) -> None:
        now = pd.Timestamp.now(tz="UTC").floor("s")
        rows = pd.DataFrame(
            {"symbol": sorted(self.symbols), "source": "binance_ws", "event_time": now, "available_at": now,
             "connected": 1.0}
        )  # fmt: skip
        try:
            self.heartbeats_written += await asyncio.to_thread(self.store.write, "stream_heartbeat", rows)
        except Exception:  # no heartbeat is the honest record of a minute we cannot vouch for
            logger.exception("could not write the stream heartbeat")
