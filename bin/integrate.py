#!/usr/bin/env python3
"""INTEGRATE: see `integrate.py --help` (the step cellspace.steps.integrate)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("integrate"))
