"""The outcome of a state estimation."""

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError
from gridedge.grid import Grid
from gridedge.meter.estimation.quantities import Quantity


@dataclass(frozen=True, eq=False)
class DerivedQuantities:
    """Quantities computed from the estimate, with their covariance ``J G^-1 J^T``.

    Attributes
    ----------
    quantities : tuple of Quantity
    values : ndarray of float64, shape (k,)
        In the quantities' units (p.u., degrees, kW, kvar, A).
    covariance : ndarray of float64, shape (k, k)
        In products of those units.
    """

    quantities: tuple[Quantity, ...]
    values: NDArray[np.float64] = field(repr=False)
    covariance: NDArray[np.float64] = field(repr=False)

    @property
    def std_devs(self) -> NDArray[np.float64]:
        """Standard deviations, shape (k,)."""
        return np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))


@dataclass(frozen=True, eq=False)
class EstimationResult:
    """A weighted-least-squares state estimate and what it rests on.

    Attributes
    ----------
    grid : Grid
    bus_ids : tuple of str
        Row order of the bus arrays (``grid.bus_ids``).
    voltage : ndarray of complex128, shape (n_bus,)
        Positive-sequence voltage, p.u. of the bus's nominal phase voltage; 0 where
        de-energised.
    energised : ndarray of bool, shape (n_bus,)
    measurement_ids : tuple of str
        Row order of the measurement arrays (as given, virtual zero injections left out).
    values, std_devs : ndarray of float64, shape (m,)
        Measured values and standard deviations used, in each measurement's unit.
    estimated : ndarray of float64, shape (m,)
        h(x) at the estimate: the estimated value of each measured quantity.
    residuals : ndarray of float64, shape (m,)
        ``values - estimated`` (angles wrapped to +-180 degrees).
    active : ndarray of bool, shape (m,)
        Measurements used in the final estimate (false: left out by the caller or removed as
        bad data).
    normalized_residuals : ndarray of float64, shape (m,), optional
        ``|r_i| / sqrt(Omega_ii)`` from the last bad-data identification (NaN where not
        testable); None when none ran.
    removed : tuple of str
        Ids of the measurements removed as bad data, in order of removal.
    suspects : tuple of str
        When bad data was detected but not identifiable (several measurements of one critical
        set share the largest normalised residual), their ids, most suspect first; none of
        them is removed.
    bad_data_detected : bool
        Whether a chi-square test failed during this estimation.
    objective : float
        ``J(x) = r^T W r`` at the estimate (zero injections included).
    degrees_of_freedom : int
        Active measurements (zero injections included) minus state variables.
    chi2_threshold : float
        Threshold of the chi-square test (NaN without degrees of freedom).
    iterations : int
        Gauss-Newton iterations of the final estimation.
    estimations : int
        Estimations run (1 plus one per removal).
    derived : DerivedQuantities, optional
    vm_std_pu, va_std_deg : ndarray of float64, shape (n_bus,), optional
        Standard deviation of each bus's voltage magnitude and angle (0 at a reference).
    """

    grid: Grid = field(repr=False)
    bus_ids: tuple[str, ...] = field(repr=False)
    voltage: NDArray[np.complex128] = field(repr=False)
    energised: NDArray[np.bool_] = field(repr=False)
    measurement_ids: tuple[str, ...] = field(repr=False)
    values: NDArray[np.float64] = field(repr=False)
    std_devs: NDArray[np.float64] = field(repr=False)
    estimated: NDArray[np.float64] = field(repr=False)
    residuals: NDArray[np.float64] = field(repr=False)
    active: NDArray[np.bool_] = field(repr=False)
    normalized_residuals: NDArray[np.float64] | None = field(repr=False)
    removed: tuple[str, ...]
    suspects: tuple[str, ...]
    bad_data_detected: bool
    objective: float
    degrees_of_freedom: int
    chi2_threshold: float
    iterations: int
    estimations: int
    derived: DerivedQuantities | None = field(default=None, repr=False)
    vm_std_pu: NDArray[np.float64] | None = field(default=None, repr=False)
    va_std_deg: NDArray[np.float64] | None = field(default=None, repr=False)

    @property
    def vm_pu(self) -> NDArray[np.float64]:
        """Voltage magnitudes, p.u., shape (n_bus,)."""
        return np.abs(self.voltage)

    @property
    def va_deg(self) -> NDArray[np.float64]:
        """Voltage angles, degrees, shape (n_bus,)."""
        return np.degrees(np.angle(self.voltage))

    def voltage_of(self, bus: str) -> complex:
        """Estimated voltage of `bus`, p.u."""
        self.grid.bus(bus)
        return complex(self.voltage[self.bus_ids.index(bus)])

    def residual_of(self, measurement_id: str) -> float:
        """Residual of one measurement, in its unit."""
        return float(self.residuals[self._row(measurement_id)])

    def estimated_of(self, measurement_id: str) -> float:
        """Estimated value of one measured quantity, in its unit."""
        return float(self.estimated[self._row(measurement_id)])

    def _row(self, measurement_id: str) -> int:
        try:
            return self.measurement_ids.index(measurement_id)
        except ValueError:
            raise InvalidInputError(f"no measurement {measurement_id!r} in this estimate") from None
