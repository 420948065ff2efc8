"""gridedge: an open smart-meter runtime for distribution grids.

Subpackages
-----------
meter
    The meter daemon (the paper's 3SMA) and its on-board measurement algorithms.
grid
    Grid model, network solvers, test cases and the waveform simulator.
catalog
    The Device Catalog: REST service for self-configuration and auto-update.
services
    Remote services: network reconfiguration, aggregation, orchestration.
"""

__version__ = "0.1.0"
