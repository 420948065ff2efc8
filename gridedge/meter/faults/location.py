"""Impedance-based fault location with sparse voltage measurements (Estebsari et al. 2016).

Method
------
The head meter's pre-fault and during-fault phasors are turned into per-unit sequence
quantities and walked down every section of the feeder, laterals included, with everything
off the path drawing its (pre-fault) constant admittance: load compensation. On each section
the fault point x is where the fault loop is resistive::

    Im(V_loop(x) conj(I_loop(x))) = 0

with the loop quantities of the fault kind taken at x - a-g: V_a and I_a; b-c and b-c-g:
V_b - V_c and I_b - I_c; a-b-c: the positive sequence - and I the superimposed fault current
there (Takagi: the during-fault current minus the pre-fault one, each reduced by what the
feeder beyond x draws). On a single section without load this is the reactance method with
the zero-sequence compensated loop current; the walk makes it exact for the pi model of the
feeder. Every section with a root in [0, 1] gives a candidate; its fault resistance is
``Re(V_loop / I_loop)`` (times 2 between the phases of a two-phase fault without earth).

Candidates are told apart by the voltage magnitudes that the other meters report: for each,
the sag ``dV_i = -Z_i,f I_f`` (transfer impedance from the grid's sequence Z-bus) gives
predicted phase-voltage magnitudes, and the candidate with the smallest squared mismatch
wins. The result is flagged ambiguous - never silently confident - when another distinct
candidate fits about as well, when no meter reported and several candidates remain, when
even the best one does not fit, or when the given fault kind does not match the phasors.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridedge.errors import FaultLocationError, InvalidInputError
from gridedge.grid import FaultKind
from gridedge.grid.sequence import to_sequence
from gridedge.meter.faults.classification import classify, phasor_set
from gridedge.meter.faults.feeder import FeederModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A point of the feeder that explains the head meter's phasors.

    Attributes
    ----------
    line : str
    from_bus, to_bus : str
        The section's bus pair, the one nearer the head meter first.
    distance_m : float
        Distance from `from_bus` along the line, metres.
    resistance_ohm : float
        Estimated fault resistance, ohm (clipped at 0).
    mismatch_pu : float
        RMS difference between the measured and predicted phase-voltage magnitudes of the
        other meters, p.u.; NaN when no meter reported.
    """

    line: str
    from_bus: str
    to_bus: str
    distance_m: float
    resistance_ohm: float
    mismatch_pu: float


@dataclass(frozen=True)
class FaultLocation:
    """Where a fault is, how sure the locator is, and what else it considered.

    Attributes
    ----------
    from_bus, to_bus : str
        The faulted bus pair, the one nearer the head meter first.
    line : str
        The faulted line.
    distance_m : float
        Distance of the fault from `from_bus`, metres.
    kind : FaultKind
        The fault kind used (given, or classified from the phasors).
    resistance_ohm : float
        Estimated fault resistance, ohm.
    candidates : tuple of Candidate
        Every candidate, best first (the first is the location above).
    ambiguous : bool
        True when the location should not be acted on without more evidence; `reasons`
        says why.
    reasons : tuple of str
    meters_used : tuple of str
        Meters whose voltages scored the candidates.
    meters_missing : tuple of str
        Meters of the feeder's island that reported nothing usable.
    """

    from_bus: str
    to_bus: str
    line: str
    distance_m: float
    kind: FaultKind
    resistance_ohm: float
    candidates: tuple[Candidate, ...]
    ambiguous: bool
    reasons: tuple[str, ...]
    meters_used: tuple[str, ...]
    meters_missing: tuple[str, ...]


def locate(
    feeder: FeederModel,
    prefault: ArrayLike,
    fault: ArrayLike,
    voltages: Mapping[str, ArrayLike] | None = None,
    *,
    kind: str | FaultKind | None = None,
    prefault_voltages: Mapping[str, ArrayLike] | None = None,
) -> FaultLocation:
    """Locate a fault on the feeder of a head meter.

    Parameters
    ----------
    feeder : FeederModel
        The feeder, built once per topology from the grid (``FeederModel(grid, "M1")``).
    prefault, fault : array_like of complex, shape (6,)
        The head meter's phasors Va, Vb, Vc (primary V, phase to earth) and Ia, Ib, Ic
        (primary A, into the measured line) before and during the fault, on one time base,
        as :class:`gridedge.meter.faults.FaultEvent` delivers them.
    voltages : mapping of str to array_like, optional
        Meter id -> phase-voltage magnitudes (3,) during the fault, primary V RMS, from the
        meters downstream (sparse: any subset; NaN for a phase not reported). Meters outside
        the head meter's island and the head meter itself are ignored.
    kind : str or FaultKind, optional
        The fault kind (``"a-g"``, ``"b-c"``, ``"b-c-g"``, ``"a-b-c"`` ...); classified from the
        phasors when not given, and checked against them when given.
    prefault_voltages : mapping of str to array_like, optional
        Meter id -> positive-sequence (or mean phase) voltage magnitude before the fault,
        primary V; replaces the power-flow magnitude of that meter's bus in the prediction.

    Returns
    -------
    FaultLocation

    Raises
    ------
    InvalidInputError
        Phasors of the wrong shape or not finite (naming the channel), no fault current, an
        unknown meter id, or magnitudes of the wrong shape.
    FaultLocationError
        No point of the feeder explains the phasors (for example, the fault is not on this
        feeder).
    """
    before = phasor_set(prefault, "prefault")
    during = phasor_set(fault, "fault")
    classified = classify(before, during, feeder.classification)
    reasons = []
    if kind is None:
        fault_kind = classified
    else:
        fault_kind = FaultKind.parse(kind)
        if fault_kind != classified:
            reasons.append(
                f"fault kind {fault_kind} was given but the phasors look like {classified}"
            )
    measured, used, missing = _magnitudes(feeder, voltages)
    meter_prefault = _meter_prefault(feeder, prefault_voltages)
    phases = sum(1 << p for p in fault_kind.phases)
    section, fraction, resistance, _, mismatch, observed = feeder.kernel.locate(
        _per_unit(feeder, during),
        _per_unit(feeder, before),
        phases,
        fault_kind.earthed,
        measured,
        meter_prefault,
    )
    resistance_ohm = resistance * feeder.impedance_base_ohm
    keep = np.isfinite(resistance_ohm) & (resistance_ohm >= feeder.settings.min_resistance_ohm)
    if not keep.any():
        raise FaultLocationError(
            f"no point of the feeder of meter {feeder.head_meter.id!r} explains the phasors "
            f"as a {fault_kind} fault ({section.shape[0]} resistive points, none with a "
            "plausible fault resistance): the fault may lie elsewhere"
        )
    candidates = _rank(
        feeder, section[keep], fraction[keep], resistance_ohm[keep], mismatch[keep], observed[keep]
    )
    reasons += _ambiguities(feeder, candidates, mismatch[keep], observed[keep])
    best = candidates[0]
    if reasons:
        logger.info("fault location of meter %s is ambiguous: %s", feeder.head_meter.id, reasons)
    return FaultLocation(
        from_bus=best.from_bus,
        to_bus=best.to_bus,
        line=best.line,
        distance_m=best.distance_m,
        kind=fault_kind,
        resistance_ohm=best.resistance_ohm,
        candidates=candidates,
        ambiguous=bool(reasons),
        reasons=tuple(reasons),
        meters_used=used,
        meters_missing=missing,
    )


def _per_unit(feeder: FeederModel, phasors: NDArray[np.complex128]) -> NDArray[np.complex128]:
    """Head phasors (6,) to sequence voltage and current rows (2, 3), p.u."""
    rows = phasors.reshape(2, 3) / np.array([[feeder.voltage_base_v], [feeder.current_base_a]])
    return np.ascontiguousarray(to_sequence(rows))


def _magnitudes(
    feeder: FeederModel, voltages: Mapping[str, ArrayLike] | None
) -> tuple[NDArray[np.float64], tuple[str, ...], tuple[str, ...]]:
    """Measured magnitudes (m, 3) in p.u. (NaN = missing), meters used, meters missing."""
    measured = np.full((len(feeder.meters), 3), np.nan)
    index = {meter: i for i, meter in enumerate(feeder.meters)}
    for meter_id, values in (voltages or {}).items():
        feeder.grid.meter(meter_id)
        row = index.get(meter_id)
        if row is None:
            continue
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (3,):
            raise InvalidInputError(
                f"meter {meter_id!r}: voltages must be three phase magnitudes, got shape "
                f"{array.shape}"
            )
        usable = np.isfinite(array) & (array >= 0)
        measured[row] = np.where(usable, array / feeder.meter_voltage_base_v[row], np.nan)
    seen = ~np.isnan(measured).all(axis=1)
    used = tuple(m for m, s in zip(feeder.meters, seen, strict=True) if s)
    missing = tuple(m for m, s in zip(feeder.meters, seen, strict=True) if not s)
    return measured, used, missing


def _meter_prefault(
    feeder: FeederModel, prefault_voltages: Mapping[str, ArrayLike] | None
) -> NDArray[np.complex128]:
    """Model pre-fault voltages of the scoring meters, rescaled to measured magnitudes."""
    result = feeder.meter_prefault.copy()
    index = {meter: i for i, meter in enumerate(feeder.meters)}
    for meter_id, value in (prefault_voltages or {}).items():
        feeder.grid.meter(meter_id)
        row = index.get(meter_id)
        magnitude = float(np.asarray(value, dtype=np.float64))
        if row is None or not np.isfinite(magnitude) or magnitude <= 0:
            continue
        result[row] *= magnitude / feeder.meter_voltage_base_v[row] / abs(result[row])
    return result


def _rank(
    feeder: FeederModel,
    section: NDArray[np.int64],
    fraction: NDArray[np.float64],
    resistance_ohm: NDArray[np.float64],
    mismatch: NDArray[np.float64],
    observed: NDArray[np.int64],
) -> tuple[Candidate, ...]:
    """Candidates, best first: by mismatch, then nearest the head (walking order)."""
    rms = np.where(observed > 0, np.sqrt(mismatch / np.maximum(observed, 1)), np.nan)
    order = np.lexsort((fraction, section, np.nan_to_num(mismatch, nan=0.0)))
    candidates = []
    for c in order:
        part = feeder.sections[int(section[c])]
        candidates.append(
            Candidate(
                line=part.line,
                from_bus=part.from_bus,
                to_bus=part.to_bus,
                distance_m=float(fraction[c] * part.length_m),
                resistance_ohm=max(float(resistance_ohm[c]), 0.0),
                mismatch_pu=float(rms[c]),
            )
        )
    return tuple(candidates)


def _ambiguities(
    feeder: FeederModel,
    candidates: tuple[Candidate, ...],
    mismatch: NDArray[np.float64],
    observed: NDArray[np.int64],
) -> list[str]:
    """Reasons not to trust the best candidate (an empty list when it stands out)."""
    settings = feeder.settings
    best = candidates[0]
    distinct = [c for c in candidates[1:] if not _same_point(feeder, best, c)]
    if int(observed.max(initial=0)) == 0:
        if distinct:
            return [
                f"{len(distinct) + 1} candidate points and no meter voltages to tell them apart"
            ]
        return []
    reasons = []
    sigma = settings.voltage_sigma_pu
    if best.mismatch_pu > settings.misfit_sigma * sigma:
        reasons.append(
            f"even the best candidate misses the meters' voltages by {best.mismatch_pu:.3g} p.u. "
            f"RMS (more than {settings.misfit_sigma:g} x {sigma:g})"
        )
    count = int(observed.max())
    best_ssr = best.mismatch_pu**2 * count
    close = [
        c
        for c in distinct
        if (c.mismatch_pu**2 * count - best_ssr) / sigma**2 < settings.ambiguity_chi2
    ]
    if close:
        names = ", ".join(f"{c.from_bus}-{c.to_bus} at {c.distance_m:.0f} m" for c in close)
        reasons.append(f"the meters' voltages fit {names} about as well")
    return reasons


def _same_point(feeder: FeederModel, one: Candidate, other: Candidate) -> bool:
    """Whether two candidates lie within ``same_point_m`` of one bus."""
    return bool(_near_buses(feeder, one) & _near_buses(feeder, other))


def _near_buses(feeder: FeederModel, candidate: Candidate) -> set[str]:
    reach = feeder.settings.same_point_m
    length = next(s.length_m for s in feeder.sections if s.line == candidate.line)
    near = set()
    if candidate.distance_m <= reach:
        near.add(candidate.from_bus)
    if length - candidate.distance_m <= reach:
        near.add(candidate.to_bus)
    return near
