"""How long HYDRA's pipeline takes per pair, and how much memory its columns add.

    .venv/bin/python benchmarks/populate.py [--pair BTC] [--days 365] [--repeat 3]

Reads real candles and funding from ../shared/data (or $HYDRA_DATA_DIR). Prints figures; asserts
nothing: a machine's speed is not a test.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from hydra_plugins.alpha.signals import REGISTRY
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.intel.features import IntelInputs
from hydra_plugins.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", default="BTC")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    futures = Path(os.environ.get("HYDRA_DATA_DIR", ROOT.parent / "shared" / "data")) / "binance" / "futures"
    candles = pd.read_feather(futures / f"{args.pair}_USDT_USDT-15m-futures.feather").iloc[-args.days * 96 :]
    candles = candles.reset_index(drop=True)
    funding = pd.read_feather(futures / f"{args.pair}_USDT_USDT-1h-funding_rate.feather")
    # Every signal, enabled or not: the most work a hyperopt epoch can ask of populate_entry_trend.
    everything = HydraConfig.model_validate({"alpha": {"signals": {n.lower(): {"enabled": True} for n in REGISTRY}}})
    pipe = Pipeline(everything, 15)
    inputs = IntelInputs(funding=funding)
    populate_s, alpha_s = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        frame = pipe.populate(candles, inputs)
        middle = time.perf_counter()
        out = pipe.alpha(frame)
        populate_s.append(middle - start)
        alpha_s.append(time.perf_counter() - middle)
    added_mb = (out.memory_usage(deep=True).sum() - candles.memory_usage(deep=True).sum()) / 2**20
    print(f"pair {args.pair}, {len(candles)} candles ({args.days} days of 15m)")
    for name, times in (("populate (L1, L2)", populate_s), ("alpha (5 signals)", alpha_s)):
        best = min(times)
        print(f"{name}: best {best * 1000:.0f} ms of {args.repeat}, {len(candles) / best / 1000:.0f}k candles/s")
    print(f"columns added: {out.shape[1] - candles.shape[1]}, memory added {added_mb:.1f} MiB")


if __name__ == "__main__":
    main()
