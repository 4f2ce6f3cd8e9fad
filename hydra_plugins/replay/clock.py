"""The replay's clock: recorded time shifted to the present, optionally running faster than real time.

A replay from ``from`` serves every recorded timestamp plus ``shift``. When the bot runs on the
replay's own clock (``exact``: at a ``speed`` above 1, or started through ``hydra replay … --`` /
``--attach``), the shift is a whole number of days, so candles, funding settlements and UTC days
keep their boundaries, and the served clock starts exactly at ``from`` + shift (up to a day behind
the real present). At speed 1 a bot may use its own (real) clock instead: then the served present
is the real one, the shift a whole number of hours (funding hours and UTC days move with it), and
the replay starts up to an hour after ``from``. A bot on the replay's clock is launched through
this module (``python -m hydra_plugins.replay.clock freqtrade trade …``), which moves the process's
wall clock (``time.time`` and ``datetime.now``, via time-machine) to ``origin + (real - started) x
speed``. Monotonic clocks, sleeps and timeouts stay real, so nothing waits longer than it should.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

import pandas as pd

from hydra_plugins.core.errors import HydraError

ENV = "HYDRA_REPLAY_CLOCK"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class ReplayClock:
    """Served time = recorded time + ``shift_ms``; the served clock reads ``origin`` at real time ``started``
    and runs ``speed`` times real time from there."""

    origin: float  # served epoch seconds at the start
    started: float  # real epoch seconds at the start
    speed: float
    shift_ms: int

    @classmethod
    def starting(
        cls, recorded_from: pd.Timestamp, speed: float = 1.0, now: float | None = None, exact: bool | None = None
    ) -> ReplayClock:
        """A clock replaying from ``recorded_from``, shifted by whole hours to the present.

        ``exact`` (the default when ``speed`` is not 1, whose bot runs on this clock anyway) starts the
        served clock exactly at ``recorded_from`` + shift, up to an hour behind the real present;
        otherwise the served clock is the real one and the replay starts up to an hour after ``recorded_from``.
        """
        if not (math.isfinite(speed) and 1 <= speed <= 1000):
            raise HydraError(f"replay speed must be from 1 to 1000, got {speed}")
        now = time.time() if now is None else now
        behind_ms = int(now * 1000) - int(recorded_from.timestamp() * 1000)
        if behind_ms < 0:
            raise HydraError(f"replay start {recorded_from} is in the future")
        exact = speed != 1.0 if exact is None else exact
        unit = DAY_MS if exact else HOUR_MS
        shift_ms = behind_ms // unit * unit
        origin = recorded_from.timestamp() + shift_ms / 1000 if exact else now
        return cls(origin=origin, started=now, speed=speed, shift_ms=shift_ms)

    @property
    def is_real_time(self) -> bool:
        """Whether the served clock is the real one (a bot needs no clock of its own)."""
        return self.speed == 1.0 and self.origin == self.started

    def served_ms(self, real: float | None = None) -> int:
        """The present as served (and as the bot's clock reads it) at real time ``real``."""
        real = time.time() if real is None else real
        return int((self.origin + (real - self.started) * self.speed) * 1000)

    def served_now(self, real: float | None = None) -> pd.Timestamp:
        return pd.Timestamp(self.served_ms(real), unit="ms", tz="UTC")

    def recorded_now(self, real: float | None = None) -> pd.Timestamp:
        return pd.Timestamp(self.served_ms(real) - self.shift_ms, unit="ms", tz="UTC")

    def env(self) -> dict[str, str]:
        """What a child process needs to run on this clock (see :func:`install_from_env`)."""
        return {ENV: f"{self.origin!r}:{self.started!r}:{self.speed!r}"}


def install(origin: float, started: float, speed: float) -> threading.Thread | None:
    """Make this process's wall clock read ``origin + (real - started) x speed`` (no-op for the real clock)."""
    if speed == 1.0 and origin == started:
        return None
    import time_machine  # only a replay with its own clock needs it

    real_at, mono_at = time.time(), time.monotonic()

    def target() -> float:
        return origin + (real_at + (time.monotonic() - mono_at) - started) * speed

    coordinates = time_machine.travel(target(), tick=True).start()

    def keep_pace() -> None:
        while True:
            ahead = target() - time.time()  # time.time() is the travelled clock from here on
            if ahead > 0:
                coordinates.shift(ahead)
            time.sleep(0.02)

    thread = threading.Thread(target=keep_pace, name="hydra-replay-clock", daemon=True)
    thread.start()
    return thread


def install_from_env() -> bool:
    """Install the clock named by ``$HYDRA_REPLAY_CLOCK`` (``origin:started:speed``); False when unset."""
    value = os.environ.get(ENV)
    if not value:
        return False
    try:
        origin, started, speed = (float(part) for part in value.split(":"))
    except ValueError:
        raise HydraError(f"{ENV}={value!r} is not 'origin:started:speed'") from None
    install(origin, started, speed)
    return True


def console_script(command: str) -> EntryPoint | None:
    """The installed console script (``freqtrade``, ``hydra``) ``command`` names, if it is one."""
    name = os.path.basename(command)
    return next((ep for ep in entry_points(group="console_scripts") if ep.name == name), None)


def run_console_script(argv: list[str]) -> int:
    """Run an installed console script (``freqtrade``, ``hydra``) in this process, on the replay clock."""
    if not argv:
        raise HydraError("usage: python -m hydra_plugins.replay.clock COMMAND [ARGS...]")
    found = console_script(argv[0])
    if found is None:
        raise HydraError(f"a replay's own clock runs Python console scripts only (freqtrade, hydra), not {argv[0]!r}")
    install_from_env()
    sys.argv = [found.name, *argv[1:]]
    result = found.load()()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    try:
        sys.exit(run_console_script(sys.argv[1:]))
    except HydraError as exc:
        print(f"hydra replay clock: {exc}", file=sys.stderr)
        sys.exit(2)
