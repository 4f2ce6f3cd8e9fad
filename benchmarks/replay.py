"""How long the replay exchange takes to answer what a dry-run bot asks of it.

    .venv/bin/python benchmarks/replay.py [--repeat 20]

Serves the 8 pairs from ../shared/data (or $HYDRA_DATA_DIR) from 2022-11-28 07:10 and times each
request a Freqtrade bot and HYDRA's in-bot refresh make, through HTTP on loopback: the median over
``--repeat`` calls. A bot's first analysis asks each pair for 1 600 candles (four calls of up to
499 on Binance futures), then one small call per pair and candle. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
import pandas as pd
from common import FUTURES

from hydra_plugins.replay.clock import ReplayClock
from hydra_plugins.replay.exchange import ReplayServer
from hydra_plugins.replay.markets import load_snapshot
from hydra_plugins.replay.tape import load_tape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    info = load_snapshot()
    symbols = [s["symbol"] for s in info["symbols"]]
    started = time.perf_counter()
    tapes = load_tape(FUTURES.parent, symbols, FUTURES.parent.parent / "binance-metrics")
    loaded = time.perf_counter() - started
    server = ReplayServer(info, tapes, ReplayClock.starting(pd.Timestamp("2022-11-28T07:10Z")), port=0).start()
    first = server.now_ms() - 1600 * 900_000  # where a bot's first download of 1 600 candles starts
    asks = {
        "klines 15m, 499 from a start": (
            "/fapi/v1/klines",
            {"symbol": "BTCUSDT", "interval": "15m", "limit": 499, "startTime": first},
        ),
        "klines 15m, newest 2": ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "15m", "limit": 2}),
        "klines 1h, 499": ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 499}),
        "markPriceKlines 1h, 499": ("/fapi/v1/markPriceKlines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 499}),
        "fundingRate, 1000": ("/fapi/v1/fundingRate", {"symbol": "BTCUSDT", "limit": 1000}),
        "premiumIndex, all 8": ("/fapi/v1/premiumIndex", {}),
        "depth 100": ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 100}),
        "ticker/24hr, one": ("/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}),
        "openInterestHist 5m, 30": ("/futures/data/openInterestHist", {"symbol": "BTCUSDT", "period": "5m"}),
    }
    print(f"loaded {len(tapes)} symbols in {loaded:.1f} s; median of {args.repeat} calls each:")
    with httpx.Client(base_url=server.url) as client:
        for label, (path, params) in asks.items():
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                client.get(path, params=params).raise_for_status()
                times.append(time.perf_counter() - start)
            print(f"  {label:32} {1000 * statistics.median(times):7.1f} ms")
    server.stop()


if __name__ == "__main__":
    main()
