# cython: language_level=3
"""Compiled synchrophasor kernel: windowed DFTs, positive-sequence frequency and ROCOF,
and off-nominal compensation for a block of reports. All work runs without the GIL.

The Python API lives in :mod:`gridedge.meter.phasor`; the numpy twin in
:mod:`gridedge._twin.phasor` states the same computation in vectorised form.
"""

from libc.math cimport M_PI, NAN, atan2, cos, fabs, isfinite, sin, sqrt
cdef enum:
    CHANNELS = 6

# cos and sin of 2 pi / 3: the operator a of the symmetrical components.
cdef double A_RE = -0.5
cdef double A_IM = 0.8660254037844386


cdef inline void _accumulate(
    const double[:, ::1] rows, Py_ssize_t first, Py_ssize_t last, Py_ssize_t k0,
    const double complex[::1] kernel, Py_ssize_t channels, double* out_re, double* out_im,
) noexcept nogil:
    """Add rows[first:last, :channels] times kernel[k0:] to out_re and out_im."""
    # Local sums cannot alias the rows, so the compiler keeps them in registers. They carry
    # on from the running sums, so a window split between head and chunk adds in the same
    # order as a whole one: frames do not depend on how the stream was chunked.
    cdef double re[CHANNELS]
    cdef double im[CHANNELS]
    cdef Py_ssize_t r, c
    cdef double kr, ki, v
    for c in range(channels):
        re[c] = out_re[c]
        im[c] = out_im[c]
    for r in range(first, last):
        kr = kernel[k0 + r - first].real
        ki = kernel[k0 + r - first].imag
        for c in range(channels):
            v = rows[r, c]
            re[c] += v * kr
            im[c] += v * ki
    for c in range(channels):
        out_re[c] = re[c]
        out_im[c] = im[c]


cdef inline void _window(
    const double[:, ::1] head, const double[:, ::1] chunk, Py_ssize_t start,
    const double complex[::1] kernel, Py_ssize_t channels, double* out_re, double* out_im,
) noexcept nogil:
    """DFT of the window starting at row `start` of head-then-chunk, first `channels` columns."""
    cdef Py_ssize_t n_head = head.shape[0]
    cdef Py_ssize_t n_window = kernel.shape[0]
    cdef Py_ssize_t split = min(max(n_head - start, 0), n_window)
    if split > 0:
        _accumulate(head, start, start + split, 0, kernel, channels, out_re, out_im)
    if split < n_window:
        _accumulate(chunk, start + split - n_head, start + n_window - n_head, split,
                    kernel, channels, out_re, out_im)


cdef inline double _dirichlet(double theta, Py_ssize_t half) noexcept nogil:
    """sum of cos(theta m) for m in [-half, half]."""
    cdef double s = sin(0.5 * theta)
    if fabs(s) < 1e-12:
        return 2.0 * half + 1.0
    return sin((half + 0.5) * theta) / s


cdef inline double _response(double omega, double fs, Py_ssize_t n_window) noexcept nogil:
    """Normalised response sum w cos(omega tau) / sum w of the periodic Hann window."""
    cdef double theta = omega / fs
    cdef double beta = 2.0 * M_PI / n_window
    cdef Py_ssize_t half = n_window // 2 - 1
    return (
        0.5 * _dirichlet(theta, half)
        + 0.25 * _dirichlet(theta + beta, half)
        + 0.25 * _dirichlet(theta - beta, half)
    ) / (0.5 * n_window)


def frames(
    const double[:, ::1] head,
    const double[:, ::1] chunk,
    Py_ssize_t first_start,
    Py_ssize_t n_frames,
    Py_ssize_t stride,
    Py_ssize_t half_span,
    const double complex[::1] kernel,
    double cycle_phase,
    Py_ssize_t base_index,
    Py_ssize_t samples_per_cycle,
    const double[::1] gains,
    double fs,
    double f0,
    double max_deviation,
    double min_voltage,
    double complex[:, ::1] phasor,
    double[::1] frequency,
    double[::1] rocof,
    unsigned char[::1] valid,
):
    """Estimate `n_frames` reports from the samples ``head`` followed by ``chunk``.

    Parameters
    ----------
    head : ndarray of float64, shape (n_head, 6)
        Samples kept from earlier calls, raw units.
    chunk : ndarray of float64, shape (n_chunk, 6)
        New samples, raw units (DAQ counts or volts).
    first_start : int
        Row (in head then chunk) where the first frame's earliest window starts.
    n_frames, stride, half_span : int
        Number of frames, samples between frames, samples between a frame's three windows.
    kernel : ndarray of complex128, shape (n_window,)
        ``sqrt(2) / sum(w) * w[n] * exp(-2j pi n / samples_per_cycle)``.
    cycle_phase : float
        Phase, in cycles of f0, of absolute sample 0 on the absolute time base.
    base_index : int
        Absolute index of row 0 of `head`.
    samples_per_cycle : int
        fs / f0.
    gains : ndarray of float64, shape (6,)
        Raw units to primary volts or amperes.
    fs, f0 : float
        Sampling and nominal frequency, Hz.
    max_deviation : float
        Largest |f - f0| (Hz) used for the off-nominal compensation.
    min_voltage : float
        Positive-sequence voltage (primary V RMS) at or below which frequency is undefined.
    phasor, frequency, rocof, valid : ndarray
        Outputs, shapes (n_frames, 6), (n_frames,), (n_frames,), (n_frames,).
    """
    cdef Py_ssize_t n_head = head.shape[0]
    cdef Py_ssize_t n_window = kernel.shape[0]
    if head.shape[1] != CHANNELS or chunk.shape[1] != CHANNELS:
        raise ValueError(f"samples must have {CHANNELS} columns")
    if first_start < 0 or n_frames < 0 or (
        n_frames > 0
        and first_start + (n_frames - 1) * stride + 2 * half_span + n_window
        > n_head + chunk.shape[0]
    ):
        raise ValueError("the requested frames need samples beyond the buffer")
    if (phasor.shape[0] < n_frames or phasor.shape[1] != CHANNELS
            or frequency.shape[0] < n_frames or rocof.shape[0] < n_frames
            or valid.shape[0] < n_frames or gains.shape[0] != CHANNELS):
        raise ValueError("output or gain arrays have the wrong shape")

    cdef Py_ssize_t f, w, c, start, phase_index
    cdef double acc_re[CHANNELS]
    cdef double acc_im[CHANNELS]
    cdef double x_re[3][CHANNELS]
    cdef double x_im[3][CHANNELS]
    cdef double p_re[3]
    cdef double p_im[3]
    cdef double angle, rot_re, rot_im, d_next, d_prev, freq, tuned, k_near, k_image, det
    cdef double turn_re, turn_im, conj_re, conj_im, centre_cycles
    cdef bint measurable, finite
    cdef double two_pi = 2.0 * M_PI

    with nogil:
        for f in range(n_frames):
            for w in range(3):
                if w == 0 and f > 0 and stride == 2 * half_span:
                    # At two reports a cycle this window is the last frame's third: reuse it.
                    for c in range(CHANNELS):
                        x_re[0][c] = x_re[2][c]
                        x_im[0][c] = x_im[2][c]
                    p_re[0] = p_re[2]
                    p_im[0] = p_im[2]
                    continue
                start = first_start + f * stride + w * half_span
                for c in range(CHANNELS):
                    acc_re[c] = 0.0
                    acc_im[c] = 0.0
                # The outer windows serve only frequency: the three voltages are enough there.
                # Literal channel counts let the compiler unroll and vectorise the inner loop.
                if w == 1:
                    _window(head, chunk, start, kernel, CHANNELS, acc_re, acc_im)
                else:
                    _window(head, chunk, start, kernel, 3, acc_re, acc_im)
                # Refer the window to the absolute time base: rotate by -2 pi f0 t_start.
                phase_index = (base_index + start) % samples_per_cycle
                angle = -two_pi * (cycle_phase + <double> phase_index / samples_per_cycle)
                rot_re = cos(angle)
                rot_im = sin(angle)
                for c in range(CHANNELS):
                    x_re[w][c] = gains[c] * (acc_re[c] * rot_re - acc_im[c] * rot_im)
                    x_im[w][c] = gains[c] * (acc_re[c] * rot_im + acc_im[c] * rot_re)
                # Positive-sequence voltage (Va + a Vb + a^2 Vc) / 3.
                p_re[w] = (x_re[w][0] + A_RE * (x_re[w][1] + x_re[w][2])
                           - A_IM * (x_im[w][1] - x_im[w][2])) / 3.0
                p_im[w] = (x_im[w][0] + A_RE * (x_im[w][1] + x_im[w][2])
                           + A_IM * (x_re[w][1] - x_re[w][2])) / 3.0

            finite = True
            for w in range(3):
                if not (isfinite(p_re[w]) and isfinite(p_im[w])):
                    finite = False
            measurable = finite and sqrt(p_re[1] * p_re[1] + p_im[1] * p_im[1]) > min_voltage
            if measurable:
                # Phase steps of the positive sequence across the three windows.
                d_next = atan2(p_im[2] * p_re[1] - p_re[2] * p_im[1],
                               p_re[2] * p_re[1] + p_im[2] * p_im[1])
                d_prev = atan2(p_im[1] * p_re[0] - p_re[1] * p_im[0],
                               p_re[1] * p_re[0] + p_im[1] * p_im[0])
                freq = f0 + (d_next + d_prev) * fs / (2.0 * two_pi * half_span)
                frequency[f] = freq
                rocof[f] = (d_next - d_prev) * fs * fs / (two_pi * half_span * half_span)
                tuned = min(max(freq, f0 - max_deviation), f0 + max_deviation)
                k_near = _response(two_pi * (tuned - f0), fs, n_window)
                k_image = _response(two_pi * (tuned + f0), fs, n_window)
                det = k_near * k_near - k_image * k_image
                # The negative-frequency image turns by exp(-2j w0 t_centre).
                start = first_start + f * stride + half_span
                phase_index = (base_index + start + n_window // 2) % samples_per_cycle
                centre_cycles = cycle_phase + <double> phase_index / samples_per_cycle
                turn_re = cos(-2.0 * two_pi * centre_cycles)
                turn_im = sin(-2.0 * two_pi * centre_cycles)
                for c in range(CHANNELS):
                    conj_re = turn_re * x_re[1][c] + turn_im * x_im[1][c]
                    conj_im = turn_im * x_re[1][c] - turn_re * x_im[1][c]
                    phasor[f, c] = ((k_near * x_re[1][c] - k_image * conj_re)
                                    + 1j * (k_near * x_im[1][c] - k_image * conj_im)) / det
            else:
                frequency[f] = NAN
                rocof[f] = NAN
                for c in range(CHANNELS):
                    phasor[f, c] = x_re[1][c] + 1j * x_im[1][c]
            for c in range(CHANNELS):
                if not (isfinite(x_re[1][c]) and isfinite(x_im[1][c])):
                    finite = False
            valid[f] = measurable and finite
