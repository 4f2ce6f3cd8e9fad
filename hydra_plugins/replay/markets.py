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
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


class _Handler(BaseHTTPRequestHandler):
    server: MarketsServer

    def _send(self, status: HTTPStatus, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        now_ms = int(time.time() * 1000)
        if path == "/fapi/v1/exchangeInfo":
            self._send(HTTPStatus.OK, {**self.server.exchange_info, "serverTime": now_ms})
        elif path == "/fapi/v1/ping":
            self._send(HTTPStatus.OK, {})
        elif path == "/fapi/v1/time":
            self._send(HTTPStatus.OK, {"serverTime": now_ms})
        else:
            self._invalid()

    def _invalid(self) -> None:
        path = urlsplit(self.path).path
        self._send(HTTPStatus.NOT_FOUND, binance_error(-5000, f"Path {path}, Method {self.command} is invalid"))

    do_POST = do_PUT = do_DELETE = _invalid  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("markets server: " + format, *args)


class MarketsServer(ThreadingHTTPServer):
    """Loopback HTTP server answering Binance USDT-M market metadata from a snapshot."""

    daemon_threads = True

    def __init__(self, exchange_info: dict[str, Any], host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        self.exchange_info = parse_exchange_info(exchange_info)
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MarketsServer:
        """Serve in a background thread and return self."""
        self._thread = threading.Thread(target=self.serve_forever, name="hydra-markets", daemon=True)
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
