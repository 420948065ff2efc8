"""Phasor estimation and the sample ring, compiled against the numpy twins.

Goal (Foundation issue): one second of six channels at 6.4 kHz, 50 frames/s, in <= 1 ms on
one core, and >= 20x faster than the numpy twin.
"""

import numpy as np
import pytest

from gridedge.meter import c37118
from gridedge.meter.phasor import PhasorEstimator
from gridedge.meter.ring import create_ring

FS = 6400.0


@pytest.fixture(scope="module")
def one_second() -> np.ndarray:
    signal = c37118.synthesize(FS, 1.0, angle=lambda t: 2 * np.pi * 0.3 * t, harmonics=[(5, 0.03)])
    counts = np.rint(signal.samples / 0.5 + 2048)
    return counts.astype(np.uint16)


@pytest.mark.benchmark(group="phasor: 1 s of 6 channels at 6.4 kHz, one push")
def test_phasor_one_second(benchmark, backend: str, one_second: np.ndarray) -> None:
    estimator = PhasorEstimator(FS, backend=backend)
    frames = benchmark(estimator.push, one_second)
    assert len(frames) in (49, 50)


@pytest.mark.benchmark(group="phasor: 1 s of 6 channels at 6.4 kHz, 10 ms DAQ blocks")
def test_phasor_streaming_blocks(benchmark, backend: str, one_second: np.ndarray) -> None:
    estimator = PhasorEstimator(FS, backend=backend)
    blocks = np.split(one_second, 100)

    def stream() -> int:
        return sum(len(estimator.push(block)) for block in blocks)

    assert benchmark(stream) in (49, 50)


@pytest.mark.benchmark(group="ring: 1 s of 6 channels at 6.4 kHz, 10 ms blocks in and out")
def test_ring_write_read(benchmark, backend: str, one_second: np.ndarray) -> None:
    ring = create_ring(int(2 * FS), backend=backend)
    blocks = np.split(one_second.astype(np.float64), 100)

    def cycle() -> int:
        moved = 0
        for block in blocks:
            ring.write(block)
            moved += len(ring.read()[1])
        return moved

    assert benchmark(cycle) == int(FS)
