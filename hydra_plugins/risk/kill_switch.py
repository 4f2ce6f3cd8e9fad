"""Kill switches: conditions under which HYDRA closes positions at once and stops opening new ones.

==============  =====================================================================  =========
switch          fires when (on a closed candle, or at the moment for the drawdown)     covers
==============  =====================================================================  =========
daily_drawdown  equity including unrealized P&L is more than ``daily_drawdown_pct``    every pair
                below its value at the UTC day's start (fires at most once a day)
funding_spike   a pair's last settled or predicted funding rate is beyond              the pair
                ``funding_spike_pct`` (per settlement, either sign)
cascade         a pair's cascade probability is above ``cascade_prob``; on at least    the pair,
                ``cascade_market_share`` of the pairs with a known probability (and     or every
                at least two) at once it covers every pair                             pair
regime_break    a regime against an open position (a downtrend, a squeeze of its side  the pair's
                or a cascade) holds now but did not at its entry, with volatility      positions on
                extreme                                                                that side
==============  =====================================================================  =========

A firing closes every open trade it covers that was opened before it fired (the strategy's
``custom_exit`` returns ``hydra_kill_<switch>``) and refuses new entries it covers until
``fired_at + cooldown_hours``. It does not extend itself while its condition holds: after the
cool-down the switch is checked again and fires anew if the condition still holds.

Everything here is pure: :class:`KillSwitchState` keeps the firings and the day's starting equity
and, given a path (dry-run and live), persists them as JSON after every change, so a restart keeps
them. An operator may clear firings with ``hydra risk clear`` while the bot runs: the bot re-reads the
file whenever it changed on disk.
"""

from __future__ import annotations

import fcntl
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hydra_plugins.core.artifacts import replace_atomically
from hydra_plugins.core.config import KillSwitchConfig
from hydra_plugins.core.numbers import finite

ALL_PAIRS = "*"
STATE_VERSION = 1
HISTORY_KEPT = 200  # past firings kept in the state file for `hydra risk status`


def exit_reason(switch: str) -> str:
    """The exit reason of a trade a switch closed (what Freqtrade reports and FreqUI shows)."""
    return f"hydra_kill_{switch}"


@dataclass(frozen=True)
class Firing:
    """One kill switch firing: what it covers, since when, until when and why."""

    switch: str
    scope: str  # ALL_PAIRS or one pair
    fired_at: datetime  # when the condition became known (a candle's close, or the moment for the drawdown)
    until: datetime  # new entries it covers are refused until then
    reason: str
    side: str | None = None  # regime_break: the side it closes ("long"/"short"); None covers both

    @property
    def key(self) -> tuple[str, str, datetime]:
        return self.switch, self.scope, self.fired_at

    def covers(self, pair: str, side: str | None = None) -> bool:
        """Whether this firing covers ``pair`` (and, for a one-sided firing, the position's ``side``)."""
        if self.scope not in (ALL_PAIRS, pair):
            return False
        return self.side is None or side is None or self.side == side

    def active(self, now: datetime) -> bool:
        return now < self.until

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["fired_at"] = self.fired_at.isoformat()
        out["until"] = self.until.isoformat()
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Firing:
        return cls(
            switch=str(raw["switch"]),
            scope=str(raw["scope"]),
            fired_at=_utc(raw["fired_at"]),
            until=_utc(raw["until"]),
            reason=str(raw.get("reason", "")),
            side=raw.get("side"),
        )

    def describe(self) -> str:
        where = "all pairs" if self.scope == ALL_PAIRS else self.scope
        side = f" ({self.side}s)" if self.side else ""
        return f"{self.switch} on {where}{side}: {self.reason}"


def _utc(value: str | datetime) -> datetime:
    ts = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


# The conditions. Each returns the reason when its switch fires, else None; unknown input never fires
# (a kill switch acts on evidence; missing data is the data-health gate's business on the entry side).


def drawdown_pct(day_start_equity: float, equity: float) -> float:
    """How far ``equity`` is below the day's starting equity, in percent (negative when above)."""
    return (1.0 - equity / day_start_equity) * 100.0


def daily_drawdown(day_start_equity: float | None, equity: float | None, cfg: KillSwitchConfig) -> str | None:
    start, now = finite(day_start_equity), finite(equity)
    if start is None or now is None or start <= 0:
        return None
    down = drawdown_pct(start, now)
    if down > cfg.daily_drawdown_pct:
        return f"equity {now:.2f} is {down:.2f}% below the day's start {start:.2f} (limit {cfg.daily_drawdown_pct:g}%)"
    return None


def funding_spike(last_rate: Any, predicted_rate: Any, cfg: KillSwitchConfig) -> str | None:
    """Rates are fractions per settlement (0.005 = 0.5 %)."""
    limit = cfg.funding_spike_pct / 100.0
    for name, value in (("predicted", finite(predicted_rate)), ("last settled", finite(last_rate))):
        if value is not None and abs(value) > limit:
            return f"{name} funding rate {value:+.4%} beyond {limit:.2%}"
    return None


def pair_cascade(prob: Any, cfg: KillSwitchConfig) -> str | None:
    p = finite(prob)
    if p is not None and p > cfg.cascade_prob:
        return f"cascade probability {p:.2f} above {cfg.cascade_prob:.2f}"
    return None


def market_cascade(probs: Mapping[str, Any], cfg: KillSwitchConfig) -> str | None:
    """Return the reason when at least two pairs, and at least ``cascade_market_share`` of the pairs with a
    known probability, are above ``cascade_prob`` (one pair alone is that pair's cascade)."""
    known = {pair: p for pair, raw in probs.items() if (p := finite(raw)) is not None}
    above = sorted(pair for pair, p in known.items() if p > cfg.cascade_prob)
    if len(above) >= 2 and len(above) / len(known) >= cfg.cascade_market_share:
        return (
            f"cascade probability above {cfg.cascade_prob:.2f} on {len(above)} of {len(known)} pairs"
            f" ({', '.join(above)})"
        )
    return None


def regime_break(
    side: str, against_now: bool | None, was_clear: bool | None, vol_extreme: bool | None, regime: str | None
) -> str | None:
    """Return the reason when the regime turned against a ``side`` position while volatility is extreme.

    ``against_now``: a regime against that side holds (stats/regime.py ``against_columns``);
    ``was_clear``: none held at some candle since the position opened. A position that never saw it
    clear (opened to fade that very regime) has seen no flip; unknown is no flip either.
    """
    if not (vol_extreme and against_now and was_clear is True):
        return None
    return f"regime turned against the {side} ({regime or 'unknown'}) with volatility extreme"


@dataclass(frozen=True)
class PairCandle:
    """What the switches read of one pair's closed candle."""

    funding_rate: float | None = None
    predicted_funding: float | None = None
    cascade_prob: float | None = None


def pair_firings(pair: str, candle: PairCandle, cfg: KillSwitchConfig) -> list[tuple[str, str, str]]:
    """Return (switch, scope, reason) for each per-pair switch that holds on one of ``pair``'s candles."""
    out = []
    if cfg.armed("funding_spike") and (why := funding_spike(candle.funding_rate, candle.predicted_funding, cfg)):
        out.append(("funding_spike", pair, why))
    if cfg.armed("cascade") and (why := pair_cascade(candle.cascade_prob, cfg)):
        out.append(("cascade", pair, why))
    return out


_FIELDS = ("firings", "history", "day", "day_start_equity", "drawdown_ref_equity", "pair_checked", "market_checked")


@dataclass
class KillSwitchState:
    """The firings, past firings, the UTC day's equity marks and the candles already checked.

    With a ``path`` every change is written there atomically (JSON), under an advisory lock that
    ``hydra risk clear`` takes too, so neither overwrites the other's change; :meth:`reload_if_changed`
    picks up an operator's edit made while the bot runs.
    """

    path: Path | None = None
    firings: list[Firing] = field(default_factory=list)
    history: list[Firing] = field(default_factory=list)
    day: date | None = None
    day_start_equity: float | None = None
    # The daily drawdown is measured from here: the day's starting equity, then the equity at each firing.
    drawdown_ref_equity: float | None = None
    pair_checked: dict[str, datetime] = field(default_factory=dict)  # newest candle close checked, per pair
    market_checked: datetime | None = None  # newest candle close checked for a market-wide cascade
    _stamp: tuple[int, int, int] | None = None
    _loaded: set[tuple[str, str, datetime]] = field(default_factory=set)  # firings as last read or written

    @classmethod
    def open(cls, path: Path | None) -> KillSwitchState:
        """The state kept at ``path`` (a fresh one when the file is absent); None keeps it in memory only."""
        state = cls(path=path)
        state.reload_if_changed()
        return state

    @property
    def last_checked(self) -> datetime | None:
        """The newest candle close checked for any pair."""
        times = [*self.pair_checked.values(), *([self.market_checked] if self.market_checked else [])]
        return max(times, default=None)

    # persistence
    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat() if self.path is not None else None
        except OSError:
            return None
        return None if st is None else (st.st_ino, st.st_mtime_ns, st.st_size)

    def _adopt(self, other: KillSwitchState) -> None:
        for name in _FIELDS:
            setattr(self, name, getattr(other, name))
        self._loaded = {f.key for f in self.firings}

    def reload_if_changed(self) -> bool:
        """Re-read the file when it changed on disk since this state last read or wrote it; True if it did.

        A file that cannot be parsed raises ValueError naming it (and this state stays as it was): the
        bot refuses entries until it is fixed or removed, since it cannot tell which firings are in
        force. A removed file is a fresh state: nothing in force, the day's equity marks taken anew.
        """
        if self.path is None:
            return False
        with _locked(self.path):
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return False
            self._adopt(KillSwitchState(path=self.path) if stamp is None else self._parse(self.path))
            self._stamp = stamp
        return True

    @classmethod
    def _parse(cls, path: Path) -> KillSwitchState:
        try:
            raw = json.loads(path.read_text())
            if raw.get("version") != STATE_VERSION:
                raise ValueError(f"version {raw.get('version')!r}, expected {STATE_VERSION}")
            return cls(
                path=path,
                firings=[Firing.from_json(f) for f in raw.get("firings", [])],
                history=[Firing.from_json(f) for f in raw.get("history", [])],
                day=date.fromisoformat(raw["day"]) if raw.get("day") else None,
                day_start_equity=raw.get("day_start_equity"),
                drawdown_ref_equity=raw.get("drawdown_ref_equity"),
                pair_checked={str(k): _utc(v) for k, v in (raw.get("pair_checked") or {}).items()},
                market_checked=_utc(raw["market_checked"]) if raw.get("market_checked") else None,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"kill switch state {path} is unreadable ({exc}); fix or delete it") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "firings": [f.to_json() for f in self.firings],
            "history": [f.to_json() for f in self.history[-HISTORY_KEPT:]],
            "day": self.day.isoformat() if self.day else None,
            "day_start_equity": self.day_start_equity,
            "drawdown_ref_equity": self.drawdown_ref_equity,
            "pair_checked": {pair: t.isoformat() for pair, t in sorted(self.pair_checked.items())},
            "market_checked": self.market_checked.isoformat() if self.market_checked else None,
        }

    def save(self) -> None:
        """Write the state; firings an operator cleared from the file since it was last read stay cleared."""
        if self.path is None:
            return
        with _locked(self.path):
            if self._file_stamp() not in (self._stamp, None):
                on_disk = {f.key for f in self._parse(self.path).firings}
                cleared = self._loaded - on_disk
                self.firings = [f for f in self.firings if f.key not in cleared]
            replace_atomically(self.path, (json.dumps(self.to_json(), indent=2) + "\n").encode())
            self._stamp = self._file_stamp()
        self._loaded = {f.key for f in self.firings}

    # the rules
    def fire(self, firing: Firing) -> bool:
        """Record ``firing`` unless the same switch is already in force on the same scope at its time; True if new."""
        same = (firing.switch, firing.scope, firing.side)
        if any((f.switch, f.scope, f.side) == same and f.active(firing.fired_at) for f in self.firings):
            return False
        self.firings.append(firing)
        self.history.append(firing)
        self.history = self.history[-HISTORY_KEPT:]
        return True

    def expire(self, now: datetime) -> list[Firing]:
        """Drop the firings whose cool-down is over at ``now``; return them."""
        over = [f for f in self.firings if not f.active(now)]
        self.firings = [f for f in self.firings if f.active(now)]
        return over

    def clear(self, switch: str | None = None, pair: str | None = None) -> list[Firing]:
        """Drop the firings of ``switch`` and/or on ``pair`` (every firing when both are None); return them."""
        gone = [f for f in self.firings if (switch is None or f.switch == switch) and (pair is None or f.scope == pair)]
        self.firings = [f for f in self.firings if f not in gone]
        return gone

    def blocking(self, pair: str, now: datetime) -> Firing | None:
        """The firing that refuses a new entry on ``pair`` at ``now``, or None."""
        return next((f for f in self.firings if f.active(now) and f.covers(pair)), None)

    def flattening(self, pair: str, side: str, opened_at: datetime, now: datetime) -> Firing | None:
        """The firing that closes a ``side`` position on ``pair`` opened at ``opened_at``, or None."""
        return next(
            (f for f in self.firings if f.active(now) and f.covers(pair, side) and opened_at < f.fired_at),
            None,
        )

    def start_day(self, now: datetime, equity: float | None) -> bool:
        """At the first check of a UTC day, remember its starting equity; True when the day changed.

        A bot started mid-day with no state for the day takes the equity of its first check.
        """
        if self.day == now.date() and self.day_start_equity is not None:
            return False
        if equity is None or not math.isfinite(equity) or equity <= 0:
            return False
        self.day, self.day_start_equity, self.drawdown_ref_equity = now.date(), float(equity), float(equity)
        return True

    def check_drawdown(self, now: datetime, equity: float | None, cfg: KillSwitchConfig) -> Firing | None:
        """Fire the daily drawdown switch when equity is too far below the day's start.

        Once it has fired, the next firing the same day needs another ``daily_drawdown_pct`` below the
        equity at that firing (and the first one's cool-down over or cleared).
        """
        if not cfg.armed("daily_drawdown") or self.day != now.date():
            return None
        ref = self.drawdown_ref_equity if self.drawdown_ref_equity is not None else self.day_start_equity
        why = daily_drawdown(ref, equity, cfg)
        if why is None:
            return None
        if ref != self.day_start_equity:
            why += f", after an earlier firing today (the day started at {self.day_start_equity:.2f})"
        firing = Firing("daily_drawdown", ALL_PAIRS, now, now + timedelta(hours=cfg.cooldown_hours), why)
        if not self.fire(firing):
            return None
        self.drawdown_ref_equity = float(equity)  # type: ignore[arg-type]  # finite: daily_drawdown fired
        return firing


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An advisory lock beside the state file, for the read-modify-write of the bot and the CLI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_firings(
    state: KillSwitchState, candle_close: datetime, found: Iterable[tuple[str, str, str]], cfg: KillSwitchConfig
) -> list[Firing]:
    """Record the switches that hold on the candle closing at ``candle_close``; return the ones that are new."""
    until = candle_close + timedelta(hours=cfg.cooldown_hours)
    out = []
    for switch, scope, reason in found:
        firing = Firing(switch, scope, candle_close, until, reason)
        if state.fire(firing):
            out.append(firing)
    return out
