#!/usr/bin/env python3
"""ANALYZE: see `analyze.py --help` (the step cellspace.steps.analyze)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("analyze"))
