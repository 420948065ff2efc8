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

from gridedge import lazy

# Names are imported on first use (gridedge.lazy): a meter that needs only the model or the
# symmetrical components does not load the solvers and scipy with them.
_EXPORTS = {
    "Bus": "model",
    "FaultKind": "faultkind",
    "FaultResult": "faults",
    "FaultStudy": "faults",
    "Grid": "model",
    "Line": "model",
    "Load": "model",
    "Measurement": "model",
    "Meter": "model",
    "PowerFlowResult": "powerflow",
    "Source": "model",
    "Switch": "model",
    "Transformer": "model",
    "bus_fault": "faults",
    "fault": "faults",
    "from_dict": "jsonformat",
    "from_pandapower": "pandapower_net",
    "load": "jsonformat",
    "power_flow": "powerflow",
    "save": "jsonformat",
    "to_dict": "jsonformat",
}

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


__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS, globals())
