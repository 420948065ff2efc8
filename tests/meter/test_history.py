"""The samples a meter keeps for going back after an event."""

import math

import numpy as np
import pytest

from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.meter.history import SampleHistory


def rows(first: int, count: int) -> np.ndarray:
    index = np.arange(first, first + count, dtype=float)
    return np.stack([index, -index], axis=1)


def test_windows_come_back_in_order_across_the_wrap_and_only_while_held() -> None:
    history = SampleHistory(fs=100.0, start_time=10.0, channels=2, keep_s=1.0)
    assert math.isnan(history.span[0])
    assert not history.covers(10.0)
    for first in range(0, 250, 30):
        history.add(first, rows(first, 30))
    assert history.span == pytest.approx((10.0 + 170 / 100, 10.0 + 269 / 100))
    assert history.covers(12.69)
    assert not history.covers(12.70)
    start, window = history.window(11.75, 12.5)
    assert start == pytest.approx(11.75)
    assert np.array_equal(window, rows(175, 76))
    for begin, end in ((11.6, 12.0), (12.0, 12.7), (12.5, 12.4)):
        with pytest.raises(InvalidInputError, match="not in the history"):
            history.window(begin, end)


def test_a_gap_drops_what_came_before_it_and_a_long_block_keeps_its_end() -> None:
    history = SampleHistory(fs=100.0, start_time=0.0, channels=2, keep_s=0.5)
    history.add(0, rows(0, 40))
    history.add(45, rows(45, 10))
    assert history.span == pytest.approx((0.45, 0.54))
    history.add(55, rows(55, 120))
    assert history.span == pytest.approx((1.25, 1.74))
    assert np.array_equal(history.window(1.25, 1.74)[1], rows(125, 50))
    with pytest.raises(InvalidInputError, match=r"shape \(n, 2\)"):
        history.add(175, np.zeros((3, 3)))
    with pytest.raises(ConfigurationError, match="keep_s"):
        SampleHistory(fs=100.0, start_time=0.0, channels=2, keep_s=0.0)
