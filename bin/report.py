#!/usr/bin/env python3
"""REPORT: see `report.py --help` (the step cellspace.steps.report)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("report"))
