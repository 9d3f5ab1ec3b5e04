#!/usr/bin/env python3
"""TRAIN_CELLSPACE: see `train_cellspace.py --help` (the step cellspace.steps.train_cellspace)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("train_cellspace"))
