"""The built-in fault detector on a simulated feeder head: a fault detected, classified and
located, published on the grid broker."""

from tests.daemon.conftest import SIMULATED, running


def test_a_fault_on_the_feeder_is_detected_and_located(catalog, meters, subscribe):
    acquisition = {
        **SIMULATED["acquisition"],
        "options": {
            **SIMULATED["acquisition"]["options"],
            "fault_location": "F1-04",
            "fault_kind": "a-g",
            "fault_fraction": 0.5,
            "fault_resistance_ohm": 1.0,
            "fault_at_s": 2.5,
        },
    }
    detector = {
        "name": "fault-detector",
        "version": "1.0.0",
        "parameters": {"case": "turin", "meter": "M1", "feeder": "F1", "deadline_s": 5.0},
    }
    faults = subscribe("grid", f"{catalog.prefix}faults/F1")
    meter, status = meters([detector], parameters={"acquisition": acquisition})
    status.wait(running("fault-detector"))
    _, detected = faults.wait_for(lambda t, e: e.body["state"] == "detected", timeout=15)
    assert detected.sender == meter.device_id
    assert detected.body["kind"] == "a-g"
    _, located = faults.wait_for(lambda t, e: e.body["state"] == "located", timeout=15)
    body = located.body
    assert body["line"] == "F1-04"
    assert (body["from_bus"], body["to_bus"]) == ("SS03", "SS04")
    assert abs(body["distance_m"] - 110.0) < 30.0  # half of a 220 m section, 12-bit DAQ
    assert not body["ambiguous"], body["reasons"]
    assert located.seq == detected.seq + 1
