"""How long HYDRA's pipeline takes per pair, and how much memory its columns add.

    .venv/bin/python benchmarks/populate.py [--pair BTC] [--days 365] [--repeat 3]

Reads real candles and funding from ../shared/data (or $HYDRA_DATA_DIR). Prints figures; asserts
nothing: a machine's speed is not a test.
"""

from __future__ import annotations

import time

import pandas as pd
from common import FUTURES, bench_args, last_candles

from hydra_plugins.alpha.signals import REGISTRY
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.intel.features import IntelInputs
from hydra_plugins.pipeline import Pipeline


def main() -> None:
    args = bench_args(__doc__)
    candles = last_candles(args.pair, args.days)
    funding = pd.read_feather(FUTURES / f"{args.pair}_USDT_USDT-1h-funding_rate.feather")
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
