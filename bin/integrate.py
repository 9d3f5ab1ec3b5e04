#!/usr/bin/env python3
"""INTEGRATE: see `integrate.py --help` (the step cellspace.steps.integrate)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("integrate"))
