#!/usr/bin/env python3
"""MOTIFS: see `motifs.py --help` (the step cellspace.steps.motifs)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("motifs"))
