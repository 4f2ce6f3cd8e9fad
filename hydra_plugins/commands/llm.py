"""``hydra llm scan --once``: the news analyst's verdict for every pair, now or as of a past moment.

For each pair: its newest candles (Freqtrade's data folder) through HYDRA's L1/L2 give the market
context of the newest closed candle; the intel store gives the news known by then (``hydra news``);
the analyst asks the model (``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``, ``LLM_MODEL``) and writes
every request and verdict to the journal. It prints the verdict table.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from hydra_plugins.commands import DEFAULT_CONFIG, DEFAULT_STORE, default_data_root

logger = logging.getLogger(__name__)

DEFAULT_JOURNAL = "user_data/hydra/llm_journal.sqlite"


def cmd_scan(args: argparse.Namespace) -> int:
    from freqtrade.configuration.load_config import load_from_files

    from hydra_plugins.alpha.news_analyst import NewsAnalyst
    from hydra_plugins.alpha.news_prompt import market_context
    from hydra_plugins.alpha.verdict_journal import VerdictJournal
    from hydra_plugins.core.config import load_hydra_config
    from hydra_plugins.intel.store import IntelStore
    from hydra_plugins.pipeline import Pipeline
    from hydra_plugins.training.history import ResearchData, load_pair

    config = load_from_files(args.config or [DEFAULT_CONFIG])
    cfg = load_hydra_config(config.get("hydra"))
    analyst_cfg = cfg.alpha.news_analyst
    pairs = args.pairs or config.get("exchange", {}).get("pair_whitelist") or []
    now = pd.Timestamp(args.at, tz="UTC").to_pydatetime() if args.at else datetime.now(UTC)
    store_path = Path(args.store)
    store = IntelStore(store_path, readonly=True) if store_path.is_file() else None
    if store is None:
        logger.warning("no intel store at %s: every pair's news is empty (hydra news fetch / import)", store_path)
    datadir = Path(args.datadir) if args.datadir else default_data_root() / "binance"
    data = ResearchData(datadir, timeframe=args.timeframe)
    pipe = Pipeline(cfg, int(pd.Timedelta(args.timeframe).total_seconds() // 60))
    pipe.load_models()
    analyst = NewsAnalyst(analyst_cfg, VerdictJournal(Path(args.journal)))
    lookback = timedelta(hours=analyst_cfg.news_lookback_hours)
    rows = []
    for pair in pairs:
        base = pair.split("/", 1)[0]
        end = pd.Timestamp(now).floor(pipe.timeframe)  # candles closed by now: opened before this
        loaded = load_pair(data, pair, end - pd.Timedelta(days=2), end, pipe.warmup_candles)
        frame = pipe.populate(*loaded) if loaded is not None else pd.DataFrame()
        context = market_context(pair, frame, pipe.timeframe)
        articles = (
            store.read_news(base, known_by=now, since=now - lookback, limit=analyst_cfg.max_articles) if store else []
        )
        verdict = analyst.analyse(base, context, articles, now)
        rows.append((pair, verdict, len(articles), context))
    print(f"News analyst verdicts at {now:%Y-%m-%d %H:%M} UTC (model {analyst.model}; journal {args.journal}):")
    print(f"{'pair':<16} {'verdict':<8} {'conf':>5} {'news':>4}  {'until':<16} reasons")
    for pair, v, n, _ in rows:
        until = f"{v.expires_at:%Y-%m-%d %H:%M}"
        print(f"{pair:<16} {v.action:<8} {v.confidence:>5.2f} {n:>4}  {until:<16} {'; '.join(v.reasons)[:90]}")
    return 0


def add_parser(groups: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``hydra llm`` and its actions to the CLI's subcommand ``groups``."""
    g = groups.add_parser("llm", help="the LLM news analyst: scan the pairs once")
    sub = g.add_subparsers(dest="action", required=True)
    p = sub.add_parser("scan", help="one verdict per pair from the stored news and the market context")
    p.add_argument("--once", action="store_true", help="one pass over the pairs (the only mode for now)")
    p.add_argument("-c", "--config", action="append", help=f"config file(s) (default {DEFAULT_CONFIG})")
    p.add_argument("--pairs", nargs="+", help="pairs (default: the config's whitelist)")
    p.add_argument("--at", help="as of this UTC time (default now), e.g. 2022-05-12T06:00")
    p.add_argument("--store", default=DEFAULT_STORE, help=f"intel store with the news (default {DEFAULT_STORE})")
    p.add_argument("--journal", default=DEFAULT_JOURNAL, help=f"the verdict journal (default {DEFAULT_JOURNAL})")
    p.add_argument("--datadir", help="Freqtrade data folder (default: <data root>/binance)")
    p.add_argument("--timeframe", default="15m")
    p.set_defaults(func=cmd_scan)
    return g
