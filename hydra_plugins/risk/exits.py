"""Stops and exits fixed at entry: the stop price, take-profit and time stop."""

from __future__ import annotations


def stop_price(open_rate: float, stop_pct: float, is_short: bool) -> float:
    """Return the price at which the position's stop sits."""
    return open_rate * (1 + stop_pct / 100.0) if is_short else open_rate * (1 - stop_pct / 100.0)


def exit_reason(
    *,
    open_rate: float,
    current_rate: float,
    is_short: bool,
    target_pct: float | None,
    held_hours: float,
    max_hold_hours: float,
) -> str | None:
    """Return why to exit now (``hydra_take_profit``, ``hydra_time_stop``), or None to hold."""
    move_pct = (current_rate / open_rate - 1.0) * 100.0
    if is_short:
        move_pct = -move_pct
    if target_pct is not None and target_pct > 0 and move_pct >= target_pct:
        return "hydra_take_profit"
    if held_hours >= max_hold_hours:
        return "hydra_time_stop"
    return None
