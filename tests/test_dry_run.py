"""A real `freqtrade trade --dry-run` bot: a kill switch fires in it, survives its restart, and an operator clears it.

The bot runs offline against the loopback markets server: it has its markets but no candles (the
server answers klines with Binance's error), which is all the daily drawdown switch needs: its
equity is the dry-run wallet.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hydra_plugins.risk.kill_switch import KillSwitchState
from tests.conftest import ROOT

pytestmark = pytest.mark.backtest
FREQTRADE = str(Path(sys.executable).with_name("freqtrade"))
HYDRA = str(Path(sys.executable).with_name("hydra"))


class DryRunBot:
    """One `freqtrade trade` process; its log is read while it runs."""

    def __init__(
        self,
        offline_config: Path,
        userdir: Path,
        tmp_path: Path,
        name: str,
        hydra: dict | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        overlay = tmp_path / "dry.json"
        overlay.write_text(
            json.dumps(
                {
                    "dry_run": True,
                    "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
                    "internals": {"process_throttle_secs": 1},
                    # One pair: each loop retries the candles the offline server cannot serve, per pair.
                    "exchange": {"pair_whitelist": ["BTC/USDT:USDT"]},
                    "hydra": {"intel": {"refresh_in_bot": False}, **(hydra or {})},
                }
            )
        )
        self.log = tmp_path / f"{name}.log"
        cmd = [
            FREQTRADE, "trade", "--strategy", "Hydra", "-c", str(ROOT / "config" / "config.json"),
            "-c", str(offline_config), "-c", str(overlay), "--userdir", str(userdir),
            "--strategy-path", str(ROOT / "user_data" / "strategies"),
        ]  # fmt: skip
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FREQTRADE__")}
        environ |= {"HYDRA_DOTENV": "0", "COLUMNS": "1000", **(env or {})}  # one log record per line
        with self.log.open("w") as out:  # the child keeps its own handle
            self.process = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT)

    def wait_for(self, pattern: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text() if self.log.exists() else ""
            if re.search(pattern, text):
                return text
            assert self.process.poll() is None, f"the bot stopped:\n{text[-4000:]}"
            time.sleep(0.5)
        raise AssertionError(f"no {pattern!r} in the bot's log within {timeout} s:\n{text[-4000:]}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def test_a_kill_switch_fired_in_a_dry_run_bot_survives_its_restart_until_cleared(offline_config, userdir, tmp_path):
    now = datetime.now(UTC)
    if now.hour == 23 and now.minute >= 57:  # the bots' day would roll over mid-test and start from their equity
        time.sleep(60 * (60 - now.minute) + 5)
    state_path = userdir / "hydra" / "kill_switches.json"
    # Today started with 20 000 USDT of equity; the dry-run wallet holds 10 000: down 50 %.
    seeded = KillSwitchState.open(state_path)
    seeded.start_day(datetime.now(UTC), 20_000.0)
    seeded.save()

    first = DryRunBot(offline_config, userdir, tmp_path, "first")
    try:
        first.wait_for(r"KILL SWITCH daily_drawdown on all pairs: equity [\d.]+ is [\d.]+% below the day's start")
    finally:
        first.stop()
    fired = KillSwitchState.open(state_path)
    assert [(f.switch, f.scope) for f in fired.firings] == [("daily_drawdown", "*")]

    second = DryRunBot(offline_config, userdir, tmp_path, "second")
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
        bot = DryRunBot(offline_config, userdir, tmp_path, "analyst", hydra=analyst, env=env)
        try:
            text = bot.wait_for(r"HYDRA news analyst: BTC HOLD until \d\d:\d\d UTC \(0\.60\): mixed news")
        finally:
            bot.stop()
    assert "HYDRA news analyst: a pass every 30 minutes in the background" in text
    assert "Sending rpc strategy_msg: HYDRA news analyst: BTC HOLD" in text  # to Telegram / FreqUI
    assert [c.model for c in llm.calls] == ["claude-sonnet-4-6"] and "sk-test" not in text
