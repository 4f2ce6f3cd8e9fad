"""Leverage per pair: the asset table, the volatility regime, the config cap, the exchange's tier, and
the stop's distance to liquidation."""

from __future__ import annotations

import math

from hydra_plugins.core.config import AssetSpec, RiskConfig


def pair_leverage(
    asset: AssetSpec, cfg: RiskConfig, exchange_max: float, stop_pct: float | None, vol_ratio: float | None = None
) -> float:
    """Return the whole-number leverage for a new position (at least 1).

    The asset's maximum is divided by its volatility multiplier and by the volatility regime, the
    pair's 24h realized volatility over its normal (``vol_ratio``, from L2; at or below 1 it changes
    nothing, unknown counts as 2: twice normal), then capped by ``cfg.max_leverage`` and
    ``exchange_max`` (Freqtrade passes the exchange's leverage tier for the proposed stake; the
    stake is then capped by the tier's notional at the chosen leverage). With a known stop the stop
    must sit within ``cfg.liquidation_buffer`` of the distance to liquidation (about 1/leverage of
    price under isolated margin), so leverage <= liquidation_buffer / stop distance.
    """
    regime = 2.0 if vol_ratio is None or not math.isfinite(vol_ratio) else max(1.0, vol_ratio)
    caps = [asset.max_leverage / asset.volatility_multiplier / regime, float(cfg.max_leverage), float(exchange_max)]
    if stop_pct is not None and math.isfinite(stop_pct) and stop_pct > 0:
        caps.append(cfg.liquidation_buffer / (stop_pct / 100.0))
    return float(max(1, math.floor(min(caps))))
