"""Numpy twin of :mod:`gridedge._native.phasor`: the oracle and the baseline.

It computes the same frames as the compiled kernel from the same inputs, with vectorised
numpy instead of loops, and evaluates the window's frequency response by direct summation
where the kernel uses its closed form, so each checks the other.
"""

import numpy as np
from numpy.typing import NDArray

_A = np.exp(2j * np.pi / 3)
# Rows of the symmetrical-component transform; row 1 gives the positive sequence.
_POSITIVE = np.array([1.0, _A, _A * _A]) / 3.0


def frames(
    head: NDArray[np.float64],
    chunk: NDArray[np.float64],
    first_start: int,
    n_frames: int,
    stride: int,
    half_span: int,
    kernel: NDArray[np.complex128],
    cycle_phase: float,
    base_index: int,
    samples_per_cycle: int,
    gains: NDArray[np.float64],
    fs: float,
    f0: float,
    max_deviation: float,
    min_voltage: float,
    phasor: NDArray[np.complex128],
    frequency: NDArray[np.float64],
    rocof: NDArray[np.float64],
    valid: NDArray[np.uint8],
) -> None:
    """Estimate `n_frames` reports from the samples ``head`` followed by ``chunk``.

    Same contract as :func:`gridedge._native.phasor.frames`; see
    :class:`gridedge.meter.phasor.PhasorEstimator` for the method.
    """
    # Sums run along contiguous axes (numpy's pairwise summation, not BLAS), so a frame's
    # value does not depend on how many frames share the call.
    buffer = np.concatenate([head, chunk])
    n_window = kernel.shape[0]
    h = half_span
    # Window starts of the three DFTs per frame (centre - h, centre, centre + h).
    starts = first_start + stride * np.arange(n_frames)[:, None] + h * np.arange(3)[None, :]
    views = np.lib.stride_tricks.sliding_window_view(buffer, n_window, axis=0)
    # views[s] is (channels, n_window): the window starting at row s.
    raw = (views[starts] * kernel).sum(axis=-1)
    cycles = cycle_phase + ((base_index + starts) % samples_per_cycle) / samples_per_cycle
    x = raw * np.exp(-2j * np.pi * cycles)[:, :, None] * gains

    positive = (x[:, :, :3] * _POSITIVE).sum(axis=-1)
    d_next = np.angle(positive[:, 2] * np.conj(positive[:, 1]))
    d_prev = np.angle(positive[:, 1] * np.conj(positive[:, 0]))
    with np.errstate(invalid="ignore"):
        measurable = np.isfinite(positive).all(axis=1) & (np.abs(positive[:, 1]) > min_voltage)
    freq = np.where(measurable, f0 + (d_next + d_prev) * fs / (4 * np.pi * h), np.nan)
    rate = np.where(measurable, (d_next - d_prev) * fs * fs / (2 * np.pi * h * h), np.nan)

    centre = x[:, 1, :]
    tuned = np.clip(np.where(measurable, freq, f0), f0 - max_deviation, f0 + max_deviation)
    offsets = (np.arange(n_window) - n_window // 2) / fs
    window = np.abs(kernel)
    k_near = _response(window, offsets, 2 * np.pi * (tuned - f0))
    k_image = _response(window, offsets, 2 * np.pi * (tuned + f0))
    centre_index = base_index + starts[:, 1] + n_window // 2
    centre_cycles = cycle_phase + (centre_index % samples_per_cycle) / samples_per_cycle
    image_turn = np.exp(-4j * np.pi * centre_cycles)[:, None]
    corrected = (k_near[:, None] * centre - k_image[:, None] * image_turn * np.conj(centre)) / (
        k_near * k_near - k_image * k_image
    )[:, None]

    phasor[:] = np.where(measurable[:, None], corrected, centre)
    frequency[:] = freq
    rocof[:] = rate
    valid[:] = measurable & np.isfinite(centre).all(axis=1)


def _response(
    window: NDArray[np.float64], offsets: NDArray[np.float64], omega: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Window's normalised response ``sum w cos(omega tau) / sum w`` for each omega (rad/s)."""
    return (np.cos(omega[:, None] * offsets[None, :]) * window).sum(axis=1) / window.sum()
