"""One pass of the news analyst over the pairs, and the thread that repeats it beside a running bot.

A pass reads each pair's news known by ``now`` from the intel store (the newest ``max_articles``
within ``news_lookback_hours``), takes its market context from a caller (the bot's analysed
candles, or the data folder for ``hydra llm``), and asks the analyst, which journals everything.
The thread runs passes every ``every_minutes`` and never touches a Freqtrade callback: the strategy
only reads the journal. A pass that fails is logged and the next one runs on time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hydra_plugins.alpha.news_analyst import NewsAnalyst
from hydra_plugins.alpha.news_prompt import MarketContext
from hydra_plugins.alpha.news_verdict import Verdict
from hydra_plugins.intel.store import IntelStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanRow:
    pair: str
    verdict: Verdict
    articles: int


class NewsScanner:
    """Runs the analyst over pairs at a moment."""

    def __init__(self, analyst: NewsAnalyst, store: IntelStore | None) -> None:
        self.analyst = analyst
        self.store = store

    def scan(self, now: datetime, contexts: Mapping[str, MarketContext]) -> list[ScanRow]:
        cfg = self.analyst.cfg
        since = now - timedelta(hours=cfg.news_lookback_hours)
        rows = []
        for pair, context in contexts.items():
            base = pair.split("/", 1)[0]
            try:
                news = (
                    self.store.read_news(base, known_by=now, since=since, limit=cfg.max_articles)
                    if self.store is not None
                    else []
                )
                rows.append(ScanRow(pair, self.analyst.analyse(base, context, news, now), len(news)))
            except Exception as exc:  # one pair's failure is that pair's default; the pass goes on
                logger.exception("HYDRA news analyst failed on %s", pair)
                rows.append(ScanRow(pair, self.analyst.failed(base, f"pass failed: {type(exc).__name__}", now), 0))
        return rows


def render(rows: Sequence[ScanRow], now: datetime, model: str) -> str:
    lines = [
        f"News analyst verdicts at {now:%Y-%m-%d %H:%M} UTC (model {model}):",
        f"{'pair':<16} {'verdict':<8} {'conf':>5} {'news':>4}  {'until':<16} reasons",
    ]
    for r in rows:
        v = r.verdict
        until = f"{v.expires_at:%Y-%m-%d %H:%M}"
        lines.append(
            f"{r.pair:<16} {v.action:<8} {v.confidence:>5.2f} {r.articles:>4}  {until:<16} {'; '.join(v.reasons)[:90]}"
        )
    return "\n".join(lines)


class AnalystThread(threading.Thread):
    """Repeats a pass every ``every_minutes`` until stopped (a daemon: it never holds the bot up)."""

    def __init__(
        self,
        scanner: NewsScanner,
        contexts: Callable[[], Mapping[str, MarketContext]],
        every: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_news: Callable[[datetime], None] | None = None,
    ) -> None:
        super().__init__(name="hydra-news-analyst", daemon=True)
        self.scanner = scanner
        self.contexts = contexts
        self.every = every
        self.clock = clock
        self.refresh_news = refresh_news
        self.stopped = threading.Event()
        self.passes = 0

    def run(self) -> None:
        while not self.stopped.is_set():
            if self.refresh_news is not None:
                try:
                    self.refresh_news(self.clock())
                except Exception:  # stale news is still news: the pass goes on with what is stored
                    logger.exception("HYDRA news fetch failed; the analyst reads the news already stored")
            try:
                rows = self.scanner.scan(self.clock(), self.contexts())  # after the fetch: its news is known
                logger.info(
                    "HYDRA news analyst pass: %s",
                    ", ".join(f"{r.pair.split('/')[0]} {r.verdict.action}" for r in rows) or "no pairs",
                )
            except Exception:
                logger.exception("HYDRA news analyst pass failed; the next one runs on time")
            self.passes += 1
            self.stopped.wait(self.every.total_seconds())

    def stop(self) -> None:
        self.stopped.set()
