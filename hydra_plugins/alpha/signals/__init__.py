"""The signal registry: every signal HYDRA can trade, registered explicitly by name."""

from __future__ import annotations

from hydra_plugins.alpha.signals.base import Param, Signal
from hydra_plugins.alpha.signals.crowding_fade import CrowdingFade
from hydra_plugins.alpha.signals.funding_carry import FundingCarry
from hydra_plugins.alpha.signals.funding_squeeze import FundingSqueeze
from hydra_plugins.alpha.signals.liquidation_reversal import LiquidationReversal
from hydra_plugins.alpha.signals.oi_divergence import OIDivergence
from hydra_plugins.core.config import SignalsConfig

REGISTRY: dict[str, type[Signal]] = {
    FundingSqueeze.name: FundingSqueeze,
    LiquidationReversal.name: LiquidationReversal,
    OIDivergence.name: OIDivergence,
    CrowdingFade.name: CrowdingFade,
    FundingCarry.name: FundingCarry,
}


def build_signals(cfg: SignalsConfig, *, include_disabled: bool = False) -> list[Signal]:
    """Instantiate the enabled signals (every registered one with ``include_disabled``) with their weights."""
    signals: list[Signal] = []
    for name, cls in REGISTRY.items():
        switch = getattr(cfg, name.lower())
        if switch.enabled or include_disabled:
            signals.append(cls(weight=switch.weight))
    return signals


__all__ = ["REGISTRY", "Param", "Signal", "build_signals"]
