"""News for the analyst: pair mapping, dedupe, the CryptoCompare parse, the store, the archives."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from hydra_plugins.core.errors import IntelUnavailable
from hydra_plugins.intel.news import NewsArticle, dedupe, map_pairs, normalise_url, with_pairs
from hydra_plugins.intel.sources.cryptocompare import parse_news
from hydra_plugins.intel.sources.news_archive import read_archive
from hydra_plugins.intel.store import IntelStore
from tests.fakes_news import NEWS_CSV, needs_news

BASES = ("BTC", "ETH", "SOL", "BNB", "ADA", "XRP", "LTC", "DOGE")
T = datetime(2022, 5, 12, 4, 0, tzinfo=UTC)
NEWS = NEWS_CSV.parent


@pytest.mark.parametrize(
    ("title", "body", "categories", "pairs"),
    [
        ("Bitcoin slides below $29K", "", (), ("BTC",)),
        ("ETH and $SOL rally", "", (), ("ETH", "SOL")),
        ("Solana outage", "Cardano's founder comments", (), ("SOL", "ADA")),
        ("A sol-ar panel company and Ada Lovelace", "the eth-ical question", (), ()),  # not tickers
        ("Regulation news", "", ("BTC", "Regulation"), ("BTC",)),  # the source's own codes
        ("Ripple wins against the SEC", "XRP jumps", (), ("XRP",)),
        ("Bitcoin Cash and Ethereum Classic fork", "", (), ()),  # other coins' names
        ("BNB Chain upgrade; Dogecoin and LTC", "", (), ("BNB", "LTC", "DOGE")),
    ],
)
def test_articles_map_to_pairs_by_codes_names_and_capital_tickers(title, body, categories, pairs):
    assert map_pairs(title, body, categories, BASES) == pairs


def article(title="Bitcoin falls", url="https://coindesk.com/a", minutes=0, source="cryptocompare", sid="1"):
    when = T + timedelta(minutes=minutes)
    return with_pairs(NewsArticle(source, sid, when, when + timedelta(minutes=1), title, url=url), BASES)


def test_the_same_story_from_two_places_is_kept_once_first_known_first():
    first = article(url="https://www.CoinDesk.com/a/?utm_source=cryptocompare", minutes=0)
    again = article(url="https://coindesk.com/a", minutes=5, source="archive:x", sid="9")
    other = article(title="Ethereum rises", url="https://coindesk.com/b", minutes=1)
    assert normalise_url(first.url) == normalise_url(again.url) == "https://coindesk.com/a"
    assert normalise_url("https://x.test/news.php?id=2&utm_medium=rss") == "https://x.test/news.php?id=2"
    assert normalise_url("https://x.test/news.php?id=1") != normalise_url("https://x.test/news.php?id=2")
    assert dedupe([again, other, first]) == [first, other]
    no_url = [article(title="Bitcoin: falls!", url=""), article(title="bitcoin falls", url="", minutes=3)]
    assert len(dedupe(no_url)) == 1


def test_an_article_is_never_known_before_it_was_published():
    with pytest.raises(ValueError, match="known before it was published"):
        NewsArticle("x", "1", T, T - timedelta(seconds=1), "Bitcoin")
    with pytest.raises(ValueError, match="naive"):
        NewsArticle("x", "1", T.replace(tzinfo=None), T.replace(tzinfo=None), "Bitcoin")


def raw(id_, published_on, title="Bitcoin falls", categories="BTC|Market", **extra):
    return {
        "id": id_, "guid": f"https://x.test/{id_}", "published_on": published_on, "title": title,
        "url": f"https://x.test/{id_}", "source": "coindesk", "body": "text", "tags": "Markets|Bitcoin",
        "categories": categories, "upvotes": "0", "downvotes": "0", "lang": "EN",
        "source_info": {"name": "CoinDesk", "lang": "EN", "img": ""}, **extra,
    }  # fmt: skip


def test_parse_news_reads_the_documented_shape_and_skips_broken_articles(caplog):
    received = T + timedelta(minutes=3)
    payload = {
        "Type": 100, "Message": "News list successfully returned", "Promoted": [], "HasWarning": False,
        "Data": [raw("2", int(T.timestamp()), title="Solana down", categories="Altcoin"),
                 {"id": "3", "title": "no time"}, raw("4", "yesterday")],
    }  # fmt: skip
    with caplog.at_level(logging.WARNING):
        articles = parse_news(payload, received, BASES)
    [a] = articles
    assert (a.source_id, a.published_at, a.available_at) == ("2", T, received)
    assert a.pairs == ("SOL",) and a.categories == ("Altcoin",) and a.tags == ("Markets", "Bitcoin")
    assert a.publisher == "CoinDesk" and caplog.text.count("skipping malformed") == 2
    future = parse_news({"Data": [raw("5", int((T + timedelta(hours=1)).timestamp()))]}, received, BASES)
    assert future[0].available_at == future[0].published_at  # a clock behind the source's: never before


@pytest.mark.parametrize(
    ("payload", "retryable"),
    [
        ({"Response": "Error", "Message": "You are over your rate limit please upgrade your account!", "Type": 99},
         True),
        ({"Response": "Error", "Message": "You need a valid auth key or api key to access this endpoint", "Type": 1},
         False),
        ({"Type": 100, "Data": {}}, True),
        ("<html>", True),
    ],
)  # fmt: skip
def test_parse_news_raises_naming_an_error_answer(payload, retryable):
    with pytest.raises(IntelUnavailable) as info:
        parse_news(payload, T, BASES)
    assert info.value.retryable is retryable


def test_the_store_keeps_the_first_known_copy_and_answers_point_in_time(tmp_path):
    store = IntelStore(tmp_path / "intel.sqlite")
    early = article(title="Bitcoin and ETH fall", minutes=0)
    late = article(title="Solana halts", url="https://x.test/sol", minutes=30, sid="2")
    copy = article(title="Bitcoin and ETH fall", minutes=10, source="archive:x", sid="3")
    assert store.write_news([early, late]) == 2
    assert store.write_news([copy]) == 0
    assert [a.title for a in store.read_news("ETH")] == ["Bitcoin and ETH fall"]
    assert store.read_news("ETH")[0].available_at == early.available_at  # never rewritten later
    assert [a.title for a in store.read_news(known_by=T + timedelta(minutes=5))] == ["Bitcoin and ETH fall"]
    assert [a.title for a in store.read_news()] == ["Solana halts", "Bitcoin and ETH fall"]  # newest first
    assert store.read_news("SOL", known_by=T + timedelta(minutes=30)) == []  # known a minute after publication
    assert store.read_news("SOL")[0] == late
    assert IntelStore(tmp_path / "intel.sqlite", readonly=True).read_news("BTC", limit=1)[0] == early


@needs_news
def test_the_shared_archives_import_with_honest_availability():
    minute = read_archive(NEWS / "cryptonews.csv", BASES)
    assert len(minute) > 7_000
    assert all(a.available_at - a.published_at == timedelta(minutes=5) for a in minute)
    day = read_archive(NEWS / "crypto_news.csv", BASES)
    assert len(day) > 2_500
    assert all(a.available_at.hour == 0 and a.available_at > a.published_at for a in day)  # the day's end
    assert sum("BTC" in a.pairs for a in minute) > 1_000
