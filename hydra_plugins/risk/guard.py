"""The kill switches at work in a bot or a backtest: what to check when, what to say, what to keep.

:class:`KillSwitchGuard` is driven by the bridge from Freqtrade's callbacks (``bot_loop_start``,
``custom_exit``, ``confirm_trade_entry``) with plain values, so it behaves the same in backtests and
live:

* each pair's candle inputs (funding, predicted funding, cascade probability, close) are handed over
  whenever the pair is analysed; a check reads only candles closed by the time it runs;
* a check first re-reads the state file when an operator changed it, then checks every candle closed
  since the last check (at most one cool-down back), then the day's drawdown at that moment;
* every new firing, expiry and clearing is logged, sent to Telegram/FreqUI and journaled, and the
  state is saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from hydra_plugins.core.config import KillSwitchConfig
from hydra_plugins.risk.journal import RiskJournal
from hydra_plugins.risk.kill_switch import Firing, KillSwitchState, PairCandle, candle_firings, new_firings

logger = logging.getLogger(__name__)

Tell = Callable[[str, bool], None]  # (message, warning)


class KillSwitchGuard:
    """The kill switches of one bot (or one backtest)."""

    def __init__(
        self,
        cfg: KillSwitchConfig,
        state: KillSwitchState,
        journal: RiskJournal,
        timeframe_minutes: int,
        tell: Tell,
    ) -> None:
        self.cfg = cfg
        self.state = state
        self.journal = journal
        self.step = timedelta(minutes=timeframe_minutes)
        self.tell = tell
        self._inputs: dict[str, dict[datetime, tuple[float, float, float, float]]] = {}
        self._newest: dict[str, datetime] = {}

    # inputs
    def record_inputs(self, pair: str, inputs: pd.DataFrame) -> None:
        """Keep a pair's per-candle inputs (``Pipeline.kill_inputs``: indexed by candle close time)."""
        if inputs.empty:
            return
        times = [ts.to_pydatetime() for ts in inputs.index]
        values = inputs[["funding_rate", "predicted_funding", "cascade_prob", "close"]].to_numpy(dtype=float)
        self._inputs[pair] = dict(zip(times, map(tuple, values), strict=True))
        self._newest[pair] = times[-1]

    def close_at(self, pair: str, when: datetime) -> float | None:
        """The pair's close of the newest candle closed by ``when`` (None if unknown)."""
        rows = self._inputs.get(pair)
        if not rows:
            return None
        t = min(self._newest[pair], _floor(when, self.step))
        for _ in range(4):  # a missing candle or two; older than that is not a price to value a position at
            row = rows.get(t)
            if row is not None and np.isfinite(row[3]):
                return float(row[3])
            t -= self.step
        return None

    def _candle(self, close: datetime) -> dict[str, PairCandle]:
        out = {}
        for pair, rows in self._inputs.items():
            row = rows.get(close)
            if row is not None:
                out[pair] = PairCandle(*(None if np.isnan(v) else float(v) for v in row[:3]))
        return out

    # the check
    def check(self, now: datetime, equity: Callable[[datetime], float | None]) -> list[Firing]:
        """Bring the switches up to ``now``; return the firings that are new. Raises if the state is unreadable."""
        if not self.cfg.enabled:
            return []
        if self.state.path is None and self.state.last_candle is not None and now < self.state.last_candle:
            # Time went back: a new backtest over the same strategy (hyperopt's epochs). Start clean.
            self.state = KillSwitchState()
        if self.state.reload_if_changed():
            self.tell(f"HYDRA kill switches: state re-read, {len(self.state.firings)} in force", False)
        expired: list[Firing] = []
        fired: list[Firing] = []
        changed = False
        if self._newest:
            newest = min(max(self._newest.values()), _floor(now, self.step))
            horizon = timedelta(hours=self.cfg.cooldown_hours)
            for close in self.state.candles_to_check(newest, self.step, horizon):
                expired += self.state.expire(close)  # a cool-down over by this close lets its switch fire anew
                fired += new_firings(self.state, close, candle_firings(self._candle(close), self.cfg), self.cfg)
            if self.state.last_candle != newest:
                self.state.last_candle, changed = newest, True
        expired += self.state.expire(now)
        for firing in expired:
            changed = True
            self.journal.write("expired", firing.until, code=firing.switch, pair=firing.scope, reason=firing.reason)
            self.tell(f"HYDRA kill switch {firing.switch} on {_where(firing)}: cool-down over", False)
        value = equity(now)
        if self.state.start_day(now, value):
            changed = True
        drawdown = self.state.check_drawdown(now, value, self.cfg)
        if drawdown is not None:
            fired.append(drawdown)
        for firing in fired:
            self._announce(firing)
        if changed or fired:
            self.state.save()
        return fired

    def fire(self, firing: Firing) -> bool:
        """Record a firing found outside :meth:`check` (the regime break, per position); True when new."""
        if not self.state.fire(firing):
            return False
        self._announce(firing)
        self.state.save()
        return True

    def _announce(self, firing: Firing) -> None:
        self.journal.write(
            "fired", firing.fired_at, code=firing.switch, pair=firing.scope, side=firing.side, reason=firing.reason
        )
        self.tell(
            f"HYDRA KILL SWITCH {firing.describe()}. Closing the open positions it covers; new entries on "
            f"{_where(firing)} refused until {firing.until:%Y-%m-%d %H:%M} UTC (hydra risk clear ends it sooner).",
            True,
        )

    def refuse(self, now: datetime, pair: str, side: str | None, tag: str | None, code: str, reason: str) -> None:
        """Journal a refused entry."""
        self.journal.write("refused", now, code=code, pair=pair, side=side, tag=tag, reason=reason)


def _floor(when: datetime, step: timedelta) -> datetime:
    return pd.Timestamp(when).floor(step).to_pydatetime()


def _where(firing: Firing) -> str:
    return "all pairs" if firing.scope == "*" else firing.scope
