"""Connectivity of a grid for given switch states: islands, radiality, feeders, paths.

A branch (line or transformer) connects its two buses when every switch at its ends is
closed; a closed bus-bus switch joins its two buses. An island is a connected set of buses;
it is energised when it holds a source bus. Energised islands that are trees with exactly one
source are radial: each bus then has one path to its source, a set of downstream buses, and
a feeder - the first line on that path, counted from the source.

Every function takes ``switch_states`` (switch id -> closed) that override the states stored
in the grid; ``None`` uses the grid's own.
"""

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridedge.errors import InvalidInputError
from gridedge.grid.model import Grid, Line

SwitchStates = Mapping[str, bool] | None


@dataclass(frozen=True)
class Island:
    """A connected set of buses.

    Attributes
    ----------
    buses : frozenset of str
        Bus ids.
    sources : tuple of str
        Ids of the sources inside, sorted.
    radial : bool
        Energised, exactly one source, and a tree.
    """

    buses: frozenset[str]
    sources: tuple[str, ...]
    radial: bool

    @property
    def energised(self) -> bool:
        """Whether a source feeds the island."""
        return bool(self.sources)


@dataclass(frozen=True)
class Path:
    """The way from a source to a bus.

    Attributes
    ----------
    buses : tuple of str
        Bus ids from the source bus to the bus, both included.
    branches : tuple of str
        Ids of the lines, transformers and bus-bus switches between them, in order
        (``len(branches) == len(buses) - 1``).
    """

    buses: tuple[str, ...]
    branches: tuple[str, ...]


class Topology:
    """Connectivity of one grid for one set of switch states (build with :func:`of`).

    Attributes
    ----------
    grid : Grid
    states : dict of str to bool
        State of every switch.
    closed_branches : frozenset of str
        Lines and transformers whose ends are all closed.
    open_ends : frozenset of tuple of (str, str)
        ``(branch id, bus id)`` for every branch end held open by a switch.
    islands : tuple of Island
    """

    def __init__(self, grid: Grid, states: dict[str, bool]) -> None:
        self.grid = grid
        self.states = states
        open_ends = {
            (s.branch, s.bus) for s in grid.switches if s.branch is not None and not states[s.id]
        }
        self.open_ends = frozenset(open_ends)
        self.closed_branches = frozenset(
            b.id for b in grid.branches if not any((b.id, bus) in open_ends for bus in b.buses)
        )
        # Adjacency: bus -> list of (neighbour, edge id).
        self.adjacency: dict[str, list[tuple[str, str]]] = {b: [] for b in grid.bus_ids}
        for branch in grid.branches:
            if branch.id in self.closed_branches:
                a, b = branch.buses
                self.adjacency[a].append((b, branch.id))
                self.adjacency[b].append((a, branch.id))
        for switch in grid.switches:
            if switch.to_bus is not None and states[switch.id]:
                self.adjacency[switch.bus].append((switch.to_bus, switch.id))
                self.adjacency[switch.to_bus].append((switch.bus, switch.id))
        self.islands = self._find_islands()
        self.island_of = {bus: island for island in self.islands for bus in island.buses}
        self._trees: dict[str, tuple[dict[str, tuple[str, str] | None], list[str]]] = {}

    def _find_islands(self) -> tuple[Island, ...]:
        sources_at: dict[str, list[str]] = {}
        for source in self.grid.sources:
            sources_at.setdefault(source.bus, []).append(source.id)
        seen: set[str] = set()
        islands = []
        for start in self.grid.bus_ids:
            if start in seen:
                continue
            members = {start}
            queue = deque([start])
            edges = set()
            while queue:
                bus = queue.popleft()
                for neighbour, edge in self.adjacency[bus]:
                    edges.add(edge)
                    if neighbour not in members:
                        members.add(neighbour)
                        queue.append(neighbour)
            seen |= members
            sources = tuple(sorted(s for bus in members for s in sources_at.get(bus, ())))
            radial = len(sources) == 1 and len(edges) == len(members) - 1
            islands.append(Island(frozenset(members), sources, radial))
        return tuple(islands)

    @property
    def energised_buses(self) -> frozenset[str]:
        """Buses of energised islands."""
        return frozenset(b for island in self.islands if island.energised for b in island.buses)

    def _tree(self, bus: str) -> tuple[dict[str, tuple[str, str] | None], list[str]]:
        """Parent map (bus -> (parent bus, edge)) and breadth-first order of `bus`'s island."""
        self.grid.bus(bus)
        island = self.island_of[bus]
        if not island.energised:
            raise InvalidInputError(f"bus {bus!r} is de-energised for these switch states")
        if not island.radial:
            raise InvalidInputError(
                f"bus {bus!r} lies in a meshed island (sources {list(island.sources)}): "
                "paths and feeders are defined for radial islands only"
            )
        root = self.grid.source(island.sources[0]).bus
        if root not in self._trees:
            parent: dict[str, tuple[str, str] | None] = {root: None}
            order = [root]
            queue = deque([root])
            while queue:
                here = queue.popleft()
                for neighbour, edge in self.adjacency[here]:
                    if neighbour not in parent:
                        parent[neighbour] = (here, edge)
                        order.append(neighbour)
                        queue.append(neighbour)
            for member in island.buses:
                self._trees[member] = (parent, order)
        return self._trees[bus]

    def path_to_source(self, bus: str) -> Path:
        """See :func:`path_to_source`."""
        parent, _ = self._tree(bus)
        buses, edges = [bus], []
        step = parent[bus]
        while step is not None:
            buses.append(step[0])
            edges.append(step[1])
            step = parent[step[0]]
        return Path(tuple(reversed(buses)), tuple(reversed(edges)))

    def downstream(self, element: str) -> frozenset[str]:
        """See :func:`downstream`."""
        top = element if element in self.grid.bus_ids else self._far_end(element)
        parent, order = self._tree(top)
        below = {top}
        for bus in order[order.index(top) + 1 :]:
            step = parent[bus]
            if step is not None and step[0] in below:
                below.add(bus)
        return frozenset(below)

    def _far_end(self, edge: str) -> str:
        """Return the end of branch or bus-bus switch `edge` farther from the source."""
        ends = self._edge_ends(edge)
        for end in ends:
            self._tree(end)
        parent, _ = self._tree(ends[0])
        for end in ends:
            step = parent.get(end)
            if step is not None and step[1] == edge:
                return end
        raise InvalidInputError(f"{edge!r} carries no power for these switch states")

    def _edge_ends(self, edge: str) -> tuple[str, str]:
        try:
            return self.grid.branch(edge).buses
        except InvalidInputError:
            pass
        switch = self.grid._lookup["switches"].get(edge)
        if switch is None or switch.to_bus is None:
            raise InvalidInputError(
                f"grid {self.grid.name!r} has no bus, line, transformer or bus-bus switch {edge!r}"
            )
        return (switch.bus, switch.to_bus)

    def feeder_of(self, bus: str) -> str | None:
        """See :func:`feeder_of`."""
        lines = self.grid._lookup["lines"]
        for edge in self.path_to_source(bus).branches:
            if edge in lines:
                return edge
        return None

    def feeders(self) -> dict[str, frozenset[str]]:
        """See :func:`feeders`."""
        result: dict[str, set[str]] = {}
        for island in self.islands:
            if not island.radial:
                continue
            for bus in island.buses:
                feeder = self.feeder_of(bus)
                if feeder is not None:
                    result.setdefault(feeder, set()).add(bus)
        return {feeder: frozenset(buses) for feeder, buses in result.items()}

    def meter_region(self, meter_id: str) -> frozenset[str]:
        """Buses of the part of the grid a meter observes: its feeder, else its island.

        A meter at a substation busbar that measures a feeder's first line observes that
        feeder.
        """
        meter = self.grid.meter(meter_id)
        island = self.island_of[meter.bus]
        if not island.radial:
            return island.buses
        feeder = self.feeder_of(meter.bus)
        if feeder is None and meter.branch is not None and meter.branch in self.closed_branches:
            branch = self.grid.branch(meter.branch)
            if isinstance(branch, Line):
                far = self._far_end(branch.id)
                if far != meter.bus:
                    feeder = self.feeder_of(far)
        if feeder is None:
            return island.buses
        return self.downstream(feeder)


def of(grid: Grid, switch_states: SwitchStates = None) -> Topology:
    """Return the connectivity of `grid` with `switch_states` applied (cached on the grid).

    Raises
    ------
    InvalidInputError
        An unknown switch id or a state that is not a bool.
    """
    overrides = grid.check_switch_states(switch_states)
    states = {s.id: overrides.get(s.id, s.closed) for s in grid.switches}
    key = ("topology", tuple(sorted(states.items())))
    cached = grid._cache.get(key)
    if cached is None:
        cached = grid._cache[key] = Topology(grid, states)
    return cached


def islands(grid: Grid, switch_states: SwitchStates = None) -> tuple[Island, ...]:
    """Every island of `grid`, energised or not."""
    return of(grid, switch_states).islands


def energised_buses(grid: Grid, switch_states: SwitchStates = None) -> frozenset[str]:
    """Ids of the buses a source feeds."""
    return of(grid, switch_states).energised_buses


def is_radial(grid: Grid, switch_states: SwitchStates = None) -> bool:
    """Whether every energised island is a tree fed by exactly one source."""
    return all(island.radial for island in islands(grid, switch_states) if island.energised)


def path_to_source(grid: Grid, bus: str, switch_states: SwitchStates = None) -> Path:
    """Return the buses and branches from the source feeding `bus` down to `bus`.

    Raises
    ------
    InvalidInputError
        Unknown bus, de-energised bus, or a bus in a meshed island.
    """
    return of(grid, switch_states).path_to_source(bus)


def downstream(grid: Grid, element: str, switch_states: SwitchStates = None) -> frozenset[str]:
    """Buses fed through `element`, a bus (itself included) or a branch (its far end on).

    Raises
    ------
    InvalidInputError
        Unknown element, de-energised element, or a meshed island.
    """
    return of(grid, switch_states).downstream(element)


def feeder_of(grid: Grid, bus: str, switch_states: SwitchStates = None) -> str | None:
    """Id of the first line on the path from the source to `bus`; None at the substation."""
    return of(grid, switch_states).feeder_of(bus)


def feeders(grid: Grid, switch_states: SwitchStates = None) -> dict[str, frozenset[str]]:
    """Feeder head line id -> the buses it feeds, for every radial energised island."""
    return of(grid, switch_states).feeders()


def affected_meters(old: Grid, new: Grid) -> frozenset[str]:
    """Meters whose observed part of the grid differs between two versions of a grid.

    A meter observes its feeder (see :meth:`Topology.meter_region`). It is affected when it
    was added, removed or moved, when its region gained or lost buses (a switch operation),
    or when any element in its region changed (parameters, loads, switch states, meters).
    Each grid is taken with its own switch states.

    Returns
    -------
    frozenset of str
        Meter ids, from either grid.
    """
    before, after = of(old), of(new)
    affected = set()
    for meter_id in {m.id for m in old.meters} | {m.id for m in new.meters}:
        if _signature(before, meter_id) != _signature(after, meter_id):
            affected.add(meter_id)
    return frozenset(affected)


def _signature(topology: Topology, meter_id: str) -> Any:
    """Everything about `meter_id` and its region that other code may depend on."""
    grid = topology.grid
    if meter_id not in grid._lookup["meters"]:
        return None
    region = topology.meter_region(meter_id)
    island = topology.island_of[grid.meter(meter_id).bus]
    content: set[Any] = {grid.meter(meter_id), island.energised}
    content.update(grid.bus(bus) for bus in region)
    for branch in grid.branches:
        if any(bus in region for bus in branch.buses):
            content.add(branch)
    for switch in grid.switches:
        if switch.bus in region or switch.to_bus in region:
            content.add(switch)
    for element in (*grid.loads, *grid.sources, *grid.meters):
        if element.bus in region:
            content.add(element)
    return frozenset(content)
