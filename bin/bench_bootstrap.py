#!/usr/bin/env python3
"""BENCH_BOOTSTRAP: see `bench_bootstrap.py --help` (the step cellspace.steps.bench_bootstrap)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("bench_bootstrap"))
