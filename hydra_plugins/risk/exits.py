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
    stop_pct: float | None,
    target_pct: float | None,
    held_hours: float,
    max_hold_hours: float,
) -> str | None:
    """Return why to exit now (``hydra_stop``, ``hydra_take_profit``, ``hydra_time_stop``), or None.

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
    if held_hours >= max_hold_hours:
        return "hydra_time_stop"
    return None
