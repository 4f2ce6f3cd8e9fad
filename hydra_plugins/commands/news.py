"""``hydra news``: the news the analyst reads, fetched live or imported from archives, in the intel store.

hydra news fetch [--hours 24] [--max-pages 10]     the latest articles from CryptoCompare (needs its key)
hydra news import FILE [FILE ...] [--lag-minutes 5] history from CSV archives (../shared/data/news/)
hydra news show [--pair BTC] [--last 10] [--at TIME] what a pair's analyst would have read at TIME

A second live source is one adapter (see ``intel/news.py``) registered in ``SOURCES`` below.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd

from hydra_plugins.commands import DEFAULT_STORE
from hydra_plugins.core.config import SEED_ASSETS
from hydra_plugins.intel.news import NewsArticle, dedupe
from hydra_plugins.intel.sources.cryptocompare import CryptoCompareNews
from hydra_plugins.intel.sources.news_archive import read_archive
from hydra_plugins.intel.store import IntelStore

logger = logging.getLogger(__name__)

SOURCES = {"cryptocompare": CryptoCompareNews}  # live sources by name: each fetch(since, bases, ...)


def _bases(args: argparse.Namespace) -> list[str]:
    return [p.split("/", 1)[0].upper() for p in args.pairs] if args.pairs else list(SEED_ASSETS)


def cmd_fetch(args: argparse.Namespace) -> int:
    store = IntelStore(Path(args.store))
    now = datetime.now(UTC)
    since = pd.Timestamp(args.since, tz="UTC").to_pydatetime() if args.since else now - timedelta(hours=args.hours)
    with httpx.Client(headers={"User-Agent": "hydra-plugins"}) as http:
        source = SOURCES[args.source](http, timeout_s=args.timeout)
        articles = source.fetch(since, _bases(args), max_pages=args.max_pages)
    added = store.write_news(dedupe(articles))
    print(f"{source.name}: {len(articles)} articles since {since:%Y-%m-%d %H:%M} UTC, {added} new in {store.path}")
    _print_pairs(articles)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    store = IntelStore(Path(args.store))
    total = 0
    for name in args.files:
        articles = read_archive(Path(name), _bases(args), lag=timedelta(minutes=args.lag_minutes))
        added = store.write_news(dedupe(articles))
        total += added
        span = f"{min(a.published_at for a in articles):%Y-%m-%d} → {max(a.published_at for a in articles):%Y-%m-%d}"
        print(f"{name}: {len(articles)} articles ({span if articles else 'none'}), {added} new")
        _print_pairs(articles)
    print(f"{total} new stories in {store.path}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    path = Path(args.store)
    if not path.is_file():
        raise FileNotFoundError(f"no intel store at {path}; run hydra news fetch or hydra news import first")
    at = pd.Timestamp(args.at, tz="UTC").to_pydatetime() if args.at else None
    base = args.pair.split("/", 1)[0].upper() if args.pair else None
    articles = IntelStore(path, readonly=True).read_news(base, known_by=at, limit=args.last)
    on = f" on {base}" if base else ""
    when = f" known by {at:%Y-%m-%d %H:%M} UTC" if at else ""
    print(f"{len(articles)} newest stories{on}{when}:")
    for a in articles:
        print(f"  {a.available_at:%Y-%m-%d %H:%M}  [{','.join(a.pairs) or '-'}] {a.title}  ({a.publisher or a.source})")
    return 0


def _print_pairs(articles: list[NewsArticle]) -> None:
    counts = Counter(p for a in articles for p in a.pairs)
    if counts:
        print("  by pair: " + ", ".join(f"{b} {n}" for b, n in counts.most_common()))


def add_parser(groups: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``hydra news`` and its actions to the CLI's subcommand ``groups``."""
    n = groups.add_parser("news", help="news for the analyst: fetch (CryptoCompare), import archives, show")
    sub = n.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", default=DEFAULT_STORE, help=f"the intel store (default {DEFAULT_STORE})")
        p.add_argument("--pairs", nargs="+", help="pairs or bases to map articles to (default the 8 of the seed)")

    p = sub.add_parser("fetch", help="fetch the latest articles (CRYPTOCOMPARE_API_KEY, CRYPTOCOMPARE_BASE_URL)")
    common(p)
    p.add_argument("--source", choices=sorted(SOURCES), default="cryptocompare")
    p.add_argument("--hours", type=float, default=24.0, help="how far back (default 24)")
    p.add_argument("--since", help="back to this UTC time instead, e.g. 2026-11-01 (at most --max-pages pages)")
    p.add_argument("--max-pages", type=int, default=10, help="pages of 50 at most (default 10)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per call (default 10)")
    p.set_defaults(func=cmd_fetch)
    p = sub.add_parser("import", help="import CSV news archives (e.g. ../shared/data/news/*.csv)")
    common(p)
    p.add_argument("files", nargs="+")
    p.add_argument("--lag-minutes", type=float, default=5.0, help="minute-stamped articles known this much later")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("show", help="the newest stories (on a pair, as known at a time)")
    common(p)
    p.add_argument("--pair", help="BTC or BTC/USDT:USDT")
    p.add_argument("--last", type=int, default=10)
    p.add_argument("--at", help="as known at this UTC time, e.g. 2022-05-12T06:00")
    p.set_defaults(func=cmd_show)
    return n
