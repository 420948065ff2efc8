"""The catalog's view of grid topology documents, through :mod:`gridedge.grid`.

A meter's settings carry its *portion* of the topology: the meter, and the region it observes
(its feeder, see :meth:`gridedge.grid.topology.Topology.meter_region`) with every element
touching it, in the grid JSON format. That is the same set of elements whose change makes
:func:`gridedge.grid.topology.affected_meters` name the meter, so a meter's settings change
exactly when its portion does.
"""

from typing import Any

from gridedge.errors import InvalidDocumentError, InvalidInputError
from gridedge.grid import Grid, from_dict, to_dict
from gridedge.grid import topology as grid_topology


def check(document: dict[str, Any]) -> Grid:
    """Parse a topology document into a grid.

    Raises
    ------
    InvalidDocumentError
        The document is not a valid grid; the message names the elements at fault.
    """
    try:
        return from_dict(document)
    except InvalidInputError as exc:
        raise InvalidDocumentError(f"topology: {exc}") from None


def meters(grid: Grid) -> frozenset[str]:
    """Return the ids of every meter of a grid."""
    return frozenset(m.id for m in grid.meters)


def affected(old: Grid, new: Grid) -> frozenset[str]:
    """Return the ids of the meters whose portion differs between two versions."""
    return grid_topology.affected_meters(old, new)


def portion(grid: Grid, meter_id: str, *, version: int) -> dict[str, Any] | None:
    """Return the portion of the topology a meter's settings carry, or None if it has none.

    Parameters
    ----------
    grid : Grid
        The current topology.
    meter_id : str
        The meter.
    version : int
        Version of the topology, recorded in the portion.

    Returns
    -------
    dict or None
        ``{"version", "meter", "region"}`` and the element lists of the grid JSON format
        (``buses``, ``lines``, ``transformers``, ``switches``, ``loads``, ``sources``,
        ``meters``, ``measurements``) restricted to the region; None if the grid has no such
        meter.
    """
    if meter_id not in meters(grid):
        return None
    region = grid_topology.of(grid).meter_region(meter_id)
    keep = {
        "buses": region,
        "lines": {b.id for b in grid.lines if region.intersection(b.buses)},
        "transformers": {b.id for b in grid.transformers if region.intersection(b.buses)},
        "switches": {s.id for s in grid.switches if {s.bus, s.to_bus} & region},
    }
    for kind in ("loads", "sources", "meters"):
        keep[kind] = {e.id for e in getattr(grid, kind) if e.bus in region}
    # The meter itself, even where its bus lies upstream of the feeder it observes.
    keep["meters"].add(meter_id)
    elements = keep["buses"] | keep["lines"] | keep["transformers"]
    keep["measurements"] = {m.id for m in grid.measurements if m.element in elements}
    document = to_dict(grid)
    result: dict[str, Any] = {
        "version": version,
        "meter": meter_id,
        "region": sorted(region),
        "frequency_hz": document["frequency_hz"],
    }
    for kind, ids in keep.items():
        result[kind] = [record for record in document[kind] if record["id"] in ids]
    return result
