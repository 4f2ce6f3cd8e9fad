#!/usr/bin/env python3
"""Train HYDRA's models (the seed's documented command); a thin wrapper around ``hydra train``.

    python scripts/train_ml_models.py --days 90          # both models on the last 90 days
    python scripts/train_ml_models.py --regime-only      # only the regime classifier
    python scripts/train_ml_models.py --scorer-only

Every other option is passed on to ``hydra train`` (``--datadir``, ``--timerange``, ``--pairs`` ...).
"""

import sys

from hydra_plugins.cli import main


def translate(argv: list[str]) -> list[str]:
    """Turn this script's arguments into ``hydra train`` arguments."""
    only = {"--regime-only": "regime", "--scorer-only": "scorer"}
    chosen = [only[a] for a in argv if a in only]
    if len(chosen) > 1:
        raise SystemExit("train_ml_models.py: pass at most one of --regime-only and --scorer-only")
    rest = [a for a in argv if a not in only]
    return ["train", chosen[0] if chosen else "all", *rest]


if __name__ == "__main__":
    sys.exit(main(translate(sys.argv[1:])))
