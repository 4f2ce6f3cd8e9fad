"""Binance REST sources: parsing recorded answers, and the client's handling of every failure."""

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from hydra_plugins.core.errors import IntelUnavailable
from hydra_plugins.intel.sources.binance_rest import (
    BinanceFuturesClient,
    parse_depth,
    parse_open_interest_hist,
    parse_premium_index,
    parse_ratios,
    parse_taker_ratio,
)
from hydra_plugins.intel.sources.http import is_retryable
from hydra_plugins.intel.store import IntelStore

FIXTURES = Path(__file__).parent / "fixtures" / "binance"
NOW = pd.Timestamp("2026-11-27 12:00", tz="UTC")


def recorded(name):
    return json.loads((FIXTURES / name).read_text())


def test_premium_index_single_and_all():
    one = parse_premium_index(recorded("premiumIndex_single.json"), NOW)
    assert one["symbol"].tolist() == ["BTCUSDT"]
    assert one["predicted_funding_rate"].iloc[0] == pytest.approx(0.00038246)
    assert one["mark_price"].iloc[0] == pytest.approx(11793.63104562)
    assert one["event_time"].iloc[0] == pd.Timestamp(1597370495002, unit="ms", tz="UTC")
    assert one["next_funding_time"].iloc[0] == 1597392000000
    every = parse_premium_index(recorded("premiumIndex_all_recorded.json"), NOW)
    assert len(every) == len(recorded("premiumIndex_all_recorded.json"))
    some = parse_premium_index(recorded("premiumIndex_all_recorded.json"), NOW, symbols=["UXLINKUSDT"])
    assert some["symbol"].tolist() == ["UXLINKUSDT"]


@pytest.mark.parametrize(
    "name", ["globalLongShortAccountRatio.json", "topLongShortAccountRatio.json", "topLongShortPositionRatio.json",
             "topLongShortPositionRatio_recorded.json"],
)  # fmt: skip
def test_ratio_endpoints_documented_and_recorded(name):
    payload = recorded(name)
    rows = parse_ratios(payload, NOW)
    assert len(rows) == len(payload)
    assert rows["long_short_ratio"].tolist() == pytest.approx([float(p["longShortRatio"]) for p in payload])
    assert rows["event_time"].tolist() == [pd.Timestamp(int(p["timestamp"]), unit="ms", tz="UTC") for p in payload]


def test_rows_are_known_when_received_never_before_their_time():
    payload = recorded("globalLongShortAccountRatio.json")
    rows = parse_ratios(payload, NOW)  # 2020 buckets fetched now: known now, as a live bot would
    assert (rows["available_at"] == NOW).all()
    early = rows["event_time"].iloc[0] - pd.Timedelta(seconds=5)  # a clock running behind Binance's
    assert (parse_ratios(payload, early)["available_at"] >= rows["event_time"]).all()


def test_taker_ratio_takes_the_symbol_from_the_request():
    for name in ("takerlongshortRatio.json", "takerlongshortRatio_recorded.json"):
        rows = parse_taker_ratio(recorded(name), "ETHUSDT", NOW)
        assert (rows["symbol"] == "ETHUSDT").all() and rows["buy_sell_ratio"].notna().all()


def test_open_interest_history_becomes_freqtrade_candles():
    candles = parse_open_interest_hist(recorded("openInterestHist_recorded.json"))
    assert list(candles.columns) == ["date", "open_interest_amount", "open_interest_value"]
    assert candles["date"].is_monotonic_increasing  # Binance answered newest first here
    assert candles["open_interest_amount"].iloc[-1] == pytest.approx(94731.046)
    assert len(parse_open_interest_hist(recorded("openInterestHist.json"))) == 2  # string timestamps


def test_depth_features():
    row = parse_depth({"lastUpdateId": 1, "E": 1, "T": 1, "bids": [["99", "3"], ["98", "1"]],
                       "asks": [["101", "1"], ["150", "5"]]}, "BTCUSDT", NOW, top_levels=2, band_bps=500)  # fmt: skip
    assert row["mid_price"].iloc[0] == 100 and row["spread_bps"].iloc[0] == pytest.approx(200)
    assert row["imbalance_top"].iloc[0] == pytest.approx((4 - 6) / 10)
    assert row["bid_depth_usd"].iloc[0] == pytest.approx(99 * 3 + 98)  # both within 5 %
    assert row["ask_depth_usd"].iloc[0] == pytest.approx(101)  # 150 is outside
    assert len(parse_depth(recorded("depth.json"), "BTCUSDT", NOW)) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"code": -1121, "msg": "Invalid symbol."},
        "garbage",
        [{"symbol": "BTCUSDT", "longShortRatio": "x", "longAccount": "1", "shortAccount": "1", "timestamp": 1}],
        [{"symbol": "BTCUSDT"}],
        None,
    ],
)
def test_malformed_answers_become_missing_data_not_errors(payload, caplog):
    assert parse_ratios(payload, NOW).empty
    assert parse_premium_index(payload, NOW).empty
    assert "malformed" in caplog.text or "dropping" in caplog.text


def test_malformed_entries_are_dropped_and_the_rest_kept(caplog):
    payload = [*recorded("globalLongShortAccountRatio.json"), {"symbol": "BTCUSDT", "timestamp": "soon"}]
    assert len(parse_ratios(payload, NOW)) == 2
    assert "dropping malformed long/short ratio" in caplog.text


@pytest.mark.parametrize(
    "payload",
    [
        {"lastUpdateId": 1, "E": 1, "T": 1, "bids": [], "asks": [["1", "1"]]},
        {"lastUpdateId": 1, "E": 1, "T": 1, "bids": [["2", "1"]], "asks": [["1", "1"]]},  # crossed
        {"lastUpdateId": 1, "E": 1, "T": 1, "bids": [["-1", "1"]], "asks": [["1", "1"]]},
        {"code": -1003, "msg": "Too many requests"},
    ],
)
def test_unusable_books_yield_no_row(payload):
    assert parse_depth(payload, "BTCUSDT", NOW).empty


def test_parsed_rows_go_straight_into_the_store(tmp_path):
    store = IntelStore(tmp_path / "intel.sqlite")
    assert store.write("premium_index", parse_premium_index(recorded("premiumIndex_single.json"), NOW)) == 1
    assert store.write("top_long_short_position", parse_ratios(recorded("topLongShortPositionRatio.json"), NOW)) == 2
    assert store.write("taker_ratio", parse_taker_ratio(recorded("takerlongshortRatio.json"), "BTCUSDT", NOW)) == 2
    assert store.write("depth", parse_depth(recorded("depth.json"), "BTCUSDT", NOW)) == 1


def client_answering(handler):
    return BinanceFuturesClient(httpx.Client(transport=httpx.MockTransport(handler)))


def test_client_sends_documented_requests_and_reads_the_weight_header():
    seen = []

    def handler(request):
        seen.append((request.url.path, dict(request.url.params)))
        return httpx.Response(200, json=[], headers={"X-MBX-USED-WEIGHT-1M": "17"})

    client = client_answering(handler)
    client.premium_index("BTCUSDT")
    client.ratios("top_long_short_position", "ETHUSDT", "15m", 10)
    client.taker_ratio("SOLUSDT")
    client.open_interest_hist("XRPUSDT", "1h", 500)
    client.depth("BTCUSDT", 20)
    assert seen == [
        ("/fapi/v1/premiumIndex", {"symbol": "BTCUSDT"}),
        ("/futures/data/topLongShortPositionRatio", {"symbol": "ETHUSDT", "period": "15m", "limit": "10"}),
        ("/futures/data/takerlongshortRatio", {"symbol": "SOLUSDT", "period": "5m", "limit": "30"}),
        ("/futures/data/openInterestHist", {"symbol": "XRPUSDT", "period": "1h", "limit": "500"}),
        ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "20"}),
    ]
    assert client.used_weight_1m == 17
    with pytest.raises(ValueError, match="period"):
        client.taker_ratio("BTCUSDT", period="3m")
    with pytest.raises(ValueError, match="depth limit"):
        client.depth("BTCUSDT", 7)


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (418, False), (500, True), (503, True), (400, False), (404, False)]
)
def test_client_errors_say_whether_to_retry(status, retryable):
    client = client_answering(
        lambda r: httpx.Response(status, json=recorded("error_429.json"), headers={"Retry-After": "7"})
    )
    with pytest.raises(IntelUnavailable, match=f"HTTP {status}") as info:
        client.premium_index()
    assert info.value.retryable is retryable and info.value.retry_after_s == 7


def test_client_timeouts_and_garbage():
    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(IntelUnavailable, match="ReadTimeout") as info:
        client_answering(timeout).premium_index()
    assert info.value.retryable
    with pytest.raises(IntelUnavailable, match="not JSON"):
        client_answering(lambda r: httpx.Response(200, text="<html>maintenance</html>")).premium_index()


def test_is_retryable():
    assert is_retryable(429) and is_retryable(502) and not is_retryable(418) and not is_retryable(403)
    assert is_retryable(None, httpx.ConnectError("refused")) and not is_retryable(None, ValueError())
    assert not is_retryable(None)
