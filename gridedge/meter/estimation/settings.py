"""Settings of the state estimator: a frozen dataclass for :func:`gridedge.config.load`."""

import math
from dataclasses import dataclass

from gridedge.errors import ConfigurationError


@dataclass(frozen=True)
class EstimationSettings:
    """How the estimator iterates, tests for bad data and weighs zero injections.

    Load from a file or the environment with
    ``gridedge.config.load(EstimationSettings, path, section="estimation")``
    (variables ``GRIDEDGE_ESTIMATION_<FIELD>``).

    Attributes
    ----------
    tolerance : float
        Gauss-Newton stops when the distance to the solution, estimated from the last update
        (and from the contraction of the last two once they contract), is at most this in every
        state variable (rad and p.u.) ...
    tolerance_sd : float
        ... or when the update is at most this many standard deviations of the estimate along
        every direction (``sqrt(dx^T G dx)``, G the gain matrix): precision far below the
        estimate's own uncertainty is not asked of badly conditioned directions, such as the
        voltage level of a large grid whose power injections fix voltage differences far more
        tightly than its voltage meters fix the level. 0 disables this rule.
    max_iterations : int
        Iterations allowed for one estimation.
    pivot_tolerance : float
        A pivot of the gain matrix below this fraction of its diagonal counts as zero: the
        measurements do not determine that state (unobservable).
    min_current_pu : float
        Below this current (p.u.) the magnitude and angle of a branch current have no usable
        slope (flat start); those rows sit out that iteration.
    max_magnitude_pu : float
        An iterate with a voltage magnitude outside (0, max_magnitude_pu) has diverged.
    zero_injection_sigma_pu : float
        Standard deviation given to the virtual zero-injection measurements (p.u. of
        :data:`gridedge.grid.network.S_BASE_MVA`, so 1e-6 is 1 W): zero injections are very
        accurate measurements, not hard constraints.
    bad_data : bool
        Run the chi-square test after each estimation and, when it fails, identify and remove
        bad measurements by the largest normalised residual.
    chi2_probability : float
        Confidence of the chi-square test (its threshold is the chi-square quantile of this
        probability with m - n degrees of freedom).
    residual_threshold : float
        A measurement whose normalised residual is the largest and above this is bad.
    identification_correlation : float
        The largest normalised residual identifies its measurement unless a runner-up (a
        normalised residual at least this fraction of it) has a residual correlated with it
        by at least this much: then they share one critical set (as the active powers of an
        LV grid's customers and its substation do), the data cannot tell them apart, and
        they are reported as suspects instead of one being removed.
    max_removals : int
        Bad measurements removed at most in one estimation.
    critical_ratio : float
        Measurements whose residual variance is below this fraction of their own variance are
        critical (a normalised residual cannot be computed) and never removed.
    """

    tolerance: float = 1e-8
    tolerance_sd: float = 1e-3
    max_iterations: int = 30
    pivot_tolerance: float = 1e-10
    min_current_pu: float = 1e-9
    max_magnitude_pu: float = 3.0
    zero_injection_sigma_pu: float = 1e-6
    bad_data: bool = True
    chi2_probability: float = 0.99
    residual_threshold: float = 3.0
    identification_correlation: float = 0.95
    max_removals: int = 10
    critical_ratio: float = 1e-6

    def __post_init__(self) -> None:
        positive = (
            "tolerance",
            "pivot_tolerance",
            "min_current_pu",
            "max_magnitude_pu",
            "zero_injection_sigma_pu",
            "residual_threshold",
            "critical_ratio",
        )
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigurationError(
                    f"estimation setting {name} must be positive, got {value!r}"
                )
        if not 0 < self.identification_correlation <= 1:
            raise ConfigurationError(
                "estimation setting identification_correlation must lie in (0, 1], "
                f"got {self.identification_correlation!r}"
            )
        if not 0 < self.chi2_probability < 1:
            raise ConfigurationError(
                "estimation setting chi2_probability must lie in (0, 1), "
                f"got {self.chi2_probability!r}"
            )
        if not (isinstance(self.tolerance_sd, int | float) and self.tolerance_sd >= 0):
            raise ConfigurationError(
                f"estimation setting tolerance_sd must be >= 0, got {self.tolerance_sd!r}"
            )
        for name, least in (("max_iterations", 1), ("max_removals", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigurationError(
                    f"estimation setting {name} must be a whole number >= {least}, got {value!r}"
                )
