"""The downstream meters' frames the feeder-head meter collects for fault location."""

import math

import numpy as np
import pytest

from gridedge.errors import InvalidInputError
from gridedge.meter.faults.detection import FaultEvent
from gridedge.meter.faults.downstream import DownstreamVoltages

NOMINAL = 12_700.0


def body(t: float, magnitude: float = NOMINAL, valid: bool = True) -> dict:
    phasors = {
        c: [magnitude * math.cos(a), magnitude * math.sin(a)]
        for c, a in zip(("Va", "Vb", "Vc"), (0.0, -2 * math.pi / 3, 2 * math.pi / 3), strict=True)
    }
    phasors.update(Ia=[1.0, 0.0], Ib=[1.0, 0.0], Ic=[1.0, 0.0])
    return {"t": t, "valid": valid, "phasors": phasors, "frequency": 50.0}


def event(inception: float, start: float, end: float) -> FaultEvent:
    nan = np.full(6, np.nan)
    return FaultEvent(
        inception_time=inception,
        detection_time=inception + 0.06,
        kind=None,
        time=end,
        prefault=nan + 0j,
        fault=nan + 0j,
        prefault_sigma=nan,
        fault_sigma=nan,
        prefault_frames=0,
        fault_frames=0,
        cleared_time=None,
        fault_start=start,
    )


def test_frames_in_the_fault_interval_and_before_the_inception():
    collected = DownstreamVoltages(["M2", "M4"])
    for k in range(30):
        t = 100.0 + 0.1 * k
        sag = 0.6 if 101.5 <= t <= 101.75 else 1.0
        collected.add("M2", body(t, NOMINAL * sag))
    collected.add("M9", body(101.6, 1.0))  # not a meter of this feeder: ignored
    voltages, prefault = collected.around(event(101.45, 101.5, 101.75))
    assert sorted(voltages) == ["M2"]
    np.testing.assert_allclose(voltages["M2"], 0.6 * NOMINAL)
    assert prefault["M2"] == pytest.approx(NOMINAL)
    assert not collected.complete(101.75)  # M4 has said nothing yet
    collected.add("M4", body(101.8))
    assert collected.complete(101.75)


def test_reordered_and_invalid_frames():
    collected = DownstreamVoltages(["M2"])
    for t in (10.2, 10.0, 10.1):  # arrived out of order
        collected.add("M2", body(t, NOMINAL * (0.5 if t == 10.1 else 1.0)))
    collected.add("M2", body(10.15, 0.0, valid=False))
    assert collected.during(10.05, 10.15)["M2"] == pytest.approx(0.5 * NOMINAL)
    assert collected.complete(10.15)  # an invalid frame still says the meter is there


def test_a_malformed_frame_names_the_meter():
    with pytest.raises(InvalidInputError, match="frame of meter M2"):
        DownstreamVoltages(["M2"]).add("M2", {"t": 1.0, "phasors": {"Va": [1, 0]}})


def test_no_fault_frames_no_interval():
    collected = DownstreamVoltages(["M2"])
    collected.add("M2", body(5.0))
    assert collected.around(event(5.5, math.nan, 5.6)) == ({}, {})
