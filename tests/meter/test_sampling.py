"""The acquisition pump with a real producer and consumer: a COMTRADE replay feeding the native
ring, a consumer thread running the phasor estimator, gaps when the consumer stalls, source
gaps kept in the ring's indices, errors reported instead of lost."""

import logging
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from gridedge.channels import CHANNELS
from gridedge.errors import InvalidInputError
from gridedge.meter.comtrade import AnalogChannel, Record, read, write
from gridedge.meter.phasor import Frames, PhasorEstimator
from gridedge.meter.replay import ComtradeReplay
from gridedge.meter.ring import create_ring
from gridedge.meter.sampling import AcquisitionPump, PumpState

FS = 3200.0
VOLTAGE, CURRENT = 230.0, 50.0


def record_file(tmp_path: Path, seconds: float) -> Path:
    n = round(seconds * FS)
    t = np.arange(n) / FS
    wave = 2 * np.pi * 50 * t[:, None] - np.arange(3) * 2 * np.pi / 3
    values = np.hstack([VOLTAGE * np.sqrt(2) * np.cos(wave), CURRENT * np.sqrt(2) * np.sin(wave)])
    channels = [
        AnalogChannel(c.upper(), "V" if c[0] == "V" else "A", phase=c[1].upper()) for c in CHANNELS
    ]
    start = datetime(2024, 1, 1, 0, 0, 0)
    (cfg, _) = write(Record.from_values(values, channels, FS, start), tmp_path / "r.cfg")
    return cfg


class Consumer(threading.Thread):
    """Reads the ring like an algorithm thread, pushing into the phasor estimator."""

    def __init__(self, ring, source, stall_at: int | None = None, stall: float = 0.0) -> None:
        super().__init__(name="consumer", daemon=True)
        self.ring = ring
        self.estimator = PhasorEstimator(
            source.fs, 50.0, 50.0, scaling=source.scaling, start_time=source.start_time
        )
        self.stall_at, self.stall = stall_at, stall
        self.frames: list[Frames] = []
        self.rows = 0
        self.gaps: list[tuple[int, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        expected = 0
        while not (self.done.is_set() and self.ring.available == 0):
            first, rows = self.ring.read(256)
            if not len(rows):
                time.sleep(0.002)
                continue
            if first != expected:
                self.gaps.append((expected, first))
            self.frames.append(self.estimator.push(rows, first_index=first))
            self.rows += len(rows)
            expected = first + len(rows)
            if self.stall_at is not None and expected >= self.stall_at:
                self.stall_at = None
                time.sleep(self.stall)


def test_replay_through_the_ring_to_the_estimator_with_a_stalled_consumer(tmp_path: Path):
    source = ComtradeReplay(read(record_file(tmp_path, 0.6)))
    ring = create_ring(320)  # 0.1 s: the consumer's 0.25 s stall overflows it
    consumer = Consumer(ring, source, stall_at=640, stall=0.25)
    consumer.start()
    with AcquisitionPump(source, ring, block=32) as pump:
        assert pump.join(timeout=10)
        consumer.done.set()
        consumer.join(timeout=10)
    status = pump.status()
    assert status.state is PumpState.EXHAUSTED
    assert status.error is None
    assert status.samples_read == 1920
    assert (status.samples_lost, status.source_gaps) == (0, 0)
    assert status.ring_dropped > 0
    assert status.ring_overruns > 0
    # Every row is either read by the consumer or counted as dropped, and each run of dropped
    # rows is a gap the consumer saw with its exact size.
    assert consumer.rows + status.ring_dropped == 1920
    assert consumer.gaps
    assert sum(end - begin for begin, end in consumer.gaps) == status.ring_dropped
    frames = Frames.concatenate(consumer.frames)
    assert len(frames) > 10
    assert frames.valid.all()
    expected = np.concatenate(
        [
            VOLTAGE * np.exp(-1j * np.arange(3) * 2 * np.pi / 3),
            CURRENT * np.exp(-1j * (np.arange(3) * 2 * np.pi / 3 + np.pi / 2)),
        ]
    )
    assert (np.abs(frames.phasor - expected) / np.abs(expected)).max() < 1e-4
    # No frame spans a gap: the estimator restarted its windows after each one.
    for begin, end in consumer.gaps:
        gap = (source.start_time + begin / FS, source.start_time + end / FS)
        windows = frames.time[:, None] + np.array([-1, 1]) * consumer.estimator.latency
        assert not np.any((windows[:, 0] < gap[1]) & (windows[:, 1] > gap[0]))


class LosingSource:
    """A replay whose indices jump: samples lost at the source, as after a DAQ overrun."""

    def __init__(self, replay: ComtradeReplay, losses: dict[int, int]) -> None:
        self.replay, self.losses = replay, losses
        self.fs, self.start_time, self.scaling = replay.fs, replay.start_time, replay.scaling
        self.reads = 0

    def read(self, max_samples: int) -> tuple[int, np.ndarray]:
        self.reads += 1
        lost = self.losses.get(self.reads, 0)
        if lost:
            self.replay.read(lost)
        return self.replay.read(max_samples)

    def close(self) -> None:
        self.replay.close()


def test_samples_lost_at_the_source_stay_a_gap_in_the_ring(tmp_path: Path) -> None:
    replay = ComtradeReplay(read(record_file(tmp_path, 0.1)), realtime=False)
    source = LosingSource(replay, {3: 7, 5: 100})
    ring = create_ring(1000)
    pump = AcquisitionPump(source, ring, block=20)
    pump.start()
    assert pump.join(timeout=10)
    status = pump.status()
    assert (status.samples_lost, status.source_gaps) == (107, 2)
    assert status.samples_read + status.samples_lost == 320
    runs = []
    while ring.available:
        first, rows = ring.read()
        runs.append((first, first + len(rows)))
    assert runs == [(0, 40), (47, 87), (187, 320)]


class FailingSource(LosingSource):
    def read(self, max_samples: int) -> tuple[int, np.ndarray]:
        if self.reads == 2:
            raise OSError("device unplugged")
        return super().read(max_samples)


def test_an_error_of_the_source_is_kept_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = FailingSource(ComtradeReplay(read(record_file(tmp_path, 0.1)), realtime=False), {})
    ring = create_ring(1000)
    with (
        caplog.at_level(logging.ERROR, logger="gridedge.meter.sampling"),
        AcquisitionPump(source, ring, block=10) as pump,
    ):
        assert pump.join(timeout=10)
    status = pump.status()
    assert status.state is PumpState.FAILED
    assert status.error == "OSError: device unplugged"
    assert isinstance(pump.error, OSError)
    assert status.samples_read == 20
    assert ring.available == 20
    assert "stopped by an error of the source" in caplog.text
    assert "device unplugged" in caplog.text  # with its traceback


class WrongShapeSource(LosingSource):
    def read(self, max_samples: int) -> tuple[int, np.ndarray]:
        first, rows = super().read(max_samples)
        return first, rows[:, :5]


def test_rows_of_the_wrong_shape_fail_the_pump(tmp_path: Path) -> None:
    source = WrongShapeSource(ComtradeReplay(read(record_file(tmp_path, 0.1)), realtime=False), {})
    with AcquisitionPump(source, create_ring(100)) as pump:
        assert pump.join(timeout=10)
    assert pump.status().state is PumpState.FAILED
    assert "not (n, 6)" in str(pump.status().error)


def test_stop_ends_a_real_time_stream_promptly(tmp_path: Path, wait_until) -> None:
    source = ComtradeReplay(read(record_file(tmp_path, 10.0)))
    pump = AcquisitionPump(source, create_ring(64000))
    assert pump.block == 32  # 10 ms at 3.2 kHz
    assert pump.status().state is PumpState.IDLE
    pump.start()
    wait_until(lambda: pump.status().samples_read > 0)
    assert pump.status().state is PumpState.RUNNING
    begin = time.monotonic()
    assert pump.stop(timeout=5)
    assert time.monotonic() - begin < 1.0
    status = pump.status()
    assert status.state is PumpState.STOPPED
    assert 0 < status.samples_read < 32000
    source.close()


def test_the_ring_must_have_six_channels(tmp_path: Path) -> None:
    source = ComtradeReplay(read(record_file(tmp_path, 0.01)))
    with pytest.raises(InvalidInputError, match="6 channels"):
        AcquisitionPump(source, create_ring(10, channels=3))
