"""Built-in algorithm ``power-quality``: total harmonic distortion and unbalance.

An example of an algorithm added at run time, and of the ``samples`` input. THD is computed
as IEC 61000-4-7 does, on rectangular windows of 10 nominal cycles (200 ms at 50 Hz) of raw
samples: with the window a whole number of cycles, harmonic h falls on FFT bin 10 h, and
``THD = sqrt(sum over h = 2..H of |X_h|^2) / |X_1|`` per channel. Unbalance is the ratio of
negative- to positive-sequence voltage (and current), from the phasor frames.

Parameters
----------
``interval_s`` (float, default 1.0)
    Seconds between two published results.
``max_order`` (int, default 40)
    Highest harmonic counted (limited by the sampling rate).

Message body (on ``meters/{id}/measurements/power-quality``): ``t`` (s, POSIX, end of the
interval), ``thd_percent`` (``{channel: %}``, of the last window), ``voltage_unbalance_percent``
and ``current_unbalance_percent`` (means over the interval; null without valid frames).
"""

from typing import Any

import numpy as np

from gridedge.channels import CHANNELS
from gridedge.errors import ConfigurationError
from gridedge.meter.phasor import Frames
from gridedge.meter.plugin import (
    FRAMES,
    SAMPLES,
    BaseAlgorithm,
    Context,
    Declaration,
    Output,
    SampleBlock,
    number_parameter,
)

WINDOW_CYCLES = 10


def thd(window: np.ndarray, max_order: int) -> np.ndarray:
    """THD of each column of `window` (10 whole cycles), as a fraction; shape (channels,)."""
    spectrum = np.abs(np.fft.rfft(window, axis=0))
    orders = np.arange(2, max_order + 1) * WINDOW_CYCLES
    orders = orders[orders < spectrum.shape[0]]
    fundamental = spectrum[WINDOW_CYCLES]
    harmonics = np.sqrt((spectrum[orders] ** 2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(fundamental > 0, harmonics / fundamental, np.nan)


class PowerQuality(BaseAlgorithm):
    """Windows of raw samples for THD, frames for unbalance, one result per interval."""

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []
        self._held = 0
        self._next_index: int | None = None
        self._thd: np.ndarray | None = None
        self._unbalance: list[tuple[float, float]] = []
        self._due: float | None = None
        self._publish: Any = None

    def configure(self, context: Context) -> Declaration:
        """Read the parameters; size the window from the sampling and nominal frequency."""
        interval = number_parameter(context.parameters, "interval_s", 1.0, inclusive=False)
        max_order = context.parameters.get("max_order", 40)
        if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 2:
            raise ConfigurationError(f"max_order must be an integer >= 2, got {max_order!r}")
        measurement = context.measurement
        window = WINDOW_CYCLES * measurement.fs / measurement.f0
        if not float(window).is_integer():
            raise ConfigurationError(
                f"{WINDOW_CYCLES} cycles of {measurement.f0} Hz are not a whole number of "
                f"samples at {measurement.fs} Hz"
            )
        self._window = int(window)
        self._interval = interval
        self._max_order = max_order
        self._topic = f"{context.topics.measurements(context.meter_id)}/power-quality"
        self._publish = context.publish
        return Declaration(inputs=frozenset({SAMPLES, FRAMES}), outputs=(Output(self._topic),))

    def on_samples(self, block: SampleBlock) -> None:
        """Collect samples into windows; compute THD on each full one (a gap starts afresh)."""
        if self._next_index is not None and block.first_index != self._next_index:
            self._blocks, self._held = [], 0
        self._next_index = block.first_index + block.samples.shape[0]
        self._blocks.append(block.samples)
        self._held += block.samples.shape[0]
        if self._held < self._window:
            return
        samples = np.concatenate(self._blocks)
        whole = (samples.shape[0] // self._window) * self._window
        self._thd = thd(samples[whole - self._window : whole], self._max_order)
        rest = samples[whole:]
        self._blocks, self._held = [rest], rest.shape[0]

    def on_frames(self, frames: Frames) -> None:
        """Accumulate unbalance; publish once per interval."""
        valid = frames.valid
        if valid.any():
            voltage = frames.voltage_sequence[valid]
            current = frames.current_sequence[valid]
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.abs(voltage[:, 2]) / np.abs(voltage[:, 1])
                i = np.abs(current[:, 2]) / np.abs(current[:, 1])
            self._unbalance.extend(zip(v.tolist(), i.tolist(), strict=True))
        end = float(frames.time[-1])
        if self._due is None:
            self._due = end + self._interval
        if end >= self._due:
            self._publish(self._topic, self._body(end))
            self._unbalance.clear()
            self._due += self._interval * max(1, int((end - self._due) // self._interval) + 1)

    def _body(self, end: float) -> dict[str, Any]:
        def percent(values: list[float]) -> float | None:
            finite = [v for v in values if np.isfinite(v)]
            return round(100 * float(np.mean(finite)), 4) if finite else None

        return {
            "t": end,
            "thd_percent": None
            if self._thd is None
            else {
                c: (round(100 * float(x), 4) if np.isfinite(x) else None)
                for c, x in zip(CHANNELS, self._thd, strict=True)
            },
            "voltage_unbalance_percent": percent([v for v, _ in self._unbalance]),
            "current_unbalance_percent": percent([i for _, i in self._unbalance]),
        }


def create() -> PowerQuality:
    """Entry point of the package."""
    return PowerQuality()
