"""The offline market snapshot: Binance USDT-M ``exchangeInfo`` served on loopback.

Freqtrade loads the exchange's markets even to backtest. With no route to Binance it stops with
"Could not load markets"; pointing ccxt's USDT-M URLs at :class:`MarketsServer` (see
``config/offline.json``) lets backtesting and lookahead analysis run anywhere.

Parsing is pure (:func:`parse_exchange_info`, :func:`select_symbols`); I/O is separate
(:func:`fetch_exchange_info` takes an injected ``httpx.Client``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from hydra_plugins.core.errors import SnapshotError

logger = logging.getLogger(__name__)

BINANCE_USDM_URL = "https://fapi.binance.com"
DEFAULT_PORT = 18700
SNAPSHOT_NAME = Path("config") / "markets" / "binance_usdm_exchange_info.json"
UNIVERSE = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "XRPUSDT", "LTCUSDT", "DOGEUSDT")
_REQUIRED_SYMBOL_KEYS = (
    "symbol", "pair", "contractType", "status", "baseAsset", "quoteAsset", "marginAsset",
    "pricePrecision", "quantityPrecision", "filters",
)  # fmt: skip


def default_snapshot() -> Path:
    """Return the snapshot file: ``./config/markets/…`` (a project or Docker's /freqtrade), else this checkout's."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / SNAPSHOT_NAME).is_file():
            return root / SNAPSHOT_NAME
    return Path.cwd() / SNAPSHOT_NAME


def parse_exchange_info(payload: Any) -> dict[str, Any]:
    """Check that ``payload`` is a USDT-M exchangeInfo response and return it."""
    if not isinstance(payload, dict):
        raise SnapshotError(f"exchangeInfo must be a JSON object, got {type(payload).__name__}")
    symbols = payload.get("symbols")
    if not isinstance(symbols, list) or not symbols:
        raise SnapshotError("exchangeInfo has no 'symbols' list")
    for i, sym in enumerate(symbols):
        if not isinstance(sym, dict):
            raise SnapshotError(f"exchangeInfo symbols[{i}] is not an object")
        missing = [k for k in _REQUIRED_SYMBOL_KEYS if k not in sym]
        if missing:
            raise SnapshotError(f"exchangeInfo symbol {sym.get('symbol', i)!r} lacks {missing}")
        if not isinstance(sym["filters"], list):
            raise SnapshotError(f"exchangeInfo symbol {sym['symbol']!r} has no filters list")
    return payload


def select_symbols(info: dict[str, Any], symbols: Iterable[str]) -> dict[str, Any]:
    """Return ``info`` keeping only ``symbols`` (in the order asked); every one must be present."""
    wanted = list(symbols)
    by_name = {s["symbol"]: s for s in info["symbols"]}
    missing = [s for s in wanted if s not in by_name]
    if missing:
        raise SnapshotError(f"exchangeInfo has no symbols {missing}")
    return {**info, "symbols": [by_name[s] for s in wanted]}


def load_snapshot(path: Path | None = None) -> dict[str, Any]:
    """Read and check a snapshot file (default: :func:`default_snapshot`)."""
    path = path or default_snapshot()
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise SnapshotError(f"market snapshot {path} does not exist; run 'hydra markets snapshot'") from None
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"market snapshot {path} is not valid JSON: {exc}") from None
    return parse_exchange_info(payload)


def fetch_exchange_info(client: httpx.Client, base_url: str = BINANCE_USDM_URL) -> dict[str, Any]:
    """Download ``GET /fapi/v1/exchangeInfo`` and check its shape."""
    response = client.get(f"{base_url}/fapi/v1/exchangeInfo", timeout=30.0)
    if response.status_code != 200:
        raise SnapshotError(f"exchangeInfo answered HTTP {response.status_code}: {response.text[:200]}")
    try:
        payload = response.json()
    except ValueError:
        raise SnapshotError("exchangeInfo answer is not JSON") from None
    return parse_exchange_info(payload)


def write_snapshot(info: dict[str, Any], path: Path | None = None) -> Path:
    """Write a snapshot file atomically (a crash never leaves half a file)."""
    path = path or default_snapshot()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    tmp.replace(path)
    return path


def binance_error(code: int, msg: str) -> dict[str, Any]:
    """Return a body shaped like Binance's error answers."""
    return {"code": code, "msg": msg}


@dataclass
class Reply:
    """One HTTP answer: JSON ``body`` (or ``raw`` bytes), after ``delay_s``; ``drop`` closes without answering."""

    status: HTTPStatus
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False


class _Handler(BaseHTTPRequestHandler):
    server: MarketsServer

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        reply = self.server.answer(self.command, parts.path.rstrip("/"), query, payload)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.drop:
            self.close_connection = True
            return
        data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s: " + format, type(self.server).__name__, *args)


class MarketsServer(ThreadingHTTPServer):
    """Loopback HTTP server answering Binance USDT-M market metadata from a snapshot."""

    daemon_threads = True

    def __init__(self, exchange_info: dict[str, Any], host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        self.exchange_info = parse_exchange_info(exchange_info)
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    def now_ms(self) -> int:
        """The server's present (a replay serves recorded time shifted to it)."""
        return int(time.time() * 1000)

    def answer(self, method: str, path: str, query: dict[str, str], payload: bytes) -> Reply:
        """Answer one request; the metadata every Freqtrade run needs, Binance's error for the rest."""
        if method == "GET" and path == "/fapi/v1/exchangeInfo":
            return Reply(HTTPStatus.OK, {**self.exchange_info, "serverTime": self.now_ms()})
        if method == "GET" and path == "/fapi/v1/ping":
            return Reply(HTTPStatus.OK, {})
        if method == "GET" and path == "/fapi/v1/time":
            return Reply(HTTPStatus.OK, {"serverTime": self.now_ms()})
        return Reply(HTTPStatus.NOT_FOUND, binance_error(-5000, f"Path {path}, Method {method} is invalid"))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MarketsServer:
        """Serve in a background thread and return self."""
        self._thread = threading.Thread(target=self.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def ccxt_overlay(base_url: str) -> dict[str, Any]:
    """Return the Freqtrade config overlay that points ccxt's USDT-M endpoints at ``base_url``."""
    urls = {
        "fapiPublic": f"{base_url}/fapi/v1",
        "fapiPublicV2": f"{base_url}/fapi/v2",
        "fapiPublicV3": f"{base_url}/fapi/v3",
        "fapiPrivate": f"{base_url}/fapi/v1",
        "fapiPrivateV2": f"{base_url}/fapi/v2",
        "fapiPrivateV3": f"{base_url}/fapi/v3",
        "fapiData": f"{base_url}/futures/data",
    }
    ccxt = {"urls": {"api": urls}, "options": {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False}}
    return {"exchange": {"ccxt_config": ccxt, "ccxt_async_config": ccxt}}
