"""The kill switches at work in a bot or a backtest: what to check when, what to say, what to keep.

:class:`KillSwitchGuard` is driven by the bridge from Freqtrade's callbacks (``bot_loop_start``,
``custom_exit``, ``confirm_trade_entry``) with plain values, so it behaves the same in backtests and
live:

* each pair's candle inputs (funding, predicted funding, cascade probability, close) are handed over
  whenever the pair is analysed; a check reads only candles closed by the time it runs;
* a check first re-reads the state file when an operator changed it, then checks every candle each
  pair closed since its last check (at most one cool-down back; a fresh state checks only the
  newest), the market-wide cascade on the candles every current pair has, then the day's drawdown
  at that moment;
* every new firing and expiry is saved first, then logged, sent to Telegram/FreqUI and journaled (a
  failing message channel undoes nothing).
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from hydra_plugins.core.config import KillSwitchConfig
from hydra_plugins.risk.journal import RiskJournal
from hydra_plugins.risk.kill_switch import (
    ALL_PAIRS,
    Firing,
    KillSwitchState,
    PairCandle,
    market_cascade,
    new_firings,
    pair_firings,
)

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
        # The candle closes where a switch may hold (a superset; each is checked exactly when reached), sorted:
        # a check walks only those, not every candle (a year's backtest has 35 040 per pair).
        self._pair_candidates: dict[str, list[datetime]] = {}
        self._above: dict[str, set[datetime]] = {}  # per pair: closes with the cascade probability above the limit
        self._market_candidates: list[datetime] | None = []  # None: to be found again from _above
        self.broken: str | None = None  # why the state file cannot be read, while it cannot

    # inputs
    def record_inputs(self, pair: str, inputs: pd.DataFrame) -> None:
        """Keep a pair's per-candle inputs (``Pipeline.kill_inputs``: indexed by candle close time)."""
        if inputs.empty:
            return
        times = [ts.to_pydatetime() for ts in inputs.index]
        values = inputs[["funding_rate", "predicted_funding", "cascade_prob", "close"]].to_numpy(dtype=float)
        self._inputs[pair] = dict(zip(times, map(tuple, values), strict=True))
        self._newest[pair] = times[-1]
        with np.errstate(invalid="ignore"):
            limit = self.cfg.funding_spike_pct / 100.0
            spike = (np.abs(values[:, 0]) > limit) | (np.abs(values[:, 1]) > limit)
            above = values[:, 2] > self.cfg.cascade_prob
        maybe = (spike if self.cfg.armed("funding_spike") else False) | (above if self.cfg.armed("cascade") else False)
        self._pair_candidates[pair] = [times[i] for i in np.flatnonzero(maybe)]
        self._above[pair] = {times[i] for i in np.flatnonzero(above)}
        self._market_candidates = None  # found again at the next check, once for all the pairs analysed since

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

    # the check
    def check(self, now: datetime, equity: Callable[[datetime], float | None]) -> list[Firing]:
        """Bring the switches up to ``now``; return the firings that are new.

        An unreadable state file is reported (``broken``) and left as it is; the switches go on working
        on the state in memory, so exits still happen, while the bridge refuses entries.
        """
        if not self.cfg.enabled:
            return []
        last = self.state.last_checked
        if self.state.path is None and last is not None and now < last:
            # Time went back: a new backtest over the same strategy (hyperopt's epochs). Start clean.
            self.state = KillSwitchState()
        self.reload()
        before = (dict(self.state.pair_checked), self.state.market_checked)
        fired = self._check_candles(now)
        # Saved once a candle even when nothing fired: a restart then checks on from where this left off.
        changed = bool(fired) or before != (self.state.pair_checked, self.state.market_checked)
        value = equity(now)
        if self.state.start_day(now, value):
            changed = True
        drawdown = self.state.check_drawdown(now, value, self.cfg)
        if drawdown is not None:
            fired.append(drawdown)
        expired = self.state.expire(now)
        if changed or fired or expired:
            self._save()
        for firing in fired:
            self._announce(firing)
        for firing in expired:
            self._say(f"HYDRA kill switch {firing.switch} on {_where(firing)}: cool-down over", False)
            self._journal("expired", firing.until, code=firing.switch, pair=firing.scope, reason=firing.reason)
        return fired

    def reload(self, *, announce: bool = True) -> None:
        """Re-read the state file if it changed; an unreadable one sets ``broken`` (and is said once)."""
        try:
            if self.state.reload_if_changed() and announce:
                self._say(f"HYDRA kill switches: state re-read, {len(self.state.firings)} in force", False)
        except ValueError as exc:
            if self.broken != str(exc):
                self._say(f"HYDRA {exc}; new entries are refused until then", True)
            self.broken = str(exc)
            return
        if self.broken is not None:
            self._say("HYDRA kill switch state readable again", False)
        self.broken = None

    def _check_candles(self, now: datetime) -> list[Firing]:
        """Check every candle closed by ``now`` and not yet checked: each pair's own, then the market's.

        Each pair is checked up to its own newest candle (one late pair holds nobody back); the
        market-wide cascade up to the newest candle every current pair has (a pair more than two
        candles behind the others is not current: it no longer counts towards the market).
        """
        if not self._newest:
            return []
        state, step, horizon = self.state, self.step, timedelta(hours=self.cfg.cooldown_hours)
        now_close = _floor(now, step)
        fired: list[Firing] = []
        for pair, newest in self._newest.items():
            upto = min(newest, now_close)
            last = state.pair_checked.get(pair)
            if last is not None and last >= upto:
                continue
            for close in _candidates(self._pair_candidates.get(pair, ()), last, upto, step, horizon):
                row = self._inputs[pair].get(close)
                if row is not None:
                    fired += new_firings(state, close, pair_firings(pair, _pair_candle(row), self.cfg), self.cfg)
            state.pair_checked[pair] = upto
        if self.cfg.armed("cascade"):
            lead = min(max(self._newest.values()), now_close)
            current = [t for t in self._newest.values() if t >= lead - 2 * step]
            upto = min(min(current), now_close)
            if state.market_checked is None or state.market_checked < upto:
                for close in _candidates(self._market_closes(), state.market_checked, upto, step, horizon):
                    probs = {p: rows[close][2] for p, rows in self._inputs.items() if close in rows}
                    if why := market_cascade(probs, self.cfg):
                        fired += new_firings(state, close, [("cascade", ALL_PAIRS, why)], self.cfg)
                state.market_checked = upto
        return fired

    def _market_closes(self) -> list[datetime]:
        """The candle closes where at least two pairs' cascade probability is above the limit (sorted)."""
        if self._market_candidates is None:
            counts: dict[datetime, int] = {}
            for closes in self._above.values():
                for close in closes:
                    counts[close] = counts.get(close, 0) + 1
            self._market_candidates = sorted(t for t, n in counts.items() if n >= 2)
        return self._market_candidates

    def fire(self, firing: Firing) -> bool:
        """Record a firing found outside :meth:`check` (the regime break, per position); True when new."""
        if not self.state.fire(firing):
            return False
        self._save()
        self._announce(firing)
        return True

    def _save(self) -> None:
        """Save unless the file on disk is unreadable (the operator must see it as it is)."""
        if self.broken is None:
            self.state.save()

    def _announce(self, firing: Firing) -> None:
        self._journal(
            "fired", firing.fired_at, code=firing.switch, pair=firing.scope, side=firing.side, reason=firing.reason
        )
        self._say(
            f"HYDRA KILL SWITCH {firing.describe()}. Closing the open positions it covers; new entries on "
            f"{_where(firing)} refused until {firing.until:%Y-%m-%d %H:%M} UTC (hydra risk clear ends it sooner).",
            True,
        )

    def _say(self, message: str, warning: bool) -> None:
        """Tell the user; a failing message channel never undoes what was decided."""
        try:
            self.tell(message, warning)
        except Exception:
            logger.exception("HYDRA could not send: %s", message)

    def _journal(self, event: str, time: datetime, **fields: Any) -> None:
        try:
            self.journal.write(event, time, **fields)
        except Exception:
            logger.exception("HYDRA could not write the risk journal (%s %s)", event, fields.get("code"))

    def refuse(self, now: datetime, pair: str, side: str | None, tag: str | None, code: str, reason: str) -> None:
        """Journal a refused entry."""
        self._journal("refused", now, code=code, pair=pair, side=side, tag=tag, reason=reason)


def _pair_candle(row: tuple[float, float, float, float]) -> PairCandle:
    return PairCandle(*(None if np.isnan(v) else float(v) for v in row[:3]))


def _candidates(
    times: Sequence[datetime], last: datetime | None, upto: datetime, step: timedelta, horizon: timedelta
) -> list[datetime]:
    """The ``times`` (sorted) a check from ``last`` up to ``upto`` reads: the candle closes after ``last``, no older
    than ``upto - horizon`` (a cool-down back), up to ``upto``; only ``upto`` when nothing was checked before (a
    fresh state does not fire on what it never watched)."""
    first = upto if last is None else max(last + step, upto - horizon)
    return list(times[bisect_left(times, first) : bisect_right(times, upto)])


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _floor(when: datetime, step: timedelta) -> datetime:
    """``when`` floored to a multiple of ``step`` since the epoch (a candle's open, or a close at ``when``)."""
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return when - (when - _EPOCH) % step


def _where(firing: Firing) -> str:
    return "all pairs" if firing.scope == "*" else firing.scope
