#!/usr/bin/env python3
"""MOTIFS: see `motifs.py --help` (the step cellspace.steps.motifs)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("motifs"))
