#!/usr/bin/env python3
"""PREPARE_DATASET: see `prepare_dataset.py --help` (the step cellspace.steps.prepare_dataset)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("prepare_dataset"))
