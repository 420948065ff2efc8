"""Fault detection: an hour of normal operation without a false alarm, simulated faults of
every kind detected and classified, the phasor sets, and streaming details."""

import math

import numpy as np
import pytest

from gridedge import config
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid import FaultKind
from gridedge.grid.cases import turin
from gridedge.grid.waveform import FaultClearance, FaultInception, Simulation, WaveformSettings
from gridedge.meter.faults import DetectionSettings, FaultDetector, FeederModel, classify, locate
from gridedge.meter.phasor import Frames, PhasorEstimator

FS = 3200.0
RATE = 50.0
NOMINAL = 22e3 / math.sqrt(3)
A = np.exp(2j * np.pi / 3)


@pytest.fixture(scope="module")
def grid():
    return turin()


def normal_hour(seed: int) -> Frames:
    """One hour of a 22 kV feeder head at 50 frames/s: load swings, steps and switching.

    The load current wanders between about 5 and 60 A with 2 % unbalance; 120 load steps of
    up to 40 A; 60 switching transients (a frame or two of a 25 % voltage dip with a current
    spike to 150 A: each frame picks up on undervoltage, too briefly to confirm); 40 frames
    lost; voltage within +-6 % with 0.2 % noise.
    """
    rng = np.random.default_rng(seed)
    n = int(3600 * RATE)
    time = np.arange(n) / RATE
    walk = np.cumsum(rng.normal(0, 0.01, n))
    level = 20 * np.exp(0.6 * np.sin(2 * np.pi * time / 1800) + 0.3 * np.tanh(walk / 3))
    steps = np.zeros(n)
    for at in rng.integers(0, n, 120):
        steps[at:] += rng.uniform(-40, 40)
    load = np.clip(level + steps - np.minimum(steps.min(), 0), 5, 60)
    voltage = NOMINAL * (1 + 0.05 * np.sin(2 * np.pi * time / 2400) + rng.normal(0, 0.002, n))
    dip = np.ones(n)
    spike = np.zeros(n)
    for at in rng.integers(0, n - 2, 60):
        length = int(rng.integers(1, 3))
        dip[at : at + length] = 0.75
        spike[at : at + length] = 150.0
    phases = np.array([1, A * A, A])
    unbalance = np.array([1.0, 0.98, 1.02])
    angle = np.exp(-1j * np.arccos(0.95))
    phasor = np.empty((n, 6), dtype=np.complex128)
    phasor[:, :3] = (voltage * dip)[:, None] * phases
    current = ((load + spike)[:, None] * unbalance + rng.normal(0, 0.5, (n, 3))) * angle
    phasor[:, 3:] = current * phases
    valid = np.ones(n, dtype=bool)
    lost = rng.integers(0, n, 40)
    valid[lost] = False
    phasor[lost] = np.nan
    frequency = 50 + 0.02 * np.sin(2 * np.pi * time / 600)
    return Frames(time, phasor, frequency, np.zeros(n), valid)


def steady(n: int, current: float = 20.0) -> Frames:
    """`n` frames of a balanced feeder head at nominal voltage, from time 0."""
    phases = np.array([1, A * A, A])
    phasor = np.concatenate([NOMINAL * phases, current * phases])[None, :].repeat(n, axis=0)
    return Frames(np.arange(n) / RATE, phasor, np.full(n, 50.0), np.zeros(n), np.ones(n, bool))


@pytest.mark.parametrize(("confirm", "alarms"), [(3, False), (1, True)])
def test_an_hour_of_normal_operation_raises_no_fault(confirm, alarms) -> None:
    frames = normal_hour(7)
    detector = FaultDetector(NOMINAL, DetectionSettings(confirm_frames=confirm))
    events = []
    for start in range(0, len(frames), 500):
        rows = slice(start, start + 500)
        events += detector.push(
            Frames(
                frames.time[rows],
                frames.phasor[rows],
                frames.frequency[rows],
                frames.rocof[rows],
                frames.valid[rows],
            )
        )
    # Confirming on the first picked-up frame would mistake the switching transients.
    assert bool(events) == alarms


def simulated(grid, events, seconds, seed=3, frequency=None):
    settings = WaveformSettings(fs=FS, duration_s=seconds, seed=seed, frequency_hz=frequency)
    simulation = Simulation(grid, events, settings)
    stream = simulation.source("M1")
    estimator = PhasorEstimator(FS, scaling=stream.scaling)
    return simulation, estimator, estimator.push(stream.read(1 << 30)[1])


@pytest.mark.parametrize("kind", ["a-g", "b-c", "b-c-g", "a-b-c", "c-a-g", "a-b"])
@pytest.mark.parametrize("resistance", [0.0, 15.0])
def test_simulated_faults_are_detected_and_classified(grid, kind, resistance) -> None:
    t0 = 0.9
    simulation, estimator, frames = simulated(
        grid, [FaultInception(t0, "F1-05", kind, 0.4, resistance), FaultClearance(t0 + 0.3)], 1.6
    )
    detector = FaultDetector.for_meter(grid, "M1", estimator)
    (event,) = detector.push(frames)
    assert event.kind == FaultKind.parse(kind)
    assert t0 <= event.inception_time <= t0 + 1 / RATE + 1e-9
    assert event.detection_time <= t0 + 0.08
    assert event.prefault_frames == DetectionSettings().prefault_frames
    assert event.fault_frames >= 8
    assert event.cleared_time is None  # delivered before the clearance
    # The sets match the simulator's steady states to the 12-bit chain's precision.
    truth = simulation.segment_at(int((t0 + 0.1) * FS)).phasors[simulation.meter_index("M1")]
    before = simulation.segments[0].phasors[simulation.meter_index("M1")]
    assert np.abs(event.fault - truth).max() < 5 * event.fault_sigma.max() + 5.0
    assert np.abs(event.prefault - before).max() < 5 * event.prefault_sigma.max() + 1.0
    assert event.uncertainty is not None


def test_a_fault_cleared_quickly_still_yields_clean_frames(grid) -> None:
    t0 = 0.9
    _, estimator, frames = simulated(
        grid, [FaultInception(t0, "F1-02", "a-g", 0.5, 0.0), FaultClearance(t0 + 0.12)], 1.4
    )
    detector = FaultDetector.for_meter(grid, "M1", estimator)
    (event,) = detector.push(frames)
    assert event.cleared_time is not None
    # Windows reach 30 ms either side: clean frames lie 70 to 90 ms after inception.
    assert 1 <= event.fault_frames <= 2
    assert np.all(np.isfinite(event.fault))
    assert detector.state == "normal"  # quiet for reset_frames since


def test_a_fault_too_short_for_a_clean_frame_gives_no_fault_set(grid) -> None:
    t0 = 0.9
    _, estimator, frames = simulated(
        grid, [FaultInception(t0, "F1-02", "b-c", 0.5, 0.0), FaultClearance(t0 + 0.07)], 1.4
    )
    detector = FaultDetector.for_meter(grid, "M1", estimator)
    (event,) = detector.push(frames)
    assert event.fault_frames == 0
    assert event.kind == FaultKind.parse("b-c")  # from the confirming frame
    assert np.all(np.isnan(event.fault))
    assert event.uncertainty is None
    with pytest.raises(InvalidInputError, match="not finite"):
        locate(FeederModel(grid, "M1"), event.prefault, event.fault)


def test_off_nominal_frequency_keeps_the_sets_on_one_time_base(grid) -> None:
    t0 = 0.9
    _, estimator, frames = simulated(
        grid,
        [FaultInception(t0, "F1-04", "a-g", 0.37, 2.0), FaultClearance(t0 + 0.3)],
        1.6,
        frequency=49.7,
    )
    (event,) = FaultDetector.for_meter(grid, "M1", estimator).push(frames)
    # Misaligned sets would leave superimposed currents in the healthy phases.
    change = np.abs(event.fault[3:] - event.prefault[3:])
    assert change[1:].max() < 0.01 * change[0]
    assert classify(event.prefault, event.fault) == FaultKind.parse("a-g")
    located = locate(FeederModel(grid, "M1"), event.prefault, event.fault, kind="a-g")
    assert located.line == "F1-04"


def test_frames_one_at_a_time_give_the_same_event(grid) -> None:
    _, estimator, frames = simulated(
        grid, [FaultInception(0.9, "F1-03", "b-c-g", 0.6, 5.0), FaultClearance(1.2)], 1.6
    )
    (whole,) = FaultDetector.for_meter(grid, "M1", estimator).push(frames)
    detector = FaultDetector.for_meter(grid, "M1", estimator)
    pieces = []
    for k in range(len(frames)):
        rows = slice(k, k + 1)
        pieces += detector.push(
            Frames(
                frames.time[rows],
                frames.phasor[rows],
                frames.frequency[rows],
                frames.rocof[rows],
                frames.valid[rows],
            )
        )
    (single,) = pieces
    assert single.inception_time == whole.inception_time
    assert np.allclose(single.fault, whole.fault)
    assert np.allclose(single.prefault, whole.prefault)


def test_undervoltage_needs_a_current_change() -> None:
    n = 200
    time = np.arange(n) / RATE
    phasor = np.empty((n, 6), dtype=np.complex128)
    phases = np.array([1, A * A, A])
    # An upstream dip to 60 % with the load current unchanged: not this feeder's fault.
    phasor[:, :3] = NOMINAL * np.where(time[:, None] > 2, 0.6, 1.0) * phases
    phasor[:, 3:] = 20.0 * phases
    frames = Frames(time, phasor, np.full(n, 50.0), np.zeros(n), np.ones(n, dtype=bool))
    assert FaultDetector(NOMINAL).push(frames) == []
    # The same dip with the current rising by 150 A: a fault below the overcurrent pick-up.
    phasor[:, 3:] = np.where(time[:, None] > 2, 170.0, 20.0) * phases
    (event,) = FaultDetector(NOMINAL).push(
        Frames(time, phasor, np.full(n, 50.0), np.zeros(n), np.ones(n, dtype=bool))
    )
    assert event.kind == FaultKind.parse("a-b-c")


def test_settings_are_checked_and_loaded_from_the_environment() -> None:
    with pytest.raises(ConfigurationError, match="overcurrent_a must be > 0"):
        DetectionSettings(overcurrent_a=-1.0)
    with pytest.raises(ConfigurationError, match="confirm_frames"):
        DetectionSettings(confirm_frames=0)
    settings = config.load(
        DetectionSettings,
        section="detection",
        environ={"GRIDEDGE_DETECTION_OVERCURRENT_A": "500", "GRIDEDGE_DETECTION_FAULT_FRAMES": "4"},
    )
    assert settings.overcurrent_a == 500.0
    assert settings.fault_frames == 4
    with pytest.raises(ConfigurationError, match="span_s"):
        FaultDetector(NOMINAL, window_s=0.03, span_s=0.02)
    detector = FaultDetector(NOMINAL)
    block = steady(10)
    detector.push(block)
    with pytest.raises(InvalidInputError, match="increase"):
        detector.push(block)
