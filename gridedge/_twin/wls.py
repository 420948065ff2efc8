"""Numpy/scipy twin of :mod:`gridedge._native.wls`: the same estimator with sparse matrices.

The measurement functions and their Jacobian are built as scipy sparse matrices, the gain
matrix as ``H^T W H`` and factorised by SuperLU in symmetric mode (diagonal pivots, a
fill-reducing order), after a symmetric scaling to unit diagonal so that a pivot is compared
with its own diagonal as the compiled kernel does. Its solves are refined once against the
unfactored gain (the compiled kernel corrects each island's voltage level instead; both reach
the same estimate), and its covariances are deflated along each island's voltage level as the
kernel's are. Singular gain matrices are analysed with a dense eigen-decomposition: this twin
is the reference and the baseline, not the fast path.
"""

import math

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import connected_components

from gridedge.errors import ConvergenceError, InvalidInputError

I_ANGLE = 7
"""Largest kind code (the codes are those of the compiled kernel)."""
CONVERGED, UNOBSERVABLE, NOT_CONVERGED, DIVERGED, SINGULAR, BAD_COVARIANCE = range(6)

Report = tuple[int, int, float, int, float]

NULL_COMPONENT = 1e-6
"""A state is unobservable when a null vector of the gain has a component along it above
this fraction of the vector's largest (round-off leaves ~1e-8 elsewhere)."""

REFINEMENTS = 1
"""Steps of iterative refinement of each Gauss-Newton solve (the gain is badly conditioned)."""


def _ints(values: ArrayLike, name: str, size: int | None = None) -> NDArray[np.int64]:
    array = np.ascontiguousarray(values, dtype=np.int64)
    if array.ndim != 1 or (size is not None and array.shape[0] != size):
        expected = "" if size is None else f" of length {size}"
        raise InvalidInputError(f"{name} must be one-dimensional{expected}, got {array.shape}")
    return array


_BASE = (0, 0, 1, 1, 2, 2, 3, 3)
"""Per kind: the complex quantity it is taken from (node voltage, node injection, power into a
branch end, current into a branch end)."""

_OPERATION = ("abs", "arg", "real", "imag", "real", "imag", "abs", "arg")
"""Per kind: how the real measured value follows from that complex quantity."""


def _selector(
    rows: NDArray[np.intp], columns: NDArray[np.intp], shape: tuple[int, int]
) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(rows.size), (rows, columns)), shape=shape)


class _Quantities:
    """Sparse pieces that evaluate one list of quantities and their Jacobian.

    Every quantity is the magnitude, angle, real or imaginary part of a complex quantity C
    (a node voltage, the power injected at a node, the power or current into a branch end);
    with dC/dx known, ``d|C| = Re(conj(C) dC) / |C|`` and ``d arg C = Im(conj(C) dC) / |C|^2``.
    """

    def __init__(
        self,
        solver: "Solver",
        kind: ArrayLike,
        node: ArrayLike,
        branch: ArrayLike,
        end: ArrayLike,
    ) -> None:
        self.kind = _ints(kind, "kind")
        m = self.kind.shape[0]
        self.node = _ints(node, "node", m)
        self.branch = _ints(branch, "branch", m)
        self.end = _ints(end, "end", m)
        n = solver.n_node
        if np.any((self.kind < 0) | (self.kind > I_ANGLE)):
            raise InvalidInputError(f"kind holds unknown kinds {np.unique(self.kind).tolist()}")
        if np.any((self.node < 0) | (self.node >= n)):
            raise InvalidInputError("node holds a node out of range")
        base = np.array(_BASE)[self.kind]
        rows = np.flatnonzero(base >= 2)
        b, e = self.branch[rows], self.end[rows]
        if np.any((b < 0) | (b >= solver.from_node.shape[0]) | ((e != 0) & (e != 1))):
            raise InvalidInputError("branch or end out of range")
        own = np.where(e == 0, solver.from_node[b], solver.to_node[b])
        if np.any(own != self.node[rows]):
            raise InvalidInputError("node is not the measured end of the branch")
        other = np.where(e == 0, solver.to_node[b], solver.from_node[b])
        y_own = np.where(e == 0, solver.two_port[b, 0], solver.two_port[b, 3])
        y_other = np.where(e == 0, solver.two_port[b, 1], solver.two_port[b, 2])
        k = rows.size
        closed = other >= 0
        # Current into each measured branch end: I = A V; the voltage there: C V.
        self.end_current = sp.csr_matrix(
            (
                np.concatenate([y_own, y_other[closed]]),
                (np.r_[np.arange(k), np.flatnonzero(closed)], np.r_[own, other[closed]]),
            ),
            shape=(k, n),
        )
        self.end_voltage = _selector(np.arange(k), own, (k, n))
        # Row selectors of the four complex quantities.
        on_node = [np.flatnonzero(base == i) for i in (0, 1)]
        self.pick_node = [_selector(r, self.node[r], (m, n)) for r in on_node]
        self.pick_end = [
            _selector(r, np.searchsorted(rows, r), (m, k))
            for r in (np.flatnonzero(base == i) for i in (2, 3))
        ]
        operation = np.array(_OPERATION)[self.kind]
        self.real = np.isin(operation, ("real", "imag"))
        self.imaginary_part = operation == "imag"
        self.angle = operation == "arg"
        self.current = base == 3

    def evaluate(
        self, solver: "Solver", v: NDArray[np.complex128], min_current: float
    ) -> tuple[NDArray[np.float64], sp.csr_matrix, NDArray[np.bool_]]:
        """h(x), the Jacobian over the state, and the usable rows (defined slope)."""
        y = solver.admittance
        dv = [sp.diags(1j * v), sp.diags(v / np.abs(v))]  # dV/d(angle), dV/d(magnitude)
        current = y @ v
        end_current = self.end_current @ v
        end_voltage = self.end_voltage @ v
        value = (
            self.pick_node[0] @ v
            + self.pick_node[1] @ (v * np.conj(current))
            + self.pick_end[0] @ (end_voltage * np.conj(end_current))
            + self.pick_end[1] @ end_current
        )
        slopes = []
        for d in dv:
            # dS/dx = diag(conj(I)) dV/dx + diag(V) conj(Y dV/dx), at nodes and branch ends.
            d_injection = sp.diags(np.conj(current)) @ d + sp.diags(v) @ np.conj(y @ d)
            d_current = self.end_current @ d
            d_power = sp.diags(np.conj(end_current)) @ (self.end_voltage @ d) + sp.diags(
                end_voltage
            ) @ np.conj(d_current)
            slopes.append(
                self.pick_node[0] @ d
                + self.pick_node[1] @ d_injection
                + self.pick_end[0] @ d_power
                + self.pick_end[1] @ d_current
            )
        magnitude = np.abs(value)
        usable = ~(self.current & ~(magnitude >= min_current))
        safe = np.where(magnitude > 0, magnitude, 1.0)
        # h = Re(C), Im(C) = Re(-j C), |C| or arg C; dh = Re(a dC) + Im(b dC).
        a = np.where(self.real, np.where(self.imaginary_part, -1j, 1.0), 0.0)
        a = np.where(~self.real & ~self.angle, np.conj(value) / safe, a)
        b = np.where(self.angle, np.conj(value) / safe**2, 0.0)
        a, b = np.where(usable, a, 0.0), np.where(usable, b, 0.0)
        h = np.where(self.real, (a * value).real, np.where(self.angle, np.angle(value), magnitude))
        jacobian = sp.hstack(
            [(sp.diags(a) @ d).real + (sp.diags(b) @ d).imag for d in slopes]
        ).tocsr()
        return h, jacobian[:, solver.state_columns].tocsr(), usable


class Solver:
    """Weighted-least-squares estimator with the API of :class:`gridedge._native.wls.Solver`."""

    def __init__(
        self,
        n_node: int,
        y_ptr: ArrayLike,
        y_idx: ArrayLike,
        y_val: ArrayLike,
        from_node: ArrayLike,
        to_node: ArrayLike,
        two_port: ArrayLike,
        fixed_angle: ArrayLike,
        kind: ArrayLike,
        node: ArrayLike,
        branch: ArrayLike,
        end: ArrayLike,
        group_ptr: ArrayLike,
    ) -> None:
        if n_node <= 0:
            raise InvalidInputError("n_node must be positive")
        self.n_node = int(n_node)
        indptr = _ints(y_ptr, "y_ptr", self.n_node + 1)
        self.admittance = sp.csr_matrix(
            (np.asarray(y_val, dtype=np.complex128), _ints(y_idx, "y_idx"), indptr),
            shape=(self.n_node, self.n_node),
        )
        self.from_node = _ints(from_node, "from_node")
        self.to_node = _ints(to_node, "to_node", self.from_node.shape[0])
        self.two_port = np.asarray(two_port, dtype=np.complex128).reshape(-1, 4)
        fixed = _ints(fixed_angle, "fixed_angle", self.n_node).astype(bool)
        # Columns of the state among (angle of every node, magnitude of every node).
        self.state_columns = np.concatenate(
            [np.flatnonzero(~fixed), self.n_node + np.arange(self.n_node)]
        )
        self.state_node = self.state_columns % self.n_node
        self.state_is_magnitude = self.state_columns >= self.n_node
        # Voltage level of each island: the magnitudes of its nodes together.
        _, island = connected_components(abs(self.admittance), directed=False)
        magnitude = np.flatnonzero(self.state_is_magnitude)
        self._levels = sp.csr_matrix(
            (np.ones(magnitude.size), (magnitude, island[self.state_node[magnitude]])),
            shape=(self.state_columns.size, int(island.max()) + 1),
        )
        self._deflation: tuple[NDArray, NDArray, NDArray] | None = None
        self._factored_jacobian: sp.csr_matrix | None = None
        self._measured = _Quantities(self, kind, node, branch, end)
        groups = _ints(group_ptr, "group_ptr")
        m = self.n_measurement
        if groups.size == 0 or groups[0] != 0 or groups[-1] != m or np.any(np.diff(groups) <= 0):
            raise InvalidInputError("group_ptr must run from 0 to the number of measurements")
        self._groups = groups
        sizes = np.diff(groups)
        self.weight_size = int(np.sum(sizes**2))
        rows, cols = [], []
        for first, size in zip(groups[:-1].tolist(), sizes.tolist(), strict=True):
            block = np.arange(first, first + size)
            rows.append(np.repeat(block, size))
            cols.append(np.tile(block, size))
        self._weight_rows = np.concatenate(rows) if rows else np.zeros(0, int)
        self._weight_cols = np.concatenate(cols) if cols else np.zeros(0, int)
        self.vm = np.ones(self.n_node)
        self.va = np.zeros(self.n_node)
        self._h = np.zeros(m)
        self._gain: sp.csc_matrix | None = None
        self._factor: tuple[spla.SuperLU, NDArray[np.float64]] | None = None
        self._settings: dict[str, float] = {}

    @property
    def n_state(self) -> int:
        return int(self.state_columns.shape[0])

    @property
    def n_measurement(self) -> int:
        return int(self._measured.kind.shape[0])

    @property
    def factor_nonzeros(self) -> int:
        if self._factor is None:
            return 0
        lu = self._factor[0]
        return int(lu.L.nnz - self.n_state)

    @property
    def memory_bytes(self) -> int:
        return int(self.admittance.data.nbytes + self.two_port.nbytes)

    def solve(
        self,
        values: ArrayLike,
        covariance: ArrayLike,
        active: ArrayLike,
        vm: ArrayLike,
        va: ArrayLike,
        tolerance: float,
        tolerance_sd: float,
        max_iterations: int,
        pivot_tolerance: float,
        min_current: float,
        max_magnitude: float,
        check_observability: bool = True,
    ) -> Report:
        m = self.n_measurement
        z = np.asarray(values, dtype=np.float64)
        c = np.asarray(covariance, dtype=np.float64)
        used = np.asarray(active, dtype=bool)
        if z.shape != (m,) or c.shape != (self.weight_size,) or used.shape != (m,):
            raise InvalidInputError(
                f"values and active must have shape ({m},) and covariance ({self.weight_size},)"
            )
        if not tolerance > 0 or max_iterations <= 0:
            raise InvalidInputError("tolerance and max_iterations must be positive")
        weights, bad = self._weigh(c, used)
        if bad >= 0:
            return BAD_COVARIANCE, 0, 0.0, bad, 0.0
        self.vm = np.array(vm, dtype=np.float64)
        self.va = np.array(va, dtype=np.float64)
        self._z = z
        self._weights = weights
        self._settings = {"pivot_tolerance": pivot_tolerance, "min_current": min_current}
        self._factor = None
        return self._iterate(
            tolerance, tolerance_sd, max_iterations, max_magnitude, check_observability
        )

    def _iterate(
        self,
        tolerance: float,
        tolerance_sd: float,
        max_iterations: int,
        max_magnitude: float,
        check_observability: bool,
    ) -> Report:
        """Gauss-Newton from the state in ``vm``, ``va`` with the weights set by solve()."""
        step, worst = 0.0, -1
        last_step = last_step_sd = 1.0
        for iteration in range(max_iterations):
            jacobian, residual = self._linearise()
            if (
                iteration == 0
                and check_observability
                and not self._factorise(self._unit_rows(jacobian), observability=True)
            ):
                return UNOBSERVABLE, 0, step, -1, 0.0
            if not self._factorise(jacobian.T @ self._weights @ jacobian, observability=False):
                return SINGULAR, iteration, step, -1, 0.0
            self._factored_jacobian = jacobian
            self._deflation = None
            rhs = jacobian.T @ (self._weights @ residual)
            dx = self._solve(rhs)
            for _ in range(REFINEMENTS):
                dx += self._solve(rhs - self._gain @ dx)
            step_sd = math.sqrt(max(float(rhs @ dx), 0.0))
            finite = np.isfinite(dx)
            worst = int(np.argmax(~finite)) if not finite.all() else int(np.argmax(np.abs(dx)))
            step = float(np.max(np.abs(dx))) if finite.all() else float("nan")
            # The last iterate's factor serves the covariances, as in the compiled kernel.
            self._apply(dx)
            node = int(self.state_node[worst])
            if not finite.all():
                return DIVERGED, iteration + 1, step, node, 0.0
            bad = np.flatnonzero(~((self.vm > 0) & (self.vm < max_magnitude)))
            if bad.size:
                return DIVERGED, iteration + 1, step, int(bad[0]), 0.0
            # Once contracting, the distance to go is about rho / (1 - rho) times the step.
            rho, rho_sd = (step / last_step, step_sd / last_step_sd) if iteration else (1.0, 1.0)
            to_go = step * rho / (1 - rho) if rho < 0.5 else step
            to_go_sd = step_sd * rho_sd / (1 - rho_sd) if rho_sd < 0.5 else step_sd
            last_step, last_step_sd = step, step_sd
            if min(step, to_go) <= tolerance or min(step_sd, to_go_sd) <= tolerance_sd:
                _, residual = self._linearise()
                objective = float(residual @ (self._weights @ residual))
                return CONVERGED, iteration + 1, step, node, objective
        return NOT_CONVERGED, max_iterations, step, int(self.state_node[worst]), 0.0

    def _weigh(
        self, covariance: NDArray[np.float64], active: NDArray[np.bool_]
    ) -> tuple[sp.csr_matrix | None, int]:
        """Weight matrix: each group's covariance block inverted over its members in use.

        Returns the weights and -1, or None and the first group whose block (over its members
        in use) is not finite and positive definite.
        """
        m = self.n_measurement
        first, sizes = self._groups[:-1], np.diff(self._groups)
        offsets = np.concatenate([[0], np.cumsum(sizes**2)[:-1]])
        weights = np.zeros(self.weight_size)
        single = sizes == 1
        variance = covariance[offsets[single]]
        used = active[first[single]]
        bad = used & ~((variance > 0) & np.isfinite(variance))
        weights[offsets[single]] = np.where(used, 1.0 / np.where(used, variance, 1.0), 0.0)
        problems = list(np.flatnonzero(single)[bad][:1])
        for g in np.flatnonzero(~single).tolist():
            size, offset = int(sizes[g]), int(offsets[g])
            block = covariance[offset : offset + size * size].reshape(size, size)
            members = np.flatnonzero(active[first[g] : first[g] + size])
            if members.size == 0:
                continue
            sub = block[np.ix_(members, members)]
            try:
                if not np.all(np.isfinite(sub)):
                    raise la.LinAlgError("not finite")
                factor = la.cho_factor(sub, lower=True)
            except la.LinAlgError:
                problems.append(g)
                break
            inverse = np.zeros((size, size))
            inverse[np.ix_(members, members)] = la.cho_solve(factor, np.eye(members.size))
            weights[offset : offset + size * size] = inverse.ravel()
        if problems:
            return None, int(min(problems))
        matrix = sp.csr_matrix((weights, (self._weight_rows, self._weight_cols)), shape=(m, m))
        return matrix, -1

    def estimates(self) -> NDArray[np.float64]:
        return self._h.copy()

    def unobservable_nodes(self) -> NDArray[np.int64]:
        if self._gain is None:
            return np.zeros(0, dtype=np.int64)
        scale = self._scale(self._gain)
        dense = (sp.diags(scale) @ self._gain @ sp.diags(scale)).toarray()
        eigenvalues, vectors = la.eigh(dense)
        null = vectors[:, eigenvalues <= self._settings["pivot_tolerance"]]
        if null.size == 0:
            return np.zeros(0, dtype=np.int64)
        largest = np.max(np.abs(null), axis=0)
        flagged = np.any(np.abs(null) > NULL_COMPONENT * largest, axis=1)
        return np.unique(self.state_node[flagged]).astype(np.int64)

    def measurement_variance(self) -> NDArray[np.float64]:
        return self._variances(self._at_estimate())

    def state_variance(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        self._at_estimate()
        diagonal = self._variances(sp.identity(self.n_state, format="csr"))
        angle = np.zeros(self.n_node)
        magnitude = np.zeros(self.n_node)
        angle[self.state_node[~self.state_is_magnitude]] = diagonal[~self.state_is_magnitude]
        magnitude[self.state_node[self.state_is_magnitude]] = diagonal[self.state_is_magnitude]
        return angle, magnitude

    def derived(
        self, kind: ArrayLike, node: ArrayLike, branch: ArrayLike, end: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        quantities = _Quantities(self, kind, node, branch, end)
        self._at_estimate()
        v = self.vm * np.exp(1j * self.va)
        values, jacobian, _ = quantities.evaluate(self, v, self._settings["min_current"])
        if jacobian.shape[0] == 0:
            return values, np.zeros((0, 0))
        covariance = np.asarray(jacobian @ self._solve(jacobian.T.toarray()))
        level, along, scale, gy = self._level_terms(jacobian)
        c = level / scale
        covariance += -c @ along.T - along @ c.T + (c * gy) @ c.T + (level / scale) @ level.T
        return values, covariance

    # --- internals ----------------------------------------------------------------------

    def _linearise(self) -> tuple[sp.csr_matrix, NDArray[np.float64]]:
        v = self.vm * np.exp(1j * self.va)
        h, jacobian, usable = self._measured.evaluate(self, v, self._settings["min_current"])
        self._h = h
        residual = self._z - h
        angle = self._measured.angle
        residual[angle] = np.remainder(residual[angle] + np.pi, 2 * np.pi) - np.pi
        keep = sp.diags(usable.astype(float))
        return (keep @ jacobian).tocsr(), np.where(usable, residual, 0.0)

    @staticmethod
    def _scale(gain: sp.spmatrix) -> NDArray[np.float64]:
        diagonal = gain.diagonal()
        return np.where(diagonal > 0, 1 / np.sqrt(np.where(diagonal > 0, diagonal, 1.0)), 1.0)

    def _unit_rows(self, jacobian: sp.csr_matrix) -> sp.csc_matrix:
        """Gain of the observability test: rows in use (own weight > 0) scaled to unit norm."""
        norm = np.sqrt(np.asarray(jacobian.multiply(jacobian).sum(axis=1)).ravel())
        in_use = (self._weights.diagonal() > 0) & (norm > 0)
        scale = np.where(in_use, 1 / np.where(norm > 0, norm, 1.0), 0.0)
        rows = sp.diags(scale) @ jacobian
        return (rows.T @ rows).tocsc()

    def _factorise(self, gain: sp.spmatrix, *, observability: bool) -> bool:
        """Factorise `gain`; False on a zero pivot (relative for the observability test)."""
        gain = sp.csc_matrix(gain)
        self._gain = gain
        scale = self._scale(gain)
        scaled = (sp.diags(scale) @ gain @ sp.diags(scale)).tocsc()
        try:
            lu = spla.splu(
                scaled,
                permc_spec="MMD_AT_PLUS_A",
                diag_pivot_thresh=0.0,
                options={"SymmetricMode": True},
            )
        except RuntimeError:
            return False
        pivots = lu.U.diagonal()
        original = scaled.diagonal()[np.argsort(lu.perm_c)]
        tolerance = self._settings["pivot_tolerance"] if observability else 0.0
        if np.any(~(pivots > tolerance * original)) or np.any(original <= 0):
            return False
        self._factor = (lu, scale)
        return True

    def _solve(self, rhs: NDArray[np.float64]) -> NDArray[np.float64]:
        if self._factor is None:
            raise ConvergenceError("the gain matrix is singular at the estimate")
        lu, scale = self._factor
        column = scale if rhs.ndim == 1 else scale[:, None]
        return column * lu.solve(column * rhs)

    def _apply(self, dx: NDArray[np.float64]) -> None:
        angle = ~self.state_is_magnitude
        self.va[self.state_node[angle]] += dx[angle]
        self.vm[self.state_node[~angle]] += dx[~angle]

    def _at_estimate(self) -> sp.csr_matrix:
        jacobian, _ = self._linearise()
        if self._factor is None:
            if not self._factorise(jacobian.T @ self._weights @ jacobian, observability=False):
                raise ConvergenceError("the gain matrix is singular at the estimate")
            self._factored_jacobian = jacobian
            self._deflation = None
        return jacobian

    def _variances(self, rows: sp.csr_matrix) -> NDArray[np.float64]:
        """diag(rows G^-1 rows^T), solved in blocks of columns, with the level deflation."""
        out = np.zeros(rows.shape[0])
        block = 256
        for start in range(0, rows.shape[0], block):
            stop = min(start + block, rows.shape[0])
            solved = self._solve(rows[start:stop].T.toarray())
            out[start:stop] = np.asarray(rows[start:stop].multiply(solved.T).sum(axis=1)).ravel()
        level, along, scale, gy = self._level_terms(rows)
        c = level / scale
        return out + np.sum(-2 * c * along + c * c * gy + level * c, axis=1)

    def _level_terms(
        self, rows: sp.csr_matrix
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Per row and island: u^T h and y^T h; per island s = u^T G u and g^T y.

        G^-1 = P G^-1 P^T + sum u u^T / s with u an island's voltage level, g = G u,
        P = I - sum u g^T / s (see the compiled kernel): the factor only enters through
        P G^-1 P^T, free of its error along u; s and g come from the rows.
        """
        if self._deflation is None:
            jacobian, weights = self._factored_jacobian, self._weights
            level_rows = jacobian @ self._levels
            weighted = weights @ level_rows
            scale = np.asarray(level_rows.multiply(weighted).sum(axis=0)).ravel()
            g = (jacobian.T @ weighted).toarray()
            y = self._solve(g)
            self._deflation = (np.where(scale > 0, scale, np.inf), y, np.sum(g * y, axis=0))
        scale, y, gy = self._deflation
        level = (rows @ self._levels).toarray()
        return level, np.asarray(rows @ y), scale[None, :], gy[None, :]
