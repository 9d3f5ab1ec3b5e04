#!/usr/bin/env python3
"""MAP_CELLS: see `map_cells.py --help` (the step cellspace.steps.map_cells)."""

import sys

from cellspace.steps.entry import main

sys.exit(main("map_cells"))
