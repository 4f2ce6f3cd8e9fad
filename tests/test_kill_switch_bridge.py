"""Kill switches through the strategy's callbacks: flatten, refuse, tell, journal, and survive a restart."""

import logging
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from freqtrade.enums import RunMode

from hydra_plugins.bridge import HydraBridge
from hydra_plugins.core import columns as col
from hydra_plugins.risk.journal import count_events, read_journal
from hydra_plugins.risk.kill_switch import KillSwitchState
from tests.test_strategy import FakeDP, FakeTrade, Hydra, ft_config

PAIR = "BTC/USDT:USDT"
OPENED = datetime(2024, 3, 1, 0, 30, tzinfo=UTC)  # the order after the 00:15 candle closed


def market_frame(cascade=(0.1, 0.1, 0.1, 0.9), against_long=False, vol_pctile=0.5):
    """Four analyzed 15m candles from 00:00; the last (00:45) closes at 01:00."""
    dates = pd.date_range("2024-03-01 00:00", periods=4, freq="15min", tz="UTC")
    sig = "FUNDING_SQUEEZE"
    return pd.DataFrame(
        {
            "date": dates,
            "close": [100.0, 100.0, 100.0, 99.0],
            col.signal_column(sig, "exp_risk_pct"): 2.0,
            col.signal_column(sig, "exp_ret_pct"): 3.0,
            col.signal_column(sig, "inv_long"): False,
            col.signal_column(sig, "inv_short"): False,
            col.CASCADE_PROB: list(cascade),
            col.FUNDING_RATE: 0.0001,
            col.REGIME: "HIGH_VOLATILITY" if vol_pctile > 0.95 else "RANGING",
            col.REGIME_AGAINST_LONG: [False, False, False, against_long],
            col.REGIME_AGAINST_SHORT: False,
            col.VOL_PCTILE: vol_pctile,
            col.RV_RATIO: 1.0,
            col.HEALTH_OK: True,
            col.GATE: "ALLOW",
            col.DIRECTION: 1,
            col.SIGNAL: sig,
        }
    )


def bridge_for(frame, tmp_path, runmode=RunMode.BACKTEST, **hydra):
    config = ft_config(**hydra) if hydra else ft_config()
    config["runmode"] = runmode
    config["user_data_dir"] = tmp_path
    config["hydra"].setdefault("intel", {})["refresh_in_bot"] = False
    strategy = Hydra(config)
    strategy.dp = FakeDP(frame)
    bridge = HydraBridge(strategy)
    bridge.start()
    bridge.kill.record_inputs(PAIR, bridge.ready.kill_inputs(frame))  # what populate_indicators hands over
    return bridge


def test_a_cascade_closes_the_pairs_open_trades_and_refuses_its_entries(tmp_path):
    bridge = bridge_for(market_frame(), tmp_path)
    trade = FakeTrade(OPENED)
    # 00:55: the 00:45 candle has not closed yet, nothing fired.
    assert bridge.exit(trade, datetime(2024, 3, 1, 0, 55, tzinfo=UTC), 100.0) is None
    # 01:00: it closed with a cascade probability of 0.9 -> the trade is closed at once, naming the switch.
    now = datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC)
    assert bridge.exit(trade, now, 100.0) == "hydra_kill_cascade"
    assert bridge.confirm_entry(PAIR, "long", "FUNDING_SQUEEZE", now) is False
    newer = FakeTrade(datetime(2024, 3, 1, 1, 0, 10, tzinfo=UTC))  # opened after the firing: not closed by it
    newer.custom = {"hydra_stop_pct": 2.0, "hydra_target_pct": 3.0}
    assert bridge.exit(newer, now, 100.0) is None
    assert any("KILL SWITCH cascade on BTC/USDT:USDT" in m for m in bridge.strategy.dp.messages)
    journal = read_journal(tmp_path / "backtest_results" / "hydra_risk_journal.jsonl")
    counts = count_events(journal)
    assert counts["fired"]["cascade"] == 1 and counts["refused"]["kill_cascade"] == 1
    assert next(r for r in journal if r["event"] == "refused")["tag"] == "FUNDING_SQUEEZE"


def test_disarmed_switches_leave_trades_alone(tmp_path):
    bridge = bridge_for(market_frame(), tmp_path, risk={"kill_switches": {"enabled": False}})
    trade = FakeTrade(OPENED)
    assert bridge.exit(trade, datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC), 100.0) is None
    assert bridge.confirm_entry(PAIR, "long", "FUNDING_SQUEEZE", datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC))


@pytest.mark.parametrize(
    "against,vol,is_short,at_entry,expected",
    [
        (True, 0.99, False, False, "hydra_kill_regime_break"),  # turned against the long, volatility extreme
        (True, 0.60, False, False, None),  # against it, but volatility ordinary
        (True, 0.99, True, False, None),  # the short is not against
        (True, 0.99, False, True, None),  # it was against at entry already: no flip
    ],
)
def test_regime_break_closes_positions_the_regime_turned_against(tmp_path, against, vol, is_short, at_entry, expected):
    bridge = bridge_for(market_frame(cascade=(0.1,) * 4, against_long=against, vol_pctile=vol), tmp_path)
    trade = FakeTrade(OPENED, is_short=is_short)
    trade.custom = {"hydra_stop_pct": 2.0, "hydra_target_pct": 3.0, "hydra_regime_was_clear": not at_entry}
    assert bridge.exit(trade, datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC), 100.0) == expected
    if expected:
        firing = bridge.kill.state.firings[0]
        assert (firing.scope, firing.side) == (PAIR, "long")
        assert bridge.confirm_entry(PAIR, "long", "FUNDING_SQUEEZE", datetime(2024, 3, 1, 1, 1, tzinfo=UTC)) is False


def test_the_state_survives_a_dry_run_restart_and_an_operator_clears_it(tmp_path):
    now = datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC)
    first = bridge_for(market_frame(), tmp_path, runmode=RunMode.DRY_RUN)
    assert first.exit(FakeTrade(OPENED), now, 100.0) == "hydra_kill_cascade"
    path = tmp_path / "hydra" / "kill_switches.json"
    assert path.is_file()

    # The bot restarts: no candles analyzed yet, the firing is back from disk and still refuses entries.
    calm = market_frame(cascade=(0.1,) * 4)
    restarted = bridge_for(calm, tmp_path, runmode=RunMode.DRY_RUN)
    later = now + timedelta(minutes=20)
    assert [f.switch for f in restarted.kill.state.firings] == ["cascade"]
    assert restarted.confirm_entry(PAIR, "long", "FUNDING_SQUEEZE", later) is False

    operator = KillSwitchState.open(path)  # what `hydra risk clear` does
    operator.clear()
    operator.save()
    assert restarted.confirm_entry(PAIR, "long", "FUNDING_SQUEEZE", later) is True
    journal = count_events(read_journal(tmp_path / "hydra" / "risk_journal.jsonl"))
    assert journal["fired"]["cascade"] == 1 and journal["refused"]["kill_cascade"] == 1


def test_an_unreadable_state_refuses_entries_but_never_blocks_exits(tmp_path, caplog):
    path = tmp_path / "hydra" / "kill_switches.json"
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    with caplog.at_level(logging.WARNING):
        bridge = bridge_for(market_frame(cascade=(0.1,) * 4), tmp_path, runmode=RunMode.DRY_RUN)
    assert "unreadable" in caplog.text
    strategy = bridge.strategy
    strategy.hydra = bridge
    now = datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC)
    assert strategy.confirm_trade_entry(PAIR, "limit", 1.0, 100.0, "GTC", now, "FUNDING_SQUEEZE", "long") is False
    trade = FakeTrade(OPENED)
    trade.custom = {"hydra_stop_pct": 2.0, "hydra_target_pct": 3.0}
    assert bridge.exit(trade, now, 97.5) == "hydra_stop"  # the stop still works
    assert path.read_text() == "{broken"  # left as it is for the operator to see


def test_a_switch_in_force_still_closes_trades_when_the_file_breaks(tmp_path):
    bridge = bridge_for(market_frame(), tmp_path, runmode=RunMode.DRY_RUN)
    now = datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC)
    assert bridge.exit(FakeTrade(OPENED), now, 100.0) == "hydra_kill_cascade"
    (tmp_path / "hydra" / "kill_switches.json").write_text("{broken")
    later = now + timedelta(minutes=1)
    assert bridge.exit(FakeTrade(OPENED), later, 100.0) == "hydra_kill_cascade"
    assert bridge.kill.broken is not None
    assert bridge.confirm_entry("ETH/USDT:USDT", "long", "FUNDING_SQUEEZE", later) is False


def test_regime_break_fires_on_a_later_flip_and_watches_older_trades_from_now(tmp_path):
    frame = market_frame(cascade=(0.1,) * 4, against_long=False, vol_pctile=0.99)
    bridge = bridge_for(frame, tmp_path)
    faded = FakeTrade(OPENED)  # opened to fade a regime against it: no flip yet
    faded.custom = {"hydra_stop_pct": 2.0, "hydra_target_pct": 3.0, "hydra_regime_was_clear": False}
    older = FakeTrade(OPENED)  # opened by an older HYDRA: nothing known about its entry
    older.custom = {"hydra_stop_pct": 2.0, "hydra_target_pct": 3.0}
    t = datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC)
    assert bridge.exit(faded, t, 100.0) is None and faded.custom["hydra_regime_was_clear"] is True  # it cleared
    # The next candle turns against both, volatility still extreme.
    later = frame.iloc[[-1]].assign(date=frame["date"].iloc[-1] + pd.Timedelta(minutes=15))
    bridge.strategy.dp.frame = pd.concat([frame, later.assign(**{col.REGIME_AGAINST_LONG: True})], ignore_index=True)
    t += timedelta(minutes=15)
    assert bridge.exit(older, t, 100.0) is None and older.custom["hydra_regime_was_clear"] is False  # first seen
    assert bridge.exit(faded, t, 100.0) == "hydra_kill_regime_break"


def test_kill_exits_cross_the_price_so_they_fill_at_once(tmp_path):
    bridge = bridge_for(market_frame(), tmp_path)
    strategy = bridge.strategy
    strategy.hydra = bridge
    now = datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC)
    long_, short = FakeTrade(OPENED), FakeTrade(OPENED, is_short=True)
    price = strategy.custom_exit_price(PAIR, long_, now, 100.0, 0.0, "hydra_kill_cascade")
    assert price == pytest.approx(99.5)  # sell 0.5 % under
    assert strategy.custom_exit_price(PAIR, short, now, 100.0, 0.0, "hydra_kill_cascade") == pytest.approx(100.5)
    assert strategy.custom_exit_price(PAIR, long_, now, 100.0, 0.0, "hydra_take_profit") is None  # Freqtrade's


def test_frequi_shades_regime_spans_and_kill_switch_windows(tmp_path):
    from freqtrade.ft_types.plot_annotation_type import AnnotationTypeTA

    from tests.test_strategy import load_hydra_class

    dates = pd.date_range("2024-03-01 00:00", periods=12, freq="15min", tz="UTC")
    frame = pd.DataFrame({"date": dates, col.REGIME: ["RANGING"] * 5 + ["HIGH_VOLATILITY"] * 2 + ["TRENDING_UP"] * 5})
    bridge = bridge_for(market_frame(), tmp_path)
    assert bridge.exit(FakeTrade(OPENED), datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC), 100.0) == "hydra_kill_cascade"
    strategy = bridge.strategy
    strategy.hydra = bridge
    shades = load_hydra_class().plot_annotations(strategy, PAIR, dates[0], dates[-1], frame)
    areas = [(a["label"], a["start"], a["end"]) for a in shades]
    assert ("RANGING", dates[0], dates[5]) in areas
    assert ("TRENDING_UP", dates[7], dates[-1] + pd.Timedelta("15min")) in areas
    assert not any(label == "HIGH_VOLATILITY" for label, *_ in areas)  # two candles: too short to shade
    kill = [a for a in shades if a["label"] == "kill switch cascade"]
    assert len(kill) == 1 and kill[0]["start"] == datetime(2024, 3, 1, 1, 0, tzinfo=UTC)
    for annotation in shades:
        AnnotationTypeTA.validate_python(annotation)
    assert strategy.plot_annotations("ETH/USDT:USDT", dates[0], dates[-1], frame[:0]) == []


def test_a_dry_run_bot_refuses_entries_on_pairs_its_protections_locked(tmp_path):
    """Freqtrade's force entries skip pair locks; HYDRA's confirm does not."""
    from freqtrade.persistence import PairLocks

    bridge = bridge_for(market_frame(cascade=(0.1,) * 4), tmp_path, runmode=RunMode.DRY_RUN)
    now = datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC)
    assert bridge.confirm_entry(PAIR, "long", "force_entry", now) is True
    PairLocks.timeframe = "15m"  # as Freqtrade sets it from the config
    PairLocks.lock_pair(PAIR, datetime.now(UTC) + timedelta(hours=1), "StoplossGuard", side="*")
    assert bridge.confirm_entry(PAIR, "long", "force_entry", now) is False
