"""Numpy twin of :mod:`gridedge._native.ring`: the same ring with a lock instead of atomics."""

import threading

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError


class SampleRing:
    """Single-producer/single-consumer ring of multi-channel samples.

    See :class:`gridedge.meter.ring.SampleRing` for the contract.
    """

    def __init__(self, capacity: int, channels: int = 6) -> None:
        if capacity <= 0:
            raise InvalidInputError("capacity must be positive")
        if channels <= 0:
            raise InvalidInputError("channels must be positive")
        self.capacity = int(capacity)
        self.channels = int(channels)
        self._data = np.zeros((self.capacity, self.channels))
        self._index = np.zeros(self.capacity, dtype=np.uint64)
        self._head = 0
        self._tail = 0
        self._next_read = 0
        self.offered = 0
        self.dropped = 0
        self.overruns = 0
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        """Rows ready to read."""
        with self._lock:
            return self._head - self._tail

    def write(self, samples: NDArray[np.float64]) -> int:
        """Store rows of a (n, channels) float64 array; return how many fit."""
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            raise InvalidInputError(
                f"samples must have shape (n, {self.channels}), got ndim {samples.ndim}"
            )
        if samples.dtype != np.float64 or not samples.flags.c_contiguous:
            raise TypeError("samples must be a C-contiguous float64 array")
        with self._lock:
            n = samples.shape[0]
            stored = min(self.capacity - (self._head - self._tail), n)
            slots = (self._head + np.arange(stored)) % self.capacity
            self._data[slots] = samples[:stored]
            self._index[slots] = self.offered + np.arange(stored, dtype=np.uint64)
            self._head += stored
            if stored < n:
                self.dropped += n - stored
                self.overruns += 1
            self.offered += n
            return stored

    def skip(self, n_rows: int) -> None:
        """Advance the index of the next row by `n_rows` without storing rows."""
        if n_rows < 0:
            raise InvalidInputError("n_rows must not be negative")
        with self._lock:
            self.offered += n_rows

    def read(self, max_samples: int | None = None) -> tuple[int, NDArray[np.float64]]:
        """Return ``(first_index, rows)``: consecutive samples, never across a gap."""
        if max_samples is not None and max_samples < 0:
            raise InvalidInputError("max_samples must not be negative")
        with self._lock:
            ready = self._head - self._tail
            if max_samples is not None:
                ready = min(ready, max_samples)
            if ready == 0:
                return self._next_read, np.empty((0, self.channels))
            slots = (self._tail + np.arange(ready)) % self.capacity
            indices = self._index[slots].astype(np.int64)
            first = int(indices[0])
            breaks = np.flatnonzero(indices != first + np.arange(ready))
            count = int(breaks[0]) if breaks.size else ready
            rows = self._data[slots[:count]].copy()
            self._tail += count
            self._next_read = first + count
            return first, rows
