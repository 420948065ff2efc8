"""Phasors a feeder-head meter and downstream meters would measure, from the grid solvers."""

import math

import numpy as np

from gridedge.grid import Grid


def meter_phasors(grid: Grid, result, meter_id: str) -> np.ndarray:
    """Six phasors (V, A RMS) of a meter from a power-flow or fault result."""
    meter = grid.meter(meter_id)
    base = grid.bus(meter.bus).kv * 1e3 / math.sqrt(3)
    return np.concatenate(
        [result.phase_voltages(meter.bus) * base, result.phase_currents(meter.branch, meter.bus)]
    )


def magnitudes(grid: Grid, result, meters) -> dict[str, np.ndarray]:
    """Phase-voltage magnitudes (V RMS) of each of `meters` from a fault result."""
    out = {}
    for meter_id in meters:
        bus = grid.meter(meter_id).bus
        out[meter_id] = np.abs(result.phase_voltages(bus)) * grid.bus(bus).kv * 1e3 / math.sqrt(3)
    return out
