"""Stake sizing: quarter-Kelly, capped at a fixed fraction of equity at risk at the stop, then the caps.

Freqtrade's stake is the collateral; the position is stake x leverage. Every function here is pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hydra_plugins.core.config import RiskConfig


@dataclass(frozen=True)
class StakeDecision:
    """A stake in quote currency (0 means refuse) and the reasoning behind it."""

    stake: float
    position_usd: float
    reason: str
    rationale: dict[str, float] = field(default_factory=dict)  # stored on the trade (set_custom_data)
    code: str = "sized"  # a refusal's short, stable name (counted in the risk journal)


def kelly_fraction(win_prob: float, reward_risk: float) -> float:
    """Return the Kelly fraction of equity to risk on a bet won with ``win_prob`` at ``reward_risk`` to 1."""
    return win_prob - (1.0 - win_prob) / reward_risk


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
    win_prob: float | None = None,
    reward_risk: float | None = None,
    correlation_mult: float = 1.0,
) -> StakeDecision:
    """Size a new position so that hitting the stop loses at most ``cfg.risk_per_trade`` of equity.

    With ``win_prob`` (the scorer's P(profitable), else the signal's confidence) and ``reward_risk``
    (the signal's expected return over its stop), the share of equity at risk is
    ``min(kelly_multiplier x Kelly, risk_per_trade)``; a Kelly fraction at or below zero (no edge by
    the signal's own numbers) refuses the trade. The position is scaled by the pair's size
    multiplier, the L2 gate factor and the correlation multiplier, then capped by
    ``max_position_usd``, the room left under ``max_exposure_usd`` and Freqtrade's ``max_stake``;
    with ``max_positions`` already open it is refused.
    A stake below ``min_stake`` is refused rather than rounded up, since rounding up would risk more
    than allowed.
    """
    if not (math.isfinite(stop_pct) and stop_pct > 0):
        return StakeDecision(0.0, 0.0, f"no valid stop distance ({stop_pct})", code="no_stop")
    if equity <= 0 or leverage < 1:
        return StakeDecision(0.0, 0.0, f"equity {equity:.2f} or leverage {leverage} unusable", code="no_equity")
    if open_positions >= cfg.max_positions:
        return StakeDecision(
            0.0, 0.0, f"{open_positions} positions open (max {cfg.max_positions})", code="max_positions"
        )
    if gate_mult <= 0:
        return StakeDecision(0.0, 0.0, "L2 gate blocks new entries", code="gate_block")
    risk_fraction, kelly = cfg.risk_per_trade, None
    if win_prob is not None and reward_risk is not None:
        if not (math.isfinite(win_prob) and math.isfinite(reward_risk) and reward_risk > 0 and 0 <= win_prob <= 1):
            return StakeDecision(
                0.0, 0.0, f"no usable win probability or reward/risk ({win_prob}, {reward_risk})", code="no_odds"
            )
        kelly = kelly_fraction(win_prob, reward_risk)
        if kelly <= 0:
            return StakeDecision(
                0.0,
                0.0,
                f"Kelly {kelly:.3f} <= 0 at p {win_prob:.2f} and reward/risk {reward_risk:.2f}: no edge",
                code="no_edge",
            )
        risk_fraction = min(cfg.risk_per_trade, cfg.kelly_multiplier * kelly)
    if not 0 < correlation_mult <= 1:
        return StakeDecision(0.0, 0.0, f"correlation multiplier {correlation_mult} outside (0, 1]", code="correlation")
    position = equity * risk_fraction / (stop_pct / 100.0) * size_mult * gate_mult * correlation_mult
    room = cfg.max_exposure_usd - open_exposure_usd
    capped = min(position, cfg.max_position_usd, room, max_stake * leverage)
    if capped <= 0:
        return StakeDecision(
            0.0,
            0.0,
            f"exposure cap reached ({open_exposure_usd:.0f} of {cfg.max_exposure_usd:.0f} USD)",
            code="exposure_cap",
        )
    stake = capped / leverage
    if min_stake is not None and stake < min_stake:
        return StakeDecision(
            0.0, capped, f"risk-sized stake {stake:.2f} below exchange minimum {min_stake:.2f}", code="min_stake"
        )
    rationale = {
        "win_prob": win_prob,
        "reward_risk": reward_risk,
        "kelly": None if kelly is None else round(kelly, 4),
        "kelly_risk": None if kelly is None else round(cfg.kelly_multiplier * kelly, 4),
        "risk_fraction": round(risk_fraction, 4),
        "size_mult": size_mult,
        "gate_mult": gate_mult,
        "correlation_mult": round(correlation_mult, 4),
        "position_usd": round(capped, 2),
        "capped": capped < position,
    }
    return StakeDecision(
        stake,
        capped,
        f"risk {risk_fraction:.2%} at {stop_pct:.2f}% stop x size {size_mult:g} x gate {gate_mult:g}"
        f" x correlation {correlation_mult:.2f} -> {capped:.0f} USD at {leverage:g}x",
        rationale,
    )
