#!/usr/bin/env python3
"""BENCH_BOOTSTRAP_MERGE: see `bench_bootstrap_merge.py --help` (the step cellspace.steps.bench_bootstrap_merge)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("bench_bootstrap_merge"))
