"""Balanced power flow: backward/forward sweep on radial grids, Newton-Raphson on meshed ones.

Loads draw constant power; sources hold their bus at a fixed voltage (slack). Each energised
island is solved; de-energised buses get zero voltage. The sweep walks each island's tree
level by level (vectorised over the buses of a level): backward, it adds up the currents
each branch must deliver; forward, it recomputes the voltage at the far end of each branch
from its two-port. Newton-Raphson solves the polar power mismatch with a sparse Jacobian.
"""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from gridedge.errors import ConvergenceError, InvalidInputError
from gridedge.grid import network as nw
from gridedge.grid.model import Grid
from gridedge.grid.sequence import A

logger = logging.getLogger(__name__)

Method = Literal["auto", "sweep", "newton"]

TOLERANCE = 1e-10
"""Convergence threshold: largest voltage update (sweep) or power mismatch (Newton), p.u."""

MAX_ITERATIONS = 60


@dataclass(frozen=True, eq=False)
class PowerFlowResult:
    """Solution of a balanced power flow.

    Attributes
    ----------
    grid : Grid
    switch_states : dict of str to bool
        Every switch's state in this solution.
    bus_ids : tuple of str
        Row order of the bus arrays (``grid.bus_ids``).
    voltage : ndarray of complex128, shape (n_bus,)
        Positive-sequence (phase a) voltage, p.u. of the bus's nominal phase voltage; 0 at
        de-energised buses.
    energised : ndarray of bool, shape (n_bus,)
    branch_ids : tuple of str
        Row order of the branch arrays (``grid.branch_ids``).
    current : ndarray of complex128, shape (n_branch, 2)
        Phase-a current into each branch at its from (hv) and to (lv) end, A; 0 where
        the branch is out of service or the end open.
    iterations : int
    method : str
        ``"sweep"`` or ``"newton"``.
    node_voltage : ndarray of complex128, shape (n_node,)
        The same voltages per electrical node (see :class:`gridedge.grid.network.Network`).
    """

    grid: Grid = field(repr=False)
    switch_states: dict[str, bool] = field(repr=False)
    bus_ids: tuple[str, ...] = field(repr=False)
    voltage: NDArray[np.complex128] = field(repr=False)
    energised: NDArray[np.bool_] = field(repr=False)
    branch_ids: tuple[str, ...] = field(repr=False)
    current: NDArray[np.complex128] = field(repr=False)
    iterations: int
    method: str
    node_voltage: NDArray[np.complex128] = field(repr=False)

    def voltage_of(self, bus: str) -> complex:
        """Positive-sequence voltage of `bus`, p.u."""
        self.grid.bus(bus)
        return complex(self.voltage[self.bus_ids.index(bus)])

    def phase_voltages(self, bus: str) -> NDArray[np.complex128]:
        """Phase-to-earth voltages a, b, c of `bus`, shape (3,), p.u."""
        return self.voltage_of(bus) * np.array([1, A * A, A])

    def current_of(self, branch: str, bus: str | None = None) -> complex:
        """Phase-a current into `branch` at end `bus` (its from / hv end by default), A."""
        element = self.grid.branch(branch)
        end = 0 if bus is None else _end(element.buses, bus, branch)
        return complex(self.current[self.branch_ids.index(branch), end])

    def phase_currents(self, branch: str, bus: str | None = None) -> NDArray[np.complex128]:
        """Phase currents a, b, c into `branch` at end `bus`, shape (3,), A."""
        return self.current_of(branch, bus) * np.array([1, A * A, A])

    @property
    def voltages(self) -> dict[str, complex]:
        """Bus id -> positive-sequence voltage, p.u."""
        return dict(zip(self.bus_ids, self.voltage.tolist(), strict=True))


def _end(buses: tuple[str, str], bus: str, branch: str) -> int:
    if bus not in buses:
        raise InvalidInputError(f"bus {bus!r} is not an end of branch {branch!r}")
    return buses.index(bus)


def power_flow(
    grid: Grid,
    switch_states: Mapping[str, bool] | None = None,
    *,
    method: Method = "auto",
    tolerance: float = TOLERANCE,
) -> PowerFlowResult:
    """Solve the balanced power flow of `grid`.

    Parameters
    ----------
    grid : Grid
    switch_states : mapping of str to bool, optional
        Switch states overriding the grid's.
    method : {"auto", "sweep", "newton"}
        ``auto`` sweeps when every energised island is radial and uses Newton otherwise.
    tolerance : float
        See :data:`TOLERANCE`.

    Returns
    -------
    PowerFlowResult

    Raises
    ------
    InvalidInputError
        Unknown switches, or ``method="sweep"`` on a meshed grid.
    ConvergenceError
        No convergence within :data:`MAX_ITERATIONS`.
    """
    net = nw.build(grid, switch_states)
    radial = all(i.radial for i in net.topology.islands if i.energised)
    if method not in ("auto", "sweep", "newton"):
        raise InvalidInputError(f"method must be 'auto', 'sweep' or 'newton', got {method!r}")
    chosen = ("sweep" if radial else "newton") if method == "auto" else method
    if chosen == "sweep" and not radial:
        raise InvalidInputError("the backward/forward sweep needs radial islands; use 'newton'")
    solve = _sweep if chosen == "sweep" else _newton
    node_voltage, iterations = solve(net, tolerance)
    logger.debug("%s power flow of %r: %d iterations", chosen, grid.name, iterations)
    return _result(net, node_voltage, iterations, chosen)


def _result(
    net: nw.Network, node_voltage: NDArray[np.complex128], iterations: int, method: str
) -> PowerFlowResult:
    grid = net.grid
    energised = net.node_of_bus >= 0
    voltage = np.where(energised, node_voltage[net.node_of_bus], 0.0)
    current = np.zeros((len(grid.branches), 2), dtype=np.complex128)
    sequences = np.zeros((net.n_nodes, 3), dtype=np.complex128)
    sequences[:, nw.POSITIVE] = node_voltage
    current[net.branch_index] = net.branch_currents(sequences)[:, :, nw.POSITIVE]
    return PowerFlowResult(
        grid=grid,
        switch_states=dict(net.topology.states),
        bus_ids=grid.bus_ids,
        voltage=voltage,
        energised=energised,
        branch_ids=grid.branch_ids,
        current=current,
        iterations=iterations,
        method=method,
        node_voltage=node_voltage,
    )


def _node_loads(net: nw.Network) -> NDArray[np.complex128]:
    """Complex power absorbed at each node, p.u."""
    power = np.zeros(net.n_nodes, dtype=np.complex128)
    np.add.at(power, net.load_node, net.load_power)
    return power


def _flat_start(net: nw.Network) -> NDArray[np.complex128]:
    """Return initial voltages for the sweep: 1 p.u., the sources' voltages at their nodes."""
    voltage = np.ones(net.n_nodes, dtype=np.complex128)
    voltage[net.source_node] = net.source_voltage
    return voltage


def _no_load(
    net: nw.Network, y: sp.csr_matrix, pq: NDArray[np.intp], slack: NDArray[np.bool_]
) -> NDArray[np.complex128]:
    """Return initial voltages for Newton: the grid without load (transformer shifts included)."""
    voltage = _flat_start(net)
    if pq.size:
        fixed = np.flatnonzero(slack)
        rhs = -(y[pq][:, fixed] @ voltage[fixed])
        voltage[pq] = spla.spsolve(y[pq][:, pq].tocsc(), rhs)
    return voltage


@dataclass(frozen=True)
class _Tree:
    """Radial structure of the network: each non-root node's parent and feeding two-port."""

    levels: list[NDArray[np.intp]]
    parent: NDArray[np.intp]
    # Transmission form of each feeding branch: V_parent = a V + b J, I_parent = c V + d J,
    # with J the current the node draws from it.
    a: NDArray[np.complex128]
    b: NDArray[np.complex128]
    c: NDArray[np.complex128]
    d: NDArray[np.complex128]


def _tree(net: nw.Network) -> _Tree:
    n = net.n_nodes
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for k, (f, t) in enumerate(zip(net.from_node.tolist(), net.to_node.tolist(), strict=True)):
        if f >= 0 and t >= 0:
            adjacency[f].append((t, k))
            adjacency[t].append((f, k))
    parent = np.full(n, -1, dtype=np.intp)
    coefficients = np.zeros((n, 4), dtype=np.complex128)
    depth = np.full(n, -1, dtype=np.intp)
    roots = np.unique(net.source_node)
    depth[roots] = 0
    frontier = list(roots.tolist())
    levels: list[NDArray[np.intp]] = []
    while frontier:
        following = []
        for here in frontier:
            for there, k in adjacency[here]:
                if depth[there] >= 0:
                    continue
                depth[there] = depth[here] + 1
                parent[there] = here
                y = net.two_port[k, nw.POSITIVE]
                if net.from_node[k] != here:
                    y = y[::-1, ::-1]
                y_ss, y_sr, y_rs, y_rr = y[0, 0], y[0, 1], y[1, 0], y[1, 1]
                a, b = -y_rr / y_rs, -1 / y_rs
                coefficients[there] = (a, b, y_sr + y_ss * a, y_ss * b)
                following.append(there)
        if following:
            levels.append(np.array(following, dtype=np.intp))
        frontier = following
    a, b, c, d = coefficients.T
    return _Tree(levels, parent, a, b, c, d)


def _sweep(net: nw.Network, tolerance: float) -> tuple[NDArray[np.complex128], int]:
    tree = _tree(net)
    power = _node_loads(net)
    shunt = np.zeros(net.n_nodes, dtype=np.complex128)
    stub = (net.from_node < 0) | (net.to_node < 0)
    for end in range(2):
        nodes = (net.from_node, net.to_node)[end][stub]
        np.add.at(shunt, nodes, net.two_port[stub, nw.POSITIVE, end, end])
    voltage = _flat_start(net)
    for iteration in range(1, MAX_ITERATIONS + 1):
        drawn = np.conj(power / voltage) + shunt * voltage
        downstream = np.zeros(net.n_nodes, dtype=np.complex128)
        current = np.zeros(net.n_nodes, dtype=np.complex128)
        for level in reversed(tree.levels):
            current[level] = drawn[level] + downstream[level]
            feeding = tree.c[level] * voltage[level] + tree.d[level] * current[level]
            np.add.at(downstream, tree.parent[level], feeding)
        updated = voltage.copy()
        for level in tree.levels:
            updated[level] = (
                updated[tree.parent[level]] - tree.b[level] * current[level]
            ) / tree.a[level]
        change = float(np.max(np.abs(updated - voltage), initial=0.0))
        voltage = updated
        if not math.isfinite(change):
            break
        if change < tolerance:
            return voltage, iteration
    raise ConvergenceError(
        f"backward/forward sweep of grid {net.grid.name!r} did not converge in "
        f"{MAX_ITERATIONS} iterations (is the load beyond what the grid can carry?)"
    )


def _newton(net: nw.Network, tolerance: float) -> tuple[NDArray[np.complex128], int]:
    y = net.admittance(nw.POSITIVE).tocsr()
    specified = -_node_loads(net)
    slack = np.zeros(net.n_nodes, dtype=bool)
    slack[net.source_node] = True
    pq = np.flatnonzero(~slack)
    voltage = _no_load(net, y, pq, slack)
    for iteration in range(MAX_ITERATIONS + 1):
        current = y @ voltage
        mismatch = (voltage * np.conj(current) - specified)[pq]
        worst = float(np.max(np.abs(mismatch), initial=0.0))
        if not math.isfinite(worst):
            break
        if worst < tolerance:
            return voltage, iteration
        if iteration == MAX_ITERATIONS:
            break
        diag_v = sp.diags(voltage)
        diag_i = sp.diags(current)
        unit = sp.diags(voltage / np.abs(voltage))
        d_angle = 1j * diag_v @ np.conj(diag_i - y @ diag_v)
        d_magnitude = diag_v @ np.conj(y @ unit) + np.conj(diag_i) @ unit
        d_angle = d_angle.tocsr()[pq][:, pq]
        d_magnitude = d_magnitude.tocsr()[pq][:, pq]
        jacobian = sp.bmat(
            [[d_angle.real, d_magnitude.real], [d_angle.imag, d_magnitude.imag]], format="csc"
        )
        step = spla.spsolve(jacobian, np.concatenate([mismatch.real, mismatch.imag]))
        angle = np.angle(voltage)
        magnitude = np.abs(voltage)
        angle[pq] -= step[: pq.size]
        magnitude[pq] -= step[pq.size :]
        voltage = magnitude * np.exp(1j * angle)
    raise ConvergenceError(
        f"Newton-Raphson power flow of grid {net.grid.name!r} did not converge in "
        f"{MAX_ITERATIONS} iterations (is the load beyond what the grid can carry?)"
    )
