"""The sample ring: order, gaps, overruns, bad input, and a real producer/consumer pair."""

import threading

import numpy as np
import pytest

from gridedge.meter.ring import create_ring

pytestmark = pytest.mark.kernels


def rows(first: int, n: int, channels: int = 6) -> np.ndarray:
    """Rows whose values encode their absolute index, so order and gaps can be checked."""
    index = np.arange(first, first + n, dtype=np.float64)
    return np.ascontiguousarray(index[:, None] + np.arange(channels) / 10)


def test_fifo_across_the_wrap(backend: str) -> None:
    ring = create_ring(7, backend=backend)
    got = []
    for first in range(0, 60, 5):
        assert ring.write(rows(first, 5)) == 5
        index, block = ring.read(4 if first % 2 else None)
        got.append((index, block))
    while ring.available:
        got.append(ring.read())
    for index, block in got:
        np.testing.assert_array_equal(block, rows(index, len(block)))
    assert sum(len(b) for _, b in got) == 60
    assert ring.dropped == 0
    assert ring.overruns == 0


def test_overrun_drops_the_newest_and_reports_the_gap(backend: str) -> None:
    ring = create_ring(10, backend=backend)
    assert ring.write(rows(0, 4)) == 4
    assert ring.write(rows(4, 8)) == 6  # rows 10 and 11 do not fit
    assert (ring.dropped, ring.overruns, ring.offered) == (2, 1, 12)
    assert ring.write(rows(12, 3)) == 0
    assert (ring.dropped, ring.overruns) == (5, 2)
    index, block = ring.read()
    assert index == 0
    np.testing.assert_array_equal(block, rows(0, 10))
    assert ring.write(rows(15, 3)) == 3
    index, block = ring.read()
    assert index == 15  # the reader sees where the gap ends
    np.testing.assert_array_equal(block, rows(15, 3))
    index, block = ring.read()
    assert (index, block.shape) == (18, (0, 6))


def test_a_read_never_spans_a_gap(backend: str) -> None:
    ring = create_ring(8, backend=backend)
    ring.write(rows(0, 8))
    ring.read(5)
    ring.write(rows(8, 9))  # 5 fit (8..12), 4 dropped (13..16)
    ring.write(rows(17, 1))  # does not fit either
    ring.read(3)
    ring.write(rows(18, 2))
    assert [ring.read()[0] for _ in range(3)] == [8, 18, 20]


@pytest.mark.parametrize(
    ("samples", "error"),
    [
        (np.zeros((3, 5)), ValueError),
        (np.zeros(6), ValueError),
        (np.zeros((3, 6), dtype=np.float32), TypeError),
        (np.zeros((6, 3)).T, TypeError),
    ],
)
def test_bad_rows_are_refused_and_nothing_is_stored(backend: str, samples, error) -> None:
    ring = create_ring(8, backend=backend)
    with pytest.raises(error):
        ring.write(samples)
    assert ring.available == 0
    assert ring.offered == 0


def test_bad_construction(backend: str) -> None:
    with pytest.raises(ValueError, match="capacity"):
        create_ring(0, backend=backend)
    with pytest.raises(ValueError, match="channels"):
        create_ring(4, 0, backend=backend)
    with pytest.raises(ValueError, match="max_samples"):
        create_ring(4, backend=backend).read(-1)


def test_producer_and_consumer_threads(backend: str) -> None:
    """Concurrent writes and reads lose nothing that was stored and keep every row intact."""
    ring = create_ring(4096, backend=backend)
    total, block = 400_000, 640
    done = threading.Event()
    received: list[tuple[int, np.ndarray]] = []

    def consume() -> None:
        while not (done.is_set() and ring.available == 0):
            index, got = ring.read(1000)
            if len(got):
                received.append((index, got))

    consumer = threading.Thread(target=consume)
    consumer.start()
    stored = 0
    for first in range(0, total, block):
        stored += ring.write(rows(first, block))
    done.set()
    consumer.join(timeout=60)
    assert not consumer.is_alive()
    assert stored + ring.dropped == total
    assert sum(len(b) for _, b in received) == stored
    last = -1
    for index, got in received:
        assert index > last
        np.testing.assert_array_equal(got, rows(index, len(got)))
        last = index + len(got) - 1


def test_skip_leaves_a_gap_the_reader_sees(backend: str) -> None:
    ring = create_ring(8, backend=backend)
    ring.write(rows(0, 3))
    ring.skip(4)  # the source lost samples 3..6
    ring.skip(0)
    ring.write(rows(7, 2))
    assert (ring.offered, ring.dropped, ring.overruns, ring.available) == (9, 0, 0, 5)
    index, block = ring.read()
    assert index == 0
    np.testing.assert_array_equal(block, rows(0, 3))
    index, block = ring.read()
    assert index == 7
    np.testing.assert_array_equal(block, rows(7, 2))
    with pytest.raises(ValueError, match="must not be negative"):
        ring.skip(-1)
