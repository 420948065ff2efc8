"""Synchrophasor, frequency and ROCOF estimation for a three-phase meter (IEEE C37.118.1).

Method
------
Each report time t_r sits on a sample (the sample nearest a multiple of the reporting period
on the absolute time base). Around it the estimator takes three windowed DFTs at f0, centred
at t_r - h, t_r and t_r + h, with h half a cycle and a periodic Hann window two nominal cycles
long::

    X(t) = sqrt(2) / sum(w) * sum_n w[n] x(t_n) exp(-j 2 pi f0 t_n)

The window spans whole cycles, so harmonics of f0 and DC (a channel offset) cancel exactly.
Frequency and ROCOF come from the phase of the positive-sequence voltage across the three
windows (first and second differences): the negative-frequency image that leaks into every
phase at off-nominal frequency is a negative sequence and cancels there. Knowing f, each
channel's phasor is then corrected for the window's gain at f - f0 and for the image at
-(f + f0), by solving ``X = K(f - f0) Z + K(f + f0) exp(-2j w0 t_r) conj(Z)`` for Z. A report
is available h + one cycle after its time stamp (30 ms at 50 Hz).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridedge import kernels
from gridedge.channels import CHANNELS, ChannelScaling
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid.sequence import to_sequence

WINDOW_CYCLES = 2
"""Length of the DFT window in nominal cycles."""


@dataclass(frozen=True)
class Frames:
    """A block of phasor reports.

    Attributes
    ----------
    time : ndarray of float64, shape (n,)
        Report time stamps, seconds on the absolute time base (window centre).
    phasor : ndarray of complex128, shape (n, 6)
        RMS phasors of Va, Vb, Vc (primary V) and Ia, Ib, Ic (primary A), referred to
        ``cos(2 pi f0 t)``.
    frequency : ndarray of float64, shape (n,)
        Hz; NaN where the positive-sequence voltage is missing or not finite.
    rocof : ndarray of float64, shape (n,)
        Rate of change of frequency, Hz/s; NaN where `frequency` is.
    valid : ndarray of bool, shape (n,)
        False where a window held a non-finite sample or the voltage was too small to
        measure frequency.
    """

    time: NDArray[np.float64]
    phasor: NDArray[np.complex128]
    frequency: NDArray[np.float64]
    rocof: NDArray[np.float64]
    valid: NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.time.shape[0])

    @classmethod
    def empty(cls) -> "Frames":
        """Zero frames."""
        return cls(
            time=np.empty(0),
            phasor=np.empty((0, len(CHANNELS)), dtype=np.complex128),
            frequency=np.empty(0),
            rocof=np.empty(0),
            valid=np.empty(0, dtype=bool),
        )

    @classmethod
    def concatenate(cls, blocks: Sequence["Frames"]) -> "Frames":
        """Join blocks of frames in order."""
        if not blocks:
            return cls.empty()
        return cls(
            time=np.concatenate([b.time for b in blocks]),
            phasor=np.concatenate([b.phasor for b in blocks]),
            frequency=np.concatenate([b.frequency for b in blocks]),
            rocof=np.concatenate([b.rocof for b in blocks]),
            valid=np.concatenate([b.valid for b in blocks]),
        )

    @property
    def voltage(self) -> NDArray[np.complex128]:
        """Phase voltages Va, Vb, Vc, shape (n, 3), primary V RMS."""
        return self.phasor[:, :3]

    @property
    def current(self) -> NDArray[np.complex128]:
        """Phase currents Ia, Ib, Ic, shape (n, 3), primary A RMS."""
        return self.phasor[:, 3:]

    @property
    def voltage_sequence(self) -> NDArray[np.complex128]:
        """Zero, positive, negative sequence voltage, shape (n, 3), primary V RMS."""
        return to_sequence(self.voltage)

    @property
    def current_sequence(self) -> NDArray[np.complex128]:
        """Zero, positive, negative sequence current, shape (n, 3), primary A RMS."""
        return to_sequence(self.current)

    @property
    def complex_power(self) -> NDArray[np.complex128]:
        """Complex power ``V I*`` per phase, shape (n, 3), VA."""
        return self.voltage * np.conj(self.current)

    @property
    def active_power(self) -> NDArray[np.float64]:
        """Active power per phase, shape (n, 3), W."""
        return self.complex_power.real

    @property
    def reactive_power(self) -> NDArray[np.float64]:
        """Reactive power per phase, shape (n, 3), var."""
        return self.complex_power.imag

    @property
    def total_active_power(self) -> NDArray[np.float64]:
        """Three-phase active power, shape (n,), W."""
        return self.active_power.sum(axis=1)

    @property
    def total_reactive_power(self) -> NDArray[np.float64]:
        """Three-phase reactive power, shape (n,), var."""
        return self.reactive_power.sum(axis=1)


def _read_only_empty() -> Frames:
    frames = Frames.empty()
    for array in (frames.time, frames.phasor, frames.frequency, frames.rocof, frames.valid):
        array.setflags(write=False)
    return frames


_NO_FRAMES = _read_only_empty()


def _whole(name: str, numerator: float, denominator: float) -> int:
    ratio = numerator / denominator
    whole = round(ratio)
    if whole < 1 or abs(ratio - whole) > 1e-9 * ratio:
        raise ConfigurationError(f"{name} must be a whole multiple, got {ratio:.6g}")
    return whole


def _cycle_phase(time: float, f0: float) -> float:
    """``f0 * time`` modulo 1, without losing the fraction to a large absolute time."""
    whole = math.floor(time)
    return (math.fmod(f0 * whole, 1.0) + f0 * (time - whole)) % 1.0


class PhasorEstimator:
    """Streaming estimator of phasors, frequency and ROCOF for six channels.

    Parameters
    ----------
    fs : float
        Sampling frequency, Hz; a whole multiple of `f0` (3200 and 6400 Hz at 50 Hz).
    f0 : float, default 50.0
        Nominal frequency, Hz.
    reporting_rate : float, default 50.0
        Reports per second; `fs` must be a whole multiple of it (10, 25, 50 at 50 Hz).
    scaling : ChannelScaling, optional
        Raw units to primary V and A; identity by default. The offsets do not reach the
        phasors: the window spans whole cycles, so it rejects DC.
    start_time : float, default 0.0
        Absolute time of sample 0, seconds (for example POSIX time).
    min_voltage : float, default 0.0
        Positive-sequence voltage, primary V RMS, at or below which frequency and ROCOF are
        NaN and the frame is invalid.
    max_deviation : float, optional
        Largest |f - f0|, Hz, used in the off-nominal correction; ``f0 / 5`` by default.
    backend : {"native", "python"}, optional
        Kernel backend; see :mod:`gridedge.kernels`.

    Notes
    -----
    :meth:`push` takes chunks of any length; frames do not depend on how the signal was
    cut into chunks. The method is described in the module docstring.
    """

    def __init__(
        self,
        fs: float,
        f0: float = 50.0,
        reporting_rate: float = 50.0,
        *,
        scaling: ChannelScaling | None = None,
        start_time: float = 0.0,
        min_voltage: float = 0.0,
        max_deviation: float | None = None,
        backend: kernels.Backend | None = None,
    ) -> None:
        for name, value in (("fs", fs), ("f0", f0), ("reporting_rate", reporting_rate)):
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        if not math.isfinite(start_time):
            raise ConfigurationError(f"start_time must be finite, got {start_time!r}")
        if not (math.isfinite(min_voltage) and min_voltage >= 0):
            raise ConfigurationError(f"min_voltage must be >= 0, got {min_voltage!r}")
        self.samples_per_cycle = _whole("fs / f0", fs, f0)
        if self.samples_per_cycle < 8:
            raise ConfigurationError(f"fs = {fs} Hz is too low: needs at least 8 samples a cycle")
        self.stride = _whole("fs / reporting_rate", fs, reporting_rate)
        self.max_deviation = f0 / 5 if max_deviation is None else float(max_deviation)
        if not 0 < self.max_deviation < f0 / 2:
            raise ConfigurationError(
                f"max_deviation must lie in (0, f0 / 2), got {self.max_deviation!r}"
            )
        self.fs = float(fs)
        self.f0 = float(f0)
        self.reporting_rate = float(reporting_rate)
        self.scaling = ChannelScaling.identity() if scaling is None else scaling
        self.start_time = float(start_time)
        self.min_voltage = float(min_voltage)
        self._kernel_module = kernels.load("phasor", backend)

        self.window_length = WINDOW_CYCLES * self.samples_per_cycle
        self.half_span = self.samples_per_cycle // 2
        n = np.arange(self.window_length)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / self.window_length)
        self._kernel = (
            math.sqrt(2) / window.sum() * window * np.exp(-2j * np.pi * n / self.samples_per_cycle)
        )
        self._cycle_phase = _cycle_phase(self.start_time, self.f0)
        # Reports sit on the sample nearest each multiple of the reporting period.
        self._grid = -round(self.start_time * self.fs) % self.stride
        self._reach = self.half_span + self.window_length // 2
        self.reset(0)

    @property
    def reach(self) -> int:
        """Samples a report needs on each side of its time stamp."""
        return self._reach

    @property
    def latency(self) -> float:
        """Seconds from a report's time stamp to the last sample it needs."""
        return (self._reach - 1) / self.fs

    @property
    def next_report_index(self) -> int:
        """Absolute sample index of the next report's time stamp."""
        return self._next_centre

    @property
    def next_index(self) -> int:
        """Absolute index of the next sample :meth:`push` expects."""
        return self._end

    def reset(self, index: int) -> None:
        """Forget all samples and continue with sample `index` (after a gap, for example)."""
        self._head = np.empty((0, len(CHANNELS)))
        self._head_start = index
        self._end = index
        first = index + self._reach
        self._next_centre = first + (self._grid - first) % self.stride

    def push(self, samples: ArrayLike, first_index: int | None = None) -> Frames:
        """Add samples and return the frames they complete.

        Parameters
        ----------
        samples : array_like, shape (n, 6)
            Raw samples (float64, float32 or integer counts), columns Va, Vb, Vc, Ia, Ib, Ic.
            NaN or inf marks the frames whose windows contain it invalid.
        first_index : int, optional
            Absolute index of the first row. Defaults to :attr:`next_index`. A larger value
            is a gap: the estimator starts afresh there, and no frame spans the gap.

        Returns
        -------
        Frames
            Every report whose windows the new samples completed, possibly none.

        Raises
        ------
        InvalidInputError
            Wrong shape or dtype, or `first_index` before :attr:`next_index`.
        """
        chunk = _as_samples(samples)
        if first_index is not None and first_index != self._end:
            if first_index < self._end:
                raise InvalidInputError(
                    f"first_index {first_index} overlaps samples already pushed "
                    f"(next expected index {self._end})"
                )
            self.reset(first_index)
        end = self._end + chunk.shape[0]
        count = max(0, (end - self._reach - self._next_centre) // self.stride + 1)
        if count == 0:
            self._keep(chunk, end, count)
            return _NO_FRAMES
        first_start = self._next_centre - self._reach - self._head_start
        time = self.start_time + (self._next_centre + self.stride * np.arange(count)) / self.fs
        phasor = np.empty((count, len(CHANNELS)), dtype=np.complex128)
        frequency = np.empty(count)
        rocof = np.empty(count)
        valid = np.empty(count, dtype=np.uint8)
        self._kernel_module.frames(
            self._head,
            chunk,
            first_start,
            count,
            self.stride,
            self.half_span,
            self._kernel,
            self._cycle_phase,
            self._head_start,
            self.samples_per_cycle,
            self.scaling.gain,
            self.fs,
            self.f0,
            self.max_deviation,
            self.min_voltage,
            phasor,
            frequency,
            rocof,
            valid,
        )
        self._keep(chunk, end, count)
        return Frames(time, phasor, frequency, rocof, valid.view(bool))

    def _keep(self, chunk: NDArray[np.float64], end: int, count: int) -> None:
        """Advance past `count` frames and keep only the samples later frames need."""
        self._next_centre += count * self.stride
        keep_from = self._next_centre - self._reach
        if keep_from >= end:
            self._head = np.empty((0, len(CHANNELS)))
            self._head_start = end
        else:
            keep_from = max(keep_from, self._head_start)
            from_head = self._head[keep_from - self._head_start :]
            from_chunk = chunk[max(keep_from - self._end, 0) :]
            self._head = np.concatenate([from_head, from_chunk])
            self._head_start = keep_from
        self._end = end


def _as_samples(samples: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(samples)
    if array.ndim != 2 or array.shape[1] != len(CHANNELS):
        raise InvalidInputError(
            f"samples must have shape (n, {len(CHANNELS)}) for channels {CHANNELS}, "
            f"got {array.shape}"
        )
    if array.dtype.kind not in "fiu":
        raise InvalidInputError(f"samples must be real numbers, got dtype {array.dtype}")
    # Converting counts once here is cheaper than converting each sample in every window.
    return np.ascontiguousarray(array, dtype=np.float64)


def estimate(
    samples: ArrayLike,
    fs: float,
    *,
    f0: float = 50.0,
    reporting_rate: float = 50.0,
    scaling: ChannelScaling | None = None,
    start_time: float = 0.0,
    backend: kernels.Backend | None = None,
) -> Frames:
    """Estimate phasors, frequency and ROCOF of a whole recording.

    Parameters
    ----------
    samples : array_like, shape (n, 6)
        Raw samples, columns Va, Vb, Vc, Ia, Ib, Ic; all finite.
    fs, f0, reporting_rate, scaling, start_time, backend
        As for :class:`PhasorEstimator`.

    Returns
    -------
    Frames
        One frame per report whose windows lie inside the recording.

    Raises
    ------
    InvalidInputError
        Wrong shape or dtype, a non-finite sample, or too few samples for one report.
    """
    estimator = PhasorEstimator(
        fs, f0, reporting_rate, scaling=scaling, start_time=start_time, backend=backend
    )
    chunk = _as_samples(samples)
    needed = estimator.next_report_index + estimator.reach
    if chunk.shape[0] < needed:
        raise InvalidInputError(
            f"the first report needs {needed} samples at fs = {fs} Hz, got {chunk.shape[0]}"
        )
    if chunk.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(chunk))
        if bad.size:
            row, column = bad[0]
            raise InvalidInputError(
                f"sample {row} of channel {CHANNELS[column]} is {chunk[row, column]}: "
                f"{bad.shape[0]} non-finite samples in all"
            )
    return estimator.push(chunk)
