"""Historical news from CSV archives, for backtesting the news analyst (``hydra news import``).

Two public layouts are read (those of ``../shared/data/news/``):

* ``cryptonews.csv``: ``date;sentiment;source;subject;text;title;url``, ``;``-separated, minute
  times written day first (``5-7-2022 04:24``, UTC). An article is taken as known ``lag`` after its
  time (default 5 minutes: a live fetch every few minutes would have seen it by then).
* ``crypto_news.csv``: ``title,keyword,url,source_name,source_url,created_at,description_finbert``;
  the times are dates (all at 07:00 UTC), so an article is taken as known only at the end of its day.

The sentiment labels in these files are someone else's model output; HYDRA does not read them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pandas as pd

from hydra_plugins.intel.news import NewsArticle, with_pairs

logger = logging.getLogger(__name__)

MINUTE_LAYOUT = ("date", "source", "subject", "text", "title", "url")
DAY_LAYOUT = ("title", "keyword", "url", "source_name", "created_at")


def _id(url: str, title: str) -> str:
    return hashlib.sha256((url or title).encode()).hexdigest()[:16]


def read_archive(path: Path, bases: Iterable[str], *, lag: timedelta = timedelta(minutes=5)) -> list[NewsArticle]:
    """Articles from one archive file (either layout); rows without a usable time or title are skipped."""
    bases = tuple(bases)
    head = path.read_text(encoding="utf-8", errors="replace").splitlines()[0] if path.stat().st_size else ""
    if all(c in head.split(";") for c in MINUTE_LAYOUT):
        frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
        published = pd.to_datetime(frame["date"], format="%d-%m-%Y %H:%M", utc=True, errors="coerce")
        known = published + lag
        source = f"archive:{path.stem}"
        columns = {"title": "title", "body": "text", "url": "url", "publisher": "source", "tag": "subject"}
    elif all(c in head.split(",") for c in DAY_LAYOUT):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        published = pd.to_datetime(frame["created_at"], utc=True, errors="coerce")
        known = published.dt.normalize() + pd.Timedelta(days=1)  # a date: known once the day is over
        source = f"archive:{path.stem}"
        columns = {"title": "title", "body": None, "url": "url", "publisher": "source_name", "tag": "keyword"}
    else:
        raise ValueError(f"{path}: not a news archive HYDRA reads (header {head[:80]!r})")
    articles, skipped = [], 0
    for i, row in enumerate(frame.itertuples(index=False)):
        values = row._asdict()
        if pd.isna(published.iloc[i]) or not str(values[columns["title"]]).strip():
            skipped += 1
            continue
        url = str(values[columns["url"]])
        article = NewsArticle(
            source=source,
            source_id=_id(url, str(values[columns["title"]])),
            published_at=published.iloc[i].to_pydatetime(),
            available_at=known.iloc[i].to_pydatetime(),
            title=str(values[columns["title"]]).strip(),
            body=str(values[columns["body"]]).strip() if columns["body"] else "",
            url=url,
            publisher=str(values[columns["publisher"]]),
            tags=(str(values[columns["tag"]]),) if values[columns["tag"]] else (),
        )
        articles.append(with_pairs(article, bases))
    if skipped:
        logger.warning("%s: %d rows without a usable time or title skipped", path, skipped)
    return articles
