#!/usr/bin/env python3
"""EXPORT: see `export.py --help` (the step cellspace.steps.export)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("export"))
