"""What the operator commands share: a bot's config files as Freqtrade reads them, and its user_data paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra_plugins.core.errors import HydraError

DEFAULT_USERDIR = "user_data"


def load_bot_config(paths: Sequence[str] | None) -> dict[str, Any]:
    """The config files merged in order (as Freqtrade merges ``-c``), ``{}`` without any; a bad one is named."""
    if not paths:
        return {}
    from freqtrade.configuration.load_config import load_from_files
    from freqtrade.exceptions import OperationalException

    try:
        return load_from_files(list(paths))
    except OperationalException as exc:
        raise HydraError(f"config {list(paths)}: {exc}") from None


def user_path(userdir: str | Path, path: str) -> Path:
    """A configured path: absolute as given, else inside Freqtrade's user_data folder."""
    return Path(path) if Path(path).is_absolute() else Path(userdir) / path
