"""The replay exchange: recorded data as a live Binance USDT-M API, checked through ccxt as Freqtrade uses it."""

import itertools
import json
import subprocess
import sys

import ccxt
import httpx
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hydra_plugins.core.errors import IntelUnavailable
from hydra_plugins.intel.sources.binance_rest import BinanceFuturesClient
from hydra_plugins.replay.clock import ReplayClock
from hydra_plugins.replay.exchange import Fault, ReplayServer
from hydra_plugins.replay.markets import ccxt_overlay, load_snapshot
from hydra_plugins.replay.tape import load_tape, path_price
from tests.conftest import ROOT, data_root, needs_data

MOMENT = pd.Timestamp("2024-04-12T12:00:00Z")  # BTC's metrics archive covers this day
SYMBOLS = ["BTCUSDT", "ETHUSDT", "LTCUSDT"]


@pytest.fixture(scope="module")
def tapes():
    return load_tape(data_root() / "binance", SYMBOLS, data_root() / "binance-metrics")


@pytest.fixture(scope="module")
def replay(tapes):
    info = load_snapshot()
    server = ReplayServer(info, tapes, ReplayClock.starting(MOMENT), port=0).start()
    yield server
    server.stop()


def client(server) -> ccxt.binanceusdm:
    settings = ccxt_overlay(server.url)["exchange"]["ccxt_config"]
    exchange = ccxt.binanceusdm({**settings, "timeout": 3000})
    exchange.load_markets()
    return exchange


@given(st.floats(1, 100), st.floats(0, 50), st.floats(0, 50), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_the_forming_candle_follows_a_path_inside_the_recorded_range(open_, up, down, close_at, f1, f2):
    high, low = open_ + up, max(open_ - down, 0.5)
    close = low + (high - low) * close_at
    lo, hi = sorted((f1, f2))
    p_lo, high_lo, low_lo = path_price(open_, high, low, close, lo)
    _p_hi, high_hi, low_hi = path_price(open_, high, low, close, hi)
    assert low - 1e-9 <= p_lo <= high + 1e-9
    assert low_lo <= p_lo <= high_lo
    assert high_hi >= high_lo and low_hi <= low_lo  # what has been seen only grows
    assert path_price(open_, high, low, close, 0.0)[0] == pytest.approx(open_)
    done = path_price(open_, high, low, close, 1.0)
    assert done == pytest.approx((close, high, low))


@needs_data
def test_klines_show_closed_candles_as_recorded_and_never_a_later_one(tapes):
    btc = tapes["BTCUSDT"]
    recorded = btc.candles[15].set_index("date")
    now = MOMENT + pd.Timedelta(minutes=37, seconds=30)
    frame = btc.klines(15, now, limit=10)
    assert frame["date"].iloc[-1] == MOMENT + pd.Timedelta(minutes=30)  # the forming candle, opened 12:30
    closed = frame.iloc[:-1].set_index("date")
    pd.testing.assert_frame_equal(closed, recorded.loc[closed.index], check_dtype=False, check_freq=False)
    forming, full = frame.iloc[-1], recorded.loc[MOMENT + pd.Timedelta(minutes=30)]
    assert forming["open"] == full["open"] and full["low"] <= forming["close"] <= full["high"]
    assert full["low"] <= forming["low"] and forming["high"] <= full["high"]
    assert forming["volume"] == pytest.approx(full["volume"] / 2)
    # The moment it closes it is the recorded candle.
    closed_now = btc.klines(15, MOMENT + pd.Timedelta(minutes=45), limit=2).iloc[0]
    assert tuple(closed_now[["open", "high", "low", "close"]]) == tuple(full[["open", "high", "low", "close"]])
    # The forming hour is the closed quarters plus the forming one; closed hours are the recorded ones.
    hours = btc.klines(60, now, limit=3)
    assert hours["high"].iloc[-1] == max(recorded.loc[MOMENT : MOMENT + pd.Timedelta(minutes=15), "high"].max(),
                                         forming["high"])  # fmt: skip
    recorded_hours = btc.candles[60].set_index("date")
    assert hours["close"].iloc[-2] == recorded_hours.loc[MOMENT - pd.Timedelta(hours=1), "close"]
    # Nothing from after `now` anywhere: funding, metrics.
    assert (btc.settlements(now, limit=1000)["date"] <= now).all()
    assert (btc.futures_data(now, 5, limit=500)["date"] <= now).all()


@needs_data
def test_ccxt_reads_the_replay_as_it_reads_binance(replay):
    exchange = client(replay)
    assert "BTC/USDT:USDT" in exchange.markets
    now_ms = replay.now_ms()
    candles = exchange.fetch_ohlcv("BTC/USDT:USDT", "15m", limit=50)
    assert len(candles) == 50 and candles[-1][0] <= now_ms < candles[-1][0] + 15 * 60_000
    assert all(b[0] - a[0] == 15 * 60_000 for a, b in itertools.pairwise(candles))
    mark = exchange.fetch_ohlcv("BTC/USDT:USDT", "1h", limit=5, params={"price": "mark"})
    assert len(mark) == 5 and mark[-1][0] % 3_600_000 == 0
    funding = exchange.fetch_funding_rate_history("BTC/USDT:USDT", limit=3)
    assert len(funding) == 3 and all(f["timestamp"] <= now_ms for f in funding)
    rate = exchange.fetch_funding_rate("BTC/USDT:USDT")
    assert rate["fundingRate"] == funding[-1]["fundingRate"]  # the newest settled rate stands in
    book = exchange.fetch_order_book("BTC/USDT:USDT", limit=5)
    assert book["bids"][0][0] < book["asks"][0][0] and len(book["bids"]) == 5
    ticker = exchange.fetch_ticker("BTC/USDT:USDT")
    assert ticker["last"] == pytest.approx(candles[-1][4], rel=2e-3)  # the path moved on a little since
    oi = exchange.fetch_open_interest_history("BTC/USDT:USDT", "5m", limit=6)
    assert len(oi) == 6 and oi[-1]["timestamp"] <= now_ms
    ratio = httpx.get(f"{replay.url}/futures/data/globalLongShortAccountRatio",
                      params={"symbol": "BTCUSDT", "period": "5m", "limit": 3}).json()  # fmt: skip
    shares = float(ratio[0]["longAccount"]) + float(ratio[0]["shortAccount"])
    assert len(ratio) == 3 and shares == pytest.approx(1, 1e-3)
    # Not recorded: LTC's 15m candles and ETH's open interest on this day answer empty, as Binance does for no data.
    assert exchange.fetch_ohlcv("LTC/USDT:USDT", "15m", limit=5) == []
    assert exchange.fetch_open_interest_history("ETH/USDT:USDT", "5m", limit=5) == []


@needs_data
def test_wrong_requests_get_binances_errors(replay):
    def get(path, **params):
        return httpx.get(f"{replay.url}{path}", params=params)

    # Windows with nothing in them answer empty lists, weekly candles open on Mondays, funding is in time order.
    assert get("/fapi/v1/klines", symbol="BTCUSDT", interval="4h", endTime=1).json() == []
    weeks = get("/fapi/v1/klines", symbol="BTCUSDT", interval="1w", limit=3).json()
    assert [pd.Timestamp(w[0], unit="ms").day_name() for w in weeks] == ["Monday"] * 3
    every = get("/fapi/v1/fundingRate", limit=20).json()
    assert [r["fundingTime"] for r in every] == sorted(r["fundingTime"] for r in every)
    assert httpx.post(f"{replay.url}/hydra/faults", json={"kind": "error", "path": 3}).status_code == 400
    assert httpx.post(f"{replay.url}/hydra/faults", json={"kind": "error", "count": 1.5}).status_code == 400

    assert get("/fapi/v1/klines", symbol="NOPEUSDT", interval="15m").json() == {"code": -1121, "msg": "Invalid symbol."}
    assert get("/fapi/v1/klines", symbol="BTCUSDT", interval="7m").json()["code"] == -1120
    assert get("/fapi/v1/klines", interval="15m").json()["code"] == -1102
    assert get("/futures/data/openInterestHist", symbol="BTCUSDT", period="3m").json()["code"] == -1130
    response = get("/fapi/v1/nothing")
    assert response.status_code == 404 and response.json()["code"] == -5000


@needs_data
def test_faults_are_injected_on_request_and_end(replay):
    exchange = client(replay)
    post = httpx.post(f"{replay.url}/hydra/faults", json={"kind": "error", "path": "/fapi/v1/klines", "count": 2})
    assert post.status_code == 200
    for _ in range(2):
        with pytest.raises(ccxt.OperationFailed):  # Freqtrade retries these
            exchange.fetch_ohlcv("BTC/USDT:USDT", "15m", limit=2)
    assert len(exchange.fetch_ohlcv("BTC/USDT:USDT", "15m", limit=2)) == 2  # both used up
    httpx.post(f"{replay.url}/hydra/faults", json={"kind": "garbage", "path": "/fapi/v1/premiumIndex"})
    with httpx.Client() as http, pytest.raises(IntelUnavailable, match="JSON"):
        BinanceFuturesClient(http, replay.url).premium_index("BTCUSDT")  # HYDRA's intel refresh: missing data
    assert httpx.delete(f"{replay.url}/hydra/faults").json() == {"cleared": 1}
    httpx.post(f"{replay.url}/hydra/faults", json={"kind": "stale", "path": "/fapi/v1/klines", "seconds": 7200})
    stale = exchange.fetch_ohlcv("BTC/USDT:USDT", "15m", limit=1)[-1][0]
    httpx.delete(f"{replay.url}/hydra/faults")
    fresh = exchange.fetch_ohlcv("BTC/USDT:USDT", "15m", limit=1)[-1][0]
    assert fresh - stale == 2 * 3_600_000
    timeout = {"kind": "timeout", "path": "/fapi/v1/depth", "count": 1, "seconds": 5}
    httpx.post(f"{replay.url}/hydra/faults", json=timeout)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_order_book("BTC/USDT:USDT", limit=5)
    httpx.post(f"{replay.url}/hydra/faults", json={"kind": "rate_limit", "path": "/fapi/v1/ticker", "count": 1})
    with pytest.raises(ccxt.DDoSProtection):
        exchange.fetch_ticker("BTC/USDT:USDT")
    status = httpx.get(f"{replay.url}/hydra/status").json()
    assert status["faults"] == [] and status["served"]["/fapi/v1/klines"] >= 5
    assert httpx.post(f"{replay.url}/hydra/faults", json={"kind": "meteor"}).status_code == 400
    assert Fault.parse("error:/fapi/v1/klines:3") == Fault("error", "/fapi/v1/klines", 3)


def test_the_clock_shifts_by_whole_hours_and_runs_at_its_speed():
    started = pd.Timestamp("2026-11-27T15:37:12Z").timestamp()
    clock = ReplayClock.starting(pd.Timestamp("2024-04-12T12:00Z"), speed=20.0, now=started)
    assert clock.shift_ms % 86_400_000 == 0
    # Its bot runs on this clock, so the replay starts exactly at --from, 3 h 37 min behind the real present.
    assert clock.recorded_now(started) == pd.Timestamp("2024-04-12T12:00:00Z")
    assert clock.recorded_now(started + 60) == pd.Timestamp("2024-04-12T12:20:00Z")  # 20 minutes a real minute
    assert clock.served_now(started) == pd.Timestamp("2026-11-27T12:00:00Z")
    # At real time a bot may use its own clock: the served present is the real one, the replay starts within the hour.
    real = ReplayClock.starting(pd.Timestamp("2024-04-12T12:00Z"), now=started)
    assert real.is_real_time and real.recorded_now(started) == pd.Timestamp("2024-04-12T12:37:12Z")
    with pytest.raises(Exception, match="speed"):
        ReplayClock.starting(pd.Timestamp("2024-04-12T12:00Z"), speed=0.5)  # a clock cannot be slowed down
    # On its own clock (exact) the shift is whole days: funding hours and UTC days keep their boundaries.
    exact = ReplayClock.starting(pd.Timestamp("2024-04-12T12:00Z"), speed=1.0, now=started, exact=True)
    assert exact.shift_ms % 86_400_000 == 0 and exact.recorded_now(started) == pd.Timestamp("2024-04-12T12:00Z")


def test_a_command_run_on_a_sped_up_clock_sees_time_pass_that_fast():
    clock = ReplayClock.starting(pd.Timestamp("2024-04-12T12:00Z"), speed=50.0)
    probe = "import time; a = time.time(); time.sleep(0.5); print(time.time() - a)"
    script = f"from hydra_plugins.replay.clock import install_from_env; install_from_env(); {probe}"
    out = subprocess.run([sys.executable, "-c", script], env={**clock.env()}, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert 15 < float(out.stdout) < 40  # 0.5 s real at 50 x, give or take scheduling


@needs_data
def test_hydra_replay_serves_while_a_command_runs_and_returns_its_status():
    probe = (
        "import httpx, sys; s = httpx.get('http://127.0.0.1:18795/hydra/status').json(); "
        "print(s['recorded_now']); sys.exit(3)"
    )
    out = subprocess.run(
        [sys.executable, "-m", "hydra_plugins.cli", "replay", "--from", "2024-05-02T00:00", "--port", "18795",
         "--datadir", str(data_root() / "binance"), "--", sys.executable, "-c", probe],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("2024-05-02T00:")
    outside = subprocess.run(
        [sys.executable, "-m", "hydra_plugins.cli", "replay", "--from", "2030-01-01", "--port", "18795",
         "--datadir", str(data_root() / "binance")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert outside.returncode == 2 and "outside the recorded span" in outside.stderr
    assert json.loads(
        subprocess.run([sys.executable, "-m", "hydra_plugins.cli", "replay", "--overlay", "--port", "1"],
                       capture_output=True, text=True, cwd=ROOT).stdout
    )["hydra"]["intel"]["binance_rest_url"] == "http://127.0.0.1:1"  # fmt: skip


def test_the_shipped_replay_overlay_is_the_one_hydra_prints():
    from hydra_plugins.commands.replay import DEFAULT_PORT, overlay

    shipped = json.loads((ROOT / "config" / "replay.json").read_text())
    assert shipped == overlay(f"http://127.0.0.1:{DEFAULT_PORT}")
    assert shipped["exchange"]["enable_ws"] is False  # the replay speaks REST only
