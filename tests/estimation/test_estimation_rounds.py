"""The estimation levels as rounds: timing, message bodies, a meter's own readings, areas."""

import math

import numpy as np
import pytest

from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid import topology
from gridedge.grid.cases import turin
from gridedge.meter.estimation import areas
from gridedge.meter.estimation.accuracy import SUBSTATION_METER
from gridedge.meter.estimation.multilevel import NodeEstimate
from gridedge.meter.estimation.rounds import (
    OwnReadings,
    Rounds,
    RoundSettings,
    decode,
    encode,
    round_time,
)
from gridedge.meter.phasor import Frames

NOMINAL = 22e3 / math.sqrt(3)


def test_round_times_are_multiples_of_the_interval():
    assert round_time(124.9, 5.0) == 120.0
    assert round_time(125.0, 5.0) == 125.0


def test_a_round_runs_when_complete_or_after_its_wait():
    rounds = Rounds(10.0, 4.0, ["a", "b"])
    rounds.add(100.0, "a", 1)
    assert rounds.ready(100.5) == []  # b missing, still waiting
    rounds.add(100.0, "b", 2)
    assert rounds.ready(100.6) == [(100.0, {"a": 1, "b": 2})]
    rounds.add(100.0, "a", 3)  # a copy for a round already run
    rounds.add(110.0, "a", 4)
    rounds.add(110.0, "z", 5)  # not expected
    assert rounds.ready(113.9) == []
    assert rounds.ready(114.0) == [(110.0, {"a": 4})]
    assert rounds.ready(200.0) == []


def test_new_senders_change_what_a_round_waits_for_and_no_round_runs_twice():
    rounds = Rounds(10.0, 4.0, ["a", "b"])
    rounds.add(100.0, "a", 1)
    rounds.add(100.0, "b", 2)
    assert rounds.ready(100.5) == [(100.0, {"a": 1, "b": 2})]
    rounds.add(110.0, "a", 3)
    rounds.add(110.0, "b", 4)
    rounds.expect(["b", "c"])  # a feeder that lost a and gained c
    rounds.open(110.5)
    rounds.open(100.5)  # the round already run does not open again
    assert rounds.ready(110.6) == []  # c missing
    rounds.add(110.0, "c", 5)
    assert rounds.ready(110.7) == [(110.0, {"b": 4, "c": 5})]


def test_a_round_opens_without_messages_but_not_before_the_callers_readings():
    rounds = Rounds(10.0, 4.0, ["a"])
    rounds.open(101.0, since=103.0)  # round 100 started before the readings
    rounds.add(100.0, "a", 1)
    assert rounds.ready(120.0) == []
    rounds.open(121.0, since=103.0)
    assert rounds.ready(125.0) == [(120.0, {})]


def test_bodies_round_trip_and_refuse_what_they_are_not():
    node = NodeEstimate("B1", v=1.01, v_std=0.001, meters=("m",))
    assert decode(NodeEstimate, encode(60.0, node)) == (60.0, node)
    with pytest.raises(InvalidInputError, match="numeric 'time'"):
        decode(NodeEstimate, {"message": {}})
    with pytest.raises(InvalidInputError, match="NodeEstimate"):
        decode(NodeEstimate, {"time": 1, "message": {"bus": "B1", "colour": "red"}})


def test_round_settings():
    assert RoundSettings.of({"interval_s": 4, "case": "turin"}).wait_s == 2.0
    with pytest.raises(ConfigurationError, match="wait_s must be below"):
        RoundSettings(interval_s=4, wait_s=5)


def frames(times, vm_pu, p_w):
    n = len(times)
    angle = np.array([0.0, -2 * np.pi / 3, 2 * np.pi / 3])
    voltage = vm_pu * NOMINAL * np.exp(1j * angle)
    current = (p_w / 3 / (vm_pu * NOMINAL)) * np.exp(1j * angle)
    phasor = np.tile(np.concatenate([voltage, current]), (n, 1))
    return Frames(
        time=np.array(times, dtype=float),
        phasor=phasor,
        frequency=np.full(n, 50.0),
        rocof=np.zeros(n),
        valid=np.ones(n, dtype=bool),
    )


def test_own_readings_average_a_window_as_measurements():
    readings = OwnReadings(NOMINAL)
    readings.add_frames(frames(np.arange(99.0, 100.5, 0.1), 1.0, 600e3))
    readings.add_frames(frames([100.6, 100.7], 0.5, 100e3))
    assert readings.first == 99.0
    v, p, q = readings.average(99.5, 100.5)
    assert (v, p, q) == pytest.approx((1.0, 600.0, 0.0), abs=1e-9)
    measured = readings.measurements("M1", "PS1-MV", "F1-01", (99.5, 100.5), SUBSTATION_METER)
    assert [(m.quantity, m.element, m.side) for m in measured] == [
        ("v", "PS1-MV", None),
        ("p", "F1-01", "PS1-MV"),
        ("q", "F1-01", "PS1-MV"),
    ]
    assert readings.average(200.0, 201.0) is None
    assert readings.measurements("M1", "PS1-MV", "F1-01", (200.0, 201.0), SUBSTATION_METER) == ()


def test_region_area_is_the_feeder_with_the_way_up_to_its_source():
    grid = turin()
    states = {**grid.switch_states(), "F1-03@SS02": False, "F1-03@SS03": False, "TIE@SS06": True}
    after = grid.with_switch_states(states)
    area = areas.region_area(after, topology.of(after).meter_region("M1"), "M1")
    assert {"PS1-HV", "PS1-MV", "SS01", "SS02"} <= set(area.bus_ids)
    assert "SS03" not in area.bus_ids
    assert [t.id for t in areas.secondary_transformers(area)] == ["TS01", "TS02"]
    assert [s.id for s in area.sources] == ["PS1"]


def test_own_readings_refuse_a_window_that_holds_no_steady_state():
    # A fault sags the voltage for 0.3 s of the second the round averages: the mean would be
    # a state the grid never had.
    readings = OwnReadings(NOMINAL)
    readings.add_frames(frames(np.arange(99.0, 99.45, 0.1), 1.0, 600e3))
    readings.add_frames(frames([99.5, 99.6, 99.7], 0.6, 900e3))
    readings.add_frames(frames(np.arange(99.8, 100.25, 0.1), 1.0, 600e3))
    with pytest.raises(InvalidInputError, match=r"not one steady state \(voltage 0.600 to 1.000"):
        readings.measurements("M1", "PS1-MV", "F1-01", (99.0, 100.0), SUBSTATION_METER)
    # The windows on either side are steady, and a spread of a few per cent is load moving.
    assert readings.average(99.8, 100.2) == pytest.approx((1.0, 600.0, 0.0), abs=1e-9)
    readings.add_frames(frames([100.3], 0.96, 600e3))
    assert readings.average(99.95, 100.35)[0] == pytest.approx(0.99, abs=1e-9)
