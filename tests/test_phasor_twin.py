"""The compiled phasor kernel against its numpy twin, on signals that exercise every branch."""

import numpy as np
import pytest

from gridedge.channels import ChannelScaling
from gridedge.meter import c37118
from gridedge.meter.phasor import PhasorEstimator

pytestmark = pytest.mark.kernels

RTOL = 1e-12  # relative, on phasors, after compensation
FREQ_ATOL = 1e-9  # Hz
ROCOF_ATOL = 1e-6  # Hz/s: a second difference of phases amplifies rounding by fs^2 / h^2


@pytest.mark.parametrize("fs", [3200.0, 6400.0, 1600.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_native_matches_twin(fs: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    offset = rng.uniform(-6, 6)
    signal = c37118.synthesize(
        fs, 1.0, angle=lambda t: 2 * np.pi * offset * t, harmonics=[(3, 0.05), (7, 0.02)]
    )
    samples = signal.samples * rng.uniform(0.5, 2, 6) + rng.normal(0, 1, signal.samples.shape)
    samples[rng.integers(0, len(samples), 3), rng.integers(0, 6, 3)] = np.nan
    scaling = ChannelScaling(gain=rng.uniform(0.5, 2, 6), offset=rng.uniform(-1, 1, 6))
    start = 1_790_000_000 + rng.uniform(0, 1)
    results = [
        PhasorEstimator(
            fs, scaling=scaling, start_time=start, min_voltage=1.0, backend=backend
        ).push(samples)
        for backend in ("native", "python")
    ]
    native, twin = results
    np.testing.assert_array_equal(native.time, twin.time)
    np.testing.assert_array_equal(native.valid, twin.valid)
    assert (~native.valid).any()
    assert native.valid.any()
    ok = native.valid
    np.testing.assert_allclose(native.phasor[ok], twin.phasor[ok], rtol=RTOL)
    np.testing.assert_allclose(native.frequency[ok], twin.frequency[ok], atol=FREQ_ATOL)
    np.testing.assert_allclose(native.rocof[ok], twin.rocof[ok], atol=ROCOF_ATOL)
    np.testing.assert_array_equal(np.isnan(native.phasor), np.isnan(twin.phasor))


def test_compensation_is_what_removes_off_nominal_error() -> None:
    """Without the correction (max_deviation tiny), a 5 Hz offset costs more than 1 % TVE."""
    signal = c37118.synthesize(
        6400.0,
        1.0,
        angle=lambda t: 2 * np.pi * 5 * t,
        frequency_offset=lambda t: np.full_like(t, 5.0),
    )
    for backend in ("native", "python"):
        loose = PhasorEstimator(6400.0, max_deviation=1e-9, backend=backend).push(signal.samples)
        tight = PhasorEstimator(6400.0, backend=backend).push(signal.samples)
        assert c37118.errors(signal, loose).tve > 0.01
        assert c37118.errors(signal, tight).tve < 1e-9
