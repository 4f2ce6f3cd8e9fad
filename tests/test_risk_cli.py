"""`hydra risk status | clear | journal`: what an operator sees and does."""

import json
from datetime import UTC, datetime, timedelta

from hydra_plugins.cli import main as hydra_main
from hydra_plugins.risk.journal import RiskJournal
from hydra_plugins.risk.kill_switch import ALL_PAIRS, Firing, KillSwitchState

NOW = datetime.now(UTC)


def seed(path):
    state = KillSwitchState.open(path)
    state.fire(Firing("cascade", ALL_PAIRS, NOW - timedelta(hours=1), NOW + timedelta(hours=11), "3 of 8 pairs"))
    state.fire(Firing("funding_spike", "SOL/USDT:USDT", NOW, NOW + timedelta(hours=12), "rate -2.0000%"))
    state.save()


def test_status_and_clear(tmp_path, capsys):
    userdir = tmp_path / "user_data"
    assert hydra_main(["risk", "status", "--userdir", str(userdir)]) == 0
    assert "nothing has fired" in capsys.readouterr().out
    seed(userdir / "hydra" / "kill_switches.json")
    assert hydra_main(["risk", "status", "--userdir", str(userdir)]) == 0
    out = capsys.readouterr().out
    assert "in force: 2" in out and "cascade on all pairs: 3 of 8 pairs" in out and "funding_spike on SOL" in out
    assert hydra_main(["risk", "clear", "--userdir", str(userdir)]) == 2  # says what to clear
    assert "--switch NAME, --pair PAIR, or --all" in capsys.readouterr().err
    assert hydra_main(["risk", "clear", "--switch", "cascade", "--userdir", str(userdir)]) == 0
    assert "1 cleared, 1 still in force" in capsys.readouterr().out
    left = KillSwitchState.open(userdir / "hydra" / "kill_switches.json").firings
    assert [f.switch for f in left] == ["funding_spike"]
    journal = [json.loads(x) for x in (userdir / "hydra" / "risk_journal.jsonl").read_text().splitlines()]
    assert [(r["event"], r["code"], r["pair"]) for r in journal] == [("cleared", "cascade", "*")]


def test_the_configs_paths_are_used(tmp_path, capsys):
    config = tmp_path / "bot.json"
    state = tmp_path / "elsewhere" / "switches.json"
    config.write_text(json.dumps({"hydra": {"risk": {"kill_switches": {"state_path": str(state)}}}}))
    seed(state)
    assert hydra_main(["risk", "clear", "--all", "-c", str(config), "--userdir", str(tmp_path / "ud")]) == 0
    assert "2 cleared" in capsys.readouterr().out and KillSwitchState.open(state).firings == []


def test_journal_counts_by_reason(tmp_path, capsys):
    path = tmp_path / "journal.jsonl"
    journal = RiskJournal(path, fresh=True)
    for code in ("no_edge", "no_edge", "kill_cascade"):
        journal.write("refused", NOW, code=code, pair="BTC/USDT:USDT", side="long", tag="FUNDING_SQUEEZE")
    journal.write("fired", NOW, code="cascade", pair="BTC/USDT:USDT", reason="p 0.9")
    with path.open("a") as f:
        f.write('{"time": "cut off')  # a crash can leave half a line
    assert hydra_main(["risk", "journal", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "4 records" in out and "| no_edge | 2 |" in out
    assert "| kill_cascade | 1 |" in out and "| cascade | 1 |" in out
    assert hydra_main(["risk", "journal", "--userdir", str(tmp_path / "none")]) == 2
