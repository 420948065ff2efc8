"""Restoration plans: every single-line fault, limits, manual switches, bad input."""

import json

import pytest
from restoration_checks import ieee33_sectionalised, verify, with_line, with_switches

from gridedge.errors import ConfigurationError, InvalidInputError, IsolationError
from gridedge.grid import Bus, Grid, Line, Load, Source, Switch, topology
from gridedge.grid.cases import ieee33, turin
from gridedge.services.reconfiguration import Limits, Restorer, load_limits, plan_restoration


@pytest.fixture(scope="module")
def turin_grid():
    return turin()


@pytest.fixture(scope="module")
def turin_restorer(turin_grid):
    return Restorer(turin_grid)


@pytest.fixture(scope="module")
def ieee33_grid():
    return ieee33_sectionalised()


def test_turin_every_single_line_fault(turin_grid, turin_restorer) -> None:
    """Every line of the Turin case, MV and LV: radial, within limits, as claimed."""
    before = turin_grid.switch_states()
    verified: dict[tuple, dict] = {}
    for line in turin_grid.lines:
        plan = turin_restorer.plan(line.id)
        key = tuple(sorted(plan.switch_states.items()))
        # LV faults under one substation lead to one configuration: solve each one once.
        if key not in verified or line.id.startswith(("F", "TIE")):
            verified[key] = verify(turin_grid, before, plan, turin_restorer.limits)
        assert plan.state.unserved_kw == pytest.approx(
            sum(g.load_kw for g in plan.unserved), abs=1e-9
        )
    assert len(verified) >= 13


@pytest.mark.parametrize(
    ("line", "isolating", "tie_from"),
    [
        ("F1-03", ["F1-03@SS02", "F1-03@SS03"], "PS2"),
        ("F2-01", ["F2-01@PS2-MV", "F2-01@SS07"], "PS1"),
    ],
)
def test_turin_mv_fault_is_restored_through_the_tie(turin_restorer, line, isolating, tie_from):
    plan = turin_restorer.plan(line)
    assert list(plan.isolating_switches) == isolating
    assert [(s.action, s.switch) for s in plan.steps] == [
        ("open", isolating[0]),
        ("open", isolating[1]),
        ("close", "TIE@SS06"),
    ]
    assert tie_from in plan.steps[-1].detail
    assert plan.state.unserved_kw == pytest.approx(0.0, abs=1e-9)
    assert plan.state.restored_kw > 100


def test_ieee33_every_single_line_fault(ieee33_grid) -> None:
    """Every section and tie line of the sectionalised IEEE 33-bus feeder."""
    restorer = Restorer(ieee33_grid)
    before = ieee33_grid.switch_states()
    restored = 0
    for line in ieee33_grid.lines:
        plan = restorer.plan(line.id)
        verify(ieee33_grid, before, plan, restorer.limits)
        restored += plan.state.restored_kw > 0
    assert restored >= 20


def test_ieee33_downstream_outage_picked_up_by_ties(ieee33_grid) -> None:
    plan = plan_restoration(ieee33_grid, None, "L6-26")
    assert plan.isolating_switches == ("S6-26", "S26-27")
    closed = [s.switch for s in plan.steps if s.action == "close"]
    assert closed, plan.describe()
    # Sections switch at their from end only: bus 26 lies between the two isolating switches.
    (zone,) = plan.unserved
    assert (zone.reason, zone.buses, zone.load_kw) == ("faulted section", ("26",), 60.0)
    assert plan.state.restored_kw == pytest.approx(plan.state.interrupted_kw - 60.0)


def test_limits_leave_part_unserved_and_say_why(turin_grid) -> None:
    """A weak tie cannot carry the whole outage: the plan restores the most it can carry."""
    weak = with_line(turin_grid, "TIE", ampacity_a=6.0)
    limits = Limits()
    plan = plan_restoration(weak, None, "F1-01", limits)
    verify(weak, weak.switch_states(), plan, limits)
    assert 0 < plan.state.restored_kw < plan.state.interrupted_kw
    assert [g.reason for g in plan.unserved] == ["limits"]
    (cut,) = [s for s in plan.steps if s.purpose == "sectionalise"]
    assert cut.detail.startswith("leaves out")
    assert any("TIE loaded" in note for note in plan.notes), plan.notes
    # Nothing that restores more is within limits: the plain reference search agrees.
    reference = plan_restoration(weak, None, "F1-01", limits, solver="grid")
    assert reference.steps == plan.steps
    assert reference.state.restored_kw == pytest.approx(plan.state.restored_kw)


def test_voltage_limit_leaves_part_unserved(ieee33_grid) -> None:
    limits = Limits(v_min_pu=0.93)
    # A fault at the head of the main feeder: only what the ties can carry within 0.93 p.u.
    plan = plan_restoration(ieee33_grid, None, "L2-3", limits)
    verify(ieee33_grid, ieee33_grid.switch_states(), plan, limits)
    assert plan.state.restored_kw < plan.state.interrupted_kw
    assert any(g.reason == "limits" for g in plan.unserved)


def test_a_manual_switch_enlarges_the_isolated_zone(turin_grid) -> None:
    manual = with_switches(turin_grid, {"F1-03@SS03"}, remote=False)
    plan = plan_restoration(manual, None, "F1-03")
    verify(manual, manual.switch_states(), plan, Limits())
    assert plan.isolating_switches == ("F1-03@SS02", "F1-04@SS03")
    (zone,) = [g for g in plan.unserved if g.reason == "faulted section"]
    assert "SS03" in zone.buses
    assert any("F1-03@SS03" in note and "not remotely controllable" in note for note in plan.notes)


def test_a_manual_tie_is_named(ieee33_grid) -> None:
    manual = with_switches(ieee33_grid, {"T25-29"}, remote=False)
    plan = plan_restoration(manual, None, "L27-28")
    verify(manual, manual.switch_states(), plan, Limits())
    assert "T25-29" not in plan.switch_states or not plan.switch_states["T25-29"]
    assert [s.switch for s in plan.steps if s.action == "close"] == ["T18-33"]
    assert any("T25-29" in note and "crew" in note for note in plan.notes), plan.notes


def test_no_remote_switch_towards_the_source(turin_grid) -> None:
    upstream = {"F1-01@PS1-MV", "F1-01@SS01", "F1-02@SS01", "F1-02@SS02", "F1-03@SS02"}
    manual = with_switches(turin_grid, upstream, remote=False)
    with pytest.raises(IsolationError, match=r"line 'F1-03' .* source 'PS1'.*F1-03@SS02"):
        plan_restoration(manual, None, "F1-03")


def test_fault_given_as_a_locator_reports_it(turin_restorer) -> None:
    by_id = turin_restorer.plan("F1-03")
    for fault in (
        ("SS02", "SS03", 120.0),
        ("SS03", "SS02", 100.0),
        {"from_bus": "SS02", "to_bus": "SS03", "distance_m": 0.0},
    ):
        plan = turin_restorer.plan(fault)
        assert plan.fault.line == "F1-03"
        assert plan.steps == by_id.steps
    assert turin_restorer.plan(("SS03", "SS02", 100.0)).fault.from_bus == "SS03"


def test_a_fault_at_a_bus_is_isolated_on_both_sides(turin_restorer) -> None:
    # The locator places the fault at SS03 and cannot tell F1-03 from F1-04: both are
    # isolated, SS03 with them, and the rest of the feeder restored.
    located = {"from_bus": "SS03", "to_bus": "SS04", "distance_m": 0.3}
    plan = turin_restorer.plan({**located, "sections": ["F1-04", "F1-03"]})
    assert plan.fault.lines == ("F1-04", "F1-03")
    assert set(plan.isolating_switches) == {
        "F1-03@SS02",
        "F1-03@SS03",
        "F1-04@SS03",
        "F1-04@SS04",
    }
    assert "Fault on line F1-04, 0 m from SS03 (or across it on F1-03: all isolated)" in (
        plan.describe()
    )
    single = turin_restorer.plan(located)
    assert set(single.isolating_switches) == {"F1-04@SS03", "F1-04@SS04"}
    # Every other bus the single-section plan restores is restored here too.
    assert set(single.restored_buses) - set(plan.restored_buses) <= {"SS03"}
    assert plan.state.unserved_kw >= single.state.unserved_kw
    for bad, message in (
        (["F1-06"], "section 'F1-06' shares no bus with the faulted line 'F1-04'"),
        ("F1-03", "sections must be a list of line ids"),
        (["L9"], "no line 'L9'"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            turin_restorer.plan({**located, "sections": bad})


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("L7", "no line 'L7'"),
        (("SS02", "SS04", 10.0), "no line of grid 'Turin' joins buses 'SS02' and 'SS04'"),
        (("SS02", "SS03", 500.0), "distance_m 500.0 from bus 'SS02' is not within line 'F1-03'"),
        (("SS02", "SS03", float("nan")), "not within line 'F1-03'"),
        (("SS02", "nowhere", 1.0), "no bus 'nowhere'"),
        (("SS02", "SS03"), "a fault is a line id or"),
    ],
)
def test_bad_fault(turin_restorer, fault, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        turin_restorer.plan(fault)


def test_fault_on_a_de_energised_line(turin_restorer) -> None:
    with pytest.raises(InvalidInputError, match="line 'TIE' is de-energised"):
        turin_restorer.plan("TIE", {"TIE@SS12": False})


def test_bad_switch_states(turin_restorer) -> None:
    with pytest.raises(InvalidInputError, match="no switch 'X'"):
        turin_restorer.plan("F1-03", {"X": True})
    with pytest.raises(InvalidInputError, match=r"source\(s\) \['PS1', 'PS2'\] meshed"):
        turin_restorer.plan("F1-03", {"TIE@SS06": True})


def test_grid_without_tie() -> None:
    grid = ieee33()
    no_tie = grid.with_elements(switches=[])
    with pytest.raises(InvalidInputError, match="grid 'IEEE 33-bus' has no remotely controllable"):
        plan_restoration(no_tie, None, "L2-3")


def test_plan_is_json(turin_restorer) -> None:
    plan = turin_restorer.plan(("SS02", "SS03", 120.0))
    document = json.loads(plan.to_json())
    assert document["fault"] == {
        "line": "F1-03",
        "from_bus": "SS02",
        "distance_m": 120.0,
        "across": [],
    }
    assert document["steps"][-1] == {
        "switch": "TIE@SS06",
        "action": "close",
        "purpose": "restore",
        "detail": plan.steps[-1].detail,
    }
    assert document["switch_states"]["TIE@SS06"] is True
    assert document["state"]["restored_kw"] == pytest.approx(plan.state.restored_kw)
    text = plan.describe()
    assert "close TIE@SS06" in text.replace("  ", " ")


def test_limits_from_settings(tmp_path, monkeypatch) -> None:
    path = tmp_path / "gridedge.toml"
    path.write_text("[reconfiguration]\nv_min_pu = 0.95\nmax_openings = 1\n")
    limits = load_limits(path)
    assert (limits.v_min_pu, limits.max_openings) == (0.95, 1)
    monkeypatch.setenv("GRIDEDGE_RECONFIGURATION_MAX_LOADING", "0.8")
    assert load_limits(path).max_loading == 0.8
    with pytest.raises(ConfigurationError, match="v_min_pu"):
        Limits(v_min_pu=1.2)
    with pytest.raises(ConfigurationError, match="max_openings"):
        Limits(max_openings=-1)


def test_sweep_and_grid_solvers_agree(turin_grid) -> None:
    for line in ("F1-01", "F1-04", "F2-02", "F2-06"):
        fast = plan_restoration(turin_grid, None, line)
        plain = plan_restoration(turin_grid, None, line, solver="grid")
        assert fast.steps == plain.steps
        assert fast.state.min_voltage_pu == pytest.approx(plain.state.min_voltage_pu, abs=1e-9)
        assert fast.state.losses_kw == pytest.approx(plain.state.losses_kw, abs=1e-6)
    assert topology.is_radial(turin_grid)


def test_command_prints_the_plan(capsys) -> None:
    from gridedge.cli import main

    assert main(["reconfigure", "plan", "--case", "turin", "--line", "F1-03"]) == 0
    text = capsys.readouterr().out
    assert "close TIE@SS06" in " ".join(text.split())
    assert (
        main(["reconfigure", "plan", "--case", "ieee33", "--located", "6", "26", "300", "--json"])
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["fault"] == {
        "line": "L6-26",
        "from_bus": "6",
        "distance_m": 300.0,
        "across": [],
    }
    assert main(["reconfigure", "plan", "--case", "turin", "--line", "L7"]) == 2
    assert "no line 'L7'" in capsys.readouterr().err


def bus_switched_grid() -> Grid:
    """Two sources; feeder A ends in a busbar split by a bus-bus switch; a bus-bus tie to B."""
    line = lambda i, a, b: Line(i, a, b, 1.0, 0.2, 0.2, 0.0, 0.6, 0.6, 0.0, 300.0)  # noqa: E731
    return Grid(
        name="bus switches",
        buses=[Bus(b, 22.0) for b in ("S1", "A1", "A2", "A2b", "S2", "B1")],
        lines=[line("FA", "S1", "A1"), line("A12", "A1", "A2"), line("FB", "S2", "B1")],
        switches=[
            Switch("FA-cb", "S1", branch="FA", remote=True),
            Switch("A12-sw", "A1", branch="A12", remote=True),
            Switch("SEC", "A2", to_bus="A2b", remote=True),
            Switch("TIE", "A2b", to_bus="B1", closed=False, normally_closed=False, remote=True),
        ],
        loads=[Load(f"D{b}", b, 500.0, 100.0) for b in ("A1", "A2", "A2b", "B1")],
        sources=[Source("G1", "S1", 500.0), Source("G2", "S2", 500.0)],
    )


def test_bus_bus_switches_isolate_and_restore() -> None:
    grid = bus_switched_grid()
    plan = plan_restoration(grid, None, "A12")
    verify(grid, grid.switch_states(), plan, Limits())
    assert [(s.action, s.switch) for s in plan.steps] == [
        ("open", "A12-sw"),
        ("open", "SEC"),
        ("close", "TIE"),
    ]
    assert plan.restored_buses == ("A2b",)
    assert [(g.reason, g.buses) for g in plan.unserved] == [("faulted section", ("A2",))]
    assert "from source G2" in plan.steps[-1].detail
