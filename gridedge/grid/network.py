"""Per-unit sequence model of a grid: nodes, branch two-ports, admittance matrices.

The base power is :data:`S_BASE_MVA`; each bus's base voltage is its nominal voltage.
Buses joined by closed bus-bus switches form one node; de-energised buses get no node.
Each line and transformer becomes a two-port per sequence (zero, positive, negative)::

    [I_from]   [Y_ff  Y_ft] [V_from]
    [I_to  ] = [Y_tf  Y_tt] [V_to  ]

with currents flowing from each bus into the branch. Lines are pi sections. Transformers
are a series impedance behind an ideal transformer of complex ratio ``N = t exp(j k pi/6)``
(``t`` the off-nominal tap, ``k`` the clock number; the conjugate shift in the negative
sequence) with the magnetising admittance split between the two sides; their zero-sequence
two-port follows the winding connections. A branch held open at one end by a switch stays
energised from the other: it becomes the shunt its open-ended two-port presents there.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError
from gridedge.grid import topology
from gridedge.grid.model import Grid, Line, Source, Transformer

S_BASE_MVA = 1.0
"""Base power of the per-unit system, MVA."""

ZERO, POSITIVE, NEGATIVE = 0, 1, 2
"""Sequence indices along the sequence axis of every array."""


@dataclass(frozen=True, eq=False)
class Network:
    """The per-unit model of a grid for one set of switch states (build with :func:`build`).

    Attributes
    ----------
    grid : Grid
    topology : topology.Topology
    node_of_bus : ndarray of int, shape (n_bus,)
        Node index of each bus (grid order), -1 for a de-energised bus.
    node_kv : ndarray of float, shape (n_node,)
        Base (nominal line-to-line) voltage of each node, kV.
    branch_index : ndarray of int, shape (n_model,)
        Index into ``grid.branches`` of each modelled branch.
    from_node, to_node : ndarray of int, shape (n_model,)
        Nodes at the branch ends (from / hv first); -1 where the end is open.
    two_port : ndarray of complex, shape (n_model, 3, 2, 2)
        Per sequence ``[[Y_ff, Y_ft], [Y_tf, Y_tt]]``, p.u.
    load_node : ndarray of int, shape (n_load_model,)
        Node of each energised load.
    load_index : ndarray of int, shape (n_load_model,)
        Index into ``grid.loads`` of each energised load.
    load_power : ndarray of complex, shape (n_load_model,)
        Complex power absorbed, p.u.
    source_node : ndarray of int, shape (n_source,)
        Node of each source (grid order); every source is energised.
    source_voltage : ndarray of complex, shape (n_source,)
        Voltage the power flow holds at the source, p.u.
    source_impedance : ndarray of complex, shape (n_source, 3)
        Zero, positive and negative sequence source impedance, p.u.
    """

    grid: Grid
    topology: topology.Topology
    node_of_bus: NDArray[np.intp]
    node_kv: NDArray[np.float64]
    branch_index: NDArray[np.intp]
    from_node: NDArray[np.intp]
    to_node: NDArray[np.intp]
    two_port: NDArray[np.complex128]
    load_node: NDArray[np.intp]
    load_index: NDArray[np.intp]
    load_power: NDArray[np.complex128]
    source_node: NDArray[np.intp]
    source_voltage: NDArray[np.complex128]
    source_impedance: NDArray[np.complex128]

    @property
    def n_nodes(self) -> int:
        """Number of electrical nodes."""
        return int(self.node_kv.shape[0])

    def current_base_a(self, nodes: NDArray[np.intp]) -> NDArray[np.float64]:
        """Amperes per p.u. of current at `nodes`; 0 at -1 (an open end)."""
        base = S_BASE_MVA / (math.sqrt(3) * self.node_kv) * 1e3
        return np.where(nodes >= 0, base[nodes], 0.0)

    def impedance_base_ohm(self, node: int) -> float:
        """Ohms per p.u. of impedance at `node`."""
        return float(self.node_kv[node] ** 2 / S_BASE_MVA)

    def node(self, bus: str) -> int:
        """Node of bus `bus`.

        Raises
        ------
        InvalidInputError
            Unknown or de-energised bus.
        """
        grid = self.grid
        grid.bus(bus)
        node = int(self.node_of_bus[grid.bus_ids.index(bus)])
        if node < 0:
            raise InvalidInputError(f"bus {bus!r} is de-energised for these switch states")
        return node

    def admittance(
        self,
        sequence: int,
        shunt: NDArray[np.complex128] | None = None,
    ) -> sp.csc_matrix:
        """Bus admittance matrix of one sequence network, p.u., shape (n_node, n_node).

        Parameters
        ----------
        sequence : {0, 1, 2}
            Zero, positive or negative sequence.
        shunt : ndarray of complex, shape (n_node,), optional
            Extra admittance to earth at each node (sources, loads), p.u.
        """
        n = self.n_nodes
        ends = (self.from_node, self.to_node)
        rows, cols, values = [], [], []
        for i in range(2):
            for j in range(2):
                keep = (ends[i] >= 0) & (ends[j] >= 0)
                rows.append(ends[i][keep])
                cols.append(ends[j][keep])
                values.append(self.two_port[keep, sequence, i, j])
        matrix = sp.coo_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        ).tocsc()
        if shunt is not None:
            matrix = matrix + sp.diags(shunt, format="csc")
        return matrix

    def branch_currents(self, voltage: NDArray[np.complex128]) -> NDArray[np.complex128]:
        """Sequence currents into each modelled branch at its from and to ends, A.

        Parameters
        ----------
        voltage : ndarray of complex, shape (n_node, 3)
            Zero, positive and negative sequence node voltages, p.u.

        Returns
        -------
        ndarray of complex128, shape (n_model, 2, 3)
        """
        padded = np.concatenate([voltage, np.zeros((1, 3), dtype=np.complex128)])
        v_from, v_to = padded[self.from_node], padded[self.to_node]
        y = self.two_port
        current = np.stack(
            [
                y[:, :, 0, 0] * v_from + y[:, :, 0, 1] * v_to,
                y[:, :, 1, 0] * v_from + y[:, :, 1, 1] * v_to,
            ],
            axis=1,
        )
        return current * self.end_current_base_a[:, :, None]

    @cached_property
    def end_current_base_a(self) -> NDArray[np.float64]:
        """Amperes per p.u. of current at each end of each modelled branch, shape (n_model, 2)."""
        return np.stack(
            [self.current_base_a(self.from_node), self.current_base_a(self.to_node)], axis=1
        )

    def source_admittance(self) -> NDArray[np.complex128]:
        """Per node and sequence, the admittance to earth of the sources, shape (n_node, 3)."""
        shunt = np.zeros((self.n_nodes, 3), dtype=np.complex128)
        np.add.at(shunt, self.source_node, 1.0 / self.source_impedance)
        return shunt


def build(grid: Grid, switch_states: Mapping[str, bool] | None = None) -> Network:
    """Return the per-unit network of `grid` with `switch_states` applied (cached on the grid).

    Raises
    ------
    InvalidInputError
        Unknown switch ids, or two sources at one node holding different voltages.
    """
    topo = topology.of(grid, switch_states)
    key = ("network", tuple(sorted(topo.states.items())))
    cached = grid._cache.get(key)
    if cached is None:
        cached = grid._cache[key] = _build(grid, topo)
    return cached


def _build(grid: Grid, topo: topology.Topology) -> Network:
    energised = topo.energised_buses
    position = {bus: i for i, bus in enumerate(grid.bus_ids)}
    # Closed bus-bus switches merge buses into one node.
    parent = list(range(len(grid.buses)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for switch in grid.switches:
        if switch.to_bus is not None and topo.states[switch.id]:
            parent[root(position[switch.bus])] = root(position[switch.to_bus])
    node_of_bus = np.full(len(grid.buses), -1, dtype=np.intp)
    node_of_root: dict[int, int] = {}
    node_kv = []
    for i, bus in enumerate(grid.buses):
        if bus.id not in energised:
            continue
        r = root(i)
        if r not in node_of_root:
            node_of_root[r] = len(node_kv)
            node_kv.append(bus.kv)
        node_of_bus[i] = node_of_root[r]
    kv = np.array(node_kv, dtype=np.float64)

    def node(bus: str) -> int:
        return int(node_of_bus[position[bus]])

    branch_index, from_node, to_node, two_ports = [], [], [], []
    for index, branch in enumerate(grid.branches):
        a, b = branch.buses
        ends = [
            node(bus) if bus in energised and (branch.id, bus) not in topo.open_ends else -1
            for bus in (a, b)
        ]
        if ends == [-1, -1]:
            continue
        if isinstance(branch, Line):
            y = _line_two_port(branch, grid.bus(a).kv, grid.frequency_hz)
        else:
            y = _transformer_two_port(branch, grid.bus(a).kv, grid.bus(b).kv)
        if -1 in ends:
            y = _open_ended(y, open_end=ends.index(-1))
        branch_index.append(index)
        from_node.append(ends[0])
        to_node.append(ends[1])
        two_ports.append(y)

    load_rows = [(i, node(load.bus)) for i, load in enumerate(grid.loads) if load.bus in energised]
    load_index = np.array([i for i, _ in load_rows], dtype=np.intp)
    load_power = np.array(
        [complex(grid.loads[i].p_kw, grid.loads[i].q_kvar) / 1e3 / S_BASE_MVA for i in load_index],
        dtype=np.complex128,
    )
    source_node = np.array([node(s.bus) for s in grid.sources], dtype=np.intp)
    source_voltage = np.array(
        [s.vm_pu * np.exp(1j * math.radians(s.va_deg)) for s in grid.sources],
        dtype=np.complex128,
    ).reshape(-1)
    _check_sources(grid, source_node, source_voltage)
    return Network(
        grid=grid,
        topology=topo,
        node_of_bus=node_of_bus,
        node_kv=kv,
        branch_index=np.array(branch_index, dtype=np.intp),
        from_node=np.array(from_node, dtype=np.intp),
        to_node=np.array(to_node, dtype=np.intp),
        two_port=np.array(two_ports, dtype=np.complex128).reshape(-1, 3, 2, 2),
        load_node=np.array([n for _, n in load_rows], dtype=np.intp),
        load_index=load_index,
        load_power=load_power.reshape(-1),
        source_node=source_node,
        source_voltage=source_voltage,
        source_impedance=np.array(
            [_source_impedance(s) for s in grid.sources], dtype=np.complex128
        ).reshape(-1, 3),
    )


def _check_sources(grid: Grid, nodes: NDArray[np.intp], voltages: NDArray[np.complex128]) -> None:
    held: dict[int, tuple[str, complex]] = {}
    for source, node, voltage in zip(grid.sources, nodes, voltages, strict=True):
        if int(node) in held and abs(held[int(node)][1] - voltage) > 1e-12:
            other = held[int(node)][0]
            raise InvalidInputError(
                f"sources {other!r} and {source.id!r} feed one node but hold different voltages"
            )
        held[int(node)] = (source.id, complex(voltage))


def _line_two_port(line: Line, kv: float, frequency_hz: float) -> NDArray[np.complex128]:
    """Pi-section two-ports of a line for the three sequences, p.u. on `kv`."""
    z_base = kv**2 / S_BASE_MVA
    omega = 2 * math.pi * frequency_hz
    result = np.empty((3, 2, 2), dtype=np.complex128)
    data = {
        ZERO: (line.r0_ohm_per_km, line.x0_ohm_per_km, line.c0_nf_per_km),
        POSITIVE: (line.r1_ohm_per_km, line.x1_ohm_per_km, line.c1_nf_per_km),
    }
    data[NEGATIVE] = data[POSITIVE]
    for sequence, (r, x, c) in data.items():
        series = 1.0 / (complex(r, x) * line.length_km / z_base)
        half_shunt = 0.5j * omega * c * 1e-9 * line.length_km * z_base
        result[sequence] = [[series + half_shunt, -series], [-series, series + half_shunt]]
    return result


def _transformer_two_port(
    transformer: Transformer, hv_bus_kv: float, lv_bus_kv: float
) -> NDArray[np.complex128]:
    """Two-ports of a transformer for the three sequences, p.u. (hv end first)."""
    t = (transformer.hv_kv / hv_bus_kv) / (transformer.lv_kv / lv_bus_kv)
    # Impedances in p.u. on the low-side bus base.
    to_system = (transformer.lv_kv**2 / transformer.sn_mva) / (lv_bus_kv**2 / S_BASE_MVA)
    z1 = _complex_impedance(transformer.uk_percent, transformer.ukr_percent) * to_system
    z0 = _complex_impedance(transformer.uk0, transformer.ukr0) * to_system
    g = transformer.pfe_kw / 1e3 / transformer.sn_mva
    b = math.sqrt(max((transformer.i0_percent / 100) ** 2 - g**2, 0.0))
    magnetising = complex(g, -b) / to_system
    high, low, clock = transformer.windings
    shift = np.exp(1j * clock * math.pi / 6)
    result = np.zeros((3, 2, 2), dtype=np.complex128)
    result[POSITIVE] = _ideal_behind(1 / z1, magnetising, t * shift)
    result[NEGATIVE] = _ideal_behind(1 / z1, magnetising, t * np.conj(shift))
    hv_neutral = 3 * transformer.hv_neutral_ohm / (hv_bus_kv**2 / S_BASE_MVA)
    lv_neutral = 3 * transformer.lv_neutral_ohm / (lv_bus_kv**2 / S_BASE_MVA)
    if high == "YN" and low == "YN":
        # Yy groups with clock 2, 6 or 10 invert the zero sequence; 0, 4, 8 do not.
        sign = 1.0 if clock % 4 == 0 else -1.0
        result[ZERO] = _ideal_behind(1 / (z0 + hv_neutral + lv_neutral), 0.0, t * sign)
    elif high == "YN" and low == "D":
        result[ZERO, 0, 0] = 1 / (z0 + hv_neutral) / t**2
    elif high == "D" and low == "YN":
        result[ZERO, 1, 1] = 1 / (z0 + lv_neutral)
    return result


def _complex_impedance(uk_percent: float, ukr_percent: float) -> complex:
    """Short-circuit impedance in p.u. of the rating from uk and its resistive part."""
    return complex(ukr_percent, math.sqrt(uk_percent**2 - ukr_percent**2)) / 100


def _ideal_behind(series: complex, magnetising: complex, ratio: complex) -> NDArray[np.complex128]:
    """Two-port of an ideal transformer ``ratio : 1`` followed by a pi section."""
    shunt = magnetising / 2
    return np.array(
        [
            [(series + shunt) / abs(ratio) ** 2, -series / np.conj(ratio)],
            [-series / ratio, series + shunt],
        ],
        dtype=np.complex128,
    )


def _open_ended(two_port: NDArray[np.complex128], open_end: int) -> NDArray[np.complex128]:
    """Two-ports with one end open, reduced to the shunt seen at the other end."""
    keep = 1 - open_end
    reduced = np.zeros_like(two_port)
    for sequence in range(3):
        y = two_port[sequence]
        shunt = y[keep, keep]
        if y[open_end, open_end] != 0:
            shunt -= y[keep, open_end] * y[open_end, keep] / y[open_end, open_end]
        reduced[sequence, keep, keep] = shunt
    return reduced


def _source_impedance(source: Source) -> NDArray[np.complex128]:
    """Zero, positive and negative sequence impedance of a source, p.u. on its bus base."""
    z = S_BASE_MVA / source.sk_mva
    x1 = z / math.sqrt(1 + source.rx_ratio**2)
    z1 = complex(source.rx_ratio * x1, x1)
    x0 = source.x0_x1 * x1
    z0 = complex(source.r0_x0 * x0, x0)
    return np.array([z0, z1, z1], dtype=np.complex128)
