"""Ready-made grids: the Turin test case of the paper and the IEEE 33-bus feeder."""

from gridedge.grid.cases.ieee33 import ieee33

__all__ = ["ieee33"]
