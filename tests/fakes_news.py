"""A loopback fake of CryptoCompare's legacy news API (min-api ``GET /data/v2/news/``), serving real headlines.

The articles are the rows of ``cryptonews.csv`` under the shared data root (7,524 headlines from CoinTelegraph,
CryptoNews and CryptoPotato, 2021-10-12 to 2022-07-05), read at runtime and never copied into the repo. Rows
without a url or a title are dropped: a real article always has both. Each row becomes a CryptoCompare ARTICLE:

* ``id``: digits of a hash of the url (stable across runs), ``guid`` and ``url``: the url
* ``published_on``: the row's date (day-first, UTC) in unix seconds
* ``title``, ``body`` (the ``text`` column), ``tags`` (the ``subject`` column)
* ``source``: the source lower-cased without spaces, ``source_info.name``: the source as written
* ``categories``: CryptoCompare assigns categories itself; this fake approximates it by naming the coin codes
  BTC, ETH, SOL, BNB, ADA, XRP, LTC, DOGE whose name or ticker appears in the title or text, plus ``Market``
  for every article, pipe-separated. ``imageurl`` and ``source_info.img`` are empty: the data has no images.

The fake answers as the real API does: a key is required (header ``authorization: Apikey <key>`` or query
param ``api_key``), errors come back as HTTP 200 with ``"Response": "Error"``, a page holds at most 50 articles,
newest first, and ``lTs`` keeps only articles published strictly before it. Only articles published at or
before ``now`` exist. ``categories`` keeps articles having any listed code, ``excludeCategories`` drops them,
and ``lang`` (default EN) must match. Only ``sortOrder=latest`` is modelled.

Faults can be queued per path: "rate_limit" (the Type 99 error body, HTTP 200), "429" (HTTP 429, Retry-After: 1,
the Type 99 body), "500", "garbage" (not JSON), "timeout" (answers after a 0.5 s client gave up), "malformed"
(a success body where one article lacks ``published_on`` and another has ``published_on: "yesterday"``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from tests.conftest import data_root
from tests.fakes import LoopbackServer, send

NEWS_CSV = data_root() / "news" / "cryptonews.csv"
NEWS_PATH = "/data/v2/news/"
PAGE_SIZE = 50
FAULTS = ("rate_limit", "429", "500", "garbage", "timeout", "malformed")

needs_news = pytest.mark.skipif(not NEWS_CSV.exists(), reason=f"news headlines not found at {NEWS_CSV}")

# Names match case-insensitively, tickers only in capitals, so "sol" or "ada" in prose are not coins.
COIN_PATTERNS = {
    "BTC": r"(?i:\bbitcoin\b(?!\s+(?:cash|sv)\b))|\bBTC\b",
    "ETH": r"(?i:\bethereum\b(?!\s+classic\b)|\bether\b)|\bETH\b",
    "SOL": r"(?i:\bsolana\b)|\bSOL\b",
    "BNB": r"(?i:\bbinance\s+coin\b)|\bBNB\b",
    "ADA": r"(?i:\bcardano\b)|\bADA\b",
    "XRP": r"(?i:\bripple\b)|\bXRP\b",
    "LTC": r"(?i:\blitecoin\b)|\bLTC\b",
    "DOGE": r"(?i:\bdogecoin\b)|\bDOGE\b",
}

RATE_LIMIT_BODY = {
    "Response": "Error",
    "Message": "You are over your rate limit please upgrade your account!",
    "HasWarning": False,
    "Type": 99,
    "RateLimit": {
        "calls_made": {"second": 1, "minute": 1, "hour": 1, "day": 1, "month": 100_001, "total_calls": 100_001},
        "max_calls": {"second": 20, "minute": 300, "hour": 3000, "day": 7500, "month": 100_000},
    },
    "Data": {},
}
AUTH_ERROR_BODY = {
    "Response": "Error",
    "Message": "You need a valid auth key or api key to access this endpoint",
    "HasWarning": False,
    "Type": 1,
    "RateLimit": {},
    "Data": {},
}


class Call(NamedTuple):
    """One request the fake saw; ``auth`` is "header", "param" or None, never the key itself."""

    path: str
    params: dict[str, str]
    auth: str | None


def _article_id(url: str) -> str:
    return str(int(hashlib.sha256(url.encode()).hexdigest()[:12], 16))


def _categories(frame: pd.DataFrame) -> list[str]:
    text = frame["title"] + " " + frame["text"]
    named = {code: text.str.contains(pattern, regex=True).to_numpy() for code, pattern in COIN_PATTERNS.items()}
    return ["|".join([*(code for code, hits in named.items() if hits[i]), "Market"]) for i in range(len(frame))]


def load_articles(path: Path = NEWS_CSV) -> tuple[dict, ...]:
    """Return the headlines in ``path`` as CryptoCompare ARTICLE dicts, newest first (read once per process)."""
    return _load_articles(Path(path).resolve())


@functools.cache
def _load_articles(path: Path) -> tuple[dict, ...]:
    frame = pd.read_csv(path, sep=";").dropna(subset=["url", "title"]).drop_duplicates("url")
    frame["text"] = frame["text"].fillna("")
    published = pd.to_datetime(frame["date"], format="%d-%m-%Y %H:%M", utc=True).dt.as_unit("s")
    frame["published_on"] = published.astype("int64")
    frame["categories"] = _categories(frame)
    articles = [
        {
            "id": _article_id(row.url),
            "guid": row.url,
            "published_on": int(row.published_on),
            "imageurl": "",
            "title": row.title,
            "url": row.url,
            "source": row.source.lower().replace(" ", ""),
            "body": row.text,
            "tags": row.subject,
            "categories": row.categories,
            "upvotes": "0",
            "downvotes": "0",
            "lang": "EN",
            "source_info": {"name": row.source, "lang": "EN", "img": ""},
        }
        for row in frame.itertuples(index=False)
    ]
    assert len({a["id"] for a in articles}) == len(articles), "article ids collide"
    return tuple(_newest_first(articles))


def _newest_first(articles):
    return sorted(articles, key=lambda a: (a["published_on"], a["id"]), reverse=True)


def _codes(value: str | None) -> set[str]:
    return {c.strip().upper() for c in (value or "").replace("|", ",").split(",") if c.strip()}


class FakeCryptoCompare(LoopbackServer):
    """Serve the news API on a free loopback port; use as a context manager."""

    def __init__(self, api_key: str = "test-key", now: int = 1_656_979_200, csv_path: Path = NEWS_CSV):
        super().__init__(_Handler)
        self.api_key = api_key
        self.now = now  # unix s; articles published after it do not exist yet
        self.articles = load_articles(csv_path)
        self.injected: list[dict] = []  # extra ARTICLE dicts, merged in by published_on
        self.calls: list[Call] = []
        self.timeout_sleep_s = 1.0

    def visible(self) -> list[dict]:
        """Return every article published at or before ``now``, injected ones included, newest first."""
        merged = [a for a in (*self.articles, *self.injected) if a.get("published_on", 0) <= self.now]
        return _newest_first(merged)

    def news(self, params: dict[str, str]) -> dict:
        """Return the body the real API gives for one authenticated news request."""
        if "lTs" in params and not params["lTs"].lstrip("-").isdigit():
            return {**AUTH_ERROR_BODY, "Type": 2, "Message": "lTs must be a unix timestamp in seconds"}
        before = int(params["lTs"]) if "lTs" in params else None
        wanted, unwanted = _codes(params.get("categories")), _codes(params.get("excludeCategories"))
        lang = params.get("lang", "EN").upper()
        page = []
        for article in self.visible():
            if before is not None and article["published_on"] >= before:
                continue
            codes = _codes(article.get("categories"))
            if (wanted and not wanted & codes) or unwanted & codes or article.get("lang", "EN").upper() != lang:
                continue
            page.append(article)
            if len(page) == PAGE_SIZE:
                break
        return {
            "Type": 100,
            "Message": "News list successfully returned",
            "Promoted": [],
            "Data": page,
            "RateLimit": {},
            "HasWarning": False,
        }

    def handle_error(self, request, client_address):
        pass  # a client that gave up (the "timeout" fault) leaves a broken pipe behind


class _Handler(BaseHTTPRequestHandler):
    server: FakeCryptoCompare

    def do_GET(self):
        split = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(split.query).items()}
        header = self.headers.get("authorization", "")
        scheme, _, header_key = header.partition(" ")
        header_key = header_key.strip() if scheme.lower() == "apikey" else ""
        param_key = params.pop("api_key", "")
        auth = "header" if header_key else "param" if param_key else None
        self.server.calls.append(Call(split.path, dict(params), auth))

        queue = self.server.faults[split.path]
        fault = queue.popleft() if queue else None
        if fault == "timeout":
            time.sleep(self.server.timeout_sleep_s)
        status, headers = 200, {"Content-Type": "application/json; charset=UTF-8"}
        if fault == "rate_limit":
            body = json.dumps(RATE_LIMIT_BODY)
        elif fault == "429":
            status, body = 429, json.dumps(RATE_LIMIT_BODY)
            headers["Retry-After"] = "1"
        elif fault == "500":
            status, body = 500, "<html><body><h1>500 Internal Server Error</h1></body></html>"
            headers["Content-Type"] = "text/html"
        elif fault == "garbage":
            body = '{"Type": 100, "Message": "News list succ'
        elif split.path.rstrip("/") != NEWS_PATH.rstrip("/"):
            status, body = 404, json.dumps({**AUTH_ERROR_BODY, "Type": 2, "Message": f"Path {split.path} not found"})
        elif (header_key or param_key) != self.server.api_key:
            body = json.dumps(AUTH_ERROR_BODY)
        else:
            answer = self.server.news(params)
            if fault == "malformed" and answer.get("Type") == 100:
                data = [dict(a) for a in answer["Data"]]
                if data:
                    del data[0]["published_on"]
                if len(data) > 1:
                    data[1]["published_on"] = "yesterday"
                answer = {**answer, "Data": data}
            body = json.dumps(answer)
        send(self, status, headers, body)

    def log_message(self, *args):
        pass
