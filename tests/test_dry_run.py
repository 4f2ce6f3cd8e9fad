"""A real `freqtrade trade --dry-run` bot: a kill switch fires in it, survives its restart, and an operator clears it.

The bot runs offline against the loopback markets server: it has its markets but no candles (the
server answers klines with Binance's error), which is all the daily drawdown switch needs: its
equity is the dry-run wallet.
"""

import json
import subprocess
import time
from datetime import UTC, datetime

import pytest

from hydra_plugins.risk.kill_switch import KillSwitchState
from tests.bots import HYDRA, DryRunBot
from tests.conftest import ROOT

pytestmark = pytest.mark.backtest
# One pair: each loop retries the candles the offline server cannot serve, per pair.
ONE_PAIR = {"exchange": {"pair_whitelist": ["BTC/USDT:USDT"]}}


def offline_bot(offline_config, userdir, tmp_path, name, hydra=None, env=None) -> DryRunBot:
    overlay = {**ONE_PAIR, "hydra": {"intel": {"refresh_in_bot": False}, **(hydra or {})}}
    return DryRunBot([offline_config], userdir, tmp_path, name, overlay, env)


def test_a_kill_switch_fired_in_a_dry_run_bot_survives_its_restart_until_cleared(offline_config, userdir, tmp_path):
    now = datetime.now(UTC)
    if now.hour == 23 and now.minute >= 57:  # the bots' day would roll over mid-test and start from their equity
        time.sleep(60 * (60 - now.minute) + 5)
    state_path = userdir / "hydra" / "kill_switches.json"
    # Today started with 20 000 USDT of equity; the dry-run wallet holds 10 000: down 50 %.
    seeded = KillSwitchState.open(state_path)
    seeded.start_day(datetime.now(UTC), 20_000.0)
    seeded.save()

    first = offline_bot(offline_config, userdir, tmp_path, "first")
    try:
        first.wait_for(r"KILL SWITCH daily_drawdown on all pairs: equity [\d.]+ is [\d.]+% below the day's start")
    finally:
        first.stop()
    fired = KillSwitchState.open(state_path)
    assert [(f.switch, f.scope) for f in fired.firings] == [("daily_drawdown", "*")]

    second = offline_bot(offline_config, userdir, tmp_path, "second")
    try:
        text = second.wait_for(r"HYDRA kill switches armed: .* 1 in force\n\s+daily_drawdown on all pairs")
        time.sleep(3)  # a few loops: the restarted bot neither forgets it nor fires it again the same day
        assert "KILL SWITCH" not in second.log.read_text().split("HYDRA kill switches armed", 1)[1]
        assert KillSwitchState.open(state_path).firings == fired.firings
        # The operator ends the cool-down while the bot runs; the bot re-reads the file and says so.
        result = subprocess.run(
            [HYDRA, "risk", "clear", "--all", "--userdir", str(userdir)], capture_output=True, text=True, cwd=ROOT
        )
        assert result.returncode == 0 and "1 cleared, 0 still in force" in result.stdout, result.stderr
        text = second.wait_for(r"HYDRA kill switches: state re-read, 0 in force")
    finally:
        second.stop()
    assert "Traceback" not in text
    journal = [json.loads(line) for line in (userdir / "hydra" / "risk_journal.jsonl").read_text().splitlines()]
    assert [(r["event"], r["code"]) for r in journal] == [("fired", "daily_drawdown"), ("cleared", "daily_drawdown")]


def test_a_dry_run_bot_runs_the_news_analyst_beside_it_and_announces_its_verdict(offline_config, userdir, tmp_path):
    """The analyst's thread fetches news (loopback CryptoCompare) and asks the model (loopback Anthropic);
    the bot's loop, never waiting for it, reads the journal and announces BTC's hold."""
    from tests.fakes_llm import FakeAnthropic
    from tests.fakes_news import FakeCryptoCompare, needs_news

    if needs_news.args[0]:
        pytest.skip(needs_news.kwargs["reason"])
    now = int(time.time())
    with FakeCryptoCompare() as news, FakeAnthropic() as llm:
        news.now = now
        news.injected.append(
            {"id": "901", "guid": "https://x.test/901", "published_on": now - 300, "imageurl": "",
             "title": "Bitcoin exchange halts withdrawals", "url": "https://x.test/901", "source": "coindesk",
             "body": "BTC withdrawals paused.", "tags": "Exchange", "categories": "BTC|Exchange", "upvotes": "0",
             "downvotes": "0", "lang": "EN", "source_info": {"name": "CoinDesk", "lang": "EN", "img": ""}}
        )  # fmt: skip
        env = {
            "CRYPTOCOMPARE_BASE_URL": news.url, "CRYPTOCOMPARE_API_KEY": "test-key", "ANTHROPIC_BASE_URL": llm.url,
            "ANTHROPIC_API_KEY": "sk-test", "LLM_MODEL": "claude-sonnet-4-6",
        }  # fmt: skip
        analyst = {"alpha": {"news_analyst": {"enabled": True}}}
        bot = offline_bot(offline_config, userdir, tmp_path, "analyst", hydra=analyst, env=env)
        try:
            text = bot.wait_for(r"HYDRA news analyst: BTC HOLD until \d\d:\d\d UTC \(0\.60\): mixed news")
        finally:
            bot.stop()
    assert "HYDRA news analyst: a pass every 30 minutes in the background" in text
    assert "Sending rpc strategy_msg: HYDRA news analyst: BTC HOLD" in text  # to Telegram / FreqUI
    assert [c.model for c in llm.calls] == ["claude-sonnet-4-6"] and "sk-test" not in text
