"""The search for the restoration: which ties to close and which sections to leave out.

After isolation the outage is cut into *sections*: vertices joined by links the plan cannot
operate (branches, closed manual switches). Sections are joined to each other and to the live
islands by remotely controllable switches: closed ones inside the outage may be opened
(*cuts*, to split the outage between ties or to leave out what no tie can carry), normally
open ones may be closed (*ties*). A candidate is a set of cuts and a set of ties whose
closing keeps every energised part a tree with one source; it restores the load of the
sections it connects to a live island.

Candidates are ranked by restored load (most first), then switching operations (fewest
first); they are checked by power flow in that order, and the first within limits wins, ties
on both keys going to the lowest losses. Exhaustive within ``max_openings`` cuts and
``max_closings`` ties, and fast because a candidate's load is known before its power flow.
"""

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import ConvergenceError
from gridedge.grid import Grid
from gridedge.services.reconfiguration.flow import Electrical, FlowSolver, FlowState, Violation
from gridedge.services.reconfiguration.graph import Islands, SwitchingGraph
from gridedge.services.reconfiguration.settings import Limits

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A way to restore (part of) the outage.

    Attributes
    ----------
    cuts : tuple of int
        Switch links to open inside the outage.
    ties : tuple of int
        Switch links to close (in a safe closing order once :meth:`Outage.closing_order`
        has ordered them).
    restored : frozenset of int
        Search nodes (outage sections) it re-energises.
    restored_kw : float
        Their load, kW.
    """

    cuts: tuple[int, ...]
    ties: tuple[int, ...]
    restored: frozenset[int]
    restored_kw: float

    @property
    def operations(self) -> int:
        """Switching operations beyond isolation."""
        return len(self.cuts) + len(self.ties)


@dataclass(frozen=True)
class Rejection:
    """A candidate that restores more than the chosen one but breaks the limits."""

    candidate: Candidate
    violations: tuple[Violation, ...]
    collapsed: bool


@dataclass(frozen=True)
class Outcome:
    """Result of the search.

    Attributes
    ----------
    best : Candidate
    state : FlowState
        Power flow of that configuration.
    losses_kw : float
    affected : ndarray of bool, shape (n_vertex,)
        Vertices the fault left de-energised outside the isolated zone.
    reachable : ndarray of bool, shape (n_vertex,)
        Affected vertices some set of ties could reach (limits aside).
    restored : ndarray of bool, shape (n_vertex,)
    rejected : Rejection or None
        The first candidate that would have restored more, and why it was not chosen.
    evaluated : int
        Power flows run.
    """

    best: Candidate
    state: FlowState
    losses_kw: float
    affected: NDArray[np.bool_]
    reachable: NDArray[np.bool_]
    restored: NDArray[np.bool_]
    rejected: Rejection | None
    evaluated: int


class Outage:
    """The search space after isolation (see the module docstring)."""

    def __init__(
        self,
        graph: SwitchingGraph,
        electrical: Electrical,
        islands: Islands,
        closed: NDArray[np.bool_],
        zone: frozenset[int],
        energised_before: NDArray[np.bool_],
        states: Mapping[str, bool],
    ) -> None:
        self.graph = graph
        self.closed = closed
        self.island_label = islands.label
        live = islands.energised_vertices()
        in_zone = np.zeros(graph.n_vertices, dtype=bool)
        in_zone[list(zone)] = True
        self.affected = energised_before & ~live & ~in_zone
        operable = graph.remote_links
        # Sections: what links the plan cannot operate hold together.
        section = graph.components(closed & ~operable)
        n = graph.n_vertices
        # Search nodes: one per live island (the roots), then one per outage section.
        live_islands = np.unique(islands.label[live])
        affected_sections = np.unique(section[self.affected])
        self.n_roots = live_islands.shape[0]
        node = np.full(n, -1, dtype=np.intp)
        node[live] = np.searchsorted(live_islands, islands.label[live])
        node[self.affected] = self.n_roots + np.searchsorted(
            affected_sections, section[self.affected]
        )
        self.node = node
        self.root_sources = [
            tuple(
                source.id
                for source, vertex in zip(graph.grid.sources, graph.source_vertex, strict=True)
                if islands.label[vertex] == island
            )
            for island in live_islands
        ]
        self.n_nodes = self.n_roots + affected_sections.shape[0]
        kw = np.zeros(graph.n_vertices)
        kw[: graph.n_buses] = electrical.load_kw_at_bus
        self.node_kw = np.bincount(
            node[self.affected], weights=kw[self.affected], minlength=self.n_nodes
        )
        # Closed remote switches inside the outage, and those of them worth opening.
        self.inner_links: list[int] = []
        self.tie_links: list[int] = []
        grid = graph.grid
        for k in np.flatnonzero(operable):
            a, b = node[graph.link_a[k]], node[graph.link_b[k]]
            if a < 0 or b < 0 or a == b:
                continue
            if closed[k]:
                if a >= self.n_roots and b >= self.n_roots:
                    self.inner_links.append(int(k))
            elif (a >= self.n_roots or b >= self.n_roots) and _is_tie(grid, graph, int(k), states):
                self.tie_links.append(int(k))
        # Normally open switches a crew would have to close: named in the plan's notes.
        self.manual_ties = [
            switch
            for k in np.flatnonzero(~operable & ~closed & (graph.link_branch < 0))
            if self.affected[graph.link_a[k]] or self.affected[graph.link_b[k]]
            if node[graph.link_a[k]] >= 0 and node[graph.link_b[k]] >= 0
            for switch in graph.link_switches[k]
            if not states[switch] and not grid.switch(switch).normally_closed
        ]
        self._ends = {
            link: (int(node[graph.link_a[link]]), int(node[graph.link_b[link]]))
            for link in (*self.inner_links, *self.tie_links)
        }
        self.reachable = self._reachable()
        # Operations on sections no tie can reach change nothing.
        self.tie_links = [
            k
            for k in self.tie_links
            if self._ends[k][1] in self.reachable or self._ends[k][0] in self.reachable
        ]
        self.cut_links = [k for k in self._worth_opening() if self._ends[k][0] in self.reachable]

    def _worth_opening(self) -> list[int]:
        """Return the inner links worth opening.

        Of the two switches that bound a section without load (a cable with a switch at each
        end) one is left out: opening either leaves the same customers on each side.
        """
        incident: dict[int, list[int]] = {}
        for link in (*self.inner_links, *self.tie_links):
            for n in self.ends(link):
                incident.setdefault(n, []).append(link)
        cuts = set(self.inner_links)
        redundant: set[int] = set()
        for n, links in incident.items():
            if (
                n >= self.n_roots
                and self.node_kw[n] == 0
                and len(links) == 2
                and cuts.issuperset(links)
                and not redundant.intersection(links)
            ):
                redundant.add(links[1])
        return [link for link in self.inner_links if link not in redundant]

    def ends(self, link: int) -> tuple[int, int]:
        """Search nodes at the two ends of inner or tie link `link`."""
        return self._ends[link]

    def candidates(self, limits: Limits) -> list[Candidate]:
        """Every radial candidate within the switching budget, best load first."""
        roots = self.n_roots
        tie_sets = [
            ties
            for size in range(min(limits.max_closings, len(self.tie_links)) + 1)
            for ties in itertools.combinations(self.tie_links, size)
        ]
        found: dict[tuple[frozenset[int], frozenset[int]], Candidate] = {}
        for size in range(min(limits.max_openings, len(self.cut_links)) + 1):
            for cuts in itertools.combinations(self.cut_links, size):
                component = self._components(cuts)
                for ties in tie_sets:
                    if cuts and not ties:
                        continue
                    candidate = self._candidate(component, roots, cuts, ties)
                    if candidate is None:
                        continue
                    key = (candidate.restored, frozenset(ties))
                    known = found.get(key)
                    if known is None or candidate.operations < known.operations:
                        found[key] = candidate
        return sorted(found.values(), key=lambda c: (-round(c.restored_kw, 9), c.operations))

    def _reachable(self) -> frozenset[int]:
        """Return the outage nodes that closing every tie would connect to a live island."""
        parent = list(range(self.n_nodes))
        for link in (*self.inner_links, *self.tie_links):
            a, b = self.ends(link)
            parent[_find(parent, a)] = _find(parent, b)
        rooted = {_find(parent, r) for r in range(self.n_roots)}
        return frozenset(n for n in range(self.n_roots, self.n_nodes) if _find(parent, n) in rooted)

    def _components(self, cuts: tuple[int, ...]) -> list[int]:
        """Component of each node with every cut candidate closed except `cuts`."""
        parent = list(range(self.n_nodes))
        for link in self.inner_links:
            if link not in cuts:
                a, b = self.ends(link)
                parent[_find(parent, a)] = _find(parent, b)
        return [_find(parent, n) for n in range(self.n_nodes)]

    def _candidate(
        self, component: list[int], roots: int, cuts: tuple[int, ...], ties: tuple[int, ...]
    ) -> Candidate | None:
        """Return the candidate (cuts, ties), or None if not radial or an operation is useless."""
        parent = list(range(self.n_nodes))
        rooted = [n < roots for n in range(self.n_nodes)]
        for link in ties:
            a, b = (_find(parent, component[n]) for n in self.ends(link))
            if a == b or (rooted[a] and rooted[b]):
                return None
            parent[a] = b
            rooted[b] = rooted[a] or rooted[b]

        def restored(n: int) -> bool:
            return rooted[_find(parent, component[n])]

        if not all(restored(self.ends(link)[0]) for link in ties):
            return None
        if not all(any(restored(n) for n in self.ends(link)) for link in cuts):
            return None
        nodes = frozenset(n for n in range(roots, self.n_nodes) if restored(n))
        return Candidate(
            cuts=cuts,
            ties=ties,
            restored=nodes,
            restored_kw=float(self.node_kw[list(nodes)].sum()) if nodes else 0.0,
        )

    def closing_order(self, candidate: Candidate) -> Candidate:
        """Return `candidate` with its ties ordered to close each onto a live and a dead part."""
        component = self._components(candidate.cuts)
        parent = list(range(self.n_nodes))
        rooted = [n < self.n_roots for n in range(self.n_nodes)]
        order: list[int] = []
        waiting = list(candidate.ties)
        while waiting:
            for link in waiting:
                a, b = (_find(parent, component[n]) for n in self.ends(link))
                if rooted[a] != rooted[b]:
                    parent[a] = b
                    rooted[b] = True
                    order.append(link)
                    waiting.remove(link)
                    break
        return replace(candidate, ties=tuple(order))

    def pickups(self, candidate: Candidate) -> list[tuple[float, tuple[str, ...]]]:
        """Return, per tie of `candidate` in closing order, the kW it picks up and its sources."""
        component = self._components(candidate.cuts)
        parent = list(range(self.n_nodes))
        root_of: dict[int, int] = {n: n for n in range(self.n_roots)}
        result = []
        for link in candidate.ties:
            a, b = (_find(parent, component[n]) for n in self.ends(link))
            live, dead = (a, b) if a in root_of else (b, a)
            members = [
                n for n in range(self.n_roots, self.n_nodes) if _find(parent, component[n]) == dead
            ]
            parent[dead] = live
            result.append((float(self.node_kw[members].sum()), self.root_sources[root_of[live]]))
        return result

    def configuration(self, candidate: Candidate) -> NDArray[np.bool_]:
        """Link states with `candidate` applied."""
        closed = self.closed.copy()
        closed[list(candidate.cuts)] = False
        closed[list(candidate.ties)] = True
        return closed

    def restored_vertices(self, candidate: Candidate) -> NDArray[np.bool_]:
        """Mask of the vertices `candidate` re-energises."""
        mask = np.zeros(self.n_nodes, dtype=bool)
        mask[list(candidate.restored)] = True
        return self.affected & mask[self.node]

    def checked_buses(self, candidate: Candidate) -> NDArray[np.bool_]:
        """Return the buses whose limits `candidate` answers for.

        These are what it restores and the live islands it restores from; islands it leaves
        alone keep their state.
        """
        restored = self.restored_vertices(candidate)
        feeding = np.zeros(int(self.island_label.max(initial=-1)) + 1, dtype=bool)
        for link in candidate.ties:
            for vertex in (self.graph.link_a[link], self.graph.link_b[link]):
                if 0 <= self.node[vertex] < self.n_roots:
                    feeding[self.island_label[vertex]] = True
        checked = restored | feeding[self.island_label]
        return checked[: self.graph.n_buses]


def search(outage: Outage, electrical: Electrical, flow: FlowSolver, limits: Limits) -> Outcome:
    """Return the best candidate within limits (see the module docstring)."""
    best: tuple[Candidate, FlowState, float] | None = None
    rejected: Rejection | None = None
    evaluated = 0
    for candidate in outage.candidates(limits):
        if best is not None and (
            round(candidate.restored_kw, 9) != round(best[0].restored_kw, 9)
            or candidate.operations != best[0].operations
        ):
            break
        closed = outage.configuration(candidate)
        state = flow(closed)
        evaluated += 1
        if not state.converged:
            violations: list[Violation] = []
        else:
            violations = electrical.violations(state, outage.checked_buses(candidate), limits)
        if not state.converged or violations:
            if rejected is None and candidate.restored:
                rejected = Rejection(candidate, tuple(violations), not state.converged)
            continue
        losses = electrical.losses_kw(state)
        if best is None or losses < best[2]:
            best = (candidate, state, losses)
    if best is None:  # even the grid as isolated, which no limit applies to, has no solution
        raise ConvergenceError("the power flow of the grid after isolation did not converge")
    candidate, state, losses = best
    candidate = outage.closing_order(candidate)
    reachable_nodes = np.zeros(outage.n_nodes, dtype=bool)
    reachable_nodes[list(outage.reachable)] = True
    logger.debug("restoration search: %d power flows", evaluated)
    return Outcome(
        best=candidate,
        state=state,
        losses_kw=losses,
        affected=outage.affected,
        reachable=outage.affected & reachable_nodes[outage.node],
        restored=outage.restored_vertices(candidate),
        rejected=rejected,
        evaluated=evaluated,
    )


def _find(parent: list[int], n: int) -> int:
    while parent[n] != n:
        parent[n] = parent[parent[n]]
        n = parent[n]
    return n


def _is_tie(grid: Grid, graph: SwitchingGraph, link: int, states: Mapping[str, bool]) -> bool:
    """Tell whether `link` is normally open and its open switches can all be closed remotely.

    An open switch that is normally closed is taken to be open on purpose (work, an earlier
    fault) and is left alone.
    """
    switches = [grid.switch(s) for s in graph.link_switches[link]]
    opened = [s for s in switches if not states[s.id]]
    return all(s.remote and not s.normally_closed for s in opened)
