"""Load the project's ``.env`` into the process environment for local runs.

Docker Compose passes ``.env`` through ``env_file``; a local ``freqtrade`` or ``hydra`` process
gets the same variables from here. Variables already set win over the file, and values are never
logged. Set ``HYDRA_DOTENV=0`` to skip the file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dotenv import dotenv_values

_COMMANDS = {"freqtrade", "hydra"}


def load_dotenv_file(path: Path | None = None) -> list[str]:
    """Set variables from ``path`` (default ``./.env``) that are not already set; return their names."""
    if os.environ.get("HYDRA_DOTENV", "1") == "0":
        return []
    path = path or Path.cwd() / ".env"
    if not path.is_file():
        return []
    added = []
    for key, value in dotenv_values(path).items():
        if value is not None and key not in os.environ:
            os.environ[key] = value
            added.append(key)
    return added


def load_for_command() -> None:
    """Run at interpreter start (from ``hydra_dotenv.pth``): load ``.env`` for freqtrade and hydra only."""
    if Path(sys.argv[0]).name in _COMMANDS:
        load_dotenv_file()
