"""Leverage per pair: the asset table, the config cap, the exchange, and the stop's distance to liquidation."""

from __future__ import annotations

import math

from hydra_plugins.core.config import AssetSpec, RiskConfig


def pair_leverage(asset: AssetSpec, cfg: RiskConfig, exchange_max: float, stop_pct: float | None) -> float:
    """Return the whole-number leverage for a new position (at least 1).

    The asset's maximum is divided by its volatility multiplier, then capped by ``cfg.max_leverage``
    and the exchange's maximum. With a known stop the stop must sit within ``cfg.liquidation_buffer``
    of the distance to liquidation (about 1/leverage of price under isolated margin), so
    leverage <= liquidation_buffer / stop distance.
    """
    caps = [asset.max_leverage / asset.volatility_multiplier, float(cfg.max_leverage), float(exchange_max)]
    if stop_pct is not None and math.isfinite(stop_pct) and stop_pct > 0:
        caps.append(cfg.liquidation_buffer / (stop_pct / 100.0))
    return float(max(1, math.floor(min(caps))))
