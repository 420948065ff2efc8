"""Meter accuracy classes turned into the standard deviations the estimator weighs with.

An accuracy class bounds a meter's error as a percentage of the reading (IEC 62053-21/-22 for
active energy, -23/-24 for reactive energy, IEC 61869 for instrument transformers, IEC
61557-12 for voltage). Read as three standard deviations of a Gaussian error (the usual
reading in distribution-system state estimation, Pau et al.), a class of c % gives
``sigma = c / 100 x |reading| / 3``. Near zero a percentage of the reading vanishes while the
meter's real error does not, so every class has a floor: the error limit never drops below
a fixed amount in the quantity's unit.
"""

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridedge.errors import InvalidInputError

COVERAGE = 3.0
"""Class limits are read as this many standard deviations."""


def sigma_from_class(
    reading: ArrayLike, class_percent: float, floor: float = 0.0
) -> NDArray[np.float64]:
    """Return the standard deviation of readings of a meter of class `class_percent`.

    Parameters
    ----------
    reading : array_like of float
        Readings, in any unit.
    class_percent : float
        Class: the error limit in percent of the reading; > 0.
    floor : float
        Smallest error limit, in the readings' unit; >= 0.

    Returns
    -------
    ndarray of float64, shape of `reading`
        ``max(class_percent / 100 x |reading|, floor) / 3``.

    Raises
    ------
    InvalidInputError
        A class that is not positive, a negative floor, or a reading that is not finite.
    """
    if not (math.isfinite(class_percent) and class_percent > 0):
        raise InvalidInputError(f"class_percent must be positive, got {class_percent!r}")
    if not (math.isfinite(floor) and floor >= 0):
        raise InvalidInputError(f"floor must be >= 0, got {floor!r}")
    values = np.asarray(reading, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise InvalidInputError("readings must be finite")
    return np.maximum(class_percent / 100 * np.abs(values), floor) / COVERAGE


@dataclass(frozen=True)
class AccuracyClass:
    """Accuracy of one kind of meter, per measured quantity.

    Attributes
    ----------
    name : str
    voltage_percent : float
        Class of the voltage magnitude (``v``), percent of reading.
    active_percent, reactive_percent : float
        Classes of active (``p``) and reactive (``q``) power, percent of reading.
    current_percent : float
        Class of the current magnitude (``i``), percent of reading.
    angle_deg : float
        Error limit of phase angles (``va``, ``ia``), degrees; 0 when the meter has no phase
        reference (not a PMU).
    power_floor : float
        Smallest error limit of ``p`` and ``q``, kW or kvar.
    current_floor : float
        Smallest error limit of ``i``, A.
    """

    name: str
    voltage_percent: float
    active_percent: float
    reactive_percent: float
    current_percent: float
    angle_deg: float = 0.0
    power_floor: float = 0.0
    current_floor: float = 0.0

    def sigma(self, quantity: str, reading: ArrayLike) -> NDArray[np.float64]:
        """Return the standard deviation of readings of `quantity` (units as in Measurement).

        Raises
        ------
        InvalidInputError
            An unknown quantity, or an angle from a meter without a phase reference.
        """
        if quantity == "v":
            return sigma_from_class(reading, self.voltage_percent)
        if quantity == "p":
            return sigma_from_class(reading, self.active_percent, self.power_floor)
        if quantity == "q":
            return sigma_from_class(reading, self.reactive_percent, self.power_floor)
        if quantity == "i":
            return sigma_from_class(reading, self.current_percent, self.current_floor)
        if quantity in ("va", "ia"):
            if not self.angle_deg > 0:
                raise InvalidInputError(f"a {self.name} measures no phase angle ({quantity!r})")
            return np.full(np.shape(reading), self.angle_deg / COVERAGE)
        raise InvalidInputError(f"unknown quantity {quantity!r} (v, va, p, q, i, ia)")


SMART_METER = AccuracyClass(
    "smart meter",
    voltage_percent=0.5,
    active_percent=1.0,
    reactive_percent=2.0,
    current_percent=1.0,
    power_floor=0.01,
    current_floor=0.05,
)
"""Residential smart meter: active energy class 1 (IEC 62053-21), reactive class 2
(IEC 62053-23), voltage 0.5 %; 10 W / 10 var and 50 mA floors."""

SUBSTATION_METER = AccuracyClass(
    "substation meter",
    voltage_percent=0.2,
    active_percent=0.5,
    reactive_percent=1.0,
    current_percent=0.5,
    power_floor=0.5,
    current_floor=0.5,
)
"""Meter on instrument transformers in a substation: active class 0.5S (IEC 62053-22),
reactive class 1, voltage and current transformers class 0.2 / 0.5 (IEC 61869)."""

PMU = AccuracyClass(
    "PMU",
    voltage_percent=0.1,
    active_percent=0.2,
    reactive_percent=0.5,
    current_percent=0.2,
    angle_deg=0.05,
    power_floor=0.5,
    current_floor=0.5,
)
"""Phasor measurement unit on class 0.1 / 0.2 instrument transformers: 0.05 degree phase
error (well inside the 1 % TVE of IEEE C37.118.1)."""

PSEUDO = AccuracyClass(
    "pseudo-measurement",
    voltage_percent=5.0,
    active_percent=50.0,
    reactive_percent=50.0,
    current_percent=50.0,
    power_floor=0.1,
    current_floor=1.0,
)
"""Pseudo-measurements from load profiles: 50 % (Pau et al. use 30 to 50 %)."""
