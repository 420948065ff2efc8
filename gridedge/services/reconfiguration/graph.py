"""The grid as a graph of switchable links, prepared once per grid version.

Vertices are the buses and, for every branch end that has switches, a terminal between the
switches and the branch. Links join two vertices: a *branch link* (a line or transformer,
always in service) or a *switch link* (the switches at one branch end, or one bus-bus switch;
closed when all its switches are closed). A branch held open at one end keeps its terminal
there, energised from the other end, so every energised island of a radial grid is a tree of
links and one source - the same islands as :mod:`gridedge.grid.topology`, with the switches
made explicit so that the planner can flip them as array entries.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridedge import kernels
from gridedge.grid import Grid


@dataclass(frozen=True)
class Islands:
    """Connected vertex sets for one set of link states.

    Attributes
    ----------
    label : ndarray of int, shape (n_vertex,)
        Island number of each vertex.
    energised : ndarray of bool, shape (n_island,)
        Whether a source feeds the island.
    radial : ndarray of bool, shape (n_island,)
        Energised, exactly one source, and a tree.
    """

    label: NDArray[np.int64]
    energised: NDArray[np.bool_]
    radial: NDArray[np.bool_]

    def energised_vertices(self) -> NDArray[np.bool_]:
        """Mask of the vertices of energised islands, shape (n_vertex,)."""
        return self.energised[self.label]


class SwitchingGraph:
    """Vertices, links and switches of one grid (see the module docstring).

    Parameters
    ----------
    grid : Grid
    backend : {"native", "python"}, optional
        Kernel backend of the island search (see :mod:`gridedge.kernels`).

    Attributes
    ----------
    grid : Grid
    n_buses : int
        Vertices ``0 .. n_buses - 1`` are the buses in grid order; terminals follow.
    vertex_names : tuple of str
        Bus id, or ``"<branch>@<bus>"`` for a terminal.
    link_a, link_b : ndarray of int64, shape (n_link,)
        End vertices of each link (a branch link runs from its from / hv end).
    link_branch : ndarray of intp, shape (n_link,)
        Index into ``grid.branches`` of a branch link, -1 for a switch link.
    link_switches : tuple of tuple of str
        The switches of each link (empty for a branch link).
    branch_link : ndarray of intp, shape (n_branch,)
        The link of each branch.
    end_link : ndarray of intp, shape (n_branch, 2)
        The switch link at each end of each branch, -1 where the end has no switch.
    link_of_switch : dict of str to int
    remote_links : ndarray of bool, shape (n_link,)
        Switch links with a remotely controllable switch.
    source_vertex : ndarray of int64, shape (n_source,)
        Bus vertex of each source (grid order).
    """

    def __init__(self, grid: Grid, backend: kernels.Backend | None = None) -> None:
        self.grid = grid
        self._kernel = kernels.load("radial", backend)
        self.n_buses = len(grid.buses)
        position = {bus: i for i, bus in enumerate(grid.bus_ids)}
        names = list(grid.bus_ids)
        at_end: dict[tuple[str, str], list[str]] = {}
        for switch in grid.switches:
            if switch.branch is not None:
                at_end.setdefault((switch.branch, switch.bus), []).append(switch.id)
        a: list[int] = []
        b: list[int] = []
        branch_of: list[int] = []
        switches_of: list[tuple[str, ...]] = []

        def add(u: int, v: int, branch: int, switches: tuple[str, ...]) -> int:
            a.append(u)
            b.append(v)
            branch_of.append(branch)
            switches_of.append(switches)
            return len(a) - 1

        end_link = np.full((len(grid.branches), 2), -1, dtype=np.intp)
        branch_link = np.zeros(len(grid.branches), dtype=np.intp)
        for k, branch in enumerate(grid.branches):
            ends = []
            for side, bus in enumerate(branch.buses):
                switches = at_end.get((branch.id, bus))
                if switches is None:
                    ends.append(position[bus])
                    continue
                names.append(f"{branch.id}@{bus}")
                terminal = len(names) - 1
                end_link[k, side] = add(terminal, position[bus], -1, tuple(switches))
                ends.append(terminal)
            branch_link[k] = add(ends[0], ends[1], k, ())
        for switch in grid.switches:
            if switch.to_bus is not None:
                add(position[switch.bus], position[switch.to_bus], -1, (switch.id,))
        self.vertex_names = tuple(names)
        self.link_a = np.array(a, dtype=np.int64)
        self.link_b = np.array(b, dtype=np.int64)
        self.link_branch = np.array(branch_of, dtype=np.intp)
        self.link_switches = tuple(switches_of)
        self.branch_link = branch_link
        self.end_link = end_link
        self.link_of_switch = {s: k for k, group in enumerate(switches_of) for s in group}
        self.remote_links = np.array(
            [any(grid.switch(s).remote for s in group) for group in switches_of], dtype=bool
        )
        self.source_vertex = np.array([position[s.bus] for s in grid.sources], dtype=np.int64)
        incident: list[list[int]] = [[] for _ in names]
        for k, (u, v) in enumerate(zip(a, b, strict=True)):
            incident[u].append(k)
            incident[v].append(k)
        self.incident = tuple(tuple(links) for links in incident)

    @property
    def n_vertices(self) -> int:
        """Number of vertices (buses and terminals)."""
        return len(self.vertex_names)

    @property
    def n_links(self) -> int:
        """Number of links."""
        return int(self.link_a.shape[0])

    def is_switch_link(self, link: int) -> bool:
        """Whether `link` is made of switches."""
        return bool(self.link_branch[link] < 0)

    def closed_links(self, states: Mapping[str, bool]) -> NDArray[np.bool_]:
        """Mask of the links in service for `states` (every switch's state), shape (n_link,)."""
        closed = np.ones(self.n_links, dtype=bool)
        for switch, link in self.link_of_switch.items():
            if not states[switch]:
                closed[link] = False
        return closed

    def other_end(self, link: int, vertex: int) -> int:
        """Return the end of `link` that is not `vertex`."""
        a = int(self.link_a[link])
        return int(self.link_b[link]) if a == vertex else a

    def components(self, joined: NDArray[np.bool_]) -> NDArray[np.int64]:
        """Component number of each vertex when the links in `joined` join their ends."""
        return self._kernel.components(self.n_vertices, self.link_a[joined], self.link_b[joined])

    def islands(self, closed: NDArray[np.bool_]) -> Islands:
        """Islands for the link states `closed`, with their energisation and radiality."""
        label = self.components(closed)
        count = int(label.max(initial=-1)) + 1
        a = self.link_a[closed]
        vertices = np.bincount(label, minlength=count)
        links = np.bincount(label[a], minlength=count)
        sources = np.bincount(label[self.source_vertex], minlength=count)
        energised = sources > 0
        radial = (sources == 1) & (links == vertices - 1)
        return Islands(label=label, energised=energised, radial=radial)

    def switch_label(self, link: int) -> str:
        """Human-readable name of a switch link: its switch ids."""
        return "+".join(self.link_switches[link])
