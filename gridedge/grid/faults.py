"""Short-circuit analysis with load current, by superposition on the sequence networks.

Method
------
The pre-fault state is the power flow. During the fault, loads are constant admittances
at their pre-fault voltage and each source is its Thevenin EMF behind its sequence
impedances, so the network is linear and::

    V = V_pre - Z[:, f] I_f          (each sequence)

where Z is the sequence bus impedance matrix and I_f the sequence current drawn by the
fault at node f. Z is never formed: the admittance matrices are factorised once (sparse
LU) and the columns a fault needs come from triangular solves, cached per node. The
negative-sequence admittance matrix is the transpose of the positive one (transformer
shifts reverse), so one factorisation serves both. A fault at a fraction x along a line
adds a node f that splits the line into two pi sections; its impedance column follows from
the columns of the line's end buses by a rank-two update and a Schur complement, so
moving a fault along a line costs no new factorisation.

At the fault, every faulted phase connects through its resistance to a common point that
is earthed (kinds ending in ``-g``) or floating; with the phase-frame Thevenin impedance
``T diag(Z0, Z1, Z2) T^-1`` this gives four linear equations for the three phase currents
and the common point's voltage, which hold for zero resistance too.
"""

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray
from scipy.sparse import csgraph

from gridedge.errors import InvalidInputError
from gridedge.grid import network as nw
from gridedge.grid.faultkind import FaultKind
from gridedge.grid.model import Grid, Line
from gridedge.grid.powerflow import PowerFlowResult, power_flow
from gridedge.grid.sequence import PHASE_TO_SEQUENCE, SEQUENCE_TO_PHASE, to_phases

logger = logging.getLogger(__name__)

FLOATING_ADMITTANCE = 1e-8
"""Admittance to earth, p.u., given to zero-sequence islands with no path to earth so that
their (physically infinite) impedance stays finite; it carries no measurable current."""

COLUMN_CACHE = 256
"""Impedance columns (per node, all three sequences) kept for reuse."""


@dataclass(frozen=True, eq=False)
class FaultResult:
    """Voltages and currents during a fault.

    Attributes
    ----------
    grid : Grid
    location : str
        Faulted line or bus id.
    fraction : float
        Position along the line from its from bus (0 for a bus fault).
    kind : FaultKind
    resistance_ohm : float
    prefault : PowerFlowResult
    bus_ids : tuple of str
        Row order of the bus arrays.
    voltage_sequence : ndarray of complex128, shape (n_bus, 3)
        Zero, positive, negative sequence voltage of each bus, p.u. of its nominal phase
        voltage; 0 at de-energised buses.
    branch_ids : tuple of str
        Row order of the branch arrays.
    current_sequence : ndarray of complex128, shape (n_branch, 2, 3)
        Sequence currents into each branch at its from (hv) and to (lv) end, A.
    fault_current : ndarray of complex128, shape (3,)
        Phase currents flowing from the network into the fault, A.
    fault_voltage_sequence : ndarray of complex128, shape (3,)
        Sequence voltages at the fault point, p.u.
    thevenin_impedance : ndarray of complex128, shape (3,)
        Zero, positive, negative sequence impedance seen from the fault point, ohm.
    """

    grid: Grid = field(repr=False)
    location: str
    fraction: float
    kind: FaultKind
    resistance_ohm: float
    prefault: PowerFlowResult = field(repr=False)
    bus_ids: tuple[str, ...] = field(repr=False)
    voltage_sequence: NDArray[np.complex128] = field(repr=False)
    branch_ids: tuple[str, ...] = field(repr=False)
    current_sequence: NDArray[np.complex128] = field(repr=False)
    fault_current: NDArray[np.complex128] = field(repr=False)
    fault_voltage_sequence: NDArray[np.complex128] = field(repr=False)
    thevenin_impedance: NDArray[np.complex128] = field(repr=False)

    @property
    def phase_voltage(self) -> NDArray[np.complex128]:
        """Phase-to-earth voltages a, b, c of each bus, shape (n_bus, 3), p.u."""
        return to_phases(self.voltage_sequence)

    @property
    def phase_current(self) -> NDArray[np.complex128]:
        """Phase currents a, b, c into each branch at each end, shape (n_branch, 2, 3), A."""
        return to_phases(self.current_sequence)

    @property
    def fault_voltage(self) -> NDArray[np.complex128]:
        """Phase-to-earth voltages at the fault point, shape (3,), p.u."""
        return to_phases(self.fault_voltage_sequence)

    def phase_voltages(self, bus: str) -> NDArray[np.complex128]:
        """Phase-to-earth voltages a, b, c of `bus`, shape (3,), p.u."""
        self.grid.bus(bus)
        return self.phase_voltage[self.bus_ids.index(bus)]

    def phase_currents(self, branch: str, bus: str | None = None) -> NDArray[np.complex128]:
        """Phase currents into `branch` at end `bus` (from / hv end by default), shape (3,), A."""
        buses = self.grid.branch(branch).buses
        if bus is not None and bus not in buses:
            raise InvalidInputError(f"bus {bus!r} is not an end of branch {branch!r}")
        end = 0 if bus is None else buses.index(bus)
        return to_phases(self.current_sequence[self.branch_ids.index(branch), end])


@dataclass(frozen=True)
class _Point:
    """A fault point inside a line: its impedance column and how the line feeds it."""

    column: NDArray[np.complex128]  # (3, n_node) Z[:, f] over the existing nodes
    self_impedance: NDArray[np.complex128]  # (3,) Z[f, f]
    prefault: complex  # positive-sequence voltage before the fault, p.u.
    base_node: int  # a node at the line's voltage (its per-unit base)
    # (line end 0/1, its node, section two-port (3, 2, 2) ordered [line end, fault point])
    sections: tuple[tuple[int, int, NDArray[np.complex128]], ...]


class FaultStudy:
    """Faults on one grid state, reusing one factorisation for every fault.

    Parameters
    ----------
    grid : Grid
    switch_states : mapping of str to bool, optional
        Switch states overriding the grid's.
    prefault : PowerFlowResult, optional
        Pre-fault state; solved here when not given.

    Attributes
    ----------
    network : gridedge.grid.network.Network
    prefault : PowerFlowResult
    source_emf : dict of str to complex
        Thevenin EMF behind each source's impedance, p.u., that gives the pre-fault state.
    """

    def __init__(
        self,
        grid: Grid,
        switch_states: Mapping[str, bool] | None = None,
        *,
        prefault: PowerFlowResult | None = None,
    ) -> None:
        self.network = nw.build(grid, switch_states)
        self.grid = grid
        if prefault is None:
            prefault = power_flow(grid, switch_states)
        elif prefault.grid is not grid or prefault.switch_states != self.network.topology.states:
            raise InvalidInputError("prefault was solved for another grid or other switch states")
        self.prefault = prefault
        net = self.network
        v_pre = prefault.node_voltage
        load_admittance = np.zeros(net.n_nodes, dtype=np.complex128)
        np.add.at(
            load_admittance,
            net.load_node,
            np.conj(net.load_power) / np.abs(v_pre[net.load_node]) ** 2,
        )
        shunt = net.source_admittance()
        shunt[:, nw.POSITIVE] += load_admittance
        shunt[:, nw.NEGATIVE] += load_admittance
        y0 = net.admittance(nw.ZERO, shunt[:, nw.ZERO] + _floating(net, shunt[:, nw.ZERO]))
        y1 = net.admittance(nw.POSITIVE, shunt[:, nw.POSITIVE])
        self._lu = (spla.splu(y0.tocsc()), spla.splu(y1.tocsc()))
        self._columns: OrderedDict[int, NDArray[np.complex128]] = OrderedDict()
        self.source_emf = self._source_emf(y1, v_pre, shunt[:, nw.POSITIVE] - load_admittance)

    def _source_emf(
        self,
        y1: sp.csc_matrix,
        v_pre: NDArray[np.complex128],
        source_shunt: NDArray[np.complex128],
    ) -> dict[str, complex]:
        """EMFs that reproduce `v_pre` in the linear network (loads as admittances)."""
        net = self.network
        # With the sources as Norton equivalents, Y v_pre = y_source * E at source nodes.
        norton = y1 @ v_pre
        emf = norton / np.where(source_shunt != 0, source_shunt, 1.0)
        return {
            source.id: complex(emf[node])
            for source, node in zip(self.grid.sources, net.source_node, strict=True)
        }

    # --- impedance columns ---------------------------------------------------------------

    def _column(self, node: int) -> NDArray[np.complex128]:
        """Column `node` of Z for the three sequences, shape (3, n_node)."""
        column = self._columns.get(node)
        if column is not None:
            self._columns.move_to_end(node)
            return column
        unit = np.zeros(self.network.n_nodes, dtype=np.complex128)
        unit[node] = 1.0
        column = np.stack(
            [
                self._lu[0].solve(unit),
                self._lu[1].solve(unit),
                self._lu[1].solve(unit, trans="T"),
            ]
        )
        self._columns[node] = column
        if len(self._columns) > COLUMN_CACHE:
            self._columns.popitem(last=False)
        return column

    # --- public entry points -------------------------------------------------------------

    def impedance_column(self, bus_id: str) -> NDArray[np.complex128]:
        """Sequence transfer impedances between every bus and `bus_id`, p.u.

        Column `bus_id` of the zero, positive and negative sequence bus impedance matrices
        (sources and loads included as in the fault analysis), from the sparse factors: the
        voltage change at each bus per unit current drawn at `bus_id`.

        Returns
        -------
        ndarray of complex128, shape (n_bus, 3)
            Rows in ``grid.bus_ids`` order; zero at de-energised buses. Multiply by
            :meth:`gridedge.grid.network.Network.impedance_base_ohm` of the row's node for
            ohms.

        Raises
        ------
        InvalidInputError
            Unknown or de-energised bus.
        """
        net = self.network
        column = self._column(net.node(bus_id))
        energised = net.node_of_bus >= 0
        result = np.zeros((len(self.grid.buses), 3), dtype=np.complex128)
        result[energised] = column[:, net.node_of_bus[energised]].T
        return result

    def bus(self, bus_id: str, kind: str | FaultKind, resistance_ohm: float = 0.0) -> FaultResult:
        """Fault at bus `bus_id`.

        Raises
        ------
        InvalidInputError
            Unknown or de-energised bus, bad kind or resistance.
        """
        fault_kind = FaultKind.parse(kind)
        _check_resistance(resistance_ohm)
        node = self.network.node(bus_id)
        column = self._column(node)
        return self._solve(
            bus_id, 0.0, fault_kind, resistance_ohm, node, column, column[:, node], None
        )

    def line(
        self,
        line_id: str,
        fraction: float,
        kind: str | FaultKind,
        resistance_ohm: float = 0.0,
    ) -> FaultResult:
        """Fault at `fraction` of line `line_id` from its from bus.

        Raises
        ------
        InvalidInputError
            Unknown or de-energised line, fraction outside [0, 1], bad kind or resistance.
        """
        fault_kind = FaultKind.parse(kind)
        _check_resistance(resistance_ohm)
        line = self.grid.line(line_id)
        if not (isinstance(fraction, int | float) and 0.0 <= fraction <= 1.0):
            raise InvalidInputError(
                f"line {line_id!r}: fraction must lie in [0, 1], got {fraction!r}"
            )
        net = self.network
        index = self.grid.branch_ids.index(line_id)
        model = np.flatnonzero(net.branch_index == index)
        if model.size == 0:
            raise InvalidInputError(f"line {line_id!r} is de-energised for these switch states")
        k = int(model[0])
        ends = (int(net.from_node[k]), int(net.to_node[k]))
        at_end = {0.0: 0, 1.0: 1}.get(float(fraction))
        if at_end is not None and ends[at_end] >= 0:
            result = self.bus(line.buses[at_end], fault_kind, resistance_ohm)
            return replace(result, location=line_id, fraction=float(fraction))
        point = self._point(line, k, ends, float(fraction))
        return self._solve(
            line_id,
            float(fraction),
            fault_kind,
            resistance_ohm,
            point.base_node,
            point.column,
            point.self_impedance,
            point,
        )

    # --- internals -----------------------------------------------------------------------

    def _point(self, line: Line, k: int, ends: tuple[int, int], fraction: float) -> _Point:
        """Impedance column of a point inside a line, from the columns of its end nodes.

        The point first joins the line's series impedance (exact interior-point formulas),
        then the shunts move where the two pi sections put them (B x / 2 and B (1 - x) / 2 at
        the ends, B / 2 at the point): a rank-two or rank-three update. No admittance grows
        as the point nears an end, so the result stays accurate there.
        """
        lengths = (fraction, 1.0 - fraction)
        whole = nw._line_two_port(line, self.grid.bus(line.from_bus).kv, self.grid.frequency_hz)
        series = -1.0 / whole[:, 0, 1]  # (3,) series impedance of the whole line
        half_shunt = whole[:, 0, 0] + whole[:, 0, 1]  # (3,)
        pieces = [_section(series, half_shunt, share) if share > 0 else None for share in lengths]
        connected = [slot for slot in (0, 1) if ends[slot] >= 0]
        if len(connected) == 2:
            x = fraction
            p, q = ends
            zp, zq = self._column(p), self._column(q)  # (3, n) each
            column_f = (1 - x) * zp + x * zq
            row_f = np.stack(
                [(1 - x) * zp[:, p] + x * zp[:, q], (1 - x) * zq[:, p] + x * zq[:, q]], axis=1
            )
            self_f = (1 - x) * row_f[:, 0] + x * row_f[:, 1] + x * (1 - x) * series
            deltas = np.stack([-(1 - x) * half_shunt, -x * half_shunt, half_shunt], axis=1)
            z_col, z_ff = _move_shunts(
                np.stack([zp, zq], axis=1), [p, q], row_f, column_f, self_f, deltas
            )
            v_pre = self.prefault.node_voltage
            # The split line's own voltage at the point (its shunt B / 2 there included).
            loading = 1 + x * (1 - x) * half_shunt[nw.POSITIVE] * series[nw.POSITIVE]
            prefault = complex(((1 - x) * v_pre[p] + x * v_pre[q]) / loading)
        else:
            (slot,) = connected
            node, share = ends[slot], lengths[slot]
            zn = self._column(node)
            rest = pieces[1 - slot]
            beyond = (
                np.zeros(3)
                if rest is None
                else nw._open_ended(rest, open_end=1 - slot)[:, slot, slot]
            )
            deltas = np.stack(
                [
                    -self.network.two_port[k, :, slot, slot] + share * half_shunt,
                    share * half_shunt + beyond,
                ],
                axis=1,
            )
            z_col, z_ff = _move_shunts(
                zn[:, None, :],
                [node],
                zn[:, node][:, None],
                zn,
                zn[:, node] + share * series,
                deltas,
            )
            near = pieces[slot] if slot == 0 else pieces[slot][:, ::-1, ::-1]
            y = near[nw.POSITIVE]
            prefault = complex(
                -y[1, 0] * self.prefault.node_voltage[node] / (y[1, 1] + beyond[nw.POSITIVE])
            )
        sections = tuple(
            (slot, ends[slot], pieces[slot] if slot == 0 else pieces[slot][:, ::-1, ::-1])
            for slot in connected
            if pieces[slot] is not None
        )
        return _Point(z_col, z_ff, prefault, ends[connected[0]], sections)

    def _solve(
        self,
        location: str,
        fraction: float,
        kind: FaultKind,
        resistance_ohm: float,
        node: int,
        z_col: NDArray[np.complex128],
        z_ff: NDArray[np.complex128],
        point: _Point | None,
    ) -> FaultResult:
        net = self.network
        v_fault_pre = self.prefault.node_voltage[node] if point is None else point.prefault
        base_node = node
        z_base = net.impedance_base_ohm(base_node)
        i_fault = _fault_currents(kind, resistance_ohm / z_base, z_ff, v_fault_pre)  # p.u.
        i_sequence = PHASE_TO_SEQUENCE @ i_fault
        v_nodes = -z_col.T * i_sequence  # (n, 3)
        v_nodes[:, nw.POSITIVE] += self.prefault.node_voltage
        v_fault = np.array([0.0, v_fault_pre, 0.0]) - z_ff * i_sequence

        grid = self.grid
        energised = net.node_of_bus >= 0
        voltage = np.zeros((len(grid.buses), 3), dtype=np.complex128)
        voltage[energised] = v_nodes[net.node_of_bus[energised]]
        current = np.zeros((len(grid.branches), 2, 3), dtype=np.complex128)
        current[net.branch_index] = net.branch_currents(v_nodes)
        if point is not None:
            self._line_section_currents(location, point, v_nodes, v_fault, current)
        i_base = float(net.current_base_a(np.array([base_node]))[0])
        return FaultResult(
            grid=grid,
            location=location,
            fraction=fraction,
            kind=kind,
            resistance_ohm=float(resistance_ohm),
            prefault=self.prefault,
            bus_ids=grid.bus_ids,
            voltage_sequence=voltage,
            branch_ids=grid.branch_ids,
            current_sequence=current,
            fault_current=i_fault * i_base,
            fault_voltage_sequence=v_fault,
            thevenin_impedance=z_ff * z_base,
        )

    def _line_section_currents(
        self,
        line_id: str,
        point: _Point,
        v_nodes: NDArray[np.complex128],
        v_fault: NDArray[np.complex128],
        current: NDArray[np.complex128],
    ) -> None:
        """Currents of a faulted line: its pre-fault current plus each section's change.

        The change comes from the voltage changes at the section's two ends; adding it to
        the pre-fault current (rather than applying the section two-port to the total
        voltages) keeps short sections accurate.
        """
        net = self.network
        index = self.grid.branch_ids.index(line_id)
        v_pre = self.prefault.node_voltage
        before = self.prefault.current[index]  # A, phase a = positive sequence
        current[index] = 0.0
        change_fault = v_fault - np.array([0.0, point.prefault, 0.0])
        bases = net.current_base_a(np.array([node for _, node, _ in point.sections]))
        for (slot, node, section), base in zip(point.sections, bases, strict=True):
            change_end = v_nodes[node] - np.array([0.0, v_pre[node], 0.0])
            change = section[:, 0, 0] * change_end + section[:, 0, 1] * change_fault
            current[index, slot] = change * base
            current[index, slot, nw.POSITIVE] += before[slot]


def _section(
    series: NDArray[np.complex128], half_shunt: NDArray[np.complex128], share: float
) -> NDArray[np.complex128]:
    """Pi-section two-ports (3, 2, 2) of a part `share` of a line with the given totals."""
    y = 1.0 / (series * share)
    h = half_shunt * share
    return np.stack([np.stack([y + h, -y], -1), np.stack([-y, y + h], -1)], -2)


def _move_shunts(
    columns: NDArray[np.complex128],
    nodes: list[int],
    row_f: NDArray[np.complex128],
    column_f: NDArray[np.complex128],
    self_f: NDArray[np.complex128],
    deltas: NDArray[np.complex128],
) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
    """Column f of Z after adding shunts `deltas` at `nodes` and at the new point f.

    Parameters, per sequence (leading axis of length 3): `columns` (3, e, n) are Z's columns
    of the e existing `nodes`, `row_f` (3, e) the point's row at them, `column_f` (3, n) and
    `self_f` (3,) its column and diagonal entry before the shunts change, `deltas` (3, e + 1)
    the shunt changes (the point's last). Woodbury identity; returns Z[:, f] (3, n) and
    Z[f, f] (3,).
    """
    extended = np.concatenate(
        [
            np.concatenate([columns, row_f[:, :, None]], axis=2),
            np.concatenate([column_f, self_f[:, None]], axis=1)[:, None, :],
        ],
        axis=1,
    )  # (3, m, n + 1): the m changed columns, extended by the point's row
    block = extended[:, :, [*nodes, -1]].transpose(0, 2, 1)  # (3, m, m): rows at changed nodes
    change = deltas[:, :, None] * np.eye(deltas.shape[1])  # (3, m, m) diagonal
    w = np.linalg.solve(np.eye(deltas.shape[1]) + change @ block, change)
    weights = np.einsum("sij,sj->si", w, block[:, :, -1])  # (3, m)
    final = extended[:, -1, :] - np.einsum("smn,sm->sn", extended, weights)
    return final[:, :-1], final[:, -1]


def _check_resistance(resistance_ohm: float) -> None:
    if not (
        isinstance(resistance_ohm, int | float)
        and not isinstance(resistance_ohm, bool)
        and np.isfinite(resistance_ohm)
        and resistance_ohm >= 0
    ):
        raise InvalidInputError(
            f"resistance_ohm must be a finite number >= 0, got {resistance_ohm!r}"
        )


def _fault_currents(
    kind: FaultKind,
    resistance_pu: float,
    z_ff: NDArray[np.complex128],
    v_pre: complex,
) -> NDArray[np.complex128]:
    """Phase currents into the fault, p.u., from the Thevenin equivalent at the fault point."""
    z_phase = SEQUENCE_TO_PHASE @ np.diag(z_ff) @ PHASE_TO_SEQUENCE
    v_open = SEQUENCE_TO_PHASE @ np.array([0.0, v_pre, 0.0])
    r = kind.phase_resistance(resistance_pu)
    # Unknowns: I_a, I_b, I_c, V_point.
    system = np.zeros((4, 4), dtype=np.complex128)
    rhs = np.zeros(4, dtype=np.complex128)
    for p in range(3):
        if p in kind.phases:
            system[p, :3] = z_phase[p]
            system[p, p] += r
            system[p, 3] = 1.0
            rhs[p] = v_open[p]
        else:
            system[p, p] = 1.0
    if kind.earthed:
        system[3, 3] = 1.0
    else:
        system[3, list(kind.phases)] = 1.0
    return np.linalg.solve(system, rhs)[:3]


def _floating(net: nw.Network, zero_shunt: NDArray[np.complex128]) -> NDArray[np.complex128]:
    """Tiny earth admittance at the nodes of zero-sequence islands with no path to earth."""
    y0 = net.admittance(nw.ZERO, zero_shunt).tocsr()
    n_islands, label = csgraph.connected_components(abs(y0) > 0, directed=False)
    row_sum = np.abs(np.asarray(y0.sum(axis=1)).ravel())
    scale = np.asarray(abs(y0).max(axis=1).todense()).ravel()
    earthed = row_sum > 1e-9 * np.maximum(scale, 1e-300)
    has_earth = np.zeros(n_islands, dtype=bool)
    has_earth[label[earthed]] = True
    return np.where(has_earth[label], 0.0, FLOATING_ADMITTANCE).astype(np.complex128)


def fault(
    grid: Grid,
    line_id: str,
    fraction: float,
    kind: str | FaultKind,
    resistance_ohm: float = 0.0,
    *,
    switch_states: Mapping[str, bool] | None = None,
) -> FaultResult:
    """Solve a fault at `fraction` along line `line_id` (see :class:`FaultStudy`).

    The factorisation is cached on the grid per switch states, so repeated calls are cheap.

    Parameters
    ----------
    grid : Grid
    line_id : str
    fraction : float
        Position from the line's from bus, in [0, 1].
    kind : str
        ``"a-g"``, ``"b-c"``, ``"b-c-g"``, ``"a-b-c"``, ... (see :meth:`FaultKind.parse`).
    resistance_ohm : float
        Fault resistance, ohm (see :meth:`FaultKind.phase_resistance`).
    switch_states : mapping of str to bool, optional

    Returns
    -------
    FaultResult
    """
    return study(grid, switch_states).line(line_id, fraction, kind, resistance_ohm)


def bus_fault(
    grid: Grid,
    bus_id: str,
    kind: str | FaultKind,
    resistance_ohm: float = 0.0,
    *,
    switch_states: Mapping[str, bool] | None = None,
) -> FaultResult:
    """Solve a fault at bus `bus_id` (see :func:`fault`)."""
    return study(grid, switch_states).bus(bus_id, kind, resistance_ohm)


def study(grid: Grid, switch_states: Mapping[str, bool] | None = None) -> FaultStudy:
    """Return the :class:`FaultStudy` of `grid` for `switch_states`, cached on the grid."""
    net = nw.build(grid, switch_states)
    key = ("fault-study", tuple(sorted(net.topology.states.items())))
    cached = grid._cache.get(key)
    if cached is None:
        cached = grid._cache[key] = FaultStudy(grid, switch_states)
    return cached
