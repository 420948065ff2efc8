"""Accuracy of fault detection and location, end to end through simulated waveforms.

Each fault of a campaign is a timeline for the waveform simulator (:mod:`gridedge.grid.waveform`):
steady load, then a fault of a random kind, resistance and position on a random section of a
feeder, cleared after ``clearing_s``. Every meter's signals pass through the 12-bit DAQ model
and the phasor estimator (:class:`gridedge.meter.phasor.PhasorEstimator`, native kernel); the
head meter's frames feed a :class:`FaultDetector`, and the downstream meters report their
mean phase-voltage magnitudes (and standard errors) over the frames of the head meter's
during-fault set - what the head meter would ask them for. :func:`locate` then runs with the
detector's phasor sets, its uncertainty and the classified kind.

``gridedge faults accuracy --case turin`` runs a campaign and prints the table.
"""

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import GridedgeError
from gridedge.grid import FaultKind, Grid, Meter
from gridedge.grid.cases import ieee33, turin
from gridedge.grid.daq import DaqSettings
from gridedge.grid.waveform import FaultClearance, FaultInception, Simulation, WaveformSettings
from gridedge.meter.faults.detection import DetectionSettings, FaultDetector, FaultEvent
from gridedge.meter.faults.feeder import FeederModel
from gridedge.meter.faults.location import FaultLocation, locate
from gridedge.meter.phasor import Frames, PhasorEstimator

logger = logging.getLogger(__name__)

KINDS = ("a-g", "b-c", "b-c-g", "a-b-c")
"""Fault kinds of a campaign, in turn."""

IEEE33_VOLTAGE_METERS = ("18", "22", "25", "33")
"""Buses of the IEEE 33-bus feeder with a voltage-only meter: the ends of its laterals."""


def ieee33_metered() -> Grid:
    """Return the IEEE 33-bus feeder with a head meter and sparse voltage meters.

    The published case has no meters: ``"HEAD"`` measures bus 1 and line L1-2, and a
    voltage-only meter ``"V<bus>"`` sits at each bus of :data:`IEEE33_VOLTAGE_METERS`.
    """
    grid = ieee33()
    meters = [Meter("HEAD", "1", branch="L1-2", name="substation feeder head")]
    meters += [
        Meter(f"V{bus}", bus, channels=("Va", "Vb", "Vc"), name=f"voltage at bus {bus}")
        for bus in IEEE33_VOLTAGE_METERS
    ]
    return grid.with_elements(meters=meters)


@dataclass(frozen=True)
class Case:
    """A network for a campaign: how to build it, its feeder-head meters, their settings."""

    build: Callable[[], Grid]
    heads: tuple[str, ...]
    detection: DetectionSettings = field(default_factory=DetectionSettings)


CASES = {
    "turin": Case(turin, ("M1", "M3")),
    # Overcurrent pick-up above the feeder's 210 A load with margin for its growth.
    "ieee33": Case(ieee33_metered, ("HEAD",), DetectionSettings(overcurrent_a=340.0)),
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
    """

    head: str
    line: str
    from_bus: str
    to_bus: str
    distance_m: float
    kind: str
    resistance_ohm: float


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
    voltages : dict of str to ndarray
        Downstream meter -> mean phase-voltage magnitudes (3,) over the event's during-fault
        frames, V.
    voltage_uncertainty : dict of str to ndarray
        Their standard errors (3,), V, for the meters with two frames or more.
    """

    event: FaultEvent | None
    voltages: dict[str, NDArray[np.float64]]
    voltage_uncertainty: dict[str, NDArray[np.float64]]


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
    frames = {
        meter: _frames(simulation, meter, campaign.fs)
        for meter in (feeder.head_meter.id, *feeder.meters)
    }
    estimator = PhasorEstimator(campaign.fs)
    detector = FaultDetector.for_meter(grid, feeder.head_meter.id, estimator, case.detection)
    detected = detector.push(frames[feeder.head_meter.id])
    if not detected:
        return Measured(None, {}, {})
    event = detected[0]
    period = 1.0 / estimator.reporting_rate
    window = (event.time - (event.fault_frames - 0.5) * period, event.time + 0.5 * period)
    voltages, sigmas = {}, {}
    for meter in feeder.meters:
        voltages[meter], sigma = _report(frames[meter], window)
        if sigma is not None:
            sigmas[meter] = sigma
    return Measured(event, voltages, sigmas)


def _one(
    grid: Grid, case: Case, feeder: FeederModel, fault: Fault, campaign: Campaign, seed: int
) -> Outcome:
    measured = measure(grid, case, feeder, fault, campaign, seed)
    event = measured.event
    if event is None:
        return Outcome(fault, False, None, None, "not detected", math.nan)
    if event.fault_frames == 0:
        return Outcome(fault, True, event.kind, None, "no clean fault frame", math.nan)
    try:
        location = locate(
            feeder,
            event.prefault,
            event.fault,
            measured.voltages,
            uncertainty=event.uncertainty,
            voltage_uncertainty=measured.voltage_uncertainty,
        )
    except GridedgeError as exc:
        return Outcome(fault, True, event.kind, None, str(exc), math.nan)
    return Outcome(fault, True, event.kind, location, "", _separation(feeder, fault, location))


def _frames(simulation: Simulation, meter: str, fs: float) -> Frames:
    stream = simulation.source(meter)
    estimator = PhasorEstimator(fs, scaling=stream.scaling, start_time=stream.start_time)
    _, samples = stream.read(1 << 30)
    return estimator.push(samples)


def _report(
    frames: Frames, window: tuple[float, float]
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Mean phase-voltage magnitudes over `window`, V, and their standard errors if known."""
    rows = (frames.time > window[0]) & (frames.time < window[1]) & frames.valid
    magnitude = np.abs(frames.voltage[rows])
    if magnitude.shape[0] < 2:
        return (magnitude.mean(axis=0) if magnitude.size else np.full(3, np.nan)), None
    mean = magnitude.mean(axis=0)
    error = magnitude.std(axis=0, ddof=1) / math.sqrt(magnitude.shape[0])
    # Identical frames (a noise-free chain) would claim a perfect measurement.
    return mean, np.maximum(error, 1e-6 * mean)


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
    """Markdown table of a campaign: all faults, by resistance band and by kind."""
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
    lines = [
        "| faults | n | detected | kind right | bus pair right | distance error p50 / p95 / "
        "max (m) | ambiguous |",
        "|---|---|---|---|---|---|---|",
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
        lines.append(
            f"| {label} | {n} | {_share(sum(o.detected for o in group), n)} "
            f"| {_share(sum(o.kind == FaultKind.parse(o.fault.kind) for o in group), n)} "
            f"| {_share(sum(o.correct_pair for o in group), n)} | {spread} "
            f"| {_share(sum(o.location is not None and o.location.ambiguous for o in group), n)} |"
        )
    return "\n".join(lines)


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({100 * count / total:.0f} %)"
