"""Phasors over the whole stable interval of a fault, from the meter's raw samples.

The detector's sets (:class:`gridedge.meter.faults.FaultEvent`) average the frames whose
two-cycle windows avoid the transient and the clearing: on a 0.2 s fault, six half-overlapping
Hann windows, about 400 samples' worth of the 576 a 3.2 kHz DAQ took between one cycle after
inception and clearing. Here the meter goes back to its samples around the event and uses
every stable one:

1. *Inception and clearing.* One-cycle phasors of the currents, window by window (each a
   least-squares fit with an offset and a ramp, which take up a decaying DC offset). The
   inception lies within the first window departing from the pre-fault state by more than
   ``onset_fraction`` of the fault's change (and ``onset_sigmas`` standard errors); the
   clearing likewise ends the fault state, departing from it by ``clearing_fraction`` of the
   fault's change. Whatever the phase of the change, a window departs that far within a
   quarter of a cycle of the new state, so the stable interval ends ``clearing_guard_cycles``
   before the departing window does - or, when no window departs, before the last sample:
   a meter fits as soon as its detector declares the fault, which may be just as the
   protection opens.
2. *Frequency.* The pre-fault positive-sequence voltage's phase, cycle by cycle, fitted with
   a straight line; the pre-fault phasors are referred to the fault's time with it.
3. *Phasors.* Least squares at that frequency, with an offset, over ``prefault_s`` ending
   before the inception window, and over the stable fault interval - from
   ``transient_cycles`` after the inception window to the clearing. The fault currents also
   fit the decaying DC offset of the inception, ``A exp(-t / tau)`` per phase with one
   ``tau`` for the three (the loop's L/R), chosen by golden-section search on log tau: a
   feeder fed through a transformer of X/R near 50 keeps the offset for a good share of the
   fault, and two-cycle windows reject it only partly.
4. *Standard errors.* The DAQ's per-sample noise (white; quantisation plus input noise) through
   the least-squares fit, ``sigma^2 (A^T A)^-1``; the pre-fault set adds what the frequency's
   error does to its phase at the fault's time. A meter that does not know its DAQ's noise
   leaves it to :func:`sample_noise`: the scatter of the samples before the fault about a fit
   of the fundamental and its harmonics.

Downstream meters compute their magnitudes with :func:`voltage_report` over the intervals the
head meter found (:class:`FaultIntervals`; their clocks are synchronised, as for
synchrophasors).
"""

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridedge.channels import CHANNELS
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid.sequence import to_sequence
from gridedge.timebase import cycle_phase

logger = logging.getLogger(__name__)

_GOLDEN = 0.6180339887498949


@dataclass(frozen=True)
class IntervalSettings:
    """How the stable intervals are found and fitted (section ``interval`` of a settings file).

    Attributes
    ----------
    transient_cycles : float
        Nominal cycles after the inception window left out of the fault interval.
    prefault_s : float
        Length of the pre-fault interval, s.
    onset_fraction : float
        Share of the fault's change in the one-cycle current phasor that marks the inception.
    clearing_fraction : float
        Share of the fault's change in the one-cycle current phasor that, undone, marks the
        clearing.
    onset_sigmas : float
        Standard errors of the one-cycle phasor a departure must exceed as well.
    clearing_guard_cycles : float
        Cycles left out before the window that saw the clearing ends (before the last
        sample when none did).
    search_cycles : float
        How far before the detector's latest inception the inception is searched for, cycles
        (the detector knows it to a reporting period).
    min_fault_cycles : float
        Shortest stable fault interval, cycles.
    min_time_constant_s, max_time_constant_s : float
        Range searched for the time constant of the DC offset, s.
    time_constant_steps : int
        Golden-section steps on log tau.
    """

    transient_cycles: float = 1.0
    prefault_s: float = 0.5
    onset_fraction: float = 0.05
    clearing_fraction: float = 0.05
    onset_sigmas: float = 6.0
    clearing_guard_cycles: float = 0.25
    search_cycles: float = 2.0
    min_fault_cycles: float = 1.0
    min_time_constant_s: float = 0.002
    max_time_constant_s: float = 1.0
    time_constant_steps: int = 24

    def __post_init__(self) -> None:
        for name in ("onset_fraction", "clearing_fraction"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigurationError(f"{name} must lie in (0, 1), got {value!r}")
        for name in (
            "prefault_s",
            "onset_sigmas",
            "search_cycles",
            "min_fault_cycles",
            "min_time_constant_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be > 0, got {value!r}")
        for name in ("transient_cycles", "clearing_guard_cycles"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"{name} must be >= 0, got {value!r}")
        if not self.max_time_constant_s > self.min_time_constant_s:
            raise ConfigurationError(
                f"max_time_constant_s ({self.max_time_constant_s!r}) must exceed "
                f"min_time_constant_s ({self.min_time_constant_s!r})"
            )
        if not (isinstance(self.time_constant_steps, int) and self.time_constant_steps >= 1):
            raise ConfigurationError(
                f"time_constant_steps must be an integer >= 1, got {self.time_constant_steps!r}"
            )


HARMONICS = 13
"""Highest harmonic order fitted with the fundamental when the noise is taken from the samples."""


@dataclass(frozen=True)
class FaultIntervals:
    """Where a head meter found a fault's stable intervals: what downstream meters fit over.

    Attributes
    ----------
    time : float
        The time phasors are referred to (the fault interval's middle), s.
    frequency_hz : float
        System frequency, Hz.
    prefault_interval, fault_interval : tuple of float
        First and last sample time of each interval, s.
    """

    time: float
    frequency_hz: float
    prefault_interval: tuple[float, float]
    fault_interval: tuple[float, float]


@dataclass(frozen=True, eq=False)
class IntervalPhasors:
    """A fault's pre-fault and fault phasors over their whole stable intervals.

    Attributes
    ----------
    time : float
        The time both sets are referred to (the fault interval's middle), s.
    frequency_hz : float
        System frequency from the pre-fault voltages, Hz.
    frequency_sigma_hz : float
        Its standard error, Hz.
    inception : tuple of float
        Earliest and latest possible inception, s.
    prefault_interval, fault_interval : tuple of float
        First and last sample time of each fitted interval, s.
    cleared : bool
        Whether the clearing was within the samples (else the fault interval runs to the last
        sample).
    prefault, fault : ndarray of complex128, shape (6,)
        Phasors Va, Vb, Vc (V) and Ia, Ib, Ic (A), RMS, referred to ``cos(2 pi f0 t)`` at
        `time`.
    prefault_sigma, fault_sigma : ndarray of float64, shape (6,)
        Their standard errors (RMS of the complex error), V and A.
    time_constant_s : float
        Fitted time constant of the fault currents' DC offset, s.
    """

    time: float
    frequency_hz: float
    frequency_sigma_hz: float
    inception: tuple[float, float]
    prefault_interval: tuple[float, float]
    fault_interval: tuple[float, float]
    cleared: bool
    prefault: NDArray[np.complex128]
    fault: NDArray[np.complex128]
    prefault_sigma: NDArray[np.float64]
    fault_sigma: NDArray[np.float64]
    time_constant_s: float

    @property
    def uncertainty(self) -> NDArray[np.float64]:
        """Standard errors of the fault and pre-fault sets, shape (2, 6).

        What :func:`gridedge.meter.faults.locate` takes as ``uncertainty``.
        """
        return np.stack([self.fault_sigma, self.prefault_sigma])

    @property
    def intervals(self) -> FaultIntervals:
        """The intervals, for the downstream meters' :func:`voltage_report`."""
        return FaultIntervals(
            self.time, self.frequency_hz, self.prefault_interval, self.fault_interval
        )


@dataclass(frozen=True, eq=False)
class VoltageReport:
    """What a downstream meter reports of a fault: its phase-voltage magnitudes.

    Attributes
    ----------
    voltages, sigma : ndarray of float64, shape (3,)
        Phase-voltage magnitudes over the fault interval and their standard errors, V RMS;
        the pre-fault magnitude's error is included when the report is used with
        `prefault_voltage` (see :func:`voltage_report`).
    prefault_voltage : float
        Positive-sequence voltage magnitude over the pre-fault interval, V RMS.
    """

    voltages: NDArray[np.float64]
    sigma: NDArray[np.float64]
    prefault_voltage: float


def estimate(
    samples: ArrayLike,
    start_time: float,
    fs: float,
    noise: ArrayLike | None,
    near_s: float,
    *,
    f0: float = 50.0,
    settings: IntervalSettings | None = None,
) -> IntervalPhasors:
    """Find a fault's stable intervals in a head meter's samples and fit their phasors.

    Parameters
    ----------
    samples : array_like, shape (n, 6)
        Va, Vb, Vc (V) and Ia, Ib, Ic (A), primary instantaneous values, covering the
        pre-fault interval, the fault and (when it cleared) its clearing.
    start_time : float
        Time of the first sample, s (absolute time base).
    fs : float
        Sampling rate, Hz; a whole multiple of `f0`.
    noise : array_like, shape (6,), or None
        Standard deviation of one sample per channel, V and A (for the DAQ model:
        ``abs(scaling.gain) * daq.noise_rms_v``); None to take it from the samples before
        the fault (:func:`sample_noise`).
    near_s : float
        Roughly when the fault began, s (:attr:`FaultEvent.inception_time`); the inception
        is searched for from ``search_cycles`` before it to one cycle after.
    f0 : float
        Nominal frequency, Hz.
    settings : IntervalSettings, optional

    Raises
    ------
    InvalidInputError
        Samples of the wrong shape or not finite, a bad sampling rate or noise, too few
        pre-fault samples, no fault current change near `near_s`, or a fault interval
        shorter than ``min_fault_cycles``.
    """
    settings = settings or IntervalSettings()
    x = _samples(samples)
    n = _samples_per_cycle(fs, f0)
    near = round((near_s - start_time) * fs)
    first = near - round(settings.search_cycles * n)
    last = min(near + n, x.shape[0] - 1)
    # A rough frequency from the samples before the search demodulates the one-cycle
    # phasors; the pre-fault interval's own fit refines it below.
    lead = round(settings.prefault_s * fs)
    if first - lead < 0 or last <= first:
        raise InvalidInputError(
            f"the samples ({x.shape[0]} from {start_time:.4f} s) must cover "
            f"{settings.prefault_s} s before the fault near {near_s:.4f} s and the fault"
        )
    rough, _ = _frequency(x[first - lead : first, :3], n, fs, f0)
    if noise is None:
        sigma = sample_noise(x[first - lead : first], fs, rough, f0=f0)
    else:
        sigma = _noise(noise, len(CHANNELS))
    cycle = _one_cycle_phasors(x[:, 3:], n, fs, f0, rough)
    # Window index w is the one ending at sample w; the pre-fault state is the mean of the
    # windows of the cycle before the search.
    before = cycle[first - n : first].mean(axis=0)
    departure = np.abs(cycle[first : last + 1] - before).max(axis=1)
    window_sigma = _window_sigma(n) * sigma[3:].max()
    threshold = max(settings.onset_fraction * departure.max(), settings.onset_sigmas * window_sigma)
    if not np.any(departure > threshold):
        raise InvalidInputError(
            f"no fault current change between {start_time + first / fs:.4f} s and "
            f"{start_time + last / fs:.4f} s"
        )
    onset = first + int(np.flatnonzero(departure > threshold)[0])
    fault_from = onset + math.ceil(settings.transient_cycles * n)
    prefault_to = onset - n  # inclusive: the inception lies after it
    prefault_from = prefault_to - round(settings.prefault_s * fs) + 1
    if prefault_from < 0:
        raise InvalidInputError(
            f"{settings.prefault_s} s of pre-fault samples are needed before "
            f"{start_time + prefault_to / fs:.4f} s; the samples start at {start_time:.4f} s"
        )
    fault_to, cleared = _clearing(cycle, before, fault_from, n, window_sigma, settings)
    if fault_to - fault_from + 1 < settings.min_fault_cycles * n:
        raise InvalidInputError(
            f"the fault's stable interval holds {max(fault_to - fault_from + 1, 0)} samples, "
            f"fewer than {settings.min_fault_cycles:g} cycles ({n} samples each)"
        )
    frequency, frequency_sigma = _frequency(x[prefault_from : prefault_to + 1, :3], n, fs, f0)
    reference = start_time + 0.5 * (fault_from + fault_to) / fs
    fitted = _Fit(start_time, fs, f0, frequency, reference)
    pre, pre_sigma = fitted.phasors(x, sigma, prefault_from, prefault_to)
    volts, volts_sigma = fitted.phasors(x[:, :3], sigma[:3], fault_from, fault_to)
    amps, amps_sigma, tau = fitted.with_offset(x[:, 3:], sigma[3:], fault_from, fault_to, settings)
    # The frequency's error turns the pre-fault phasors by 2 pi df (reference - their time).
    lever = reference - start_time - 0.5 * (prefault_from + prefault_to) / fs
    pre_sigma = np.hypot(pre_sigma, np.abs(pre) * 2 * math.pi * frequency_sigma * lever)
    logger.debug(
        "fault interval %.4f-%.4f s (cleared %s), f %.4f Hz, tau %.4f s",
        start_time + fault_from / fs,
        start_time + fault_to / fs,
        cleared,
        frequency,
        tau,
    )
    return IntervalPhasors(
        time=reference,
        frequency_hz=frequency,
        frequency_sigma_hz=frequency_sigma,
        inception=(start_time + (onset - n + 1) / fs, start_time + onset / fs),
        prefault_interval=(start_time + prefault_from / fs, start_time + prefault_to / fs),
        fault_interval=(start_time + fault_from / fs, start_time + fault_to / fs),
        cleared=cleared,
        prefault=pre,
        fault=np.concatenate([volts, amps]),
        prefault_sigma=pre_sigma,
        fault_sigma=np.concatenate([volts_sigma, amps_sigma]),
        time_constant_s=tau,
    )


def voltage_report(
    samples: ArrayLike,
    start_time: float,
    fs: float,
    noise: ArrayLike | None,
    head: FaultIntervals,
    *,
    f0: float = 50.0,
) -> VoltageReport:
    """A downstream meter's magnitudes over the intervals its head meter found.

    Parameters
    ----------
    samples : array_like, shape (n, 3) or (n, 6)
        The meter's samples (its voltage channels first), primary values, on the same time
        base as the head meter's.
    start_time, fs, f0
        As for :func:`estimate`.
    noise : array_like, shape (3,) or (6,), or None
        Standard deviation of one sample per channel, V (the voltage channels are used);
        None to take it from the pre-fault interval's samples (:func:`sample_noise`).
    head : FaultIntervals
        The head meter's intervals and frequency (:attr:`IntervalPhasors.intervals`).

    Returns
    -------
    VoltageReport
        Its `sigma` includes the error of `prefault_voltage`, so that both may be handed to
        :func:`gridedge.meter.faults.locate` together.

    Raises
    ------
    InvalidInputError
        Samples of the wrong shape or not finite, or not covering the head's intervals.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] not in (3, len(CHANNELS)) or not np.all(np.isfinite(x)):
        raise InvalidInputError(
            f"samples must be finite, of shape (n, 3) or (n, 6); got shape {x.shape}"
        )
    _samples_per_cycle(fs, f0)
    rows = []
    for begin, end in (head.prefault_interval, head.fault_interval):
        first, last = round((begin - start_time) * fs), round((end - start_time) * fs)
        if first < 0 or last >= x.shape[0]:
            raise InvalidInputError(
                f"the samples ({x.shape[0]} from {start_time:.4f} s) do not cover "
                f"{begin:.4f}-{end:.4f} s"
            )
        rows.append((first, last))
    if noise is None:
        prefault = x[rows[0][0] : rows[0][1] + 1, :3]
        sigma = sample_noise(prefault, fs, head.frequency_hz, f0=f0)
    else:
        sigma = np.asarray(noise, dtype=np.float64)
        if sigma.shape not in ((3,), (len(CHANNELS),)):
            raise InvalidInputError(f"noise must hold 3 or 6 standard deviations, got {sigma!r}")
        sigma = _noise(sigma[:3], 3)
    fitted = _Fit(start_time, fs, f0, head.frequency_hz, head.time)
    pre, pre_sigma = fitted.phasors(x[:, :3], sigma[:3], *rows[0])
    during, during_sigma = fitted.phasors(x[:, :3], sigma[:3], *rows[1])
    positive = to_sequence(pre)[1]
    # A magnitude takes half a circular complex error's variance; the positive sequence a
    # ninth of the three phases' together.
    pre_magnitude_sigma = math.sqrt((pre_sigma**2).sum() / 9 / 2)
    return VoltageReport(
        voltages=np.abs(during),
        sigma=np.hypot(during_sigma / math.sqrt(2), pre_magnitude_sigma),
        prefault_voltage=float(abs(positive)),
    )


def sample_noise(
    samples: NDArray[np.float64], fs: float, frequency: float, *, f0: float = 50.0
) -> NDArray[np.float64]:
    """Standard deviation of one sample per channel, from a steady stretch of samples.

    The scatter about a least-squares fit of an offset, the fundamental at `frequency` and
    its harmonics up to :data:`HARMONICS` (below the Nyquist frequency), with the degrees of
    freedom the fit takes: what the DAQ's quantisation and input noise, and whatever else
    the fit does not explain, add to each sample.

    Parameters
    ----------
    samples : ndarray of float64, shape (n, channels)
        Primary values, V or A, of a stretch without a change of state.
    fs, frequency, f0 : float
        Sampling rate, system frequency and nominal frequency, Hz.

    Raises
    ------
    InvalidInputError
        Fewer samples than three cycles, or a channel without any scatter (a flat line).
    """
    n = _samples_per_cycle(fs, f0)
    if samples.shape[0] < 3 * n:
        raise InvalidInputError(
            f"{samples.shape[0]} samples are too few to tell their noise; 3 cycles are needed"
        )
    orders = np.arange(1, min(HARMONICS, (n - 1) // 2) + 1)
    angle = 2 * math.pi * frequency / fs * np.arange(samples.shape[0])[:, None] * orders
    design = np.column_stack([np.ones(samples.shape[0]), np.cos(angle), np.sin(angle)])
    residual = np.linalg.lstsq(design, samples, rcond=None)[1]
    if residual.shape != (samples.shape[1],):
        raise InvalidInputError("the samples do not determine a fit of their harmonics")
    return _noise(np.sqrt(residual / (samples.shape[0] - design.shape[1])), samples.shape[1])


class _Fit:
    """Least-squares phasors at one frequency, referred to one time."""

    def __init__(
        self, start_time: float, fs: float, f0: float, frequency: float, reference: float
    ) -> None:
        self.start_time = start_time
        self.fs = fs
        self.frequency = frequency
        # Phase of cos(2 pi f0 t) at the reference time, kept exact for absolute times.
        self.phase0 = 2 * math.pi * cycle_phase(reference, f0)
        self.reference = reference

    def basis(self, first: int, last: int) -> NDArray[np.float64]:
        """Columns sqrt(2) cos, -sqrt(2) sin and 1 over samples first..last, shape (k, 3)."""
        t = self.start_time + np.arange(first, last + 1) / self.fs - self.reference
        angle = self.phase0 + 2 * math.pi * self.frequency * t
        return np.stack(
            [math.sqrt(2) * np.cos(angle), -math.sqrt(2) * np.sin(angle), np.ones_like(t)],
            axis=1,
        )

    def phasors(
        self, x: NDArray[np.float64], sigma: NDArray[np.float64], first: int, last: int
    ) -> tuple[NDArray[np.complex128], NDArray[np.float64]]:
        """Phasors of each column of `x` over first..last and their standard errors."""
        design = self.basis(first, last)
        return _solve(design, x[first : last + 1], sigma)

    def with_offset(
        self,
        x: NDArray[np.float64],
        sigma: NDArray[np.float64],
        first: int,
        last: int,
        settings: IntervalSettings,
    ) -> tuple[NDArray[np.complex128], NDArray[np.float64], float]:
        """Phasors with a decaying offset ``A exp(-t / tau)``, tau fitted; and tau, s."""
        base = self.basis(first, last)
        data = x[first : last + 1]
        elapsed = np.arange(last - first + 1) / self.fs

        def design(log_tau: float) -> NDArray[np.float64]:
            return np.column_stack([base, np.exp(-elapsed / math.exp(log_tau))])

        def cost(log_tau: float) -> float:
            residual = np.linalg.lstsq(design(log_tau), data, rcond=None)[1]
            return float(residual.sum()) if residual.size else 0.0

        a = math.log(settings.min_time_constant_s)
        b = math.log(settings.max_time_constant_s)
        c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        fc, fd = cost(c), cost(d)
        for _ in range(settings.time_constant_steps):
            if fc < fd:
                b, d, fd = d, c, fc
                c = b - _GOLDEN * (b - a)
                fc = cost(c)
            else:
                a, c, fc = c, d, fd
                d = a + _GOLDEN * (b - a)
                fd = cost(d)
        log_tau = 0.5 * (a + b)
        phasors, errors = _solve(design(log_tau), data, sigma)
        return phasors, errors, math.exp(log_tau)


def _solve(
    design: NDArray[np.float64], data: NDArray[np.float64], sigma: NDArray[np.float64]
) -> tuple[NDArray[np.complex128], NDArray[np.float64]]:
    """Least squares of every column of `data`; phasors and their standard errors."""
    coefficients, *_ = np.linalg.lstsq(design, data, rcond=None)
    covariance = np.linalg.inv(design.T @ design)
    spread = math.sqrt(covariance[0, 0] + covariance[1, 1])
    return coefficients[0] + 1j * coefficients[1], sigma * spread


def _clearing(
    cycle: NDArray[np.complex128],
    before: NDArray[np.complex128],
    fault_from: int,
    n: int,
    window_sigma: float,
    settings: IntervalSettings,
) -> tuple[int, bool]:
    """Last sample of the stable fault interval, and whether the fault cleared."""
    # The first window wholly after the transient is the fault state's reference.
    reference = cycle[min(fault_from + n - 1, cycle.shape[0] - 1)]
    scan = cycle[fault_from + n - 1 :]
    departure = np.abs(scan - reference).max(axis=1)
    threshold = max(
        settings.clearing_fraction * np.abs(reference - before).max(),
        settings.onset_sigmas * window_sigma,
    )
    leaving = np.flatnonzero(departure > threshold)
    guard = math.ceil(settings.clearing_guard_cycles * n)
    if leaving.size == 0:
        # A clearing in the last guard's worth of samples has not shown yet: those are not
        # known to belong to the fault.
        return cycle.shape[0] - 1 - guard, False
    window_end = fault_from + n - 1 + int(leaving[0])
    return window_end - guard, True


def _frequency(voltages: NDArray[np.float64], n: int, fs: float, f0: float) -> tuple[float, float]:
    """Frequency, Hz, and its standard error from the positive-sequence phase cycle by cycle."""
    cycles = voltages.shape[0] // n
    if cycles < 3:
        raise InvalidInputError(f"the pre-fault interval holds {cycles} cycles; 3 are needed")
    blocks = voltages[: cycles * n].reshape(cycles, n, 3)
    rotation = np.exp(-2j * np.pi * np.arange(n) / n)
    phasors = np.einsum("cnp,n->cp", blocks, rotation)
    phase = np.unwrap(np.angle(to_sequence(phasors)[:, 1]))
    t = (np.arange(cycles) + 0.5) * n / fs
    slope, intercept = np.polyfit(t, phase, 1)
    residual = phase - (slope * t + intercept)
    spread = math.sqrt((residual**2).sum() / max(cycles - 2, 1) / ((t - t.mean()) ** 2).sum())
    return f0 + slope / (2 * math.pi), spread / (2 * math.pi)


def _one_cycle_phasors(
    x: NDArray[np.float64], n: int, fs: float, f0: float, frequency: float
) -> NDArray[np.complex128]:
    """Phasor of every one-cycle window, row w for the window ending at sample w.

    Each window is a least-squares fit of a sinusoid, an offset and a ramp: the ramp takes
    up most of a decaying DC offset, which a plain one-cycle DFT would leak into the phasor
    by a few percent of the fault current while it decays - enough to look like a clearing.
    Demodulated at `frequency`, so that a steady state gives the same phasor in every window.
    Rows before the first whole window are 0.
    """
    solver = np.linalg.pinv(_window_design(n))
    taps = (solver[0] + 1j * solver[1])[::-1]
    starts = np.arange(x.shape[0] - n + 1)
    turn = np.exp(-2j * np.pi * ((starts % n) / n + (frequency - f0) * (starts + n / 2) / fs))
    out = np.zeros(x.shape, dtype=np.complex128)
    for channel in range(x.shape[1]):
        out[n - 1 :, channel] = np.convolve(x[:, channel], taps, mode="valid") * turn
    return out


def _window_sigma(n: int) -> float:
    """Standard error of a one-cycle window's phasor (RMS complex error) per unit noise."""
    design = _window_design(n)
    covariance = np.linalg.inv(design.T @ design)
    return math.sqrt(covariance[0, 0] + covariance[1, 1])


def _window_design(n: int) -> NDArray[np.float64]:
    """Columns sqrt(2) cos, -sqrt(2) sin, offset and ramp over one cycle of n samples."""
    local = np.arange(n)
    angle = 2 * np.pi * local / n
    return np.stack(
        [math.sqrt(2) * np.cos(angle), -math.sqrt(2) * np.sin(angle), np.ones(n), local - n / 2],
        axis=1,
    )


def _samples(samples: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(CHANNELS):
        raise InvalidInputError(f"samples must have shape (n, {len(CHANNELS)}), got {x.shape}")
    bad = [CHANNELS[c] for c in range(len(CHANNELS)) if not np.all(np.isfinite(x[:, c]))]
    if bad:
        raise InvalidInputError(f"samples of channel(s) {', '.join(bad)} are not finite")
    return x


def _noise(noise: ArrayLike, channels: int) -> NDArray[np.float64]:
    sigma = np.asarray(noise, dtype=np.float64)
    if sigma.shape != (channels,) or not np.all(np.isfinite(sigma) & (sigma > 0)):
        raise InvalidInputError(
            f"noise must hold {channels} finite standard deviations > 0, got {sigma!r}"
        )
    return sigma


def _samples_per_cycle(fs: float, f0: float) -> int:
    n = round(fs / f0)
    if not (math.isfinite(fs) and n >= 8 and abs(fs / f0 - n) < 1e-9 * n):
        raise InvalidInputError(
            f"fs ({fs!r} Hz) must be a whole multiple of f0 ({f0!r} Hz), at least 8 samples a cycle"
        )
    return n
