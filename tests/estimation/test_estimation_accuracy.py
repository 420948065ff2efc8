"""Accuracy classes, and the covariance the estimator reports against the spread it has."""

import numpy as np
import pytest
from estimation_cases import customer_plan

from gridedge.errors import InvalidInputError
from gridedge.grid import power_flow
from gridedge.grid.cases import ieee33
from gridedge.meter.estimation import Estimator, Quantity
from gridedge.meter.estimation.accuracy import (
    PMU,
    SMART_METER,
    SUBSTATION_METER,
    sigma_from_class,
)
from gridedge.meter.estimation.simulation import true_values


def test_class_limits_are_three_sigma_with_a_floor() -> None:
    assert sigma_from_class(230.0, 0.5) == pytest.approx(230 * 0.005 / 3)
    np.testing.assert_allclose(
        sigma_from_class([-2.0, 0.001], 1.0, floor=0.01), [0.02 / 3, 0.01 / 3]
    )
    assert SMART_METER.sigma("p", 1.5) == pytest.approx(0.015 / 3)
    assert SMART_METER.sigma("q", 0.1) == pytest.approx(0.01 / 3)  # floor: 10 var
    assert SUBSTATION_METER.sigma("v", 1.0) < SMART_METER.sigma("v", 1.0)
    assert PMU.sigma("va", 12.0) == pytest.approx(0.05 / 3)
    with pytest.raises(InvalidInputError, match="no phase angle"):
        SMART_METER.sigma("ia", 1.0)
    with pytest.raises(InvalidInputError, match="class_percent"):
        sigma_from_class(1.0, 0.0)
    with pytest.raises(InvalidInputError, match="finite"):
        sigma_from_class([1.0, np.nan], 1.0)


def test_reported_covariance_matches_the_spread_of_estimates() -> None:
    """J G^-1 J^T against the empirical covariance of 400 estimates from fresh noise."""
    grid = ieee33()
    flow = power_flow(grid)
    plan = customer_plan(grid)
    quantities = [q for q, _ in plan]
    truth = true_values(flow, quantities)
    sigma = np.array([float(a.sigma(q.quantity, t)) for (q, a), t in zip(plan, truth, strict=True)])
    from gridedge.grid import Measurement

    measurements = [
        Measurement(f"m{i}", q.quantity, q.element, float(t), float(s), q.side)
        for i, (q, t, s) in enumerate(zip(quantities, truth, sigma, strict=True))
    ]
    derived = [Quantity("v", "18"), Quantity("va", "33"), Quantity("p", "L1-2", "1")]
    estimator = Estimator(grid, measurements, derived=derived)
    rng = np.random.default_rng(8)
    samples = []
    reported = None
    for _ in range(400):
        result = estimator.estimate(
            truth + sigma * rng.standard_normal(sigma.shape), bad_data=False
        )
        samples.append(result.derived.values)
        reported = result.derived
    empirical = np.cov(np.array(samples).T)
    # 400 draws estimate a variance to about 7 % (one sigma).
    np.testing.assert_allclose(np.diag(empirical), np.diag(reported.covariance), rtol=0.25)
    correlation = empirical[0, 2] / np.sqrt(empirical[0, 0] * empirical[2, 2])
    expected = reported.covariance[0, 2] / np.prod(reported.std_devs[[0, 2]])
    assert correlation == pytest.approx(expected, abs=0.1)
    # The estimate is unbiased: the mean of the draws sits on the truth.
    mean = np.mean(samples, axis=0)
    exact = true_values(flow, derived)
    assert np.all(np.abs(mean - exact) < 4 * reported.std_devs / np.sqrt(400))
