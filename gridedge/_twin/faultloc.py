"""Numpy twin of :mod:`gridedge._native.faultloc`: impedance-based fault location on a feeder.

The feeder is a tree of line sections hanging from the head meter, every section a pi
model per sequence (zero, positive, negative) in per unit. Everything that is not a
section (loads, transformers and the grids behind them, lines held open at one end) is
folded into admittances to earth, once per topology, by the caller
(:mod:`gridedge.meter.faults.feeder`). The kernel then, for one fault:

1. walks the sections from the head, carrying the sequence voltage and the current into each
   section for the during-fault and the pre-fault phasors (laterals at each bus draw their
   admittance times the bus voltage: the load compensation);
2. on every section, finds each fraction x in [0, 1] where the fault loop is resistive,
   ``Im(V_loop conj(I_loop)) = 0``, with V the voltage at x and I the fault current there
   (the current arriving at x minus what the rest of the feeder beyond x draws, minus the
   same quantity computed from the pre-fault phasors: Takagi's superimposed current);
3. predicts, for every such candidate, the sequence voltages at the other meters with the
   transfer impedances ``V_i = V_i,pre - Z_i,f I_f`` and scores the sum of squared
   differences of the phase-voltage magnitudes against the measured ones.

Both backends evaluate the same formulas in the same order: the residual on a uniform grid
of `samples` + 1 points per section, then `iterations` bisection steps in every interval
whose ends differ in sign.
"""

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError

_A = np.exp(2j * np.pi / 3)
_TO_PHASE = np.array([[1, 1, 1], [1, _A * _A, _A], [1, _A, _A * _A]])


class FeederKernel:
    """Per-topology data of a feeder and the location of one fault on it.

    Parameters
    ----------
    parent : ndarray of int64, shape (n,)
        Index of the section feeding each section, -1 for the head section (the one the
        head meter measures). Parents come before their children.
    series, half_shunt : ndarray of complex128, shape (n, 3)
        Series impedance and half the shunt admittance (pi model) of each whole section,
        zero / positive / negative sequence, p.u.
    side : ndarray of complex128, shape (n, 3)
        Admittance drawn at a section's sending bus besides the section itself (the bus's
        loads and laterals and its other sections with everything beyond them), p.u.;
        0 for the head section, whose current is measured.
    end : ndarray of complex128, shape (n, 3)
        Admittance of everything beyond a section's far bus (0 when that end is open), p.u.
    from_end, to_end : ndarray of int64, shape (n,)
        Column of `transfer` for each section's sending and far bus; `to_end` is -1 where the
        far end is open.
    transfer : ndarray of complex128, shape (3, m, e)
        Transfer impedance from each section end bus (e) to each scoring meter's bus (m),
        per sequence, p.u.
    samples : int
        Grid points per section for bracketing the roots.
    iterations : int
        Bisection steps per root.
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
        meter_prefault: NDArray[np.complex128],
    ) -> tuple[
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.complex128],
        NDArray[np.float64],
        NDArray[np.int64],
    ]:
        """Every point of the feeder where the fault loop is resistive, with its score.

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
            Phase-voltage magnitudes the scoring meters measured during the fault, p.u.;
            NaN where missing.
        meter_prefault : ndarray of complex128, shape (m,)
            Positive-sequence voltage of each scoring meter's bus before the fault, p.u.

        Returns
        -------
        section : ndarray of int64, shape (k,)
        fraction : ndarray of float64, shape (k,)
            Position along the section from its sending bus, in [0, 1].
        resistance : ndarray of float64, shape (k,)
            Fault resistance, p.u. (between phases for a two-phase fault without earth,
            phase to earth or to the star point otherwise).
        current : ndarray of complex128, shape (k, 3)
            Sequence currents into the fault, p.u.
        mismatch : ndarray of float64, shape (k,)
            Sum of squared differences of the meters' phase-voltage magnitudes, p.u. squared.
        observed : ndarray of int64, shape (k,)
            Number of magnitudes in `mismatch`.
        """
        _check_shape("during", during, np.complex128, (2, 3))
        _check_shape("prefault", prefault, np.complex128, (2, 3))
        _check_shape("measured", measured, np.float64, (self.meters, 3))
        _check_shape("meter_prefault", meter_prefault, np.complex128, (self.meters,))
        if phases not in range(1, 8) or (phases in (1, 2, 4) and not earthed):
            raise InvalidInputError(f"phases {phases} with earthed={earthed} is not a fault kind")
        start = self._walk(np.stack([during, prefault]))  # (n, 2 sets, 2 [V, I], 3)
        section, fraction = self._roots(start, phases, earthed)
        voltage, current = self._fault_point(section, start[section], fraction)
        resistance = _resistance(voltage, current, phases, earthed)
        mismatch, observed = self._score(section, fraction, current, measured, meter_prefault)
        return section, fraction, resistance, current, mismatch, observed

    def _walk(self, head: NDArray[np.complex128]) -> NDArray[np.complex128]:
        """Voltage at the sending bus and current into every section, shape (n, 2, 2, 3)."""
        start = np.empty((self.sections, *head.shape), dtype=np.complex128)
        start[0] = head
        for k in range(1, self.sections):
            v, i = _along(
                self.series[self.parent[k]], self.half_shunt[self.parent[k]], start[self.parent[k]]
            )
            start[k, :, 0] = v
            start[k, :, 1] = i - self.side[k] * v
        return start

    def _fault_point(
        self,
        sections: NDArray[np.int64],
        start: NDArray[np.complex128],
        x: NDArray[np.float64],
    ) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
        """Sequence voltage at fraction `x` of `sections` and the fault current there.

        `start` (k, 2, 2, 3) holds each point's section start for both phasor sets. The
        fault current is what arrives at the point minus what the rest of the feeder beyond
        it draws, during the fault minus before it. Returns two arrays of shape (k, 3).
        """
        xs = x[:, None, None]
        series = self.series[sections][:, None, :]
        shunt = self.half_shunt[sections][:, None, :]
        v, arriving = _along(series * xs, shunt * xs, start)
        rest_series = series * (1 - xs)
        rest_shunt = shunt * (1 - xs)
        terminal = rest_shunt + self.end[sections][:, None, :]
        beyond = rest_shunt + terminal / (1 + rest_series * terminal)
        fault_current = arriving - beyond * v
        return v[:, 0], fault_current[:, 0] - fault_current[:, 1]

    def _residual(
        self,
        sections: NDArray[np.int64],
        start: NDArray[np.complex128],
        x: NDArray[np.float64],
        phases: int,
        earthed: bool,
    ) -> NDArray[np.float64]:
        voltage, current = self._fault_point(sections, start, x)
        v_loop, i_loop, _ = _loop(voltage, current, phases, earthed)
        return (v_loop * np.conj(i_loop)).imag

    def _roots(
        self, start: NDArray[np.complex128], phases: int, earthed: bool
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Sections and fractions where the residual changes sign, bisected.

        Zero counts as positive, so a root on a grid point is bracketed by the interval
        that ends there from the negative side.
        """
        n, samples = self.sections, self.samples
        grid = np.arange(samples + 1) / samples
        every = np.repeat(np.arange(n), samples + 1)
        values = self._residual(every, start[every], np.tile(grid, n), phases, earthed)
        positive = (values >= 0).reshape(n, samples + 1)
        section, interval = np.nonzero(positive[:, :-1] != positive[:, 1:])
        low, high = grid[interval], grid[interval + 1]
        low_positive = positive[section, interval]
        first = start[section]
        for _ in range(self.iterations):
            middle = 0.5 * (low + high)
            same = (self._residual(section, first, middle, phases, earthed) >= 0) == low_positive
            low = np.where(same, middle, low)
            high = np.where(same, high, middle)
        return section.astype(np.int64), 0.5 * (low + high)

    def _score(
        self,
        section: NDArray[np.int64],
        fraction: NDArray[np.float64],
        current: NDArray[np.complex128],
        measured: NDArray[np.float64],
        meter_prefault: NDArray[np.complex128],
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        near = self.transfer[:, :, self.from_end[section]]  # (3, m, k)
        far_index = self.to_end[section]
        far = self.transfer[:, :, np.maximum(far_index, 0)]
        x = np.where(far_index >= 0, fraction, 0.0)
        z = (1 - x) * near + x * far  # (3, m, k)
        sequence = -z * current.T[:, None, :]
        sequence[1] += meter_prefault[:, None]
        magnitude = np.abs(np.einsum("ps,smk->kmp", _TO_PHASE, sequence))  # (k, m, 3)
        seen = ~np.isnan(measured)
        difference = np.where(seen, magnitude - np.where(seen, measured, 0.0), 0.0)
        count = np.full(section.shape[0], int(seen.sum()), dtype=np.int64)
        return (difference**2).sum(axis=(1, 2)), count


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


def _resistance(
    voltage: NDArray[np.complex128], current: NDArray[np.complex128], phases: int, earthed: bool
) -> NDArray[np.float64]:
    v_loop, i_loop, factor = _loop(voltage, current, phases, earthed)
    with np.errstate(divide="ignore", invalid="ignore"):
        return factor * (v_loop / i_loop).real


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
