"""Accuracy of fault detection and location, end to end through simulated waveforms.

Each fault of a campaign is a timeline for the waveform simulator (:mod:`gridedge.grid.waveform`):
steady load, then a fault of a random kind, resistance and position on a random section of a
feeder, cleared after ``clearing_s``. Every meter's signals pass through the 12-bit DAQ model.
The head meter's samples go through the phasor estimator
(:class:`gridedge.meter.phasor.PhasorEstimator`, native kernel) into a :class:`FaultDetector`;
on its event the head meter fits its pre-fault and fault phasors over the whole stable
intervals of its samples (:func:`gridedge.meter.faults.interval.estimate`), and the
downstream meters fit their phase-voltage magnitudes over the same intervals
(:func:`~gridedge.meter.faults.interval.voltage_report`) - what the meters' ``fault-detector``
and ``fault-reporter`` do (:mod:`gridedge.meter.faults.reports`). Every standard error is
propagated from the noise each meter finds in its own samples before the fault, as on the
meters, which are not told their DAQ's. :func:`locate` then runs with those phasors, their
uncertainty, the meters' reports and the classified kind.

``gridedge faults accuracy --case turin`` runs a campaign and prints the table.
"""

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import GridedgeError, InvalidInputError
from gridedge.grid import FaultKind, Grid, Meter
from gridedge.grid.cases import cigre_mv, ieee33, turin
from gridedge.grid.daq import DaqSettings
from gridedge.grid.waveform import FaultClearance, FaultInception, Simulation, WaveformSettings
from gridedge.meter.faults.detection import DetectionSettings, FaultDetector, FaultEvent
from gridedge.meter.faults.feeder import FeederModel
from gridedge.meter.faults.interval import IntervalPhasors, estimate, voltage_report
from gridedge.meter.faults.location import FaultLocation, locate
from gridedge.meter.phasor import PhasorEstimator

logger = logging.getLogger(__name__)

KINDS = ("a-g", "b-c", "b-c-g", "a-b-c")
"""Fault kinds of a campaign, in turn."""

IEEE33_VOLTAGE_METERS = ("18", "22", "25", "33")
"""Buses of the IEEE 33-bus feeder with a voltage-only meter: the ends of its laterals."""

IEEE33_MIDDLE_METERS = ("10", "29")
"""Buses added by the denser plan: the middles of the two long runs, the trunk (bus 1 to 18,
17 sections) and the lateral from bus 6 to 33 (8 sections)."""


def ieee33_metered(voltage_buses: Sequence[str] = IEEE33_VOLTAGE_METERS) -> Grid:
    """Return the IEEE 33-bus feeder with a head meter and sparse voltage meters.

    The published case has no meters: ``"HEAD"`` measures bus 1 and line L1-2, and a
    voltage-only meter ``"V<bus>"`` sits at each of `voltage_buses`.
    """
    grid = ieee33()
    meters = [Meter("HEAD", "1", branch="L1-2", name="substation feeder head")]
    meters += [
        Meter(f"V{bus}", bus, channels=("Va", "Vb", "Vc"), name=f"voltage at bus {bus}")
        for bus in voltage_buses
    ]
    return grid.with_elements(meters=meters)


def ieee33_densely_metered() -> Grid:
    """The IEEE 33-bus feeder with the lateral ends' meters and the middles' as well."""
    return ieee33_metered(IEEE33_VOLTAGE_METERS + IEEE33_MIDDLE_METERS)


@dataclass(frozen=True)
class Case:
    """A network for a campaign: how to build it, its feeder-head meters, their settings."""

    build: Callable[[], Grid]
    heads: tuple[str, ...]
    detection: DetectionSettings = field(default_factory=DetectionSettings)


# Overcurrent pick-up above the IEEE 33-bus feeder's 210 A load with margin for its growth.
_IEEE33_DETECTION = DetectionSettings(overcurrent_a=340.0)

# Overcurrent pick-up above the CIGRE feeders' cable rating (145 A) with margin.
_CIGRE_DETECTION = DetectionSettings(overcurrent_a=300.0)

CASES = {
    "turin": Case(turin, ("M1", "M3")),
    "cigre_mv": Case(cigre_mv, ("HEAD1", "HEAD2"), _CIGRE_DETECTION),
    "ieee33": Case(ieee33_metered, ("HEAD",), _IEEE33_DETECTION),
    "ieee33-dense": Case(ieee33_densely_metered, ("HEAD",), _IEEE33_DETECTION),
}
"""The networks ``gridedge faults accuracy`` knows."""


@dataclass(frozen=True)
class Fault:
    """One fault of a campaign (the truth).

    Attributes
    ----------
    head : str
        Meter heading the faulted feeder.
    line, from_bus, to_bus : str
        Faulted section, oriented away from the head.
    distance_m : float
        Distance from `from_bus`.
    kind : str
    resistance_ohm : float
    open_end : bool
        Whether the section is open at its far end (a tie fed from one side): no meter lies
        beyond such a fault, and only the head's loop reactance places it along the section.
    """

    head: str
    line: str
    from_bus: str
    to_bus: str
    distance_m: float
    kind: str
    resistance_ohm: float
    open_end: bool = False


@dataclass(frozen=True)
class Outcome:
    """What the meter made of one fault.

    Attributes
    ----------
    fault : Fault
    detected : bool
    kind : FaultKind or None
        Classified kind.
    location : FaultLocation or None
        None when the fault was not detected or location failed.
    failure : str
        Why there is no location (empty when there is one).
    error_m : float
        Distance along the feeder between the located and the true point; NaN without a
        location.
    """

    fault: Fault
    detected: bool
    kind: FaultKind | None
    location: FaultLocation | None
    failure: str
    error_m: float

    @property
    def correct_pair(self) -> bool:
        """Whether the located bus pair is the true one."""
        return self.location is not None and self.location.line == self.fault.line


@dataclass(frozen=True)
class Campaign:
    """Timeline and measurement-chain parameters of a campaign.

    Attributes
    ----------
    fs : float
        Sampling rate of the DAQs, Hz.
    inception_s : float
        Fault inception after the start of each simulation, s (the pre-fault frames come
        before it).
    clearing_s : float
        Fault duration until the protection clears it, s.
    max_resistance_ohm : float
        Fault resistances are drawn uniformly from 0 to this.
    daq : DaqSettings
        The sensors and DAQ of every meter (12 bits by default, as in the paper).
    """

    fs: float = 3200.0
    inception_s: float = 0.7
    clearing_s: float = 0.2
    max_resistance_ohm: float = 20.0
    daq: DaqSettings = field(default_factory=DaqSettings)


def draw(case: Case, grid: Grid, count: int, seed: int, campaign: Campaign) -> list[Fault]:
    """Draw `count` faults: uniform over the length of every feeder's sections, kinds in turn."""
    rng = np.random.default_rng(seed)
    options = [
        (head, section) for head in case.heads for section in FeederModel(grid, head).sections
    ]
    lengths = np.array([section.length_m for _, section in options])
    faults = []
    for n in range(count):
        head, section = options[rng.choice(len(options), p=lengths / lengths.sum())]
        faults.append(
            Fault(
                head=head,
                line=section.line,
                from_bus=section.from_bus,
                to_bus=section.to_bus,
                distance_m=float(rng.uniform(0, section.length_m)),
                kind=KINDS[n % len(KINDS)],
                resistance_ohm=float(rng.uniform(0, campaign.max_resistance_ohm)),
                open_end=section.open_end,
            )
        )
    return faults


def run(
    name: str,
    count: int,
    seed: int = 1,
    campaign: Campaign | None = None,
) -> list[Outcome]:
    """Run a campaign of `count` faults on case `name` (a key of :data:`CASES`)."""
    case = CASES[name]
    campaign = campaign or Campaign()
    grid = case.build()
    feeders = {head: FeederModel(grid, head) for head in case.heads}
    outcomes = []
    for n, fault in enumerate(draw(case, grid, count, seed, campaign)):
        outcome = _one(grid, case, feeders[fault.head], fault, campaign, seed * 100_003 + n)
        logger.debug("%s -> %s", fault, outcome.location or outcome.failure)
        outcomes.append(outcome)
    return outcomes


@dataclass(frozen=True)
class Measured:
    """What the head meter and the downstream meters measured of one fault.

    Attributes
    ----------
    event : FaultEvent or None
        The head meter's detector event; None when it detected nothing.
    phasors : IntervalPhasors or None
        The head meter's phasors over the stable intervals; None without an event or when
        the samples hold no stable fault interval.
    failure : str
        Why `phasors` is None (empty otherwise).
    voltages : dict of str to ndarray
        Downstream meter -> phase-voltage magnitudes (3,) over the fault interval, V.
    voltage_uncertainty : dict of str to ndarray
        Their standard errors (3,), V, including the pre-fault magnitude's.
    prefault_voltages : dict of str to float
        Downstream meter -> positive-sequence magnitude over the pre-fault interval, V.
    """

    event: FaultEvent | None
    phasors: IntervalPhasors | None
    failure: str
    voltages: dict[str, NDArray[np.float64]]
    voltage_uncertainty: dict[str, NDArray[np.float64]]
    prefault_voltages: dict[str, float]

    def locate(self, feeder: FeederModel) -> FaultLocation:
        """Locate the fault from these measurements (:func:`locate`)."""
        if self.phasors is None:
            raise InvalidInputError(f"nothing to locate: {self.failure}")
        return locate(
            feeder,
            self.phasors.prefault,
            self.phasors.fault,
            self.voltages,
            uncertainty=self.phasors.uncertainty,
            voltage_uncertainty=self.voltage_uncertainty,
            prefault_voltages=self.prefault_voltages,
        )


def simulate(grid: Grid, fault: Fault, campaign: Campaign, seed: int) -> Simulation:
    """The waveform simulation of one fault: load, the fault, its clearing, 0.3 s of load."""
    line = grid.line(fault.line)
    fraction = fault.distance_m / (line.length_km * 1e3)
    if line.from_bus != fault.from_bus:
        fraction = 1.0 - fraction
    t0 = campaign.inception_s
    events = [
        FaultInception(t0, fault.line, fault.kind, fraction, fault.resistance_ohm),
        FaultClearance(t0 + campaign.clearing_s),
    ]
    duration = t0 + campaign.clearing_s + 0.3
    return Simulation(
        grid,
        events,
        WaveformSettings(fs=campaign.fs, duration_s=duration, seed=seed),
        campaign.daq,
    )


def measure(
    grid: Grid, case: Case, feeder: FeederModel, fault: Fault, campaign: Campaign, seed: int
) -> Measured:
    """Simulate one fault and return what the meters of its feeder report."""
    simulation = simulate(grid, fault, campaign, seed)
    head = feeder.head_meter.id
    samples, start, fs = _samples(simulation, head)
    estimator = PhasorEstimator(fs, start_time=start)
    detector = FaultDetector.for_meter(grid, head, estimator, case.detection)
    detected = detector.push(estimator.push(samples))
    if not detected:
        return Measured(None, None, "not detected", {}, {}, {})
    event = detected[0]
    try:
        phasors = estimate(samples, start, fs, None, event.inception_time)
    except InvalidInputError as exc:
        return Measured(event, None, f"no stable fault interval: {exc}", {}, {}, {})
    voltages, sigmas, before = {}, {}, {}
    for meter in feeder.meters:
        report = voltage_report(*_samples(simulation, meter), None, phasors.intervals)
        voltages[meter], sigmas[meter] = report.voltages, report.sigma
        before[meter] = report.prefault_voltage
    return Measured(event, phasors, "", voltages, sigmas, before)


def _samples(simulation: Simulation, meter: str) -> tuple[NDArray[np.float64], float, float]:
    """A meter's samples in primary units, their start time and fs."""
    stream = simulation.source(meter)
    _, raw = stream.read(1 << 30)
    return stream.scaling.to_primary(raw), stream.start_time, stream.fs


def _one(
    grid: Grid, case: Case, feeder: FeederModel, fault: Fault, campaign: Campaign, seed: int
) -> Outcome:
    measured = measure(grid, case, feeder, fault, campaign, seed)
    event = measured.event
    if event is None:
        return Outcome(fault, False, None, None, "not detected", math.nan)
    try:
        location = measured.locate(feeder)
    except GridedgeError as exc:
        return Outcome(fault, True, event.kind, None, str(exc), math.nan)
    return Outcome(fault, True, event.kind, location, "", _separation(feeder, fault, location))


def _separation(feeder: FeederModel, fault: Fault, location: FaultLocation) -> float:
    """Distance along the feeder between the true fault and the located one, m."""
    index = {s.line: k for k, s in enumerate(feeder.sections)}

    def reach(line: str, distance: float) -> dict[int, float]:
        """How far into each section on the way from the head the point lies, m."""
        k = index[line]
        depth = {k: distance}
        while feeder.parents[k] >= 0:
            k = feeder.parents[k]
            depth[k] = feeder.sections[k].length_m
        return depth

    true, found = reach(fault.line, fault.distance_m), reach(location.line, location.distance_m)
    # Sections on both paths count the difference, the others their whole share.
    return sum(
        abs(true[k] - found[k])
        if k in true and k in found
        else true.get(k, 0.0) + found.get(k, 0.0)
        for k in set(true) | set(found)
    )


def summary(outcomes: Sequence[Outcome], low_resistance_ohm: float = 10.0) -> str:
    """Markdown table of a campaign: all faults, by resistance band, by kind, ties apart."""
    groups: list[tuple[str, list[Outcome]]] = [("all", list(outcomes))]
    groups.append(
        (
            f"Rf <= {low_resistance_ohm:g} ohm",
            [o for o in outcomes if o.fault.resistance_ohm <= low_resistance_ohm],
        )
    )
    groups.append(
        (
            f"Rf > {low_resistance_ohm:g} ohm",
            [o for o in outcomes if o.fault.resistance_ohm > low_resistance_ohm],
        )
    )
    groups += [(kind, [o for o in outcomes if o.fault.kind == kind]) for kind in KINDS]
    groups += [
        ("on ties (open at the far end)", [o for o in outcomes if o.fault.open_end]),
        ("elsewhere", [o for o in outcomes if not o.fault.open_end]),
    ]
    lines = [
        "| faults | n | detected | kind right | bus pair right | distance error p50 / p95 / "
        "max (m) | within 3 sigma | ambiguous |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, group in groups:
        if not group:
            continue
        n = len(group)
        errors = np.array([o.error_m for o in group if o.location is not None])
        spread = (
            " / ".join(f"{v:.1f}" for v in np.percentile(errors, [50, 95, 100]))
            if errors.size
            else "-"
        )
        # Whether the location's own standard deviation covers the error (pair right).
        covered = sum(
            o.correct_pair and o.error_m <= 3 * o.location.distance_sigma_m for o in group
        )
        lines.append(
            f"| {label} | {n} | {_share(sum(o.detected for o in group), n)} "
            f"| {_share(sum(o.kind == FaultKind.parse(o.fault.kind) for o in group), n)} "
            f"| {_share(sum(o.correct_pair for o in group), n)} | {spread} "
            f"| {_share(covered, n)} "
            f"| {_share(sum(o.location is not None and o.location.ambiguous for o in group), n)} |"
        )
    return "\n".join(lines)


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({100 * count / total:.0f} %)"
