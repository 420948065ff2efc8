"""Independent checks of a restoration plan, with the grid package's own tools only.

A plan is applied step by step to the grid's switch states; after every step the topology
must stay radial (one source per energised island, no loop); after the isolating steps the
faulted line must stay de-energised; the final state is solved by
:func:`gridedge.grid.power_flow` and compared with what the plan claims.
"""

from dataclasses import replace

import numpy as np
import pytest

from gridedge.grid import Grid, Line, Switch, power_flow, topology
from gridedge.grid.cases import ieee33
from gridedge.services.reconfiguration import Limits, RestorationPlan


def ieee33_sectionalised() -> Grid:
    """IEEE 33-bus as in the published reconfiguration case: every feeder section switchable
    (a remote switch at its from end), the five ties normally open."""
    grid = ieee33()
    tied = {s.branch for s in grid.switches}
    extra = [
        Switch(f"S{line.id[1:]}", line.from_bus, branch=line.id, remote=True)
        for line in grid.lines
        if line.id not in tied
    ]
    return grid.with_elements(switches=[*grid.switches, *extra])


def with_line(grid: Grid, line_id: str, **changes: object) -> Grid:
    """`grid` with line `line_id` changed."""
    lines = [replace(line, **changes) if line.id == line_id else line for line in grid.lines]
    return grid.with_elements(lines=lines)


def with_switches(grid: Grid, ids: set[str], **changes: object) -> Grid:
    """`grid` with the switches in `ids` changed."""
    switches = [replace(s, **changes) if s.id in ids else s for s in grid.switches]
    return grid.with_elements(switches=switches)


def line_energised(grid: Grid, line: Line, states: dict[str, bool]) -> bool:
    topo = topology.of(grid, states)
    live = topo.energised_buses
    return any(bus in live and (line.id, bus) not in topo.open_ends for bus in line.buses)


def load_kw(grid: Grid, buses: set[str]) -> float:
    return sum(load.p_kw for load in grid.loads if load.bus in buses)


def verify(
    grid: Grid, before: dict[str, bool], plan: RestorationPlan, limits: Limits
) -> dict[str, bool]:
    """Apply `plan` to `grid` from states `before`, check it, return the final states."""
    line = grid.line(plan.fault.line)
    states = dict(before)
    assert topology.is_radial(grid, states)
    live_before = set(topology.energised_buses(grid, states))
    isolating = 0
    for step in plan.steps:
        assert states[step.switch] is (step.action == "open"), f"{step} repeats a state"
        states[step.switch] = step.action == "close"
        assert topology.is_radial(grid, states), f"{step} leaves a meshed or multi-source island"
        isolating += step.purpose == "isolate"
        if isolating == len(plan.isolating_switches):
            assert not line_energised(grid, line, states), f"{step} re-energises the fault"
    purposes = [step.purpose for step in plan.steps]
    assert purposes == sorted(purposes, key=["isolate", "sectionalise", "restore"].index)
    assert plan.switch_states == states
    live_after = set(topology.energised_buses(grid, states))
    assert live_after <= live_before, "the plan energised buses that were off before the fault"
    interrupted = load_kw(grid, live_before - live_after) + load_kw(grid, set(plan.restored_buses))
    assert set(plan.restored_buses) <= live_after
    claimed = plan.state
    assert claimed.interrupted_kw == pytest.approx(interrupted, abs=1e-6)
    assert claimed.restored_kw == pytest.approx(load_kw(grid, set(plan.restored_buses)), abs=1e-6)
    assert claimed.unserved_kw == pytest.approx(load_kw(grid, live_before - live_after), abs=1e-6)
    # The state the plan claims, recomputed by the grid package's power flow.
    result = power_flow(grid, states)
    magnitude = np.abs(result.voltage[result.energised])
    assert claimed.min_voltage_pu == pytest.approx(magnitude.min(), abs=1e-8)
    assert claimed.max_voltage_pu == pytest.approx(magnitude.max(), abs=1e-8)
    assert abs(result.voltage_of(claimed.min_voltage_bus)) == pytest.approx(magnitude.min())
    loading = [
        max(abs(result.current_of(b.id, bus)) for bus in b.buses) / b.ampacity_a
        for b in grid.lines
        if b.ampacity_a is not None
    ]
    loading += [
        max(
            abs(result.current_of(t.id, t.hv_bus)) / (t.sn_mva / np.sqrt(3) / t.hv_kv * 1e3),
            abs(result.current_of(t.id, t.lv_bus)) / (t.sn_mva / np.sqrt(3) / t.lv_kv * 1e3),
        )
        for t in grid.transformers
    ]
    if claimed.max_loading is None:
        assert not any(value > 0 for value in loading)
    else:
        assert claimed.max_loading == pytest.approx(max(loading), rel=1e-6)
    # Within limits: every bus the plan restored, and every bus of the islands feeding them.
    restored_islands = [
        island
        for island in topology.islands(grid, states)
        if island.energised and island.buses & set(plan.restored_buses)
    ]
    for island in restored_islands:
        for bus in island.buses:
            assert limits.v_min_pu <= abs(result.voltage_of(bus)) <= limits.v_max_pu, bus
    assert claimed.max_loading is None or claimed.max_loading <= limits.max_loading + 1e-9
    return states
