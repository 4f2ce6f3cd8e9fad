"""Record live intel into the store, each source at its own cadence, surviving every failure.

:class:`IntelRecorder` owns a list of :class:`Task` s (premium index, the futures-data ratios, order
book). ``run_due(now)`` runs the tasks that are due, at most ``max_calls`` HTTP calls at a time, so
the bot's ``bot_loop_start`` can refresh a few per loop without stalling trading, while the
``hydra intel collect`` service runs them all. A failed call is logged and retried with exponential
backoff (honouring Binance's ``Retry-After``) when :func:`is_retryable` says so; otherwise the task
waits for its next regular slot. Binance limits per IP, so a 429 or a 418 (ban) pauses every task,
not just the one that hit it. Nothing here raises into the caller's loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from hydra_plugins.core.errors import IntelUnavailable
from hydra_plugins.intel.sources import binance_rest as rest
from hydra_plugins.intel.store import IntelStore

logger = logging.getLogger(__name__)
BAN_PAUSE_S = 120.0  # Binance's shortest IP ban


@dataclass
class Task:
    """One recurring fetch: ``fetch(now)`` returns (series name, rows) pairs to store."""

    name: str
    cadence_s: float
    fetch: Callable[[pd.Timestamp], list[tuple[str, pd.DataFrame]]]
    next_run: float = 0.0
    failures: int = 0
    last_error: str = ""
    rows_written: int = 0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between retries of a failing task."""

    base_s: float = 2.0
    cap_s: float = 300.0

    def delay(self, failures: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (at least the server's hint)."""
        wait = min(self.cap_s, self.base_s * 2 ** max(0, failures - 1))
        return max(wait, retry_after_s or 0.0)


@dataclass
class IntelRecorder:
    """Run intel tasks when due and write what they return to the store."""

    store: IntelStore
    tasks: Sequence[Task]
    backoff: Backoff = field(default_factory=Backoff)
    # Seconds to hold every task (0 = go): e.g. while Binance reports the IP's weight near its limit.
    pause_s: Callable[[], float] = lambda: 0.0
    paused_until: float = 0.0
    _host_failures: int = 0

    def run_due(
        self,
        now_s: float,
        max_calls: int | None = None,
        *,
        budget_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Run due tasks (oldest first); return how many ran.

        Stops early after ``max_calls`` tasks, once ``budget_s`` seconds have gone by, when
        ``should_stop()`` says so, or when the IP must pause (a 429/418, or weight near the limit).
        """
        if now_s < self.paused_until:
            return 0
        started = time.monotonic()
        due = sorted((t for t in self.tasks if t.next_run <= now_s), key=lambda t: t.next_run)
        if max_calls is not None:
            due = due[:max_calls]
        ran = 0
        for task in due:
            if should_stop() or (budget_s is not None and ran and time.monotonic() - started >= budget_s):
                break
            ran += 1
            if self._run(task, now_s) or self._throttled(now_s):
                break
        return ran

    def _throttled(self, now_s: float) -> bool:
        hold = self.pause_s()
        if hold <= 0:
            return False
        self.paused_until = now_s + hold
        logger.warning("intel recording paused for %.0fs (rate-limit weight high)", hold)
        return True

    def next_due_s(self) -> float:
        """The earliest time a task is due."""
        return min(t.next_run for t in self.tasks)

    def _run(self, task: Task, now_s: float) -> bool:
        """Run one task; return True when the whole IP must pause (rate limited or banned)."""
        now = pd.Timestamp(now_s, unit="s", tz="UTC")
        try:
            written = sum(self.store.write(series, rows) for series, rows in task.fetch(now))
        except IntelUnavailable as exc:
            task.failures += 1
            task.last_error = str(exc)
            wait = self.backoff.delay(task.failures, exc.retry_after_s) if exc.retryable else task.cadence_s
            task.next_run = now_s + wait
            logger.warning("intel %s failed (%d in a row), next try in %.0fs: %s", task.name, task.failures, wait, exc)
            if exc.status in (429, 418) or exc.unreachable:
                # Binance limits per IP, and an unreachable host is unreachable for every task: all
                # wait. A ban (418) lasts at least two minutes.
                self._host_failures += 1
                floor = BAN_PAUSE_S if exc.status == 418 else self.backoff.delay(self._host_failures)
                hold = max(floor, exc.retry_after_s or 0.0)
                self.paused_until = now_s + hold
                task.next_run = max(task.next_run, self.paused_until)
                why = f"Binance answered {exc.status}" if exc.status else "Binance unreachable"
                logger.warning("intel recording paused for %.0fs: %s", hold, why)
                return True
            self._host_failures = 0
            return False
        except Exception as exc:  # a bug in one task must not stop the others
            task.failures += 1
            task.last_error = f"{type(exc).__name__}: {exc}"
            task.next_run = now_s + task.cadence_s
            logger.exception("intel %s crashed; next try in %.0fs", task.name, task.cadence_s)
            return False
        task.failures, task.last_error = 0, ""
        self._host_failures = 0
        task.rows_written += written
        task.next_run = now_s + task.cadence_s
        return False


WEIGHT_LIMIT_1M = 2400


def weight_pause(client: rest.BinanceFuturesClient, share: float = 0.8, pause_s: float = 60.0) -> Callable[[], float]:
    """Pause recording once the IP's used weight passes ``share`` of Binance's per-minute limit."""
    return lambda: pause_s if (client.used_weight_1m or 0) > share * WEIGHT_LIMIT_1M else 0.0


def binance_tasks(
    client: rest.BinanceFuturesClient,
    symbols: Sequence[str],
    *,
    premium_every_s: float = 60.0,
    ratios_every_s: float = 300.0,
    depth_every_s: float | None = None,
    depth_limit: int = 100,
    depth_band_bps: float = 50.0,
) -> list[Task]:
    """The Binance tasks for ``symbols``: one premium-index call for all, ratios per symbol, depth if asked.

    Weights: premiumIndex without a symbol costs 10 of the 2400 per minute; the futures-data ratio
    endpoints cost none but share a 1000 calls per 5 minutes cap (32 calls per 5 minutes here for
    8 symbols); depth with limit 100 costs 5.
    """
    wanted = list(symbols)
    tasks = [
        Task(
            "premium_index",
            premium_every_s,
            lambda now: [("premium_index", rest.parse_premium_index(client.premium_index(), now, wanted))],
        )
    ]
    for symbol in wanted:
        for series in rest.RATIO_PATHS:
            tasks.append(
                Task(
                    f"{series}:{symbol}",
                    ratios_every_s,
                    lambda now, s=symbol, n=series: [(n, rest.parse_ratios(client.ratios(n, s), now))],
                )
            )
        tasks.append(
            Task(
                f"taker_ratio:{symbol}",
                ratios_every_s,
                lambda now, s=symbol: [("taker_ratio", rest.parse_taker_ratio(client.taker_ratio(s), s, now))],
            )
        )
        if depth_every_s is not None:
            tasks.append(
                Task(
                    f"depth:{symbol}",
                    depth_every_s,
                    lambda now, s=symbol: [
                        ("depth", rest.parse_depth(client.depth(s, depth_limit), s, now, band_bps=depth_band_bps))
                    ],
                )
            )
    return tasks
