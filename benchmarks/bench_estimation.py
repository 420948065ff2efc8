"""State estimation benchmarks (``make bench``): ours, its numpy twin and the peers in one run.

Figures go to ``docs/performance.md`` (Estimation section). Each case gives every estimator
the same network and the same measurements; every timing starts from a prepared model (our
:class:`Estimator` / level, power-grid-model's ``PowerGridModel``), since the network and the
measurement configuration stay while the values change every minute. Peers:
power-grid-model's iterative-linear estimator (C++) and pandapower's WLS ``estimate``.
Tolerances: ours 1e-8 p.u. (or 1e-3 standard deviations), power-grid-model 1e-8 p.u.,
pandapower its default 1e-6.
"""

import sys
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest

from gridedge.grid import Grid, Measurement, power_flow
from gridedge.meter.estimation import Estimator, Quantity
from gridedge.meter.estimation.accuracy import SMART_METER, SUBSTATION_METER
from gridedge.meter.estimation.montecarlo import MonteCarloSettings, TurinStudy
from gridedge.meter.estimation.multilevel import LVInput, LVLevel, MVInput, MVLevel, NodeEstimate
from gridedge.meter.estimation.simulation import readings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "estimation"))
from estimation_cases import customer_readings
from peers import (
    add_pandapower_measurements,
    lv_grid,
    pandapower_estimate,
    pgm_estimate,
    pgm_sensor_update,
    radial_grid,
    to_pandapower,
    to_pgm,
)


def pgm(model, update=None):
    return pgm_estimate(model, "iterative_linear", tolerance=1e-8, update=update)


def pgm_case(grid, measurements):
    """power-grid-model's model of `grid` and an update carrying new values of its sensors.

    Skips the benchmark asking for it where power-grid-model is not installed (aarch64 test
    roots, for one): ours and the twin run everywhere.
    """
    power_grid_model = pytest.importorskip("power_grid_model")
    data = to_pgm(grid, measurements)
    model = power_grid_model.PowerGridModel(data, system_frequency=grid.frequency_hz)
    return model, pgm_sensor_update(data)


# --- LV level on a 100-bus LV grid -------------------------------------------------------


class Peers:
    """The case's network and measurements for the peers, built when a peer's benchmark first
    asks (skipped where the peer is not installed)."""

    grid: Grid
    measurements: list[Measurement]
    zero_injection_suffix: str = ""
    """The buses pandapower is told are zero injections: those whose names end with this."""

    @cached_property
    def pgm(self) -> tuple[object, object]:
        """power-grid-model's model and an update with new sensor values."""
        return pgm_case(self.grid, self.measurements)

    @cached_property
    def pandapower(self) -> object:
        """The pandapower network with the measurements."""
        pytest.importorskip("pandapower")
        net = to_pandapower(self.grid)
        add_pandapower_measurements(net, self.grid, self.measurements)
        return net

    @property
    def zero_injection(self) -> list[int]:
        """pandapower's indices of the zero-injection buses."""
        names = self.pandapower.bus.name
        return self.pandapower.bus.index[names.str.endswith(self.zero_injection_suffix)].tolist()


class LV(Peers):
    """The LV level of a 100-bus grid: one message, the same readings for the peers."""

    zero_injection_suffix = "LV"

    def __init__(self) -> None:
        grid = lv_grid(100)
        flow = power_flow(grid)
        rng = np.random.default_rng(3)
        plan = []
        for load in grid.loads:
            plan += [(Quantity(q, load.bus), SMART_METER) for q in ("v", "p", "q")]
        plan += [(Quantity("v", "MV"), SUBSTATION_METER)]
        plan += [(Quantity(q, "T", "MV"), SUBSTATION_METER) for q in ("p", "q")]
        self.measurements = readings(flow, plan, rng)
        by_bus: dict[str, dict[str, Measurement]] = {}
        for m in self.measurements[:-3]:
            by_bus.setdefault(m.element, {})[m.quantity] = m
        nodes = tuple(
            NodeEstimate(
                bus,
                v=q["v"].value,
                v_std=q["v"].std_dev,
                p=-q["p"].value,  # consumption, as meters count
                p_std=q["p"].std_dev,
                q=-q["q"].value,
                q_std=q["q"].std_dev,
            )
            for bus, q in by_bus.items()
        )
        self.message = LVInput("T", 0.0, nodes, tuple(self.measurements[-3:]))
        self.grid = grid
        self.level = LVLevel(grid, "T")
        self.twin = LVLevel(grid, "T", backend="python")


@pytest.fixture(scope="module")
def lv():
    return LV()


def test_lv100_level_ours(benchmark, lv) -> None:
    output = benchmark(lv.level.run, lv.message)
    benchmark.extra_info["iterations"] = output.iterations


def test_lv100_estimate_only_ours(benchmark, lv) -> None:
    """The estimator alone, values already in arrays (as power-grid-model's timing)."""
    lv.level.run(lv.message)
    estimator = lv.level.estimator
    result = lv.level.result
    benchmark(estimator.estimate, result.values, result.std_devs, active=result.active)


def test_lv100_level_numpy_twin(benchmark, lv) -> None:
    benchmark.pedantic(lv.twin.run, args=(lv.message,), rounds=20, warmup_rounds=1)


def test_lv100_pgm_peer(benchmark, lv) -> None:
    """Sensor values fixed in the model (power-grid-model's best case)."""
    benchmark(pgm, lv.pgm[0])


def test_lv100_pgm_peer_new_values(benchmark, lv) -> None:
    """New sensor values taken in first, as every minute's readings need."""
    benchmark(pgm, *lv.pgm)


def test_lv100_pandapower_peer(benchmark, lv) -> None:
    outcome = benchmark.pedantic(
        pandapower_estimate,
        args=(lv.pandapower,),
        kwargs={"tolerance": 1e-6, "zero_injection": lv.zero_injection},
        rounds=10,
    )
    assert outcome["success"]


# --- MV level on the Turin case ----------------------------------------------------------


class MV(Peers):
    """The MV level of the Turin case fed by its twelve LV levels' outputs."""

    zero_injection_suffix = "-MV"

    def __init__(self) -> None:
        study = TurinStudy(MonteCarloSettings(trials=1, seed=3))
        scenario = study.scenario(np.random.default_rng(3))
        outputs = tuple(study.lv[t].run(study.lv_input(t, scenario)) for t in study.stations)
        self.message = MVInput(0.0, outputs, scenario.primary)
        # The LV outputs' covariances as the MV level's correlated groups (v, and p, q as
        # injections), in its station order.
        sign = np.array([1.0, -1.0, -1.0])
        self.covariances = np.array([out.covariance for out in outputs]) * np.outer(sign, sign)
        grid = study.grid
        self.level = study.mv
        self.twin = MVLevel(grid, study.stations, backend="python")
        area = study.mv.area
        # The peers take the LV outputs as independent sensors (they have no correlated
        # groups): voltage and injection at each secondary substation's MV bus.
        self.measurements = [m for m in scenario.primary]
        for out in outputs:
            std = np.sqrt(np.diag(out.covariance))
            self.measurements += [
                Measurement(f"{out.transformer}:v", "v", out.bus, out.vm_pu, float(std[0])),
                Measurement(f"{out.transformer}:p", "p", out.bus, -out.p_kw, float(std[1])),
                Measurement(f"{out.transformer}:q", "q", out.bus, -out.q_kvar, float(std[2])),
            ]
        self.grid = area


@pytest.fixture(scope="module")
def mv():
    return MV()


def test_turin_mv_level_ours(benchmark, mv) -> None:
    output = benchmark(mv.level.run, mv.message)
    benchmark.extra_info["iterations"] = output.iterations


def test_turin_mv_level_numpy_twin(benchmark, mv) -> None:
    benchmark.pedantic(mv.twin.run, args=(mv.message,), rounds=20, warmup_rounds=1)


def test_turin_mv_estimate_only_ours(benchmark, mv) -> None:
    """The estimator alone, values and covariances already in arrays."""
    mv.level.run(mv.message)
    result = mv.level.result
    benchmark(
        mv.level.estimator.estimate,
        result.values,
        result.std_devs,
        covariances=mv.covariances,
        active=result.active,
    )


def test_turin_mv_pgm_peer(benchmark, mv) -> None:
    benchmark(pgm, mv.pgm[0])


def test_turin_mv_pgm_peer_new_values(benchmark, mv) -> None:
    benchmark(pgm, *mv.pgm)


def test_turin_mv_pandapower_peer(benchmark, mv) -> None:
    outcome = benchmark.pedantic(
        pandapower_estimate,
        args=(mv.pandapower,),
        kwargs={"tolerance": 1e-6, "zero_injection": mv.zero_injection},
        rounds=10,
    )
    assert outcome["success"]


# --- radial grids, single level ----------------------------------------------------------


class Radial(Peers):
    """A radial grid, single level: P, Q at every load, V at every tenth bus, P, Q at the head."""

    def __init__(self, n_bus: int) -> None:
        self.grid = radial_grid(n_bus)
        self.measurements = customer_readings(self.grid, seed=3, every_v=10)
        self.estimator = Estimator(self.grid, self.measurements)


@pytest.fixture(scope="module")
def radial_10k():
    return Radial(10_000)


def test_radial_10k_ours(benchmark, radial_10k) -> None:
    estimator = radial_10k.estimator
    result = benchmark(estimator.estimate)
    benchmark.extra_info["iterations"] = result.iterations
    benchmark.extra_info["kernel_bytes_per_bus"] = estimator.memory_bytes / 10_000


def test_radial_10k_numpy_twin(benchmark, radial_10k) -> None:
    twin = Estimator(radial_10k.grid, radial_10k.measurements, backend="python")
    benchmark.pedantic(twin.estimate, rounds=3, warmup_rounds=1)


def test_radial_10k_pgm_peer(benchmark, radial_10k) -> None:
    benchmark(pgm, radial_10k.pgm[0])


@pytest.mark.parametrize("n_bus", [1_000, 100_000])
def test_radial_scaling_ours(benchmark, n_bus) -> None:
    estimator = Radial(n_bus).estimator
    benchmark.pedantic(estimator.estimate, rounds=5 if n_bus > 10_000 else 50, warmup_rounds=1)
    benchmark.extra_info["kernel_bytes_per_bus"] = estimator.memory_bytes / n_bus


def test_radial_1k_pandapower_peer(benchmark) -> None:
    net = Radial(1_000).pandapower
    outcome = benchmark.pedantic(
        pandapower_estimate, args=(net,), kwargs={"tolerance": 1e-6}, rounds=5
    )
    assert outcome["success"]
