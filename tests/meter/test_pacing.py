"""Pacing: deadlines from one start time (no drift), as-fast-as-possible mode, bad input."""

import time

import pytest

from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.meter.pacing import Pacer


class LateClock:
    """A clock whose sleeps overshoot by a fixed lateness, like a loaded machine."""

    def __init__(self, lateness: float) -> None:
        self.now = 100.0
        self.lateness = lateness
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + self.lateness


def test_deadlines_do_not_drift_when_every_wake_up_is_late() -> None:
    fake = LateClock(lateness=0.003)
    pacer = Pacer(1000.0, clock=fake.clock, sleep=fake.sleep)
    for block in range(1, 201):
        pacer.wait_for(10 * block)
        # Each block is due 10 ms after the previous one on the start's time base: 3 ms late
        # at worst, never late by the sum of earlier overshoots.
        assert 100.0 + block * 0.010 <= fake.now <= 100.0 + block * 0.010 + 0.003 + 1e-9
    # Waking late shortens the next sleep instead of lengthening the stream.
    assert sum(fake.sleeps) < 200 * 0.010


def test_samples_already_due_do_not_sleep() -> None:
    fake = LateClock(lateness=0.0)
    pacer = Pacer(100.0, clock=fake.clock, sleep=fake.sleep)
    assert pacer.due() == 0  # starts the clock
    fake.now += 0.5
    assert pacer.due() == 50
    pacer.wait_for(40)
    assert fake.sleeps == []
    pacer.wait_for(60)
    assert fake.sleeps == [pytest.approx(0.1)]


def test_restart_moves_sample_zero_to_now() -> None:
    fake = LateClock(lateness=0.0)
    pacer = Pacer(10.0, clock=fake.clock, sleep=fake.sleep)
    assert not pacer.started
    pacer.wait_for(0)
    assert pacer.started
    fake.now += 5.0
    pacer.restart()
    assert pacer.deadline(10) == pytest.approx(fake.now + 1.0)


def test_as_fast_as_possible_never_waits() -> None:
    fake = LateClock(lateness=0.0)
    pacer = Pacer(1.0, realtime=False, clock=fake.clock, sleep=fake.sleep)
    pacer.wait_for(10**9)
    assert pacer.due() >= 10**9
    assert fake.sleeps == []


def test_real_clock_never_releases_samples_early() -> None:
    pacer = Pacer(1000.0)
    begin = time.monotonic()
    pacer.wait_for(0)
    pacer.wait_for(50)
    assert time.monotonic() - begin >= 0.050
    assert pacer.due() >= 50


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf")])
def test_rate_must_be_positive_and_finite(rate: float) -> None:
    with pytest.raises(ConfigurationError, match="pacing rate"):
        Pacer(rate)


def test_negative_count_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="-1"):
        Pacer(10.0).wait_for(-1)
