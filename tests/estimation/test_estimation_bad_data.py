"""Bad data: chi-square detection, largest-normalised-residual identification and removal."""

from dataclasses import replace

import numpy as np
import pytest
from estimation_cases import customer_readings

from gridedge.grid import Measurement
from gridedge.grid.cases import ieee33
from gridedge.meter.estimation import EstimationSettings, Estimator


@pytest.fixture(scope="module")
def clean():
    grid = ieee33()
    return grid, customer_readings(grid, seed=11)


def corrupted(measurements, measurement_id, sigmas):
    return [
        replace(m, value=m.value + sigmas * m.std_dev) if m.id == measurement_id else m
        for m in measurements
    ]


@pytest.mark.parametrize("backend", ["native", "python"])
def test_clean_data_passes_the_chi_square_test(clean, backend) -> None:
    grid, measurements = clean
    result = Estimator(grid, measurements, backend=backend).estimate()
    assert not result.bad_data_detected
    assert result.removed == ()
    assert result.estimations == 1
    assert result.objective < result.chi2_threshold
    assert result.degrees_of_freedom == len(measurements) - (2 * len(grid.buses) - 1)
    assert result.normalized_residuals is None


@pytest.mark.parametrize("backend", ["native", "python"])
def test_gross_voltage_error_is_detected_identified_and_removed(clean, backend) -> None:
    grid, measurements = clean
    target = next(m.id for m in measurements if m.quantity == "v" and m.element == "18")
    bad = corrupted(measurements, target, 20.0)
    estimator = Estimator(grid, bad, backend=backend)
    result = estimator.estimate()
    assert result.bad_data_detected
    assert result.removed == (target,)
    assert result.estimations == 2
    assert not result.active[result.measurement_ids.index(target)]
    # Without the bad reading the estimate is that of the clean data less one reading.
    reference = Estimator(grid, [m for m in measurements if m.id != target]).estimate()
    assert np.max(np.abs(result.voltage - reference.voltage)) < 1e-9
    # It stays out for this call only: the next call sees every measurement again.
    assert estimator.estimate(bad_data=False).active.all()


def test_normalised_residuals_agree_between_backends(clean) -> None:
    grid, measurements = clean
    target = next(m.id for m in measurements if m.quantity == "v" and m.element == "9")
    bad = corrupted(measurements, target, 15.0)
    settings = EstimationSettings(max_removals=0)
    found = [
        Estimator(grid, bad, settings=settings, backend=b).estimate().normalized_residuals
        for b in ("native", "python")
    ]
    np.testing.assert_allclose(found[0], found[1], rtol=1e-4, atol=1e-6)
    assert np.nanargmax(found[0]) == [m.id for m in bad].index(target)
    assert np.nanmax(found[0]) == pytest.approx(15.0, rel=0.15)


def test_critical_set_is_reported_not_guessed() -> None:
    """Two lone readings of one quantity share their normalised residual: no removal."""
    grid = ieee33()
    measurements = customer_readings(grid, seed=3)
    twin = next(m for m in measurements if m.quantity == "p" and m.element == "18")
    # The load of bus 18 is measured twice (meter and a check meter); the check meter is off.
    check = Measurement("check", "p", "18", twin.value + 20 * twin.std_dev, twin.std_dev)
    result = Estimator(grid, [*measurements, check]).estimate()
    assert result.bad_data_detected
    assert result.removed == ()
    assert set(result.suspects[:2]) == {twin.id, "check"}


def test_critical_measurements_are_never_removed() -> None:
    grid = ieee33()
    measurements = customer_readings(grid, seed=3)
    estimator = Estimator(grid, measurements)
    estimator.estimate()
    sensitivity = estimator.sensitivity()
    # Bus 18 ends a feeder: its P and Q determine the last section's flow on their own.
    critical = [i for i, m in enumerate(measurements) if m.element == "18" and m.quantity == "p"]
    assert sensitivity[critical[0]] < 0.1
    assert np.nanmax(sensitivity) <= 1.0
    bad = corrupted(measurements, measurements[critical[0]].id, 50.0)
    result = Estimator(grid, bad).estimate()
    assert measurements[critical[0]].id not in result.removed


def test_removals_are_bounded(clean) -> None:
    grid, measurements = clean
    voltages = [m.id for m in measurements if m.quantity == "v"][5:9]
    bad = measurements
    for measurement_id in voltages:
        bad = corrupted(bad, measurement_id, 30.0)
    limited = Estimator(grid, bad, settings=EstimationSettings(max_removals=2)).estimate()
    assert len(limited.removed) == 2
    assert limited.removed[0] in voltages
    full = Estimator(grid, bad).estimate()
    assert set(full.removed) == set(voltages)
