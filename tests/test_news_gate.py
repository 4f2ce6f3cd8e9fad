"""The news analyst's verdicts at work: entry vetoes, exits, messages; replayed alike in backtests."""

from datetime import UTC, datetime, timedelta

import pytest
from freqtrade.enums import RunMode

from hydra_plugins.alpha.news_gate import NewsGate
from hydra_plugins.alpha.news_verdict import parse_verdict
from hydra_plugins.alpha.verdict_journal import VerdictJournal
from tests.test_kill_switch_bridge import OPENED, PAIR, bridge_for, market_frame
from tests.test_strategy import FakeTrade

T = datetime(2024, 3, 1, 0, 50, tzinfo=UTC)  # between the 00:45 candle's open and its close
TTL = timedelta(hours=1)


def record(journal, base, action, at, ttl=TTL):
    raw = {"action": action, "confidence": 0.8, "horizon_hours": 4, "reasons": [f"{action} news"], "article_ids": []}
    journal.record_verdict(parse_verdict(raw, base, [], at, ttl), prompt_hash="h", model="m")


def test_verdicts_veto_entries_close_positions_and_are_announced_on_change(tmp_path):
    journal = VerdictJournal(tmp_path / "llm.sqlite")
    record(journal, "BTC", "bearish", T)
    record(journal, "ETH", "exit", T)
    assert NewsGate(tmp_path / "later.sqlite").entry_refusal("BTC", "long", T) is None  # no journal yet: neutral
    gate = NewsGate(tmp_path / "llm.sqlite")
    assert gate.entry_refusal("BTC", "long", T - timedelta(seconds=1)) is None  # not known yet
    code, reason = gate.entry_refusal("BTC", "long", T)
    assert code == "llm_bearish" and "bearish news" in reason
    assert gate.entry_refusal("BTC", "short", T) is None and gate.entry_refusal("SOL", "long", T) is None
    assert gate.entry_refusal("ETH", "short", T)[0] == "llm_exit"
    assert gate.exit_reason("ETH", T - timedelta(hours=2), T) == "hydra_llm_exit"
    assert gate.exit_reason("ETH", T + timedelta(seconds=1), T + timedelta(minutes=1)) is None  # opened after it
    assert gate.exit_reason("ETH", T - timedelta(hours=2), T + TTL) is None  # expired
    assert gate.exit_reason("BTC", T - timedelta(hours=2), T) is None
    assert gate.changes(["BTC", "ETH"], T) == ["HYDRA news analyst: ETH EXIT until 01:50 UTC (0.80): exit news"]
    assert gate.changes(["BTC", "ETH"], T + timedelta(minutes=5)) == []  # said once
    assert gate.changes(["BTC", "ETH"], T + TTL) == ["HYDRA news analyst: ETH no longer exit (now none)"]


def test_the_strategy_applies_the_journal_when_the_analyst_is_enabled(tmp_path):
    journal = VerdictJournal(tmp_path / "hydra" / "llm_journal.sqlite")
    record(journal, "BTC", "exit", T)
    off = bridge_for(market_frame(cascade=(0.1,) * 4), tmp_path)
    assert off.news_gate is None  # disabled by default: the journal is not read
    bridge = bridge_for(market_frame(cascade=(0.1,) * 4), tmp_path, alpha={"news_analyst": {"enabled": True}})
    trade = FakeTrade(OPENED)
    trade.custom = {"hydra_stop_pct": 2.0, "hydra_target_pct": 3.0}
    assert bridge.exit(trade, T - timedelta(minutes=1), 100.0) is None
    assert bridge.exit(trade, T, 100.0) == "hydra_llm_exit"
    assert bridge.exit(trade, T, 97.5) == "hydra_llm_exit"  # the analyst's exit names itself before the stop
    assert bridge.confirm_entry(PAIR, "long", "FUNDING_SQUEEZE", T) is False
    # The verdict in force at entry is kept with the trade (FreqUI's trade detail shows custom data).
    bridge.record_entry(trade)
    assert trade.custom["hydra_news"] == "none in force"  # opened before the exit verdict was known
    later = FakeTrade(T + timedelta(minutes=5))
    later.custom = {"hydra_stop_pct": 2.0, "hydra_target_pct": 3.0}
    bridge.record_entry(later)
    assert later.custom["hydra_news"].startswith("exit (")
    live = bridge_for(
        market_frame(cascade=(0.1,) * 4), tmp_path, runmode=RunMode.DRY_RUN, alpha={"news_analyst": {"enabled": True}}
    )
    live.strategy.config["exchange"]["pair_whitelist"] = [PAIR]
    live.announce_news_verdicts(T)
    assert any("BTC EXIT until" in m for m in live.strategy.dp.messages)


def test_a_dry_run_bot_runs_the_analyst_beside_it_and_its_callbacks_read_the_verdict(tmp_path, monkeypatch):
    import time

    from tests.fakes_llm import FakeAnthropic
    from tests.fakes_news import FakeCryptoCompare, needs_news

    if needs_news.args[0]:
        pytest.skip(needs_news.kwargs["reason"])
    now = datetime.now(UTC)
    with FakeCryptoCompare() as news, FakeAnthropic() as llm:
        news.now = int(now.timestamp())
        news.injected.append(
            {"id": "900", "guid": "https://x.test/900", "published_on": int(now.timestamp()) - 600,
             "imageurl": "", "title": "Bitcoin exchange halts withdrawals", "url": "https://x.test/900",
             "source": "coindesk", "body": "BTC withdrawals paused.", "tags": "Exchange", "categories": "BTC|Exchange",
             "upvotes": "0", "downvotes": "0", "lang": "EN",
             "source_info": {"name": "CoinDesk", "lang": "EN", "img": ""}}
        )  # fmt: skip
        for name, value in {
            "CRYPTOCOMPARE_BASE_URL": news.url, "CRYPTOCOMPARE_API_KEY": "test-key", "ANTHROPIC_BASE_URL": llm.url,
            "ANTHROPIC_API_KEY": "sk-test", "LLM_MODEL": "claude-sonnet-4-6",
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        started = time.monotonic()
        enabled = {"news_analyst": {"enabled": True}}
        bridge = bridge_for(market_frame(cascade=(0.1,) * 4), tmp_path, runmode=RunMode.DRY_RUN, alpha=enabled)
        assert time.monotonic() - started < 2.0  # bot_start does not wait for the analyst
        try:
            deadline = time.monotonic() + 15
            while bridge.analyst_thread.passes < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert bridge.analyst_thread.passes >= 1
        finally:
            bridge.analyst_thread.stop()
        assert [c.model for c in llm.calls] == ["claude-sonnet-4-6"]  # BTC had news: one call, the others none
        assert "Bitcoin exchange halts withdrawals" in llm.last_user_text()
        later = datetime.now(UTC) + timedelta(seconds=1)
        assert bridge.confirm_entry(PAIR, "long", "FUNDING_SQUEEZE", later) is False  # the fake's default: hold
