"""Grid model, network solvers, test cases and the waveform simulator.

The public names other packages build on:

- the model: :class:`Grid` and its elements (:class:`Bus`, :class:`Line`,
  :class:`Transformer`, :class:`Switch`, :class:`Load`, :class:`Source`, :class:`Meter`,
  :class:`Measurement`);
- the JSON format: :func:`load`, :func:`save`, :func:`from_dict`, :func:`to_dict`, and
  :func:`from_pandapower`;
- :mod:`gridedge.grid.topology` (islands, radiality, paths, feeders, affected meters);
- the solvers: :func:`power_flow`, :func:`fault`, :func:`bus_fault`, :class:`FaultStudy`;
- :mod:`gridedge.grid.cases` (``turin()``, ``ieee33()``) and the waveform simulator.
"""

from gridedge.grid import topology
from gridedge.grid.faults import FaultKind, FaultResult, FaultStudy, bus_fault, fault
from gridedge.grid.jsonformat import from_dict, load, save, to_dict
from gridedge.grid.model import (
    Bus,
    Grid,
    Line,
    Load,
    Measurement,
    Meter,
    Source,
    Switch,
    Transformer,
)
from gridedge.grid.pandapower_net import from_pandapower
from gridedge.grid.powerflow import PowerFlowResult, power_flow

__all__ = [
    "Bus",
    "FaultKind",
    "FaultResult",
    "FaultStudy",
    "Grid",
    "Line",
    "Load",
    "Measurement",
    "Meter",
    "PowerFlowResult",
    "Source",
    "Switch",
    "Transformer",
    "bus_fault",
    "fault",
    "from_dict",
    "from_pandapower",
    "load",
    "power_flow",
    "save",
    "to_dict",
    "topology",
]
