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
3. scores the point with a weighted sum of squares (a chi-square when the standard deviations
   are right) of three kinds of residual:

   - the reactance of the fault loop, ``Im(V_loop / I_loop)``, zero at a resistive fault;
   - the head's measured voltage change, fault minus pre-fault, against the model's
     ``-Z_h,f I_f`` (source impedance included);
   - the phase-voltage magnitudes the other meters measured against
     ``|V_i,pre - Z_i,f I_f|`` (transfer impedances of the grid's sequence Z-bus; a point
     inside a section takes those of the section's ends, weighted so that the section's
     charging moves to where its two pi sections put it: :meth:`FeederKernel.interior`);

   with complex nuisance parameters fitted at every point: the relative error s of the fault
   current (the head's current noise, prior from its standard error; one per faulted phase
   for a two-phase fault with earth, whose two currents are measured apart), and the relative
   errors e0 and e1 of the impedance behind the head (the source) in the zero sequence and in
   the others (prior ``1 / source_weight``), which scale the part ``ratio_i Z_h,f I_f`` of
   every predicted sag that the head's own sag carries. All enter linearly. The loop
   reactance moves with them as the head's noise moves it: its residual takes out the fault
   set's share of the head's voltage error through the head's change, follows s through
   the mix of loop impedances that the fault and pre-fault currents' errors move it by
   (``-Im(Z s)``), and takes what the nuisances cannot carry as variance beside the model's
   own error (``reactance_weight``). Minimising over the nuisances is a 6 x 6 (8 x 8)
   weighted least-squares solve per point;
4. minimises the score on every section: on a uniform grid of `samples` + 1 points, then by
   golden-section search around every grid minimum and every sign change of the reactance;
   the score's curvature at each minimum gives the fraction's standard deviation.

Both backends evaluate the same formulas in the same order.
"""

from dataclasses import dataclass

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
_CURVATURE_STEP = 1e-3
"""Step (fraction of a section) of the second difference that gives the score's curvature."""


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
    end_impedance : ndarray of complex128, shape (n, 3, 4)
        Bus impedances between each section's sending bus p and far bus q, per sequence:
        ``Z_pp, Z_pq, Z_qp, Z_qq``, p.u. (unused where the far end is open).
    transfer : ndarray of complex128, shape (3, m, e)
        Transfer impedance from each section end bus (e) to each scoring meter's bus (m), per
        sequence, p.u.
    head_transfer : ndarray of complex128, shape (3, e)
        Transfer impedance from each section end bus to the head meter's bus, per sequence,
        p.u.
    head_ratio : ndarray of complex128, shape (3, m)
        Voltage change at each scoring meter's bus per unit change at the head meter's bus
        (``Z_i,h / Z_h,h``), per sequence.
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
        end_impedance: NDArray[np.complex128],
        transfer: NDArray[np.complex128],
        head_transfer: NDArray[np.complex128],
        head_ratio: NDArray[np.complex128],
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
        _check_shape("end_impedance", end_impedance, np.complex128, (n, 3, 4))
        if transfer.dtype != np.complex128 or transfer.ndim != 3 or transfer.shape[0] != 3:
            raise InvalidInputError(
                f"transfer must be complex128 of shape (3, m, e), got {transfer.dtype} "
                f"{transfer.shape}"
            )
        n_ends = transfer.shape[2]
        _check_shape("head_transfer", head_transfer, np.complex128, (3, n_ends))
        _check_shape("head_ratio", head_ratio, np.complex128, (3, transfer.shape[1]))
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
        self.end_impedance = end_impedance
        self.transfer = transfer
        self.head_transfer = head_transfer
        self.head_ratio = head_ratio
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

    def interior(
        self, sections: NDArray[np.int64], x: NDArray[np.float64]
    ) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
        """Weights (3, k) of the near and far end buses' transfer impedances for each point.

        Splitting a section at fraction x into two pi sections moves its charging from the
        ends (B/2 each) to B x/2, B (1 - x)/2 and B/2 at the point: a rank-three update of the
        impedances among the ends and the point (Woodbury), the same two weights for every
        bus. Points of an open-ended section take the near bus's: (1, 0).
        """
        z = np.moveaxis(self.end_impedance[sections], 1, 0)  # (3, k, 4)
        pp, pq, qp, qq = (z[..., i] for i in range(4))
        series, half = self.series[sections].T, self.half_shunt[sections].T  # (3, k)
        pf, qf = (1 - x) * pp + x * pq, (1 - x) * qp + x * qq
        fp, fq = (1 - x) * pp + x * qp, (1 - x) * pq + x * qq
        ff = (1 - x) * fp + x * fq + x * (1 - x) * series
        block = np.stack(
            [np.stack([pp, pq, pf], -1), np.stack([qp, qq, qf], -1), np.stack([fp, fq, ff], -1)],
            axis=-2,
        )  # (3, k, 3, 3)
        delta = np.stack([-(1 - x) * half, -x * half, half], axis=-1)  # (3, k, 3)
        closed = self.to_end[sections] >= 0
        system = np.eye(3) + delta[..., :, None] * block
        system[:, ~closed] = np.eye(3)  # open ends: y = 0 below, weights (1 - x, x) unused
        y = np.linalg.solve(system, (delta * block[..., :, 2])[..., None])[..., 0]
        a = np.where(closed, (1 - y[..., 2]) * (1 - x) - y[..., 0], 1.0)
        b = np.where(closed, (1 - y[..., 2]) * x - y[..., 1], 0.0)
        return a, b

    def locate(
        self,
        during: NDArray[np.complex128],
        prefault: NDArray[np.complex128],
        phases: int,
        earthed: bool,
        measured: NDArray[np.float64],
        weight: NDArray[np.float64],
        meter_prefault: NDArray[np.complex128],
        head_weight: NDArray[np.float64],
        current_weight: NDArray[np.float64],
        current_share: NDArray[np.float64],
        voltage_variance: float,
        voltage_share: float,
        source_weight: float,
        reactance_weight: float,
    ) -> tuple[
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.complex128],
        NDArray[np.float64],
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
        head_weight : ndarray of float64, shape (3,)
            Weight of the real and of the imaginary part of the head's voltage change in
            phases a, b, c (two over the variance of its complex error), p.u.^-2; > 0.
        current_weight : ndarray of float64, shape (2,)
            Weight of each part of the fault current's relative errors (two over their
            variance); > 0: the loop current's first (the second is unused), or, for a
            two-phase fault with earth, the two faulted phases' currents in phase order.
        current_share : ndarray of float64, shape (2,)
            Share of each part's error variance that comes from the pre-fault current, in
            [0, 1]. The fault current's error moves the loop reactance at the fault through
            the whole loop seen from the head, the pre-fault current's through the fault
            alone: the reactance row follows the expected mix and takes the rest as variance.
        voltage_variance : float
            Variance of the error of the loop's voltage change at the head (fault and
            pre-fault voltages together), p.u.^2; >= 0.
        voltage_share : float
            Share of `voltage_variance` that comes from the pre-fault voltages, in [0, 1]:
            the loop reactance carries the fault voltages' error, the head's change both.
        source_weight : float
            Weight of each part of the relative errors of the impedance behind the head, in
            the zero sequence and in the others; > 0.
        reactance_weight : float
            Weight of the loop reactance beyond what s and the head's voltage explain (one
            over the variance of the model's error), p.u.^-2; > 0.

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
            The score: weighted squares of the residuals, minimised over the nuisances,
            priors included.
        reactance : ndarray of float64, shape (k,)
            Loop reactance, p.u.
        mismatch : ndarray of float64, shape (k,)
            Unweighted sum of squares of the magnitude differences at the fitted
            nuisances, p.u.^2.
        spread : ndarray of float64, shape (k,)
            Standard deviation of the fraction: the score is a chi-square in it near its
            minimum, ``sqrt(2 / curvature)`` from a second difference kept inside the
            section; infinite where the score does not curve upwards.
        """
        _check_shape("during", during, np.complex128, (2, 3))
        _check_shape("prefault", prefault, np.complex128, (2, 3))
        _check_shape("measured", measured, np.float64, (self.meters, 3))
        _check_shape("weight", weight, np.float64, (self.meters, 3))
        _check_shape("meter_prefault", meter_prefault, np.complex128, (self.meters,))
        _check_shape("head_weight", head_weight, np.float64, (3,))
        _check_shape("current_weight", current_weight, np.float64, (2,))
        _check_shape("current_share", current_share, np.float64, (2,))
        if phases not in range(1, 8) or (phases in (1, 2, 4) and not earthed):
            raise InvalidInputError(f"phases {phases} with earthed={earthed} is not a fault kind")
        for name, value in (
            ("head_weight", float(head_weight.min())),
            ("current_weight", float(current_weight.min())),
            ("source_weight", source_weight),
            ("reactance_weight", reactance_weight),
        ):
            if not (np.isfinite(value) and value > 0):
                raise InvalidInputError(f"{name} must be > 0, got {value!r}")
        if not (np.all(np.isfinite(head_weight)) and np.all(np.isfinite(current_weight))):
            raise InvalidInputError("head_weight and current_weight must be finite")
        if not (np.all((current_share >= 0) & (current_share <= 1)) and 0 <= voltage_share <= 1):
            raise InvalidInputError("current_share and voltage_share must lie in [0, 1]")
        if not (np.isfinite(voltage_variance) and voltage_variance >= 0):
            raise InvalidInputError(f"voltage_variance must be >= 0, got {voltage_variance!r}")
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
            (during[0] - prefault[0]) @ _TO_PHASE.T,
            np.array([head_weight, head_weight]).T.reshape(6),
            np.repeat(
                [*current_weight[: _part_count(phases, earthed)], source_weight, source_weight], 2
            ),
            _Shares(current_share, voltage_variance, voltage_share),
            reactance_weight,
        )
        section, fraction = self._minima(problem)
        centre = np.clip(fraction, _CURVATURE_STEP, 1 - _CURVATURE_STEP)
        around = [
            problem.evaluate(section, centre + step * _CURVATURE_STEP)[0] for step in (-1, 0, 1)
        ]
        curvature = (around[0] - 2 * around[1] + around[2]) / _CURVATURE_STEP**2
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.where(curvature > 0, np.sqrt(2 / curvature), np.inf)
        return (section, fraction, *problem.evaluate(section, fraction, full=True), spread)

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


@dataclass(frozen=True)
class _Shares:
    """How the head's errors split between its fault and pre-fault sets (see ``locate``)."""

    current: NDArray[np.float64]
    voltage_variance: float
    voltage: float


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
        head_change: NDArray[np.complex128],
        head_weight: NDArray[np.float64],
        prior: NDArray[np.float64],
        shares: "_Shares",
        reactance_weight: float,
    ) -> None:
        self.kernel = kernel
        self.start = start
        self.phases = phases
        self.earthed = earthed
        self.seen = ~np.isnan(measured)
        self.measured = np.where(self.seen, measured, 0.0)
        self.weight = np.where(self.seen, weight, 0.0)
        self.meter_prefault = meter_prefault
        self.head_change = head_change  # phases a, b, c, p.u.
        self.head_weight = head_weight  # Re a, Im a, Re b, ...
        self.prior = prior
        self.shares = shares
        self.reactance_weight = reactance_weight
        # The head's loop: its apparent impedance, and the loop's share of each phase.
        voltage, current = start[0, 0]
        head_v, head_i, _ = _loop(
            voltage[None],
            _project(current[None] - start[0, 1, 1][None], phases, earthed),
            phases,
            earthed,
        )
        self.apparent = complex(head_v[0] / head_i[0])
        self.change_loop = complex(_loop_of(head_change @ _TO_SEQUENCE.T, phases))

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
            inverse = np.conj(i_loop) / (i_loop.real**2 + i_loop.imag**2)
        ratio = v_loop * inverse
        reactance = ratio.imag
        near, far_index = kernel.from_end[sections], kernel.to_end[sections]
        far = np.maximum(far_index, 0)
        a, b = kernel.interior(sections, x)  # (3, k) each
        z = a[:, None] * kernel.transfer[:, :, near] + b[:, None] * kernel.transfer[:, :, far]
        head_z = (a * kernel.head_transfer[:, near] + b * kernel.head_transfer[:, far]).T
        sag = np.einsum("ps,smk->kmp", _TO_PHASE, z * current.T[:, None, :])  # (k, m, 3)
        before = np.einsum("p,m->mp", _TO_PHASE[:, 1], self.meter_prefault)  # (m, 3)
        voltage_at = before - sag
        magnitude = np.maximum(np.sqrt(voltage_at.real**2 + voltage_at.imag**2), _TINY)
        modelled = -head_z * current  # the head's change, -Z_h,f I_f, sequences (k, 3)
        change = self.head_change[None] - modelled @ _TO_PHASE.T
        # Residuals, in row order: the loop reactance with the head's measured voltage noise
        # taken out; the head's change, Re and Im per phase; the meters' magnitudes.
        count = x.shape[0]
        meter_residual = np.where(self.seen, magnitude - self.measured, 0.0).reshape(
            count, self.seen.size
        )
        kept = 1.0 - self.shares.voltage
        parts = _parts(current, self.phases, self.earthed)
        residual = np.concatenate(
            [
                (
                    reactance
                    - (kept * (self.change_loop - _loop_of(modelled, self.phases)) * inverse).imag
                )[:, None],
                np.stack([change.real, change.imag], axis=-1).reshape(count, 6),
                meter_residual,
            ],
            axis=1,
        )
        weights = np.concatenate(
            [
                self._reactance_weight(parts, ratio, inverse)[:, None],
                np.broadcast_to(self.head_weight, (count, 6)),
                np.broadcast_to(self.weight.reshape(-1), meter_residual.shape),
            ],
            axis=1,
        )
        rows = self._rows(
            z, head_z, parts, modelled, np.conj(voltage_at) / magnitude, ratio, inverse
        )
        normal = np.einsum("kri,kr,krj->kij", rows, weights, rows) + np.diag(self.prior)
        gradient = np.einsum("kri,kr,kr->ki", rows, weights, residual)
        # Without fault current at a point its score is NaN, as in the compiled kernel.
        step = _solve(normal, gradient)
        cost = (weights * residual * residual).sum(axis=1) + (gradient * step).sum(axis=1)
        if not full:
            return cost, reactance
        fitted = meter_residual + np.einsum("kri,ki->kr", rows[:, 7:], step)
        mismatch = np.where(self.seen.reshape(-1), fitted, 0.0)
        return factor * ratio.real, current, cost, reactance, (mismatch * mismatch).sum(axis=1)

    def _reactance_weight(
        self,
        parts: list[NDArray[np.complex128]],
        ratio: NDArray[np.complex128],
        inverse: NDArray[np.complex128],
    ) -> NDArray[np.float64]:
        """Weight of the loop reactance row (k,): one over the variance the nuisances leave.

        The model's error; the part of the head's voltage error the head's change does not
        share; and the part of each current part's error that its nuisance does not carry
        (the fault and pre-fault currents move the reactance through the whole loop and
        through the fault alone: the nuisance follows their expected mix).
        """
        shares = self.shares
        scale = inverse.real**2 + inverse.imag**2
        variance = 1.0 / self.reactance_weight + (
            shares.voltage * (1 - shares.voltage) * shares.voltage_variance * scale / 2
        )
        for d, part in enumerate(parts):
            spread = (self.apparent - ratio) * _loop_of(part, self.phases) * inverse
            share = shares.current[d]
            variance = variance + (
                (spread.real**2 + spread.imag**2) * share * (1 - share) / self.prior[2 * d]
            )
        return 1.0 / variance

    def _rows(
        self,
        z: NDArray[np.complex128],
        head_z: NDArray[np.complex128],
        parts: list[NDArray[np.complex128]],
        modelled: NDArray[np.complex128],
        unit: NDArray[np.complex128],
        ratio: NDArray[np.complex128],
        inverse: NDArray[np.complex128],
    ) -> NDArray[np.float64]:
        """Slopes of every residual (k, 7 + 3m, 2 q) with respect to the q complex nuisances.

        Each nuisance nu moves the meters' voltages, the modelled head change and the loop
        reactance (by Im(K nu)); a magnitude moves by Re(conj(V) / |V| dV).
        """
        kept = 1.0 - self.shares.voltage
        effects = []
        for d, part in enumerate(parts):
            head_effect = -head_z * part
            meter_effect = -np.einsum("ps,smk->kmp", _TO_PHASE, z * part.T[:, None, :])
            through = self.apparent - self.shares.current[d] * (self.apparent - ratio)
            coefficient = (
                kept * _loop_of(head_effect, self.phases) - through * _loop_of(part, self.phases)
            ) * inverse
            effects.append((meter_effect, head_effect, coefficient))
        # The source's relative errors: one for the zero sequence, one for the others.
        for sequences in ([1, 0, 0], [0, 1, 1]):
            source = modelled * np.array(sequences)
            meter_effect = np.einsum("ps,sm,ks->kmp", _TO_PHASE, self.kernel.head_ratio, source)
            effects.append((meter_effect, source, kept * _loop_of(source, self.phases) * inverse))
        reactance_rows, head_rows, meter_rows = [], [], []
        for meter_effect, head_effect, coefficient in effects:
            reactance_rows += [coefficient.imag, coefficient.real]
            phase = head_effect @ _TO_PHASE.T
            head_rows += [
                np.stack([-phase.real, -phase.imag], axis=-1),
                np.stack([phase.imag, -phase.real], axis=-1),
            ]
            product = unit * meter_effect
            meter_rows += [product.real, -product.imag]
        count, columns = unit.shape[0], len(reactance_rows)
        seen = self.seen[None, :, :, None]
        return np.concatenate(
            [
                np.stack(reactance_rows, axis=-1)[:, None],
                np.stack(head_rows, axis=-1).reshape(count, 6, columns),
                np.where(seen, np.stack(meter_rows, axis=-1), 0.0).reshape(
                    count, self.seen.size, columns
                ),
            ],
            axis=1,
        )

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


def _solve(normal: NDArray[np.float64], gradient: NDArray[np.float64]) -> NDArray[np.float64]:
    """Steps ``-normal^-1 gradient`` (k, q), by Cholesky as the compiled kernel does.

    Without fault current at a point its matrix is not finite or not positive definite, and
    the step - so the score - is NaN there, in both backends.
    """
    size = normal.shape[1]
    factor = np.zeros_like(normal)
    with np.errstate(invalid="ignore", divide="ignore"):
        for a in range(size):
            for b in range(a + 1):
                total = normal[:, a, b] - (factor[:, a, :b] * factor[:, b, :b]).sum(axis=1)
                factor[:, a, b] = np.sqrt(total) if a == b else total / factor[:, b, b]
        half = np.zeros_like(gradient)
        for a in range(size):
            half[:, a] = (-gradient[:, a] - (factor[:, a, :a] * half[:, :a]).sum(axis=1)) / factor[
                :, a, a
            ]
        step = np.zeros_like(gradient)
        for a in reversed(range(size)):
            step[:, a] = (
                half[:, a] - (factor[:, a + 1 :, a] * step[:, a + 1 :]).sum(axis=1)
            ) / factor[:, a, a]
    return step


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


def _part_count(phases: int, earthed: bool) -> int:
    """How many independent parts the fault current of a kind has (see :func:`_parts`)."""
    return 2 if bin(phases).count("1") == 2 and earthed else 1


def _parts(
    current: NDArray[np.complex128], phases: int, earthed: bool
) -> list[NDArray[np.complex128]]:
    """The fault current's independently measured parts, sequences (k, 3) each.

    A two-phase fault with earth draws two independent phase currents; every other kind one
    current (the loop's), which is the whole of `current` as :func:`_project` leaves it.
    """
    if _part_count(phases, earthed) == 1:
        return [current]
    phase = current @ _TO_PHASE.T
    parts = []
    for p in (p for p in range(3) if phases >> p & 1):
        alone = np.zeros_like(phase)
        alone[:, p] = phase[:, p]
        parts.append(alone @ _TO_SEQUENCE.T)
    return parts


def _loop(
    voltage: NDArray[np.complex128],
    current: NDArray[np.complex128],
    phases: int,
    earthed: bool,
) -> tuple[NDArray[np.complex128], NDArray[np.complex128], float]:
    """Loop voltage, loop current and the factor from loop resistance to fault resistance."""
    two_phase = bin(phases).count("1") == 2
    factor = 2.0 if two_phase and not earthed else 1.0
    return _loop_of(voltage, phases), _loop_of(current, phases), factor


def _loop_of(sequence: NDArray[np.complex128], phases: int) -> NDArray[np.complex128]:
    """The fault loop's combination of sequence quantities (..., 3).

    a-g: Xa; b-c and b-c-g: Xb - Xc; a-b-c: the positive sequence.
    """
    faulted = [p for p in range(3) if phases >> p & 1]
    if len(faulted) == 3:
        return sequence[..., 1]
    phase = sequence @ _TO_PHASE.T
    if len(faulted) == 1:
        return phase[..., faulted[0]]
    return phase[..., faulted[0]] - phase[..., faulted[1]]


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
