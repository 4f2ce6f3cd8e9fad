"""How long the opponent model takes per pair.

    .venv/bin/python benchmarks/opponent.py [--pair BTC] [--days 365] [--repeat 3]

Reads real 15m candles from ../shared/data (or $HYDRA_DATA_DIR), the last ``--days`` of them. Open
interest is unknown throughout (as in any backtest before the collector ran), so every cohort is
proxied; a second run feeds a synthetic open-interest series so the real-OI path is timed too.
Prints figures; asserts nothing: a machine's speed is not a test.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hydra_plugins.core.config import OpponentConfig
from hydra_plugins.stats.opponent import opponent_columns

ROOT = Path(__file__).resolve().parents[1]


def best_seconds(candles: pd.DataFrame, oi: pd.Series, cfg: OpponentConfig, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        opponent_columns(candles, oi, cfg)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", default="BTC")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    futures = Path(os.environ.get("HYDRA_DATA_DIR", ROOT.parent / "shared" / "data")) / "binance" / "futures"
    candles = pd.read_feather(futures / f"{args.pair}_USDT_USDT-15m-futures.feather").iloc[-args.days * 96 :]
    candles = candles.reset_index(drop=True)
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
