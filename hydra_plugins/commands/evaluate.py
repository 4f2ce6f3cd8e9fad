"""``hydra evaluate walk-forward``: an honest out-of-sample equity curve from the development data.

Retrains the models on rolling (or expanding) windows and backtests each following window with
the models of its time, then the same windows without models; see
:mod:`hydra_plugins.training.evaluate`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hydra_plugins.commands import DEFAULT_CONFIG, DEFAULT_PARAMS, DEFAULT_STORE, default_data_root, signal_overrides

DEFAULT_TIMERANGE = "20220101-20230701"  # the development span; later data stays held out
DEFAULT_OUTPUT = "user_data/hydra/walk_forward"
MODEL_CHOICES = ("scorer", "regime", "all")  # as training.evaluate.MODEL_CHOICES, which is slow to import


def cmd_walk_forward(args: argparse.Namespace) -> int:
    """Run the walk-forward backtest and print its report."""
    from hydra_plugins.training.evaluate import walk_forward_backtest

    configs = args.config or [DEFAULT_CONFIG]
    datadir = Path(args.datadir) if args.datadir else default_data_root() / "binance"
    result = walk_forward_backtest(
        [Path(c) for c in configs],
        datadir,
        args.pairs,
        args.timerange,
        train_days=args.train_days,
        step_days=args.step_days,
        rolling=args.rolling,
        models=args.model,
        force_models=args.force_models,
        output_dir=Path(args.output_dir),
        seed=args.seed,
        wallet=args.wallet,
        progress=not args.no_progress,
        n_splits=args.folds,
        store=Path(args.store) if args.store else None,
        overrides=signal_overrides(args.params),
    )
    print(result.files["markdown"].read_text())
    print("Wrote " + ", ".join(str(p) for p in result.files.values()))
    return 0


def add_parser(groups: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``hydra evaluate`` and its ``walk-forward`` action to the CLI's subcommand ``groups``."""
    e = groups.add_parser("evaluate", help="out-of-sample evaluation: walk-forward backtest with retrained models")
    esub = e.add_subparsers(dest="action", required=True)
    p = esub.add_parser(
        "walk-forward",
        help="retrain on rolling windows, backtest each following window with the models of its time and without",
    )
    p.add_argument(
        "-c",
        "--config",
        action="append",
        help=f"Freqtrade config file (repeatable, merged in order; default {DEFAULT_CONFIG})",
    )
    p.add_argument(
        "--datadir", help="Freqtrade data folder (default: $HYDRA_DATA_DIR/binance, else ../shared/data/binance)"
    )
    p.add_argument("--pairs", nargs="+", help="pairs (default: the config's whitelist)")
    p.add_argument(
        "--timerange", default=DEFAULT_TIMERANGE, help=f"span to walk, YYYYMMDD-YYYYMMDD (default {DEFAULT_TIMERANGE})"
    )
    p.add_argument(
        "--train-days", type=float, default=180, help="training days before the first test window (default 180)"
    )
    p.add_argument("--step-days", type=float, default=90, help="length of each test window in days (default 90)")
    p.add_argument("--rolling", action="store_true", help="train on the last --train-days only (default: expanding)")
    p.add_argument("--model", choices=MODEL_CHOICES, default="all", help="models to retrain and use (default all)")
    p.add_argument(
        "--force-models", action="store_true", help="use the models even where their card does not recommend them"
    )
    p.add_argument("--wallet", type=float, help="starting balance (default: the config's dry_run_wallet, else 10000)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--folds", type=int, default=5, help="walk-forward folds inside each training (default 5)")
    p.add_argument("--store", default=DEFAULT_STORE, help="intel store the training reads, when present")
    p.add_argument(
        "--params",
        help=f"signal thresholds the training labels with (default: {DEFAULT_PARAMS} when present, as the backtests)",
    )
    p.add_argument("--output-dir", default=DEFAULT_OUTPUT, help=f"where the report goes (default {DEFAULT_OUTPUT})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_walk_forward)
    return e
