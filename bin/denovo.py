#!/usr/bin/env python3
"""DENOVO: see `denovo.py --help` (the step cellspace.steps.denovo)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("denovo"))
