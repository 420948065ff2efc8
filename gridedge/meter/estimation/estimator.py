"""Weighted-least-squares state estimation: the prepared :class:`Estimator` and :func:`estimate`.

The structure (network, which quantities are measured, which errors are correlated, what to
derive) is fixed when an :class:`Estimator` is built: the kernel orders the state variables
to keep the factor of the gain matrix sparse and prepares every index once. Each call of
:meth:`Estimator.estimate` then takes new values (every minute, say), standard deviations and
the measurements present, and runs Gauss-Newton; leaving a measurement out keeps the
structure. Bad data: a chi-square test of ``J(x)`` with m - n degrees of freedom; when it
fails, the measurement with the largest normalised residual ``|r_i| / sqrt(Omega_ii)``,
``Omega = R - H G^-1 H^T``, is removed and the state estimated again.
"""

import functools
import logging
import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2

from gridedge import kernels
from gridedge.errors import ConvergenceError, InvalidInputError, UnobservableError
from gridedge.grid import Grid, Measurement
from gridedge.grid import network as nw
from gridedge.meter.estimation.quantities import (
    Encoded,
    Quantity,
    encode,
    zero_injection_buses,
)
from gridedge.meter.estimation.result import DerivedQuantities, EstimationResult
from gridedge.meter.estimation.settings import EstimationSettings

logger = logging.getLogger(__name__)

CONVERGED, UNOBSERVABLE, NOT_CONVERGED, DIVERGED, SINGULAR, BAD_COVARIANCE = range(6)
"""Status codes of the kernel's ``solve``."""

ZERO_INJECTION_PREFIX = "zero-injection:"
"""Ids of the virtual zero-injection measurements: ``zero-injection:<p|q>:<bus>``."""

Initial = Literal["flat", "previous"]

MAX_SUSPECTS = 16
"""Runners-up examined (and suspects reported) when identifying bad data."""


@functools.lru_cache(maxsize=256)
def _chi2_threshold(degrees: int, probability: float) -> float:
    return float(chi2.ppf(probability, degrees)) if degrees > 0 else math.nan


class Estimator:
    """A state estimator prepared for one grid and one set of measured quantities.

    Parameters
    ----------
    grid : Grid
    measurements : sequence of Measurement, optional
        The measured quantities, with default values and standard deviations (pandapower's
        semantics, see :mod:`gridedge.meter.estimation.quantities`); ``grid.measurements``
        when not given.
    switch_states : mapping of str to bool, optional
        Switch states overriding the grid's.
    zero_injection : "auto", iterable of bus ids, or None
        Buses known to inject nothing; each gets virtual ``p`` and ``q`` measurements of 0
        with ``settings.zero_injection_sigma_pu`` (very accurate measurements rather than hard
        constraints). ``"auto"``: buses without a load, a source or a measured injection.
    correlated : sequence of sequences of str
        Groups of measurement ids whose errors are correlated; their covariance is given to
        :meth:`estimate` (default: independent, from the standard deviations).
    derived : sequence of Quantity
        Quantities to compute from each estimate with their covariance ``J G^-1 J^T``.
    settings : EstimationSettings, optional
    backend : {"native", "python"}, optional
        Kernel backend (:mod:`gridedge.kernels`).

    Raises
    ------
    InvalidInputError
        Duplicate or unknown ids, measurements of unknown or de-energised elements.

    Notes
    -----
    State: the voltage magnitude and angle of every energised electrical node (buses joined
    by closed bus-bus switches are one node); each source's angle is the reference and stays
    at its ``va_deg`` (or the angle given to :meth:`estimate`). An estimator is not
    thread-safe: use one per thread.
    """

    def __init__(
        self,
        grid: Grid,
        measurements: Sequence[Measurement] | None = None,
        *,
        switch_states: Mapping[str, bool] | None = None,
        zero_injection: str | Sequence[str] | None = "auto",
        correlated: Sequence[Sequence[str]] = (),
        derived: Sequence[Quantity] = (),
        settings: EstimationSettings | None = None,
        backend: kernels.Backend | None = None,
    ) -> None:
        self.grid = grid
        self.settings = EstimationSettings() if settings is None else settings
        self.network = net = nw.build(grid, switch_states)
        given = tuple(grid.measurements if measurements is None else measurements)
        for item in given:
            if not isinstance(item, Measurement):
                raise InvalidInputError(
                    f"measurements must be Measurement objects, got {type(item).__name__}"
                )
        self.measurement_ids = tuple(m.id for m in given)
        _check_unique(self.measurement_ids)
        sigma_kw = self.settings.zero_injection_sigma_pu * 1e3 * nw.S_BASE_MVA
        virtual = tuple(
            Measurement(f"{ZERO_INJECTION_PREFIX}{quantity}:{bus}", quantity, bus, 0.0, sigma_kw)
            for bus in zero_injection_buses(net, given, zero_injection)
            for quantity in ("p", "q")
        )
        _check_unique(self.measurement_ids + tuple(m.id for m in virtual))
        self.zero_injection_ids = tuple(m.id for m in virtual)
        items = given + virtual
        order, group_ptr, n_correlated = _kernel_order(items, len(given), correlated)
        self._order = order
        self._encoded: Encoded = encode(net, [items[i] for i in order], "measurement")
        self._n_given = len(given)
        self._default_values = np.array([m.value for m in given], dtype=np.float64)
        self._default_std = np.array([m.std_dev for m in given], dtype=np.float64)
        self._virtual_kernel = order >= len(given)
        admittance = self.network.admittance(nw.POSITIVE).tocsr()
        self._solver = self._build_solver(kernels.load("wls", backend), group_ptr, admittance)
        self.derived = tuple(derived)
        self._derived = encode(net, self.derived, "derived quantity") if derived else None
        if self._derived is not None:
            self._derived_scale = np.outer(self._derived.to_pu, self._derived.to_pu)
            self._derived_has_angle = bool(self._derived.angle.any())
        self._flat = self._no_load_state(admittance)
        # Where each given and virtual measurement sits in the kernel's order.
        position = np.empty(order.size, dtype=np.intp)
        position[order] = np.arange(order.size)
        self._kernel_of_given = position[: len(given)]
        self._kernel_of_virtual = position[len(given) :]
        self._to_pu_given = np.abs(self._encoded.to_pu[self._kernel_of_given])
        self._angle_given = self._encoded.angle[self._kernel_of_given]
        self._has_angle = bool(self._angle_given.any())
        self._prepare_covariance(group_ptr, n_correlated, [m.id for m in items], sigma_kw)
        self._energised = net.node_of_bus >= 0
        self._all_energised = bool(self._energised.all())
        self._node_of_bus = np.where(self._energised, net.node_of_bus, 0)
        self._previous: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        self._observable: set[bytes] = set()
        self._last_covariance: tuple[NDArray[np.float64], NDArray[np.bool_]] | None = None
        logger.debug(
            "estimator for %r: %d nodes, %d states, %d measurements (%d zero injections)",
            grid.name,
            net.n_nodes,
            self._solver.n_state,
            len(items),
            len(virtual),
        )

    # --- structure ------------------------------------------------------------------------

    @property
    def n_state(self) -> int:
        """Number of state variables (magnitudes, and angles of non-reference nodes)."""
        return int(self._solver.n_state)

    @property
    def factor_nonzeros(self) -> int:
        """Off-diagonal nonzeros of the factor of the gain matrix (native backend)."""
        return int(self._solver.factor_nonzeros)

    @property
    def memory_bytes(self) -> int:
        """Bytes the kernel holds for this estimator (native backend; the twin reports less)."""
        return int(self._solver.memory_bytes)

    def _prepare_covariance(
        self,
        group_ptr: NDArray[np.int64],
        n_correlated: int,
        item_ids: Sequence[str],
        sigma_kw: float,
    ) -> None:
        """Index the kernel's covariance layout: one row-major block per group of rows."""
        sizes = np.diff(group_ptr)
        self._group_ptr = group_ptr
        self._group_size = sizes
        self._group_offset = np.concatenate([[0], np.cumsum(sizes**2)[:-1]]).astype(np.intp)
        m = self._order.size
        self._row_group = np.repeat(np.arange(sizes.size), sizes)
        self._row_position = np.arange(m) - group_ptr[self._row_group]
        self._diagonal_slot = (
            self._group_offset[self._row_group]
            + self._row_position * sizes[self._row_group]
            + self._row_position
        )
        self._diagonal_of_given = self._diagonal_slot[self._kernel_of_given]
        to_pu = np.abs(self._encoded.to_pu)
        template = np.zeros(self._solver.weight_size)
        virtual = self._kernel_of_virtual
        template[self._diagonal_slot[virtual]] = (sigma_kw * to_pu[virtual]) ** 2
        self._covariance_template = template
        # Correlated groups (kernel groups 0 .. n_correlated - 1, in declared order): their ids,
        # slots in the layout and the conversion of a covariance in the measurements' units
        # to p.u.
        self._correlated_ids = [
            tuple(item_ids[self._order[r]] for r in range(group_ptr[g], group_ptr[g + 1]))
            for g in range(n_correlated)
        ]
        self._correlated_index = {ids: k for k, ids in enumerate(self._correlated_ids)}
        self._correlated_slots = []
        self._correlated_scale = []
        for g in range(n_correlated):
            rows = np.arange(group_ptr[g], group_ptr[g + 1])
            self._correlated_slots.append(self._group_offset[g] + np.arange(rows.size**2))
            self._correlated_scale.append(np.outer(to_pu[rows], to_pu[rows]).ravel())
        uniform = len({slots.size for slots in self._correlated_slots}) == 1
        self._stacked = (
            (np.array(self._correlated_slots), np.array(self._correlated_scale))
            if uniform
            else None
        )

    def _build_solver(
        self, module: object, group_ptr: NDArray[np.int64], admittance: sp.csr_matrix
    ) -> object:
        net = self.network
        admittance.sum_duplicates()
        admittance.sort_indices()
        fixed = np.zeros(net.n_nodes, dtype=np.int64)
        fixed[net.source_node] = 1
        e = self._encoded
        return module.Solver(  # type: ignore[attr-defined]
            net.n_nodes,
            admittance.indptr.astype(np.int64),
            admittance.indices.astype(np.int64),
            admittance.data.astype(np.complex128),
            net.from_node.astype(np.int64),
            net.to_node.astype(np.int64),
            net.two_port[:, nw.POSITIVE].reshape(-1, 4),
            fixed,
            e.kind,
            e.node,
            e.branch,
            e.end,
            group_ptr,
        )

    def _no_load_state(self, y: sp.csr_matrix) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Flat start: 1 p.u., angles of the unloaded grid (transformer shifts included).

        `y` is the positive-sequence admittance matrix, CSR.
        """
        net = self.network
        voltage = np.ones(net.n_nodes, dtype=np.complex128)
        voltage[net.source_node] = net.source_voltage
        free = np.setdiff1d(np.arange(net.n_nodes), net.source_node)
        if free.size:
            rhs = -(y[free][:, net.source_node] @ net.source_voltage)
            # A singular no-load network leaves NaN, and zero angles below, with a warning
            # that says nothing the estimate will not.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", spla.MatrixRankWarning)
                voltage[free] = spla.spsolve(y[free][:, free].tocsc(), rhs)
        angle = np.angle(voltage)
        angle[~np.isfinite(angle)] = 0.0
        angle[net.source_node] = np.angle(net.source_voltage)
        return np.ones(net.n_nodes), angle

    def sensitivity(self) -> NDArray[np.float64]:
        """How much of each measurement's error its normalised residual shows, at the last estimate.

        Returns
        -------
        ndarray of float64, shape (m,)
            ``sqrt(Omega_ii / R_ii)``, ``Omega = R - H G^-1 H^T``, in the order of
            :attr:`measurement_ids`: an error of k standard deviations in measurement i
            shifts its normalised residual by about k times this. Near 0 for a critical
            measurement (no test can see its errors); NaN for one left out.

        Raises
        ------
        InvalidInputError
            Before any estimate.
        """
        if self._last_covariance is None:
            raise InvalidInputError("sensitivity needs an estimate first")
        covariance, active = self._last_covariance
        variance = covariance[self._diagonal_slot]
        omega = variance - self._solver.measurement_variance()
        ratio = np.where(active, np.sqrt(np.clip(omega / variance, 0.0, 1.0)), np.nan)
        out = np.empty(self._n_given)
        given_rows = ~self._virtual_kernel
        out[self._order[given_rows]] = ratio[given_rows]
        return out

    def derived_of(self, result: EstimationResult) -> DerivedQuantities:
        """Return the derived quantities of `result` (declared at construction).

        Raises
        ------
        InvalidInputError
            This estimator declares no derived quantities.
        """
        if result.derived is None:
            raise InvalidInputError("this estimator declares no derived quantities")
        return result.derived

    # --- estimation -----------------------------------------------------------------------

    def estimate(
        self,
        values: ArrayLike | None = None,
        std_devs: ArrayLike | None = None,
        *,
        covariances: Mapping[tuple[str, ...], ArrayLike] | ArrayLike | None = None,
        active: ArrayLike | None = None,
        initial: Initial = "flat",
        reference_angles: Mapping[str, float] | None = None,
        bad_data: bool | None = None,
        state_variance: bool = False,
    ) -> EstimationResult:
        """Estimate the state from one set of measured values.

        Parameters
        ----------
        values, std_devs : array_like of float, shape (m,), optional
            In the order of :attr:`measurement_ids` and the measurements' units; the
            measurements' own values and standard deviations when not given.
        covariances : mapping or array_like, optional
            Correlated group (its ids as declared) -> covariance, shape (k, k), in products
            of the measurements' units; or all of them stacked in declared order, shape
            (groups, k, k). Replaces the standard deviations of the members.
        active : array_like of bool, shape (m,), optional
            Measurements present this time (all by default).
        initial : {"flat", "previous"}
            Start from 1 p.u. with the no-load angles, or from the last estimate.
        reference_angles : mapping of str to float, optional
            Source bus id -> angle held there, degrees (the sources' ``va_deg`` otherwise).
        bad_data : bool, optional
            Override ``settings.bad_data``.
        state_variance : bool
            Also compute the standard deviation of every bus voltage.

        Returns
        -------
        EstimationResult

        Raises
        ------
        InvalidInputError
            Values or standard deviations of the wrong shape, not finite, or not positive
            (naming the measurements).
        UnobservableError
            The measurements leave buses undetermined (naming them).
        ConvergenceError
            Gauss-Newton diverged, did not converge, or the gain matrix became singular
            (naming the iteration and the bus).
        """
        z_given = self._vector(values, self._default_values, "values")
        s_given = self._vector(std_devs, self._default_std, "std_devs")
        used = self._active(active)
        self._check_values(z_given, s_given, used)
        given = self._kernel_of_given
        kernel_active = np.ones(self._order.size, dtype=bool)
        kernel_active[given] = used
        # Left-out measurements may hold anything (NaN included): they reach the kernel as 0, 1.
        z = np.zeros(self._order.size)
        z[given] = np.where(used, z_given * self._to_pu_given, 0.0)
        covariance = self._covariance_template.copy()
        covariance[self._diagonal_of_given] = np.where(
            used, (s_given * self._to_pu_given) ** 2, 1.0
        )
        if covariances is not None:
            self._put_covariances(covariance, covariances)
        vm0, va0 = self._initial(initial, reference_angles)
        settings = self.settings
        run_bad_data = settings.bad_data if bad_data is None else bad_data
        report = self._solve(z, covariance, kernel_active, vm0, va0)
        removed: list[str] = []
        suspects: tuple[str, ...] = ()
        normalized: NDArray[np.float64] | None = None
        detected = False
        estimations = 1
        while True:
            degrees = int(np.count_nonzero(kernel_active)) - self.n_state
            threshold = _chi2_threshold(degrees, settings.chi2_probability)
            if not run_bad_data or not report[4] > threshold:
                break
            detected = True
            normalized_kernel = self._normalized_residuals(z, covariance, kernel_active)
            normalized = np.full(self._n_given, np.nan)
            given_rows = ~self._virtual_kernel
            normalized[self._order[given_rows]] = normalized_kernel[given_rows]
            worst, suspects = self._identify(normalized_kernel, covariance, len(removed))
            if worst < 0:
                break
            removed.append(self.measurement_ids[self._order[worst]])
            logger.info(
                "bad data: removing %r (normalised residual %.1f)",
                removed[-1],
                normalized_kernel[worst],
            )
            kernel_active[worst] = False
            used[self._order[worst]] = False
            report = self._solve(z, covariance, kernel_active, self._solver.vm, self._solver.va)
            estimations += 1
        self._last_covariance = (covariance, kernel_active)
        return self._result(
            z_given,
            s_given,
            used,
            report,
            normalized,
            tuple(removed),
            suspects,
            detected,
            degrees,
            threshold,
            estimations,
            state_variance,
        )

    def _identify(
        self, normalized: NDArray[np.float64], covariance: NDArray[np.float64], removals: int
    ) -> tuple[int, tuple[str, ...]]:
        """Kernel row to remove as bad data (-1 for none) and, if not identifiable, suspects.

        The largest normalised residual identifies its measurement unless the residual of a
        close runner-up is correlated with it (|rho| >= ``identification_correlation``): then
        both belong to one critical set, the data cannot tell which is wrong, and removing one
        would only hide the error.
        """
        settings = self.settings
        if not np.any(np.isfinite(normalized)) or removals >= settings.max_removals:
            return -1, ()
        ranked = np.argsort(-np.nan_to_num(normalized, nan=-1.0))
        worst = int(ranked[0])
        if not normalized[worst] > settings.residual_threshold:
            return -1, ()
        limit = settings.identification_correlation * normalized[worst]
        runners = [int(k) for k in ranked[1:MAX_SUSPECTS] if normalized[k] >= limit]
        if not runners:
            return worst, ()
        rows = np.array([worst, *runners])
        e = self._encoded
        _, estimated = self._solver.derived(e.kind[rows], e.node[rows], e.branch[rows], e.end[rows])
        omega = self._measurement_covariance(rows, covariance) - estimated
        rho = omega[0, 1:] / np.sqrt(omega[0, 0] * np.diag(omega)[1:])
        tied = rows[1:][np.abs(rho) >= settings.identification_correlation]
        if tied.size == 0:
            return worst, ()
        suspects = tuple(self.measurement_ids[self._order[k]] for k in (worst, *tied))
        logger.info("bad data detected but not identifiable among %s", suspects)
        return -1, suspects

    def _measurement_covariance(
        self, rows: NDArray[np.intp], covariance: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """R restricted to kernel `rows` (correlated groups included), p.u., from the layout."""
        group = self._row_group[rows]
        position = self._row_position[rows]
        size = self._group_size[group]
        slot = (self._group_offset[group] + position * size)[:, None] + position[None, :]
        same = group[:, None] == group[None, :]
        return np.where(same, covariance[np.where(same, slot, 0)], 0.0)

    def _vector(
        self, given: ArrayLike | None, default: NDArray[np.float64], name: str
    ) -> NDArray[np.float64]:
        if given is None:
            return default
        array = np.asarray(given, dtype=np.float64)
        if array.shape != default.shape:
            raise InvalidInputError(
                f"{name} must have shape {default.shape} (one per measurement), got {array.shape}"
            )
        return array

    def _active(self, active: ArrayLike | None) -> NDArray[np.bool_]:
        if active is None:
            return np.ones(self._n_given, dtype=bool)
        mask = np.asarray(active)
        if mask.shape != (self._n_given,) or mask.dtype != np.bool_:
            raise InvalidInputError(
                f"active must be a bool array of shape ({self._n_given},), got {mask.dtype} "
                f"{mask.shape}"
            )
        return mask.copy()

    def _check_values(
        self, values: NDArray[np.float64], std_devs: NDArray[np.float64], used: NDArray[np.bool_]
    ) -> None:
        valid = np.isfinite(values) & (std_devs > 0)
        if valid.all():
            return
        bad_value = used & ~np.isfinite(values)
        bad_sigma = used & ~(std_devs > 0)
        if bad_value.any() or bad_sigma.any():
            ids = self.measurement_ids
            problems = [
                f"{ids[i]!r}: value {float(values[i])!r} is not finite"
                for i in np.flatnonzero(bad_value)
            ]
            problems += [
                f"{ids[i]!r}: std_dev {float(std_devs[i])!r} is not positive"
                for i in np.flatnonzero(bad_sigma)
            ]
            raise InvalidInputError("invalid measurement values:\n  " + "\n  ".join(problems[:20]))

    def _put_covariances(
        self,
        layout: NDArray[np.float64],
        covariances: Mapping[tuple[str, ...], ArrayLike] | ArrayLike,
    ) -> None:
        """Write the correlated groups' covariances (measurements' units) into the layout."""
        if not isinstance(covariances, Mapping):
            stacked = np.asarray(covariances, dtype=np.float64)
            n = len(self._correlated_ids)
            if self._stacked is None or stacked.shape != (
                n,
                *(2 * [len(self._correlated_ids[0])]),
            ):
                raise InvalidInputError(
                    "stacked covariances must have shape (groups, k, k) for groups of one size k, "
                    f"got {stacked.shape}"
                )
            if not np.isfinite(stacked).all():
                raise InvalidInputError("covariances must be finite")
            slots, scale = self._stacked
            layout[slots] = stacked.reshape(n, -1) * scale
            return
        unknown = set(covariances) - set(self._correlated_index)
        if unknown:
            raise InvalidInputError(
                f"covariances name groups that were not declared: {sorted(unknown)}"
            )
        for key, value in covariances.items():
            k = self._correlated_index[key]
            matrix = np.asarray(value, dtype=np.float64)
            size = len(key)
            if matrix.shape != (size, size) or not np.isfinite(matrix).all():
                raise InvalidInputError(
                    f"covariance of {list(key)} must be a finite ({size}, {size}) matrix"
                )
            layout[self._correlated_slots[k]] = matrix.ravel() * self._correlated_scale[k]

    def _initial(
        self, initial: Initial, reference_angles: Mapping[str, float] | None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if initial == "previous" and self._previous is not None:
            vm, va = (a.copy() for a in self._previous)
        elif initial in ("flat", "previous"):
            vm, va = (a.copy() for a in self._flat)
        else:
            raise InvalidInputError(f"initial must be 'flat' or 'previous', got {initial!r}")
        net = self.network
        for bus, angle in (reference_angles or {}).items():
            node = net.node(bus)
            if node not in net.source_node:
                raise InvalidInputError(f"reference_angles: bus {bus!r} holds no source")
            if not math.isfinite(angle):
                raise InvalidInputError(f"reference_angles: angle of {bus!r} is not finite")
            va[node] = math.radians(angle)
        return vm, va

    def _solve(
        self,
        z: NDArray[np.float64],
        covariance: NDArray[np.float64],
        active: NDArray[np.bool_],
        vm: NDArray[np.float64],
        va: NDArray[np.float64],
    ) -> tuple[int, int, float, int, float]:
        # Observability depends on which measurements are present, not on their values:
        # a configuration that passed the test once need not be tested again.
        configuration = active.tobytes()
        s = self.settings
        report = self._solver.solve(  # positional: the binding parses keywords slowly
            z,
            covariance,
            active,
            vm,
            va,
            s.tolerance,
            s.tolerance_sd,
            s.max_iterations,
            s.pivot_tolerance,
            s.min_current_pu,
            s.max_magnitude_pu,
            configuration not in self._observable,
        )
        status, iterations, step, node, _ = report
        if status == CONVERGED:
            if len(self._observable) >= 256:
                self._observable.clear()
            self._observable.add(configuration)
            self._previous = (self._solver.vm, self._solver.va)
            return report
        if status == BAD_COVARIANCE:
            g = node
            rows = range(self._group_ptr[g], self._group_ptr[g + 1])
            ids = [self.measurement_ids[self._order[r]] for r in rows if active[r]]
            raise InvalidInputError(f"covariance of {ids} is not positive definite")
        if status in (UNOBSERVABLE, SINGULAR):
            buses = self._buses_of(self._solver.unobservable_nodes())
            shown = ", ".join(repr(b) for b in buses[:20]) + (" ..." if len(buses) > 20 else "")
            if status == UNOBSERVABLE:
                raise UnobservableError(
                    f"the measurements leave {len(buses)} bus(es) of grid {self.grid.name!r} "
                    f"unobservable: {shown}; add measurements or pseudo-measurements there",
                    buses,
                )
            raise ConvergenceError(
                f"state estimation of grid {self.grid.name!r}: the gain matrix became singular "
                f"at iteration {iterations + 1}; undetermined there: {shown}"
            )
        where = self._buses_of(np.array([node]))[0] if node >= 0 else "?"
        if status == DIVERGED:
            raise ConvergenceError(
                f"state estimation of grid {self.grid.name!r} diverged at iteration {iterations} "
                f"(step {step:.3g} at bus {where!r}): check the measurements' values and signs"
            )
        raise ConvergenceError(
            f"state estimation of grid {self.grid.name!r} did not converge in {iterations} "
            f"iterations (last step {step:.3g} at bus {where!r}, tolerance "
            f"{self.settings.tolerance:g})"
        )

    def _buses_of(self, nodes: NDArray[np.int64]) -> list[str]:
        """Bus ids of nodes (every bus of a node of merged buses)."""
        wanted = np.isin(self.network.node_of_bus, nodes)
        return [self.grid.bus_ids[i] for i in np.flatnonzero(wanted)]

    def _normalized_residuals(
        self, z: NDArray[np.float64], covariance: NDArray[np.float64], active: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        """|r_i| / sqrt(Omega_ii) per kernel row; NaN where not testable."""
        variance = covariance[self._diagonal_slot]
        residual = z - self._solver.estimates()
        angle = self._encoded.angle
        residual[angle] = np.remainder(residual[angle] + math.pi, 2 * math.pi) - math.pi
        omega = variance - self._solver.measurement_variance()
        testable = (
            active & ~self._virtual_kernel & (omega > self.settings.critical_ratio * variance)
        )
        normalized = np.full(z.shape, np.nan)
        normalized[testable] = np.abs(residual[testable]) / np.sqrt(omega[testable])
        return normalized

    def _result(
        self,
        z_given: NDArray[np.float64],
        s_given: NDArray[np.float64],
        used: NDArray[np.bool_],
        report: tuple[int, int, float, int, float],
        normalized: NDArray[np.float64] | None,
        removed: tuple[str, ...],
        suspects: tuple[str, ...],
        detected: bool,
        degrees: int,
        threshold: float,
        estimations: int,
        state_variance: bool,
    ) -> EstimationResult:
        solver = self._solver
        energised, safe = self._energised, self._node_of_bus
        voltage = solver.vm[safe] * np.exp(1j * solver.va[safe])
        if not self._all_energised:
            voltage[~energised] = 0.0
        estimated = solver.estimates()[self._kernel_of_given] / self._to_pu_given
        residuals = z_given - estimated
        if self._has_angle:
            is_angle = self._angle_given
            residuals[is_angle] = np.remainder(residuals[is_angle] + 180.0, 360.0) - 180.0
        derived = None
        if self._derived is not None:
            d = self._derived
            values, covariance = solver.derived(d.kind, d.node, d.branch, d.end)
            values /= d.to_pu
            covariance /= self._derived_scale
            if self._derived_has_angle:
                angle = np.radians(values[d.angle])
                values[d.angle] = np.degrees(np.arctan2(np.sin(angle), np.cos(angle)))
            derived = DerivedQuantities(self.derived, values, covariance)
        vm_std = va_std = None
        if state_variance:
            angle_var, magnitude_var = solver.state_variance()
            vm_std = np.where(energised, np.sqrt(np.clip(magnitude_var[safe], 0, None)), 0.0)
            va_std = np.where(
                energised, np.degrees(np.sqrt(np.clip(angle_var[safe], 0, None))), 0.0
            )
        return EstimationResult(
            grid=self.grid,
            bus_ids=self.grid.bus_ids,
            voltage=voltage,
            energised=energised,
            measurement_ids=self.measurement_ids,
            values=z_given,
            std_devs=s_given,
            estimated=estimated,
            residuals=residuals,
            active=used,
            normalized_residuals=normalized,
            removed=removed,
            suspects=suspects,
            bad_data_detected=detected,
            objective=float(report[4]),
            degrees_of_freedom=degrees,
            chi2_threshold=threshold,
            iterations=int(report[1]),
            estimations=estimations,
            derived=derived,
            vm_std_pu=vm_std,
            va_std_deg=va_std,
        )


def _check_unique(ids: Sequence[str]) -> None:
    duplicates = sorted(i for i, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise InvalidInputError(f"duplicate measurement ids: {duplicates[:20]}")


def _kernel_order(
    items: Sequence[Measurement], n_given: int, correlated: Sequence[Sequence[str]]
) -> tuple[NDArray[np.intp], NDArray[np.int64], int]:
    """Kernel order of the measurements, group pointers and the number of correlated groups.

    Correlated groups come first (kernel groups 0, 1, ... in declared order), each contiguous.
    The other measurements follow sorted by where they are taken, so that quantities of one
    source (P and Q of a bus, |I| and its angle) sit next to each other and the kernel
    evaluates and accumulates them together.
    """
    position = {m.id: i for i, m in enumerate(items[:n_given])}
    taken: set[int] = set()
    order: list[int] = []
    group_ptr = [0]
    for members in correlated:
        ids = list(members)
        unknown = [i for i in ids if i not in position]
        if unknown or len(ids) < 2:
            raise InvalidInputError(
                f"correlated group {ids}: needs two or more known measurement ids"
                + (f"; unknown {unknown}" if unknown else "")
            )
        rows = [position[i] for i in ids]
        if taken.intersection(rows) or len(set(rows)) != len(rows):
            raise InvalidInputError(f"correlated group {ids}: a measurement is in two groups")
        taken.update(rows)
        order.extend(rows)
        group_ptr.append(len(order))
    source = {"v": 0, "va": 0, "p": 1, "q": 1, "i": 2, "ia": 2}

    def where(i: int) -> tuple[str, str, int, str]:
        m = items[i]
        return (m.element, m.side or "", source[m.quantity], m.quantity)

    for i in sorted((i for i in range(len(items)) if i not in taken), key=where):
        order.append(i)
        group_ptr.append(len(order))
    return np.array(order, dtype=np.intp), np.array(group_ptr, dtype=np.int64), len(correlated)


def estimate(
    grid: Grid,
    measurements: Sequence[Measurement] | None = None,
    *,
    switch_states: Mapping[str, bool] | None = None,
    zero_injection: str | Sequence[str] | None = "auto",
    derived: Sequence[Quantity] = (),
    settings: EstimationSettings | None = None,
    backend: kernels.Backend | None = None,
    state_variance: bool = False,
) -> EstimationResult:
    """Estimate the state of `grid` from `measurements` once (see :class:`Estimator`).

    Parameters
    ----------
    grid : Grid
    measurements : sequence of Measurement, optional
        ``grid.measurements`` when not given. Units: ``v`` p.u., ``va`` / ``ia`` degrees,
        ``p`` kW, ``q`` kvar, ``i`` A; bus powers are injections, branch powers and currents
        flow from the `side` bus into the branch.
    switch_states, zero_injection, derived, settings, backend
        As for :class:`Estimator`.
    state_variance : bool
        Also compute each bus voltage's standard deviation.

    Returns
    -------
    EstimationResult

    Raises
    ------
    InvalidInputError, UnobservableError, ConvergenceError
        See :class:`Estimator` and :meth:`Estimator.estimate`.

    Examples
    --------
    >>> from gridedge.grid import Measurement
    >>> from gridedge.grid.cases import ieee33
    >>> from gridedge.meter.estimation import estimate
    >>> grid = ieee33()
    >>> readings = [Measurement("v1", "v", "1", 1.0, 0.004)] + [
    ...     Measurement(f"{q}{load.bus}", q, load.bus, -value, 0.02 * abs(value) + 0.1)
    ...     for load in grid.loads
    ...     for q, value in (("p", load.p_kw), ("q", load.q_kvar))
    ... ]
    >>> result = estimate(grid, readings)
    >>> round(float(result.vm_pu.min()), 3)
    0.913
    """
    estimator = Estimator(
        grid,
        measurements,
        switch_states=switch_states,
        zero_injection=zero_injection,
        derived=derived,
        settings=settings,
        backend=backend,
    )
    return estimator.estimate(state_variance=state_variance)
