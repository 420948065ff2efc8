"""The restored configuration against pandapower, and the sweep kernel against its twin."""

import numpy as np
import pytest
from restoration_checks import ieee33_sectionalised

from gridedge import kernels
from gridedge.grid import topology
from gridedge.grid.cases import turin
from gridedge.services.reconfiguration import Limits, plan_restoration
from gridedge.services.reconfiguration.flow import Electrical, GridFlow, SweepFlow
from gridedge.services.reconfiguration.graph import SwitchingGraph


def test_restored_ieee33_matches_pandapower() -> None:
    """Apply a plan that closes ties to pandapower's own case33bw and solve it there."""
    pp = pytest.importorskip("pandapower")
    networks = pytest.importorskip("pandapower.networks")
    grid = ieee33_sectionalised()
    plan = plan_restoration(grid, None, "L6-26")
    assert any(step.action == "close" for step in plan.steps)
    net = networks.case33bw()
    for index, row in net.line.iterrows():
        a, b = sorted((int(row.from_bus) + 1, int(row.to_bus) + 1))
        line = grid.line(f"L{a}-{b}")
        on = [
            closed
            for switch, closed in plan.switch_states.items()
            if grid.switch(switch).branch == line.id
        ]
        net.line.loc[index, "in_service"] = all(on)
    pp.runpp(net, tolerance_mva=1e-10, numba=False)
    vm = net.res_bus.vm_pu.to_numpy()
    energised = ~np.isnan(vm)
    # Bus 26 lies in the isolated zone: pandapower leaves it out of service (nan).
    assert [str(i + 1) for i in np.flatnonzero(~energised)] == ["26"]
    assert plan.state.min_voltage_pu == pytest.approx(np.nanmin(vm), abs=1e-6)
    assert plan.state.losses_kw == pytest.approx(net.res_line.pl_mw.sum() * 1e3, rel=1e-6)
    ours = GridFlow(SwitchingGraph(grid), Limits())(
        SwitchingGraph(grid).closed_links(plan.switch_states)
    )
    assert np.max(np.abs(np.abs(ours.voltage[energised]) - vm[energised])) < 1e-8


@pytest.mark.kernels
@pytest.mark.parametrize("states", [{}, {"F1-03@SS03": False, "TIE@SS06": True}])
def test_sweep_kernel_matches_twin_and_grid_power_flow(states) -> None:
    grid = turin()
    graph = SwitchingGraph(grid)
    electrical = Electrical(graph)
    closed = graph.closed_links({**grid.switch_states(), **states})
    reference = GridFlow(graph, Limits())(closed)
    for backend in kernels.BACKENDS:
        state = SweepFlow(electrical, Limits(), backend)(closed)
        assert np.max(np.abs(state.voltage - reference.voltage)) < 1e-12
        assert np.max(np.abs(state.current - reference.current)) < 1e-6  # A
        assert electrical.losses_kw(state) == pytest.approx(electrical.losses_kw(reference))


def _chain(n: int) -> tuple:
    a = np.arange(n - 1, dtype=np.int64)
    b = a + 1
    z = 0.01 + 0.02j
    coefficients = np.tile(np.array([1, z, 0, 1], dtype=np.complex128), (n - 1, 2, 1))
    load = np.full(n, 0.05 + 0.02j)
    return a, b, coefficients, load


@pytest.mark.kernels
@pytest.mark.parametrize("backend", kernels.BACKENDS)
def test_sweep_kernel_statuses(backend) -> None:
    radial = kernels.load("radial", backend)
    a, b, coefficients, load = _chain(6)
    slack = np.array([0], dtype=np.int64)
    v0 = np.array([1.0 + 0j])
    voltage, iterations, status = radial.sweep(a, b, coefficients, slack, v0, load, 1e-12, 60)
    assert status == "converged"
    assert iterations > 1
    # Voltage drop along a chain: each node sees the current of everything below it.
    drawn = np.conj(load / voltage)
    for k in range(1, 6):
        assert voltage[k - 1] - voltage[k] == pytest.approx(coefficients[0, 0, 1] * drawn[k:].sum())
    ring = (np.append(a, 5), np.append(b, 0), np.concatenate([coefficients, coefficients[:1]]))
    assert radial.sweep(*ring, slack, v0, load, 1e-12, 60)[2] == "meshed"
    two_sources = np.array([0, 5], dtype=np.int64)
    assert (
        radial.sweep(a, b, coefficients, two_sources, np.ones(2, complex), load, 1e-12, 60)[2]
        == "meshed"
    )
    assert radial.sweep(a, b, coefficients, slack, v0, load * 400, 1e-12, 60)[2] == "diverged"
    # A vertex no slack reaches is de-energised.
    cut = radial.sweep(a[:3], b[:3], coefficients[:3], slack, v0, load, 1e-12, 60)[0]
    assert np.all(cut[4:] == 0)
    assert np.all(cut[:4] != 0)
    with pytest.raises(ValueError, match="edge_a"):
        radial.sweep(a + 10, b, coefficients, slack, v0, load, 1e-12, 60)


@pytest.mark.kernels
def test_components_kernel_matches_twin() -> None:
    rng = np.random.default_rng(7)
    native, twin = kernels.load("radial", "native"), kernels.load("radial", "python")
    for _ in range(100):
        n = int(rng.integers(1, 60))
        m = int(rng.integers(0, 60))
        a = rng.integers(0, n, m).astype(np.int64)
        b = rng.integers(0, n, m).astype(np.int64)
        np.testing.assert_array_equal(native.components(n, a, b), twin.components(n, a, b))


@pytest.mark.parametrize(
    "states",
    [{}, {"TIE@SS06": True}, {"F1-03@SS03": False, "TIE@SS06": True}, {"TIE@SS12": False}],
)
def test_link_graph_islands_match_grid_topology(states) -> None:
    grid = turin()
    graph = SwitchingGraph(grid)
    full = {**grid.switch_states(), **states}
    islands = graph.islands(graph.closed_links(full))
    energised = islands.energised_vertices()[: graph.n_buses]
    expected = topology.energised_buses(grid, full)
    assert {grid.bus_ids[i] for i in np.flatnonzero(energised)} == expected
    radial = all(islands.radial[islands.energised])
    assert radial == topology.is_radial(grid, full)
