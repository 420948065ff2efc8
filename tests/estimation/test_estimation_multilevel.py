"""Concentrator, LV and MV levels, their messages, and the Turin Monte Carlo."""

import json
import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from gridedge.errors import InvalidInputError
from gridedge.grid import Measurement
from gridedge.grid.cases import turin
from gridedge.meter.estimation import areas, messages
from gridedge.meter.estimation.montecarlo import MonteCarloSettings, TurinStudy, run
from gridedge.meter.estimation.multilevel import (
    LVInput,
    LVOutput,
    MVInput,
    MVOutput,
    NodeEstimate,
    NodeReadings,
    Reading,
    concentrator,
)

TRIALS = 12
"""Monte Carlo trials in the test suite (the documented study runs 200)."""


@pytest.fixture(scope="module")
def study():
    return TurinStudy(MonteCarloSettings(trials=TRIALS, seed=5))


@pytest.fixture(scope="module")
def scenario(study):
    return study.scenario(np.random.default_rng(5))


def test_concentrator_fuses_voltages_and_adds_customers() -> None:
    node = NodeReadings(
        "B",
        (
            Reading("m1", "v", 1.00, 0.002),
            Reading("m2", "v", 1.01, 0.004),
            Reading("m1", "p", 1.5, 0.01),
            Reading("m2", "p", 0.5, 0.02),
            Reading("profile", "p", 0.7, 0.3, customer="m2"),  # pseudo for m2's customer
        ),
    )
    fused = concentrator(node)
    weights = np.array([1 / 0.002**2, 1 / 0.004**2])
    assert fused.v == pytest.approx((weights @ [1.00, 1.01]) / weights.sum())
    assert fused.v_std == pytest.approx(1 / math.sqrt(weights.sum()))
    m2 = (0.5 / 0.02**2 + 0.7 / 0.3**2) / (1 / 0.02**2 + 1 / 0.3**2)
    assert fused.p == pytest.approx(1.5 + m2)
    assert fused.q is None
    assert fused.meters == ("m1", "m2", "profile")


def test_concentrator_rejects_an_inconsistent_voltage_among_three() -> None:
    readings = tuple(Reading(f"m{k}", "v", v, 0.002) for k, v in enumerate((1.0, 1.001, 1.06)))
    fused = concentrator(NodeReadings("B", readings))
    assert fused.rejected == ("m2",)
    assert fused.v == pytest.approx(1.0005)
    with pytest.raises(InvalidInputError, match="std_dev must be positive"):
        Reading("m", "v", 1.0, 0.0)


def test_areas_partition_the_turin_case() -> None:
    grid = turin()
    stations = areas.secondary_transformers(grid)
    assert len(stations) == 12
    lv = [areas.lv_area(grid, t.id) for t in stations]
    mv = areas.mv_area(grid, [t.id for t in stations])
    low = [set(a.bus_ids) - {t.hv_bus} for a, t in zip(lv, stations, strict=True)]
    assert sum(len(b) for b in low) + len(mv.buses) == len(grid.buses)
    assert all(a.sources[0].bus == t.hv_bus for a, t in zip(lv, stations, strict=True))
    assert {m.id for m in mv.meters} == {"M1", "M3"}
    with pytest.raises(InvalidInputError, match="no transformer"):
        areas.lv_area(grid, "TS99")


def test_messages_survive_json(study, scenario) -> None:
    transformer = study.stations[0]
    message = study.lv_input(transformer, scenario)
    output = study.lv[transformer].run(message)
    for kind, value in ((LVInput, message), (LVOutput, output)):
        text = json.dumps(messages.to_dict(value))
        assert messages.from_dict(kind, json.loads(text)) == value
    document = messages.to_dict(output)
    document["vm_pu"] = "high"
    with pytest.raises(InvalidInputError, match=r"LVOutput.vm_pu: expected a number"):
        messages.from_dict(LVOutput, document)
    with pytest.raises(InvalidInputError, match=r"unknown fields \['extra'\]"):
        messages.from_dict(NodeEstimate, {"bus": "B", "extra": 1})


def test_lv_level_passes_voltage_and_power_with_covariance(study, scenario) -> None:
    transformer = "TS03"
    level = study.lv[transformer]
    output = level.run(study.lv_input(transformer, scenario))
    flow = scenario.flow
    truth_v = abs(flow.voltage_of(output.bus))
    truth_s = flow.voltage_of(output.bus) * np.conj(flow.current_of(transformer, output.bus))
    truth_s *= 22.0 / math.sqrt(3) * 3  # kVA: phase voltage (kV) x current (A) x 3 phases
    std = np.sqrt(np.diag(output.covariance))
    assert abs(output.vm_pu - truth_v) < 4 * std[0]
    assert abs(output.p_kw - truth_s.real) < 4 * std[1]
    assert abs(output.q_kvar - truth_s.imag) < 4 * std[2]
    assert np.allclose(output.covariance, np.transpose(output.covariance))
    # The LV estimate is far tighter than the substation meter alone.
    meter_p = next(m for m in scenario.substation[transformer] if m.quantity == "p")
    assert std[1] < meter_p.std_dev


def test_lv_level_stands_in_pseudo_measurements_for_silent_customers(study, scenario) -> None:
    transformer = study.stations[1]
    message = study.lv_input(transformer, scenario)
    silent = message.nodes[5]
    partial = replace(message, nodes=tuple(n for n in message.nodes if n.bus != silent.bus))
    output = study.lv[transformer].run(partial)
    result = study.lv[transformer].result
    assert result.active[result.measurement_ids.index(f"pseudo:p:{silent.bus}")]
    assert not result.active[result.measurement_ids.index(f"node:p:{silent.bus}")]
    assert output.covariance[1][1] > study.lv[transformer].run(message).covariance[1][1]


def test_lv_level_rejects_foreign_messages(study, scenario) -> None:
    transformer = study.stations[0]
    level = study.lv[transformer]
    message = study.lv_input(transformer, scenario)
    with pytest.raises(InvalidInputError, match="got a message for 'TS02'"):
        level.run(replace(message, transformer="TS02"))
    with pytest.raises(InvalidInputError, match="is no customer bus"):
        level.run(replace(message, nodes=(*message.nodes, NodeEstimate("SS05-F1-01", v=1.0))))
    stray = Measurement("x", "v", "SS04", 1.0, 0.001)
    with pytest.raises(InvalidInputError, match="not one of the substation meter's"):
        level.run(replace(message, substation=(stray,)))


def test_mv_level_and_slack_sent_back_down(study, scenario) -> None:
    first = {t: study.lv[t].run(study.lv_input(t, scenario)) for t in study.stations}
    mv = study.mv.run(MVInput(0.0, tuple(first.values()), scenario.primary))
    assert json.loads(json.dumps(messages.to_dict(mv)))["time"] == 0.0
    assert messages.from_dict(MVOutput, messages.to_dict(mv)) == mv
    flow = scenario.flow
    for slack in mv.slack:
        truth = flow.voltage_of(slack.bus)
        assert abs(slack.vm_pu - abs(truth)) < 4 * slack.vm_std_pu
        assert slack.va_deg == pytest.approx(np.degrees(np.angle(truth)), abs=0.01)
    transformer = study.stations[0]
    level = study.lv[transformer]
    second = level.run(replace(study.lv_input(transformer, scenario), slack=mv.slack_of(level.bus)))
    # Angles now refer to the MV estimate: the LV buses carry the MV angle and the 30 degree
    # shift of the Dyn11 transformer, like the truth.
    lv_bus = second.voltages.buses[-1]
    truth = np.degrees(np.angle(flow.voltage_of(lv_bus)))
    assert second.voltages.va_deg[-1] == pytest.approx(truth, abs=0.01)
    # A silent LV level is replaced by the sum of its loads as pseudo-measurements.
    fewer = study.mv.run(MVInput(0.0, tuple(list(first.values())[1:]), scenario.primary))
    assert fewer.slack_of(first[transformer].bus).vm_std_pu > mv.slack_of(level.bus).vm_std_pu


def test_monte_carlo_meets_the_accuracy_targets() -> None:
    report = run(MonteCarloSettings(trials=TRIALS, seed=7))
    assert report.vm_ratio <= 1.1
    assert report.va_ratio <= 1.1
    voltage = report.gross["the voltage reading of a random meter"]
    assert all(voltage)
    table = report.table()
    assert "multilevel / centralised (magnitude)" in table
    assert f"{TRIALS} (seed 7" in table


def test_accuracy_command_prints_the_table() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gridedge.cli", "estimation", "accuracy", "--trials", "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert completed.stdout.startswith("| quantity | value |")
    assert "RMS voltage magnitude error, multilevel" in completed.stdout
