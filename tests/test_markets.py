"""The offline market snapshot: the server, parsing, the live fetch (on a loopback fake) and ccxt."""

import json
from pathlib import Path

import ccxt
import httpx
import pytest

from hydra_plugins.cli import main as hydra_main
from hydra_plugins.core.errors import SnapshotError
from hydra_plugins.replay.markets import (
    DEFAULT_PORT,
    UNIVERSE,
    MarketsServer,
    ccxt_overlay,
    fetch_exchange_info,
    load_snapshot,
    parse_exchange_info,
    select_symbols,
    write_snapshot,
)

ROOT = Path(__file__).resolve().parents[1]


def test_snapshot_holds_the_eight_perpetuals():
    info = load_snapshot()
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == set(UNIVERSE)
    for sym in symbols.values():
        assert sym["contractType"] == "PERPETUAL" and sym["marginAsset"] == "USDT"
        kinds = {f["filterType"] for f in sym["filters"]}
        assert {"PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "MIN_NOTIONAL"} <= kinds


def test_server_answers_exchange_info_time_and_ping(markets_server):
    with httpx.Client(base_url=markets_server.url) as client:
        info = client.get("/fapi/v1/exchangeInfo")
        assert info.status_code == 200
        body = info.json()
        assert [s["symbol"] for s in body["symbols"]] == list(UNIVERSE)
        assert body["serverTime"] > 1_700_000_000_000
        assert client.get("/fapi/v1/ping").json() == {}
        assert client.get("/fapi/v1/time").json()["serverTime"] > 1_700_000_000_000


def test_unknown_paths_answer_a_binance_error(markets_server):
    with httpx.Client(base_url=markets_server.url) as client:
        res = client.get("/fapi/v1/klines", params={"symbol": "BTCUSDT"})
        assert res.status_code == 404
        assert res.json() == {"code": -5000, "msg": "Path /fapi/v1/klines, Method GET is invalid"}
        res = client.post("/fapi/v1/order")
        assert res.status_code == 404 and res.json()["code"] == -5000


def test_ccxt_loads_the_markets_from_the_server(markets_server):
    exchange = ccxt.binance(ccxt_overlay(markets_server.url)["exchange"]["ccxt_config"])
    markets = exchange.load_markets()
    assert set(markets) == {f"{s[:-4]}/USDT:USDT" for s in UNIVERSE}
    btc = markets["BTC/USDT:USDT"]
    assert btc["swap"] and btc["linear"] and btc["settle"] == "USDT"
    assert btc["precision"]["amount"] == 0.001 and btc["precision"]["price"] == 0.1
    assert btc["limits"]["amount"]["min"] == 0.001 and btc["limits"]["cost"]["min"] == 100
    assert markets["DOGE/USDT:USDT"]["precision"]["amount"] == 1


def test_overlay_file_matches_the_default_port():
    shipped = json.loads((ROOT / "config" / "offline.json").read_text())
    assert shipped == ccxt_overlay(f"http://127.0.0.1:{DEFAULT_PORT}")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "must be a JSON object"),
        ({"symbols": []}, "no 'symbols' list"),
        ({"symbols": ["BTCUSDT"]}, "symbols\\[0\\] is not an object"),
        ({"symbols": [{"symbol": "BTCUSDT"}]}, "lacks"),
    ],
)
def test_malformed_exchange_info_is_refused(payload, message):
    with pytest.raises(SnapshotError, match=message):
        parse_exchange_info(payload)


def test_select_symbols_keeps_order_and_requires_all():
    info = load_snapshot()
    chosen = select_symbols(info, ["ETHUSDT", "BTCUSDT"])
    assert [s["symbol"] for s in chosen["symbols"]] == ["ETHUSDT", "BTCUSDT"]
    assert chosen["rateLimits"] == info["rateLimits"]
    with pytest.raises(SnapshotError, match="PEPEUSDT"):
        select_symbols(info, ["PEPEUSDT"])


def _recorded_exchange(status: int = 200, body: object = None):
    recorded = load_snapshot()

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/fapi/v1/exchangeInfo"
        return httpx.Response(status, json=recorded if body is None else body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_fetch_exchange_info_reads_a_recorded_response():
    with _recorded_exchange() as client:
        info = fetch_exchange_info(client, "https://fapi.binance.com")
    assert len(info["symbols"]) == 8


def test_fetch_exchange_info_reports_http_and_shape_errors():
    with (
        _recorded_exchange(status=418, body={"code": -1003, "msg": "banned"}) as client,
        pytest.raises(SnapshotError, match="HTTP 418"),
    ):
        fetch_exchange_info(client)
    with _recorded_exchange(body={"symbols": "nope"}) as client, pytest.raises(SnapshotError, match="symbols"):
        fetch_exchange_info(client)


def test_default_snapshot_prefers_the_working_directory(tmp_path, monkeypatch):
    info = select_symbols(load_snapshot(), ["BTCUSDT"])
    monkeypatch.chdir(tmp_path)
    assert len(load_snapshot()["symbols"]) == 8  # no ./config here: this checkout's snapshot
    write_snapshot(info, tmp_path / "config" / "markets" / "binance_usdm_exchange_info.json")
    assert load_snapshot() == info  # a project or Docker's /freqtrade: its own config/markets


def test_write_then_load_round_trips(tmp_path):
    info = select_symbols(load_snapshot(), ["BTCUSDT"])
    path = write_snapshot(info, tmp_path / "snap.json")
    assert load_snapshot(path) == info
    with pytest.raises(SnapshotError, match="does not exist"):
        load_snapshot(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SnapshotError, match="not valid JSON"):
        load_snapshot(tmp_path / "bad.json")


def test_server_refuses_a_malformed_snapshot():
    with pytest.raises(SnapshotError):
        MarketsServer({"symbols": []}, port=0)


def test_cli_run_serves_while_the_command_runs(capsys):
    code = hydra_main(["markets", "run", "--port", "0", "--", "python", "-c", "import sys; sys.exit(3)"])
    assert code == 3


def test_cli_run_reports_a_busy_port(markets_server, capsys):
    port = markets_server.server_address[1]
    code = hydra_main(["markets", "run", "--port", str(port), "--", "true"])
    assert code == 2
    assert f"port {port}" in capsys.readouterr().err


def test_cli_overlay_prints_the_overlay(capsys):
    assert hydra_main(["markets", "overlay", "--port", "19999"]) == 0
    assert json.loads(capsys.readouterr().out) == ccxt_overlay("http://127.0.0.1:19999")


def test_cli_snapshot_refreshes_from_an_exchange(markets_server, tmp_path, capsys):
    out = tmp_path / "snap.json"
    args = [
        "markets",
        "snapshot",
        "--base-url",
        markets_server.url,
        "--output",
        str(out),
        "--symbols",
        "SOLUSDT",
        "BTCUSDT",
    ]
    assert hydra_main(args) == 0
    assert [s["symbol"] for s in load_snapshot(out)["symbols"]] == ["SOLUSDT", "BTCUSDT"]


def test_cli_snapshot_reports_an_unreachable_exchange(tmp_path, capsys):
    args = ["markets", "snapshot", "--base-url", "http://127.0.0.1:9", "--output", str(tmp_path / "s.json")]
    assert hydra_main(args) == 2
    assert "hydra: error" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
