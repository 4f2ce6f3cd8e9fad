"""Exits: the stop price, take-profit and time stop fixed at entry, and the thesis-health exit."""

from __future__ import annotations


def stop_price(open_rate: float, stop_pct: float, is_short: bool) -> float:
    """Return the price at which the position's stop sits."""
    return open_rate * (1 + stop_pct / 100.0) if is_short else open_rate * (1 - stop_pct / 100.0)


def tightened_stop_pct(stop_pct: float, health_ratio: float, floor: float) -> float:
    """Return the stop distance once the thesis has weakened to ``health_ratio`` of its strength at entry.

    The distance shrinks linearly from the entry stop (ratio 1) to ``floor`` x the entry stop (ratio 0);
    it is never wider than the entry stop, the distance the position was sized for.
    """
    ratio = min(1.0, max(0.0, health_ratio))
    return stop_pct * (floor + (1.0 - floor) * ratio)


def health_ratio(entry_health: float | None, health: float | None) -> float | None:
    """The thesis's health now relative to the signal candle's (None when it cannot be measured)."""
    if entry_health is None or health is None or entry_health <= 0:
        return None
    return min(1.0, health / entry_health)


def exit_reason(
    *,
    open_rate: float,
    current_rate: float,
    is_short: bool,
    stop_pct: float | None,
    target_pct: float | None,
    held_hours: float,
    max_hold_hours: float,
    thesis_broken: str | None = None,
) -> str | None:
    """Return why to exit now, or None: first ``hydra_stop``, then ``hydra_take_profit``, then the
    thesis-health exit ``thesis_broken`` (the reason naming the signal whose invalidation condition
    holds on the newest closed candle), then ``hydra_time_stop``.

    ``hydra_stop`` covers a price already beyond the stop when it is first checked (a gap or a slow
    fill), which Freqtrade's stoploss cannot express as a distance from the current price.
    """
    move_pct = (current_rate / open_rate - 1.0) * 100.0
    if is_short:
        move_pct = -move_pct
    if stop_pct is not None and stop_pct > 0 and move_pct <= -stop_pct:
        return "hydra_stop"
    if target_pct is not None and target_pct > 0 and move_pct >= target_pct:
        return "hydra_take_profit"
    if thesis_broken:
        return thesis_broken
    if held_hours >= max_hold_hours:
        return "hydra_time_stop"
    return None


def thesis_reason(signal_name: str) -> str:
    """Return the exit reason of a trade whose signal's thesis no longer holds."""
    return f"hydra_thesis_{signal_name.lower()}"
