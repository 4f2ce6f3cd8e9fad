"""``hydra replay``: recorded market data played back as a live Binance USDT-M exchange on loopback.

hydra replay --from 2024-04-12T12:00 [--speed 1] [--port 18710] [--fault KIND[:PATH[:COUNT[:SECONDS]]]]
             [-- freqtrade trade -c config/config.json -c config/replay.json …]
hydra replay --overlay [--port 18710]      print the config overlay that points the bot at it
hydra replay --attach [--port 18710] -- freqtrade trade …
                                           run a (restarted) bot on the clock of a replay already serving

Without a command it serves until Ctrl-C. With one it runs the command beside it and exits with
its status; at ``--speed`` above 1 the command (``freqtrade`` or ``hydra``) runs on the replay's
sped-up clock. Faults can also be injected while it runs: ``POST /hydra/faults`` with
``{"kind": "error", "path": "/fapi/v1/klines", "count": 3}``; ``DELETE /hydra/faults`` clears them,
``GET /hydra/status`` shows the clock, the faults and what was served.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd

from hydra_plugins.core.errors import HydraError
from hydra_plugins.replay import markets
from hydra_plugins.replay.clock import ReplayClock, console_script
from hydra_plugins.replay.exchange import FAULT_KINDS, Fault, ReplayServer
from hydra_plugins.replay.tape import load_tape, recorded_span

logger = logging.getLogger("hydra")
DEFAULT_PORT = 18710


def overlay(base_url: str) -> dict:
    """The config overlay for a bot on the replay: ccxt's USDT-M endpoints and HYDRA's intel refresh."""
    ccxt = markets.ccxt_overlay(base_url)
    # The replay speaks REST only: Freqtrade's websocket candles would go to the real Binance.
    return {"exchange": {**ccxt["exchange"], "enable_ws": False}, "hydra": {"intel": {"binance_rest_url": base_url}}}


def _start(args: argparse.Namespace, exact: bool) -> ReplayServer:
    datadir = Path(args.datadir)
    metrics_dir = Path(args.metrics_dir) if args.metrics_dir else datadir.parent / "binance-metrics"
    info = markets.load_snapshot(Path(args.snapshot) if args.snapshot else None)
    symbols = [s["symbol"] for s in info["symbols"]]
    tapes = load_tape(datadir, symbols, metrics_dir if metrics_dir.is_dir() else None)
    first, last = recorded_span(tapes)
    start = pd.Timestamp(args.from_)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    if not first <= start <= last:
        raise HydraError(f"--from {start} is outside the recorded span {first} → {last} in {datadir}")
    clock = ReplayClock.starting(start, args.speed, exact=exact or args.speed != 1.0)
    try:
        faults = [Fault.parse(text) for text in args.fault]
    except ValueError as exc:
        raise HydraError(f"--fault: {exc}") from None
    try:
        server = ReplayServer(info, tapes, clock, host=args.host, port=args.port, faults=faults)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise HydraError(f"port {args.port} on {args.host} is in use; pick another with --port") from None
        raise HydraError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    server.start()
    print(
        f"Replaying {len(symbols)} symbols from {clock.recorded_now()} (recorded) at {args.speed:g}x, served at "
        f"{server.url}; data ends {last}"
    )
    return server


def _run_beside(command: list[str], clock: ReplayClock) -> int:
    """Run ``command`` on the replay's clock; Ctrl-C and SIGTERM go to it, and its exit status is returned."""
    if not clock.is_real_time:  # the command's own clock must read (and run) as the replay's
        command = [sys.executable, "-m", "hydra_plugins.replay.clock", *command]
    # Its own process group: a terminal's Ctrl-C reaches it once, through us, not twice.
    child = subprocess.Popen(command, env={**os.environ, **clock.env()}, process_group=0)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _command(args: argparse.Namespace) -> list[str]:
    command = list(args.command)
    return command[1:] if command and command[0] == "--" else command


def cmd_replay(args: argparse.Namespace) -> int:
    if args.overlay:
        print(json.dumps(overlay(f"http://{args.host}:{args.port}"), indent=4))
        return 0
    command = _command(args)
    if args.attach:
        return _attach(args, command)
    if not args.from_:
        raise HydraError("hydra replay needs --from (a recorded moment, e.g. 2024-04-12T12:00)")
    # freqtrade or hydra run on the replay's own clock: the start is exact and UTC days keep their boundaries.
    if command and args.speed != 1.0 and console_script(command[0]) is None:
        raise HydraError(
            f"at --speed {args.speed:g} the command must be freqtrade or hydra (its clock must run as fast)"
        )
    server = _start(args, exact=bool(command) and console_script(command[0]) is not None)
    try:
        if command:
            return _run_beside(command, server.clock)
        print(f"Use it with: -c config/config.json -c <(hydra replay --overlay --port {args.port})   (Ctrl-C stops)")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            signal.pause()
        return 0
    finally:
        server.stop()


def _attach(args: argparse.Namespace, command: list[str]) -> int:
    """Run ``command`` on the clock of a replay already serving at --host/--port (a bot restarted beside it)."""
    if not command:
        raise HydraError("hydra replay --attach needs a command after --")
    url = f"http://{args.host}:{args.port}/hydra/status"
    try:
        status = httpx.get(url, timeout=5.0).json()
        given = status["clock"]
        clock = ReplayClock(float(given["origin"]), float(given["started"]), float(given["speed"]), 0)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise HydraError(f"no replay answers at {url}: {exc}") from None
    return _run_beside(command, clock)


def add_parser(groups: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hydra replay``."""
    p = groups.add_parser(
        "replay",
        help="play recorded data back as a live Binance USDT-M exchange (for dry-run bots)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--from", dest="from_", help="recorded moment to start at, UTC (e.g. 2024-04-12T12:00)")
    p.add_argument("--speed", type=float, default=1.0, help="replay this many times faster than real time")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--datadir", default="user_data/data/binance", help="Freqtrade data dir with futures/ candles")
    p.add_argument("--metrics-dir", help="Binance metrics archive folder (default: <datadir>/../binance-metrics)")
    p.add_argument("--snapshot", help=f"exchangeInfo JSON (default ./{markets.SNAPSHOT_NAME})")
    p.add_argument(
        "--fault", action="append", default=[], help=f"inject KIND[:PATH[:COUNT[:SECONDS]]], KIND one of {FAULT_KINDS}"
    )
    p.add_argument("--overlay", action="store_true", help="print the config overlay for --host/--port and exit")
    p.add_argument("--attach", action="store_true", help="run the command on the clock of the replay at --port")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- command to run beside it (e.g. freqtrade trade …)")
    p.set_defaults(func=cmd_replay)
    return p
