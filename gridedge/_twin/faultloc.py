"""Numpy twin of :mod:`gridedge._native.faultloc`: impedance-based fault location on a feeder.

The feeder is a tree of line sections hanging from the head meter, every section a pi model
per sequence (zero, positive, negative) in per unit. Everything that is not a section (loads,
transformers and the grids behind them, lines held open at one end) is folded into
admittances to earth, once per topology, by the caller (:mod:`gridedge.meter.faults.feeder`).
For one fault the kernel

1. walks the sections from the head, carrying the sequence voltage and the current into each
   section, for the during-fault and the pre-fault phasors (everything off the path draws its
   admittance times the bus voltage: the load compensation);
2. for a point at fraction x of a section, computes the voltage there and the fault current:
   what arrives at x minus what the feeder beyond x draws, during the fault minus before it
   (Takagi's superimposed current), kept to the phases the fault kind involves;
3. scores the point with a weighted sum of squares: the reactance of the fault loop,
   ``Im(V_loop / I_loop)``, which is zero at the fault (the fault is a resistance), and the
   differences between the phase-voltage magnitudes the other meters measured and those
   predicted with the transfer impedances, ``V_i = V_i,pre - Z_i,f I_f``;
4. minimises the score on every section: on a uniform grid of `samples` + 1 points, then by
   golden-section search around every grid minimum and every sign change of the reactance.

Both backends evaluate the same formulas in the same order.
"""

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError

_A = np.exp(2j * np.pi / 3)
_TO_PHASE = np.array([[1, 1, 1], [1, _A * _A, _A], [1, _A, _A * _A]])
_TO_SEQUENCE = np.array([[1, 1, 1], [1, _A, _A * _A], [1, _A * _A, _A]]) / 3
_GOLDEN = 0.6180339887498949
_TINY = 1e-12
"""Floor of a predicted magnitude, p.u. (a bolted fault at a meter's bus predicts zero)."""
_SAME_POINT = 1e-6
"""Minima of one section closer than this (fraction) are one candidate."""


class FeederKernel:
    """Per-topology data of a feeder and the location of one fault on it.

    Parameters
    ----------
    parent : ndarray of int64, shape (n,)
        Index of the section feeding each section, -1 for the head section (the one the head
        meter measures). Parents come before their children.
    series, half_shunt : ndarray of complex128, shape (n, 3)
        Series impedance and half the shunt admittance (pi model) of each whole section,
        zero / positive / negative sequence, p.u.
    side : ndarray of complex128, shape (n, 3)
        Admittance drawn at a section's sending bus besides the section itself (the bus's
        loads and laterals and its other sections with everything beyond them), p.u.; 0 for
        the head section, whose current is measured.
    end : ndarray of complex128, shape (n, 3)
        Admittance of everything beyond a section's far bus (0 when that end is open), p.u.
    from_end, to_end : ndarray of int64, shape (n,)
        Column of `transfer` for each section's sending and far bus; `to_end` is -1 where the
        far end is open.
    transfer : ndarray of complex128, shape (3, m, e)
        Transfer impedance from each section end bus (e) to each scoring meter's bus (m), per
        sequence, p.u.
    samples : int
        Grid points per section.
    iterations : int
        Golden-section steps per minimum.
    """

    def __init__(
        self,
        parent: NDArray[np.int64],
        series: NDArray[np.complex128],
        half_shunt: NDArray[np.complex128],
        side: NDArray[np.complex128],
        end: NDArray[np.complex128],
        from_end: NDArray[np.int64],
        to_end: NDArray[np.int64],
        transfer: NDArray[np.complex128],
        samples: int,
        iterations: int,
    ) -> None:
        n = _check_vector("parent", parent, np.int64)
        for name, array in (
            ("series", series),
            ("half_shunt", half_shunt),
            ("side", side),
            ("end", end),
        ):
            _check_shape(name, array, np.complex128, (n, 3))
        _check_shape("from_end", from_end, np.int64, (n,))
        _check_shape("to_end", to_end, np.int64, (n,))
        if transfer.dtype != np.complex128 or transfer.ndim != 3 or transfer.shape[0] != 3:
            raise InvalidInputError(
                f"transfer must be complex128 of shape (3, m, e), got {transfer.dtype} "
                f"{transfer.shape}"
            )
        n_ends = transfer.shape[2]
        if n == 0:
            raise InvalidInputError("a feeder needs at least one section")
        if parent[0] != -1 or np.any(parent[1:] < 0) or np.any(parent >= np.arange(n)):
            raise InvalidInputError("parent must be -1 for section 0 and point backwards otherwise")
        if np.any((from_end < 0) | (from_end >= n_ends)) or np.any(
            (to_end < -1) | (to_end >= n_ends)
        ):
            raise InvalidInputError(f"from_end and to_end must index {n_ends} end buses")
        if samples < 1 or iterations < 1:
            raise InvalidInputError("samples and iterations must be positive")
        self.parent = parent
        self.series = series
        self.half_shunt = half_shunt
        self.side = side
        self.end = end
        self.from_end = from_end
        self.to_end = to_end
        self.transfer = transfer
        self.samples = int(samples)
        self.iterations = int(iterations)

    @property
    def sections(self) -> int:
        """Number of sections."""
        return int(self.parent.shape[0])

    @property
    def meters(self) -> int:
        """Number of scoring meters."""
        return int(self.transfer.shape[1])

    def locate(
        self,
        during: NDArray[np.complex128],
        prefault: NDArray[np.complex128],
        phases: int,
        earthed: bool,
        measured: NDArray[np.float64],
        weight: NDArray[np.float64],
        meter_prefault: NDArray[np.complex128],
        reactance_weight: float,
        scale_weight: float,
    ) -> tuple[
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.complex128],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
    ]:
        """Every local minimum of the score on every section.

        Parameters
        ----------
        during, prefault : ndarray of complex128, shape (2, 3)
            Head-meter sequence voltage (row 0) and current into the head section (row 1),
            zero / positive / negative, p.u., during the fault and before it.
        phases : int
            Faulted phases as bits (1 = a, 2 = b, 4 = c).
        earthed : bool
            Whether the fault involves earth.
        measured : ndarray of float64, shape (m, 3)
            Phase-voltage magnitudes the scoring meters measured during the fault, p.u.; NaN
            where missing.
        weight : ndarray of float64, shape (m, 3)
            Weight of each magnitude (one over its variance), p.u.^-2.
        meter_prefault : ndarray of complex128, shape (m,)
            Positive-sequence voltage of each scoring meter's bus before the fault, p.u.
        reactance_weight : float
            Weight of the loop reactance (one over its variance), p.u.^-2; > 0.
        scale_weight : float
            One over the variance of the common complex scale of the predicted sags (the
            relative error of the fault current and the model); > 0.

        Returns
        -------
        section : ndarray of int64, shape (k,)
        fraction : ndarray of float64, shape (k,)
            Position along the section from its sending bus, in [0, 1].
        resistance : ndarray of float64, shape (k,)
            Fault resistance, p.u. (between the phases for a two-phase fault without earth,
            phase to earth or to the star point otherwise).
        current : ndarray of complex128, shape (k, 3)
            Sequence currents into the fault, p.u., reduced to what the fault kind lets flow.
        cost : ndarray of float64, shape (k,)
            The score: weighted squares of the reactance and of the magnitude differences,
            minimised over the sags' common scale.
        reactance : ndarray of float64, shape (k,)
            Loop reactance, p.u.
        mismatch : ndarray of float64, shape (k,)
            Unweighted sum of squares of the magnitude differences at that scale, p.u.^2.
        """
        _check_shape("during", during, np.complex128, (2, 3))
        _check_shape("prefault", prefault, np.complex128, (2, 3))
        _check_shape("measured", measured, np.float64, (self.meters, 3))
        _check_shape("weight", weight, np.float64, (self.meters, 3))
        _check_shape("meter_prefault", meter_prefault, np.complex128, (self.meters,))
        if phases not in range(1, 8) or (phases in (1, 2, 4) and not earthed):
            raise InvalidInputError(f"phases {phases} with earthed={earthed} is not a fault kind")
        for name, value in (("reactance_weight", reactance_weight), ("scale_weight", scale_weight)):
            if not (np.isfinite(value) and value > 0):
                raise InvalidInputError(f"{name} must be > 0, got {value!r}")
        if np.any(~np.isfinite(weight) | (weight < 0)):
            raise InvalidInputError("weight must be finite and >= 0")
        problem = _Problem(
            self,
            self._walk(np.stack([during, prefault])),
            phases,
            earthed,
            measured,
            weight,
            meter_prefault,
            reactance_weight,
            scale_weight,
        )
        section, fraction = self._minima(problem)
        return (section, fraction, *problem.evaluate(section, fraction, full=True))

    def _walk(self, head: NDArray[np.complex128]) -> NDArray[np.complex128]:
        """Voltage at the sending bus and current into every section, shape (n, 2, 2, 3)."""
        start = np.empty((self.sections, *head.shape), dtype=np.complex128)
        start[0] = head
        for k in range(1, self.sections):
            p = self.parent[k]
            v, i = _along(self.series[p], self.half_shunt[p], start[p])
            start[k, :, 0] = v
            start[k, :, 1] = i - self.side[k] * v
        return start

    def _minima(self, problem: "_Problem") -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Sections and fractions of the score's local minima."""
        n, samples = self.sections, self.samples
        grid = np.arange(samples + 1) / samples
        every = np.repeat(np.arange(n), samples + 1)
        cost, reactance = problem.evaluate(every, np.tile(grid, n))[:2]
        cost = cost.reshape(n, samples + 1)
        positive = (reactance >= 0).reshape(n, samples + 1)
        # Search intervals: around every grid minimum, and across every sign change of the
        # reactance (a sharp minimum may hide between two grid points).
        padded = np.pad(cost, ((0, 0), (1, 1)), constant_values=np.inf)
        lowest = (padded[:, 1:-1] <= padded[:, :-2]) & (padded[:, 1:-1] <= padded[:, 2:])
        # A sign change next to a grid minimum lies inside that minimum's interval already.
        change = np.zeros((n, samples + 1), dtype=bool)
        change[:, :-1] = (positive[:, :-1] != positive[:, 1:]) & ~lowest[:, :-1] & ~lowest[:, 1:]
        section, low, high = [], [], []
        for k, j, kind in sorted(
            [(k, j, 0) for k, j in zip(*np.nonzero(lowest), strict=True)]
            + [(k, j, 1) for k, j in zip(*np.nonzero(change), strict=True)]
        ):
            section.append(k)
            low.append(grid[max(j - 1, 0)] if kind == 0 else grid[j])
            high.append(grid[min(j + 1, samples)] if kind == 0 else grid[j + 1])
        sections = np.array(section, dtype=np.int64)
        best = _golden(problem, sections, np.array(low), np.array(high), self.iterations)
        keep = []
        for c in range(sections.shape[0]):
            if not any(
                sections[d] == sections[c] and abs(best[d] - best[c]) < _SAME_POINT for d in keep
            ):
                keep.append(c)
        return sections[keep], best[keep]


class _Problem:
    """The score of points of the feeder for one fault."""

    def __init__(
        self,
        kernel: FeederKernel,
        start: NDArray[np.complex128],
        phases: int,
        earthed: bool,
        measured: NDArray[np.float64],
        weight: NDArray[np.float64],
        meter_prefault: NDArray[np.complex128],
        reactance_weight: float,
        scale_weight: float,
    ) -> None:
        self.kernel = kernel
        self.start = start
        self.phases = phases
        self.earthed = earthed
        self.seen = ~np.isnan(measured)
        self.measured = np.where(self.seen, measured, 0.0)
        self.weight = np.where(self.seen, weight, 0.0)
        self.meter_prefault = meter_prefault
        self.reactance_weight = reactance_weight
        self.scale_weight = scale_weight

    def evaluate(
        self, sections: NDArray[np.int64], x: NDArray[np.float64], full: bool = False
    ) -> tuple[NDArray[np.generic], ...]:
        """Score and loop reactance at each point; with `full`, everything ``locate`` returns."""
        kernel = self.kernel
        voltage, current = self._fault_point(sections, x)
        current = _project(current, self.phases, self.earthed)
        v_loop, i_loop, factor = _loop(voltage, current, self.phases, self.earthed)
        # Divided as the compiled kernel does: without fault current the score is NaN there
        # too, and no point qualifies.
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = v_loop * np.conj(i_loop) / (i_loop.real**2 + i_loop.imag**2)
        reactance = ratio.imag
        near = kernel.transfer[:, :, kernel.from_end[sections]]  # (3, m, k)
        far_index = kernel.to_end[sections]
        far = kernel.transfer[:, :, np.maximum(far_index, 0)]
        share = np.where(far_index >= 0, x, 0.0)
        z = (1 - share) * near + share * far
        sag = np.einsum("ps,smk->kmp", _TO_PHASE, z * current.T[:, None, :])  # (k, m, 3)
        before = np.einsum("p,m->mp", _TO_PHASE[:, 1], self.meter_prefault)  # (m, 3)
        voltage_at = before - sag
        magnitude = np.maximum(np.sqrt(voltage_at.real**2 + voltage_at.imag**2), _TINY)
        # The sags' common complex scale 1 + u + jv is a nuisance parameter with prior
        # variance 1 / scale_weight: linearised, its least-squares fit is a 2 x 2 solve.
        product = np.conj(voltage_at) * sag / magnitude
        slope_u, slope_v = -product.real, product.imag
        residual = np.where(self.seen, magnitude - self.measured, 0.0)
        w = self.weight
        saa = (w * slope_u * slope_u).sum(axis=(1, 2)) + self.scale_weight
        sab = (w * slope_u * slope_v).sum(axis=(1, 2))
        sbb = (w * slope_v * slope_v).sum(axis=(1, 2)) + self.scale_weight
        sar = (w * slope_u * residual).sum(axis=(1, 2))
        sbr = (w * slope_v * residual).sum(axis=(1, 2))
        srr = (w * residual * residual).sum(axis=(1, 2))
        determinant = saa * sbb - sab * sab
        u = (sab * sbr - sbb * sar) / determinant
        v = (sab * sar - saa * sbr) / determinant
        cost = self.reactance_weight * reactance * reactance + srr + u * sar + v * sbr
        if not full:
            return cost, reactance
        fitted = np.where(
            self.seen, residual + slope_u * u[:, None, None] + slope_v * v[:, None, None], 0.0
        )
        mismatch = (fitted * fitted).sum(axis=(1, 2))
        return factor * ratio.real, current, cost, reactance, mismatch

    def _fault_point(
        self, sections: NDArray[np.int64], x: NDArray[np.float64]
    ) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
        """Sequence voltage at fraction `x` of `sections` and the fault current there, (k, 3)."""
        kernel = self.kernel
        xs = x[:, None, None]
        series = kernel.series[sections][:, None, :]
        shunt = kernel.half_shunt[sections][:, None, :]
        v, arriving = _along(series * xs, shunt * xs, self.start[sections])
        rest_series = series * (1 - xs)
        rest_shunt = shunt * (1 - xs)
        terminal = rest_shunt + kernel.end[sections][:, None, :]
        beyond = rest_shunt + terminal / (1 + rest_series * terminal)
        fault_current = arriving - beyond * v
        return v[:, 0], fault_current[:, 0] - fault_current[:, 1]


def _golden(
    problem: _Problem,
    sections: NDArray[np.int64],
    low: NDArray[np.float64],
    high: NDArray[np.float64],
    iterations: int,
) -> NDArray[np.float64]:
    """Golden-section minimisation of the score on each interval, all intervals at once."""
    a, b = low.copy(), high.copy()
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc = problem.evaluate(sections, c)[0]
    fd = problem.evaluate(sections, d)[0]
    for _ in range(iterations):
        left = fc < fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        keep = np.where(left, c, d)
        kept = np.where(left, fc, fd)
        fresh = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        f_fresh = problem.evaluate(sections, fresh)[0]
        c, fc = np.where(left, fresh, keep), np.where(left, f_fresh, kept)
        d, fd = np.where(left, keep, fresh), np.where(left, kept, f_fresh)
    return 0.5 * (a + b)


def _along(
    series: NDArray[np.complex128],
    half_shunt: NDArray[np.complex128],
    state: NDArray[np.complex128],
) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
    """Voltage at the far end of a pi section and the current arriving there.

    `state` (..., 2, 3) holds the sending voltage and the current into the section.
    """
    v, i = state[..., 0, :], state[..., 1, :]
    through = i - half_shunt * v
    far = v - series * through
    return far, through - half_shunt * far


def _project(current: NDArray[np.complex128], phases: int, earthed: bool) -> NDArray[np.complex128]:
    """Sequence fault currents (k, 3) reduced to what the fault kind lets flow.

    Nothing flows in a healthy phase, the two currents of a two-phase fault without earth
    cancel, and a three-phase fault draws the positive sequence only: measurement noise in
    the other components would otherwise sag the predicted voltages unevenly.
    """
    faulted = [p for p in range(3) if phases >> p & 1]
    if len(faulted) == 3:
        kept = np.zeros_like(current)
        kept[:, 1] = current[:, 1]
        return kept
    phase = current @ _TO_PHASE.T
    kept = np.zeros_like(phase)
    kept[:, faulted] = phase[:, faulted]
    if len(faulted) == 2 and not earthed:
        half = 0.5 * (phase[:, faulted[0]] - phase[:, faulted[1]])
        kept[:, faulted[0]], kept[:, faulted[1]] = half, -half
    return kept @ _TO_SEQUENCE.T


def _loop(
    voltage: NDArray[np.complex128],
    current: NDArray[np.complex128],
    phases: int,
    earthed: bool,
) -> tuple[NDArray[np.complex128], NDArray[np.complex128], float]:
    """Loop voltage, loop current and the factor from loop resistance to fault resistance."""
    faulted = [p for p in range(3) if phases >> p & 1]
    if len(faulted) == 3:
        return voltage[:, 1], current[:, 1], 1.0
    v = voltage @ _TO_PHASE.T
    i = current @ _TO_PHASE.T
    if len(faulted) == 1:
        return v[:, faulted[0]], i[:, faulted[0]], 1.0
    p, q = faulted
    return v[:, p] - v[:, q], i[:, p] - i[:, q], 1.0 if earthed else 2.0


def _check_vector(name: str, array: NDArray[np.generic], dtype: type) -> int:
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
        raise InvalidInputError(f"{name} must be a 1-d {np.dtype(dtype)} array")
    return int(array.shape[0])


def _check_shape(
    name: str, array: NDArray[np.generic], dtype: type, shape: tuple[int, ...]
) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
        got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array)
        raise InvalidInputError(f"{name} must be {np.dtype(dtype)} of shape {shape}, got {got}")
