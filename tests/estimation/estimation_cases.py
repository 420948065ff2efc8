"""Measurement sets of the estimation tests (built on the grids of ``peers``)."""

import numpy as np

from gridedge.grid import Grid, Measurement, power_flow
from gridedge.meter.estimation import Quantity
from gridedge.meter.estimation.accuracy import PMU, SMART_METER, SUBSTATION_METER
from gridedge.meter.estimation.simulation import readings


def customer_plan(grid: Grid, every_v: int = 1) -> list:
    """Voltage at every `every_v`-th bus, P and Q at every load bus (smart meters), and P, Q
    into the first branch at the source (substation meter)."""
    plan = [(Quantity("v", b.id), SMART_METER) for b in grid.buses[::every_v]]
    for load in grid.loads:
        plan += [(Quantity("p", load.bus), SMART_METER), (Quantity("q", load.bus), SMART_METER)]
    source = grid.sources[0].bus
    head = next(b for b in grid.branches if source in b.buses)
    plan += [
        (Quantity("p", head.id, source), SUBSTATION_METER),
        (Quantity("q", head.id, source), SUBSTATION_METER),
    ]
    return plan


def customer_readings(grid: Grid, seed: int = 1, every_v: int = 1) -> list[Measurement]:
    """Noisy readings of :func:`customer_plan` in `grid`'s power flow."""
    return readings(power_flow(grid), customer_plan(grid, every_v), np.random.default_rng(seed))


def every_kind(grid: Grid, seed: int = 2) -> list[Measurement]:
    """Smart meters at the loads, and at every meter of the grid a PMU measuring v, va, p, q,
    i and ia of its branch."""
    plan = []
    for load in grid.loads:
        plan += [(Quantity(q, load.bus), SMART_METER) for q in ("v", "p", "q")]
    for meter in grid.meters:
        plan += [(Quantity("v", meter.bus), PMU), (Quantity("va", meter.bus), PMU)]
        plan += [
            (Quantity(q, meter.branch, meter.bus), accuracy)
            for q, accuracy in (("p", PMU), ("q", PMU), ("i", SUBSTATION_METER), ("ia", PMU))
        ]
    return readings(power_flow(grid), plan, np.random.default_rng(seed))
