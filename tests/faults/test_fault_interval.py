"""Phasors over a fault's whole stable interval: the intervals found, the phasors against the
simulator's steady states, standard errors that match the errors, the DC offset, off-nominal
frequency, the downstream meters' reports, and bad input."""

import math

import numpy as np
import pytest

from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid.cases import turin
from gridedge.grid.daq import DaqSettings
from gridedge.grid.waveform import (
    FaultClearance,
    FaultInception,
    Simulation,
    SwitchOperation,
    WaveformSettings,
)
from gridedge.meter.faults.interval import (
    IntervalSettings,
    estimate,
    sample_noise,
    voltage_report,
)

FS = 3200.0
DAQ = DaqSettings()


@pytest.fixture(scope="module")
def grid():
    return turin()


def recorded(grid, meter, events, seed=0, frequency=None, duration=1.3):
    """A meter's samples in primary units, their noise (6,) and the simulation."""
    settings = WaveformSettings(fs=FS, duration_s=duration, seed=seed, frequency_hz=frequency)
    simulation = Simulation(grid, events, settings, DAQ)
    stream = simulation.source(meter)
    _, raw = stream.read(1 << 30)
    noise = np.abs(stream.scaling.gain) * DAQ.noise_rms_v
    return stream.scaling.to_primary(raw), noise, simulation


def fault(t0, line="F1-04", kind="b-c-g", resistance=5.0, duration=0.2):
    return [FaultInception(t0, line, kind, 0.4, resistance), FaultClearance(t0 + duration)]


def test_the_intervals_hold_only_stable_samples(grid) -> None:
    t0 = 0.7
    samples, noise, _ = recorded(grid, "M1", fault(t0))
    # The detector knows the inception to a frame: any time in the next 20 ms will do.
    for near in (t0, t0 + 0.012, t0 + 0.02):
        phasors = estimate(samples, 0.0, FS, noise, near)
        first, last = phasors.inception
        assert first <= t0 <= last
        assert last - first < 0.02
        assert phasors.prefault_interval[1] < t0
        assert phasors.prefault_interval[1] - phasors.prefault_interval[0] == pytest.approx(
            0.5, abs=1 / FS
        )
        assert t0 + 0.02 <= phasors.fault_interval[0] < t0 + 0.03
        # Cleared at t0 + 0.2: at most half a cycle is lost at the end.
        assert t0 + 0.19 <= phasors.fault_interval[1] < t0 + 0.2
        assert phasors.cleared


def test_samples_that_end_as_the_breaker_opens_keep_the_opening_out(grid) -> None:
    # A meter fits when its detector declares the fault, which may be a few samples after the
    # protection opened the breaker: a clearing too recent to show in a one-cycle window
    # must still be left out of the fault interval, or every meter fits a dead feeder into it.
    t0, opening = 0.7, 1.0
    events = [
        FaultInception(t0, "F1-04", "a-g", 0.4, 1.0),
        SwitchOperation(opening, "F1-01@PS1-MV", False),
    ]
    samples, noise, _ = recorded(grid, "M1", events)
    cleared_at = math.ceil(opening * FS)
    for end in range(cleared_at - 4, cleared_at + 40):
        phasors = estimate(samples[:end], 0.0, FS, noise, t0)
        assert phasors.fault_interval[1] < opening, end - cleared_at
        assert phasors.fault_interval[1] > opening - 0.01 - max(0, cleared_at - end) / FS


def test_standard_errors_match_the_errors(grid) -> None:
    # Over a dozen faults, errors against the simulator's steady states, in units of their
    # standard errors, have an RMS near one: the DAQ's noise is propagated, not guessed.
    scores = []
    for seed, kind in enumerate(["a-g", "b-c", "b-c-g", "a-b-c"] * 3):
        t0 = 0.7
        events = fault(t0, kind=kind, resistance=3.0 * seed)
        samples, noise, simulation = recorded(grid, "M1", events, seed=seed)
        phasors = estimate(samples, 0.0, FS, noise, t0 + 0.01)
        truth = simulation.phasors("M1", phasors.time), simulation.phasors("M1", 0.3)
        scores.append(np.abs(phasors.fault - truth[0]) / phasors.fault_sigma)
        scores.append(np.abs(phasors.prefault - truth[1]) / phasors.prefault_sigma)
    rms = math.sqrt(np.mean(np.square(scores)))
    assert 0.8 < rms < 1.25
    assert np.max(scores) < 5


def test_a_slow_dc_offset_is_fitted_not_mistaken_for_the_clearing(grid) -> None:
    # A bolted fault next to the primary substation: the transformer's X/R near 50 keeps
    # the offset for tens of milliseconds.
    t0 = 0.7
    events = fault(t0, line="F1-01", kind="a-b-c", resistance=0.0)
    samples, noise, simulation = recorded(grid, "M1", events)
    phasors = estimate(samples, 0.0, FS, noise, t0 + 0.01)
    inception = simulation.segment_at(int(t0 * FS) + 1)
    assert inception.tau_s > 0.05
    assert phasors.time_constant_s == pytest.approx(inception.tau_s, rel=0.1)
    assert phasors.fault_interval[1] > t0 + 0.19
    truth = simulation.phasors("M1", phasors.time)
    assert np.all(np.abs(phasors.fault - truth) < 5 * phasors.fault_sigma)


def test_off_nominal_frequency_is_measured_and_followed(grid) -> None:
    t0 = 0.7
    samples, noise, simulation = recorded(grid, "M1", fault(t0, kind="a-g"), frequency=49.8)
    phasors = estimate(samples, 0.0, FS, noise, t0 + 0.01)
    assert phasors.frequency_hz == pytest.approx(49.8, abs=3 * phasors.frequency_sigma_hz)
    assert phasors.frequency_sigma_hz < 1e-3
    # Both sets on one time base: the healthy phases carry no superimposed current.
    before = simulation.phasors("M1", 0.3)
    turned = before * np.exp(-2j * np.pi * 0.2 * (phasors.time - 0.3))
    assert np.all(np.abs(phasors.prefault - turned) < 5 * phasors.prefault_sigma)
    change = np.abs(phasors.fault[3:] - phasors.prefault[3:])
    assert change[1:].max() < 0.01 * change[0]


def test_downstream_meters_report_over_the_heads_intervals(grid) -> None:
    t0 = 0.7
    events = fault(t0, kind="b-c", resistance=8.0)
    samples, noise, simulation = recorded(grid, "M1", events, seed=4)
    head = estimate(samples, 0.0, FS, noise, t0 + 0.01)
    scores = []
    for meter in ("M4", "M5", "M6", "M7", "M8"):
        stream = simulation.source(meter)
        _, raw = stream.read(1 << 30)
        report = voltage_report(
            stream.scaling.to_primary(raw),
            0.0,
            FS,
            np.abs(stream.scaling.gain) * DAQ.noise_rms_v,
            head.intervals,
        )
        truth = np.abs(simulation.phasors(meter, head.time)[:3])
        scores.append((report.voltages - truth) / report.sigma)
        normal = simulation.phasors(meter, 0.3)[:3] @ np.exp(2j * np.pi * np.arange(3) / 3) / 3
        assert report.prefault_voltage == pytest.approx(abs(normal), abs=5 * report.sigma.min())
    assert np.max(np.abs(scores)) < 5


def test_without_the_daqs_noise_the_meters_take_it_from_their_samples(grid) -> None:
    t0 = 0.7
    samples, noise, simulation = recorded(grid, "M1", fault(t0, kind="a-g", resistance=2.0))
    told = estimate(samples, 0.0, FS, noise, t0 + 0.01)
    found = estimate(samples, 0.0, FS, None, t0 + 0.01)
    # The scatter about the fit of 0.5 s of samples: its standard deviation within a few
    # per cent of the DAQ model's (1 LSB of noise and the rounding).
    assert found.fault_sigma == pytest.approx(told.fault_sigma, rel=0.08)
    assert found.prefault_sigma == pytest.approx(told.prefault_sigma, rel=0.08)
    assert np.all(np.abs(found.fault - told.fault) < 0.1 * told.fault_sigma)
    stream = simulation.source("M5")
    _, raw = stream.read(1 << 30)
    voltages = stream.scaling.to_primary(raw)
    assert sample_noise(voltages[: int(0.5 * FS), :3], FS, 50.0) == pytest.approx(
        np.abs(stream.scaling.gain[:3]) * DAQ.noise_rms_v, rel=0.08
    )
    report = voltage_report(voltages, 0.0, FS, None, found.intervals)
    known = voltage_report(
        voltages, 0.0, FS, np.abs(stream.scaling.gain) * DAQ.noise_rms_v, found.intervals
    )
    assert report.sigma == pytest.approx(known.sigma, rel=0.08)
    assert report.voltages == pytest.approx(known.voltages, rel=1e-12)
    with pytest.raises(InvalidInputError, match="too few to tell their noise"):
        sample_noise(voltages[:100, :3], FS, 50.0)
    with pytest.raises(InvalidInputError, match="noise must hold 3"):
        sample_noise(np.zeros((int(0.1 * FS), 3)), FS, 50.0)


def test_bad_samples_and_short_faults_are_refused(grid) -> None:
    t0 = 0.7
    samples, noise, _ = recorded(grid, "M1", fault(t0, duration=0.03))
    with pytest.raises(InvalidInputError, match="fewer than 1 cycles"):
        estimate(samples, 0.0, FS, noise, t0 + 0.01)
    with pytest.raises(InvalidInputError, match=r"must cover 0\.5 s before the fault"):
        estimate(samples[int(0.5 * FS) :], 0.5, FS, noise, t0 + 0.01)
    with pytest.raises(InvalidInputError, match="no fault current change"):
        estimate(samples, 0.0, FS, noise, 1.1)
    broken = samples.copy()
    broken[5, 4] = np.nan
    with pytest.raises(InvalidInputError, match="channel\\(s\\) Ib are not finite"):
        estimate(broken, 0.0, FS, noise, t0)
    with pytest.raises(InvalidInputError, match="shape"):
        estimate(samples[:, :5], 0.0, FS, noise, t0)
    with pytest.raises(InvalidInputError, match="noise must hold 6"):
        estimate(samples, 0.0, FS, -noise, t0)
    with pytest.raises(InvalidInputError, match="whole multiple"):
        estimate(samples, 0.0, 3000.5, noise, t0)
    with pytest.raises(ConfigurationError, match="clearing_fraction"):
        IntervalSettings(clearing_fraction=1.5)
    with pytest.raises(ConfigurationError, match="max_time_constant_s"):
        IntervalSettings(max_time_constant_s=0.001)
