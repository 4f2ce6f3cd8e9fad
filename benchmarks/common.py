"""What the benchmarks share: their command line and the real candles they time."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FUTURES = Path(os.environ.get("HYDRA_DATA_DIR", ROOT.parent / "shared" / "data")) / "binance" / "futures"


def bench_args(doc: str | None) -> argparse.Namespace:
    """Parse ``--pair``, ``--days`` and ``--repeat``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", default="BTC")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args()


def last_candles(pair: str, days: int) -> pd.DataFrame:
    """Return the pair's last ``days`` of 15m candles from the shared data."""
    candles = pd.read_feather(FUTURES / f"{pair}_USDT_USDT-15m-futures.feather").iloc[-days * 96 :]
    return candles.reset_index(drop=True)
