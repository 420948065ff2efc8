"""FLISR end to end on the Turin case: real brokers, the catalog under gunicorn, the meter
daemons M1 and M2 on simulated DAQs, the simulator and reconfiguration services.

A fault is written into the shared scenario; from there on nothing is driven by the test: the
protection trips, M1 detects, fits its samples and locates with the voltages its downstream
meters fit over the same intervals (M2's fault-reporter, the simulator for the others), the
reconfiguration service switches and posts the topology, the catalog pushes settings. (One
test plays M1, to hand the service a location it could not otherwise count on.)
"""

import time

from gridedge.mqtt import Connection, Sequencer
from gridedge.services.demo.distributed import SETTLE_S, DemoFault, inject, wait_done
from gridedge.services.demo.timeline import settled_round

TIMEOUT_S = 30.0


def story(running, fault: DemoFault):
    """Inject `fault`; return the inception and the final restoration report."""
    running.system.wait(SETTLE_S)
    inception = inject(running.system, fault)
    done = wait_done(running.system, running.observer, inception, TIMEOUT_S)
    return inception, done.body


def live(running, inception: float, kind: str) -> dict[str, list]:
    """Bodies of the messages of a topic kind (``config``, ``switches``) sent after the
    inception and not replayed retained, by device."""
    found: dict[str, list] = {}
    for record in running.observer.select(lambda r: r.envelope.ts >= inception and not r.retained):
        device = running.topics.device_of(record.topic, kind)
        if device is not None:
            found.setdefault(device, []).append((record.topic, record.body))
    return found


def applied(running, meter: str, revision: int) -> bool:
    topic = running.topics.status(meter)
    return (
        running.observer.wait_for(
            lambda r: r.topic == topic and (r.body.get("revision") or 0) >= revision, 10.0
        )
        is not None
    )


def test_a_fault_in_the_middle_of_feeder_1_is_restored_through_the_tie(start_system):
    running = start_system()
    status, before = running.system.request("GET", "/v1/topology")
    assert status == 200
    inception, report = story(running, DemoFault("F1-03", "a-g", 0.4, 1.0))

    located = running.observer.wait_for(
        lambda r: r.topic == running.topics.faults("F1") and r.body.get("state") == "located", 0
    )
    assert located is not None
    assert located.envelope.sender == "M1"
    assert (located.body["from_bus"], located.body["to_bus"]) == ("SS02", "SS03")
    assert abs(located.body["distance_m"] - 88.0) < 30.0  # 12-bit DAQ
    assert sorted(located.body["meters_used"]) == ["M2", "M4", "M5", "M6", "M7", "M8"]
    # M1 fitted its samples; M2 (fault-reporter) and the simulated meters reported theirs.
    assert located.body["phasors"] == "samples"
    reports = running.observer.select(
        lambda r: r.topic.endswith("/fault-voltages") and r.body.get("head") == "M1"
    )
    assert {r.envelope.sender for r in reports} >= {"M2", "M4", "M5", "M6", "M7", "M8"}
    assert all("voltages" in r.body for r in reports), [r.body for r in reports]

    assert report["state"] == "restored", (
        report,
        located.body,
        {r.envelope.sender: r.body for r in reports},
        running.warnings(),
    )
    operations = [(o["switch"], o["action"], o["ok"]) for o in report["operations"]]
    assert operations == [
        ("F1-03@SS02", "open", True),
        ("F1-03@SS03", "open", True),
        ("F1-01@PS1-MV", "close", True),  # the breaker protection opened
        ("TIE@SS06", "close", True),
    ]
    states = {
        device: messages[-1][1]["closed"]
        for device, messages in live(running, inception, "switches").items()
        if any(topic.endswith("/state") for topic, _ in messages)
    }
    assert states == {
        "F1-01@PS1-MV": True,
        "F1-03@SS02": False,
        "F1-03@SS03": False,
        "TIE@SS06": True,
    }

    # The catalog holds the new topology, a version up, with the switch states reached.
    status, after = running.system.request("GET", "/v1/topology")
    assert report["topology_version"] == 2
    closed = {s["id"]: s.get("closed", True) for s in after["switches"]}
    assert (closed["F1-03@SS02"], closed["F1-03@SS03"], closed["TIE@SS06"]) == (
        False,
        False,
        True,
    )
    assert before["switches"] != after["switches"]

    # Both feeders changed: every meter is affected and gets its settings pushed at once;
    # the meter daemons apply them.
    pushed = live(running, inception, "config")
    assert sorted(pushed) == sorted(report["affected"]) == sorted(f"M{i}" for i in range(1, 15))
    for meter in ("M1", "M2"):
        settings = pushed[meter][-1][1]
        assert settings["topology"]["version"] == 2
        assert applied(running, meter, settings["revision"])

    # The state estimation follows: M2's LV level keeps running on its concentrators, and
    # M1's MV level, configured again by the push, now covers the two substations its
    # feeder kept and listens to their LV levels only. (A round whose window holds the fault
    # or the outage is refused by the levels: its readings are not one steady state.)
    restored = running.observer.wait_for(
        lambda r: r.topic == running.topics.restoration("F1") and r.body == report, 0
    )
    after = running.observer.wait_for(
        lambda r: (
            settled_round(r, running.topics, restored.envelope.ts)
            and r.body.get("stations") == ["TS01", "TS02"]
        ),
        15.0,
    )
    assert after is not None
    buses = after.body["message"]["voltages"]["buses"]
    assert "SS03" not in buses
    assert {"SS01", "SS02"} <= set(buses)
    lv = running.observer.wait_for(
        lambda r: (
            r.topic == running.topics.state_estimate("lv", "SS03")
            and r.envelope.sender == "M2"
            and r.body.get("time") == after.body["time"]
        ),
        5.0,
    )
    assert lv is not None
    assert lv.body.get("concentrators") == 48, lv.body
    assert abs(lv.body["message"]["vm_pu"] - 1.0) < 0.01


def test_isolation_only_leaves_the_other_feeder_untouched(start_system):
    # An operator who allows no automatic tie closure: the fault is isolated and the feeder
    # breaker reclosed; the far end of feeder 1 stays off and feeder 2 does not change.
    running = start_system(limits={"max_closings": 0})
    inception, report = story(running, DemoFault("F1-05", "b-c", 0.7, 0.5))

    assert report["state"] == "restored", report
    assert [(o["switch"], o["action"]) for o in report["operations"]] == [
        ("F1-05@SS04", "open"),
        ("F1-05@SS05", "open"),
        ("F1-01@PS1-MV", "close"),
    ]
    commanded = live(running, inception, "switches")
    assert "TIE@SS06" not in commanded

    feeder_1 = ["M1", "M2", "M4", "M5", "M6", "M7", "M8"]
    assert sorted(report["affected"]) == sorted(feeder_1)
    pushed = live(running, inception, "config")
    assert sorted(pushed) == sorted(feeder_1)
    assert "M3" not in pushed  # the head of feeder 2: unaffected, nothing pushed
    assert applied(running, "M2", pushed["M2"][-1][1]["revision"])
    status, m3 = running.system.request("GET", "/v1/devices/M3/settings")
    assert status == 200
    assert m3["topology"]["version"] == 1


def test_a_fault_at_a_bus_is_isolated_on_both_sides(start_system):
    # The meters cannot tell on which side of SS04 the fault is: M1 (played here, since a
    # location that falls within a metre of the bus is a matter of noise) says so and names
    # both sections; the service isolates them together rather than not at all.
    running = start_system(hardware_meters=())
    running.system.wait(SETTLE_S)
    inception = inject(running.system, DemoFault("F1-05", "a-b-c", 0.001, 0.5), lead_s=0.3)
    time.sleep(0.8)
    grid = running.system.brokers["grid"]
    meter = Connection(grid.host, grid.port, sender="M1")
    meter.start()
    meter.send(
        running.topics.faults("F1"),
        Sequencer("M1").seal(
            {
                "state": "located",
                "line": "F1-05",
                "from_bus": "SS04",
                "to_bus": "SS05",
                "distance_m": 0.3,
                "ambiguous": True,
                "reasons": ["the fault is at bus SS04 ...: it may be on either side"],
                "sections": ["F1-05", "F1-04"],
                "inception_time": inception,
            }
        ),
    )
    meter.close()
    report = wait_done(running.system, running.observer, inception, TIMEOUT_S).body

    assert report["state"] == "restored", report
    operations = [(o["switch"], o["action"], o["ok"]) for o in report["operations"]]
    isolating = {("F1-04@SS03", "open", True), ("F1-04@SS04", "open", True)}
    isolating |= {("F1-05@SS04", "open", True), ("F1-05@SS05", "open", True)}
    assert operations[0] == ("F1-04@SS03", "open", True)  # the source side first
    assert set(operations[:4]) == isolating
    assert operations[4:] == [("F1-01@PS1-MV", "close", True), ("TIE@SS06", "close", True)]
    _, topology = running.system.request("GET", "/v1/topology")
    closed = {s["id"]: s.get("closed", True) for s in topology["switches"]}
    assert not any(closed[s] for s, _, _ in isolating)
    assert (closed["F1-01@PS1-MV"], closed["TIE@SS06"]) == (True, True)
