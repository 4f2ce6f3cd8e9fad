"""The work behind ``hydra`` subcommands that need Freqtrade's own data tools (data handlers, configs)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STORE = "user_data/hydra/intel.sqlite"
DEFAULT_CONFIG = "config/config.json"
# Freqtrade's strategy parameter file: hyperopt writes it, and backtests and the bot load it.
DEFAULT_PARAMS = "user_data/strategies/hydra.json"


def signal_overrides(params: str | None) -> dict[str, float]:
    """Return the signal thresholds the strategy trades with: ``params``, else hydra.json when present, else none."""
    from hydra_plugins.training.history import strategy_parameters

    path = Path(params) if params else Path(DEFAULT_PARAMS)
    if params is None and not path.is_file():
        return {}
    return strategy_parameters(path)


def default_data_root() -> Path:
    """Return where history lives: $HYDRA_DATA_DIR, else ../shared/data when present, else user_data/data.

    Freqtrade's data folder (``--datadir``) is ``<root>/binance``; Binance metrics archives are in
    ``<root>/binance-metrics``.
    """
    env = os.environ.get("HYDRA_DATA_DIR")
    if env:
        return Path(env)
    shared = Path("../shared/data")
    return shared if (shared / "binance").is_dir() else Path("user_data/data")
