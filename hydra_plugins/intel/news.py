"""News articles for the LLM news analyst: one shape for every source, mapped to HYDRA's pairs.

An article is known from ``available_at``, when HYDRA could first have read it: the moment a live
fetch saw it, or for an archive the publication time plus the source's stated lag. Only that time
decides what a verdict (and a backtest) may use; ``published_at`` is what the source says.

Pairs come from two places: the source's own coin codes (CryptoCompare's ``categories``, e.g.
``BTC|ETH|Regulation``) and the article's words. A coin's name matches in any case as a whole word
("Bitcoin", "ethereum"); its ticker only in capitals or with a ``$`` ("ETH", "$SOL"), since tickers
such as SOL, ADA or ETH are also ordinary words or name fragments.

A source adapter turns its API's answer into :class:`NewsArticle` objects and nothing else; see
``intel/sources/cryptocompare.py``. Adding a second source means writing one such adapter (its own
``source`` name, its own ids) and registering it in ``commands/news.py``'s ``SOURCES``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Names and tickers per base asset. Names match in any case, tickers in capitals (or after a $).
COIN_WORDS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "BTC": (("bitcoin",), ("BTC", "XBT")),
    "ETH": (("ethereum", "ether"), ("ETH",)),
    "SOL": (("solana",), ("SOL",)),
    "BNB": (("binance coin", "bnb chain", "bnb smart chain"), ("BNB",)),
    "ADA": (("cardano",), ("ADA",)),
    "XRP": (("ripple",), ("XRP",)),
    "LTC": (("litecoin",), ("LTC",)),
    "DOGE": (("dogecoin",), ("DOGE",)),
}


@dataclass(frozen=True)
class NewsArticle:
    """One article as HYDRA keeps it."""

    source: str  # the adapter's name, e.g. "cryptocompare", "archive:cryptonews"
    source_id: str  # the source's own id of the article
    published_at: datetime
    available_at: datetime
    title: str
    body: str = ""
    url: str = ""
    publisher: str = ""  # who wrote it (CoinDesk, CoinTelegraph, ...)
    categories: tuple[str, ...] = ()  # the source's own codes (BTC, ETH, Regulation, ...)
    tags: tuple[str, ...] = ()
    pairs: tuple[str, ...] = field(default=())  # bases it concerns (BTC, ETH, ...), filled by map_pairs

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None or self.available_at.tzinfo is None:
            raise ValueError(f"article {self.source}:{self.source_id} has a naive time")
        if self.available_at < self.published_at:
            raise ValueError(f"article {self.source}:{self.source_id} is known before it was published")
        if not self.title.strip():
            raise ValueError(f"article {self.source}:{self.source_id} has no title")

    @property
    def key(self) -> str:
        """What makes two articles the same story: the normalised URL, else the normalised title."""
        return dedupe_key(self.url, self.title, self.published_at)


TRACKING_PARAMETERS = ("utm_", "fbclid", "gclid", "mc_", "ref", "cmpid")


def normalise_url(url: str) -> str:
    """The URL without fragment, scheme, ``www.``, trailing slash or tracking parameters (others kept, sorted)."""
    parts = urlsplit(url.strip())
    if not parts.netloc:
        return ""
    host = parts.netloc.lower().removeprefix("www.")
    kept = sorted((k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith(TRACKING_PARAMETERS))
    return urlunsplit(("https", host, parts.path.rstrip("/"), urlencode(kept), ""))


def dedupe_key(url: str, title: str, published: datetime) -> str:
    """The same URL, or without one the same title on the same day, is the same story."""
    words = " ".join(re.findall(r"[a-z0-9]+", title.lower()))
    basis = normalise_url(url) or f"title:{published:%Y-%m-%d}:{words}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


# Names that are other coins' names when followed by these words (Bitcoin Cash is not Bitcoin).
OTHER_COINS: Mapping[str, tuple[str, ...]] = {"bitcoin": ("cash", "sv", "gold"), "ethereum": ("classic", "pow")}


def _pattern(names: Iterable[str], tickers: Iterable[str]) -> re.Pattern[str]:
    def name(n: str) -> str:
        others = OTHER_COINS.get(n)
        unless = rf"(?!\s+(?:{'|'.join(others)})\b)" if others else ""
        return rf"(?i:\b{re.escape(n)}\b{unless})"

    words = [name(n) for n in names]
    codes = [rf"(?<![\w$])\$?{re.escape(t)}\b" for t in tickers]
    return re.compile("|".join([*words, *codes]))


_PATTERNS = {base: _pattern(names, tickers) for base, (names, tickers) in COIN_WORDS.items()}


def map_pairs(title: str, body: str, categories: Iterable[str], bases: Iterable[str]) -> tuple[str, ...]:
    """Return the bases (of ``bases``) an article concerns, by the source's codes and by its words."""
    codes = {c.strip().upper() for c in categories}
    text = f"{title}\n{body}"
    found = []
    for base in bases:
        pattern = _PATTERNS.get(base) or _pattern((), (base,))
        if base in codes or pattern.search(text):
            found.append(base)
    return tuple(found)


def with_pairs(article: NewsArticle, bases: Iterable[str]) -> NewsArticle:
    """``article`` with its pairs mapped."""
    return replace(article, pairs=map_pairs(article.title, article.body, article.categories, bases))


def dedupe(articles: Iterable[NewsArticle]) -> list[NewsArticle]:
    """Keep the first-known copy of each story (by :attr:`NewsArticle.key`), in order of availability."""
    seen: dict[str, NewsArticle] = {}
    for article in sorted(articles, key=lambda a: (a.available_at, a.published_at)):
        seen.setdefault(article.key, article)
    return list(seen.values())
