"""The ``hydra`` command: what Freqtrade itself does not do.

hydra markets serve [--port PORT]        serve the offline market snapshot on loopback
hydra markets run [--port PORT] -- CMD   serve it while CMD runs (e.g. freqtrade backtesting)
hydra markets overlay [--port PORT]      print the config overlay that points ccxt at it
hydra markets snapshot [--output FILE]   refresh the snapshot from Binance (needs internet)
hydra config check -c CONFIG [-c ...]    validate a config's "hydra" section
hydra report signals [--timerange ...]   event study of the five signals (table, CSV, PNG)
hydra report backtest [RESULT]           HTML report with plots of a Freqtrade backtest (or a walk-forward)
hydra calibrate cascade                  refit the cascade probability and measure it on later data
hydra train scorer|regime|all [--days N] train the signal scorer / regime classifier, walk-forward validated
hydra evaluate [--timerange ...]         Hydra vs its ablations, SampleStrategy, buy-and-hold: one table, one plot
hydra evaluate walk-forward              retrain per window, backtest each next window with the models of its time
hydra risk status|clear|journal          kill switches in force, end a cool-down, count refusals and firings
hydra news fetch|import|show             news for the analyst: CryptoCompare, CSV archives, what a pair's analyst read
hydra llm scan --once | run | backfill    the LLM news analyst: one pass, a service, a past span (journaled)
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from hydra_plugins.commands import DEFAULT_CONFIG, DEFAULT_PARAMS, DEFAULT_STORE, default_data_root, signal_overrides
from hydra_plugins.commands.evaluate import add_parser as add_evaluate_parser
from hydra_plugins.commands.evaluate import add_report_parser as add_report_backtest_parser
from hydra_plugins.commands.llm import add_parser as add_llm_parser
from hydra_plugins.commands.news import add_parser as add_news_parser
from hydra_plugins.commands.replay import add_parser as add_replay_parser
from hydra_plugins.commands.risk import add_parser as add_risk_parser
from hydra_plugins.commands.status import add_parser as add_status_parser
from hydra_plugins.core.env import load_dotenv_file
from hydra_plugins.core.errors import HydraError
from hydra_plugins.intel.sources.binance_rest import FAPI_URL
from hydra_plugins.intel.sources.binance_ws import FORCE_ORDER_URL
from hydra_plugins.replay import markets

logger = logging.getLogger("hydra")


def _serve(args: argparse.Namespace) -> markets.MarketsServer:
    info = markets.load_snapshot(Path(args.snapshot) if args.snapshot else None)
    try:
        server = markets.MarketsServer(info, host=args.host, port=args.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise HydraError(
                f"port {args.port} on {args.host} is in use; pick another with --port and point ccxt at it "
                f"with 'hydra markets overlay --port PORT > config/offline-PORT.json'"
            ) from None
        raise
    return server.start()


def cmd_markets_serve(args: argparse.Namespace) -> int:
    server = _serve(args)
    print(f"Serving Binance USDT-M exchangeInfo ({len(server.exchange_info['symbols'])} symbols) at {server.url}")
    print("Use it with: -c config/config.json -c config/offline.json   (Ctrl-C stops)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
    return 0


def cmd_markets_run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise HydraError("hydra markets run needs a command after --, e.g. -- freqtrade backtesting ...")
    server = _serve(args)
    logger.info("markets snapshot served at %s while: %s", server.url, " ".join(command))
    try:
        return subprocess.call(command)
    finally:
        server.stop()


def cmd_markets_overlay(args: argparse.Namespace) -> int:
    print(json.dumps(markets.ccxt_overlay(f"http://{args.host}:{args.port}"), indent=4))
    return 0


def cmd_markets_snapshot(args: argparse.Namespace) -> int:
    with httpx.Client(headers={"User-Agent": "hydra-plugins"}) as client:
        info = markets.fetch_exchange_info(client, args.base_url)
    chosen = markets.select_symbols(info, args.symbols)
    path = markets.write_snapshot(chosen, Path(args.output) if args.output else None)
    print(f"Wrote {len(chosen['symbols'])} symbols to {path}")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from freqtrade.configuration.environment_vars import environment_vars_to_dict
    from freqtrade.configuration.load_config import load_from_files
    from freqtrade.misc import deep_merge_dicts

    from hydra_plugins.bridge import STARTUP_CANDLES, validate_config

    # As Freqtrade builds it: files merged in order, then FREQTRADE__* variables (and .env) on top.
    config = deep_merge_dicts(environment_vars_to_dict(), load_from_files(args.config))
    from hydra_plugins.pipeline import Pipeline

    hydra = validate_config(config, STARTUP_CANDLES)
    print(
        f"hydra config OK: {len(hydra.assets)} assets, max leverage {hydra.risk.max_leverage}x, "
        f"risk {hydra.risk.risk_per_trade:.2%} per trade"
    )
    # The models as bot_start would find them (relative paths: from where this runs).
    pipe = Pipeline(hydra, 15)
    pipe.load_models()
    for use in (pipe.scorer, pipe.regime_model):
        print(use.status())
    if pipe.model_block:
        print(f"hydra: error: the bot would stop new entries: {pipe.model_block}", file=sys.stderr)
        return 1
    return 0


def _research_inputs(args: argparse.Namespace):
    from freqtrade.configuration.load_config import load_from_files

    from hydra_plugins.core.config import load_hydra_config
    from hydra_plugins.intel.store import IntelStore
    from hydra_plugins.training.history import ResearchData

    config = load_from_files(args.config) if args.config else {}
    cfg = load_hydra_config(config.get("hydra"))
    root = Path(args.data_root) if args.data_root else default_data_root()
    datadir = Path(args.datadir) if getattr(args, "datadir", None) else root / "binance"
    if not datadir.is_dir():
        raise FileNotFoundError(f"no Freqtrade data in {datadir}; run make download-data or set HYDRA_DATA_DIR")
    metrics = root / "binance-metrics"
    store = IntelStore(Path(args.store)) if args.store and Path(args.store).is_file() else None
    pairs = args.pairs or config.get("exchange", {}).get("pair_whitelist") or []
    if not pairs:
        raise ValueError("no pairs: pass --pairs or a config (-c) with exchange.pair_whitelist")
    data = ResearchData(
        datadir, timeframe=args.timeframe, store=store, metrics_dir=metrics if metrics.is_dir() else None
    )
    return cfg, data, pairs


def cmd_report_signals(args: argparse.Namespace) -> int:
    from hydra_plugins.commands.research import report_signals
    from hydra_plugins.reports.event_study import plot_summary, render_table
    from hydra_plugins.training.history import strategy_parameters

    cfg, data, pairs = _research_inputs(args)
    overrides = strategy_parameters(Path(args.params)) if args.params else None
    report = report_signals(cfg, data, pairs, args.timerange, tuple(args.horizons), args.fee, overrides)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    report.events.to_csv(out / "signal_events.csv", index=False)
    report.summary.to_csv(out / "signal_summary.csv", index=False)
    table = render_table(report.summary, per_pair=args.per_pair)
    header = (
        f"HYDRA signal event study: {', '.join(pairs)}; {args.timerange or 'all data'}; data {data.datadir}; "
        f"thresholds {args.params or 'the defaults'}\n"
        f"entry at the next candle's open, fees {args.fee:.4%} per side, funding paid while held; "
        f"95% CI of the mean over non-overlapping events\n"
    )
    if report.silent:
        table += f"\nNever fired on this data: {', '.join(report.silent)}\n"
    (out / "signals.md").write_text(header + "\n" + table + "\n")
    plot_summary(report.summary, out / "signals.png")
    print(header)
    print(table)
    print(f"\nWrote {out}/signals.md, signals.png, signal_summary.csv, signal_events.csv")
    return 0


def cmd_calibrate_cascade(args: argparse.Namespace) -> int:
    from hydra_plugins.commands.research import calibrate_cascade
    from hydra_plugins.stats.cascade import CALIBRATION_PATH, CascadeEvent

    cfg, data, pairs = _research_inputs(args)
    event = CascadeEvent(move_atr=args.move_atr, volume_mult=args.volume_mult, horizon_bars=args.horizon_bars)
    model = calibrate_cascade(cfg, data, pairs, args.fit, args.check, event)
    output = Path(args.output) if args.output else CALIBRATION_PATH
    model.save(output)
    check = model.report["check"]
    print(f"fitted on {args.fit}, checked on {args.check}; wrote {output}")
    print(f"check: {check['rows']} candles, positive rate {check['positive_rate']:.4f}, "
          f"mean predicted {check['mean_predicted']:.4f}, Brier {check['brier']:.5f} "
          f"(base rate alone {check['brier_base_rate']:.5f})")  # fmt: skip
    for row in check["reliability"]:
        print(f"  p in {row['bin']:<14} {row['rows']:>7} candles: predicted {row['mean_predicted']:.3f}, "
              f"observed {row['observed']:.3f}")  # fmt: skip
    for level, c in check["alerts"].items():
        print(f"  alert at {level}: warned before {c['warned']}/{c['events']} cascades, "
              f"{c['false_alerts']}/{c['alerts']} alerts false")  # fmt: skip
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from hydra_plugins.commands.train import days_timerange, train
    from hydra_plugins.training.models import TrainSpec

    if args.config is None and Path(DEFAULT_CONFIG).is_file():
        args.config = [DEFAULT_CONFIG]
    cfg, data, pairs = _research_inputs(args)
    if args.days is not None and args.timerange:
        raise ValueError("pass --days or --timerange, not both")
    timerange = days_timerange(data, pairs, args.days) if args.days is not None else args.timerange
    overrides = signal_overrides(args.params)
    spec = TrainSpec(
        pairs, timerange, n_splits=args.folds, seed=args.seed, progress=not args.no_progress, overrides=overrides
    )
    print(
        f"training {args.model} on {', '.join(pairs)}; {timerange or 'all data'}; data {data.datadir}; "
        f"thresholds {'the defaults' if not overrides else args.params or DEFAULT_PARAMS}"
    )
    for line in train(args.model, cfg, data, spec, Path(args.output_dir)):
        print(line)
    return 0


def cmd_intel_import_metrics(args: argparse.Namespace) -> int:
    import pandas as pd

    from hydra_plugins.commands.intel import import_metrics
    from hydra_plugins.intel.store import IntelStore

    store = IntelStore(Path(args.store))
    lag = pd.Timedelta(minutes=args.publish_lag_minutes)
    results = import_metrics([Path(p) for p in args.paths], Path(args.datadir), store, lag)
    for r in results:
        print(
            f"{r.file.name}: {r.symbol} {r.rows} rows -> {r.oi_candles_added} new open-interest candles, "
            f"{r.store_rows_added} new intel rows"
        )
    print(f"Imported {len(results)} file(s) into {args.datadir} and {args.store}")
    return 0


def cmd_intel_collect(args: argparse.Namespace) -> int:
    import asyncio

    from hydra_plugins.intel.collector import Collector
    from hydra_plugins.intel.recorder import IntelRecorder, binance_tasks, weight_pause
    from hydra_plugins.intel.sources.binance_rest import BinanceFuturesClient
    from hydra_plugins.intel.store import IntelStore

    store = IntelStore(Path(args.store))
    symbols = [s.upper() for s in args.symbols]
    with httpx.Client(headers={"User-Agent": "hydra-plugins"}) as http:
        client = BinanceFuturesClient(http, args.rest_url, timeout_s=args.timeout)
        tasks = binance_tasks(
            client, symbols, premium_every_s=args.premium_every, ratios_every_s=args.ratios_every,
            depth_every_s=args.depth_every or None,
        )  # fmt: skip
        collector = Collector(store, IntelRecorder(store, tasks, pause_s=weight_pause(client)), symbols, args.ws_url)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            print(f"Collecting {len(symbols)} symbols into {args.store} (SIGTERM or Ctrl-C stops)", flush=True)
            await collector.run(stop, args.duration)

        asyncio.run(main())
    print(f"Stopped: {collector.liquidations_written} liquidations, {collector.heartbeats_written} heartbeat rows")
    return 0


def cmd_intel_download_metrics(args: argparse.Namespace) -> int:
    from datetime import date, timedelta

    from hydra_plugins.intel.sources.binance_archive import download_metrics_day

    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    dest = Path(args.dest)
    problems = 0
    with httpx.Client(headers={"User-Agent": "hydra-plugins"}) as http:
        for symbol in (s.upper() for s in args.symbols):
            for day in days:
                try:
                    got = download_metrics_day(http, symbol, day, dest, args.base_url)
                except (HydraError, httpx.HTTPError) as exc:
                    problems += 1
                    print(f"{symbol} {day}: failed: {exc}")
                    continue
                print(f"{symbol} {day}: {got.status}")
    if args.import_:
        args.paths = [str(dest / s.upper()) for s in args.symbols if (dest / s.upper()).is_dir()]
        cmd_intel_import_metrics(args)
    return 1 if problems else 0


def cmd_intel_status(args: argparse.Namespace) -> int:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from hydra_plugins.commands.intel import status_table
    from hydra_plugins.intel.store import IntelStore

    store = IntelStore(Path(args.store), readonly=True) if Path(args.store).exists() else None
    pairs = [f"{s[:-4]}/USDT:USDT" for s in markets.UNIVERSE]
    table = status_table(store, Path(args.datadir) if args.datadir else None, pairs, pd.Timestamp.now(tz="UTC"))
    if not table["kind"].str.startswith("recorded").any():
        print(f"No intel recorded yet (store {args.store}, datadir {args.datadir})")
    out = Table(title="HYDRA intel coverage")
    for name in table.columns:
        out.add_column(name)

    def cell(value: object) -> str:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return "-"
        if isinstance(value, pd.Timestamp):
            return value.strftime("%Y-%m-%d %H:%M UTC")
        return str(value)

    for row in table.itertuples(index=False):
        out.add_row(*(cell(v) for v in row))
    Console(width=200).print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hydra", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    groups = parser.add_subparsers(dest="group", required=True)

    m = groups.add_parser("markets", help="the offline Binance USDT-M market snapshot")
    msub = m.add_subparsers(dest="action", required=True)

    def server_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=markets.DEFAULT_PORT, help=f"port (default {markets.DEFAULT_PORT})")
        p.add_argument("--snapshot", help=f"exchangeInfo JSON to serve (default ./{markets.SNAPSHOT_NAME})")

    p = msub.add_parser("serve", help="serve the snapshot until interrupted")
    server_args(p)
    p.set_defaults(func=cmd_markets_serve)
    p = msub.add_parser("run", help="serve the snapshot while a command runs; exit with its status")
    server_args(p)
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- command and its arguments")
    p.set_defaults(func=cmd_markets_run)
    p = msub.add_parser("overlay", help="print a config overlay pointing ccxt at the server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=markets.DEFAULT_PORT)
    p.set_defaults(func=cmd_markets_overlay)
    p = msub.add_parser("snapshot", help="refresh the snapshot from the live exchange (needs internet)")
    p.add_argument("--output", help=f"file to write (default ./{markets.SNAPSHOT_NAME})")
    p.add_argument("--base-url", default=markets.BINANCE_USDM_URL)
    p.add_argument("--symbols", nargs="+", default=list(markets.UNIVERSE))
    p.set_defaults(func=cmd_markets_snapshot)

    i = groups.add_parser("intel", help="market intel: import, status")
    isub = i.add_subparsers(dest="action", required=True)
    p = isub.add_parser("import-metrics", help="import Binance UM metrics archive files (CSV or zip, or folders)")
    p.add_argument("paths", nargs="+", help="metrics files or folders holding them")
    p.add_argument("--datadir", default="user_data/data/binance", help="Freqtrade data dir for open-interest candles")
    p.add_argument("--store", default=DEFAULT_STORE, help=f"intel store (default {DEFAULT_STORE})")
    p.add_argument("--publish-lag-minutes", type=float, default=1.0, help="delay before a row counts as known")
    p.set_defaults(func=cmd_intel_import_metrics)
    p = isub.add_parser("download-metrics", help="fetch Binance's metrics archive (needs internet), checksum-verified")
    p.add_argument("--symbols", nargs="+", default=list(markets.UNIVERSE))
    p.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--end", required=True, help="last day, YYYY-MM-DD")
    p.add_argument("--dest", default="user_data/data/binance-metrics", help="folder for the zips (per symbol)")
    p.add_argument("--base-url", default="https://data.binance.vision")
    p.add_argument("--import", dest="import_", action="store_true", help="then run import-metrics on them")
    p.add_argument("--datadir", default="user_data/data/binance", help="with --import: Freqtrade data dir")
    p.add_argument("--store", default=DEFAULT_STORE, help="with --import: the intel store")
    p.add_argument("--publish-lag-minutes", type=float, default=1.0, help="with --import: as import-metrics")
    p.set_defaults(func=cmd_intel_download_metrics)
    p = isub.add_parser("collect", help="record every live source into the store until SIGTERM")
    p.add_argument("--store", default=DEFAULT_STORE)
    p.add_argument("--symbols", nargs="+", default=list(markets.UNIVERSE), help="Binance symbols (default: the 8)")
    p.add_argument("--rest-url", default=FAPI_URL)
    p.add_argument("--ws-url", default=FORCE_ORDER_URL)
    p.add_argument("--premium-every", type=float, default=60.0, help="seconds between premium-index calls")
    p.add_argument("--ratios-every", type=float, default=300.0, help="seconds between ratio calls per symbol")
    p.add_argument("--depth-every", type=float, default=60.0, help="seconds between depth snapshots (0: off)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds before a REST call is given up")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.set_defaults(func=cmd_intel_collect)
    p = isub.add_parser("status", help="coverage per pair and source")
    p.add_argument("--store", default=DEFAULT_STORE)
    p.add_argument("--datadir", default=None, help="also show Freqtrade funding/open-interest candles found here")
    p.set_defaults(func=cmd_intel_status)

    def research_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", action="append", help="config file(s): the hydra section and the pairs")
        p.add_argument("--data-root", help="folder with binance/ (and binance-metrics/); default: see the README")
        p.add_argument("--pairs", nargs="+", help="pairs (default: the config's whitelist)")
        p.add_argument("--timeframe", default="15m")
        p.add_argument("--store", default=DEFAULT_STORE, help="intel store with recorded series, used when present")

    r = groups.add_parser("report", help="reports: a backtest result (HTML, plots), the signals' event study")
    rsub = r.add_subparsers(dest="action", required=True)
    p = rsub.add_parser("signals", help="event study: hit rate and return after fees and funding, per signal")
    research_args(p)
    p.add_argument("--timerange", help="YYYYMMDD-YYYYMMDD, as Freqtrade's")
    p.add_argument("--horizons", nargs="+", type=int, default=[4, 16, 48, 96], help="horizons in candles")
    p.add_argument("--fee", type=float, default=0.0005, help="fee per side, fraction (default 0.0005, taker)")
    p.add_argument("--per-pair", action="store_true", help="also print one row per pair")
    p.add_argument("--params", help="thresholds from a strategy parameter file, e.g. user_data/strategies/hydra.json")
    p.add_argument("--output-dir", default="user_data/hydra/reports")
    p.set_defaults(func=cmd_report_signals)
    add_report_backtest_parser(rsub)

    k = groups.add_parser("calibrate", help="calibrate L2 estimates on history")
    ksub = k.add_subparsers(dest="action", required=True)
    p = ksub.add_parser("cascade", help="fit the cascade probability and check it on a later span")
    research_args(p)
    p.add_argument("--fit", default="20220101-20230701", help="span to fit on")
    p.add_argument("--check", default="20230701-20240701", help="later span to check on")
    p.add_argument("--move-atr", type=float, default=6.0, help="cascade: a 1h move of at least this many ATRs")
    p.add_argument("--volume-mult", type=float, default=4.0, help="cascade: on this multiple of the usual volume")
    p.add_argument("--horizon-bars", type=int, default=16, help="candles ahead the probability covers")
    p.add_argument("--output", help="file to write (default: the calibration shipped with HYDRA)")
    p.set_defaults(func=cmd_calibrate_cascade)

    t = groups.add_parser("train", help="train the signal scorer and the regime classifier (walk-forward validated)")
    t.add_argument("model", choices=["scorer", "regime", "all"])
    research_args(t)
    t.add_argument("--datadir", help="Freqtrade data folder (default: <data-root>/binance)")
    t.add_argument("--days", type=int, help="train on the last N days of the data")
    t.add_argument("--timerange", help="YYYYMMDD-YYYYMMDD, as Freqtrade's (default: all data)")
    t.add_argument("--folds", type=int, default=5, help="walk-forward folds (default 5)")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument(
        "--params", help=f"signal thresholds from a strategy parameter file (default: {DEFAULT_PARAMS} when present)"
    )
    t.add_argument("--output-dir", default="models", help="where the models and their cards go (default models/)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    add_evaluate_parser(groups)
    add_risk_parser(groups)
    add_news_parser(groups)
    add_llm_parser(groups)
    add_replay_parser(groups)
    add_status_parser(groups)

    c = groups.add_parser("config", help="check HYDRA's configuration")
    csub = c.add_subparsers(dest="action", required=True)
    p = csub.add_parser("check", help="validate the hydra section of one or more config files")
    p.add_argument("-c", "--config", action="append", required=True, help="config file (repeatable, merged in order)")
    p.set_defaults(func=cmd_config_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    load_dotenv_file()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        return int(args.func(args))
    except (HydraError, httpx.HTTPError, FileNotFoundError, ValueError) as exc:
        print(f"hydra: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
