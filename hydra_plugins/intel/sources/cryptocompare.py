"""CryptoCompare's news API (now CoinDesk Data's legacy "min-api"): the analyst's live news source.

``GET {base}/data/v2/news/?lang=EN[&lTs=<unix s>][&categories=BTC,ETH]`` returns at most 50
articles, newest first, published before ``lTs``; paging walks back with the oldest ``published_on``
seen. The key goes in the ``authorization: Apikey <key>`` header (``CRYPTOCOMPARE_API_KEY``); the
base URL is configurable (``CRYPTOCOMPARE_BASE_URL``), so a proxy or a loopback fake can stand in.
The legacy API reports errors (rate limit, bad key) in an HTTP 200 body with ``"Response": "Error"``.

As every source here: raw response models (what CryptoCompare documents), a client that only does
I/O (an injected ``httpx.Client``), and a pure parse from a response to :class:`NewsArticle` objects.
A malformed article is logged and skipped; an error answer raises ``IntelUnavailable`` naming it.
The key never appears in a message or a log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hydra_plugins.core.errors import IntelUnavailable
from hydra_plugins.intel.news import NewsArticle, with_pairs
from hydra_plugins.intel.sources.http import get_json

logger = logging.getLogger(__name__)

SOURCE = "cryptocompare"
BASE_URL = "https://min-api.cryptocompare.com"
NEWS_PATH = "/data/v2/news/"
PAGE_SIZE = 50  # what one answer holds at most


class SourceInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: str = ""


class ArticleRaw(BaseModel):
    """One article as the API documents it (ids and votes arrive as strings)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    published_on: int
    title: str
    url: str = ""
    body: str = ""
    source: str = ""
    tags: str = ""
    categories: str = ""
    source_info: SourceInfo = Field(default_factory=SourceInfo)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split("|") if part.strip())


def parse_news(payload: Any, received_at: datetime, bases: Iterable[str]) -> list[NewsArticle]:
    """Articles from one answer, known from ``received_at`` (never before their publication).

    Raises IntelUnavailable for an error answer; skips (and logs) articles that break the schema.
    """
    if not isinstance(payload, dict):
        raise IntelUnavailable(f"news answer is not an object: {str(payload)[:120]!r}", retryable=True)
    if payload.get("Response") == "Error":
        message = str(payload.get("Message", ""))[:200]
        rate_limited = "rate limit" in message.lower() or payload.get("Type") == 99
        raise IntelUnavailable(f"CryptoCompare news: {message}", retryable=rate_limited)
    data = payload.get("Data")
    if not isinstance(data, list):
        raise IntelUnavailable(f"news answer has no article list (Type {payload.get('Type')!r})", retryable=True)
    bases = tuple(bases)
    articles = []
    for item in data:
        try:
            raw = ArticleRaw.model_validate(item)
            published = datetime.fromtimestamp(raw.published_on, tz=UTC)
            article = NewsArticle(
                source=SOURCE,
                source_id=raw.id,
                published_at=published,
                available_at=max(published, received_at),
                title=raw.title,
                body=raw.body,
                url=raw.url,
                publisher=raw.source_info.name or raw.source,
                categories=_split(raw.categories),
                tags=_split(raw.tags),
            )
        except (ValidationError, ValueError, OverflowError, OSError) as exc:
            ident = item.get("id") if isinstance(item, dict) else None
            logger.warning("skipping malformed CryptoCompare article %r: %s", ident, str(exc).splitlines()[0])
            continue
        articles.append(with_pairs(article, bases))
    return articles


class CryptoCompareNews:
    """The news endpoint; errors become IntelUnavailable (retryable or not)."""

    name = SOURCE

    def __init__(
        self,
        http: httpx.Client,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.http = http
        self._key = api_key if api_key is not None else os.environ.get("CRYPTOCOMPARE_API_KEY", "")
        self.base_url = (base_url or os.environ.get("CRYPTOCOMPARE_BASE_URL") or BASE_URL).rstrip("/")
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never the key
        return f"CryptoCompareNews({self.base_url!r}, key {'set' if self._key else 'missing'})"

    def page(self, before: datetime | None = None, categories: Iterable[str] = ()) -> Any:
        """One answer: up to 50 articles published before ``before`` (the newest when None)."""
        params: dict[str, Any] = {"lang": "EN", "sortOrder": "latest"}
        if before is not None:
            params["lTs"] = int(before.timestamp())
        cats = ",".join(categories)
        if cats:
            params["categories"] = cats
        headers = {"authorization": f"Apikey {self._key}"} if self._key else {}
        return get_json(self.http, self.base_url, NEWS_PATH, params=params, headers=headers, timeout_s=self.timeout_s)

    def fetch(
        self, since: datetime, bases: Iterable[str], *, now: datetime | None = None, max_pages: int = 10
    ) -> list[NewsArticle]:
        """Every article published after ``since``, walking back page by page (at most ``max_pages``).

        Each next page asks for articles before the oldest second seen plus one, so articles sharing
        that second are not lost; the ones seen twice are dropped.
        """
        bases = tuple(bases)
        out: dict[str, NewsArticle] = {}
        before: datetime | None = None
        for _ in range(max_pages):
            payload = self.page(before)
            articles = parse_news(payload, now or datetime.now(UTC), bases)
            for article in articles:
                if article.published_at > since:
                    out.setdefault(article.source_id, article)
            raw_count = len(payload.get("Data") or [])
            if raw_count < PAGE_SIZE or not articles or min(a.published_at for a in articles) <= since:
                break
            oldest = min(a.published_at for a in articles)
            nxt = datetime.fromtimestamp(int(oldest.timestamp()) + 1, tz=UTC)
            if before is not None and nxt >= before:  # one second holds a whole page: step past it
                nxt = oldest
            before = nxt
        else:
            logger.warning("news fetch stopped after %d pages; older articles since %s not read", max_pages, since)
        return sorted(out.values(), key=lambda a: a.published_at)
