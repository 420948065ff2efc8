"""Behaviour of the public phasor API: streaming, time base, outputs and bad input."""

import numpy as np
import pytest

from gridedge.channels import ChannelScaling
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.meter import c37118
from gridedge.meter.phasor import Frames, PhasorEstimator, estimate

pytestmark = pytest.mark.kernels

FS = 6400.0


def noisy_signal(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    signal = c37118.synthesize(
        FS,
        seconds,
        angle=lambda t: 2 * np.pi * 0.7 * t + 0.1 * np.sin(2 * np.pi * 2 * t),
        harmonics=[(3, 0.04), (5, 0.02)],
    )
    return signal.samples + np.random.default_rng(seed).normal(0, 0.5, signal.samples.shape)


def pushed_in_chunks(estimator: PhasorEstimator, samples: np.ndarray, seed: int) -> Frames:
    rng = np.random.default_rng(seed)
    blocks, i = [], 0
    while i < len(samples):
        n = int(rng.integers(0, 900))
        blocks.append(estimator.push(samples[i : i + n]))
        i += n
    return Frames.concatenate(blocks)


def test_frames_do_not_depend_on_chunking(backend: str) -> None:
    samples = noisy_signal()
    whole = PhasorEstimator(FS, backend=backend).push(samples)
    for seed in range(3):
        chunked = pushed_in_chunks(PhasorEstimator(FS, backend=backend), samples, seed)
        np.testing.assert_array_equal(chunked.time, whole.time)
        np.testing.assert_array_equal(chunked.phasor, whole.phasor)
        np.testing.assert_array_equal(chunked.frequency, whole.frequency)
        np.testing.assert_array_equal(chunked.rocof, whole.rocof)
        np.testing.assert_array_equal(chunked.valid, whole.valid)


@pytest.mark.parametrize("rate", [10.0, 25.0, 50.0])
def test_reports_sit_on_the_reporting_grid_of_absolute_time(rate: float) -> None:
    start = 1_790_000_000.0 + 0.0123  # not on the grid: reports start at the next multiple
    frames = estimate(noisy_signal(), FS, reporting_rate=rate, start_time=start)
    # float64 POSIX seconds resolve 0.24 us at this epoch: far below C37.118's 1 us.
    periods = frames.time * rate
    np.testing.assert_allclose(periods, np.round(periods), atol=1e-6 * rate)
    np.testing.assert_allclose(np.diff(frames.time), 1 / rate, atol=1e-6)
    assert frames.time[0] >= start


def test_phase_is_referred_to_the_nominal_cosine_on_absolute_time() -> None:
    start = 1_790_000_000.25 + 7 / FS
    t = start + np.arange(int(FS)) / FS
    phases = np.array([0, -2, 2, -0.5, -2.5, 1.5]) * np.pi / 3
    samples = np.sqrt(2) * 100 * np.cos(2 * np.pi * 50 * (t[:, None] - np.floor(start)) + phases)
    frames = estimate(samples, FS, start_time=start)
    expected = 100 * np.exp(1j * phases)
    np.testing.assert_allclose(
        frames.phasor, np.broadcast_to(expected, frames.phasor.shape), rtol=1e-7
    )


def test_gain_scales_and_offset_is_rejected_with_dc() -> None:
    samples = noisy_signal()
    gain = np.array([2.0, 3.0, 4.0, 0.5, 0.25, 0.125])
    offset = np.array([1e3, -5.0, 7.0, 3.0, 2.0, -1.0])
    raw = (samples - offset) / gain
    direct = estimate(samples, FS)
    scaled = estimate(raw, FS, scaling=ChannelScaling(gain=gain, offset=offset))
    np.testing.assert_allclose(scaled.phasor, direct.phasor, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(scaled.frequency, direct.frequency, atol=1e-9)


@pytest.mark.parametrize("dtype", ["uint16", "int16", "int32", "float32", "int64", "uint8"])
def test_integer_and_single_precision_counts(backend: str, dtype: str) -> None:
    samples = noisy_signal()
    top = np.iinfo(dtype).max if np.dtype(dtype).kind in "iu" else 2047
    counts = np.clip(np.rint(samples / 20 + top // 2), 0, top).astype(dtype)
    expected = estimate(counts.astype(np.float64), FS, backend=backend)
    frames = estimate(counts, FS, backend=backend)
    np.testing.assert_allclose(frames.phasor, expected.phasor, rtol=1e-12, atol=1e-9)


def test_sequences_and_powers() -> None:
    samples = c37118.synthesize(FS, 0.5).samples
    frames = estimate(samples, FS)
    v = c37118.VOLTAGE
    i = c37118.CURRENT
    np.testing.assert_allclose(np.abs(frames.voltage_sequence[:, 1]), v, rtol=1e-9)
    np.testing.assert_allclose(np.abs(frames.voltage_sequence[:, [0, 2]]), 0, atol=1e-9)
    np.testing.assert_allclose(np.abs(frames.current_sequence[:, 1]), i, rtol=1e-9)
    # The test signal's currents lag by 30 degrees: P = 3 V I cos 30, Q = 3 V I sin 30.
    np.testing.assert_allclose(frames.total_active_power, 3 * v * i * np.cos(np.pi / 6), rtol=1e-9)
    np.testing.assert_allclose(frames.total_reactive_power, 3 * v * i * 0.5, rtol=1e-9)
    np.testing.assert_allclose(frames.active_power, v * i * np.cos(np.pi / 6), rtol=1e-9)


@pytest.mark.parametrize(("channel", "reach"), [(1, "reach"), (4, "window")])
def test_nan_in_a_stream_invalidates_only_the_frames_that_see_it(
    backend: str, channel: int, reach: str
) -> None:
    """A voltage sample feeds frequency through all three windows; a current sample only
    the centre window of its own phasor."""
    samples = noisy_signal()
    samples[3200, channel] = np.nan
    estimator = PhasorEstimator(FS, backend=backend)
    frames = estimator.push(samples)
    span = estimator.reach if reach == "reach" else estimator.window_length // 2
    centres = np.rint(frames.time * FS).astype(int)
    sees_it = (centres - span <= 3200) & (centres + span > 3200)
    assert sees_it.sum() == (3 if reach == "reach" else 2)
    assert not frames.valid[sees_it].any()
    assert frames.valid[~sees_it].all()
    clean = PhasorEstimator(FS, backend=backend).push(noisy_signal())
    np.testing.assert_array_equal(frames.phasor[~sees_it], clean.phasor[~sees_it])


def test_lost_voltage_makes_frequency_undefined() -> None:
    samples = noisy_signal()
    samples[:, :3] = 0.0
    frames = PhasorEstimator(FS, min_voltage=10.0).push(samples)
    assert np.isnan(frames.frequency).all()
    assert np.isnan(frames.rocof).all()
    assert not frames.valid.any()


def test_a_gap_restarts_the_windows_and_no_frame_spans_it() -> None:
    samples = noisy_signal()
    estimator = PhasorEstimator(FS)
    before = estimator.push(samples[:3000])
    after = estimator.push(samples[4000:], first_index=4000)
    whole = estimate(samples, FS)
    reach = estimator.reach
    assert (before.time * FS + reach <= 3000).all()
    assert (after.time * FS - reach >= 4000).all()
    for part in (before, after):
        index = np.searchsorted(whole.time, part.time)
        np.testing.assert_array_equal(part.phasor, whole.phasor[index])
    with pytest.raises(InvalidInputError, match="overlaps"):
        estimator.push(samples[:10], first_index=10)


def test_latency_is_within_two_reporting_periods() -> None:
    estimator = PhasorEstimator(FS)
    assert estimator.latency < 2 / estimator.reporting_rate


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (np.zeros((100, 5)), r"shape \(n, 6\)"),
        (np.zeros(600), r"shape \(n, 6\)"),
        (np.zeros((1000, 6), dtype=complex), "real numbers"),
        (np.zeros((1000, 6), dtype=bool), "real numbers"),
        (np.zeros((0, 6)), "needs 448 samples"),
        (np.zeros((200, 6)), "needs 448 samples"),
    ],
)
def test_bad_batch_input_is_named(samples: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        estimate(samples, FS)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_batch_input_names_the_sample(bad: float) -> None:
    samples = noisy_signal(0.2)
    samples[77, 2] = bad
    with pytest.raises(InvalidInputError, match="sample 77 of channel Vc"):
        estimate(samples, FS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fs": 3010.0}, "fs / f0 must be a whole multiple"),
        ({"fs": 6400.0, "reporting_rate": 60.0}, "fs / reporting_rate"),
        ({"fs": 200.0}, "at least 8 samples"),
        ({"fs": -1.0}, "fs must be a positive number"),
        ({"fs": 6400.0, "f0": float("nan")}, "f0 must be a positive number"),
        ({"fs": 6400.0, "max_deviation": 30.0}, "max_deviation"),
        ({"fs": 6400.0, "min_voltage": -1.0}, "min_voltage"),
    ],
)
def test_bad_settings_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PhasorEstimator(**kwargs)


def test_empty_push_returns_no_frames() -> None:
    frames = PhasorEstimator(FS).push(np.empty((0, 6)))
    assert len(frames) == 0
    assert frames.phasor.shape == (0, 6)
