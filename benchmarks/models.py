"""How long the two models take to train on the shared data, and to score one candle of every pair.

    .venv/bin/python benchmarks/models.py [--timerange 20220101-20230701] [--repeat 20]

Training: ``hydra train``'s own functions (rows, 5-fold purged walk-forward, the final model) on all
pairs with data. Scoring: the newest candle of 8 pair frames (the shared data has no LTC 15m candles,
so BTC stands in twice), as the bot meets it each new candle: the models alone on those 8 rows, and
the whole L2 + L3 step (regime probabilities, signals, scorer, selection) on a live-sized frame per
pair, and the whole pipeline (L1 intel join, L2, L3) the bot runs per new candle on 8 pairs. Prints
figures; asserts nothing: a machine's speed is not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT

from hydra_plugins.alpha.features import market_features, signal_features
from hydra_plugins.core.config import load_hydra_config
from hydra_plugins.pipeline import STARTUP_CANDLES, Pipeline
from hydra_plugins.stats.regime_model import regime_features
from hydra_plugins.training.history import ResearchData, load_pair
from hydra_plugins.training.models import TrainSpec, train_regime, train_scorer

DATADIR = ROOT.parent / "shared" / "data" / "binance"
PAIRS = [f"{p}/USDT:USDT" for p in ("BTC", "ETH", "SOL", "BNB", "ADA", "XRP", "DOGE")]


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datadir", type=Path, default=DATADIR)
    parser.add_argument("--timerange", default="20220101-20230701")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--skip-training", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = _args()
    data = ResearchData(args.datadir)
    if not args.skip_training:
        spec = TrainSpec(PAIRS, args.timerange)
        cfg = load_hydra_config({})
        with tempfile.TemporaryDirectory() as tmp:
            for name, train, file in (
                ("signal scorer", train_scorer, "s.cbm"),
                ("regime classifier", train_regime, "r.ubj"),
            ):
                start = time.perf_counter()
                card = train(cfg, data, spec, Path(tmp) / file)
                took = time.perf_counter() - start
                print(
                    f"train {name}: {took:.1f} s for {card['training']['rows']} rows "
                    f"({len(PAIRS)} pairs, {args.timerange}, {len(card['walk_forward']['folds'])} folds + final fit)"
                )
    # Both models forced on (whatever their cards say) and all five signals: the most work per candle.
    forced = {
        "alpha": {
            "scorer": {"path": str(ROOT / "models" / "signal_scorer.cbm"), "enabled": True},
            "signals": {
                n: {"enabled": True}
                for n in ("liquidation_reversal", "oi_divergence", "crowding_fade", "funding_carry")
            },
        },
        "stats": {"regime_model": {"path": str(ROOT / "models" / "regime_classifier.ubj"), "enabled": True}},
    }
    pipe = Pipeline(load_hydra_config(forced), 15)
    pipe.load_models()
    end = pd.Timestamp("2024-06-30", tz="UTC")
    loaded = [load_pair(data, pair, end - pd.Timedelta(days=1), end, STARTUP_CANDLES) for pair in [*PAIRS, PAIRS[0]]]
    states = [pipe.market_state(candles, inputs) for candles, inputs in loaded]
    assessed = [pipe.assess(state) for state in states]
    regime_rows = pd.concat([regime_features(f, pipe.timeframe).iloc[[-1]] for f in assessed], ignore_index=True)
    newest = pipe.alpha(pd.concat([f.iloc[[-1]] for f in assessed], ignore_index=True))
    scorer_rows = signal_features(newest, pipe.signals[0], market_features(newest, pipe.timeframe))
    model_s, step_s, whole_s = [], [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        pipe.scorer.active.predict(scorer_rows)
        pipe.regime_model.active.predict(regime_rows)
        model_s.append(time.perf_counter() - start)
    for _ in range(max(1, args.repeat // 10)):
        start = time.perf_counter()
        for state in states:
            pipe.alpha(pipe.assess(state))
        step_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        for candles, inputs in loaded:
            pipe.alpha(pipe.assess(pipe.market_state(candles, inputs)))
        whole_s.append(time.perf_counter() - start)
    print(
        f"score one candle of 8 pairs, models only (scorer + regime model, 8 rows each): "
        f"median {np.median(model_s) * 1000:.1f} ms of {args.repeat}"
    )
    print(
        f"L2 regime + L3 (5 signals, scorer, selection) on 8 live-sized frames ({len(states[0])} candles each): "
        f"median {np.median(step_s) * 1000:.0f} ms of {len(step_s)}"
    )
    print(
        f"the whole pipeline per new candle, L1 intel join to L3 selection, 8 live-sized frames: "
        f"median {np.median(whole_s) * 1000:.0f} ms of {len(whole_s)}"
    )


if __name__ == "__main__":
    main()
