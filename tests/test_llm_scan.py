"""`hydra llm scan --once` against the loopback Anthropic, on the shared candles and headlines."""

import json
from datetime import UTC, datetime, timedelta

from hydra_plugins.alpha.verdict_journal import VerdictJournal
from hydra_plugins.cli import main as hydra_main
from tests.conftest import needs_data
from tests.fakes_llm import FakeAnthropic
from tests.fakes_news import NEWS_CSV, needs_news

AT = "2022-05-12T06:00"


@needs_data
@needs_news
def test_scan_writes_a_verdict_for_every_pair_from_news_known_by_then(tmp_path, monkeypatch, capsys):
    store, journal = tmp_path / "intel.sqlite", tmp_path / "llm.sqlite"
    assert hydra_main(["news", "import", str(NEWS_CSV), "--store", str(store)]) == 0
    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("LLM_MODEL", "claude-sonnet-4-6")
        fake.script.extend(["malformed", ("verdict", {"action": "bearish", "confidence": 0.8, "horizon_hours": 6,
                                                      "reasons": ["LUNA contagion"], "article_ids": []})])  # fmt: skip
        args = ["llm", "scan", "--once", "--at", AT, "--store", str(store), "--journal", str(journal)]
        assert hydra_main(args) == 0
    out = capsys.readouterr().out
    pairs = ["BTC", "ETH", "SOL", "BNB", "ADA", "XRP", "LTC", "DOGE"]
    lines = {p: next(line for line in out.splitlines() if line.startswith(f"{p}/USDT:USDT")) for p in pairs}
    assert "neutral" in lines["BTC"] and "out of schema" in lines["BTC"]  # the malformed answer: the default
    assert "bearish" in lines["ETH"] and "LUNA contagion" in lines["ETH"]
    assert len(fake.calls) == sum(" 0  " not in lines[p] for p in pairs)  # pairs without news cost nothing
    first = json.loads(fake.calls[0].messages[0]["content"].split("\n", 1)[1])
    assert first["market_context"]["as_of"] == "2022-05-12T06:00:00+00:00" and first["market_context"]["price"]
    assert all(a["published"] <= "2022-05-12 05:55 UTC" for a in first["articles"])  # known 5 min later, by 06:00
    saved = VerdictJournal(journal, readonly=True)
    soon = datetime(2022, 5, 12, 6, 1, tzinfo=UTC)
    assert all(saved.verdict_at(p, soon) is not None for p in pairs)  # every pair has one in force
    assert all(saved.verdict_at(p, soon + timedelta(hours=1)) is None for p in pairs)  # expired after the TTL


@needs_data
@needs_news
def test_backfill_builds_a_journal_over_a_past_span(tmp_path, monkeypatch, capsys):
    store, journal = tmp_path / "intel.sqlite", tmp_path / "llm.sqlite"
    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("LLM_MODEL", "claude-sonnet-4-6")
        span = ["--from", "2022-05-12T00:00", "--to", "2022-05-12T02:00"]
        files = ["--store", str(store), "--journal", str(journal)]
        args = ["llm", "backfill", "--news", str(NEWS_CSV), *span, "--pairs", "BTC/USDT:USDT", "SOL/USDT:USDT", *files]
        assert hydra_main(args) == 0
    out = capsys.readouterr().out
    assert "4 passes from 2022-05-12 00:00 to 2022-05-12 02:00 over 2 pairs" in out and "estimated cost" in out
    saved = VerdictJournal(journal, readonly=True)
    for minute in (1, 31, 61, 91):
        at = datetime(2022, 5, 12, tzinfo=UTC) + timedelta(minutes=minute)
        assert saved.verdict_at("BTC", at) is not None and saved.verdict_at("SOL", at) is not None
    assert len(fake.calls) >= 4  # BTC has news in every pass


def test_run_refuses_while_the_analyst_is_off(capsys):
    assert hydra_main(["llm", "run"]) == 2
    assert "news analyst is off" in capsys.readouterr().err
