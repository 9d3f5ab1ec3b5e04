#!/usr/bin/env python3
"""SELECT_FEATURES: see `select_features.py --help` (the step cellspace.steps.select_features)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("select_features"))
