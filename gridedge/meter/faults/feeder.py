"""The feeder a head meter observes, prepared once per topology for fault location.

Building a :class:`FeederModel` does everything that depends only on the grid and its switch
states, so that locating one fault is a short walk (see :mod:`gridedge._twin.faultloc`):

- the *sections*: the lines at the head meter's voltage reachable from the line it measures,
  through lines of that voltage, in walking order, with their pi-model data per sequence;
  a line held open at its far end is a section too (a fault on it is fed from one side);
- the *admittances* that fold everything else into shunts at the section buses: loads as
  constant admittances at their pre-fault voltage (as in
  :class:`gridedge.grid.FaultStudy`), transformers with the grids behind them, lines held open
  at one end - a backward sweep over the network's two-ports;
- the *transfer impedances* from every section end bus to every other meter in the island
  and to the head meter, per sequence: columns of the sequence Z-bus from the grid
  package's factorised sequence networks (:meth:`gridedge.grid.FaultStudy.impedance_column`);
  and how much of a change at the head's bus reaches each meter's, ``Z_i,h / Z_h,h`` (the
  share of a sag that comes through the source impedance).
"""

import logging
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridedge import kernels
from gridedge.channels import CHANNELS
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid import Grid, Line, topology
from gridedge.grid import network as nw
from gridedge.grid.faults import FaultStudy, study
from gridedge.meter.faults.classification import ClassificationSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocationSettings:
    """Settings of fault location (section ``location`` of a settings file).

    The standard deviations describe the measurement chains (model error included); they
    weight the two kinds of evidence against each other and set what counts as a close call.
    :func:`gridedge.meter.faults.locate` takes measured ones instead when it is given them.

    Attributes
    ----------
    samples_per_section : int
        Grid points per section at which the score is evaluated before its minima are
        refined; two minima closer than one grid step on one section may merge.
    search_steps : int
        Golden-section steps per minimum (20 shrink a 1/8-section interval to 8e-6 of the
        section: 8 mm of a kilometre).
    min_resistance_ohm : float
        Candidates whose estimated fault resistance is below this are discarded (a small
        negative value lets measurement noise through on bolted faults).
    voltage_sigma_pu : float
        Standard deviation of a downstream meter's phase-voltage magnitude, p.u.
    head_voltage_sigma_pu : float
        Standard deviation (RMS of the complex error) of the head meter's superimposed
        voltage phasors (fault minus pre-fault), p.u. of the nominal phase voltage.
    head_current_sigma_a : float
        Standard deviation (RMS of the complex error) of the head meter's superimposed
        current phasors, A.
    source_impedance_sigma : float
        Relative standard deviation of the model's impedance behind the head meter (upstream
        network and primary transformer): how far the head's measured sag may overrule the
        model's. The short-circuit power of the upstream network moves with its
        configuration by tens of percent; a primary transformer's impedance is known from
        its test report to about a percent and usually dominates - 5 % covers both.
    reactance_sigma_ohm : float
        Standard deviation of the loop reactance at the fault beyond what the head's noise
        explains (the fault's own reactance, the feeder model's error), ohm.
    model_sigma : float
        Relative standard deviation of what the model predicts beyond the measurements'
        noise - voltages in p.u. of nominal, the fault current relative to itself - added to
        the chains' own: the model is never exact (the grid's fault solution itself
        balances a fault inside a line to a few 1e-5), and a perfect DAQ must not make it
        look so.
    candidate_chi2 : float
        Candidates whose score exceeds the best one's by more than this are not reported.
    ambiguity_chi2 : float
        A distinct candidate whose score exceeds the best one's by less than this makes the
        result ambiguous (9: three standard deviations).
    misfit_chi2 : float
        The result is ambiguous when the best score per observation exceeds this: no point
        of the feeder explains the measurements.
    same_point_m : float
        Candidates within this distance of one bus are one point (the end of a section and
        the start of the next); when they score alike, the result is ambiguous as to which
        side of the bus the fault is on.
    """

    samples_per_section: int = 16
    search_steps: int = 20
    min_resistance_ohm: float = -0.5
    voltage_sigma_pu: float = 0.001
    head_voltage_sigma_pu: float = 0.001
    head_current_sigma_a: float = 2.0
    source_impedance_sigma: float = 0.05
    reactance_sigma_ohm: float = 1e-4
    model_sigma: float = 1e-5
    candidate_chi2: float = 100.0
    ambiguity_chi2: float = 9.0
    misfit_chi2: float = 25.0
    same_point_m: float = 1.0

    def __post_init__(self) -> None:
        for name in ("samples_per_section", "search_steps"):
            value = getattr(self, name)
            if not (isinstance(value, int) and 1 <= value <= 1000):
                raise ConfigurationError(f"{name} must be an integer in [1, 1000], got {value!r}")
        for name in (
            "voltage_sigma_pu",
            "head_voltage_sigma_pu",
            "head_current_sigma_a",
            "source_impedance_sigma",
            "reactance_sigma_ohm",
            "model_sigma",
            "candidate_chi2",
            "ambiguity_chi2",
            "misfit_chi2",
            "same_point_m",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be > 0, got {value!r}")
        if not math.isfinite(self.min_resistance_ohm):
            raise ConfigurationError(
                f"min_resistance_ohm must be finite, got {self.min_resistance_ohm!r}"
            )


@dataclass(frozen=True)
class Section:
    """A line section of the feeder, oriented away from the head meter.

    Attributes
    ----------
    line : str
        Line id.
    from_bus, to_bus : str
        Sending bus (nearer the head) and far bus; the far bus of a line held open there is
        the bus it would connect to.
    length_m : float
    open_end : bool
        Whether the far end is open.
    """

    line: str
    from_bus: str
    to_bus: str
    length_m: float
    open_end: bool


class FeederModel:
    """The feeder seen by a head meter, ready for :func:`gridedge.meter.faults.locate`.

    Parameters
    ----------
    grid : Grid
    head_meter : str
        Id of the meter at the feeder head: it must measure all six channels and the current
        into a line (the feeder's first section).
    switch_states : mapping of str to bool, optional
        Switch states overriding the grid's.
    settings : LocationSettings, optional
    classification : ClassificationSettings, optional
        Used when :func:`locate` is not told the fault kind, and to check it when it is.
    backend : {"native", "python"}, optional
        Kernel backend (see :mod:`gridedge.kernels`).

    Attributes
    ----------
    grid, settings, classification
    head_meter : gridedge.grid.Meter
    prefault : gridedge.grid.PowerFlowResult
        The grid's pre-fault state for these switch states, at which the loads become
        admittances.
    sections : tuple of Section
        In walking order (each after the section feeding it).
    parents : tuple of int
        Position in `sections` of the section feeding each one (-1 for the head section).
    meters : tuple of str
        Ids of the meters whose voltages can be scored: every meter in the head meter's
        island except the head meter, in grid order.
    meter_row : dict of str to int
        Position of each scoring meter in `meters`.
    voltage_base_v, current_base_a, impedance_base_ohm : float
        Per-unit bases at the head: phase-to-earth volts, amperes, ohms.
    meter_voltage_base_v : ndarray of float64, shape (m,)
        Nominal phase-to-earth voltage of each scoring meter's bus, V.
    meter_prefault : ndarray of complex128, shape (m,)
        Positive-sequence pre-fault voltage of each scoring meter's bus, p.u., from the power
        flow of the grid.
    kernel
        The compiled (or twin) :class:`FeederKernel` holding the arrays.

    Raises
    ------
    InvalidInputError
        Unknown or de-energised head meter, a meter that does not measure six channels of a
        line closed at both ends, a meshed feeder or one with a source downstream.
    """

    def __init__(
        self,
        grid: Grid,
        head_meter: str,
        switch_states: Mapping[str, bool] | None = None,
        *,
        settings: LocationSettings | None = None,
        classification: ClassificationSettings | None = None,
        backend: kernels.Backend | None = None,
    ) -> None:
        self.grid = grid
        self.settings = settings or LocationSettings()
        self.classification = classification or ClassificationSettings()
        self.head_meter = meter = grid.meter(head_meter)
        missing = [c for c in CHANNELS if c not in meter.channels]
        if meter.branch is None or missing:
            raise InvalidInputError(
                f"meter {head_meter!r} cannot head a feeder for fault location: it must measure "
                f"{CHANNELS} of a line (branch {meter.branch!r}, missing channels {missing})"
            )
        if not isinstance(grid.branch(meter.branch), Line):
            raise InvalidInputError(
                f"meter {head_meter!r} measures transformer {meter.branch!r}: the feeder head "
                "meter must measure a line"
            )
        self._study: FaultStudy = study(grid, switch_states)
        self.prefault = self._study.prefault
        net = self._study.network
        head_node = net.node(meter.bus)
        tree = _Tree(net, meter.branch, head_node, self.prefault.node_voltage)
        self.voltage_base_v = float(net.node_kv[head_node]) * 1e3 / math.sqrt(3)
        self.current_base_a = float(net.current_base_a(np.array([head_node]))[0])
        self.impedance_base_ohm = net.impedance_base_ohm(head_node)
        self.sections, arrays, end_nodes = self._sections(tree)
        self.parents = tuple(int(p) for p in arrays[0])
        topo = topology.of(grid, switch_states)
        island = topo.island_of[meter.bus]
        self.meters = tuple(m.id for m in grid.meters if m.id != meter.id and m.bus in island.buses)
        self.meter_row = {m: i for i, m in enumerate(self.meters)}
        bus_rows = np.array([grid.bus_ids.index(grid.meter(m).bus) for m in self.meters], int)
        self.meter_voltage_base_v = np.array(
            [grid.bus(grid.meter(m).bus).kv * 1e3 / math.sqrt(3) for m in self.meters]
        )
        self.meter_prefault = self.prefault.voltage[bus_rows].astype(np.complex128)
        head_row = grid.bus_ids.index(meter.bus)
        transfer = self._transfer(end_nodes, np.append(bus_rows, head_row))
        # Z_i,h / Z_h,h: the change at each meter's bus per unit change at the head's.
        head_column = self._study.impedance_column(meter.bus)
        head_ratio = head_column[bus_rows].T / head_column[head_row][:, None]
        self.kernel = kernels.load("faultloc", backend).FeederKernel(
            *arrays,
            np.ascontiguousarray(transfer[:, :-1]),
            np.ascontiguousarray(transfer[:, -1]),
            np.ascontiguousarray(head_ratio),
            self.settings.samples_per_section,
            self.settings.search_steps,
        )
        logger.debug(
            "feeder of meter %s: %d sections, %d scoring meters, %d end buses",
            meter.id,
            len(self.sections),
            len(self.meters),
            len(end_nodes),
        )

    def _sections(
        self, tree: "_Tree"
    ) -> tuple[tuple[Section, ...], tuple[NDArray[np.generic], ...], list[tuple[int, str]]]:
        """Sections in walking order and the kernel's per-section arrays."""
        grid, net = self.grid, self._study.network
        omega = 2 * math.pi * grid.frequency_hz
        z_base = self.impedance_base_ohm
        sections: list[Section] = []
        parent, series, shunt, side, end, from_end, to_end = [], [], [], [], [], [], []
        end_nodes: list[tuple[int, str]] = []
        column: dict[int, int] = {}

        def end_column(node: int, bus: str) -> int:
            if node not in column:
                column[node] = len(end_nodes)
                end_nodes.append((node, bus))
            return column[node]

        for row, parent_index in tree.sections:
            line = grid.branches[int(net.branch_index[row])]
            near_end = tree.sending_end[row]
            near_node = int((net.from_node, net.to_node)[near_end][row])
            far_node = int((net.from_node, net.to_node)[1 - near_end][row])
            near_bus, far_bus = line.buses[near_end], line.buses[1 - near_end]
            sections.append(Section(line.id, near_bus, far_bus, line.length_km * 1e3, far_node < 0))
            parent.append(parent_index)
            length = line.length_km
            for impedances, admittance in (
                ((line.r0_ohm_per_km, line.x0_ohm_per_km), line.c0_nf_per_km),
                ((line.r1_ohm_per_km, line.x1_ohm_per_km), line.c1_nf_per_km),
            ):
                series.append(complex(*impedances) * length / z_base)
                shunt.append(0.5j * omega * admittance * 1e-9 * length * z_base)
            series.append(series[-1])
            shunt.append(shunt[-1])
            entering = tree.input_admittance(row, near_end)
            side.append(np.zeros(3) if parent_index < 0 else tree.below[near_node] - entering)
            end.append(np.zeros(3) if far_node < 0 else tree.below[far_node])
            from_end.append(end_column(near_node, near_bus))
            to_end.append(-1 if far_node < 0 else end_column(far_node, far_bus))
        arrays = (
            np.array(parent, dtype=np.int64),
            np.array(series, dtype=np.complex128).reshape(-1, 3),
            np.array(shunt, dtype=np.complex128).reshape(-1, 3),
            np.array(side, dtype=np.complex128).reshape(-1, 3),
            np.array(end, dtype=np.complex128).reshape(-1, 3),
            np.array(from_end, dtype=np.int64),
            np.array(to_end, dtype=np.int64),
            self._end_impedance(sections),
        )
        return tuple(sections), arrays, end_nodes

    def _end_impedance(self, sections: list[Section]) -> NDArray[np.complex128]:
        """Z between the ends of each section (n, 3, 4): pp, pq, qp, qq per sequence, p.u.

        p is the sending bus, q the far one; zero where the far end is open. The kernel moves
        a section's charging to a point inside it with them.
        """
        rows = {bus: i for i, bus in enumerate(self.grid.bus_ids)}
        result = np.zeros((len(sections), 3, 4), dtype=np.complex128)
        for k, section in enumerate(sections):
            if section.open_end:
                continue
            near = self._study.impedance_column(section.from_bus)
            far = self._study.impedance_column(section.to_bus)
            p, q = rows[section.from_bus], rows[section.to_bus]
            result[k] = np.stack([near[p], far[p], near[q], far[q]], axis=1)
        return result

    def _transfer(
        self, end_nodes: list[tuple[int, str]], bus_rows: NDArray[np.intp]
    ) -> NDArray[np.complex128]:
        """Transfer impedances (3, m, e) from the end buses to the buses of `bus_rows`, p.u."""
        transfer = np.empty((3, bus_rows.shape[0], len(end_nodes)), dtype=np.complex128)
        for column, (_, bus) in enumerate(end_nodes):
            transfer[:, :, column] = self._study.impedance_column(bus)[bus_rows].T
        return transfer


class _Tree:
    """The network below a feeder's head line, with every subtree folded into an admittance.

    Attributes
    ----------
    sections : list of (int, int)
        Network rows of the feeder's sections and the position of each one's parent in this
        list (-1 for the head line), in walking order.
    sending_end : dict of int to int
        For every row below the head, the end (0 from, 1 to) nearer the head.
    below : dict of int to ndarray
        For every node below the head, the sequence admittance (3,) of everything beyond it
        (its loads, and every branch leaving it away from the head with what lies beyond).
    """

    def __init__(
        self,
        net: nw.Network,
        head_line: str,
        head_node: int,
        prefault: NDArray[np.complex128],
    ) -> None:
        self.net = net
        grid = net.grid
        rows = np.flatnonzero(net.branch_index == grid.branch_ids.index(head_line))
        ends = (net.from_node, net.to_node)
        if rows.size == 0 or min(ends[0][rows[0]], ends[1][rows[0]]) < 0:
            raise InvalidInputError(
                f"line {head_line!r} is not closed at both ends for these switch states: "
                "no feeder to locate faults on"
            )
        head_row = int(rows[0])
        head_end = 0 if ends[0][head_row] == head_node else 1
        kv = net.node_kv[head_node]
        incident: dict[int, list[tuple[int, int]]] = {}
        for row in range(net.branch_index.shape[0]):
            for end in (0, 1):
                if ends[end][row] >= 0:
                    incident.setdefault(int(ends[end][row]), []).append((row, end))
        first = int(ends[1 - head_end][head_row])
        self.sending_end = {head_row: head_end}
        self.sections: list[tuple[int, int]] = [(head_row, -1)]
        on_feeder = {first: 0}  # node -> position of the section reaching it
        order: list[int] = [first]
        children: dict[int, list[tuple[int, int]]] = {}
        self.below: dict[int, NDArray[np.complex128]] = {}
        visited = {head_node, first}
        queue = deque([(first, head_row)])
        while queue:
            node, via = queue.popleft()
            children[node] = []
            for row, end in incident.get(node, []):
                if row == via:
                    continue
                self.sending_end[row] = end
                other = int(ends[1 - end][row])
                is_line = isinstance(grid.branches[int(net.branch_index[row])], Line)
                if node in on_feeder and is_line and net.node_kv[node] == kv:
                    self.sections.append((row, on_feeder[node]))
                    if other >= 0:
                        on_feeder[other] = len(self.sections) - 1
                children[node].append((row, end))
                if other < 0:
                    continue
                if other in visited:
                    raise InvalidInputError(
                        f"the feeder below line {head_line!r} is meshed (branch "
                        f"{grid.branches[int(net.branch_index[row])].id!r} closes a loop): "
                        "impedance-based location needs a radial feeder"
                    )
                visited.add(other)
                order.append(other)
                queue.append((other, row))
        inside = [
            s.id
            for s, n in zip(grid.sources, net.source_node, strict=True)
            if int(n) in visited and int(n) != head_node
        ]
        if inside:
            raise InvalidInputError(
                f"source(s) {inside} feed the feeder below line {head_line!r}: impedance-based "
                "location needs a feeder supplied from its head only"
            )
        self._fold(order, children, prefault)

    def input_admittance(self, row: int, sending: int) -> NDArray[np.complex128]:
        """Sequence admittance (3,) seen into network row `row` from its end `sending`."""
        y = self.net.two_port[row]  # (3, 2, 2)
        far = 1 - sending
        far_node = int((self.net.from_node, self.net.to_node)[far][row])
        if far_node < 0:
            return y[:, sending, sending].copy()
        load = self.below[far_node]
        return y[:, sending, sending] - y[:, sending, far] * y[:, far, sending] / (
            y[:, far, far] + load
        )

    def _fold(
        self,
        order: list[int],
        children: dict[int, list[tuple[int, int]]],
        v_pre: NDArray[np.complex128],
    ) -> None:
        """Fill :attr:`below`, leaves first; loads at their pre-fault voltage."""
        net = self.net
        load = np.zeros((net.n_nodes, 3), dtype=np.complex128)
        constant = np.conj(net.load_power) / np.abs(v_pre[net.load_node]) ** 2
        for sequence in (nw.POSITIVE, nw.NEGATIVE):
            np.add.at(load[:, sequence], net.load_node, constant)
        for node in reversed(order):
            total = load[node].copy()
            for row, end in children[node]:
                total += self.input_admittance(row, end)
            self.below[node] = total
