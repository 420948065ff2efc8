"""The feeder protection of the simulated grid: which breaker a fault trips.

The paper's FLISR starts from a fault that the protection relays at the feeder heads have
cleared ("the circuit breakers disconnect the feeder from the supply"). The simulator models
that relay as definite-time overcurrent: a fault on an energised line opens, after a delay,
the switch at the source end of that line's feeder - the first line on the path from the
source.
"""

from collections.abc import Mapping

from gridedge.errors import InvalidInputError
from gridedge.grid import Grid
from gridedge.grid import topology as grid_topology


def feeder_breaker(grid: Grid, states: Mapping[str, bool], location: str) -> str | None:
    """The closed switch that protection opens for a fault at `location` (line or bus id).

    Returns None when the fault is not energised, lies on a substation busbar (upstream of
    every feeder), sits in a meshed island, or its feeder has no closed switch at its source
    end.

    Raises
    ------
    InvalidInputError
        `location` is neither a line nor a bus of `grid`.
    """
    topology = grid_topology.of(grid, states)
    lines = {line.id for line in grid.lines}
    near = location
    try:
        if location in lines:
            line = grid.line(location)
            ends = [
                b
                for b in line.buses
                if b in topology.energised_buses and (line.id, b) not in topology.open_ends
            ]
            if not ends:
                return None
            near = min(ends, key=lambda b: len(topology.path_to_source(b).buses))
        else:
            grid.bus(location)
        path = topology.path_to_source(near)
    except InvalidInputError:
        if location not in lines and location not in grid.bus_ids:
            raise
        return None
    for index, edge in enumerate(path.branches):
        if edge in lines:
            return _closed_switch(grid, states, edge, path.buses[index])
    # No line between the source and the fault's near end: the faulted line heads its feeder.
    return _closed_switch(grid, states, location, near) if location in lines else None


def _closed_switch(grid: Grid, states: Mapping[str, bool], line: str, bus: str) -> str | None:
    return next(
        (
            s.id
            for s in grid.switches
            if s.branch == line and s.bus == bus and states.get(s.id, s.closed)
        ),
        None,
    )
