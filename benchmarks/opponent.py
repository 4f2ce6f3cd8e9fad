"""How long the opponent model takes per pair.

    .venv/bin/python benchmarks/opponent.py [--pair BTC] [--days 365] [--repeat 3]

Reads real 15m candles from ../shared/data (or $HYDRA_DATA_DIR), the last ``--days`` of them. Open
interest is unknown throughout (as in any backtest before the collector ran), so every cohort is
proxied; a second run feeds a synthetic open-interest series so the real-OI path is timed too.
Prints figures; asserts nothing: a machine's speed is not a test.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from common import bench_args, last_candles

from hydra_plugins.core.config import OpponentConfig
from hydra_plugins.stats.opponent import opponent_columns


def best_seconds(candles: pd.DataFrame, oi: pd.Series, cfg: OpponentConfig, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        opponent_columns(candles, oi, cfg)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    args = bench_args(__doc__)
    candles = last_candles(args.pair, args.days)
    cfg = OpponentConfig()
    unknown = pd.Series(np.nan, index=candles.index)
    rng = np.random.default_rng(0)
    synthetic = pd.Series(1e10 * np.exp(np.cumsum(rng.normal(0.0, 0.003, len(candles)))), index=candles.index)
    print(f"pair {args.pair}, {len(candles)} candles ({args.days} days of 15m), window {cfg.window_bars} bars")
    for label, oi in (("open interest unknown (proxy)", unknown), ("synthetic open interest", synthetic)):
        best = best_seconds(candles, oi, cfg, args.repeat)
        print(f"{label}: best {best * 1000:.0f} ms of {args.repeat}, {len(candles) / best / 1000:.0f}k candles/s")


if __name__ == "__main__":
    main()
