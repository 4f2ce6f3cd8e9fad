"""Backtest wall time and memory of Hydra against Freqtrade's bundled sample strategy, in the same run.

    .venv/bin/python benchmarks/backtest.py [--timerange 20230101-20230401] [--config config/all-signals.json]

Both run `freqtrade backtesting` on the same data, pairs, timeframe (15m) and timerange, one after
the other, behind the offline market snapshot. Hydra runs with every layer on: L1 intel, L2 with the
regime model, L3's signals and scorer as configured, L4 sizing and the kill switches. The sample is
Freqtrade's own `templates/sample_strategy.py` (RSI, TEMA, Bollinger bands), copied into a temporary
strategy folder. Prints each wall time, the peak resident memory of the process tree, and the
Hydra/sample ratio (the target is 2x at most). Asserts nothing: a machine's speed is not a test.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from common import FUTURES, ROOT

BIN = Path(sys.executable).parent


def run(command: list[str], log: Path) -> tuple[float, float]:
    """Run ``command``; return its wall seconds and the peak RSS (MiB) of it and its children."""
    peak = 0
    with log.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            root = psutil.Process(process.pid)
            while not done.is_set():
                try:
                    rss = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
                    peak = max(peak, rss)
                except psutil.Error:
                    pass
                done.wait(0.2)

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        code = process.wait()
        elapsed = time.perf_counter() - started
        done.set()
        watcher.join()
    if code != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise SystemExit(f"{log.stem} failed ({code}); the end of its log:\n{tail}")
    return elapsed, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timerange", default="20230101-20230401")
    parser.add_argument("--config", action="append", default=[], help="extra config overlays for both runs")
    parser.add_argument("--port", type=int, default=18703)
    args = parser.parse_args()
    import freqtrade

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sample_dir = work / "strategies"
        sample_dir.mkdir()
        shutil.copy(Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py", sample_dir)
        overlay = work / "offline.json"
        overlay.write_text(
            subprocess.run([str(BIN / "hydra"), "markets", "overlay", "--port", str(args.port)], capture_output=True,
                           text=True, check=True).stdout
        )  # fmt: skip
        userdir = work / "user_data"
        (userdir / "backtest_results").mkdir(parents=True)
        overlays = [a for c in args.config for a in ("-c", c)]
        common = [
            "-c", str(ROOT / "config" / "config.json"), "-c", str(overlay), *overlays,
            "--datadir", str(FUTURES.parent), "--timerange", args.timerange, "--timeframe", "15m", "--cache", "none",
            "--userdir", str(userdir),
        ]  # fmt: skip
        serve = [str(BIN / "hydra"), "markets", "run", "--port", str(args.port), "--"]
        backtest = [str(BIN / "freqtrade"), "backtesting"]
        runs = {
            "Hydra": [*serve, *backtest, "--strategy", "Hydra", "--strategy-path", str(ROOT / "user_data/strategies"),
                      *common],
            "SampleStrategy": [*serve, *backtest, "--strategy", "SampleStrategy", "--strategy-path", str(sample_dir),
                               *common],
        }  # fmt: skip
        print(f"timerange {args.timerange}, 15m, the config's pairs, overlays {args.config or 'none'}")
        figures = {}
        for name, command in runs.items():
            log = work / f"{name}.log"
            figures[name] = run(command, log)
            trades = next((line.split("│")[2].strip() for line in log.read_text().splitlines()
                           if "Total/Daily Avg Trades" in line), "?")  # fmt: skip
            wall, peak = figures[name]
            print(f"  {name:15} {wall:7.1f} s   peak RSS {peak:7.0f} MiB   trades {trades} (total / a day)")
        ratio = figures["Hydra"][0] / figures["SampleStrategy"][0]
        print(f"  Hydra / sample wall time: {ratio:.2f}x (target: at most 2x)")


if __name__ == "__main__":
    main()
