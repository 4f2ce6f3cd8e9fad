"""A loopback fake of Binance's USDT-M public REST endpoints, answering recorded responses.

Faults can be queued per path: "timeout" (answers after the client gave up), "500", "429" (with
Retry-After), "418", "garbage" (not JSON), "close" (drops the connection).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "binance"


def _recorded(name):
    return json.loads((FIXTURES / name).read_text())


class LoopbackServer(ThreadingHTTPServer):
    """An HTTP server on a free loopback port with per-path fault queues; a context manager runs it."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.faults: dict[str, deque] = defaultdict(deque)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class FakeBinance(LoopbackServer):
    def __init__(self, symbols=("BTCUSDT", "ETHUSDT"), weight=10):
        super().__init__(_Handler)
        self.symbols = list(symbols)
        self.weight = weight
        self.calls: list[tuple[str, dict]] = []
        self.clock = 1_790_000_000_000  # ms; advanced by tests that need new buckets

    def answer(self, path, params):
        symbol = params.get("symbol")
        if path == "/fapi/v1/premiumIndex":
            base = _recorded("premiumIndex_single.json")
            rows = [{**base, "symbol": s, "time": self.clock} for s in self.symbols]
            return rows if symbol is None else rows[self.symbols.index(symbol)]
        if path in ("/futures/data/globalLongShortAccountRatio", "/futures/data/topLongShortAccountRatio",
                    "/futures/data/topLongShortPositionRatio"):  # fmt: skip
            base = _recorded("topLongShortPositionRatio_recorded.json")[0]
            return [{**base, "symbol": symbol, "timestamp": self.clock - 300_000 * i} for i in range(2)]
        if path == "/futures/data/takerlongshortRatio":
            base = _recorded("takerlongshortRatio_recorded.json")[0]
            return [{**base, "timestamp": self.clock - 300_000 * i} for i in range(2)]
        if path == "/fapi/v1/depth":
            book = {"lastUpdateId": 1, "E": self.clock, "T": self.clock,
                    "bids": [["99.9", "2"], ["99.8", "5"]], "asks": [["100.1", "1"], ["100.2", "4"]]}  # fmt: skip
            return book
        return None


class _Handler(BaseHTTPRequestHandler):
    server: FakeBinance

    def do_GET(self):
        split = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(split.query).items()}
        self.server.calls.append((split.path, params))
        queue = self.server.faults[split.path]
        fault = queue.popleft() if queue else None
        if fault == "timeout":
            time.sleep(1.5)
        if fault == "close":
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        status, headers, body = 200, {"X-MBX-USED-WEIGHT-1M": str(self.server.weight)}, None
        if fault in ("500", "429", "418"):
            status = int(fault)
            body = json.dumps(
                {"code": -1003, "msg": "Too many requests"}
                if fault != "500"
                else {"code": -1000, "msg": "An unknown error occurred"}
            )
            if fault == "429":
                headers["Retry-After"] = "30"
        elif fault == "garbage":
            body = "<html>maintenance</html>"
        else:
            answer = self.server.answer(split.path, params)
            if answer is None:
                status, body = 404, json.dumps({"code": -5000, "msg": f"Path {split.path}, Method GET is invalid"})
            else:
                body = json.dumps(answer)
        send(self, status, headers, body)

    def log_message(self, *args):
        pass


def send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: str) -> None:
    """Write one complete HTTP answer (status, headers, a sized body) from a fake's request handler."""
    data = body.encode()
    handler.send_response(status)
    for k, v in headers.items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class FakeLiquidationStream:
    """A loopback websocket pushing forceOrder messages: valid ones, garbage, repeats, other symbols."""

    def __init__(self, every_s=0.1):
        self.every_s = every_s
        self.port = None
        self._ready = threading.Event()
        self._stop = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self):
        import asyncio

        import websockets

        template = json.loads((FIXTURES / "forceOrder_combined_recorded_2026_arr.json").read_text())

        def message(i, symbol, side):
            data = json.loads(json.dumps(template))
            data["data"]["o"].update({"s": symbol, "S": side, "T": 1_790_000_000_000 + i * 1000})
            return json.dumps(data)

        async def handler(ws):
            i = 0
            while True:
                i += 1
                batch = [message(i, "BTCUSDT", "SELL"), message(i, "ETHUSDT", "BUY"), "garbage",
                         message(i, "BTCUSDT", "SELL"), message(i, "PEPEUSDT", "SELL")]  # fmt: skip
                for m in batch:
                    await ws.send(m)
                await asyncio.sleep(self.every_s)

        async def main():
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with websockets.serve(handler, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                self._ready.set()
                await self._stop.wait()

        asyncio.run(main())
