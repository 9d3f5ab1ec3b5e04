#!/usr/bin/env python3
"""REPORT: see `report.py --help` (the step cellspace.steps.report)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("report"))
