"""The grids of the estimation levels: each LV grid under its transformer, and the MV grid.

An LV area is what one secondary substation serves: the transformer, every bus reachable
from its low-voltage side without crossing it, and its medium-voltage bus, where the area
gets a source (the reference of its angles; in the multilevel scheme the MV estimate can set
that angle). The MV area is what remains once every LV area's low-voltage side is cut off;
the secondary transformers go with their LV areas. Areas keep the structure of the grid
whatever the switch states (an estimator is built for a topology; switches stay elements).
"""

from collections.abc import Iterable

from gridedge.errors import InvalidInputError
from gridedge.grid import Grid, Source, Transformer
from gridedge.grid import topology as grid_topology

SOURCE_SK_MVA = 1000.0
"""Short-circuit power of the source an LV area gets at its MV bus (estimation ignores it)."""

LV_MAX_KV = 1.0
"""Highest nominal voltage of low voltage (IEC 60038), kV."""


def lv_buses(grid: Grid, transformer_id: str) -> frozenset[str]:
    """Buses fed through `transformer_id`'s low-voltage side (the MV bus left out).

    Raises
    ------
    InvalidInputError
        Unknown transformer, or an LV side that reaches the MV bus other than through it.
    """
    transformer = grid.transformer(transformer_id)
    # Areas ignore switch states: walk the grid with every switch closed.
    closed = {switch.id: True for switch in grid.switches}
    neighbours = grid_topology.of(grid, closed).adjacency
    found = {transformer.lv_bus}
    stack = [transformer.lv_bus]
    while stack:
        here = stack.pop()
        for there, edge in neighbours[here]:
            if edge == transformer_id or there in found:
                continue
            if there == transformer.hv_bus:
                raise InvalidInputError(
                    f"transformer {transformer_id!r}: its LV side reaches {there!r} through "
                    f"{edge!r}, so it feeds no separate LV area"
                )
            found.add(there)
            stack.append(there)
    return frozenset(found)


def lv_area(grid: Grid, transformer_id: str) -> Grid:
    """Return the grid of one LV level: the transformer, its MV bus with a source, its LV area.

    The source holds 1 p.u. at angle 0; :class:`~gridedge.meter.estimation.multilevel.LVLevel`
    sets the angle the MV level estimated when there is one.
    """
    transformer = grid.transformer(transformer_id)
    keep = lv_buses(grid, transformer_id) | {transformer.hv_bus}
    source = Source(f"{transformer_id}:slack", transformer.hv_bus, SOURCE_SK_MVA)
    return _subgrid(grid, keep, f"{grid.name} / {transformer_id}", (source,))


def mv_area(grid: Grid, transformer_ids: Iterable[str]) -> Grid:
    """Return the grid of the MV level: `grid` without the LV areas of `transformer_ids`."""
    low: set[str] = set()
    for transformer_id in transformer_ids:
        low |= lv_buses(grid, transformer_id)
    keep = frozenset(grid.bus_ids) - low
    return _subgrid(grid, keep, f"{grid.name} / MV", grid.sources)


def region_area(grid: Grid, region: Iterable[str], meter_id: str) -> Grid:
    """Return the grid a feeder-head meter observes: its region and the way up to its source.

    `region` is the meter's region (``Topology.meter_region``: its feeder, secondary
    substations and LV grids included); the buses from the source down to the meter's own
    bus are added, so that the area holds the source, the primary transformer and the
    busbar the meter measures at. Give the result to
    :class:`~gridedge.meter.estimation.multilevel.MVLevel` for an MV level per feeder.

    Raises
    ------
    InvalidInputError
        Unknown meter or bus, or the meter is de-energised for the grid's switch states.
    """
    meter = grid.meter(meter_id)
    keep = frozenset(region) | frozenset(grid_topology.path_to_source(grid, meter.bus).buses)
    for bus in keep:
        grid.bus(bus)
    return _subgrid(grid, keep, f"{grid.name} / {meter_id}", grid.sources)


def secondary_transformers(grid: Grid) -> tuple[Transformer, ...]:
    """Return the transformers whose LV side is at most :data:`LV_MAX_KV` (MV/LV stations)."""
    return tuple(t for t in grid.transformers if grid.bus(t.lv_bus).kv <= LV_MAX_KV)


def _subgrid(grid: Grid, keep: frozenset[str], name: str, sources: Iterable[Source]) -> Grid:
    """Return the elements of `grid` within the buses `keep`, fed by `sources`."""
    lines = tuple(line for line in grid.lines if line.from_bus in keep and line.to_bus in keep)
    transformers = tuple(t for t in grid.transformers if t.hv_bus in keep and t.lv_bus in keep)
    branches = {b.id for b in (*lines, *transformers)}
    switches = tuple(
        s
        for s in grid.switches
        if s.bus in keep and (s.branch in branches if s.branch is not None else s.to_bus in keep)
    )
    return Grid(
        name=name,
        buses=tuple(bus for bus in grid.buses if bus.id in keep),
        lines=lines,
        transformers=transformers,
        switches=switches,
        loads=tuple(load for load in grid.loads if load.bus in keep),
        sources=tuple(source for source in sources if source.bus in keep),
        meters=tuple(
            m for m in grid.meters if m.bus in keep and (m.branch is None or m.branch in branches)
        ),
        frequency_hz=grid.frequency_hz,
    )
