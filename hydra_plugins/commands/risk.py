"""``hydra risk``: the kill switches' state and the risk journal, for the operator.

hydra risk status                    the firings in force and the last ones, with their reasons
hydra risk clear [--switch S] [--pair P] [--all]
                                     end cool-downs now (a running bot re-reads the file at its next loop)
hydra risk journal [--file F]        count refused entries and kill switch events by reason
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

from hydra_plugins.commands.botfiles import DEFAULT_USERDIR, load_bot_config, user_path
from hydra_plugins.core.config import KillSwitchConfig, KillSwitchName, load_hydra_config
from hydra_plugins.core.errors import HydraError
from hydra_plugins.risk.journal import BACKTEST_JOURNAL, RiskJournal, count_events, read_journal
from hydra_plugins.risk.kill_switch import KillSwitchState


def _settings(args: argparse.Namespace) -> KillSwitchConfig:
    """The kill switch settings of the bot's config (-c, merged in order), else the defaults."""
    if not args.config:
        return KillSwitchConfig()
    return load_hydra_config(load_bot_config(args.config).get("hydra")).risk.kill_switches


def _state_path(args: argparse.Namespace) -> Path:
    return Path(args.state) if args.state else user_path(args.userdir, _settings(args).state_path)


def cmd_status(args: argparse.Namespace) -> int:
    path = _state_path(args)
    state = KillSwitchState.open(path)
    now = datetime.now(UTC)
    print(f"kill switch state: {path}{'' if path.is_file() else ' (none yet: nothing has fired)'}")
    if state.day is not None:
        print(f"UTC day {state.day}: starting equity {state.day_start_equity:.2f}")
    active = [f for f in state.firings if f.active(now)]
    print(f"in force: {len(active)}")
    for f in active:
        print(f"  {f.describe()}")
        print(f"    fired {f.fired_at:%Y-%m-%d %H:%M}, entries refused until {f.until:%Y-%m-%d %H:%M} UTC")
    if state.history:
        print(f"last firings (of {len(state.history)} kept):")
        for f in state.history[-args.last :]:
            print(f"  {f.fired_at:%Y-%m-%d %H:%M} UTC  {f.describe()}")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    if not (args.all or args.switch or args.pair):
        raise HydraError("say what to clear: --switch NAME, --pair PAIR, or --all")
    path = _state_path(args)
    if not path.is_file():
        print(f"nothing to clear: {path} does not exist")
        return 0
    state = KillSwitchState.open(path)
    gone = state.clear(switch=args.switch, pair=args.pair)
    state.save()
    journal = RiskJournal(user_path(args.userdir, _settings(args).journal_path))
    now = datetime.now(UTC)
    for f in gone:
        journal.write("cleared", now, code=f.switch, pair=f.scope, reason=f"hydra risk clear: {f.reason}")
        print(f"cleared {f.describe()}")
    print(f"{len(gone)} cleared, {len(state.firings)} still in force; a running bot picks this up at its next loop")
    return 0


def cmd_journal(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else Path(args.userdir) / BACKTEST_JOURNAL
    if not path.is_file():
        raise FileNotFoundError(f"no risk journal at {path} (a backtest or a dry-run/live bot writes one)")
    records = read_journal(path)
    print(render_counts(records, path))
    return 0


def render_counts(records: list[dict], path: Path) -> str:
    """The journal's counts as a small Markdown report."""
    counts = count_events(records)
    span = f"{records[0]['time']} .. {records[-1]['time']}" if records else "empty"
    lines = [f"# Risk journal {path}", "", f"{len(records)} records, {span}", ""]
    titles = {
        "refused": "Entries refused (per signal candle), by reason",
        "fired": "Kill switch firings",
        "expired": "Cool-downs run out",
        "cleared": "Cleared by the operator",
    }
    for event, title in titles.items():
        if event not in counts:
            continue
        lines += [f"## {title}", "", "| reason | count |", "|---|---:|"]
        lines += [f"| {code} | {n} |" for code, n in counts[event].most_common()]
        lines.append("")
    return "\n".join(lines)


def add_parser(groups: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``hydra risk`` and its actions to the CLI's subcommand ``groups``."""
    r = groups.add_parser("risk", help="kill switch state (status, clear) and the risk journal")
    sub = r.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--userdir", default=DEFAULT_USERDIR, help="Freqtrade's user_data folder (default user_data)")
        p.add_argument("-c", "--config", action="append", help="the bot's config file(s), for their kill switch paths")

    p = sub.add_parser("status", help="the kill switches in force and the last firings")
    common(p)
    p.add_argument("--state", help="the state file (default <userdir>/hydra/kill_switches.json)")
    p.add_argument("--last", type=int, default=10, help="past firings to show (default 10)")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("clear", help="end kill switch cool-downs now")
    common(p)
    p.add_argument("--state", help="the state file (default <userdir>/hydra/kill_switches.json)")
    p.add_argument("--switch", choices=get_args(KillSwitchName))
    p.add_argument("--pair", help="a pair such as BTC/USDT:USDT, or * for the firings covering every pair")
    p.add_argument("--all", action="store_true", help="every firing")
    p.set_defaults(func=cmd_clear)
    p = sub.add_parser("journal", help="count refused entries and kill switch events by reason")
    common(p)
    p.add_argument("--file", help=f"the journal (default <userdir>/{BACKTEST_JOURNAL}, the last backtest's)")
    p.set_defaults(func=cmd_journal)
    return r
