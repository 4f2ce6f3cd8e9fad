"""``hydra evaluate``, ``hydra evaluate walk-forward`` and ``hydra report backtest``: HYDRA's evidence.

* ``hydra evaluate --timerange …``: Hydra, its ablations (no ML gate, no LLM gate, no kill
  switches), Freqtrade's sample strategy and buy-and-hold, backtested in one run on the same data;
  one table, one plot, one report (:mod:`hydra_plugins.evaluation.compare`).
* ``hydra evaluate walk-forward``: retrains the models on rolling (or expanding) windows and
  backtests each following window with the models of its time, then without models
  (:mod:`hydra_plugins.training.evaluate`); its report's headline figures are out of sample.
* ``hydra report backtest [RESULT]``: the report for any Freqtrade backtest result, or for a
  walk-forward folder (:mod:`hydra_plugins.evaluation.report`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hydra_plugins.commands import DEFAULT_CONFIG, DEFAULT_PARAMS, DEFAULT_STORE, default_data_root, signal_overrides

DEFAULT_TIMERANGE = "20220101-20230701"  # the development span; later data stays held out
HELD_OUT_TIMERANGE = "20230701-20240630"  # after the shipped models' training span: out of sample for them
DEFAULT_OUTPUT = "user_data/hydra/walk_forward"
DEFAULT_EVALUATE_OUTPUT = "user_data/hydra/evaluate"
DEFAULT_RESULTS = "user_data/backtest_results"
DATADIR_HELP = "Freqtrade data folder (default: $HYDRA_DATA_DIR/binance, else ../shared/data/binance)"
MODEL_CHOICES = ("scorer", "regime", "all")  # as training.evaluate.MODEL_CHOICES, which is slow to import


def cmd_walk_forward(args: argparse.Namespace) -> int:
    """Run the walk-forward backtest and print its report."""
    from hydra_plugins.training.evaluate import walk_forward_backtest

    _refuse_parent_options(args)
    configs = args.config or [DEFAULT_CONFIG]
    datadir = _datadir(args)
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
    from hydra_plugins.evaluation.compare import walk_forward_report

    _, files = walk_forward_report(
        Path(args.output_dir),
        datadir,
        store=_store(args),
        overrides=signal_overrides(args.params),
    )
    print(f"Report (out of sample): {files['html']}")
    return 0


def _store(args: argparse.Namespace) -> Path | None:
    return Path(args.store) if args.store else None


def _datadir(args: argparse.Namespace) -> Path:
    return Path(args.datadir) if args.datadir else default_data_root() / "binance"


_EVALUATE_OPTIONS = {  # the comparison's options: their dests on the namespace, and their defaults
    "config": None,
    "timerange": HELD_OUT_TIMERANGE,
    "datadir": None,
    "pairs": None,
    "wallet": None,
    "store": DEFAULT_STORE,
    "params": None,
    "output_dir": DEFAULT_EVALUATE_OUTPUT,
}


def _evaluate_options(args: argparse.Namespace) -> argparse.Namespace:
    """The comparison's options under their plain names, defaults filled in."""
    given = {name: getattr(args, f"evaluate_{name}", None) for name in _EVALUATE_OPTIONS}
    if "walk-forward" in (given["pairs"] or []):
        raise ValueError("--pairs took `walk-forward` as a pair; give walk-forward's options after it")
    return argparse.Namespace(
        **{k: default if given[k] is None else given[k] for k, default in _EVALUATE_OPTIONS.items()}
    )


def _refuse_parent_options(args: argparse.Namespace) -> None:
    """`hydra evaluate --pairs X walk-forward`: the option belongs to the comparison, not to walk-forward."""
    given = [f"--{name.replace('_', '-')}" for name in _EVALUATE_OPTIONS if getattr(args, f"evaluate_{name}", None)]
    if given:
        raise ValueError(
            f"{', '.join(given)} given before `walk-forward` would be ignored; put walk-forward's "
            "options after it (hydra evaluate walk-forward --help)"
        )


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Backtest Hydra, its ablations and the references on one span; print the table, write the report."""
    from hydra_plugins.evaluation.compare import evaluate
    from hydra_plugins.evaluation.report import METRIC_COLUMNS, markdown_table

    args = _evaluate_options(args)

    output = Path(args.output_dir) / args.timerange
    result = evaluate(
        [Path(c) for c in args.config or [DEFAULT_CONFIG]],
        _datadir(args),
        args.timerange,
        output,
        pairs=args.pairs,
        wallet=args.wallet,
        store=_store(args),
        overrides=signal_overrides(args.params),
        progress=lambda step: print(f"hydra evaluate: {step}", flush=True),
    )
    print(markdown_table(result.report.metrics, METRIC_COLUMNS))
    for note in result.report.notes:
        print(f"- {note}")
    print(f"Report: {result.files['html']} (table {result.files['markdown']}, plot {result.files['equity']})")
    return 0


def cmd_report_backtest(args: argparse.Namespace) -> int:
    """Write the HTML report of a Freqtrade backtest result, or of a walk-forward folder."""
    from hydra_plugins.evaluation.compare import result_report, walk_forward_report

    source = Path(args.result)
    datadir, overrides = _datadir(args), signal_overrides(args.params)
    if (source / "walk_forward.json").is_file():
        _, files = walk_forward_report(source, datadir, store=_store(args), overrides=overrides)
    else:
        _, files = result_report(
            source, datadir, Path(args.output_dir), strategy=args.strategy, store=_store(args), overrides=overrides
        )
    print(files["markdown"].read_text())
    print(f"Report: {files['html']}")
    return 0


def add_report_parser(rsub: argparse._SubParsersAction) -> None:
    """Add ``hydra report backtest`` to the ``hydra report`` group's actions ``rsub``."""
    p = rsub.add_parser(
        "backtest", help="HTML report with plots of a Freqtrade backtest result (or a walk-forward folder)"
    )
    p.add_argument(
        "result",
        nargs="?",
        default=DEFAULT_RESULTS,
        help=f"a result .zip, a folder of them (its newest) or a walk-forward folder (default {DEFAULT_RESULTS})",
    )
    p.add_argument("--strategy", help="the strategy's results to report, when the result holds several (default Hydra)")
    p.add_argument("--datadir", help=DATADIR_HELP)
    p.add_argument("--store", default=DEFAULT_STORE, help="intel store the input coverage reads, when present")
    p.add_argument("--params", help=f"signal thresholds (default: {DEFAULT_PARAMS} when present, as the backtests)")
    p.add_argument("--output-dir", default="user_data/hydra/reports", help="where the report goes (a backtest result)")
    p.set_defaults(func=cmd_report_backtest)


def _data_options(p: argparse.ArgumentParser, prefix: str, *, store_default: str | None) -> None:
    """The options both the comparison and walk-forward take (dests prefixed with ``prefix``)."""
    p.add_argument(
        "-c",
        "--config",
        dest=f"{prefix}config",
        action="append",
        metavar="CONFIG",
        help=f"Freqtrade config file (repeatable, merged in order; default {DEFAULT_CONFIG})",
    )
    p.add_argument("--datadir", dest=f"{prefix}datadir", metavar="DATADIR", help=DATADIR_HELP)
    p.add_argument(
        "--pairs", dest=f"{prefix}pairs", nargs="+", metavar="PAIR", help="pairs (default: the config's whitelist)"
    )
    p.add_argument(
        "--wallet",
        dest=f"{prefix}wallet",
        type=float,
        metavar="WALLET",
        help="starting balance (default: the config's dry_run_wallet, else 10000)",
    )
    p.add_argument(
        "--store",
        dest=f"{prefix}store",
        default=store_default,
        metavar="STORE",
        help=f"intel store the training and the input coverage read, when present (default {DEFAULT_STORE})",
    )
    p.add_argument(
        "--params", dest=f"{prefix}params", metavar="PARAMS",
        help=f"signal thresholds (default: {DEFAULT_PARAMS} when present, as the backtests)",
    )  # fmt: skip


def add_parser(groups: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``hydra evaluate`` and its ``walk-forward`` action to the CLI's subcommand ``groups``."""
    e = groups.add_parser(
        "evaluate",
        help="Hydra vs its ablations, Freqtrade's sample strategy and buy-and-hold (one run); walk-forward",
        description="Without an action: backtest Hydra, Hydra without the ML gate / the LLM gate / kill switches, "
        "Freqtrade's SampleStrategy and buy-and-hold on the same data; print one table, write one report.",
    )
    # The comparison's options carry their own dests (evaluate_*), so walk-forward's never overwrite them
    # unnoticed: given before `walk-forward` they are refused, not dropped (see _refuse_parent_options).
    _data_options(e, "evaluate_", store_default=None)
    e.add_argument(
        "--timerange",
        dest="evaluate_timerange",
        metavar="TIMERANGE",
        help=f"span, YYYYMMDD-YYYYMMDD (default {HELD_OUT_TIMERANGE}: after the shipped models' training data)",
    )
    e.add_argument(
        "--output-dir", dest="evaluate_output_dir", metavar="OUTPUT_DIR",
        help=f"the report goes into <output-dir>/<timerange> (default {DEFAULT_EVALUATE_OUTPUT})",
    )  # fmt: skip
    e.set_defaults(func=cmd_evaluate)
    esub = e.add_subparsers(dest="action")
    p = esub.add_parser(
        "walk-forward",
        help="retrain on rolling windows, backtest each following window with the models of its time and without",
    )
    _data_options(p, "", store_default=DEFAULT_STORE)
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
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--folds", type=int, default=5, help="walk-forward folds inside each training (default 5)")
    p.add_argument("--output-dir", default=DEFAULT_OUTPUT, help=f"where the report goes (default {DEFAULT_OUTPUT})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_walk_forward)
    return e
