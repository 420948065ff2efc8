"""Restoration plans on the Turin case: the prepared planner against plain references.

Goal (FLISR issue): a restoration plan in <= 1 ms on the Turin case (the paper's
reconfiguration took < 28 ms on a laptop). Compared in the same run with the same plan
computed with the sweep kernel's numpy twin, and with gridedge.grid.power_flow on the whole
grid for every candidate (the plain reference).
"""

import pytest

from gridedge.grid.cases import turin
from gridedge.services.reconfiguration import Restorer, plan_restoration

FAULTS = ("F1-01", "F1-03", "F2-04", "TIE")
"""A head-of-feeder fault, two mid-feeder faults and the tie itself."""


@pytest.fixture(scope="module")
def grid():
    return turin()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(
    "planner",
    [("sweep", "native"), ("sweep", "python"), ("grid", None)],
    ids=["sweep-native", "sweep-twin", "grid-power-flow"],
)
def test_plan_turin(benchmark, grid, fault: str, planner: tuple) -> None:
    solver, backend = planner
    benchmark.group = f"restoration plan, Turin, fault on {fault}"
    restorer = Restorer(grid, solver=solver, backend=backend)
    plan = benchmark(restorer.plan, fault)
    assert plan.state.unserved_kw == pytest.approx(0.0, abs=1e-9)


@pytest.mark.benchmark(group="restoration plan, Turin, grid prepared in the call")
def test_plan_turin_cold(benchmark, grid) -> None:
    plan = benchmark(plan_restoration, grid, None, "F1-03")
    assert plan.steps[-1].switch == "TIE@SS06"
