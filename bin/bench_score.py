#!/usr/bin/env python3
"""BENCH_SCORE: see `bench_score.py --help` (the step cellspace.steps.bench_score)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("bench_score"))
