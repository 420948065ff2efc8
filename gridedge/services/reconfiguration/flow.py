"""Power flow of candidate configurations and their check against the limits.

Two solvers give the same :class:`FlowState`:

- :class:`SweepFlow` (``solver="sweep"``): the backward/forward sweep kernel
  (:mod:`gridedge.kernels` ``radial``: compiled, or its numpy twin) on the
  :class:`~gridedge.services.reconfiguration.graph.SwitchingGraph`, with every branch's
  positive-sequence two-port taken once from :func:`gridedge.grid.network.build`; a
  configuration is then a mask of links;
- :class:`GridFlow` (``solver="grid"``): :func:`gridedge.grid.power_flow` on the whole grid
  for every configuration, the plain reference.
"""

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from gridedge import kernels
from gridedge.errors import ConvergenceError, InvalidInputError
from gridedge.grid import Line, Transformer, power_flow
from gridedge.grid import network as nw
from gridedge.services.reconfiguration.graph import SwitchingGraph
from gridedge.services.reconfiguration.settings import Limits

Solver = Literal["sweep", "grid"]

IDEAL_SWITCH = (1.0, 0.0, 0.0, 1.0)
"""Transmission coefficients (a, b, c, d) of a closed switch."""


@dataclass(frozen=True, eq=False)
class FlowState:
    """Solution of one configuration, in grid order.

    Attributes
    ----------
    voltage : ndarray of complex128, shape (n_bus,)
        Positive-sequence voltage, p.u.; 0 at de-energised buses.
    current : ndarray of complex128, shape (n_branch, 2)
        Phase current into each branch at its from (hv) and to (lv) end, A; 0 at open ends.
    converged : bool
        False when the power flow diverged (voltage collapse); the arrays are then void.
    """

    voltage: NDArray[np.complex128] = field(repr=False)
    current: NDArray[np.complex128] = field(repr=False)
    converged: bool


@dataclass(frozen=True)
class Violation:
    """One limit a configuration breaks.

    Attributes
    ----------
    element : str
        Bus id (voltage) or line / transformer id (loading).
    quantity : {"voltage", "loading"}
    value, limit : float
        P.u. voltage or loading fraction, and the limit it breaks.
    """

    element: str
    quantity: str
    value: float
    limit: float

    def __str__(self) -> str:
        if self.quantity == "voltage":
            return f"bus {self.element} at {self.value:.4f} p.u. (limit {self.limit:g})"
        return f"{self.element} loaded {100 * self.value:.1f} % (limit {100 * self.limit:g} %)"


class Electrical:
    """Per-unit data of the links, loads and sources of a :class:`SwitchingGraph`."""

    def __init__(self, graph: SwitchingGraph) -> None:
        grid = graph.grid
        self.graph = graph
        everything_closed = {switch.id: True for switch in grid.switches}
        net = nw.build(grid, everything_closed)
        # Positive-sequence [[y_ff, y_ft], [y_tf, y_tt]] of every branch, grid order.
        two_port = np.zeros((len(grid.branches), 2, 2), dtype=np.complex128)
        two_port[net.branch_index] = net.two_port[:, nw.POSITIVE]
        self.two_port = two_port
        coefficients = np.tile(np.array(IDEAL_SWITCH, dtype=np.complex128), (graph.n_links, 2, 1))
        rows = graph.branch_link
        coefficients[rows, 0] = _transmission(two_port)
        coefficients[rows, 1] = _transmission(two_port[:, ::-1, ::-1])
        self.coefficients = coefficients
        kv = np.array([bus.kv for bus in grid.buses])
        position = {bus: i for i, bus in enumerate(grid.bus_ids)}
        end_kv = kv[self._branch_ends]
        self.end_base_a = nw.S_BASE_MVA / (math.sqrt(3) * end_kv) * 1e3
        self.rating_a = np.array(
            [_rating_a(branch) for branch in grid.branches], dtype=np.float64
        ).reshape(-1, 2)
        load = np.zeros(graph.n_vertices, dtype=np.complex128)
        for item in grid.loads:
            load[position[item.bus]] += complex(item.p_kw, item.q_kvar) / 1e3 / nw.S_BASE_MVA
        self.load_pu = load
        self.load_kw_at_bus = load.real[: graph.n_buses] * 1e3 * nw.S_BASE_MVA
        self.source_voltage = np.array(
            [s.vm_pu * np.exp(1j * math.radians(s.va_deg)) for s in grid.sources],
            dtype=np.complex128,
        ).reshape(-1)

    def branch_currents(
        self, from_voltage: NDArray[np.complex128], to_voltage: NDArray[np.complex128]
    ) -> NDArray[np.complex128]:
        """Currents into every branch at both ends, A, from its end voltages (p.u.)."""
        y = self.two_port
        current = np.stack(
            [
                y[:, 0, 0] * from_voltage + y[:, 0, 1] * to_voltage,
                y[:, 1, 0] * from_voltage + y[:, 1, 1] * to_voltage,
            ],
            axis=1,
        )
        return current * self.end_base_a

    def losses_kw(self, state: FlowState) -> float:
        """Active power lost in lines and transformers, kW."""
        voltage = state.voltage[self._branch_ends]
        power = voltage * np.conj(state.current / self.end_base_a)
        return float(np.sum(power.real) * 1e3 * nw.S_BASE_MVA)

    def loading(self, state: FlowState) -> NDArray[np.float64]:
        """Largest end current over rating of each branch, shape (n_branch,); nan if unrated."""
        ratio = np.abs(state.current) / self.rating_a
        return np.maximum(ratio[:, 0], ratio[:, 1])

    def violations(
        self, state: FlowState, checked: NDArray[np.bool_], limits: Limits
    ) -> list[Violation]:
        """Limits broken at the buses in `checked` (shape (n_bus,)) and their branches."""
        grid = self.graph.grid
        magnitude = np.abs(state.voltage)
        live = checked & (magnitude > 0)
        found = [
            Violation(grid.bus_ids[i], "voltage", float(magnitude[i]), limits.v_min_pu)
            for i in np.flatnonzero(live & (magnitude < limits.v_min_pu))
        ]
        found += [
            Violation(grid.bus_ids[i], "voltage", float(magnitude[i]), limits.v_max_pu)
            for i in np.flatnonzero(live & (magnitude > limits.v_max_pu))
        ]
        loading = self.loading(state)
        with np.errstate(invalid="ignore"):
            over = self._branch_touches(checked) & (loading > limits.max_loading)
        found += [
            Violation(grid.branch_ids[i], "loading", float(loading[i]), limits.max_loading)
            for i in np.flatnonzero(over)
        ]
        return found

    def _branch_touches(self, buses: NDArray[np.bool_]) -> NDArray[np.bool_]:
        return buses[self._branch_ends[:, 0]] | buses[self._branch_ends[:, 1]]

    @cached_property
    def _branch_ends(self) -> NDArray[np.intp]:
        grid = self.graph.grid
        position = {bus: i for i, bus in enumerate(grid.bus_ids)}
        return np.array(
            [[position[b] for b in branch.buses] for branch in grid.branches], dtype=np.intp
        ).reshape(-1, 2)


class FlowSolver(Protocol):
    """Solves one configuration given as a mask of closed links."""

    def __call__(self, closed: NDArray[np.bool_]) -> FlowState:
        """Return the power flow of the configuration `closed` (shape (n_link,))."""
        ...


class SweepFlow:
    """The backward/forward sweep kernel on the link graph (see the module docstring)."""

    def __init__(
        self, electrical: Electrical, limits: Limits, backend: kernels.Backend | None = None
    ) -> None:
        self.electrical = electrical
        self.limits = limits
        self._kernel = kernels.load("radial", backend)

    def __call__(self, closed: NDArray[np.bool_]) -> FlowState:
        """Return the power flow of the configuration `closed`."""
        e = self.electrical
        graph = e.graph
        voltage, _, status = self._kernel.sweep(
            graph.link_a[closed],
            graph.link_b[closed],
            e.coefficients[closed],
            graph.source_vertex,
            e.source_voltage,
            e.load_pu,
            self.limits.tolerance_pu,
            self.limits.max_iterations,
        )
        if status != "converged":
            return _void(graph)
        ends = graph.link_a[graph.branch_link], graph.link_b[graph.branch_link]
        current = e.branch_currents(voltage[ends[0]], voltage[ends[1]])
        # A branch end held open by its switches carries no current.
        open_end = (graph.end_link >= 0) & ~closed[graph.end_link]
        current[open_end] = 0.0
        return FlowState(voltage=voltage[: graph.n_buses], current=current, converged=True)


class GridFlow:
    """:func:`gridedge.grid.power_flow` on the whole grid (the plain reference)."""

    def __init__(self, graph: SwitchingGraph, limits: Limits) -> None:
        self.graph = graph
        self.limits = limits

    def __call__(self, closed: NDArray[np.bool_]) -> FlowState:
        """Return the power flow of the configuration `closed`."""
        graph = self.graph
        states = {switch: bool(closed[link]) for switch, link in graph.link_of_switch.items()}
        try:
            result = power_flow(graph.grid, states, tolerance=self.limits.tolerance_pu)
        except ConvergenceError:
            return _void(graph)
        return FlowState(voltage=result.voltage, current=result.current, converged=True)


def _void(graph: SwitchingGraph) -> FlowState:
    return FlowState(
        voltage=np.zeros(graph.n_buses, dtype=np.complex128),
        current=np.zeros((len(graph.grid.branches), 2), dtype=np.complex128),
        converged=False,
    )


def _transmission(y: NDArray[np.complex128]) -> NDArray[np.complex128]:
    """Return (a, b, c, d) of two-ports `y` (n, 2, 2) fed from their first end, shape (n, 4).

    With the feeding end s and the far end r: V_s = a V_r + b J, I_s = c V_r + d J, where J
    is the current the far end draws.
    """
    y_ss, y_sr, y_rs, y_rr = y[:, 0, 0], y[:, 0, 1], y[:, 1, 0], y[:, 1, 1]
    a = -y_rr / y_rs
    b = -1.0 / y_rs
    return np.stack([a, b, y_sr + y_ss * a, y_ss * b], axis=1)


def _rating_a(branch: Line | Transformer) -> tuple[float, float]:
    """Return the current rating at each end of a branch, A; nan where unrated."""
    if isinstance(branch, Line):
        rating = math.nan if branch.ampacity_a is None else branch.ampacity_a
        return (rating, rating)
    per_kv = branch.sn_mva / math.sqrt(3) * 1e3
    return (per_kv / branch.hv_kv, per_kv / branch.lv_kv)


def solver(
    graph: SwitchingGraph,
    electrical: Electrical,
    limits: Limits,
    name: Solver,
    backend: kernels.Backend | None = None,
) -> FlowSolver:
    """Return the solver called `name` (``"sweep"`` or ``"grid"``)."""
    if name == "sweep":
        return SweepFlow(electrical, limits, backend)
    if name == "grid":
        return GridFlow(graph, limits)
    raise InvalidInputError(f"solver must be 'sweep' or 'grid', got {name!r}")
