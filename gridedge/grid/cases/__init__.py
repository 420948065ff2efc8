"""Ready-made grids: the Turin case of the paper, the IEEE 33-bus feeder, the CIGRE MV network."""

from gridedge.grid.cases.cigre_mv import cigre_mv
from gridedge.grid.cases.ieee33 import ieee33
from gridedge.grid.cases.turin import turin

__all__ = ["cigre_mv", "ieee33", "turin"]
