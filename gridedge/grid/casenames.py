"""The names of the ready-made grids of :mod:`gridedge.grid.cases`, without loading them.

Command-line parsers and settings check a case name long before (or without ever) building
the grid; importing the cases would load the model and its solvers into every meter.
"""

CASE_NAMES = ("cigre_mv", "ieee33", "turin")
"""Every function of :mod:`gridedge.grid.cases`, by name."""
