"""The compiled estimator against its scipy twin, and the kernel's own contracts."""

import numpy as np
import pytest
from estimation_cases import customer_readings, every_kind
from peers import radial_grid

from gridedge.errors import UnobservableError
from gridedge.grid import Bus, Grid, Line, Load, Measurement, Source, Switch, power_flow
from gridedge.grid.cases import ieee33, turin
from gridedge.grid.cases.turin import LV_CABLE
from gridedge.meter.estimation import Estimator, Quantity
from gridedge.meter.estimation.accuracy import SMART_METER
from gridedge.meter.estimation.simulation import readings, true_values

pytest.importorskip("gridedge._native.wls")

VOLTAGE_TOLERANCE = 1e-9
"""Native and twin solve the same normal equations: their estimates agree to round-off."""

VARIANCE_TOLERANCE = 1e-2
"""Relative agreement of variances, which depend on the badly conditioned level direction."""


def merged_and_open_ended() -> Grid:
    """Two buses joined by a closed bus-bus switch, and a cable held open at its far end."""
    buses = [Bus(b, 0.4) for b in ("S", "A", "A2", "B", "C")]
    lines = [
        Line("SA", "S", "A", 0.1, **LV_CABLE),
        Line("AB", "A2", "B", 0.1, **LV_CABLE),
        Line("BC", "B", "C", 0.2, **LV_CABLE),
    ]
    return Grid(
        name="merged",
        buses=buses,
        lines=lines,
        switches=[Switch("tie", "A", to_bus="A2"), Switch("open", "C", branch="BC", closed=False)],
        loads=[Load("LA", "A", 10.0, 3.0), Load("LB", "B", 8.0, 2.0)],
        sources=[Source("grid", "S", 10.0)],
    )


def cases():
    turin_grid = turin()
    meshed = ieee33()
    closed = {s.id: True for s in meshed.switches}
    merged = merged_and_open_ended()
    merged_plan = [(Quantity("v", b), SMART_METER) for b in ("S", "A", "B")]
    merged_plan += [(Quantity(q, b), SMART_METER) for b in ("A", "B") for q in ("p", "q")]
    merged_plan += [(Quantity("i", "SA", "S"), SMART_METER)]
    return {
        "turin-every-kind": (turin_grid, every_kind(turin_grid), {}),
        "ieee33-meshed": (
            meshed.with_switch_states(closed),
            customer_readings(meshed.with_switch_states(closed)),
            {},
        ),
        "merged-open-ended": (
            merged,
            readings(power_flow(merged), merged_plan, np.random.default_rng(4)),
            {},
        ),
    }


@pytest.mark.parametrize("case", ["turin-every-kind", "ieee33-meshed", "merged-open-ended"])
def test_native_matches_twin(case) -> None:
    grid, measurements, _ = cases()[case]
    derived = [
        Quantity("v", grid.loads[-1].bus),
        Quantity("p", grid.lines[0].id, grid.lines[0].from_bus),
    ]
    results, sensitivities = {}, {}
    for backend in ("native", "python"):
        estimator = Estimator(grid, measurements, derived=derived, backend=backend)
        results[backend] = estimator.estimate(state_variance=True, bad_data=False)
        sensitivities[backend] = estimator.sensitivity()
    native, twin = results["native"], results["python"]
    assert np.max(np.abs(native.voltage - twin.voltage)) < VOLTAGE_TOLERANCE
    assert native.objective == pytest.approx(twin.objective, rel=1e-7)
    # Variances involve G^-1 along the voltage level, the badly conditioned direction of the
    # gain (condition ~1e13 on Turin): the two factorisations agree there to ~1e-3.
    np.testing.assert_allclose(native.vm_std_pu, twin.vm_std_pu, rtol=VARIANCE_TOLERANCE)
    np.testing.assert_allclose(native.va_std_deg, twin.va_std_deg, rtol=VARIANCE_TOLERANCE)
    np.testing.assert_allclose(
        native.derived.covariance,
        twin.derived.covariance,
        rtol=VARIANCE_TOLERANCE,
        atol=VARIANCE_TOLERANCE * np.max(np.abs(twin.derived.covariance)),
    )
    np.testing.assert_allclose(sensitivities["native"], sensitivities["python"], atol=1e-3)


def test_estimate_recovers_the_power_flow_from_exact_measurements() -> None:
    grid = turin()
    flow = power_flow(grid)
    plan = every_kind(grid)
    exact = [
        Measurement(m.id, m.quantity, m.element, float(v), m.std_dev, m.side)
        for m, v in zip(plan, true_values(flow, plan), strict=True)
    ]
    result = Estimator(grid, exact).estimate()
    assert np.max(np.abs(result.voltage - flow.voltage)) < 1e-8
    assert result.objective < 1e-6  # chi-square units: nothing left to explain
    assert not result.bad_data_detected


def test_unobservable_buses_are_named_alike_by_both_backends() -> None:
    grid = radial_grid(60)
    measurements = customer_readings(grid)
    # Silence the meters of the last ten buses: with their injections unknown, the angles of
    # much of the tree they hang from are no longer fixed either.
    silent = {load.bus for load in grid.loads[-10:]}
    kept = [m for m in measurements if not (m.element in silent and m.quantity in ("p", "q"))]
    kept = [m for m in kept if not (m.quantity == "v" and m.element in silent)]
    named = {}
    for backend in ("native", "python"):
        with pytest.raises(UnobservableError) as caught:
            Estimator(grid, kept, backend=backend).estimate()
        named[backend] = set(caught.value.buses)
    assert named["native"] == named["python"]
    assert silent <= named["native"]
    assert "0" not in named["native"]  # the source bus stays observable


def test_memory_grows_linearly() -> None:
    small, large = (
        Estimator(radial_grid(n), customer_readings(radial_grid(n), every_v=10))
        for n in (1000, 4000)
    )
    per_bus = [e.memory_bytes / n for e, n in ((small, 1000), (large, 4000))]
    assert per_bus[1] == pytest.approx(per_bus[0], rel=0.1)
    assert small.factor_nonzeros < 10 * small.n_state  # the order keeps the factor sparse


@pytest.mark.parametrize("backend", ["native", "python"])
def test_kernel_rejects_inconsistent_arrays(backend) -> None:
    from gridedge import kernels

    module = kernels.load("wls", backend)
    one = np.array([0, 1], dtype=np.int64)
    arguments = dict(
        n_node=1,
        y_ptr=one,
        y_idx=np.array([0]),
        y_val=np.array([1 - 1j]),
        from_node=np.zeros(0, dtype=np.int64),
        to_node=np.zeros(0, dtype=np.int64),
        two_port=np.zeros((0, 4), dtype=complex),
        fixed_angle=np.array([1]),
        kind=np.array([0]),
        node=np.array([0]),
        branch=np.array([-1]),
        end=np.array([0]),
        group_ptr=one,
    )
    module.Solver(**arguments)
    for name, bad in (
        ("node", np.array([3])),
        ("kind", np.array([9])),
        ("group_ptr", np.array([0, 2])),
    ):
        with pytest.raises(ValueError, match=r"range|kind|group_ptr"):
            module.Solver(**{**arguments, name: bad})
