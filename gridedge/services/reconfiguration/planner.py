"""Isolation and restoration of a faulted line: the entry points.

:class:`Restorer` prepares a grid once (its link graph and per-unit data) and then plans each
fault in well under a millisecond on the Turin case; :func:`plan_restoration` does both in
one call.
"""

import logging
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from gridedge import kernels
from gridedge.errors import InvalidInputError
from gridedge.grid import Grid
from gridedge.services.reconfiguration import flow as flows
from gridedge.services.reconfiguration.graph import SwitchingGraph
from gridedge.services.reconfiguration.isolation import (
    Fault,
    Isolation,
    faulted_section,
    isolate,
)
from gridedge.services.reconfiguration.plan import (
    ExpectedState,
    RestorationPlan,
    SwitchingStep,
    Unserved,
    finite_or_none,
)
from gridedge.services.reconfiguration.search import Candidate, Outage, Outcome, search
from gridedge.services.reconfiguration.settings import Limits

logger = logging.getLogger(__name__)

LOAD_RESOLUTION_KW = 1e-6
"""Load differences below this are no difference, kW."""


class Restorer:
    """Plans the isolation and restoration of faults on one grid.

    Parameters
    ----------
    grid : Grid
        The grid; its switches' ``remote`` and ``normally_closed`` flags say which switches
        the plan may operate and which are ties.
    limits : Limits, optional
        Voltage band, loading limit and switching budget; defaults of :class:`Limits`.
    solver : {"sweep", "grid"}
        Power flow of the candidates: the radial sweep kernel on the prepared grid, or
        :func:`gridedge.grid.power_flow` on the whole grid (the plain reference, slower).
    backend : {"native", "python"}, optional
        Kernel backend of the sweep (see :mod:`gridedge.kernels`).

    Raises
    ------
    InvalidInputError
        The grid has no remotely controllable normally open tie switch, or an unknown solver.
    """

    def __init__(
        self,
        grid: Grid,
        limits: Limits | None = None,
        *,
        solver: flows.Solver = "sweep",
        backend: kernels.Backend | None = None,
    ) -> None:
        if not any(s.remote and not s.normally_closed for s in grid.switches):
            raise InvalidInputError(
                f"grid {grid.name!r} has no remotely controllable normally open tie switch: "
                "nothing could restore supply after a fault"
            )
        self.grid = grid
        self.limits = Limits() if limits is None else limits
        self.graph = SwitchingGraph(grid, backend)
        self.electrical = flows.Electrical(self.graph)
        self.flow = flows.solver(self.graph, self.electrical, self.limits, solver, backend)
        self._bus_ids = np.array(grid.bus_ids, dtype=object)

    def plan(
        self, fault: Fault, switch_states: Mapping[str, bool] | None = None
    ) -> RestorationPlan:
        """Plan the isolation of `fault` and the restoration of what it cut off.

        Parameters
        ----------
        fault : str or (str, str, float) or mapping or object
            The faulted line id, or ``(from_bus, to_bus, distance_m)`` as a fault locator
            reports it (also as a mapping or object with those names, and ``sections``: the
            lines meeting at the bus the fault is at, all isolated, when the locator cannot
            say on which side it is).
        switch_states : mapping of str to bool, optional
            Switch states just before the fault, overriding the grid's (True = closed).

        Returns
        -------
        RestorationPlan

        Raises
        ------
        InvalidInputError
            Unknown line, buses or switches; a de-energised faulted line; switch states that
            leave an energised island meshed or fed by several sources.
        IsolationError
            No remotely controllable switch separates the fault from a source.
        """
        grid = self.grid
        graph = self.graph
        overrides = grid.check_switch_states(switch_states)
        states = {s.id: overrides.get(s.id, s.closed) for s in grid.switches}
        section = faulted_section(grid, fault)
        closed = graph.closed_links(states)
        islands = graph.islands(closed)
        self._check_radial(islands.label, islands.energised, islands.radial)
        energised = islands.energised_vertices()
        isolation = isolate(graph, closed, energised, section.lines)
        outage = Outage(
            graph,
            self.electrical,
            isolation.islands,
            isolation.closed,
            isolation.zone,
            energised,
            states,
        )
        outcome = search(outage, self.electrical, self.flow, self.limits)
        steps = self._steps(isolation, outage, outcome.best, section.lines, states)
        final = dict(states)
        for step in steps:
            final[step.switch] = step.action == "close"
        in_zone = np.zeros(graph.n_vertices, dtype=bool)
        in_zone[list(isolation.zone)] = True
        interrupted_zone = (in_zone & energised)[: graph.n_buses]
        plan = RestorationPlan(
            grid=grid.name,
            fault=section,
            isolating_switches=isolation.switches,
            steps=steps,
            switch_states=final,
            restored_buses=tuple(self._bus_ids[outcome.restored[: graph.n_buses]].tolist()),
            unserved=self._unserved(interrupted_zone, outcome),
            state=self._state(outcome, interrupted_zone),
            notes=self._notes(isolation, outage, outcome),
            power_flows=outcome.evaluated,
        )
        logger.info(
            "fault on %s: %d steps, %.1f kW restored, %.1f kW unserved",
            " or ".join(section.lines),
            len(steps),
            plan.state.restored_kw,
            plan.state.unserved_kw,
        )
        return plan

    def _check_radial(
        self,
        label: NDArray[np.int32],
        energised: NDArray[np.bool_],
        radial: NDArray[np.bool_],
    ) -> None:
        bad = np.flatnonzero(energised & ~radial)
        if bad.size:
            island = bad[0]
            sources = [
                s.id
                for s, v in zip(self.grid.sources, self.graph.source_vertex, strict=True)
                if label[v] == island
            ]
            raise InvalidInputError(
                f"the switch states leave the island of source(s) {sources} meshed or fed by "
                "several sources: restoration is planned from radial operation only"
            )

    def _steps(
        self,
        isolation: Isolation,
        outage: Outage,
        best: Candidate,
        lines: tuple[str, ...],
        states: Mapping[str, bool],
    ) -> tuple[SwitchingStep, ...]:
        graph = self.graph
        grid = self.grid
        steps = [
            SwitchingStep(
                switch,
                "open",
                "isolate",
                f"{'source side' if upstream else 'far side'} of line {' and '.join(lines)}",
            )
            for switch, upstream in zip(isolation.switches, isolation.upstream, strict=True)
        ]
        for link in best.cuts:
            switch = next(s for s in graph.link_switches[link] if grid.switch(s).remote)
            both_restored = all(n in best.restored for n in outage.ends(link))
            detail = (
                "splits the outage between ties"
                if both_restored
                else "leaves out the part of the outage no tie can carry within limits"
            )
            steps.append(SwitchingStep(switch, "open", "sectionalise", detail))
        for link, (kw, sources) in zip(best.ties, outage.pickups(best), strict=True):
            for switch in graph.link_switches[link]:
                if states[switch]:
                    continue
                steps.append(
                    SwitchingStep(
                        switch,
                        "close",
                        "restore",
                        f"picks up {kw:.1f} kW from source {', '.join(sources)}",
                    )
                )
        return tuple(steps)

    def _unserved(self, zone_buses: NDArray[np.bool_], outcome: Outcome) -> tuple[Unserved, ...]:
        n = self.graph.n_buses
        groups = (
            ("faulted section", zone_buses),
            ("no tie", (outcome.affected & ~outcome.reachable)[:n]),
            ("limits", (outcome.reachable & ~outcome.restored)[:n]),
        )
        load = self.electrical.load_kw_at_bus
        return tuple(
            Unserved(
                reason,  # type: ignore[arg-type]
                tuple(self._bus_ids[mask].tolist()),
                float(load[mask].sum()),
            )
            for reason, mask in groups
            if mask.any()
        )

    def _state(self, outcome: Outcome, zone_buses: NDArray[np.bool_]) -> ExpectedState:
        grid = self.grid
        load = self.electrical.load_kw_at_bus
        n = self.graph.n_buses
        interrupted = float(load[zone_buses].sum() + load[outcome.affected[:n]].sum())
        restored = float(load[outcome.restored[:n]].sum())
        magnitude = np.abs(outcome.state.voltage)
        live = np.flatnonzero(magnitude > 0)
        low = live[np.argmin(magnitude[live])]
        high = live[np.argmax(magnitude[live])]
        loading = self.electrical.loading(outcome.state)
        rated = np.flatnonzero(loading > 0)  # energised and rated (nan compares false)
        worst = rated[np.argmax(loading[rated])] if rated.size else None
        return ExpectedState(
            interrupted_kw=interrupted,
            restored_kw=restored,
            unserved_kw=interrupted - restored,
            min_voltage_pu=float(magnitude[low]),
            min_voltage_bus=grid.bus_ids[low],
            max_voltage_pu=float(magnitude[high]),
            max_voltage_bus=grid.bus_ids[high],
            max_loading=None if worst is None else finite_or_none(float(loading[worst])),
            max_loading_branch=None if worst is None else grid.branch_ids[worst],
            losses_kw=outcome.losses_kw,
        )

    def _notes(self, isolation: Isolation, outage: Outage, outcome: Outcome) -> tuple[str, ...]:
        graph = self.graph
        notes = []
        if isolation.manual:
            notes.append(
                "switch(es) "
                + ", ".join(isolation.manual)
                + " are not remotely controllable: the isolated zone extends past them; a crew "
                "opening them would let more customers be restored"
            )
        if outage.manual_ties:
            notes.append(
                "tie switch(es) "
                + ", ".join(outage.manual_ties)
                + " border the outage but are not remotely controllable: a crew closing them "
                "could restore more"
            )
        if not outcome.affected.any():
            notes.append("no customer outside the isolated zone lost supply")
        rejected = outcome.rejected
        extra = (
            0.0 if rejected is None else rejected.candidate.restored_kw - outcome.best.restored_kw
        )
        if rejected is not None and extra > LOAD_RESOLUTION_KW:
            operations = [f"close {graph.switch_label(k)}" for k in rejected.candidate.ties]
            operations += [f"open {graph.switch_label(k)}" for k in rejected.candidate.cuts]
            if rejected.collapsed:
                why = "the voltage would collapse (no power flow solution)"
            else:
                shown = "; ".join(str(v) for v in rejected.violations[:3])
                more = len(rejected.violations) - 3
                why = f"it would break the limits: {shown}" + (
                    f" and {more} more" if more > 0 else ""
                )
            notes.append(
                f"restoring {extra:.1f} kW more ({', '.join(operations)}) was not chosen: {why}"
            )
        return tuple(notes)


def plan_restoration(
    grid: Grid,
    switch_states: Mapping[str, bool] | None,
    fault: Fault,
    limits: Limits | None = None,
    *,
    solver: flows.Solver = "sweep",
    backend: kernels.Backend | None = None,
) -> RestorationPlan:
    """Plan the isolation and restoration of one fault (see :class:`Restorer`).

    Parameters
    ----------
    grid : Grid
    switch_states : mapping of str to bool or None
        Switch states just before the fault, overriding the grid's; None keeps the grid's.
    fault : str or (str, str, float) or mapping or object
        Faulted line id, or ``(from_bus, to_bus, distance_m)`` from a fault locator.
    limits : Limits, optional
    solver : {"sweep", "grid"}
    backend : {"native", "python"}, optional

    Returns
    -------
    RestorationPlan

    Examples
    --------
    >>> from gridedge.grid.cases import turin
    >>> plan = plan_restoration(turin(), None, "F1-03")
    >>> [(step.action, step.switch) for step in plan.steps]
    [('open', 'F1-03@SS02'), ('open', 'F1-03@SS03'), ('close', 'TIE@SS06')]
    """
    return Restorer(grid, limits, solver=solver, backend=backend).plan(fault, switch_states)
