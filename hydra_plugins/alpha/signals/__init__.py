"""The signal registry: every signal HYDRA can trade, registered explicitly by name."""

from __future__ import annotations

from hydra_plugins.alpha.signals.base import Signal
from hydra_plugins.alpha.signals.funding_squeeze import FundingSqueeze
from hydra_plugins.core.config import SignalsConfig

REGISTRY: dict[str, type[Signal]] = {
    FundingSqueeze.name: FundingSqueeze,
}


def build_signals(cfg: SignalsConfig) -> list[Signal]:
    """Instantiate every enabled signal with its settings."""
    signals: list[Signal] = []
    if cfg.funding_squeeze.enabled:
        signals.append(FundingSqueeze(cfg.funding_squeeze))
    return signals


__all__ = ["REGISTRY", "Signal", "build_signals"]
