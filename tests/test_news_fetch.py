"""`hydra news fetch` against a loopback CryptoCompare serving real headlines: paging, faults, the key kept out."""

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hydra_plugins.cli import main as hydra_main
from hydra_plugins.core.errors import IntelUnavailable
from hydra_plugins.intel.sources.cryptocompare import CryptoCompareNews
from hydra_plugins.intel.store import IntelStore
from tests.fakes_news import NEWS_PATH, FakeCryptoCompare, needs_news

pytestmark = needs_news
BASES = ("BTC", "ETH", "SOL", "BNB", "ADA", "XRP", "LTC", "DOGE")
NOW = datetime(2022, 7, 5, tzinfo=UTC)


def client(fake, key="test-key", timeout_s=5.0):
    return CryptoCompareNews(httpx.Client(), api_key=key, base_url=fake.url, timeout_s=timeout_s)


def test_fetch_walks_back_every_page_and_loses_no_article_sharing_a_second():
    with FakeCryptoCompare() as fake:
        since = NOW - timedelta(days=6)
        got = client(fake).fetch(since, BASES, now=NOW, max_pages=20)
        expected = {a["id"] for a in fake.visible() if a["published_on"] > since.timestamp()}
        assert len(expected) > 150  # several pages
        assert {a.source_id for a in got} == expected
        assert all(c.auth == "header" for c in fake.calls)  # the key in the header, as documented
        assert all(a.available_at >= a.published_at for a in got)
        assert sum("BTC" in a.pairs for a in got) > 20


def test_error_answers_are_named_and_say_whether_to_retry():
    with FakeCryptoCompare() as fake:
        fake.faults[NEWS_PATH].extend(["rate_limit", "429", "500", "garbage"])
        for message in ("rate limit", "HTTP 429", "HTTP 500", "not JSON"):
            with pytest.raises(IntelUnavailable, match=message) as info:
                client(fake).fetch(NOW - timedelta(hours=1), BASES, now=NOW)
            assert info.value.retryable
        assert fake.calls[1].params.get("lang") == "EN"
        with pytest.raises(IntelUnavailable, match="valid auth key") as info:
            client(fake, key="wrong").fetch(NOW - timedelta(hours=1), BASES, now=NOW)
        assert not info.value.retryable
        fake.faults[NEWS_PATH].append("timeout")
        with pytest.raises(IntelUnavailable, match="Timeout"):
            client(fake, timeout_s=0.3).page()


def test_malformed_articles_are_skipped_not_fatal(caplog):
    with FakeCryptoCompare() as fake:
        fake.faults[NEWS_PATH].append("malformed")
        with caplog.at_level(logging.WARNING):
            got = client(fake).fetch(NOW - timedelta(hours=12), BASES, now=NOW, max_pages=1)
        assert got and caplog.text.count("skipping malformed CryptoCompare article") == 2


def test_the_command_stores_what_it_fetched_and_never_shows_the_key(tmp_path, monkeypatch, capsys, caplog):
    store = tmp_path / "intel.sqlite"
    with FakeCryptoCompare(api_key="s3cret-key-123") as fake:
        monkeypatch.setenv("CRYPTOCOMPARE_BASE_URL", fake.url)
        monkeypatch.setenv("CRYPTOCOMPARE_API_KEY", "s3cret-key-123")
        args = ["news", "fetch", "--store", str(store), "--since", "2022-07-03"]
        with caplog.at_level(logging.DEBUG):
            assert hydra_main(args) == 0
            out = capsys.readouterr().out
            assert "new in" in out and "by pair: BTC" in out
            assert hydra_main(args) == 0  # the same articles again: nothing new
            assert ", 0 new in" in capsys.readouterr().out
        monkeypatch.setenv("CRYPTOCOMPARE_API_KEY", "wrong")
        assert hydra_main(args) == 2
        err = capsys.readouterr().err
        assert "valid auth key" in err
    assert "s3cret" not in out + err + caplog.text
    stored = IntelStore(store, readonly=True).read_news()
    assert len(stored) > 50 and all(a.source == "cryptocompare" for a in stored)
