#!/usr/bin/env python3
"""SELECT_FEATURES: see `select_features.py --help` (the step cellspace.steps.select_features)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("select_features"))
