"""The thin strategy and the bridge: delegation, fail-closed entries, exits that never block."""

import importlib.util
import inspect
import itertools
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from hydra_plugins.bridge import HydraBridge, check_secrets, fail_closed
from hydra_plugins.core import columns as col
from hydra_plugins.core.errors import ConfigError
from hydra_plugins.risk.kill_switch import Firing

ROOT = Path(__file__).resolve().parents[1]


def load_hydra_class():
    spec = importlib.util.spec_from_file_location("hydra_strategy", ROOT / "user_data" / "strategies" / "hydra.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Hydra


Hydra = load_hydra_class()


def ft_config(**hydra):
    config = json.loads((ROOT / "config" / "config.json").read_text())
    if hydra:
        config["hydra"] = hydra
    return config


class Broken:
    """A bridge whose every call fails, as a bug or bad data would."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RuntimeError(f"{name} exploded")

        return fail


@pytest.fixture
def broken_strategy():
    strategy = Hydra(ft_config())
    strategy.hydra = Broken()
    return strategy


NOW = datetime(2024, 3, 1, tzinfo=UTC)


def test_entry_callbacks_refuse_when_hydra_fails(broken_strategy, caplog):
    s = broken_strategy
    with caplog.at_level(logging.ERROR):
        assert (
            s.custom_stake_amount("BTC/USDT:USDT", NOW, 1.0, 500.0, 5.0, 1000.0, 3.0, "FUNDING_SQUEEZE", "long") == 0.0
        )
        assert s.leverage("BTC/USDT:USDT", NOW, 1.0, 3.0, 20.0, "FUNDING_SQUEEZE", "long") == 1.0
        assert s.confirm_trade_entry("BTC/USDT:USDT", "limit", 1, 1.0, "GTC", NOW, "FUNDING_SQUEEZE", "long") is False
    assert "custom_stake_amount failed" in caplog.text and "exploded" in caplog.text


def test_exit_callbacks_leave_freqtrade_in_charge_when_hydra_fails(broken_strategy):
    s = broken_strategy
    assert s.custom_stoploss("BTC/USDT:USDT", None, NOW, 1.0, 0.0, False) is None
    assert s.custom_exit("BTC/USDT:USDT", None, NOW, 1.0, 0.0) is None
    assert s.custom_exit_price("BTC/USDT:USDT", None, NOW, 1.0, 0.0, "hydra_kill_cascade") is None  # Freqtrade's price
    s.bot_loop_start(NOW)  # model, intel and kill switch refreshes fail on their own, logged
    assert s.stoploss == -0.6  # the backstop Freqtrade keeps enforcing


def test_fail_closed_passes_results_through():
    @fail_closed(default=0.0)
    def ok(x):
        return x * 2

    assert ok(21) == 42


def test_strategy_declares_what_freqtrade_needs():
    assert Hydra.can_short is True and Hydra.timeframe == "15m"
    assert Hydra.use_custom_stoploss is True
    assert Hydra.startup_candle_count >= 768


def test_bot_start_refuses_bad_config():
    with pytest.raises(ConfigError, match=r"hydra\.risk\.max_leverage"):
        HydraBridge(Hydra(ft_config(risk={"max_leverage": 0}))).start()


def test_bot_start_refuses_a_pair_without_an_asset_row():
    config = ft_config()
    config["exchange"]["pair_whitelist"].append("PEPE/USDT:USDT")
    with pytest.raises(ConfigError, match="PEPE"):
        HydraBridge(Hydra(config)).start()


def test_bot_start_refuses_windows_longer_than_the_declared_warmup():
    with pytest.raises(ConfigError, match="warm-up candles"):
        HydraBridge(Hydra(ft_config(stats={"vol_pctile_bars": 2000}))).start()


def test_bot_start_accepts_the_shipped_config():
    bridge = HydraBridge(Hydra(ft_config()))
    bridge.start()
    assert [s.name for s in bridge.ready.signals] == ["FUNDING_SQUEEZE"]


def test_enabled_api_or_telegram_without_secrets_refuse_to_start():
    config = ft_config()
    config["api_server"]["enabled"] = True
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        check_secrets(config)
    config["api_server"].update(jwt_secret_key="x" * 40, password="p")
    check_secrets(config)
    config["telegram"]["enabled"] = True
    with pytest.raises(ConfigError, match="TELEGRAM__TOKEN"):
        check_secrets(config)


def test_wrapped_callbacks_keep_their_signature_for_freqtrade():
    # Freqtrade enables after-fill stop updates only if getfullargspec sees `after_fill`.
    assert "after_fill" in inspect.getfullargspec(Hydra.custom_stoploss).args
    assert "max_stake" in inspect.getfullargspec(Hydra.custom_stake_amount).args


class FakeTrade:
    ids = itertools.count(1)  # as Freqtrade's: every trade its own

    def __init__(self, open_date, is_short=False, enter_tag="FUNDING_SQUEEZE"):
        self.id, self.pair, self.enter_tag = next(FakeTrade.ids), "BTC/USDT:USDT", enter_tag
        self.open_date_utc, self.open_rate, self.is_short, self.leverage = open_date, 100.0, is_short, 5.0
        self.custom = {}

    def get_custom_data(self, key, default=None):
        return self.custom.get(key, default)

    def set_custom_data(self, key, value):
        self.custom[key] = value


class FakeDP:
    def __init__(self, frame):
        self.frame = frame
        self.messages = []

    def get_analyzed_dataframe(self, pair, timeframe):
        return self.frame, None

    def send_msg(self, message, **kwargs):
        self.messages.append(message)


def started_bridge(frame):
    strategy = Hydra(ft_config())
    strategy.dp = FakeDP(frame)
    bridge = HydraBridge(strategy)
    bridge.start()
    return bridge


def signal_frame():
    dates = pd.date_range("2024-03-01 00:00", periods=4, freq="15min", tz="UTC")
    risk = col.signal_column("FUNDING_SQUEEZE", "exp_risk_pct")
    ret = col.signal_column("FUNDING_SQUEEZE", "exp_ret_pct")
    return pd.DataFrame({"date": dates, risk: [1.0, 2.0, 3.0, 4.0], ret: [1.5, 3.0, 4.5, 6.0]})


def test_stop_and_target_come_from_the_signal_candle_and_never_move():
    frame = signal_frame()
    bridge = started_bridge(frame)
    # Order placed seconds after the 00:15 candle closed (at 00:30): that candle is the signal candle.
    trade = FakeTrade(datetime(2024, 3, 1, 0, 30, 4, tzinfo=UTC))
    assert bridge.record_entry(trade) == (2.0, 3.0)
    frame.iloc[:, 1:] = 9.0  # later candles change nothing for an open trade
    assert bridge.record_entry(trade) == (2.0, 3.0)


def test_stoploss_works_before_the_fill_is_recorded_and_exits_past_the_stop():
    bridge = started_bridge(signal_frame())
    trade = FakeTrade(datetime(2024, 3, 1, 0, 30, tzinfo=UTC))  # stop 2 %, target 3 %
    ratio = bridge.stoploss(trade, current_rate=100.0)
    assert ratio == pytest.approx(0.02 * 5)  # 2 % of price at 5x leverage
    assert bridge.stoploss(trade, current_rate=97.5) is None  # already through it ...
    assert bridge.exit(trade, datetime(2024, 3, 1, 1, tzinfo=UTC), 97.5) == "hydra_stop"  # ... so exit
    assert bridge.exit(trade, datetime(2024, 3, 1, 1, tzinfo=UTC), 103.1) == "hydra_take_profit"
    assert bridge.exit(trade, datetime(2024, 3, 1, 1, tzinfo=UTC), 101.0) is None


def test_a_vanished_signal_candle_falls_back_to_the_newest_atr(caplog):
    bridge = started_bridge(signal_frame())
    trade = FakeTrade(datetime(2024, 2, 1, tzinfo=UTC))
    with caplog.at_level(logging.WARNING):
        assert bridge.record_entry(trade) == (4.0, 6.0)
    assert "is gone" in caplog.text


def test_every_signal_threshold_is_a_hyperopt_parameter_with_the_signals_default():
    from freqtrade.strategy import DecimalParameter, IntParameter
    from freqtrade.strategy.hyper import detect_all_parameters

    from hydra_plugins.alpha.signals import REGISTRY

    found = detect_all_parameters(Hydra)["buy"]
    for name, cls in REGISTRY.items():
        for key, spec in cls.params.items():
            param = found[f"{name.lower()}_{key}"]
            assert isinstance(param, IntParameter if spec.decimals is None else DecimalParameter)
            assert param.value == pytest.approx(spec.default)
            assert (param.low, param.high) == pytest.approx((spec.low, spec.high))


def test_populate_entry_trend_applies_the_current_parameter_values():
    bridge = HydraBridge(Hydra(ft_config()))
    bridge.start()
    values = bridge.parameter_values()
    assert values["funding_squeeze_threshold_8h"] == 0.0005
    bridge.strategy.funding_squeeze_threshold_8h.value = 0.002
    try:
        assert bridge.parameter_values()["funding_squeeze_threshold_8h"] == 0.002
    finally:
        bridge.strategy.funding_squeeze_threshold_8h.value = 0.0005


def test_a_bad_cascade_calibration_refuses_the_start(tmp_path):
    config = ft_config(stats={"cascade_calibration": str(tmp_path / "missing.json")})
    with pytest.raises(ConfigError, match=r"hydra.stats.cascade_calibration: .*missing.json"):
        HydraBridge(Hydra(config)).start()


def test_a_parameter_value_outside_its_range_refuses_the_start():
    strategy = Hydra(ft_config())
    param = type(strategy).funding_squeeze_threshold_8h
    saved = param.value
    param.value = 0.5  # as a hand-edited hydra.json could set it
    try:
        with pytest.raises(ConfigError, match=r"funding_squeeze_threshold_8h=0\.5 is outside"):
            HydraBridge(strategy).start()
    finally:
        param.value = saved


def test_thesis_health_exit_reads_the_newest_closed_candle_of_the_trades_signal():
    frame = signal_frame()
    inv_long = col.signal_column("FUNDING_SQUEEZE", "inv_long")
    inv_short = col.signal_column("FUNDING_SQUEEZE", "inv_short")
    frame[inv_long], frame[inv_short] = [False, False, False, True], False
    bridge = started_bridge(frame)
    later = datetime(2024, 3, 1, 1, tzinfo=UTC)
    trade = FakeTrade(datetime(2024, 3, 1, 0, 30, tzinfo=UTC))  # long FUNDING_SQUEEZE
    assert bridge.exit(trade, later, 101.0) == "hydra_thesis_funding_squeeze"
    assert bridge.exit(trade, later, 97.5) == "hydra_stop"  # the price exits come first
    short = FakeTrade(datetime(2024, 3, 1, 0, 30, tzinfo=UTC), is_short=True)
    assert bridge.exit(short, later, 99.0) is None  # the short's thesis still holds
    other = FakeTrade(datetime(2024, 3, 1, 0, 30, tzinfo=UTC))
    other.enter_tag = "CROWDING_FADE"  # not enabled: says nothing
    other.custom = {"hydra_stop_pct": 2.0, "hydra_target_pct": 3.0}
    assert bridge.exit(other, later, 101.0) is None


def test_a_failing_thesis_check_leaves_the_other_exits_working(caplog):
    bridge = started_bridge(signal_frame())
    trade = FakeTrade(datetime(2024, 3, 1, 0, 30, tzinfo=UTC))
    bridge.record_entry(trade)

    def broken(pair, timeframe):
        raise RuntimeError("dataprovider down")

    bridge.strategy.dp.get_analyzed_dataframe = broken
    with caplog.at_level(logging.ERROR):
        assert bridge.exit(trade, datetime(2024, 3, 1, 1, tzinfo=UTC), 97.5) == "hydra_stop"
        assert bridge.exit(trade, datetime(2024, 3, 2, 1, tzinfo=UTC), 101.0) == "hydra_time_stop"
    assert "thesis check failed" in caplog.text


def test_the_sizing_rationale_travels_from_the_stake_to_the_trade(monkeypatch):
    from freqtrade.persistence import Trade

    frame = signal_frame().assign(
        close=[100.0, 101.0, 102.0, 103.0],
        **{
            col.STOP_PCT: 2.0, col.TARGET_PCT: 4.0, col.CONFIDENCE: 0.7, col.DIRECTION: 1, col.GATE_SIZE_MULT: 1.0,
            col.ML_SCORE: float("nan"),
        },
    )  # fmt: skip
    bridge = started_bridge(frame)
    monkeypatch.setattr(Trade, "get_trades_proxy", staticmethod(lambda **kw: []))
    bridge.strategy.wallets = type("W", (), {"get_total_stake_amount": staticmethod(lambda: 10_000.0)})()
    now = datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
    stake = bridge.stake("BTC/USDT:USDT", 5.0, 5.0, 10_000.0, "FUNDING_SQUEEZE", "long", now)
    assert stake == pytest.approx(10_000 * 0.01 / 0.02 / 5)  # quarter Kelly (0.1375) above the 1 % cap
    trade = FakeTrade(datetime(2024, 3, 1, 0, 30, 4, tzinfo=UTC))
    bridge.record_entry(trade)
    sizing = trade.custom["hydra_sizing"]
    assert sizing["p_source"] == "confidence" and sizing["win_prob"] == 0.7 and sizing["reward_risk"] == 2.0
    assert sizing["kelly"] == pytest.approx(0.7 - 0.3 / 2) and sizing["risk_fraction"] == 0.01


def test_an_operators_forced_entry_passes_every_gate_and_is_sized_by_the_fixed_risk_on_an_atr_stop(monkeypatch):
    from freqtrade.persistence import Trade

    # The newest candle has no signal at all; the operator forces a long (FreqUI /forceenter, Telegram /forcelong).
    frame = signal_frame().assign(
        close=[100.0, 101.0, 102.0, 103.0],
        **{
            col.STOP_PCT: float("nan"), col.TARGET_PCT: float("nan"), col.CONFIDENCE: float("nan"),
            col.DIRECTION: 0, col.SIGNAL: "", col.GATE_SIZE_MULT: 1.0, col.ML_SCORE: 0.9, col.ATR_PCT: 0.8,
            col.HEALTH_OK: True,
        },
    )  # fmt: skip
    bridge = started_bridge(frame)
    monkeypatch.setattr(Trade, "get_trades_proxy", staticmethod(lambda **kw: []))
    bridge.strategy.wallets = type("W", (), {"get_total_stake_amount": staticmethod(lambda: 10_000.0)})()
    now = datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
    assert not bridge.ready.verdict(bridge._newest_row("BTC/USDT:USDT"), "long", "FUNDING_SQUEEZE").allowed
    assert bridge.ready.verdict(bridge._newest_row("BTC/USDT:USDT"), "long", "force_entry").allowed
    leverage = bridge.leverage("BTC/USDT:USDT", 20.0, "force_entry", "long")
    stake = bridge.stake("BTC/USDT:USDT", leverage, 5.0, 10_000.0, "force_entry", "long", now)
    # 1 % of equity lost at a 2 x ATR (1.6 %) stop; the scorer's 0.9 counts for nothing without a signal.
    assert stake * leverage * 0.016 == pytest.approx(100.0)
    trade = FakeTrade(datetime(2024, 3, 1, 0, 30, 4, tzinfo=UTC), enter_tag="force_entry")
    assert bridge.record_entry(trade) == pytest.approx((1.6, 2.4))  # stop and take-profit (1.5 x) as sized
    assert trade.custom["hydra_sizing"]["p_source"] == "operator"
    assert trade.custom["hydra_sizing"]["kelly"] is None
    # It cannot ask for more leverage than HYDRA gives the pair (the REST API lets an operator try).
    assert bridge.stake("BTC/USDT:USDT", leverage + 5, 5.0, 10_000.0, "force_entry", "long", now) == 0.0
    # Data health still gates it, as every entry.
    unhealthy = frame.assign(**{col.HEALTH_OK: False, col.HEALTH_REASON: "no open_interest known"})
    bridge = started_bridge(unhealthy)
    assert not bridge.ready.verdict(bridge._newest_row("BTC/USDT:USDT"), "long", "force_entry").allowed


def test_every_candle_gets_a_decision_naming_each_layers_verdict(monkeypatch, tmp_path):
    from freqtrade.persistence import Trade

    from hydra_plugins.core.decisions import DecisionJournal

    frame = signal_frame().assign(
        close=[100.0, 101.0, 102.0, 103.0],
        **{
            col.STOP_PCT: 2.0, col.TARGET_PCT: 4.0, col.CONFIDENCE: 0.7, col.DIRECTION: 1, col.GATE_SIZE_MULT: 1.0,
            col.ML_SCORE: float("nan"), col.SIGNAL: "FUNDING_SQUEEZE", col.HEALTH_OK: True, col.REGIME: "RANGING",
            col.GATE: "ALLOW", col.GATE_REASON: "", "enter_long": 1, "enter_short": 0,
        },
    )  # fmt: skip
    bridge = started_bridge(frame)
    open_trades = []
    monkeypatch.setattr(Trade, "get_trades_proxy", staticmethod(lambda **kw: open_trades))
    bridge.strategy.wallets = type(
        "W", (), {"get_total_stake_amount": staticmethod(lambda: 10_000.0),
                  "get_available_stake_amount": staticmethod(lambda: 10_000.0)}
    )()  # fmt: skip
    now = datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC)
    entering = bridge.decide("BTC/USDT:USDT", frame, now)
    assert (entering.final, entering.signal, entering.direction, entering.regime) == (
        "ENTER LONG",
        "FUNDING_SQUEEZE",
        1,
        "RANGING",
    )
    assert entering.size_usd == pytest.approx(10_000 * 0.01 / 0.02)  # what L4 would put on: 1 % at a 2 % stop
    assert entering.cells()[7] == "ENTER LONG" and entering.cells()[6] == "5,000 USD"
    sick = bridge.decide("BTC/USDT:USDT", frame.assign(**{col.HEALTH_OK: False, col.HEALTH_REASON: "no funding"}), now)
    assert (sick.final, sick.final_reason) == ("BLOCKED", "data health: no funding")
    quiet = bridge.decide("BTC/USDT:USDT", frame.assign(**{col.SIGNAL: "", col.DIRECTION: 0, "enter_long": 0}), now)
    assert (quiet.final, quiet.size_usd, quiet.confidence) == ("NO SIGNAL", None, None)
    filtered = bridge.decide("BTC/USDT:USDT", frame.assign(enter_long=0), now)
    assert filtered.final == "NO SIGNAL" and "below the confidence or ML score threshold" in filtered.final_reason
    bridge.kill.state.fire(
        Firing("cascade", "BTC/USDT:USDT", now, now + timedelta(hours=12), "cascade probability 0.9 above 0.70")
    )
    blocked = bridge.decide("BTC/USDT:USDT", frame, now)
    assert blocked.final == "BLOCKED" and blocked.kill.startswith("cascade on BTC/USDT:USDT")
    bridge.kill.state.firings.clear()
    other = FakeTrade(datetime(2024, 3, 1, 0, 30, tzinfo=UTC))
    other.pair, other.stake_amount, other.leverage = "ETH/USDT:USDT", 100.0, 5.0
    open_trades.append(other)
    real_dp = bridge.strategy.dp.get_analyzed_dataframe
    bridge.strategy.dp.get_analyzed_dataframe = lambda p, tf: (
        (pd.DataFrame(), None) if p != "BTC/USDT:USDT" else (real_dp(p, tf))
    )
    waiting = bridge.decide("BTC/USDT:USDT", frame, now)  # just after a start: ETH not analysed yet
    assert waiting.final == "BLOCKED" and "no analysed candles for ETH/USDT:USDT yet" in waiting.final_reason
    open_trades[:] = [FakeTrade(datetime(2024, 3, 1, 0, 30, tzinfo=UTC))]
    assert bridge.decide("BTC/USDT:USDT", frame, now).final == "IN POSITION"
    # Written live once per analysed candle; a failure to write never reaches the bot's loop.
    bridge.decisions = DecisionJournal(tmp_path / "decisions.sqlite")
    bridge._record_decision("BTC/USDT:USDT", frame)
    assert [d.final for d in bridge.decisions.latest()] == ["IN POSITION"]
    bridge.decisions.path = tmp_path / "missing" / "dir" / "x.sqlite"
    bridge._record_decision("BTC/USDT:USDT", frame)  # logged, not raised


def test_freqtrades_protections_are_configured_as_a_second_line():
    from freqtrade.plugins.protectionmanager import ProtectionManager

    protections = Hydra(ft_config()).protections
    manager = ProtectionManager(ft_config(), protections)
    names = {p.name for p in manager._protection_handlers}
    assert names == {"CooldownPeriod", "StoplossGuard", "MaxDrawdown"}
    assert next(p for p in protections if p["method"] == "MaxDrawdown")["calculation_mode"] == "equity"


def test_the_stop_tightens_as_the_thesis_weakens_and_never_loosens_again():
    frame = signal_frame()
    health = col.signal_column("FUNDING_SQUEEZE", "health_long")
    frame[health] = [1.0, 1.0, 1.0, 0.5]  # the 00:15 signal candle at full strength, the newest at half
    bridge = started_bridge(frame)
    trade = FakeTrade(datetime(2024, 3, 1, 0, 30, tzinfo=UTC))  # entry stop 2 %
    # 2 % x (0.5 + 0.5 x 0.5) = 1.5 % of price, at 5x leverage
    assert bridge.stoploss(trade, current_rate=100.0) == pytest.approx(0.015 * 5)
    assert trade.custom["hydra_health_entry"] == 1.0 and trade.custom["hydra_health_min"] == 0.5
    frame[health] = 1.0  # the thesis recovers: the stop stays where it went
    assert bridge.stoploss(trade, current_rate=100.0) == pytest.approx(0.015 * 5)
    assert bridge.exit(trade, datetime(2024, 3, 1, 1, tzinfo=UTC), 98.4) == "hydra_stop"  # through 98.5
