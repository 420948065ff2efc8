"""Ready-made grids: the Turin test case of the paper and the IEEE 33-bus feeder."""

from gridedge.grid.cases.ieee33 import ieee33
from gridedge.grid.cases.turin import turin

__all__ = ["ieee33", "turin"]
