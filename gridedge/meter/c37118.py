"""IEEE C37.118.1 test signals, error metrics and a compliance sweep for the phasor estimator.

The signals follow IEEE C37.118.1-2011 with its 2014 amendment (IEC/IEEE 60255-118-1): a
balanced three-phase set on all six channels, ``x_p(t) = sqrt(2) X A(t) cos(2 pi f0 t + psi(t)
- p 2 pi / 3)`` plus harmonics, whose reference phasor is ``X A(t) exp(j (psi(t) - p 2 pi / 3))``,
frequency ``f0 + psi'(t) / 2 pi`` and ROCOF ``psi''(t) / 2 pi``.
"""

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

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


@dataclass(frozen=True)
class StepResponse:
    """Response of the estimator to a magnitude or phase step, by equivalent-time sampling.

    Attributes
    ----------
    tve_response, fe_response, rfe_response : float
        Seconds during which TVE, FE and RFE exceed their steady-state limits.
    delay : float
        Seconds from the step to the estimate crossing half the step (absolute value).
    overshoot : float
        Largest excursion beyond the final value, as a fraction of the step.
    """

    tve_response: float
    fe_response: float
    rfe_response: float
    delay: float
    overshoot: float


STEP_LIMITS = {
    "tve_response": 2 / 50,
    "fe_response": 4.5 / 50,
    "rfe_response": 6 / 50,
    "delay": 1 / (4 * 50),
    "overshoot": 0.05,
}
"""P-class step limits at f0 = 50 Hz and 50 frames per second (s, or fraction for overshoot)."""


def step_response(
    fs: float,
    kind: str,
    size: float,
    *,
    f0: float = 50.0,
    reporting_rate: float = 50.0,
    backend: kernels.Backend | None = None,
) -> StepResponse:
    """Measure the response to a step, moving the step across one reporting interval.

    Parameters
    ----------
    fs : float
        Sampling frequency, Hz.
    kind : {"magnitude", "phase"}
        What steps: the amplitude by `size` (fraction) or the angle by `size` (rad).
    size : float
        Step size: 0.1 for +10 % magnitude, ``np.radians(10)`` for +10 degrees.
    """
    stride = round(fs / reporting_rate)
    before, after = 0.3, 0.3
    times, tve, fe, rfe, value = [], [], [], [], []
    for shift in range(stride):
        t_step = before + shift / fs

        def on(t: NDArray[np.float64], t_step: float = t_step) -> NDArray[np.float64]:
            return (t >= t_step).astype(float)

        if kind == "magnitude":
            signal = synthesize(
                fs, before + after, f0=f0, amplitude=lambda t, s=on: 1 + size * s(t)
            )
        elif kind == "phase":
            signal = synthesize(fs, before + after, f0=f0, angle=lambda t, s=on: size * s(t))
        else:
            raise ValueError(f"kind must be 'magnitude' or 'phase', got {kind!r}")
        frames = PhasorEstimator(fs, f0, reporting_rate, backend=backend).push(signal.samples)
        reference = signal.reference_phasor(frames.time)
        times.append(frames.time - t_step)
        tve.append((np.abs(frames.phasor - reference) / np.abs(reference)).max(axis=1))
        fe.append(np.abs(frames.frequency - f0))
        rfe.append(np.abs(frames.rocof))
        first = frames.phasor[:, 0] / (VOLTAGE)
        value.append(np.abs(first) - 1 if kind == "magnitude" else np.angle(first))
    order = np.argsort(np.concatenate(times))
    time = np.concatenate(times)[order]

    def duration(error: list[NDArray[np.float64]], limit: float) -> float:
        above = time[np.concatenate(error)[order] > limit]
        return float(above[-1] - above[0]) if above.size else 0.0

    fraction = np.concatenate(value)[order] / size
    crossing = time[np.argmax(fraction >= 0.5)]
    return StepResponse(
        tve_response=duration(tve, 0.01),
        fe_response=duration(fe, 0.005),
        rfe_response=duration(rfe, 0.4),
        delay=abs(float(crossing)),
        overshoot=float(max(fraction.max() - 1, -fraction.min(), 0.0)),
    )


def report(
    sampling_rates: Sequence[float] = (3200.0, 6400.0),
    stream: TextIO | None = None,
    backend: kernels.Backend | None = None,
) -> None:
    """Print the worst errors of every test as a Markdown table (the table of docs/accuracy.md)."""
    out = stream or sys.stdout
    print(
        "| class | test | fs (Hz) | TVE (%) | FE (mHz) | RFE (Hz/s) | limits TVE / FE / RFE |",
        file=out,
    )
    print("|---|---|---|---|---|---|---|", file=out)
    for label, cases in (("P", P_CLASS), ("M", M_CLASS)):
        for case in cases:
            for fs in sampling_rates:
                found = run_case(case, fs, backend)
                rfe_limit = "-" if case.limits.rfe is None else f"{case.limits.rfe:g}"
                verdict = "" if found.within(case.limits) else " **FAIL**"
                print(
                    f"| {label} | {case.name} | {fs:g} | {100 * found.tve:.2e} | "
                    f"{1000 * found.fe:.2e} | {found.rfe:.2e} | {100 * case.limits.tve:g} % / "
                    f"{1000 * case.limits.fe:g} mHz / {rfe_limit}{verdict} |",
                    file=out,
                )
    print(file=out)
    print(
        "| step (P class) | fs (Hz) | TVE resp. (ms) | FE resp. (ms) | RFE resp. (ms) | "
        "delay (ms) | overshoot (%) |",
        file=out,
    )
    print("|---|---|---|---|---|---|---|", file=out)
    steps = (
        ("magnitude +10 %", "magnitude", 0.1),
        ("magnitude -10 %", "magnitude", -0.1),
        ("phase +10 deg", "phase", np.radians(10)),
        ("phase -10 deg", "phase", -np.radians(10)),
    )
    for name, kind, size in steps:
        for fs in sampling_rates:
            r = step_response(fs, kind, size, backend=backend)
            print(
                f"| {name} | {fs:g} | {1000 * r.tve_response:.1f} | {1000 * r.fe_response:.1f} | "
                f"{1000 * r.rfe_response:.1f} | {1000 * r.delay:.2f} | {100 * r.overshoot:.2f} |",
                file=out,
            )
    limits = STEP_LIMITS
    print(
        f"| limits | | {1000 * limits['tve_response']:g} | {1000 * limits['fe_response']:g} | "
        f"{1000 * limits['rfe_response']:g} | {1000 * limits['delay']:g} | "
        f"{100 * limits['overshoot']:g} |",
        file=out,
    )
