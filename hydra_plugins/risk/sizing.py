"""Stake sizing: a fixed fraction of equity at risk at the stop, then the caps.

Freqtrade's stake is the collateral; the position is stake x leverage. Every function here is pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hydra_plugins.core.config import RiskConfig


@dataclass(frozen=True)
class StakeDecision:
    """A stake in quote currency (0 means refuse) and the reasoning behind it."""

    stake: float
    position_usd: float
    reason: str


def risk_stake(
    *,
    equity: float,
    stop_pct: float,
    leverage: float,
    size_mult: float,
    gate_mult: float,
    open_exposure_usd: float,
    open_positions: int,
    min_stake: float | None,
    max_stake: float,
    cfg: RiskConfig,
) -> StakeDecision:
    """Size a new position so that hitting the stop loses ``cfg.risk_per_trade`` of equity (at most).

    The position is scaled by the pair's size multiplier and the L2 gate factor, then capped by
    ``max_position_usd``, the room left under ``max_exposure_usd`` and Freqtrade's ``max_stake``;
    with ``max_positions`` already open it is refused.
    A stake below ``min_stake`` is refused rather than rounded up, since rounding up would risk more
    than allowed.
    """
    if not (math.isfinite(stop_pct) and stop_pct > 0):
        return StakeDecision(0.0, 0.0, f"no valid stop distance ({stop_pct})")
    if equity <= 0 or leverage < 1:
        return StakeDecision(0.0, 0.0, f"equity {equity:.2f} or leverage {leverage} unusable")
    if open_positions >= cfg.max_positions:
        return StakeDecision(0.0, 0.0, f"{open_positions} positions open (max {cfg.max_positions})")
    if gate_mult <= 0:
        return StakeDecision(0.0, 0.0, "L2 gate blocks new entries")
    position = equity * cfg.risk_per_trade / (stop_pct / 100.0) * size_mult * gate_mult
    room = cfg.max_exposure_usd - open_exposure_usd
    capped = min(position, cfg.max_position_usd, room, max_stake * leverage)
    if capped <= 0:
        return StakeDecision(
            0.0, 0.0, f"exposure cap reached ({open_exposure_usd:.0f} of {cfg.max_exposure_usd:.0f} USD)"
        )
    stake = capped / leverage
    if min_stake is not None and stake < min_stake:
        return StakeDecision(0.0, capped, f"risk-sized stake {stake:.2f} below exchange minimum {min_stake:.2f}")
    return StakeDecision(
        stake,
        capped,
        f"risk {cfg.risk_per_trade:.2%} at {stop_pct:.2f}% stop x size {size_mult:g} x gate {gate_mult:g}"
        f" -> {capped:.0f} USD at {leverage:g}x",
    )
