"""The exchange behind fault location on the meters: the head's intervals out, the downstream
meters' voltage reports back. The messages, the reporter, and the two built-ins
(``fault-detector`` on M1, ``fault-reporter`` on the meters of its feeder) driven block by
block by a simulation of the Turin grid, their messages routed as a broker would."""

import logging

import numpy as np
import pytest
from paho.mqtt.client import topic_matches_sub

from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid import cases
from gridedge.grid import topology as grid_topology
from gridedge.grid.daq import DaqSettings
from gridedge.grid.waveform import FaultClearance, FaultInception, Simulation, WaveformSettings
from gridedge.meter.builtins import fault_detector, fault_reporter
from gridedge.meter.faults.interval import FaultIntervals, estimate, voltage_report
from gridedge.meter.faults.reports import (
    ReportRequest,
    VoltageReporter,
    intervals_body,
    report_body,
    report_from_body,
    request_from_body,
)
from gridedge.meter.phasor import PhasorEstimator
from gridedge.meter.plugin import Context, Measurement, Message, SampleBlock
from gridedge.mqtt import Sequencer, Topics

FS = 6400.0
BLOCK = 320  # the daemon's 50 ms blocks
FAULT = FaultInception(1.2, "F1-04", "b-c", 0.4, 3.0)


@pytest.fixture(scope="module")
def grid():
    return cases.turin()


@pytest.fixture(scope="module")
def simulation(grid):
    events = [FAULT, FaultClearance(FAULT.time_s + 0.25)]
    return Simulation(grid, events, WaveformSettings(fs=FS, duration_s=2.2, seed=7), DaqSettings())


INTERVALS = FaultIntervals(1.33, 50.0, (0.6, 1.1), (1.22, 1.44))


def test_requests_and_reports_survive_their_messages_and_bad_ones_are_named() -> None:
    body = {"state": "detected", "inception_time": 1.21, "intervals": intervals_body(INTERVALS)}
    request = request_from_body("M1", body)
    assert request == ReportRequest("M1", 1.21, INTERVALS)
    assert request_from_body("M1", {**body, "intervals": None}) is None
    assert request_from_body("M1", {"state": "located", "line": "F1-04"}) is None
    for broken, reason in (
        ({**body, "intervals": {**body["intervals"], "fault": [1.5, 1.2]}}, "does not run"),
        ({**body, "intervals": {**body["intervals"], "time": "soon"}}, "malformed"),
        ({**body, "inception_time": float("nan")}, "not finite"),
        ({**body, "intervals": {**body["intervals"], "prefault": [0.6, 1.3]}}, "not before"),
    ):
        with pytest.raises(InvalidInputError, match=reason):
            request_from_body("M1", broken)
    report = voltage_report(
        np.ones((int(2 * FS), 3)) + np.random.default_rng(1).normal(size=(int(2 * FS), 3)),
        0.0,
        FS,
        None,
        INTERVALS,
    )
    head, inception, back = report_from_body(report_body(request, report))
    assert (head, inception) == ("M1", 1.21)
    assert np.array_equal(back.voltages, report.voltages)
    assert np.array_equal(back.sigma, report.sigma)
    assert report_from_body(report_body(request, "no samples")) == ("M1", 1.21, "no samples")
    answer = report_body(request, report)
    for broken, reason in (
        ({**answer, "voltages": [1.0, 2.0]}, "three voltages"),
        ({**answer, "sigma": [1.0, 0.0, 1.0]}, "not usable"),
        ({k: v for k, v in answer.items() if k != "head"}, "malformed"),
    ):
        with pytest.raises(InvalidInputError, match=reason):
            report_from_body(broken)


def test_a_reporter_answers_once_its_samples_cover_the_fault_and_says_when_they_cannot(
    simulation,
) -> None:
    stream = simulation.source("M5")
    _, raw = stream.read(1 << 30)
    voltages = stream.scaling.to_primary(raw)[:, :3]
    head = simulation.source("M1")
    _, head_raw = head.read(1 << 30)
    phasors = estimate(head.scaling.to_primary(head_raw), 0.0, FS, None, FAULT.time_s + 0.01)
    request = ReportRequest("M1", FAULT.time_s, phasors.intervals)
    reporter = VoltageReporter(FS, 0.0, 50.0, keep_s=2.0)
    reporter.request(request)
    end = round(phasors.fault_interval[1] * FS)
    for first in range(0, end, BLOCK):
        reporter.add(first, voltages[first : min(first + BLOCK, end)])
        assert reporter.ready() == []
    reporter.add(end, voltages[end : end + BLOCK])
    [(answered, report)] = reporter.ready()
    assert answered == request
    expected = voltage_report(voltages, 0.0, FS, None, phasors.intervals)
    # The history keeps float32: 1e-4 V of 12.7 kV, against a standard error of about 1 V.
    assert report.voltages == pytest.approx(expected.voltages, abs=1e-4)
    assert report.sigma == pytest.approx(expected.sigma, rel=1e-4)
    # Asked too late: the pre-fault interval has left a 1 s history.
    late = VoltageReporter(FS, 0.0, 50.0, keep_s=1.0)
    late.add(0, voltages)
    late.request(request)
    [(_, refusal)] = late.ready()
    assert "not in the history" in refusal


class Meter:
    """One built-in on a meter of the simulation, with its own estimator and sequencer."""

    def __init__(self, simulation, meter_id, algorithm, parameters, portion, outbox) -> None:
        self.id = meter_id
        self.stream = simulation.source(meter_id)
        self.estimator = PhasorEstimator(
            FS, scaling=self.stream.scaling, start_time=self.stream.start_time
        )
        self.algorithm = algorithm
        self.sequencer = Sequencer(meter_id)
        context = Context(
            meter_id=meter_id,
            name="test",
            version="1.0.0",
            parameters=parameters,
            topology=portion,
            topics=Topics(),
            measurement=Measurement.of(self.estimator),
            publish=lambda topic, body: outbox.append((self, topic, body)),
            logger=logging.getLogger("test"),
        )
        self.declaration = algorithm.configure(context)

    def step(self, samples: bool) -> bool:
        first, raw = self.stream.read(BLOCK)
        if not len(raw):
            return False
        if samples:
            self.algorithm.on_samples(SampleBlock(first, raw))
        frames = self.estimator.push(raw, first)
        if "frames" in self.declaration.inputs and len(frames):
            self.algorithm.on_frames(frames)
        return True


def run(
    grid, simulation, *, head_samples: bool = True, collect_s: float = 60.0, **reporting
) -> list[tuple[str, str, dict]]:
    """Run M1's detector and its feeder's reporters; every message as (sender, topic, body)."""
    region = grid_topology.of(grid).meter_region("M1")
    downstream = [m.id for m in grid.meters if m.bus in region]
    portion = {"meters": [{"id": m} for m in ["M1", *downstream]]}
    outbox: list = []
    parameters = {"case": "turin", "feeder": "F1", "collect_s": collect_s}
    meters = [Meter(simulation, "M1", fault_detector.create(), parameters, portion, outbox)]
    meters += [
        Meter(simulation, m, fault_reporter.create(), reporting, portion, outbox)
        for m in downstream
    ]
    sent = []
    while all([meter.step(head_samples or meter.id != "M1") for meter in meters]):
        while outbox:
            sender, topic, body = outbox.pop(0)
            sent.append((sender.id, topic, body))
            envelope = sender.sequencer.seal(body)
            for meter in meters:
                if any(
                    topic_matches_sub(s.topic_filter, topic)
                    for s in meter.declaration.subscriptions
                ):
                    meter.algorithm.on_message(Message(topic, envelope, False))
    return sent


def test_the_head_locates_with_the_voltages_its_feeder_reports(grid, simulation) -> None:
    sent = run(grid, simulation)
    head = [body for sender, _, body in sent if sender == "M1"]
    detected, located = head
    assert (detected["state"], detected["kind"]) == ("detected", "b-c")
    fitted = detected["intervals"]
    assert fitted["prefault"][1] < FAULT.time_s < fitted["fault"][0] < FAULT.time_s + 0.03
    # Every reporter answered once, with its sag over the head's intervals.
    reports = {sender: body for sender, topic, body in sent if topic.endswith("/fault-voltages")}
    assert sorted(reports) == ["M2", "M4", "M5", "M6", "M7", "M8"]
    for body in reports.values():
        assert (body["head"], body["inception_time"]) == ("M1", detected["inception_time"])
        assert min(body["voltages"][1:]) < 0.9 * body["prefault_voltage"]
    assert (located["state"], located["phasors"]) == ("located", "samples")
    assert sorted(located["meters_used"]) == sorted(reports)
    assert (located["line"], located["from_bus"]) == ("F1-04", "SS03")
    assert located["distance_m"] == pytest.approx(0.4 * 220.0, abs=10.0)
    assert not located["ambiguous"], located["reasons"]


def test_without_samples_the_head_locates_from_its_frames_and_says_so(grid, simulation) -> None:
    sent = run(grid, simulation, head_samples=False)
    detected, located = [body for sender, _, body in sent if sender == "M1"]
    assert detected["intervals"] is None
    assert not [topic for _, topic, _ in sent if topic.endswith("/fault-voltages")]
    assert located["phasors"] == "frames: no samples kept yet"
    # The head's frames alone cannot tell the sections of the feeder apart: it says so.
    assert located["ambiguous"]
    assert "no meter voltages" in located["reasons"][0]
    assert "F1-04" in [c["line"] for c in located["candidates"]]
    assert sorted(located["meters_missing"]) == ["M2", "M4", "M5", "M6", "M7", "M8"]


def test_reporters_told_other_heads_stay_silent(grid, simulation) -> None:
    sent = run(grid, simulation, collect_s=0.0, heads=["M3"])
    detected, located = [body for sender, _, body in sent if sender == "M1"]
    assert detected["intervals"] is not None
    assert not [topic for _, topic, _ in sent if topic.endswith("/fault-voltages")]
    assert located["phasors"] == "samples"
    assert located["meters_used"] == []
    with pytest.raises(ConfigurationError, match="heads must be a list"):
        Meter(simulation, "M2", fault_reporter.create(), {"heads": "M1"}, None, [])
