"""Islands, radiality, paths, feeders and the meters a topology change affects."""

from dataclasses import replace

import pytest

from gridedge.errors import InvalidInputError
from gridedge.grid import Bus, Grid, Line, Load, Meter, Source, Switch, topology
from gridedge.grid.cases import ieee33


def test_ieee33_is_radial_until_a_tie_closes() -> None:
    grid = ieee33()
    assert topology.is_radial(grid)
    assert len(topology.energised_buses(grid)) == 33
    assert not topology.is_radial(grid, {"T18-33": True})


def test_opening_a_section_splits_off_a_dead_island() -> None:
    grid = ieee33()
    # The only switches sit on the ties, so open a feeder section by adding one.
    cut = replace(grid, switches=(*grid.switches, Switch("cut", "6", branch="L6-26")))
    islands = topology.islands(cut, {"cut": False})
    dead = [island for island in islands if not island.energised]
    assert len(dead) == 1
    assert dead[0].buses == frozenset(str(b) for b in range(26, 34))
    assert "30" not in topology.energised_buses(cut, {"cut": False})
    # Closing the tie 25-29 picks the dead part up again, radially.
    states = {"cut": False, "T25-29": True}
    assert topology.is_radial(cut, states)
    path = topology.path_to_source(cut, "30", states)
    assert path.buses == ("1", "2", "3", "23", "24", "25", "29", "30")
    assert path.branches == ("L1-2", "L2-3", "L3-23", "L23-24", "L24-25", "L25-29", "L29-30")


def test_paths_downstream_sets_and_feeders() -> None:
    grid = ieee33()
    assert topology.path_to_source(grid, "1").buses == ("1",)
    assert topology.path_to_source(grid, "18").branches[-1] == "L17-18"
    assert topology.downstream(grid, "L6-26") == frozenset(str(b) for b in range(26, 34))
    assert topology.downstream(grid, "32") == {"32", "33"}
    assert topology.feeder_of(grid, "22") == "L1-2"
    assert topology.feeder_of(grid, "1") is None
    assert topology.feeders(grid) == {"L1-2": frozenset(str(b) for b in range(2, 34))}
    with pytest.raises(InvalidInputError, match="meshed island"):
        topology.path_to_source(grid, "5", {"T8-21": True})
    with pytest.raises(
        InvalidInputError, match="no bus, line, transformer or bus-bus switch 'nowhere'"
    ):
        topology.downstream(grid, "nowhere")
    with pytest.raises(InvalidInputError, match="no switch 'X'"):
        topology.islands(grid, {"X": True})


def two_feeders() -> Grid:
    """Two feeders from one busbar, a tie between their ends, one meter per feeder."""
    line = lambda i, a, b: Line(i, a, b, 0.2, 0.1, 0.1, 0.0, 0.3, 0.3, 0.0)  # noqa: E731
    return Grid(
        name="two feeders",
        buses=[Bus(b, 22.0) for b in ("S", "A1", "A2", "B1", "B2")],
        lines=[
            line("FA", "S", "A1"),
            line("A12", "A1", "A2"),
            line("FB", "S", "B1"),
            line("B12", "B1", "B2"),
            line("tie", "A2", "B2"),
        ],
        switches=[
            Switch("tie-sw", "A2", branch="tie", closed=False, normally_closed=False),
            Switch("A12-sw", "A1", branch="A12"),
        ],
        loads=[Load(f"D{b}", b, 100.0) for b in ("A1", "A2", "B1", "B2")],
        sources=[Source("G", "S", 500.0)],
        meters=[
            Meter("MA", "S", branch="FA"),
            Meter("MB", "S", branch="FB"),
            Meter("MA2", "A2", channels=("Va", "Vb", "Vc")),
        ],
    )


def test_affected_meters() -> None:
    grid = two_feeders()
    assert topology.affected_meters(grid, grid) == frozenset()
    # A load change on feeder B concerns only feeder B's meter.
    changed = grid.with_elements(
        loads=[replace(d, p_kw=200.0) if d.id == "DB2" else d for d in grid.loads]
    )
    assert topology.affected_meters(grid, changed) == {"MB"}
    # Moving A2 to feeder B (open A1-A2, close the tie) concerns every meter that sees it.
    moved = grid.with_switch_states({"A12-sw": False, "tie-sw": True})
    assert topology.affected_meters(grid, moved) == {"MA", "MB", "MA2"}
    # A meter that disappears is affected, and so is the head meter that used its readings.
    fewer = grid.with_elements(meters=grid.meters[:2])
    assert topology.affected_meters(grid, fewer) == {"MA", "MA2"}
