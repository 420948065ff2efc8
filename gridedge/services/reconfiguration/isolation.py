"""The faulted line and the switches that isolate it.

The isolated zone grows from the faulted line (or lines: a fault at a bus that the locator
cannot place on one side or the other is isolated on every side it may be on) across every
link until it meets a remotely controllable closed switch (which the plan opens) or a switch
already open. A closed switch that is not remotely controllable cannot be opened by the plan:
the zone grows past it, so that more customers stay off until a crew operates it, and the
plan says which switches those are. A zone that reaches a source cannot be isolated by
remote switching at all.
"""

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError, IsolationError
from gridedge.grid import Grid
from gridedge.services.reconfiguration.graph import Islands, SwitchingGraph

Fault = str | tuple[str, str, float] | Mapping[str, Any] | Any
"""A faulted section: a line id, ``(from_bus, to_bus, distance_m)``, or a mapping or object
with ``from_bus``, ``to_bus`` and ``distance_m`` and optionally ``sections`` (what a fault
locator reports: :class:`gridedge.meter.faults.FaultLocation`, or its ``located`` message)."""

DISTANCE_SLACK_M = 1.0
"""How far beyond a line's length a reported distance may fall (rounding), m."""


@dataclass(frozen=True)
class FaultedSection:
    """Where the fault is.

    Attributes
    ----------
    line : str
        Line id.
    from_bus : str, optional
        Bus the distance is counted from (as reported).
    distance_m : float, optional
        Distance from `from_bus`, m.
    across : tuple of str
        Other lines that meet `line` at the bus the fault is at, when the locator cannot say
        on which side of the bus it is: they are isolated with it.
    """

    line: str
    from_bus: str | None = None
    distance_m: float | None = None
    across: tuple[str, ...] = ()

    @property
    def lines(self) -> tuple[str, ...]:
        """Every line isolated: `line`, then `across`."""
        return (self.line, *self.across)


@dataclass(frozen=True)
class Isolation:
    """The isolated zone and the switches that bound it.

    Attributes
    ----------
    zone : frozenset of int
        Vertices inside (the faulted line's terminals and whatever the zone grew over).
    opened : tuple of int
        Switch links the plan opens, the upstream (source-side) one first.
    switches : tuple of str
        The switch operated on each opened link.
    upstream : tuple of bool
        Whether each opened link lies on the source side of the fault.
    manual : tuple of str
        Closed switches inside the zone that are not remotely controllable.
    closed : ndarray of bool, shape (n_link,)
        Link states once the isolating switches are open.
    islands : Islands
        The islands they leave.
    """

    zone: frozenset[int]
    opened: tuple[int, ...]
    switches: tuple[str, ...]
    upstream: tuple[bool, ...]
    manual: tuple[str, ...]
    closed: NDArray[np.bool_] = field(repr=False)
    islands: Islands = field(repr=False)


def faulted_section(grid: Grid, fault: Fault) -> FaultedSection:
    """Resolve a fault as given by an operator or a fault locator to a line of `grid`.

    Raises
    ------
    InvalidInputError
        Unknown line or buses, buses that no line joins (or that several lines join), a
        distance that is not a finite number within the line, or ``sections`` that are not
        lines sharing a bus with it.
    """
    if isinstance(fault, str):
        grid.line(fault)
        return FaultedSection(fault)
    names = ("from_bus", "to_bus", "distance_m", "sections")
    if isinstance(fault, Mapping):
        first, second, distance, sections = (fault.get(name) for name in names)
    elif isinstance(fault, tuple | list):
        if len(fault) != 3:
            raise InvalidInputError(
                f"a fault is a line id or (from_bus, to_bus, distance_m), got {fault!r}"
            )
        (first, second, distance), sections = fault, None
    else:
        first, second, distance, sections = (getattr(fault, name, None) for name in names)
    for name, bus in (("from_bus", first), ("to_bus", second)):
        if not isinstance(bus, str):
            raise InvalidInputError(f"fault: {name} must be a bus id, got {bus!r}")
        grid.bus(bus)
    if isinstance(distance, bool) or not isinstance(distance, int | float):
        raise InvalidInputError(f"fault: distance_m must be a number, got {distance!r}")
    joining = [line for line in grid.lines if set(line.buses) == {first, second}]
    if not joining:
        raise InvalidInputError(
            f"no line of grid {grid.name!r} joins buses {first!r} and {second!r}"
        )
    if len(joining) > 1:
        names = ", ".join(repr(line.id) for line in joining)
        raise InvalidInputError(
            f"buses {first!r} and {second!r} are joined by several lines ({names}): "
            "give the line id"
        )
    line = joining[0]
    length_m = line.length_km * 1e3
    if not (
        math.isfinite(distance) and -DISTANCE_SLACK_M <= distance <= length_m + DISTANCE_SLACK_M
    ):
        raise InvalidInputError(
            f"fault: distance_m {distance!r} from bus {first!r} is not within line {line.id!r} "
            f"({length_m:g} m long)"
        )
    distance = float(min(max(distance, 0.0), length_m))
    return FaultedSection(line.id, first, distance, _across(grid, line.id, sections))


def _across(grid: Grid, line: str, sections: Any) -> tuple[str, ...]:
    """The lines of a locator's `sections` other than `line`, checked to meet it at a bus."""
    if sections is None:
        return ()
    if isinstance(sections, str) or not isinstance(sections, Sequence):
        raise InvalidInputError(f"fault: sections must be a list of line ids, got {sections!r}")
    ends = set(grid.line(line).buses)
    across = []
    for other in sections:
        if not isinstance(other, str):
            raise InvalidInputError(f"fault: sections must be line ids, got {other!r}")
        if other != line and other not in across:
            if not ends & set(grid.line(other).buses):
                raise InvalidInputError(
                    f"fault: section {other!r} shares no bus with the faulted line {line!r}"
                )
            across.append(other)
    return tuple(across)


def isolate(
    graph: SwitchingGraph,
    closed: NDArray[np.bool_],
    energised: NDArray[np.bool_],
    lines: Sequence[str],
) -> Isolation:
    """Find the zone around the faulted `lines` and the remote switches that bound it.

    Parameters
    ----------
    graph : SwitchingGraph
    closed : ndarray of bool, shape (n_link,)
        Link states before the fault.
    energised : ndarray of bool, shape (n_vertex,)
        Vertices energised before the fault.
    lines : sequence of str
        Faulted line ids: the line, and those across the bus the fault may be at.

    Raises
    ------
    InvalidInputError
        The lines are de-energised.
    IsolationError
        The zone reaches a source: no remote switch separates the fault from it.
    """
    grid = graph.grid
    links = [int(graph.branch_link[grid.branch_ids.index(line)]) for line in lines]
    ends = [int(v) for k in links for v in (graph.link_a[k], graph.link_b[k])]
    named = ("line " if len(lines) == 1 else "lines ") + " and ".join(map(repr, lines))
    if not any(energised[v] for v in ends):
        raise InvalidInputError(
            f"{named} {'is' if len(lines) == 1 else 'are'} de-energised for these switch "
            "states: there is no fault to isolate"
        )
    zone_links = set(links)
    zone = set(ends)
    queue = deque(dict.fromkeys(ends))
    opened: dict[int, str] = {}
    manual: list[str] = []
    while queue:
        here = queue.popleft()
        for k in graph.incident[here]:
            if k in zone_links or k in opened or not closed[k]:
                continue
            if graph.is_switch_link(k):
                remote = [s for s in graph.link_switches[k] if grid.switch(s).remote]
                if remote:
                    opened[k] = remote[0]
                    continue
                manual.extend(graph.link_switches[k])
            zone_links.add(k)
            there = graph.other_end(k, here)
            if there not in zone:
                zone.add(there)
                queue.append(there)
    sources = [s.id for s, v in zip(grid.sources, graph.source_vertex, strict=True) if v in zone]
    if sources:
        shown = f" (manual switches on the way: {', '.join(manual)})" if manual else ""
        raise IsolationError(
            f"the fault on {named} cannot be isolated by remote switching: no remotely "
            f"controllable switch separates it from source {sources[0]!r}{shown}"
        )
    # The source side is where the opened link's outer vertex stays energised.
    after = closed.copy()
    after[list(opened)] = False
    islands = graph.islands(after)
    live = islands.energised_vertices()
    links = sorted(opened, key=lambda k: not _outer_live(graph, k, zone, live))
    return Isolation(
        zone=frozenset(zone),
        opened=tuple(links),
        switches=tuple(opened[k] for k in links),
        upstream=tuple(_outer_live(graph, k, zone, live) for k in links),
        manual=tuple(manual),
        closed=after,
        islands=islands,
    )


def _outer_live(graph: SwitchingGraph, link: int, zone: set[int], live: NDArray[np.bool_]) -> bool:
    a, b = int(graph.link_a[link]), int(graph.link_b[link])
    outer = b if a in zone else a
    return bool(live[outer])
