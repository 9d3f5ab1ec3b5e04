#!/usr/bin/env python3
"""PREPARE_DATASET: see `prepare_dataset.py --help` (the step cellspace.steps.prepare_dataset)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("prepare_dataset"))
