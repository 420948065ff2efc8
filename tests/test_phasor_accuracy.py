"""The phasor estimator against the IEEE C37.118.1 test signals and limits."""

import numpy as np
import pytest

from gridedge.meter import c37118
from gridedge.meter.phasor import PhasorEstimator

pytestmark = pytest.mark.kernels

SAMPLING_RATES = (3200.0, 6400.0)


@pytest.mark.parametrize("fs", SAMPLING_RATES)
@pytest.mark.parametrize(
    "case", c37118.P_CLASS + c37118.M_CLASS, ids=lambda case: case.name.replace(" ", "_")
)
def test_steady_state_and_dynamic_limits(case: c37118.Case, fs: float) -> None:
    worst = c37118.run_case(case, fs)
    assert worst.within(case.limits), worst


@pytest.mark.parametrize("fs", SAMPLING_RATES)
@pytest.mark.parametrize(
    ("kind", "size"),
    [
        ("magnitude", 0.1),
        ("magnitude", -0.1),
        ("phase", np.radians(10)),
        ("phase", -np.radians(10)),
    ],
)
def test_step_response_within_p_class(fs: float, kind: str, size: float) -> None:
    response = c37118.step_response(fs, kind, size)
    limits = c37118.STEP_LIMITS
    assert 0 < response.tve_response <= limits["tve_response"]
    assert response.fe_response <= limits["fe_response"]
    assert response.rfe_response <= limits["rfe_response"]
    assert response.delay <= limits["delay"]
    assert response.overshoot <= limits["overshoot"]
    if kind == "phase":
        # A phase step moves the positive-sequence angle: frequency must react, then settle.
        assert response.fe_response > 0


def test_metrics_detect_a_wrong_estimate() -> None:
    """The assessment is not vacuous: a 2 % magnitude error is reported as TVE 2 %."""
    signal = c37118.synthesize(6400.0, 0.5)
    frames = PhasorEstimator(6400.0).push(signal.samples * 1.02)
    found = c37118.errors(signal, frames)
    assert found.tve == pytest.approx(0.02, rel=1e-6)
    assert not found.within(c37118.Limits(0.01, 0.005, 0.4))


def test_twelve_bit_daq_keeps_p_class_tve_at_off_nominal_frequency() -> None:
    """With 12-bit quantisation of a half-scale signal, TVE stays far inside 1 %."""
    signal = c37118.synthesize(
        3200.0,
        1.0,
        angle=lambda t: 2 * np.pi * 1.7 * t,
        frequency_offset=lambda t: np.full_like(t, 1.7),
    )
    peak = np.abs(signal.samples).max(axis=0)
    lsb = 4 * peak / 4096  # the signal spans half of the 12-bit range
    quantised = np.rint(signal.samples / lsb) * lsb
    frames = PhasorEstimator(3200.0).push(quantised)
    found = c37118.errors(signal, frames)
    assert found.tve < 1e-3
    assert found.fe < 0.005
