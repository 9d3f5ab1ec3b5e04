#!/usr/bin/env python3
"""MAP_CELLS: see `map_cells.py --help` (the step cellspace.steps.map_cells)."""

import sys

from cellspace.steps.entry import main

if __name__ == "__main__":  # a spawned child process imports this file without running it
    sys.exit(main("map_cells"))
