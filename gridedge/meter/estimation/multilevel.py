"""Multilevel state estimation (Pau et al., SEGAN 2018): concentrator, LV and MV levels.

- Concentrator level (:func:`concentrator`): the meters of one LV node. Voltage readings are
  fused by inverse-variance weighting, ``z = sum z_k / s_k^2 / sum 1 / s_k^2`` (an
  inconsistent one among three or more is rejected); power readings of one customer are fused
  the same way, and the customers of the node add up.
- LV level (:class:`LVLevel`): one LV grid with its transformer and MV bus, from the node
  estimates, the secondary-substation meter and pseudo-measurements for silent customers. It
  passes upward the MV busbar voltage and the transformer's P and Q with their covariance
  ``J G^-1 J^T``.
- MV level (:class:`MVLevel`): the MV grid, weighting each LV result by its covariance (a
  correlated group), with the primary-substation meters. Its estimate of each MV busbar can go
  back down as the LV level's slack (:class:`SlackVoltage`): the reference angle and a voltage
  measurement replacing the substation meter's.

Each level is a function of serialisable messages (frozen dataclasses; see
:mod:`gridedge.meter.estimation.messages` for their dict form), so any meter can run it and
the messages can travel over MQTT. Units: voltages p.u. of the bus's nominal voltage, angles
degrees, powers kW and kvar. Readings count consumption as meters do (import positive); the
powers passed upward flow from the MV bus into the transformer.
"""

import itertools
import logging
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from gridedge import kernels
from gridedge.errors import InvalidInputError
from gridedge.grid import Grid, Load, Measurement
from gridedge.meter.estimation import areas
from gridedge.meter.estimation.accuracy import PSEUDO, AccuracyClass
from gridedge.meter.estimation.estimator import Estimator
from gridedge.meter.estimation.quantities import Quantity
from gridedge.meter.estimation.result import EstimationResult
from gridedge.meter.estimation.settings import EstimationSettings

logger = logging.getLogger(__name__)

REJECTION_THRESHOLD = 4.0
"""A node's voltage reading deviating from the others by more than this many standard
deviations of the deviation is rejected by the concentrator."""


# --- messages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One reading of a meter at an LV node.

    Attributes
    ----------
    meter : str
    quantity : {"v", "p", "q"}
        Voltage magnitude (p.u.), or active (kW) or reactive (kvar) power consumed.
    value, std_dev : float
    customer : str
        Whose consumption a power reading is (readings of one customer are fused, those of
        different customers add up); the meter id when empty.
    """

    meter: str
    quantity: Literal["v", "p", "q"]
    value: float
    std_dev: float
    customer: str = ""

    def __post_init__(self) -> None:
        if self.quantity not in ("v", "p", "q"):
            raise InvalidInputError(
                f"reading of meter {self.meter!r}: quantity must be v, p or q, got "
                f"{self.quantity!r}"
            )
        if not math.isfinite(self.value):
            raise InvalidInputError(f"reading of meter {self.meter!r}: value {self.value!r}")
        if not (math.isfinite(self.std_dev) and self.std_dev > 0):
            raise InvalidInputError(
                f"reading of meter {self.meter!r}: std_dev must be positive, got {self.std_dev!r}"
            )


@dataclass(frozen=True)
class NodeReadings:
    """Input of the concentrator level: the readings taken at one LV bus."""

    bus: str
    readings: tuple[Reading, ...]


@dataclass(frozen=True)
class NodeEstimate:
    """Output of the concentrator level: one LV bus's fused voltage and consumption.

    Attributes
    ----------
    bus : str
    v, v_std : float, optional
        Voltage magnitude and its standard deviation, p.u.; None without a voltage reading.
    p, p_std, q, q_std : float, optional
        Active (kW) and reactive (kvar) power consumed at the bus; None without readings.
    meters : tuple of str
        Meters whose readings were used.
    rejected : tuple of str
        Meters whose voltage reading was rejected as inconsistent.
    """

    bus: str
    v: float | None = None
    v_std: float | None = None
    p: float | None = None
    p_std: float | None = None
    q: float | None = None
    q_std: float | None = None
    meters: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlackVoltage:
    """The MV level's estimate of an MV busbar, sent down as the LV level's slack."""

    bus: str
    vm_pu: float
    va_deg: float
    vm_std_pu: float


@dataclass(frozen=True)
class Voltages:
    """Estimated bus voltages: magnitude (p.u.) and angle (degrees) of each bus."""

    buses: tuple[str, ...]
    vm_pu: tuple[float, ...]
    va_deg: tuple[float, ...]

    def of(self, bus: str) -> complex:
        """Return the voltage of `bus` as a complex number, p.u."""
        try:
            k = self.buses.index(bus)
        except ValueError:
            raise InvalidInputError(f"no estimated voltage of bus {bus!r}") from None
        return self.vm_pu[k] * complex(
            math.cos(math.radians(self.va_deg[k])), math.sin(math.radians(self.va_deg[k]))
        )


@dataclass(frozen=True)
class LVInput:
    """Input of the LV level.

    Attributes
    ----------
    transformer : str
        The secondary transformer whose LV grid is estimated.
    time : float
        Time stamp, s (load profiles for pseudo-measurements are read at it).
    nodes : tuple of NodeEstimate
        Concentrator outputs, at most one per bus.
    substation : tuple of Measurement
        Secondary-substation meter: ``v`` at the MV bus, ``p`` / ``q`` (and ``i``) into the
        transformer at the MV bus.
    slack : SlackVoltage, optional
        The MV level's estimate of the MV bus (second pass).
    """

    transformer: str
    time: float
    nodes: tuple[NodeEstimate, ...]
    substation: tuple[Measurement, ...] = ()
    slack: SlackVoltage | None = None


@dataclass(frozen=True)
class LVOutput:
    """Output of the LV level, passed to the MV level.

    Attributes
    ----------
    transformer, bus : str
        The transformer and its MV bus.
    time : float
    vm_pu, p_kw, q_kvar : float
        MV busbar voltage and the power flowing from it into the transformer.
    covariance : tuple of tuple of float, 3 x 3
        Their covariance (p.u., kW, kvar).
    voltages : Voltages
        Every bus of the LV area (the MV bus included).
    removed : tuple of str
        Measurements removed as bad data.
    suspects : tuple of str
        Measurements among which bad data was detected but could not be identified.
    bad_data_detected : bool
    iterations : int
    objective : float
    """

    transformer: str
    bus: str
    time: float
    vm_pu: float
    p_kw: float
    q_kvar: float
    covariance: tuple[tuple[float, float, float], ...]
    voltages: Voltages
    removed: tuple[str, ...] = ()
    suspects: tuple[str, ...] = ()
    bad_data_detected: bool = False
    iterations: int = 0
    objective: float = 0.0


@dataclass(frozen=True)
class MVInput:
    """Input of the MV level: the LV levels' outputs and the primary-substation meters."""

    time: float
    substations: tuple[LVOutput, ...]
    primary: tuple[Measurement, ...] = ()


@dataclass(frozen=True)
class MVOutput:
    """Output of the MV level: MV bus voltages and the slack for each LV level."""

    time: float
    voltages: Voltages
    slack: tuple[SlackVoltage, ...]
    removed: tuple[str, ...] = ()
    suspects: tuple[str, ...] = ()
    bad_data_detected: bool = False
    iterations: int = 0
    objective: float = 0.0

    def slack_of(self, bus: str) -> SlackVoltage:
        """Return the slack voltage for the LV level below MV bus `bus`."""
        for slack in self.slack:
            if slack.bus == bus:
                return slack
        raise InvalidInputError(f"the MV estimate has no slack for bus {bus!r}")


# --- concentrator level -------------------------------------------------------------------


def concentrator(node: NodeReadings, *, threshold: float = REJECTION_THRESHOLD) -> NodeEstimate:
    """Fuse the readings of one LV node (the concentrator level).

    Parameters
    ----------
    node : NodeReadings
    threshold : float
        See :data:`REJECTION_THRESHOLD`.

    Returns
    -------
    NodeEstimate
    """
    voltages = [r for r in node.readings if r.quantity == "v"]
    rejected: list[str] = []
    # With three or more voltage readings one inconsistent reading can be told apart: the one
    # deviating most from the weighted mean, in standard deviations of its deviation.
    while len(voltages) >= 3:
        value, variance = _fuse([r.value for r in voltages], [r.std_dev for r in voltages])
        deviations = [abs(r.value - value) / math.sqrt(r.std_dev**2 - variance) for r in voltages]
        worst = int(np.argmax(deviations))
        if deviations[worst] <= threshold:
            break
        rejected.append(voltages.pop(worst).meter)
    v = v_std = None
    if voltages:
        v, variance = _fuse([r.value for r in voltages], [r.std_dev for r in voltages])
        v_std = math.sqrt(variance)
    powers: dict[str, tuple[float | None, float | None]] = {}
    for quantity in ("p", "q"):
        customers: dict[str, list[Reading]] = {}
        for r in node.readings:
            if r.quantity == quantity:
                customers.setdefault(r.customer or r.meter, []).append(r)
        if not customers:
            powers[quantity] = (None, None)
            continue
        total = total_variance = 0.0
        for readings in customers.values():
            value, variance = _fuse([r.value for r in readings], [r.std_dev for r in readings])
            total += value
            total_variance += variance
        powers[quantity] = (total, math.sqrt(total_variance))
    used = sorted({r.meter for r in node.readings} - set(rejected))
    return NodeEstimate(
        bus=node.bus,
        v=v,
        v_std=v_std,
        p=powers["p"][0],
        p_std=powers["p"][1],
        q=powers["q"][0],
        q_std=powers["q"][1],
        meters=tuple(used),
        rejected=tuple(rejected),
    )


def _fuse(values: Sequence[float], std_devs: Sequence[float]) -> tuple[float, float]:
    """Inverse-variance weighted mean and its variance."""
    weights = [1.0 / s**2 for s in std_devs]
    total = sum(weights)
    return sum(w * z for w, z in zip(weights, values, strict=True)) / total, 1.0 / total


# --- LV level -----------------------------------------------------------------------------


class _Slots:
    """Values, standard deviations and presence of a level's measurement slots."""

    def __init__(self, n: int) -> None:
        self.values = np.zeros(n)
        self.std_devs = np.ones(n)
        self.active = np.zeros(n, dtype=bool)

    def put(self, index: int, value: float, std_dev: float) -> None:
        self.values[index] = value
        self.std_devs[index] = std_dev
        self.active[index] = True

    def put_readings(
        self,
        readings: Sequence[Measurement],
        slot_of: Mapping[tuple[str, str, str | None], str],
        position: Mapping[str, int],
        level: str,
        whose: str,
    ) -> None:
        """Put a meter's readings into the slots of their quantities.

        `level` and `whose` name the level and the meter in the error for a reading that
        has no slot.
        """
        for m in readings:
            slot_id = slot_of.get(_key(m))
            if slot_id is None:
                raise InvalidInputError(
                    f"{level}: measurement {m.id!r} is not one of the {whose} "
                    f"({sorted(slot_of.values())})"
                )
            self.put(position[slot_id], m.value, m.std_dev)


def _bus_voltages(result: EstimationResult, va_deg: NDArray[np.float64]) -> Voltages:
    return Voltages(result.bus_ids, tuple(result.vm_pu.tolist()), tuple(va_deg.tolist()))


def _key(m: Measurement | Quantity) -> tuple[str, str, str | None]:
    return (m.quantity, m.element, m.side)


def _consumption(loads: Sequence[Load], quantity: str, time: float) -> float:
    """Profile value of `loads`' active (kW) or reactive (kvar) consumption at `time`."""
    return sum(
        (load.p_kw if quantity == "p" else load.q_kvar) * load.multiplier(time) for load in loads
    )


class LVLevel:
    """The LV level of one secondary substation (prepared once, run every minute).

    Parameters
    ----------
    grid : Grid
        The whole grid or the transformer's LV area (:func:`areas.lv_area` cuts it out).
    transformer : str
        The secondary transformer.
    pseudo : AccuracyClass
        Accuracy of the pseudo-measurements standing in for customers without readings
        (their loads' profile value at the message time).
    settings : EstimationSettings, optional
    backend : {"native", "python"}, optional

    Notes
    -----
    Measurements (ids in brackets): per customer bus ``v``, ``p``, ``q`` (``node:<q>:<bus>``)
    and their pseudo stand-ins (``pseudo:<q>:<bus>``); at the MV bus the substation meter's
    ``v``, and ``p``, ``q``, ``i`` into the transformer (``substation:<q>``) and the slack
    voltage (``slack:v``). Buses without load are zero injections.
    """

    def __init__(
        self,
        grid: Grid,
        transformer: str,
        *,
        pseudo: AccuracyClass = PSEUDO,
        settings: EstimationSettings | None = None,
        backend: kernels.Backend | None = None,
    ) -> None:
        self.transformer = transformer
        self.area = area = areas.lv_area(grid, transformer)
        self.bus = bus = area.transformer(transformer).hv_bus
        self.pseudo = pseudo
        self._loads: dict[str, list[Load]] = {}
        for load in area.loads:
            self._loads.setdefault(load.bus, []).append(load)
        # Slots: node v, p, q of every customer bus (3 per bus, in customer order), then their
        # pseudo p, q (2 per bus), then the substation meter's and the slack's.
        slots = [
            Measurement(f"node:{quantity}:{load_bus}", quantity, load_bus, 1.0, 1.0)
            for load_bus in self._loads
            for quantity in ("v", "p", "q")
        ]
        slots += [
            Measurement(f"pseudo:{quantity}:{load_bus}", quantity, load_bus, 0.0, 1.0)
            for load_bus in self._loads
            for quantity in ("p", "q")
        ]
        self._substation = {
            ("v", bus, None): "substation:v",
            ("p", transformer, bus): "substation:p",
            ("q", transformer, bus): "substation:q",
            ("i", transformer, bus): "substation:i",
        }
        for (quantity, element, side), slot_id in self._substation.items():
            slots.append(Measurement(slot_id, quantity, element, 1.0, 1.0, side=side))
        slots.append(Measurement("slack:v", "v", bus, 1.0, 1.0))
        self._position = {m.id: i for i, m in enumerate(slots)}
        self._node_row = {bus: row for row, bus in enumerate(self._loads)}
        derived = (
            Quantity("v", bus),
            Quantity("p", transformer, bus),
            Quantity("q", transformer, bus),
        )
        self.estimator = Estimator(area, slots, derived=derived, settings=settings, backend=backend)
        self.customer_buses = tuple(self._loads)
        """Buses of the area with customers (loads), whose concentrators report."""
        self.result: EstimationResult | None = None

    _NODE_FIELDS = operator.attrgetter("v", "v_std", "p", "p_std", "q", "q_std")

    def _fill_nodes(self, slots: _Slots, message: LVInput) -> None:
        """Node estimates as injections; pseudo-measurements where a node has none."""
        nodes = message.nodes
        try:
            rows = [self._node_row[n.bus] for n in nodes]
        except KeyError as exc:
            raise InvalidInputError(
                f"LV level of {self.transformer!r}: bus {exc.args[0]!r} is no customer bus "
                "of its area"
            ) from None
        if len(set(rows)) != len(rows):
            twice = self.customer_buses[max(set(rows), key=rows.count)]
            raise InvalidInputError(f"LV level: two estimates of bus {twice!r}")
        # (v, v_std, p, p_std, q, q_std) per customer bus; None (and a bus not reporting) NaN.
        data = np.full((len(self._node_row), 3, 2), np.nan)
        data[rows] = np.fromiter(
            itertools.chain.from_iterable(map(self._NODE_FIELDS, nodes)), float, 6 * len(nodes)
        ).reshape(-1, 3, 2)
        value, std_dev = data[:, :, 0], data[:, :, 1]
        value[:, 1:] *= -1.0  # p, q consumed become injections
        present = np.isfinite(value) & np.isfinite(std_dev)
        n = present.size
        slots.values[:n] = np.where(present, value, 0.0).ravel()
        slots.std_devs[:n] = np.where(present, std_dev, 1.0).ravel()
        slots.active[:n] = present.ravel()
        for row, column in zip(*np.nonzero(~present[:, 1:]), strict=True):
            quantity = "pq"[column]
            bus = self.customer_buses[row]
            consumed = _consumption(self._loads[bus], quantity, message.time)
            sigma = float(self.pseudo.sigma(quantity, consumed))
            slots.put(n + 2 * int(row) + int(column), -consumed, sigma)

    def run(self, message: LVInput) -> LVOutput:
        """Estimate the LV grid from one message; keep the full result in :attr:`result`.

        Raises
        ------
        InvalidInputError
            A message for another transformer, or readings of buses or quantities this level
            does not have.
        UnobservableError, ConvergenceError
            From the estimator.
        """
        if message.transformer != self.transformer:
            raise InvalidInputError(
                f"LV level of {self.transformer!r} got a message for {message.transformer!r}"
            )
        slots = _Slots(len(self._position))
        self._fill_nodes(slots, message)
        slots.put_readings(
            message.substation,
            self._substation,
            self._position,
            f"LV level of {self.transformer!r}",
            "substation meter's",
        )
        reference = None
        if message.slack is not None:
            if message.slack.bus != self.bus:
                raise InvalidInputError(
                    f"LV level of {self.transformer!r}: slack for bus {message.slack.bus!r}, "
                    f"expected {self.bus!r}"
                )
            # The MV estimate already holds the substation meter's voltage: it replaces it.
            slots.active[self._position["substation:v"]] = False
            slots.put(self._position["slack:v"], message.slack.vm_pu, message.slack.vm_std_pu)
            reference = {self.bus: message.slack.va_deg}
        result = self.estimator.estimate(
            slots.values, slots.std_devs, active=slots.active, reference_angles=reference
        )
        self.result = result
        derived = self.estimator.derived_of(result)
        vm, p_kw, q_kvar = derived.values.tolist()
        return LVOutput(
            transformer=self.transformer,
            bus=self.bus,
            time=message.time,
            vm_pu=vm,
            p_kw=p_kw,
            q_kvar=q_kvar,
            covariance=tuple(map(tuple, derived.covariance.tolist())),
            voltages=_bus_voltages(result, result.va_deg),
            removed=result.removed,
            suspects=result.suspects,
            bad_data_detected=result.bad_data_detected,
            iterations=result.iterations,
            objective=result.objective,
        )


# --- MV level -----------------------------------------------------------------------------


class MVLevel:
    """The MV level (prepared once, run every minute).

    Parameters
    ----------
    grid : Grid
        The whole grid.
    transformers : sequence of str, optional
        Secondary transformers whose LV levels report; all of
        :func:`areas.secondary_transformers` by default.
    primary : sequence of Quantity, optional
        What the primary-substation meters measure; by default ``v`` at each meter's bus and
        ``p``, ``q`` into its branch, for the meters of the MV area.
    pseudo : AccuracyClass
        Accuracy of the pseudo-measurements standing in for a silent LV level (the sum of its
        loads' profile values).
    settings : EstimationSettings, optional
    backend : {"native", "python"}, optional

    Notes
    -----
    Each LV output becomes a correlated group at its MV bus: ``v`` and the injections
    ``p = -P``, ``q = -Q`` (ids ``station:<q>:<transformer>``) with covariance ``S C S``,
    ``S = diag(1, -1, -1)``. One secondary transformer per MV bus, and no MV load there.
    """

    def __init__(
        self,
        grid: Grid,
        transformers: Sequence[str] | None = None,
        *,
        primary: Sequence[Quantity] | None = None,
        pseudo: AccuracyClass = PSEUDO,
        settings: EstimationSettings | None = None,
        backend: kernels.Backend | None = None,
    ) -> None:
        chosen = (
            [t.id for t in areas.secondary_transformers(grid)]
            if transformers is None
            else list(transformers)
        )
        self.area = area = areas.mv_area(grid, chosen)
        self.pseudo = pseudo
        self._station_bus: dict[str, str] = {}
        self._station_loads: dict[str, list[Load]] = {}
        for transformer in chosen:
            bus = grid.transformer(transformer).hv_bus
            if bus in self._station_bus.values():
                raise InvalidInputError(f"MV level: more than one secondary transformer at {bus!r}")
            if any(load.bus == bus for load in area.loads):
                raise InvalidInputError(f"MV level: MV bus {bus!r} has loads of its own")
            self._station_bus[transformer] = bus
            low = areas.lv_buses(grid, transformer)
            self._station_loads[transformer] = [ld for ld in grid.loads if ld.bus in low]
        if primary is None:
            defaults: list[Quantity] = []
            for meter in area.meters:
                defaults.append(Quantity("v", meter.bus))
                if meter.branch is not None:
                    defaults += [Quantity(q, meter.branch, meter.bus) for q in ("p", "q")]
            primary = defaults
        self._primary = {_key(q): f"primary:{q.label}" for q in primary}
        slots: list[Measurement] = []
        groups: list[tuple[str, ...]] = []
        for transformer, bus in self._station_bus.items():
            ids = tuple(f"station:{q}:{transformer}" for q in ("v", "p", "q"))
            groups.append(ids)
            slots += [Measurement(ids[0], "v", bus, 1.0, 1.0)]
            slots += [Measurement(ids[k], q, bus, 0.0, 1.0) for k, q in ((1, "p"), (2, "q"))]
            slots += [
                Measurement(f"pseudo:{q}:{transformer}", q, bus, 0.0, 1.0) for q in ("p", "q")
            ]
        for (quantity, element, side), slot_id in self._primary.items():
            slots.append(Measurement(slot_id, quantity, element, 1.0, 1.0, side=side))
        self._position = {m.id: i for i, m in enumerate(slots)}
        self._stations = list(self._station_bus)
        self._station_index = {(t, b): k for k, (t, b) in enumerate(self._station_bus.items())}
        self._station_slots = np.array(
            [[self._position[slot_id] for slot_id in ids] for ids in groups], dtype=np.intp
        ).reshape(-1, 3)
        # Rows of the stations' MV buses in the bus arrays (their angles for the slack).
        self._station_rows = np.array(
            [area.bus_ids.index(bus) for bus in self._station_bus.values()], dtype=np.intp
        )
        self._identity = np.broadcast_to(np.eye(3), (len(groups), 3, 3)).copy()
        derived = [Quantity("v", bus) for bus in self._station_bus.values()]
        self.estimator = Estimator(
            area,
            slots,
            correlated=groups,
            derived=derived,
            settings=settings,
            backend=backend,
        )
        self.result: EstimationResult | None = None

    _SIGN = np.array([1.0, -1.0, -1.0])
    """Station quantities (v, p, q into the transformer) to the level's (v and injections)."""
    _SIGN_OUTER = np.outer(_SIGN, _SIGN)

    def _fill_stations(self, slots: _Slots, message: MVInput) -> NDArray[np.float64]:
        """LV outputs as correlated injections; pseudo-measurements for silent stations.

        Returns the covariance of every station's group, stacked in declared order (any for a
        silent station: its group is left out).
        """
        outputs = message.substations
        try:
            index = [self._station_index[(lv.transformer, lv.bus)] for lv in outputs]
        except KeyError as exc:
            transformer, bus = exc.args[0]
            raise InvalidInputError(
                f"MV level: LV output of {transformer!r} at {bus!r} belongs to no station of "
                "this level"
            ) from None
        reported = set(index)
        if len(reported) != len(index):
            twice = self._stations[max(reported, key=index.count)]
            raise InvalidInputError(f"MV level: two LV outputs of {twice!r}")
        covariance = self._identity.copy()
        if outputs:
            values = np.array([(lv.vm_pu, lv.p_kw, lv.q_kvar) for lv in outputs])
            given = np.fromiter(
                itertools.chain.from_iterable(
                    itertools.chain.from_iterable(lv.covariance for lv in outputs)
                ),
                float,
                9 * len(outputs),
            ).reshape(-1, 3, 3)
            given *= self._SIGN_OUTER
            covariance[index] = given
            slot = self._station_slots[index].ravel()
            slots.values[slot] = (values * self._SIGN).ravel()
            slots.std_devs[slot] = np.sqrt(np.abs(given.reshape(-1, 9)[:, ::4])).ravel()
            slots.active[slot] = True
        for station in range(len(self._stations)):
            if station in reported:
                continue
            transformer = self._stations[station]
            logger.info("MV level: no LV output of %r; pseudo-measurements instead", transformer)
            for quantity in ("p", "q"):
                consumed = _consumption(self._station_loads[transformer], quantity, message.time)
                sigma = float(self.pseudo.sigma(quantity, consumed))
                slots.put(self._position[f"pseudo:{quantity}:{transformer}"], -consumed, sigma)
        return covariance

    def run(self, message: MVInput) -> MVOutput:
        """Estimate the MV grid from one message; keep the full result in :attr:`result`.

        Raises
        ------
        InvalidInputError
            An LV output of an unknown transformer or bus, a duplicate one, or a primary
            measurement this level does not have.
        UnobservableError, ConvergenceError
            From the estimator.
        """
        slots = _Slots(len(self._position))
        covariances = self._fill_stations(slots, message)
        slots.put_readings(
            message.primary, self._primary, self._position, "MV level", "primary meters'"
        )
        result = self.estimator.estimate(
            slots.values, slots.std_devs, covariances=covariances, active=slots.active
        )
        self.result = result
        derived = self.estimator.derived_of(result)
        variance = np.diagonal(derived.covariance).clip(0.0).tolist()
        va_deg = result.va_deg
        angles = va_deg[self._station_rows].tolist()
        slack = tuple(
            SlackVoltage(bus, vm, va, math.sqrt(var))
            for bus, vm, va, var in zip(
                self._station_bus.values(), derived.values.tolist(), angles, variance, strict=True
            )
        )
        return MVOutput(
            time=message.time,
            voltages=_bus_voltages(result, va_deg),
            slack=slack,
            removed=result.removed,
            suspects=result.suspects,
            bad_data_detected=result.bad_data_detected,
            iterations=result.iterations,
            objective=result.objective,
        )
