"""The decision journal, `hydra status` and the dashboard's data (the browser test is in test_live.py)."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from hydra_plugins.commands.dashboard import create_app
from hydra_plugins.commands.status import BotFiles
from hydra_plugins.core.decisions import Decision, DecisionJournal, render_table
from hydra_plugins.risk.kill_switch import Firing, KillSwitchState
from tests.conftest import ROOT

NOW = datetime.now(UTC).replace(microsecond=0)
CANDLE = NOW.replace(minute=NOW.minute // 15 * 15, second=0) - timedelta(minutes=15)


def decision(pair: str, time: datetime, final: str = "NO SIGNAL", **kw) -> Decision:
    values = {
        "time": time, "pair": pair, "price": 100.0, "health": "ok", "regime": "RANGING", "gate": "ALLOW",
        "gate_reason": "", "signal": "", "direction": 0, "confidence": None, "ml_score": None, "news": "", "kill": "",
        "size_usd": None, "size_reason": "", "final": final, "final_reason": "", "written_at": NOW,
    }  # fmt: skip
    return Decision(**{**values, **kw})


def seeded(tmp_path) -> DecisionJournal:
    journal = DecisionJournal(tmp_path / "user_data" / "hydra" / "decisions.sqlite")
    journal.write([decision("BTC/USDT:USDT", CANDLE - timedelta(minutes=15)), decision("ETH/USDT:USDT", CANDLE)])
    journal.write(
        [
            decision("BTC/USDT:USDT", CANDLE, "ENTER LONG", signal="FUNDING_SQUEEZE", direction=1, confidence=0.66,
                     ml_score=0.58, size_usd=4321.0, size_reason="risk 1.00% at 2.00% stop", price=64123.5),
            decision("ETH/USDT:USDT", CANDLE, "BLOCKED", final_reason="data health: no open_interest known",
                     health="no open_interest known"),
        ]
    )  # fmt: skip
    return journal


def test_the_journal_keeps_one_decision_per_pair_and_candle_and_reads_the_newest(tmp_path):
    journal = seeded(tmp_path)
    latest = journal.latest()
    assert [(d.pair, d.final) for d in latest] == [("BTC/USDT:USDT", "ENTER LONG"), ("ETH/USDT:USDT", "BLOCKED")]
    assert latest[0].cells() == (
        "BTC", "64,123.5", "RANGING", "FUNDING_SQUEEZE long", "0.66", "0.58", "4,321 USD", "ENTER LONG"
    )  # fmt: skip
    assert len(journal.history(10)) == 3 and journal.history(10)[0].time == CANDLE
    assert [d.time for d in journal.history(10, "BTC/USDT:USDT")] == [CANDLE, CANDLE - timedelta(minutes=15)]
    table = render_table(latest).splitlines()
    assert table[0].split(" | ")[0].strip() == "Symbol" and len(table) == 4
    assert json.loads(json.dumps(latest[1].to_json()))["confidence"] is None


def test_hydra_status_prints_the_pipeline_table_with_every_whitelisted_pair(tmp_path):
    seeded(tmp_path)
    state = KillSwitchState.open(tmp_path / "user_data" / "hydra" / "kill_switches.json")
    state.fire(Firing("funding_spike", "SOL/USDT:USDT", NOW, NOW + timedelta(hours=12), "funding -0.54%"))
    state.save()
    run = [sys.executable, "-m", "hydra_plugins.cli", "status", "--userdir", str(tmp_path / "user_data"),
           "-c", str(ROOT / "config" / "config.json")]  # fmt: skip
    out = subprocess.run([*run, "--layers"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    rows = {line.split(" | ")[0].strip(): line for line in lines if " | " in line}
    assert set(rows) == {"Symbol", "BTC", "ETH", "SOL", "BNB", "ADA", "XRP", "LTC", "DOGE"}
    assert rows["BTC"].rstrip().endswith("ENTER LONG") and "4,321 USD" in rows["BTC"]
    assert rows["SOL"].rstrip().endswith("NO DATA")  # whitelisted, never analysed: shown, not dropped
    assert "kill switches in force: 1" in out.stdout and "funding_spike on SOL/USDT:USDT" in out.stdout
    assert "L1 data health    no open_interest known" in out.stdout
    history = subprocess.run([*run, "--history", "5", "--pair", "ETH/USDT:USDT"], capture_output=True, text=True)
    assert "BLOCKED: data health: no open_interest known" in history.stdout
    missing = subprocess.run([*run[:5], str(tmp_path / "nowhere")], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 2 and "no decision journal" in missing.stderr
    (tmp_path / "junk.sqlite").write_text("not a database")
    junk = subprocess.run([*run[:6], "--journal", str(tmp_path / "junk.sqlite")], capture_output=True, text=True)
    assert junk.returncode == 2 and "is not a readable decision journal" in junk.stderr
    bad = subprocess.run([*run[:6], "-c", str(tmp_path / "nope.json")], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "nope.json" in bad.stderr and "Traceback" not in bad.stderr


def test_the_dashboard_serves_the_journal_and_says_when_the_bot_is_unreachable(tmp_path):
    seeded(tmp_path)
    files = BotFiles(
        tmp_path / "user_data" / "hydra" / "decisions.sqlite",
        tmp_path / "user_data" / "hydra" / "kill_switches.json",
        ["BTC/USDT:USDT", "ETH/USDT:USDT", "LTC/USDT:USDT"],
    )
    client = TestClient(create_app(files, ("http://127.0.0.1:9", "u", "p")))
    assert "<title>HYDRA dashboard</title>" in client.get("/").text
    state = client.get("/api/state").json()
    assert [p["cells"][7] for p in state["pairs"]] == ["ENTER LONG", "BLOCKED", "NO DATA"]
    assert state["pairs"][1]["layers"]["L1 data health"] == "no open_interest known"
    assert state["bot"]["reachable"] is False and "127.0.0.1:9" in state["bot"]["error"]
    assert state["kill_switches"] == [] and state["stale"] is False
    assert len(client.get("/api/history", params={"limit": 2}).json()) == 2
    gone = TestClient(create_app(BotFiles(tmp_path / "none.sqlite", tmp_path / "k.json", ["BTC/USDT:USDT"]), None))
    state = gone.get("/api/state").json()
    assert "no decision journal" in state["journal_error"] and "no --api-url" in state["bot"]["error"]
