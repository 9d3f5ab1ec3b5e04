#!/usr/bin/env python3
"""TRAJECTORY: see `trajectory.py --help` (the step cellspace.steps.trajectory)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("trajectory"))
