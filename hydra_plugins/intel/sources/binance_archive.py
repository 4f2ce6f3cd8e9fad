"""Download Binance's daily UM "metrics" archive files from data.binance.vision.

Each day is a zip, ``<SYMBOL>-metrics-YYYY-MM-DD.zip``, published the following day, with a
``.CHECKSUM`` file beside it holding the zip's SHA-256 (``<hex>  <file name>``, as ``sha256sum``
writes it). A file is kept only once its checksum matches; a day Binance has not published (404)
is skipped and reported. The importer (``hydra intel import-metrics``) reads the zips as they are.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

from hydra_plugins.core.errors import IntelUnavailable

logger = logging.getLogger(__name__)

ARCHIVE_URL = "https://data.binance.vision"


def metrics_file_name(symbol: str, day: date) -> str:
    """``BTCUSDT-metrics-2024-05-02.zip``."""
    return f"{symbol}-metrics-{day.isoformat()}.zip"


def metrics_url(symbol: str, day: date, base_url: str = ARCHIVE_URL) -> str:
    """Where Binance publishes one day of a symbol's metrics."""
    return f"{base_url.rstrip('/')}/data/futures/um/daily/metrics/{symbol}/{metrics_file_name(symbol, day)}"


def parse_checksum(text: str, file_name: str) -> str:
    """Return the SHA-256 hex digest a ``.CHECKSUM`` file gives for ``file_name``."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == file_name and len(parts[0]) == 64:
            return parts[0].lower()
    raise IntelUnavailable(f"checksum file names no SHA-256 for {file_name}: {text[:120]!r}")


@dataclass(frozen=True)
class Downloaded:
    """The outcome for one symbol and day: the file, or why there is none."""

    symbol: str
    day: date
    path: Path | None
    status: str  # "downloaded", "present", "not published"


def download_metrics_day(
    client: httpx.Client, symbol: str, day: date, dest: Path, base_url: str = ARCHIVE_URL
) -> Downloaded:
    """Fetch one day's zip into ``dest/<SYMBOL>/`` after checking its SHA-256; never keep a bad file."""
    folder = dest / symbol
    target = folder / metrics_file_name(symbol, day)
    if target.is_file():
        return Downloaded(symbol, day, target, "present")
    url = metrics_url(symbol, day, base_url)
    zipped = client.get(url, timeout=60.0)
    if zipped.status_code == 404:
        return Downloaded(symbol, day, None, "not published")
    if zipped.status_code != 200:
        raise IntelUnavailable(f"GET {url}: HTTP {zipped.status_code}", retryable=zipped.status_code >= 500)
    checksum = client.get(f"{url}.CHECKSUM", timeout=30.0)
    if checksum.status_code != 200:
        raise IntelUnavailable(f"GET {url}.CHECKSUM: HTTP {checksum.status_code}")
    expected = parse_checksum(checksum.text, target.name)
    actual = hashlib.sha256(zipped.content).hexdigest()
    if actual != expected:
        raise IntelUnavailable(f"{target.name}: SHA-256 {actual} does not match the published {expected}")
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(zipped.content)
    partial.replace(target)
    return Downloaded(symbol, day, target, "downloaded")
