"""``hydra train scorer|regime|all``: train HYDRA's two models on history and write them with their cards."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hydra_plugins.core.config import HydraConfig
from hydra_plugins.training.history import ResearchData, latest_candle
from hydra_plugins.training.models import REGIME_FILE, SCORER_FILE, TrainSpec, train_regime, train_scorer

TARGETS = ("scorer", "regime", "all")


def days_timerange(data: ResearchData, pairs: Sequence[str], days: int) -> str:
    """Return the Freqtrade timerange covering the last ``days`` days of the data."""
    end = latest_candle(data, pairs)
    if end is None:
        raise FileNotFoundError(f"no {data.timeframe} candles for {list(pairs)} in {data.datadir}")
    start = (end - pd.Timedelta(days=days)).floor("D")
    return f"{start:%Y%m%d}-"


def _fmt(summary: dict[str, Any], key: str) -> str:
    value = summary.get(key, {}).get("mean")
    return "n/a" if value is None or value != value else f"{value:.3f}"


def describe_scorer(card: dict[str, Any]) -> str:
    s = card["walk_forward"]["summary"]
    return (
        f"signal scorer: {card['training']['rows']} signal trades, {card['training']['span']}, "
        f"positive rate {card['label']['positive_rate']:.3f}\n"
        f"  walk-forward ({len(card['walk_forward']['folds'])} folds, means): AUC {_fmt(s, 'auc')} "
        f"(signal confidence alone {_fmt(s, 'auc_confidence')}), Brier {_fmt(s, 'brier')} "
        f"(base rate {_fmt(s, 'brier_base_rate')}), precision {_fmt(s, 'precision')} and recall "
        f"{_fmt(s, 'recall')} at {card['threshold']}, mean net % all {_fmt(s, 'mean_net_pct_all')} / "
        f"passed {_fmt(s, 'mean_net_pct_passed')}\n"
        f"  {card['recommendation']}"
    )


def describe_regime(card: dict[str, Any]) -> str:
    s = card["walk_forward"]["summary"]
    return (
        f"regime classifier: {card['training']['rows']} candles, {card['training']['span']}\n"
        f"  walk-forward ({len(card['walk_forward']['folds'])} folds, means): macro-F1 {_fmt(s, 'macro_f1')} "
        f"(rules {_fmt(s, 'rules_macro_f1')}, majority class {_fmt(s, 'majority_macro_f1')}), accuracy "
        f"{_fmt(s, 'accuracy')} (rules {_fmt(s, 'rules_accuracy')})\n"
        f"  {card['recommendation']}"
    )


def train(
    target: str,
    cfg: HydraConfig,
    data: ResearchData,
    spec: TrainSpec,
    output_dir: Path,
) -> list[str]:
    """Train ``target`` ("scorer", "regime" or "all") into ``output_dir``; return one description per model."""
    if target not in TARGETS:
        raise ValueError(f"unknown model {target!r}; expected one of {TARGETS}")
    lines = []
    if target in ("scorer", "all"):
        card = train_scorer(cfg, data, spec, output_dir / SCORER_FILE)
        lines.append(describe_scorer(card) + f"\n  wrote {output_dir / SCORER_FILE} (sha256 {card['sha256'][:12]})")
    if target in ("regime", "all"):
        card = train_regime(cfg, data, spec, output_dir / REGIME_FILE)
        lines.append(describe_regime(card) + f"\n  wrote {output_dir / REGIME_FILE} (sha256 {card['sha256'][:12]})")
    return lines
