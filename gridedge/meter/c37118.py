"""IEEE C37.118.1 test signals, error metrics and a compliance sweep for the phasor estimator.

The signals follow IEEE C37.118.1-2011 with its 2014 amendment (IEC/IEEE 60255-118-1): a
balanced three-phase set on all six channels, ``x_p(t) = sqrt(2) X A(t) cos(2 pi f0 t + psi(t)
- p 2 pi / 3)`` plus harmonics, whose reference phasor is ``X A(t) exp(j (psi(t) - p 2 pi / 3))``,
frequency ``f0 + psi'(t) / 2 pi`` and ROCOF ``psi''(t) / 2 pi``.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridedge import kernels
from gridedge.meter.phasor import Frames, PhasorEstimator

TimeFunction = Callable[[NDArray[np.float64]], NDArray[np.float64]]

VOLTAGE = 230.0
CURRENT = 100.0
CURRENT_ANGLE = -np.pi / 6
_SHIFT = np.array([0.0, -2 * np.pi / 3, 2 * np.pi / 3])


@dataclass(frozen=True)
class Limits:
    """Largest allowed total vector error (fraction), frequency (Hz) and ROCOF (Hz/s) errors."""

    tve: float
    fe: float
    rfe: float | None


@dataclass(frozen=True)
class TestSignal:
    """A six-channel test signal and its reference values.

    Attributes
    ----------
    fs, f0 : float
        Sampling and nominal frequency, Hz.
    samples : ndarray of float64, shape (n, 6)
        Va, Vb, Vc in V and Ia, Ib, Ic in A.
    amplitude, angle, frequency_offset, rocof : callable
        Reference functions of time (s): amplitude factor A(t), angle psi(t) in rad,
        psi'(t) / 2 pi in Hz and psi''(t) / 2 pi in Hz/s.
    """

    fs: float
    f0: float
    samples: NDArray[np.float64]
    amplitude: TimeFunction
    angle: TimeFunction
    frequency_offset: TimeFunction
    rocof: TimeFunction

    def reference_phasor(self, time: NDArray[np.float64]) -> NDArray[np.complex128]:
        """Return the true phasors at `time`, shape (n, 6), V and A RMS."""
        magnitude = np.array([VOLTAGE] * 3 + [CURRENT] * 3)
        shift = np.concatenate([_SHIFT, _SHIFT + CURRENT_ANGLE])
        rotation = np.exp(1j * (self.angle(time)[:, None] + shift))
        return magnitude * self.amplitude(time)[:, None] * rotation


def synthesize(
    fs: float,
    duration: float,
    *,
    f0: float = 50.0,
    amplitude: TimeFunction | None = None,
    angle: TimeFunction | None = None,
    frequency_offset: TimeFunction | None = None,
    rocof: TimeFunction | None = None,
    harmonics: Sequence[tuple[int, float]] = (),
) -> TestSignal:
    """Sample a balanced three-phase test signal on all six channels.

    Parameters
    ----------
    fs : float
        Sampling frequency, Hz.
    duration : float
        Length, s; sample 0 is at t = 0.
    f0 : float
        Nominal frequency, Hz.
    amplitude, angle, frequency_offset, rocof : callable, optional
        Reference functions (see :class:`TestSignal`); constant 1 and zeros by default.
    harmonics : sequence of (order, fraction)
        Harmonics of the nominal frequency added in phase, as a fraction of the fundamental.
    """
    ones: TimeFunction = np.ones_like
    amplitude = amplitude or ones
    angle = angle or np.zeros_like
    frequency_offset = frequency_offset or np.zeros_like
    rocof = rocof or np.zeros_like
    t = np.arange(round(duration * fs)) / fs
    magnitude = np.array([VOLTAGE] * 3 + [CURRENT] * 3) * np.sqrt(2)
    shift = np.concatenate([_SHIFT, _SHIFT + CURRENT_ANGLE])
    total = (2 * np.pi * f0 * t + angle(t))[:, None] + shift
    wave = np.cos(total)
    for order, fraction in harmonics:
        wave += fraction * np.cos(order * (2 * np.pi * f0 * t)[:, None] + order * shift)
    samples = magnitude * amplitude(t)[:, None] * wave
    return TestSignal(fs, f0, samples, amplitude, angle, frequency_offset, rocof)


@dataclass(frozen=True)
class Errors:
    """Worst errors over the assessed frames: TVE (fraction), FE (Hz), RFE (Hz/s)."""

    tve: float
    fe: float
    rfe: float

    def within(self, limits: Limits) -> bool:
        """Whether every error is inside `limits`."""
        return (
            self.tve <= limits.tve
            and self.fe <= limits.fe
            and (limits.rfe is None or self.rfe <= limits.rfe)
        )


def errors(signal: TestSignal, frames: Frames, skip: float = 0.0) -> Errors:
    """Worst TVE, FE and RFE of `frames` against `signal`, ignoring the first `skip` s."""
    keep = frames.time >= skip
    time = frames.time[keep]
    reference = signal.reference_phasor(time)
    tve = np.abs(frames.phasor[keep] - reference) / np.abs(reference)
    fe = np.abs(frames.frequency[keep] - (signal.f0 + signal.frequency_offset(time)))
    rfe = np.abs(frames.rocof[keep] - signal.rocof(time))
    return Errors(float(tve.max()), float(fe.max()), float(rfe.max()))


@dataclass(frozen=True)
class Case:
    """One named test of the compliance sweep."""

    name: str
    limits: Limits
    signals: Callable[[float], Iterator[TestSignal]]


def _off_nominal(span: float) -> Callable[[float], Iterator[TestSignal]]:
    def signals(fs: float) -> Iterator[TestSignal]:
        for offset in np.arange(-span, span + 1e-9, 0.5):
            yield synthesize(
                fs,
                1.0,
                angle=lambda t, d=offset: 2 * np.pi * d * t,
                frequency_offset=lambda t, d=offset: np.full_like(t, d),
            )

    return signals


def _harmonics(fraction: float) -> Callable[[float], Iterator[TestSignal]]:
    def signals(fs: float) -> Iterator[TestSignal]:
        for order in range(2, 51):
            yield synthesize(fs, 0.5, harmonics=[(order, fraction)])

    return signals


def _modulation(kx: float, ka: float, highest: float) -> Callable[[float], Iterator[TestSignal]]:
    def signals(fs: float) -> Iterator[TestSignal]:
        for fm in np.arange(0.1, highest + 1e-9, 0.1 if highest <= 2 else 0.5):
            w = 2 * np.pi * fm
            yield synthesize(
                fs,
                max(2.0 / fm, 1.0),
                amplitude=lambda t, w=w: 1 + kx * np.cos(w * t),
                angle=lambda t, w=w: ka * np.cos(w * t - np.pi),
                frequency_offset=lambda t, w=w: -ka * w / (2 * np.pi) * np.sin(w * t - np.pi),
                rocof=lambda t, w=w: -ka * w * w / (2 * np.pi) * np.cos(w * t - np.pi),
            )

    return signals


def _ramp(rate: float, span: float) -> Callable[[float], Iterator[TestSignal]]:
    def signals(fs: float) -> Iterator[TestSignal]:
        for sign in (1.0, -1.0):
            r = sign * rate
            start = -sign * span
            yield synthesize(
                fs,
                2 * span / rate,
                angle=lambda t, r=r, s=start: 2 * np.pi * (s * t + 0.5 * r * t * t),
                frequency_offset=lambda t, r=r, s=start: s + r * t,
                rocof=lambda t, r=r: np.full_like(t, r),
            )

    return signals


P_CLASS: tuple[Case, ...] = (
    Case("off-nominal frequency +-2 Hz", Limits(0.01, 0.005, 0.4), _off_nominal(2.0)),
    Case("harmonics 1 %, 2nd-50th", Limits(0.01, 0.005, 0.4), _harmonics(0.01)),
    Case(
        "amplitude modulation kx 0.1, fm to 2 Hz",
        Limits(0.03, 0.06, 2.3),
        _modulation(0.1, 0.0, 2.0),
    ),
    Case(
        "phase modulation ka 0.1, fm to 2 Hz", Limits(0.03, 0.06, 2.3), _modulation(0.0, 0.1, 2.0)
    ),
    Case("frequency ramp +-1 Hz/s over +-2 Hz", Limits(0.01, 0.01, 0.4), _ramp(1.0, 2.0)),
)
"""P-class tests at 50 frames per second (limits from C37.118.1 with the 2014 amendment)."""

M_CLASS: tuple[Case, ...] = (
    Case("off-nominal frequency +-5 Hz", Limits(0.01, 0.005, 0.1), _off_nominal(5.0)),
    Case("harmonics 10 %, 2nd-50th", Limits(0.01, 0.025, None), _harmonics(0.10)),
)
"""The M-class tests this estimator meets with the same settings."""


def run_case(case: Case, fs: float, backend: kernels.Backend | None = None) -> Errors:
    """Worst errors of the estimator over every signal of `case` at sampling rate `fs`."""
    worst = Errors(0.0, 0.0, 0.0)
    for signal in case.signals(fs):
        frames = PhasorEstimator(fs, signal.f0, 50.0, backend=backend).push(signal.samples)
        found = errors(signal, frames)
        worst = Errors(
            max(worst.tve, found.tve), max(worst.fe, found.fe), max(worst.rfe, found.rfe)
        )
    return worst
