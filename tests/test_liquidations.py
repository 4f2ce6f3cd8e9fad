"""Liquidations: the forceOrder parser, the stream client on a loopback websocket, per-candle features."""

import asyncio
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import websockets

from hydra_plugins.core import columns as col
from hydra_plugins.intel.liquidations import liquidation_columns, proxy_per_candle, recorded_per_candle
from hydra_plugins.intel.sources.binance_ws import parse_force_order, stream_force_orders

FIXTURES = Path(__file__).parent / "fixtures" / "binance"
NOW = pd.Timestamp("2026-11-27", tz="UTC")
TF = pd.Timedelta(minutes=15)


@pytest.mark.parametrize(
    ("name", "sign", "notional"),
    [
        ("forceOrder_event.json", 1.0, 9910 * 0.014),
        ("forceOrder_event_recorded_2022.json", 1.0, 18990.00 * 0.009),
        ("forceOrder_combined_recorded_2026_arr.json", 1.0, 82651.90 * 0.190),
    ],
)
def test_force_order_messages_documented_and_recorded(name, sign, notional):
    row = parse_force_order((FIXTURES / name).read_text(), NOW)
    assert row["side_sign"].iloc[0] == sign
    assert row["notional_usd"].iloc[0] == pytest.approx(notional)
    assert row["available_at"].iloc[0] >= row["event_time"].iloc[0]


def test_a_short_liquidation_is_a_forced_buy():
    event = json.loads((FIXTURES / "forceOrder_event.json").read_text())
    event["o"]["S"] = "BUY"
    assert parse_force_order(event, NOW)["side_sign"].iloc[0] == -1.0


@pytest.mark.parametrize(
    "message",
    ["not json", "[]", '{"e":"aggTrade"}', '{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","S":"HOLD"}}', b"\xff"],
)
def test_malformed_messages_become_no_rows(message, caplog):
    assert parse_force_order(message, NOW).empty
    assert "dropping malformed forceOrder" in caplog.text


def candles(start, n, volume=1.0):
    dates = pd.date_range(start, periods=n, freq="15min", tz="UTC")
    return pd.DataFrame({"date": dates, "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0, "volume": volume})


def test_recorded_events_land_in_the_candle_they_became_known_and_need_heartbeats():
    c = candles("2024-01-01 00:00", 3)
    t = pd.to_datetime(["2024-01-01 00:05", "2024-01-01 00:15", "2024-01-01 00:20"], utc=True)
    events = pd.DataFrame({"available_at": t, "side_sign": [1.0, -1.0, 1.0], "notional_usd": [10.0, 5.0, 7.0]})
    beats = pd.DataFrame(
        {"available_at": pd.date_range("2024-01-01 00:00:30", "2024-01-01 00:29:30", freq="1min", tz="UTC")}
    )
    out = recorded_per_candle(c, events, beats, TF)
    assert out["long"].tolist() == [10.0, 7.0, 0.0]
    assert out["short"].tolist() == [5.0, 0.0, 0.0]  # known exactly at 00:15: the first candle's
    assert out["covered"].tolist() == [True, True, False]  # no heartbeat after 00:30


def test_proxy_follows_wicks_and_excess_volume_and_needs_falling_open_interest():
    c = candles("2024-01-01", 100)
    c.loc[99, ["open", "close", "low", "high", "volume"]] = [100.0, 100.0, 90.0, 101.0, 5.0]  # long flush
    no_oi = pd.Series(np.nan, index=c.index)
    proxy = proxy_per_candle(c, no_oi)
    assert proxy["long"].iloc[99] == pytest.approx(4.0 * 100 * 10 / 11)
    assert proxy["short"].iloc[99] == pytest.approx(4.0 * 100 * 1 / 11)
    assert proxy.iloc[96:99].sum().sum() == 0  # normal volume: nothing
    rising_oi = pd.Series(1.0, index=c.index)
    assert proxy_per_candle(c, rising_oi).iloc[99].sum() == 0


def test_features_label_the_source_and_never_mix_it_in_statistics():
    c = candles("2024-01-01", 200)
    beats = pd.DataFrame({"available_at": pd.date_range(c["date"].iloc[150], periods=50 * 15, freq="1min", tz="UTC")})
    out = liquidation_columns(c, None, beats, pd.Series(np.nan, index=c.index), TF)
    assert out[col.LIQ_IS_PROXY].iloc[:150].all() and not out[col.LIQ_IS_PROXY].iloc[150:199].any()
    assert out[col.LIQ_Z].iloc[150:199].isna().all()  # the trailing day spans both sources
    assert out[col.LIQ_VELOCITY_USD_1H].iloc[154:199].notna().all()  # a whole recorded hour
    assert (out[col.LIQ_IMBALANCE].between(-1, 1)).all()


def test_stream_client_survives_garbage_duplicates_and_dropped_sockets():
    async def scenario():
        event = (FIXTURES / "forceOrder_combined_recorded_2026_arr.json").read_text().strip()
        connections = []

        async def handler(ws):
            connections.append(ws)
            if len(connections) == 1:
                await ws.send("garbage")
                await ws.send(event)
                await ws.send(event)  # Binance may repeat a snapshot; the store dedupes it
                await ws.close()  # the server drops the first connection
                return
            await ws.send(event)
            await asyncio.sleep(5)

        received, states = [], []
        stop = asyncio.Event()

        async def on_message(message):
            received.append(parse_force_order(message, NOW))
            if len(received) == 4:
                stop.set()

        async def on_connected(up):
            states.append(up)

        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            await asyncio.wait_for(
                stream_force_orders(
                    on_message, stop, f"ws://127.0.0.1:{port}", on_connected=on_connected, backoff_s=0.05
                ),
                timeout=20,
            )
        return received, states, len(connections)

    received, states, connections = asyncio.run(scenario())
    assert [len(r) for r in received] == [0, 1, 1, 1]
    assert connections == 2 and states[:3] == [True, False, True]


def test_stream_client_retries_an_unreachable_server_until_stopped():
    async def scenario():
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        await asyncio.wait_for(stream_force_orders(lambda m: None, stop, "ws://127.0.0.1:9", backoff_s=0.05), timeout=5)

    asyncio.run(scenario())  # returns once stopped, never raises


def test_stream_survives_undecodable_frames_and_impossible_times():
    async def scenario():
        good = (FIXTURES / "forceOrder_combined_recorded_2026_arr.json").read_text().strip()
        impossible = json.loads(good)
        impossible["data"]["o"]["T"] = 10**20

        async def handler(ws):
            await ws.send(b"\xff\xfe\xfd")  # a binary frame that is not UTF-8
            await ws.send(json.dumps(impossible))
            await ws.send(good)
            await asyncio.sleep(5)

        rows, stop = [], asyncio.Event()

        async def on_message(message):
            rows.append(parse_force_order(message, NOW))
            if len(rows) == 3:
                stop.set()

        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            await asyncio.wait_for(stream_force_orders(on_message, stop, url), timeout=10)
        return rows

    assert [len(r) for r in asyncio.run(scenario())] == [0, 0, 1]


def test_a_failing_handler_does_not_end_the_stream():
    async def scenario():
        good = (FIXTURES / "forceOrder_event.json").read_text()

        async def handler(ws):
            for _ in range(3):
                await ws.send(good)
            await asyncio.sleep(5)

        seen, stop = [], asyncio.Event()

        async def on_message(message):
            seen.append(message)
            if len(seen) == 1:
                raise OSError("disk full")  # e.g. the store could not be written
            if len(seen) == 3:
                stop.set()

        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            await asyncio.wait_for(stream_force_orders(on_message, stop, url), timeout=10)
        return len(seen)

    assert asyncio.run(scenario()) == 3
