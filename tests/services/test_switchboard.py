"""The simulated switches' command logic and the feeder protection, without a network."""

import dataclasses

import pytest

from gridedge.grid.cases import turin
from gridedge.mqtt import Envelope
from gridedge.services.reconfiguration import plan_restoration
from gridedge.services.reconfiguration.service import with_reclosing
from gridedge.services.simulator.protection import feeder_breaker
from gridedge.services.simulator.switchboard import SwitchBoard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def grid():
    return turin()


@pytest.fixture
def board(grid):
    clock = Clock()
    made = SwitchBoard(grid, grid.switch_states(), select_timeout_s=2.0, clock=clock)
    made.clock = clock
    return made


def command(board, action, operation="open", request="r1", sender="svc", expires=None):
    body = {"action": action, "operation": operation, "request": request}
    return Envelope(sender, "s", 1, board.clock.now, body, expires=expires)


def test_select_then_operate(board):
    assert board.decide("F1-02@SS01", command(board, "select"), False).response["result"] == (
        "selected"
    )
    decision = board.decide("F1-02@SS01", command(board, "operate"), False)
    assert decision.response["result"] == "operated"
    assert decision.closed is False
    assert board.state("F1-02@SS01") is True  # until the switch has moved
    board.moved([("F1-02@SS01", False)])
    assert board.state("F1-02@SS01") is False
    # The selection is used up.
    again = board.decide("F1-02@SS01", command(board, "operate"), False).response
    assert (again["result"], again["reason"]) == ("refused", "not selected")


def test_a_retained_or_expired_command_is_stale(board):
    retained = board.decide("TIE@SS06", command(board, "select", "close"), True).response
    assert retained["reason"] == "a retained command is stale"
    late = command(board, "select", "close", expires=board.clock.now - 0.1)
    assert board.decide("TIE@SS06", late, False).response["reason"] == (
        "the command expired before it arrived"
    )


def test_a_selection_expires_and_belongs_to_its_holder(board):
    board.decide("TIE@SS06", command(board, "select", "close"), False)
    other = board.decide("TIE@SS06", command(board, "operate", "close", sender="x"), False)
    assert other.response["reason"] == "not selected"
    board.clock.now += 2.5
    late = board.decide("TIE@SS06", command(board, "operate", "close"), False)
    assert late.response["reason"] == "the selection expired"
    assert late.closed is None


def test_a_manual_switch_does_not_obey(grid):
    manual = grid.with_elements(
        switches=[
            dataclasses.replace(s, remote=False) if s.id == "TIE@SS06" else s for s in grid.switches
        ]
    )
    board = SwitchBoard(manual, manual.switch_states(), 2.0, clock=Clock())
    body = {"action": "select", "operation": "close", "request": "r"}
    answer = board.decide("TIE@SS06", Envelope("svc", "s", 1, 1000.0, body), False).response
    assert answer["reason"] == "switch TIE@SS06 is not remotely controllable"


@pytest.mark.parametrize(
    ("location", "breaker"),
    [
        ("F1-01", "F1-01@PS1-MV"),
        ("F1-04", "F1-01@PS1-MV"),
        ("SS05", "F1-01@PS1-MV"),
        ("F2-03", "F2-01@PS2-MV"),
        ("TIE", "F2-01@PS2-MV"),
        ("PS1-MV", None),
    ],
)
def test_protection_opens_the_breaker_of_the_faulted_feeder(grid, location, breaker):
    assert feeder_breaker(grid, grid.switch_states(), location) == breaker


def test_protection_follows_the_switch_states(grid):
    restored = {**grid.switch_states(), "F1-03@SS02": False, "F1-03@SS03": False, "TIE@SS06": True}
    assert feeder_breaker(grid, restored, "F1-05") == "F2-01@PS2-MV"
    assert feeder_breaker(grid, restored, "F1-03") is None  # isolated: nothing energises it


def test_the_tripped_breaker_closes_after_isolation_and_before_the_ties(grid):
    plan = plan_restoration(grid, None, "F1-04")
    steps = with_reclosing(plan, ["F1-01@PS1-MV"])
    assert [(s.action, s.switch) for s in steps] == [
        ("open", "F1-04@SS03"),
        ("open", "F1-04@SS04"),
        ("close", "F1-01@PS1-MV"),
        ("close", "TIE@SS06"),
    ]
    # A fault on the head line: the breaker is an isolating switch and stays open.
    head = plan_restoration(grid, None, "F1-01")
    assert [s.switch for s in with_reclosing(head, ["F1-01@PS1-MV"])] == [
        s.switch for s in head.steps
    ]
