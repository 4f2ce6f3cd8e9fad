"""HYDRA's messages reach Telegram through Freqtrade's own RPC path, once per change and never per loop.

The strategy says things with ``dp.send_msg`` (Freqtrade's DataProvider queues them), the bot hands
the queue to ``RPCManager.process_msg_queue`` every loop, and Freqtrade's ``Telegram`` handler
composes and sends each one. Here all of that is Freqtrade's real code; only ``Telegram._send_msg``,
the call to Telegram's servers, records the text instead.
"""

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import RunMode
from freqtrade.rpc.rpc import RPCHandler
from freqtrade.rpc.rpc_manager import RPCManager
from freqtrade.rpc.telegram import Telegram

from hydra_plugins.alpha.verdict_journal import VerdictJournal
from tests.test_kill_switch_bridge import PAIR, market_frame
from tests.test_news_gate import record
from tests.test_strategy import Hydra, ft_config


class RecordingTelegram(Telegram):
    """Freqtrade's Telegram handler without its network thread; what it would send is kept in ``sent``."""

    def __init__(self, config: dict) -> None:
        RPCHandler.__init__(self, rpc=None, config=config)
        self.sent: list[tuple[str, bool]] = []
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    @property
    def name(self) -> str:
        return "telegram"  # the config section Freqtrade's RPCManager reads for this handler

    async def _send_msg(self, msg: str, parse_mode=None, disable_notification: bool = False, **kwargs) -> None:
        self.sent.append((msg, disable_notification))


class AnalysedDP(DataProvider):
    """Freqtrade's DataProvider, with the analysed candles a running bot would hold for the pair."""

    def __init__(self, config: dict, frame) -> None:
        super().__init__(config, None)
        self.frame = frame

    def get_analyzed_dataframe(self, pair, timeframe):
        return self.frame, datetime.now(UTC)


@pytest.fixture
def bot(tmp_path):
    """A dry-run HYDRA whose messages travel the real DataProvider -> RPCManager -> Telegram path."""
    config = ft_config(alpha={"news_analyst": {"enabled": True, "run_in_bot": False}})
    config |= {"runmode": RunMode.DRY_RUN, "user_data_dir": tmp_path, "dry_run": True}
    config["hydra"].setdefault("intel", {})["refresh_in_bot"] = False
    config["exchange"]["pair_whitelist"] = [PAIR]
    assert config["telegram"]["allow_custom_messages"] is True  # config/config.json: else none would arrive
    config["telegram"] |= {"enabled": True, "token": "123:abc", "chat_id": "42"}
    strategy = Hydra(config)
    strategy.dp = AnalysedDP(config, market_frame(cascade=(0.1, 0.1, 0.1, 0.9)))
    strategy.bot_start()
    bridge = strategy.hydra
    telegram = RecordingTelegram(config)
    manager = RPCManager.__new__(RPCManager)
    manager.registered_modules = [telegram]

    def loop(now: datetime, frame=None) -> list[str]:
        """One bot loop at ``now`` (a new candle: Freqtrade's own per-candle de-duplication is reset)."""
        strategy.dp._DataProvider__msg_cache.clear()
        if frame is not None:
            strategy.dp.frame = frame
        bridge.kill.record_inputs(PAIR, bridge.ready.kill_inputs(strategy.dp.frame))
        before = len(telegram.sent)
        strategy.bot_loop_start(current_time=now)
        bridge._announce_health(PAIR, strategy.dp.frame)
        manager.process_msg_queue(strategy.dp._msg_queue)
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), telegram._loop).result(timeout=5)
        return [text for text, _ in telegram.sent[before:]]

    return bridge, loop, tmp_path


def test_each_change_is_told_once_through_freqtrades_telegram(bot):
    bridge, loop, tmp_path = bot
    t = datetime(2024, 3, 1, 1, 0, 5, tzinfo=UTC)  # the 00:45 candle (cascade 0.9) has closed
    first = loop(t)
    assert any(m.startswith("HYDRA regime model:") for m in first), first  # what bot_start found, once
    assert any(m.startswith("HYDRA KILL SWITCH cascade on BTC/USDT:USDT") for m in first)
    # The same state on the next loops (and candles): nothing new is said.
    assert loop(t + timedelta(minutes=15)) == []
    assert loop(t + timedelta(minutes=30)) == []
    # Data health: blocked once, then allowed once.
    sick = bridge.strategy.dp.frame.assign(hydra_health_ok=False, hydra_health_reason="no open_interest known")
    assert loop(t + timedelta(minutes=45), sick) == ["HYDRA BTC/USDT:USDT: entries blocked, no open_interest known"]
    assert loop(t + timedelta(minutes=60)) == []
    healthy = sick.assign(hydra_health_ok=True, hydra_health_reason="")
    assert loop(t + timedelta(minutes=75), healthy) == ["HYDRA BTC/USDT:USDT: data healthy, entries allowed"]
    # The news analyst's hold: once when it comes, once when it ends.
    journal = VerdictJournal(tmp_path / "hydra" / "llm_journal.sqlite")
    record(journal, "BTC", "hold", t + timedelta(minutes=80))
    said = loop(t + timedelta(minutes=90))
    assert len(said) == 1 and said[0].startswith("HYDRA news analyst: BTC HOLD until")
    assert loop(t + timedelta(minutes=105)) == []
    # The kill switch's cool-down (12 h) runs out: said once.
    ended = loop(t + timedelta(hours=12, minutes=15))
    assert [m for m in ended if "KILL SWITCH" in m or "kill switch" in m]
    assert loop(t + timedelta(hours=12, minutes=30)) == []


def test_a_telegram_without_custom_messages_is_warned_about(caplog):
    from hydra_plugins.bridge import check_secrets

    config = {"telegram": {"enabled": True, "token": "1:a", "chat_id": "2", "allow_custom_messages": False}}
    check_secrets(config)
    assert "allow_custom_messages is off" in caplog.text
