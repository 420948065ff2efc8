"""A fault inside a line against the same fault at a bus that splits the line there: the
interior-point formulas of FaultStudy against a plain solve of the split grid."""

import dataclasses

import numpy as np
import pytest

from gridedge.grid import Bus, bus_fault, fault
from gridedge.grid.cases import cigre_mv


@pytest.mark.parametrize("kind", ["a-g", "b-c-g", "a-b-c"])
def test_a_fault_inside_a_line_is_a_bus_fault_on_the_line_split_there(kind) -> None:
    # The point splits the line into two pi sections, each with half its share of the line's
    # charging at each end: 4.4 km of cable charge enough to show a shunt put there twice.
    grid = cigre_mv()
    line, x = grid.line("L2-3"), 0.3
    parts = [
        dataclasses.replace(line, id="L2-f", to_bus="f", length_km=x * line.length_km),
        dataclasses.replace(line, id="Lf-3", from_bus="f", length_km=(1 - x) * line.length_km),
    ]
    split = grid.with_elements(
        buses=[*grid.buses, Bus("f", grid.bus(line.from_bus).kv)],
        lines=[*(other for other in grid.lines if other.id != line.id), *parts],
    )
    inside, at_bus = fault(grid, "L2-3", x, kind, 2.0), bus_fault(split, "f", kind, 2.0)
    head, split_head = inside.phase_currents("L1-2", "1"), at_bus.phase_currents("L1-2", "1")
    assert np.abs(head - split_head).max() < 2e-5 * np.abs(split_head).max()
    for bus in ("1", "3", "10", "14"):
        assert np.abs(inside.phase_voltages(bus) - at_bus.phase_voltages(bus)).max() < 2e-5
