"""Which phases a fault involves, and whether earth, from the superimposed currents.

The superimposed current is the during-fault current minus the pre-fault one: what the fault
adds. On a radial feeder with no zero-sequence source downstream (MV/LV transformers are
delta on their MV side), it flows only in the faulted phases, and its zero-sequence part is
the earth current. So a phase is faulted when its superimposed current is a good fraction of
the largest, and earth is involved when the zero sequence is a good fraction of the positive.
"""

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridedge.channels import CHANNELS
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid import FaultKind
from gridedge.grid.sequence import to_sequence


@dataclass(frozen=True)
class ClassificationSettings:
    """Thresholds of the fault-kind classifier (section ``classification`` of a settings file).

    Attributes
    ----------
    phase_ratio : float
        A phase is faulted when its superimposed current reaches this fraction of the
        largest phase's; in (0, 1).
    earth_ratio : float
        Earth is involved when the superimposed zero-sequence current reaches this fraction
        of the positive-sequence one; > 0.
    min_current_a : float
        Largest superimposed phase current, A, below which the phasors show no fault.
    """

    phase_ratio: float = 0.3
    earth_ratio: float = 0.1
    min_current_a: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.phase_ratio < 1:
            raise ConfigurationError(f"phase_ratio must lie in (0, 1), got {self.phase_ratio!r}")
        if not (math.isfinite(self.earth_ratio) and self.earth_ratio > 0):
            raise ConfigurationError(f"earth_ratio must be > 0, got {self.earth_ratio!r}")
        if not (math.isfinite(self.min_current_a) and self.min_current_a > 0):
            raise ConfigurationError(f"min_current_a must be > 0, got {self.min_current_a!r}")


def phasor_set(phasors: ArrayLike, name: str) -> NDArray[np.complex128]:
    """Check one set of six phasors (Va, Vb, Vc primary V; Ia, Ib, Ic primary A).

    Returns
    -------
    ndarray of complex128, shape (6,)

    Raises
    ------
    InvalidInputError
        Not six values, or a value that is not finite (naming the channel).
    """
    array = np.asarray(phasors)
    if array.shape != (len(CHANNELS),) or array.dtype.kind not in "fc":
        raise InvalidInputError(
            f"{name} must hold {len(CHANNELS)} complex phasors {CHANNELS}, got dtype "
            f"{array.dtype} shape {array.shape}"
        )
    array = array.astype(np.complex128)
    bad = [CHANNELS[c] for c in np.flatnonzero(~np.isfinite(array))]
    if bad:
        raise InvalidInputError(f"{name}: channel(s) {', '.join(bad)} are not finite")
    return array


def classify(
    prefault: ArrayLike,
    fault: ArrayLike,
    settings: ClassificationSettings | None = None,
) -> FaultKind:
    """Classify a fault from a meter's pre-fault and during-fault phasors.

    Parameters
    ----------
    prefault, fault : array_like of complex, shape (6,)
        Phasors Va, Vb, Vc (primary V) and Ia, Ib, Ic (primary A) before and during the
        fault, on one time base (as :class:`gridedge.meter.faults.FaultEvent` delivers them).
    settings : ClassificationSettings, optional

    Returns
    -------
    FaultKind
        For example ``a-g``, ``b-c``, ``b-c-g`` or ``a-b-c``.

    Raises
    ------
    InvalidInputError
        Non-finite phasors, or no superimposed current above ``settings.min_current_a``.
    """
    settings = settings or ClassificationSettings()
    before = phasor_set(prefault, "prefault")
    during = phasor_set(fault, "fault")
    change = during[3:] - before[3:]
    magnitude = np.abs(change)
    largest = float(magnitude.max())
    if largest < settings.min_current_a:
        raise InvalidInputError(
            f"the phasors show no fault: the largest superimposed current is {largest:.3g} A, "
            f"below min_current_a = {settings.min_current_a} A"
        )
    phases = tuple(int(p) for p in np.flatnonzero(magnitude >= settings.phase_ratio * largest))
    zero, positive, _ = np.abs(to_sequence(change))
    earthed = len(phases) == 1 or zero >= settings.earth_ratio * positive
    return FaultKind(phases, bool(earthed))
