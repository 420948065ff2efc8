"""Bad input gives an error naming its cause, never a state that only looks fine."""

from dataclasses import replace

import numpy as np
import pytest
from estimation_cases import customer_readings

from gridedge.errors import (
    ConfigurationError,
    ConvergenceError,
    InvalidInputError,
    UnobservableError,
)
from gridedge.grid import Measurement
from gridedge.grid.cases import ieee33
from gridedge.meter.estimation import EstimationSettings, Estimator, Quantity, estimate


@pytest.fixture(scope="module")
def case():
    grid = ieee33()
    return grid, customer_readings(grid, seed=21)


@pytest.mark.parametrize("backend", ["native", "python"])
def test_unobservable_buses_are_named(case, backend) -> None:
    grid, measurements = case
    # Bus 18 ends a feeder. Without its meter the injection measured at 17 still fixes it;
    # without the meters of 17 and 18, 16's injection fixes 17 and nothing fixes 18.
    blind = [m for m in measurements if m.element not in ("17", "18")]
    with pytest.raises(UnobservableError, match=r"unobservable: '18'") as caught:
        Estimator(grid, blind, backend=backend).estimate()
    assert caught.value.buses == ("18",)


def test_leaving_measurements_out_can_make_buses_unobservable(case) -> None:
    grid, measurements = case
    estimator = Estimator(grid, measurements)
    estimator.estimate()
    active = np.array([m.element not in ("16", "17", "18") for m in measurements])
    with pytest.raises(UnobservableError) as caught:
        estimator.estimate(active=active)
    assert set(caught.value.buses) == {"17", "18"}
    estimator.estimate()  # all present again: observable


def test_nan_and_non_positive_sigma_are_named(case) -> None:
    grid, measurements = case
    estimator = Estimator(grid, measurements)
    values = np.array([m.value for m in measurements])
    std_devs = np.array([m.std_dev for m in measurements])
    values[3] = np.nan
    with pytest.raises(InvalidInputError, match=rf"{measurements[3].id!r}: value nan"):
        estimator.estimate(values)
    std_devs[5] = 0.0
    with pytest.raises(InvalidInputError, match=rf"{measurements[5].id!r}: std_dev 0.0"):
        estimator.estimate(std_devs=std_devs)
    with pytest.raises(InvalidInputError, match="shape"):
        estimator.estimate(values[:-1])
    # A left-out measurement may hold anything.
    active = np.ones(len(measurements), dtype=bool)
    active[3] = False
    assert estimator.estimate(values, active=active).active.sum() == len(measurements) - 1


def test_references_to_unknown_or_dead_elements_are_named(case) -> None:
    grid, measurements = case
    wrong = [
        Measurement("x1", "v", "no-such-bus", 1.0, 0.01),
        Measurement("x2", "p", "L1-2", 1.0, 0.01, side="7"),
        Measurement("x3", "i", "5", 1.0, 0.01),
    ]
    with pytest.raises(InvalidInputError) as caught:
        Estimator(grid, [*measurements, *wrong])
    message = str(caught.value)
    assert "'x1': element 'no-such-bus'" in message
    assert "'x2': side must be an end bus of 'L1-2'" in message
    assert "'x3': 'i' is measured on a branch" in message
    with pytest.raises(InvalidInputError, match="'v 99'"):
        Estimator(grid, measurements, derived=[Quantity("v", "99")])
    # A measurement of a tie line whose switch is open measures a dead end.
    tie = Measurement("tie", "p", "L8-21", 0.0, 1.0, side="8")
    with pytest.raises(InvalidInputError, match="'tie': the '8' end of 'L8-21' is open"):
        Estimator(grid, [*measurements, tie])
    with pytest.raises(InvalidInputError, match="duplicate measurement ids"):
        Estimator(grid, [*measurements, measurements[0]])


def test_divergence_names_the_iteration(case) -> None:
    grid, measurements = case
    # Loads a hundred times too large: no voltage profile explains them.
    absurd = [replace(m, value=m.value * 100) if m.quantity in "pq" else m for m in measurements]
    with pytest.raises(ConvergenceError, match=r"(diverged|did not converge) .*iteration"):
        estimate(grid, absurd, settings=EstimationSettings(max_iterations=15))


def test_too_few_iterations_is_an_error_not_a_result(case) -> None:
    grid, measurements = case
    with pytest.raises(ConvergenceError, match="did not converge in 1 iterations"):
        estimate(grid, measurements, settings=EstimationSettings(max_iterations=1))


def test_settings_are_checked_and_load_from_the_environment() -> None:
    from gridedge import config

    with pytest.raises(ConfigurationError, match="tolerance"):
        EstimationSettings(tolerance=0.0)
    with pytest.raises(ConfigurationError, match="chi2_probability"):
        EstimationSettings(chi2_probability=1.0)
    loaded = config.load(
        EstimationSettings,
        section="estimation",
        environ={"GRIDEDGE_ESTIMATION_MAX_REMOVALS": "3", "GRIDEDGE_ESTIMATION_BAD_DATA": "false"},
    )
    assert loaded.max_removals == 3
    assert loaded.bad_data is False


def test_correlated_groups_are_checked(case) -> None:
    grid, measurements = case
    ids = (measurements[1].id, measurements[2].id)
    with pytest.raises(InvalidInputError, match="unknown"):
        Estimator(grid, measurements, correlated=[(ids[0], "nope")])
    estimator = Estimator(grid, measurements, correlated=[ids])
    with pytest.raises(InvalidInputError, match="not positive definite"):
        estimator.estimate(covariances={ids: [[1.0, 2.0], [2.0, 1.0]]})
    with pytest.raises(InvalidInputError, match="not declared"):
        estimator.estimate(covariances={(ids[1], ids[0]): np.eye(2)})
