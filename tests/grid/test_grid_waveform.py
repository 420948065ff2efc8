"""The waveform simulator: DAQ streams, determinism, transients, and phasors end to end."""

import math
import time

import numpy as np
import pytest

from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid.cases import turin
from gridedge.grid.daq import DaqSettings
from gridedge.grid.waveform import (
    FaultClearance,
    FaultInception,
    LoadChange,
    Simulation,
    SwitchOperation,
    WaveformSettings,
)
from gridedge.meter.acquisition import Source
from gridedge.meter.phasor import PhasorEstimator

FS = 6400.0
FAULT = FaultInception(0.2, "F1-04", "a-g", 0.37, 1.0)
TRIP = SwitchOperation(0.3, "F1-01@PS1-MV", False)


@pytest.fixture(scope="module")
def grid():
    return turin()


@pytest.fixture(scope="module")
def simulation(grid):
    return Simulation(grid, [FAULT, TRIP], WaveformSettings(fs=FS, duration_s=0.5, seed=7))


def test_streams_are_acquisition_sources(simulation) -> None:
    streams = simulation.sources()
    assert sorted(streams) == sorted(f"M{i}" for i in range(1, 15))
    for stream in streams.values():
        assert isinstance(stream, Source)
        assert stream.fs == FS
        assert stream.scaling.gain.shape == (6,)
    first, samples = streams["M1"].read(100)
    assert first == 0
    assert samples.shape == (100, 6)
    assert samples.dtype == np.float64


def test_samples_are_12_bit_codes_in_the_sensor_span(simulation) -> None:
    _, samples = simulation.source("M2").read(3200)
    lsb = DaqSettings().lsb_v
    codes = (samples + 10.0) / lsb
    assert np.allclose(codes, np.round(codes), atol=1e-9)
    assert samples.min() >= -5 * lsb
    assert samples.max() <= 10.0 + 5 * lsb


def test_deterministic_and_independent_of_chunking(grid) -> None:
    settings = WaveformSettings(fs=FS, duration_s=1.5, seed=3)
    whole = Simulation(grid, [FAULT], settings).source("M5").read(10_000)[1]
    stream = Simulation(grid, [FAULT], settings).source("M5")
    pieces, first = [], 0
    for size in (1, 700, 4096, 333, 5000):
        index, chunk = stream.read(size)
        assert index == first
        first += len(chunk)
        pieces.append(chunk)
    assert np.array_equal(np.concatenate(pieces), whole[:first])
    other = Simulation(grid, [FAULT], WaveformSettings(fs=FS, duration_s=1.5, seed=4))
    assert not np.array_equal(other.source("M5").read(10_000)[1], whole)


def test_exhausted_and_closed_streams_return_no_rows(simulation) -> None:
    stream = simulation.source("M3")
    assert stream.read(10_000)[1].shape == (3200, 6)
    assert stream.read(10) == (3200, pytest.approx(np.empty((0, 6))))
    again = simulation.source("M3")
    again.close()
    first, rows = again.read(10)
    assert (first, rows.shape) == (0, (0, 6))


def test_current_is_continuous_at_inception_and_its_offset_decays(simulation) -> None:
    start = simulation.segments[1].start
    current = simulation.primary("M1", start - 2, 200)[:, 3]
    fault_peak = math.sqrt(2) * abs(simulation.segments[1].phasors[0, 3])
    steps = np.abs(np.diff(current))
    # Continuous: the step at inception is no larger than one sample of the fault waveform.
    assert steps[1] <= 2 * math.pi * 50 / FS * fault_peak * 1.01
    tau = simulation.segments[1].tau_s
    assert 1e-3 < tau < 0.1
    offset = simulation.segments[1].dc[0, 0]
    assert abs(offset) > 0.1 * fault_peak
    later = start + round(6 * tau * FS)
    without = Simulation(
        simulation.grid, [FAULT, TRIP], WaveformSettings(fs=FS, dc_offset=False)
    ).primary("M1", later, 1)
    assert abs(simulation.primary("M1", later, 1)[0, 3] - without[0, 3]) < 0.01 * abs(offset)


def _errors(simulation, meter_id, times, frames):
    rows = [int(np.argmin(np.abs(frames.time - t))) for t in times]
    expected = np.array([simulation.phasors(meter_id, frames.time[r]) for r in rows])
    return np.abs(frames.phasor[rows] - expected), expected


def test_phasors_recovered_through_the_meter_estimator(simulation) -> None:
    """The estimator recovers every meter's phasors within the 12-bit DAQ's noise.

    Each sample carries quantisation (LSB^2 / 12) and input noise (noise_lsb LSB rms), in
    primary units gain x LSB x sqrt(1/12 + noise_lsb^2). The two-cycle Hann window of N
    samples turns white noise of deviation s into a phasor error of deviation
    s sqrt(2 sum w^2) / sum w = s sqrt(3 / N); its magnitude is Rayleigh distributed, so
    exceeding 5 deviations has odds of e^-25. Frames are taken in steady states, clear of
    the transitions by the estimator's reach.
    """
    daq = DaqSettings()
    window = 2 * FS / 50
    times = [0.1, 0.15, 0.26, 0.28, 0.42, 0.46]
    for meter_id, stream in simulation.sources().items():
        _, samples = stream.read(3200)
        estimator = PhasorEstimator(FS, 50.0, 50.0, scaling=stream.scaling)
        frames = estimator.push(samples)
        errors, expected = _errors(simulation, meter_id, times, frames)
        sample_noise = stream.scaling.gain * daq.lsb_v * math.sqrt(1 / 12 + daq.noise_lsb**2)
        allowed = 5 * sample_noise * math.sqrt(3 / window)
        assert np.all(errors <= allowed), (meter_id, errors / allowed)
        # And the voltages are right to a fraction of a percent.
        assert np.all(errors[:, :3] <= 3e-3 * np.abs(expected[:, :3]).max())


def test_harmonics_and_frequency_deviation(grid) -> None:
    settings = WaveformSettings(
        fs=FS, frequency_hz=50.5, harmonic_orders=(3, 5), harmonic_fractions=(0.03, 0.05),
        duration_s=0.5,
    )  # fmt: skip
    simulation = Simulation(grid, [], settings)
    stream = simulation.source("M1")
    frames = PhasorEstimator(FS, 50.0, 50.0, scaling=stream.scaling).push(stream.read(3200)[1])
    assert np.nanmax(np.abs(frames.frequency - 50.5)) < 5e-3
    errors, expected = _errors(simulation, "M1", [0.1, 0.2, 0.3, 0.4], frames)
    # Total vector error of the voltages below 0.1 % (harmonics rejected, rotation followed).
    assert np.max(errors[:, :3] / np.abs(expected[:, :3])) < 1e-3
    one_cycle = simulation.primary("M1", 0, 128)[:, 0]
    spectrum = np.abs(np.fft.rfft(one_cycle))
    assert spectrum[5] / spectrum[1] == pytest.approx(0.05, rel=0.1)


def test_protection_trip_and_load_change(grid) -> None:
    load = grid.loads[0]
    events = [
        FAULT,
        TRIP,
        FaultClearance(0.35),
        SwitchOperation(0.4, "F1-01@PS1-MV", True),
        LoadChange(0.45, load.id, 10 * load.p_kw, 10 * load.q_kvar),
    ]
    simulation = Simulation(grid, events, WaveformSettings(fs=FS))
    assert len(simulation.segments) == 6
    m1 = simulation.meter_index("M1")
    m4 = simulation.meter_index("M4")  # SS01, on the tripped feeder
    assert np.all(simulation.segments[2].phasors[m4] == 0)  # tripped: dead
    assert np.all(simulation.segments[2].phasors[m1, 3:] == 0)  # breaker open, no current
    restored, loaded = simulation.segments[4].phasors[m1], simulation.segments[5].phasors[m1]
    assert abs(loaded[3]) > abs(restored[3])


def test_bad_timelines_are_rejected(grid) -> None:
    with pytest.raises(InvalidInputError, match="no load 'nobody'"):
        Simulation(grid, [LoadChange(0.1, "nobody", 1.0, 0.0)])
    with pytest.raises(InvalidInputError, match="no switch 'S0'"):
        Simulation(grid, [SwitchOperation(0.1, "S0", True)])
    with pytest.raises(InvalidInputError, match="clears a fault that is not on"):
        Simulation(grid, [FaultClearance(0.1)])
    with pytest.raises(InvalidInputError, match="still on"):
        Simulation(grid, [FAULT, FaultInception(0.25, "F2-02", "a-b-c")])
    with pytest.raises(InvalidInputError, match="time_s must be >= 0"):
        Simulation(grid, [FaultInception(-1.0, "F2-02", "a-b-c")])
    with pytest.raises(InvalidInputError, match="fault kind 'x-y'"):
        Simulation(grid, [FaultInception(0.1, "F2-02", "x-y")])
    with pytest.raises(ConfigurationError, match="frequency_hz must lie in"):
        WaveformSettings(frequency_hz=4000.0)


def test_realtime_streams_are_paced(grid) -> None:
    stream = Simulation(grid, [], WaveformSettings(fs=FS, realtime=True)).source("M1")
    started = time.monotonic()
    total = 0
    while time.monotonic() - started < 0.1:
        total += len(stream.read(10_000)[1])
    elapsed = time.monotonic() - started
    assert total <= elapsed * FS + 2
    assert total >= 0.05 * FS


def test_settings_load_through_the_config_loader(tmp_path) -> None:
    from gridedge import config

    path = tmp_path / "simulator.toml"
    path.write_text(
        "[waveform]\nfs = 3200.0\nharmonic_orders = [5]\nharmonic_fractions = [0.02]\n"
        "[daq]\nnoise_lsb = 0.5\n"
    )
    settings = config.load(
        WaveformSettings, path, section="waveform", environ={"GRIDEDGE_WAVEFORM_SEED": "9"}
    )
    assert (settings.fs, settings.harmonic_orders, settings.seed) == (3200.0, (5,), 9)
    assert config.load(DaqSettings, path, section="daq", environ={}).noise_lsb == 0.5
