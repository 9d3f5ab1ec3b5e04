#!/usr/bin/env python3
"""TRAIN_CELLSPACE: see `train_cellspace.py --help` (the step cellspace.steps.train_cellspace)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("train_cellspace"))
