"""The intel recorder against a loopback fake of Binance: cadence, backoff, faults, rate limits."""

import httpx
import pytest

from hydra_plugins.intel.recorder import Backoff, IntelRecorder, Task, binance_tasks, weight_pause
from hydra_plugins.intel.sources.binance_rest import BinanceFuturesClient
from hydra_plugins.intel.store import IntelStore
from tests.fakes import FakeBinance

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@pytest.fixture
def fake():
    with FakeBinance(SYMBOLS) as server:
        yield server


def recorder_for(fake, tmp_path, **kwargs):
    client = BinanceFuturesClient(httpx.Client(), base_url=fake.url, timeout_s=0.5)
    store = IntelStore(tmp_path / "intel.sqlite")
    tasks = binance_tasks(client, SYMBOLS, depth_every_s=60.0, **kwargs)
    return IntelRecorder(store, tasks, pause_s=weight_pause(client)), store, client


def by_name(recorder):
    return {t.name: t for t in recorder.tasks}


def test_one_pass_fills_every_series(fake, tmp_path):
    recorder, store, client = recorder_for(fake, tmp_path)
    assert recorder.run_due(1000.0) == 1 + 2 * 5  # premium for all, 4 ratios + depth per symbol
    for series in ("premium_index", "global_long_short", "top_long_short_account", "top_long_short_position",
                   "taker_ratio", "depth"):  # fmt: skip
        for symbol in SYMBOLS:
            assert not store.read(series, symbol).empty, (series, symbol)
    assert client.used_weight_1m == 10
    assert recorder.run_due(1001.0) == 0  # nothing due until each cadence passes
    assert recorder.run_due(1061.0) == 1 + 2  # premium index and depth: every minute
    assert recorder.run_due(1301.0) == 1 + 2 + 2 * 4  # and the ratios every 5 minutes
    assert recorder.next_due_s() == 1361.0


def test_calls_per_run_are_capped_and_oldest_go_first(fake, tmp_path):
    recorder, _, _ = recorder_for(fake, tmp_path)
    assert recorder.run_due(0.0, max_calls=4) == 4
    assert recorder.run_due(0.0, max_calls=4) == 4
    assert recorder.run_due(0.0, max_calls=4) == 3
    assert recorder.run_due(0.0, max_calls=4) == 0


@pytest.mark.parametrize(("fault", "wait_s"), [("500", 2.0), ("garbage", 2.0)])
def test_each_fault_is_survived_and_retried_as_it_should(fake, tmp_path, fault, wait_s):
    recorder, store, _ = recorder_for(fake, tmp_path)
    fake.faults["/fapi/v1/premiumIndex"].append(fault)
    recorder.run_due(100.0)
    premium = by_name(recorder)["premium_index"]
    assert premium.failures == 1 and premium.last_error
    assert premium.next_run == pytest.approx(100.0 + wait_s)  # backoff, Retry-After, or the cadence for a ban
    assert store.read("premium_index", "BTCUSDT").empty
    assert not store.read("taker_ratio", "BTCUSDT").empty  # the other tasks were not held up
    recorder.run_due(100.0 + wait_s)
    assert premium.failures == 0 and not store.read("premium_index", "BTCUSDT").empty


@pytest.mark.parametrize(("fault", "pause_s"), [("429", 30.0), ("418", 120.0), ("timeout", 2.0), ("close", 2.0)])
def test_rate_limits_bans_and_silence_pause_every_task(fake, tmp_path, fault, pause_s):
    recorder, store, _ = recorder_for(fake, tmp_path)
    fake.faults["/fapi/v1/premiumIndex"].append(fault)
    assert recorder.run_due(100.0) == 1  # the first answer stops the batch
    # Retry-After, a ban's 2-minute minimum, or the backoff while the host does not answer.
    assert recorder.paused_until == pytest.approx(100.0 + pause_s)
    calls = len(fake.calls)
    assert recorder.run_due(100.0 + pause_s - 1) == 0 and len(fake.calls) == calls  # nothing sent while paused
    assert recorder.run_due(100.0 + pause_s) == 11
    assert not store.read("premium_index", "BTCUSDT").empty and not store.read("taker_ratio", "ETHUSDT").empty


def test_a_time_budget_and_a_stop_request_end_a_batch_early(fake, tmp_path):
    recorder, _, _ = recorder_for(fake, tmp_path)
    fake.faults["/fapi/v1/premiumIndex"].append("500")
    assert recorder.run_due(0.0, budget_s=0.0) == 1  # the budget is spent after the first call
    assert recorder.run_due(0.0, should_stop=lambda: True) == 0


def test_backoff_grows_and_is_capped():
    b = Backoff(base_s=2, cap_s=60)
    assert [b.delay(n) for n in (1, 2, 3, 4, 10)] == [2, 4, 8, 16, 60]
    assert b.delay(1, retry_after_s=30) == 30


def test_recording_pauses_when_binance_reports_high_weight(fake, tmp_path):
    fake.weight = 2300
    recorder, _, _ = recorder_for(fake, tmp_path)
    assert recorder.run_due(0.0) == 1  # the first answer says the IP is near its limit
    assert recorder.run_due(30.0) == 0  # held for a minute
    fake.weight = 100
    assert recorder.run_due(61.0) > 1


def test_a_crashing_task_does_not_stop_the_others(tmp_path):
    def boom(now):
        raise RuntimeError("bug")

    ok = Task("ok", 10.0, lambda now: [])
    recorder = IntelRecorder(IntelStore(tmp_path / "i.sqlite"), [Task("boom", 10.0, boom), ok])
    assert recorder.run_due(0.0) == 2
    assert ok.next_run == 10.0 and recorder.tasks[0].last_error == "RuntimeError: bug"
