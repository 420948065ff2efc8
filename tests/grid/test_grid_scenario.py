"""The shared scenario timeline: events added while streams run, and the file followers read."""

import json
import math
import threading
import time

import numpy as np
import pytest

from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid.cases import turin
from gridedge.grid.scenario import Entry, ScenarioFile, advance
from gridedge.grid.waveform import (
    FaultInception,
    Simulation,
    SwitchOperation,
    WaveformSettings,
)
from gridedge.meter.simulated import SimulatedSettings, open_simulated

FS = 3200.0
FAULT = FaultInception(0.25, "F1-04", "a-g", 0.4, 1.0)
TRIP = SwitchOperation(0.4, "F1-01@PS1-MV", False)


@pytest.fixture(scope="module")
def grid():
    return turin()


def read(simulation: Simulation, meter: str, first: int, count: int) -> np.ndarray:
    return simulation.samples(meter, first, count)


def test_extending_a_running_timeline_gives_the_samples_of_the_whole_one(grid) -> None:
    settings = WaveformSettings(fs=FS, seed=3)
    whole = Simulation(grid, [FAULT, TRIP], settings)
    growing = Simulation(grid, [FAULT], settings)
    before = read(growing, "M1", 0, 1000)  # up to 0.31 s: the trip is still ahead
    growing.extend([TRIP])
    after = read(growing, "M1", 1000, 1000)
    np.testing.assert_array_equal(before, read(whole, "M1", 0, 1000))
    np.testing.assert_array_equal(after, read(whole, "M1", 1000, 1000))
    # The trip took: no current at the feeder head after it.
    assert np.ptp(after[400:, 3]) < np.ptp(before[900:, 3]) / 100


def test_an_impossible_event_leaves_the_timeline_as_it_was(grid) -> None:
    simulation = Simulation(grid, [FAULT], WaveformSettings(fs=FS))
    segments = simulation.segments
    with pytest.raises(InvalidInputError, match="starts while the fault"):
        simulation.extend([FaultInception(0.3, "F2-02", "b-c")])
    with pytest.raises(InvalidInputError, match="NOPE"):
        simulation.extend([SwitchOperation(0.3, "NOPE", True)])
    assert simulation.segments == segments
    assert simulation.events == (FAULT,)


def test_entries_survive_the_file_and_each_is_followed_once(tmp_path) -> None:
    scenario = ScenarioFile.create(tmp_path / "scenario.json", "turin", seed=5)
    follower = scenario.follow()
    assert (follower.case, follower.seed) == ("turin", 5)
    assert follower.poll() == ()
    first = Entry(FaultInception(100.0, "F1-03", "a-g", 0.5, 1.0), "injected")
    second = Entry(SwitchOperation(100.3, "F1-01@PS1-MV", False), "protection")
    scenario.append([first])
    assert follower.poll() == (first,)
    assert follower.poll() == ()
    scenario.append([second])
    assert follower.poll() == (second,)
    assert scenario.read().entries == (first, second)
    scenario.path.unlink()
    with pytest.raises(ConfigurationError, match=r"cannot read scenario .*scenario\.json"):
        follower.poll()


def test_concurrent_writers_lose_nothing(tmp_path) -> None:
    scenario = ScenarioFile.create(tmp_path / "scenario.json", "turin")

    def write(writer: int) -> None:
        for k in range(20):
            scenario.append([Entry(SwitchOperation(writer * 100.0 + k, "TIE@SS06", True))])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = sorted(e.at for e in scenario.read().entries)
    assert times == sorted(w * 100.0 + k for w in range(4) for k in range(20))


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"at": 1.0, "type": "fault"}, r"events\[0\] has no 'location'"),
        ({"at": "soon", "type": "clear"}, r"events\[0\]\.at must be a finite number"),
        ({"at": 1.0, "type": "switch", "switch": "S", "closed": "yes"}, r"closed must be true"),
        ({"at": 1.0, "type": "earthquake"}, r"type 'earthquake' is not"),
    ],
)
def test_a_malformed_scenario_names_the_field(tmp_path, event, message) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(
        json.dumps(
            {
                "format": "gridedge-scenario",
                "version": 1,
                "case": "turin",
                "seed": 0,
                "events": [event],
            }
        )
    )
    with pytest.raises(ConfigurationError, match=message):
        ScenarioFile(path).read()


def test_late_events_apply_where_the_stream_is(grid) -> None:
    simulation = Simulation(grid, [], WaveformSettings(fs=FS, start_time=1000.0))
    simulation.samples("M1", 0, 800)
    advance(simulation, [Entry(FAULT.__class__(1000.1, "F1-04", "a-g", 0.4, 1.0))], 800)
    assert [s.start for s in simulation.segments] == [0, 800]


def test_streams_started_apart_see_an_appended_fault_at_one_absolute_time(grid, tmp_path) -> None:
    scenario = ScenarioFile.create(tmp_path / "scenario.json", "turin", seed=4)
    options = SimulatedSettings(scenario=str(scenario.path), realtime=False)
    head = open_simulated(FS, "M1", options)
    early = head.read(320)[1]
    time.sleep(0.05)
    downstream = open_simulated(FS, "M2", options)
    late = downstream.read(320)[1]
    # After what both streams have read, however long the second took to open.
    inception = downstream.start_time + 320 / FS + 0.1
    scenario.append([Entry(FaultInception(inception, "F1-04", "a-g", 0.4, 1.0), "injected")])
    streams = ((head, "M1", early), (downstream, "M2", late))
    for stream, meter, start in streams:
        total = math.ceil((inception + 0.3 - stream.start_time) * FS)
        rest = stream.read(total - 320)[1]
        # Exactly what a simulation that knew the fault from its start gives, at the same
        # absolute time for both meters although they started at different times.
        knew = Simulation(
            grid,
            [FaultInception(inception - stream.start_time, "F1-04", "a-g", 0.4, 1.0)],
            WaveformSettings(fs=FS, seed=4, start_time=stream.start_time),
        )
        np.testing.assert_array_equal(np.vstack([start, rest]), knew.samples(meter, 0, total))
        if meter == "M1":
            current = head.scaling.to_primary(rest)[:, 3]
            assert np.abs(current).max() > 10 * np.abs(head.scaling.to_primary(early)[:, 3]).max()
