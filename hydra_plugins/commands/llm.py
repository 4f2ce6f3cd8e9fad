"""``hydra llm``: the news analyst outside the bot.

hydra llm scan --once [--at TIME]           one verdict per pair, now or as of a past moment
hydra llm run                               a pass every every_minutes until stopped (docker-compose service)
hydra llm backfill --from A --to B [--news FILE ...]   passes over a past span: a journal to backtest with

For each pair: its newest candles (Freqtrade's data folder) through HYDRA's L1/L2 give the market
context of the newest closed candle; the intel store gives the news known by then (``hydra news``);
the analyst asks the model (``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``, ``LLM_MODEL``) and writes
every request and verdict to the journal. It prints the verdict table.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from hydra_plugins.commands import DEFAULT_CONFIG, DEFAULT_STORE, default_data_root
from hydra_plugins.core.errors import HydraError

logger = logging.getLogger(__name__)

DEFAULT_JOURNAL = "user_data/hydra/llm_journal.sqlite"


class _Setup:
    """What every ``hydra llm`` action needs: the config, the store, the data, the pipeline, the analyst."""

    def __init__(self, args: argparse.Namespace, *, write_news: bool = False) -> None:
        from freqtrade.configuration.load_config import load_from_files

        from hydra_plugins.alpha.news_analyst import NewsAnalyst
        from hydra_plugins.alpha.news_scan import NewsScanner
        from hydra_plugins.alpha.verdict_journal import VerdictJournal
        from hydra_plugins.core.config import load_hydra_config
        from hydra_plugins.intel.store import IntelStore
        from hydra_plugins.pipeline import Pipeline
        from hydra_plugins.training.history import ResearchData

        config = load_from_files(args.config or [DEFAULT_CONFIG])
        self.cfg = load_hydra_config(config.get("hydra"))
        self.pairs = args.pairs or config.get("exchange", {}).get("pair_whitelist") or []
        store_path = Path(args.store)
        if write_news:
            store = IntelStore(store_path)
        else:
            store = IntelStore(store_path, readonly=True) if store_path.is_file() else None
        if store is None:
            logger.warning("no intel store at %s: every pair's news is empty (hydra news fetch / import)", store_path)
        datadir = Path(args.datadir) if args.datadir else default_data_root() / "binance"
        self.data = ResearchData(datadir, timeframe=args.timeframe)
        self.pipe = Pipeline(self.cfg, int(pd.Timedelta(args.timeframe).total_seconds() // 60))
        self.pipe.load_models()
        self.journal_path = args.journal
        self.analyst = NewsAnalyst(self.cfg.alpha.news_analyst, VerdictJournal(Path(args.journal)))
        self.store = store
        self.scanner = NewsScanner(self.analyst, store)

    def contexts(self, now: datetime) -> dict:
        """Each pair's market context on the newest candle closed by ``now`` (from the data folder)."""
        from hydra_plugins.alpha.news_prompt import market_context
        from hydra_plugins.training.history import load_pair

        out = {}
        end = pd.Timestamp(now).floor(self.pipe.timeframe)  # candles closed by now opened before this
        for pair in self.pairs:
            loaded = load_pair(self.data, pair, end - pd.Timedelta(days=2), end, self.pipe.warmup_candles)
            frame = self.pipe.populate(*loaded) if loaded is not None else pd.DataFrame()
            out[pair] = market_context(pair, frame, self.pipe.timeframe)
        return out

    def scan(self, now: datetime) -> str:
        from hydra_plugins.alpha.news_scan import render

        rows = self.scanner.scan(now, self.contexts(now))
        return render(rows, now, self.analyst.model) + f"\njournal: {self.journal_path}"


def cmd_scan(args: argparse.Namespace) -> int:
    setup = _Setup(args)
    now = pd.Timestamp(args.at, tz="UTC").to_pydatetime() if args.at else datetime.now(UTC)
    print(setup.scan(now))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Fetch the news and scan every ``every_minutes`` until SIGTERM / Ctrl-C (the docker-compose service)."""
    import httpx

    from hydra_plugins.intel.news import dedupe
    from hydra_plugins.intel.sources.cryptocompare import CryptoCompareNews

    setup = _Setup(args, write_news=True)
    cfg = setup.cfg.alpha.news_analyst
    if not cfg.enabled:
        raise HydraError('the news analyst is off: set "hydra": {"alpha": {"news_analyst": {"enabled": true}}}')
    every = timedelta(minutes=cfg.every_minutes)
    news = CryptoCompareNews(httpx.Client(headers={"User-Agent": "hydra-plugins"}), timeout_s=cfg.timeout_s)
    bases = [p.split("/", 1)[0] for p in setup.pairs]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logger.info("news analyst: a pass every %s over %d pairs", every, len(setup.pairs))
    try:
        while not stop.is_set():
            try:
                since = datetime.now(UTC) - timedelta(hours=cfg.news_lookback_hours)
                setup.store.write_news(dedupe(news.fetch(since, bases, max_pages=4)))
            except Exception:  # stale news is still news
                logger.exception("news fetch failed; the analyst reads the news already stored")
            try:
                print(setup.scan(datetime.now(UTC)), flush=True)
            except Exception:
                logger.exception("news analyst pass failed; the next one runs on time")
            stop.wait(every.total_seconds())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """Run the analyst over a past span, a pass every ``every_minutes``, building a journal to backtest with."""
    from hydra_plugins.core.config import SEED_ASSETS
    from hydra_plugins.intel.news import dedupe
    from hydra_plugins.intel.sources.news_archive import read_archive
    from hydra_plugins.intel.store import IntelStore

    if args.news:
        store = IntelStore(Path(args.store))
        bases = [p.split("/", 1)[0] for p in args.pairs] if args.pairs else list(SEED_ASSETS)
        for name in args.news:
            added = store.write_news(dedupe(read_archive(Path(name), bases)))
            print(f"{name}: {added} new stories in {store.path}")
    setup = _Setup(args)
    start = pd.Timestamp(args.start, tz="UTC")
    end = pd.Timestamp(args.end, tz="UTC")
    every = pd.Timedelta(minutes=setup.cfg.alpha.news_analyst.every_minutes)
    passes = 0
    t = start
    while t < end:
        setup.scanner.scan(t.to_pydatetime(), setup.contexts(t.to_pydatetime()))
        passes += 1
        t += every
    journal = setup.analyst.journal
    spent = journal.cost_since(start.to_pydatetime())
    print(f"{passes} passes from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} over {len(setup.pairs)} pairs; "
          f"journal {setup.journal_path}; estimated cost {spent:.4f} USD")  # fmt: skip
    return 0


def add_parser(groups: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``hydra llm`` and its actions to the CLI's subcommand ``groups``."""
    g = groups.add_parser("llm", help="the LLM news analyst: scan once, run as a service, backfill a span")
    sub = g.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", action="append", help=f"config file(s) (default {DEFAULT_CONFIG})")
        p.add_argument("--pairs", nargs="+", help="pairs (default: the config's whitelist)")
        p.add_argument("--store", default=DEFAULT_STORE, help=f"intel store with the news (default {DEFAULT_STORE})")
        p.add_argument("--journal", default=DEFAULT_JOURNAL, help=f"the verdict journal (default {DEFAULT_JOURNAL})")
        p.add_argument("--datadir", help="Freqtrade data folder (default: <data root>/binance)")
        p.add_argument("--timeframe", default="15m")

    p = sub.add_parser("scan", help="one verdict per pair from the stored news and the market context")
    common(p)
    p.add_argument("--once", action="store_true", help="one pass over the pairs (what scan does)")
    p.add_argument("--at", help="as of this UTC time (default now), e.g. 2022-05-12T06:00")
    p.set_defaults(func=cmd_scan)
    p = sub.add_parser("run", help="a pass every alpha.news_analyst.every_minutes until stopped (a service)")
    common(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("backfill", help="passes over a past span, to backtest the gate with a real journal")
    common(p)
    p.add_argument("--news", nargs="+", help="news archive CSV file(s) to import into the store first")
    p.add_argument("--from", dest="start", required=True, help="UTC start, e.g. 2022-05-01")
    p.add_argument("--to", dest="end", required=True, help="UTC end (exclusive), e.g. 2022-06-01")
    p.set_defaults(func=cmd_backfill)
    return g
