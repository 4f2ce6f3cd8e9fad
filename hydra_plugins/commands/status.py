"""``hydra status`` and ``hydra dashboard``: what a running bot decided, pair by pair and layer by layer.

hydra status [-c config.json] [--userdir user_data] [--layers] [--history N --pair P]
    the pipeline table (Symbol | Price | L2 Regime | Best Signal | Conf | ML Score | L4 Size | Final)
    from the decision journal, the kill switches in force; --layers adds each layer's reason
hydra dashboard [--port 8501] [--api-url http://127.0.0.1:8080] [-c config.json]
    the same as a web page (overview, per-cycle log, trades from Freqtrade's REST API, layer details)
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hydra_plugins.commands.botfiles import DEFAULT_USERDIR, load_bot_config, user_path
from hydra_plugins.core.config import HydraConfig, load_hydra_config
from hydra_plugins.core.decisions import Decision, DecisionJournal, render_table
from hydra_plugins.core.errors import HydraError
from hydra_plugins.risk.kill_switch import KillSwitchState

logger = logging.getLogger("hydra")
STALE_AFTER = timedelta(minutes=35)  # two 15m candles and a loop: the bot is probably not running


@dataclass(frozen=True)
class BotFiles:
    """Where a bot's journal and kill switch state are, and the pairs it trades."""

    decisions: Path
    kill_state: Path
    pairs: list[str]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BotFiles:
        ft = load_bot_config(args.config)
        cfg = load_hydra_config(ft.get("hydra")) if ft else HydraConfig()
        journal = Path(args.journal) if args.journal else user_path(args.userdir, cfg.decisions_path)
        pairs = list(ft.get("exchange", {}).get("pair_whitelist", []))
        return cls(journal, user_path(args.userdir, cfg.risk.kill_switches.state_path), pairs)

    def journal(self) -> DecisionJournal:
        if not self.decisions.is_file():
            raise HydraError(
                f"no decision journal at {self.decisions}: a dry-run or live bot writes one (check --userdir/-c)"
            )
        return DecisionJournal(self.decisions, readonly=True)

    def latest(self) -> list[Decision | str]:
        """The newest decision per pair, the config's pairs first (a pair without one says so)."""
        try:
            found = {d.pair: d for d in self.journal().latest()}
        except sqlite3.DatabaseError as exc:
            raise HydraError(f"{self.decisions} is not a readable decision journal: {exc}") from None
        order = self.pairs + sorted(p for p in found if p not in self.pairs)
        return [found.get(pair, pair) for pair in order]

    def kill_switches(self, now: datetime) -> list[str]:
        state = KillSwitchState.open(self.kill_state)
        return [f"{f.describe()} until {f.until:%Y-%m-%d %H:%M} UTC" for f in state.firings if f.active(now)]


def missing_row(pair: str) -> tuple[str, ...]:
    return (pair.split("/", 1)[0], "-", "-", "-", "-", "-", "-", "NO DATA")


def cmd_status(args: argparse.Namespace) -> int:
    files = BotFiles.from_args(args)
    now = datetime.now(UTC)
    if args.history:
        try:
            history = files.journal().history(args.history, args.pair)
        except sqlite3.DatabaseError as exc:
            raise HydraError(f"{files.decisions} is not a readable decision journal: {exc}") from None
        for d in history:
            why = f": {d.final_reason}" if d.final_reason else ""
            print(f"{d.time:%Y-%m-%d %H:%M} {d.pair} {d.price:,.6g}  {d.final}{why}")
        return 0
    rows = files.latest()
    decisions = [r for r in rows if isinstance(r, Decision)]
    newest = max((d.written_at for d in decisions), default=None)
    written = f", newest written {newest:%Y-%m-%d %H:%M:%S} UTC" if newest else ""
    print(f"HYDRA decisions ({files.decisions}){written}")
    if newest is not None and now - newest > STALE_AFTER:
        print(f"WARNING: nothing written for {(now - newest).total_seconds() / 60:.0f} minutes: is the bot running?")
    table = render_table(decisions).splitlines()
    body = {d.pair: line for d, line in zip(decisions, table[2:], strict=True)}
    widths = [len(c) for c in table[1].split("-+-")]
    lines = table[:2]
    for row in rows:
        if isinstance(row, Decision):
            lines.append(body[row.pair])
        else:  # in the whitelist, never analysed (no candles): say so rather than leave it out
            lines.append(" | ".join(c.ljust(w) for c, w in zip(missing_row(row), widths, strict=True)))
    print("\n".join(lines))
    active = files.kill_switches(now)
    print(f"kill switches in force: {len(active)}" + "".join(f"\n  {line}" for line in active))
    if args.layers:
        for d in decisions:
            print(f"\n{d.pair} candle {d.time:%Y-%m-%d %H:%M} UTC")
            for layer, text in d.layers().items():
                print(f"  {layer:17} {text}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    import uvicorn

    from hydra_plugins.commands.dashboard import create_app

    files = BotFiles.from_args(args)
    api = None
    if args.api_url:
        user = args.api_user or os.environ.get("FREQTRADE__API_SERVER__USERNAME", "")
        password = os.environ.get("FREQTRADE__API_SERVER__PASSWORD", "")
        api = (args.api_url, user, password)
    app = create_app(files, api)
    print(f"HYDRA dashboard on http://{args.host}:{args.port} (journal {files.decisions}); Ctrl-C stops")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def add_parser(groups: argparse._SubParsersAction) -> None:
    """Register ``hydra status`` and ``hydra dashboard``."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--userdir", default=DEFAULT_USERDIR, help="Freqtrade's user_data folder (default user_data)")
        p.add_argument("-c", "--config", action="append", help="the bot's config file(s): its pairs and paths")
        p.add_argument("--journal", help="the decision journal (default <userdir>/hydra/decisions.sqlite)")

    p = groups.add_parser("status", help="the pipeline table of a running bot (from its decision journal)")
    common(p)
    p.add_argument("--layers", action="store_true", help="each layer's verdict and reason, per pair")
    p.add_argument("--history", type=int, default=0, help="instead: the last N decisions, newest first")
    p.add_argument("--pair", help="with --history: one pair")
    p.set_defaults(func=cmd_status)
    p = groups.add_parser("dashboard", help="serve the dashboard web page (decision journal + Freqtrade REST API)")
    common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--api-url", help="Freqtrade's API server, e.g. http://127.0.0.1:8080 (trades and positions)")
    p.add_argument("--api-user", help="its username (default $FREQTRADE__API_SERVER__USERNAME); the password is "
                   "read from $FREQTRADE__API_SERVER__PASSWORD")  # fmt: skip
    p.set_defaults(func=cmd_dashboard)
