"""Fault location and detection benchmarks (``make bench``).

Figures go to ``docs/performance.md`` (Fault location section). Location is timed on the
Turin case end to end - phasor checks, classification, the walk of every section, the
candidate search with the sparse voltage magnitudes, the result - with the compiled kernel
and with its numpy twin in the same run; the paper's laptop took 0.531 s per location.
"""

import itertools

import numpy as np
import pytest

from gridedge.grid.cases import turin
from gridedge.meter.faults import FaultDetector, FeederModel
from gridedge.meter.faults.accuracy import CASES, Campaign, _samples, draw, measure, simulate
from gridedge.meter.faults.interval import estimate
from gridedge.meter.phasor import Frames

FAULTS = 12


@pytest.fixture(scope="module")
def grid():
    return turin()


@pytest.fixture(scope="module")
def measured(grid):
    """Head phasors and meter reports of a dozen simulated faults on feeder 1."""
    case, campaign = CASES["turin"], Campaign()
    faults = [f for f in draw(case, grid, 4 * FAULTS, 11, campaign) if f.head == "M1"][:FAULTS]
    feeder = FeederModel(grid, "M1")
    return [measure(grid, case, feeder, f, campaign, n) for n, f in enumerate(faults)]


@pytest.mark.parametrize("backend", ["native", "python"])
def test_turin_locate(benchmark, grid, measured, backend) -> None:
    """One location on feeder 1 (6 sections, 6 reporting meters), candidate search included."""
    feeder = FeederModel(grid, "M1", backend=backend)
    inputs = itertools.cycle(measured)

    result = benchmark(lambda: next(inputs).locate(feeder))
    assert result.line.startswith("F1")


def test_turin_interval_estimate(benchmark, grid) -> None:
    """The head's phasors over a fault's stable intervals, from 1.2 s of its samples (the noise
    taken from them too, as on the meters)."""
    case, campaign = CASES["turin"], Campaign()
    fault = next(f for f in draw(case, grid, 8, 11, campaign) if f.head == "M1")
    samples, start, fs = _samples(simulate(grid, fault, campaign, 0), "M1")
    phasors = benchmark(estimate, samples, start, fs, None, campaign.inception_s + 0.01)
    assert phasors.cleared


def test_turin_feeder_model(benchmark, grid) -> None:
    """Preparing feeder 1 for location (once per topology; the grid's factorisation reused)."""
    benchmark(lambda: FeederModel(grid, "M1"))


def test_detector_one_second_of_frames(benchmark) -> None:
    """The detector on one second of frames (50) of normal operation."""
    n = 50
    phases = np.array([1, np.exp(-2j * np.pi / 3), np.exp(2j * np.pi / 3)])
    phasor = np.concatenate([12.7e3 * phases, 20.0 * phases])[None, :].repeat(n, axis=0)
    detector = FaultDetector(12.7e3)
    clock = itertools.count()

    def one_second():
        start = next(clock)
        frames = Frames(
            start + np.arange(n) / n, phasor, np.full(n, 50.0), np.zeros(n), np.ones(n, dtype=bool)
        )
        return detector.push(frames)

    assert benchmark(one_second) == []
