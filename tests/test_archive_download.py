"""Downloading Binance's metrics archive from a loopback copy of data.binance.vision."""

import hashlib
import io
import threading
import zipfile
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from hydra_plugins.cli import main as hydra_main
from hydra_plugins.core.errors import IntelUnavailable
from hydra_plugins.intel.sources.binance_archive import download_metrics_day, metrics_url, parse_checksum
from hydra_plugins.intel.store import IntelStore
from tests.conftest import data_root

METRICS = data_root() / "binance-metrics"
pytestmark = pytest.mark.skipif(not METRICS.is_dir(), reason="no metrics archive")


class Archive(ThreadingHTTPServer):
    """Serves ``/data/futures/um/daily/metrics/<SYMBOL>/<file>.zip`` and ``.CHECKSUM`` like Binance."""

    daemon_threads = True

    def __init__(self, corrupt=()):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = {}
        for csv in METRICS.glob("*/*.csv"):
            name = csv.with_suffix(".zip").name
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.write(csv, arcname=csv.name)
            data = buffer.getvalue()
            digest = hashlib.sha256(data).hexdigest()
            if name in corrupt:
                digest = "0" * 64
            prefix = f"/data/futures/um/daily/metrics/{csv.parent.name}/{name}"
            self.files[prefix] = data
            self.files[prefix + ".CHECKSUM"] = f"{digest}  {name}\n".encode()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self):
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.server.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        body = body if body is not None else b"<Error><Code>NoSuchKey</Code></Error>"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_url_and_checksum_format():
    assert metrics_url("BTCUSDT", date(2024, 5, 2)) == (
        "https://data.binance.vision/data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-05-02.zip"
    )
    digest = "ab" * 32
    assert parse_checksum(f"{digest}  BTCUSDT-metrics-2024-05-02.zip\n", "BTCUSDT-metrics-2024-05-02.zip") == digest
    with pytest.raises(IntelUnavailable, match="names no SHA-256"):
        parse_checksum("garbage", "BTCUSDT-metrics-2024-05-02.zip")


def test_download_verifies_skips_and_refuses(tmp_path):
    server = Archive(corrupt={"ETHUSDT-metrics-2024-05-03.zip"})
    with httpx.Client() as http:
        got = download_metrics_day(http, "BTCUSDT", date(2024, 5, 2), tmp_path, server.url)
        assert got.status == "downloaded" and got.path.read_bytes()[:2] == b"PK"
        assert download_metrics_day(http, "BTCUSDT", date(2024, 5, 2), tmp_path, server.url).status == "present"
        assert download_metrics_day(http, "BTCUSDT", date(2024, 5, 1), tmp_path, server.url).status == "not published"
        with pytest.raises(IntelUnavailable, match="does not match"):
            download_metrics_day(http, "ETHUSDT", date(2024, 5, 3), tmp_path, server.url)
    assert not (tmp_path / "ETHUSDT" / "ETHUSDT-metrics-2024-05-03.zip").exists()  # a bad file is never kept
    server.close()


def test_download_and_import_in_one_command(tmp_path, capsys):
    server = Archive()
    args = ["intel", "download-metrics", "--symbols", "SOLUSDT", "--start", "2024-05-01", "--end", "2024-05-04",
            "--dest", str(tmp_path / "metrics"), "--base-url", server.url, "--import",
            "--datadir", str(tmp_path / "binance"), "--store", str(tmp_path / "intel.sqlite")]  # fmt: skip
    assert hydra_main(args) == 0
    out = capsys.readouterr().out
    assert "SOLUSDT 2024-05-01: not published" in out and out.count(": downloaded") == 3
    assert "Imported 3 file(s)" in out
    assert len(IntelStore(tmp_path / "intel.sqlite", readonly=True).read("taker_ratio", "SOLUSDT")) == 3 * 288
    assert (tmp_path / "binance" / "futures" / "SOL_USDT_USDT-5m-open_interest.feather").is_file()
    server.close()
