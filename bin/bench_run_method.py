#!/usr/bin/env python3
"""BENCH_RUN_METHOD: see `bench_run_method.py --help` (the step cellspace.steps.bench_run_method)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("bench_run_method"))
