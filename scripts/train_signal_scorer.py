#!/usr/bin/env python3
"""Train the signal scorer (the seed's documented command); a thin wrapper around ``hydra train scorer``.

python scripts/train_signal_scorer.py [--days N] [--datadir DIR] [--timerange ...]
"""

import sys

from hydra_plugins.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "scorer", *sys.argv[1:]]))
