"""Weighted-least-squares state estimation, single level and multilevel (Pau et al.).

Single level: :func:`estimate` (one shot) and :class:`Estimator` (prepared once, run every
minute) on any :class:`~gridedge.grid.Grid` with :class:`~gridedge.grid.Measurement` objects
(pandapower's measurement semantics; units in :mod:`gridedge.meter.estimation.quantities`).
Accuracy classes become standard deviations with :mod:`gridedge.meter.estimation.accuracy`.
"""

from gridedge.meter.estimation.estimator import Estimator, estimate
from gridedge.meter.estimation.quantities import Quantity
from gridedge.meter.estimation.result import DerivedQuantities, EstimationResult
from gridedge.meter.estimation.settings import EstimationSettings

__all__ = [
    "DerivedQuantities",
    "EstimationResult",
    "EstimationSettings",
    "Estimator",
    "Quantity",
    "estimate",
]
