"""Impedance-based fault location with sparse voltage measurements (Estebsari et al. 2016).

Method
------
The head meter's pre-fault and during-fault phasors, in per-unit sequence quantities, are
walked down every section of the feeder, laterals included, with everything off the path
drawing its pre-fault constant admittance (load compensation). At a point x of a section this
gives the voltage and the fault current there - what arrives at x minus what the feeder beyond
x draws, during the fault minus before it (Takagi's superimposed current) - and so the fault
loop of the fault kind: a-g: V_a and I_a; b-c and b-c-g: V_b - V_c and I_b - I_c; a-b-c: the
positive sequence. At the fault the loop is a resistance::

    X(x) = Im(V_loop(x) / I_loop(x)) = 0,    R_f = Re(V_loop / I_loop)

(times 2 between the phases of a two-phase fault without earth). On a single unloaded section
this is the reactance method with the zero-sequence compensated loop current; the walk makes
it exact for the pi model of the feeder.

Two more kinds of evidence come from voltages. A fault at x drawing I_f changes the voltage
at bus i by ``-Z_i,f I_f`` (transfer impedances of the grid's sequence Z-bus): the other
meters report their phase-voltage magnitudes, and the head meter its own voltage change. Each
point is scored with the weighted squares - a chi-square when the standard deviations are
right - of X(x), of the head's measured change against ``-Z_h,f I_f`` and of the measured
magnitudes against ``|V_i,pre - Z_i,f I_f|``, and the score is minimised on every section. Two
errors are common to all of them and are fitted at every point as nuisance parameters with
their priors: the fault current's relative error s (the head's current noise), and the
relative error e of the impedance behind the head (the source), which scales the part
``(Z_i,h / Z_h,h) Z_h,f I_f`` of every sag that passes through the head's bus - the head's
measured sag pins that part down, so the location does not rest on the model's source
impedance. The loop reactance moves with s and with the head's voltage noise as the
measurements make it move; its own weight is only the model's error. On a short cable with a
high fault resistance X(x) moves little along the section and the voltages pin the fault
down; on a bolted fault X(x) is sharp. The lowest minimum is the location; the others are the
candidates.

The result is flagged ambiguous - never silently confident - when a candidate on another
section (and not at the same bus) scores within ``ambiguity_chi2`` of the best (several
laterals at one electrical distance and no meter to tell them apart, for example), when even
the best one does not explain the measurements, or when the given fault kind does not match
the phasors.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridedge.channels import CHANNELS
from gridedge.errors import FaultLocationError, InvalidInputError
from gridedge.grid import FaultKind
from gridedge.grid.sequence import to_phases, to_sequence
from gridedge.meter.faults.classification import classify, phasor_set
from gridedge.meter.faults.feeder import FeederModel
from gridedge.meter.faults.interval import IntervalPhasors, VoltageReport

logger = logging.getLogger(__name__)

_TINY_SIGMA = 1e-12
"""Floor of a current part's variance, p.u.^2 (no fault current in the loop)."""


@dataclass(frozen=True)
class Candidate:
    """A point of the feeder that may explain the measurements.

    Attributes
    ----------
    line : str
    from_bus, to_bus : str
        The section's bus pair, the one nearer the head meter first.
    distance_m : float
        Distance from `from_bus` along the line, metres.
    distance_sigma_m : float
        Its standard deviation, metres, from the score's curvature (inf where the score
        does not curve upwards). On a section open at its far end, where no meter lies beyond
        the fault, only the head's loop reactance places it, and this says how well.
    resistance_ohm : float
        Estimated fault resistance, ohm (clipped at 0).
    score : float
        Weighted sum of squares of the loop reactance and the voltage-magnitude differences
        (a chi-square with the right standard deviations); lower is better.
    mismatch_pu : float
        RMS difference between the measured and predicted phase-voltage magnitudes of the
        other meters, p.u.; NaN when no meter reported.
    """

    line: str
    from_bus: str
    to_bus: str
    distance_m: float
    distance_sigma_m: float
    resistance_ohm: float
    score: float
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
    distance_sigma_m : float
        Its standard deviation, metres (see :attr:`Candidate.distance_sigma_m`).
    kind : FaultKind
        The fault kind used (given, or classified from the phasors).
    resistance_ohm : float
        Estimated fault resistance, ohm.
    candidates : tuple of Candidate
        Every candidate scoring within ``candidate_chi2`` of the best, best first (the first
        is the location above).
    ambiguous : bool
        True when the location should not be acted on without more evidence; `reasons` says
        why.
    reasons : tuple of str
    sections : tuple of str
        The lines that hold the fault as far as the measurements tell, `line` first:
        isolating them all isolates it. `line` alone, or with the lines across the bus the
        fault is at when it may be on either side (the only doubt that leaves a location
        ambiguous and still isolable); empty when the location is ambiguous otherwise.
    meters_used : tuple of str
        Meters whose voltages scored the candidates.
    meters_missing : tuple of str
        Meters of the feeder's island that reported nothing usable.
    """

    from_bus: str
    to_bus: str
    line: str
    distance_m: float
    distance_sigma_m: float
    kind: FaultKind
    resistance_ohm: float
    candidates: tuple[Candidate, ...]
    ambiguous: bool
    reasons: tuple[str, ...]
    sections: tuple[str, ...]
    meters_used: tuple[str, ...]
    meters_missing: tuple[str, ...]


def locate(
    feeder: FeederModel,
    prefault: ArrayLike,
    fault: ArrayLike,
    voltages: Mapping[str, ArrayLike] | None = None,
    *,
    kind: str | FaultKind | None = None,
    uncertainty: ArrayLike | None = None,
    voltage_uncertainty: Mapping[str, ArrayLike] | None = None,
    prefault_voltages: Mapping[str, float] | None = None,
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
        Meter id -> phase-voltage magnitudes (3,) during the fault, primary V RMS, from
        meters downstream (sparse: any subset; NaN for a phase not reported). Meters outside
        the head meter's island, and the head meter itself, are ignored.
    kind : str or FaultKind, optional
        The fault kind (``"a-g"``, ``"b-c"``, ``"b-c-g"``, ``"a-b-c"`` ...); classified from
        the phasors when not given, and checked against them when given.
    uncertainty : array_like of float, shape (2, 6) or (6,), optional
        Standard deviations (RMS of the complex error) of the head's voltages Va, Vb, Vc and
        currents Ia, Ib, Ic, primary V and A: of the fault set (row 0) and of the pre-fault
        set (row 1) (:attr:`IntervalPhasors.uncertainty`, :attr:`FaultEvent.uncertainty`);
        or, shape (6,), of the fault set alone (the pre-fault set taken as exact). From the
        settings when not given.
    voltage_uncertainty : mapping of str to array_like, optional
        Meter id -> standard deviations (3,) of its magnitudes in `voltages`, V (with the
        error of its `prefault_voltages` entry, when given); from the settings for meters
        not in it.
    prefault_voltages : mapping of str to float, optional
        Meter id -> positive-sequence voltage magnitude before the fault, primary V; replaces
        the power-flow magnitude of that meter's bus in the prediction.

    Returns
    -------
    FaultLocation

    Raises
    ------
    InvalidInputError
        Phasors of the wrong shape or not finite (naming the channel), no fault current, an
        unknown meter id, or magnitudes of the wrong shape.
    FaultLocationError
        No point of the feeder explains the phasors as a fault of that kind with a
        plausible resistance (for example, the fault is not on this feeder).
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
    measured, weight, used, missing = _magnitudes(feeder, voltages, voltage_uncertainty)
    head_during, head_before = _per_unit(feeder, during), _per_unit(feeder, before)
    noise = _head_noise(feeder, fault_kind, head_during, head_before, uncertainty)
    settings = feeder.settings
    section, fraction, resistance, _, score, _, mismatch, spread = feeder.kernel.locate(
        head_during,
        head_before,
        sum(1 << p for p in fault_kind.phases),
        fault_kind.earthed,
        measured,
        weight,
        _meter_prefault(feeder, prefault_voltages),
        noise.head_weight,
        noise.current_weight,
        noise.current_share,
        noise.voltage_variance,
        noise.voltage_share,
        2.0 / settings.source_impedance_sigma**2,
        (feeder.impedance_base_ohm / settings.reactance_sigma_ohm) ** 2,
    )
    resistance_ohm = resistance * feeder.impedance_base_ohm
    plausible = np.isfinite(score) & (resistance_ohm >= feeder.settings.min_resistance_ohm)
    if not plausible.any():
        raise FaultLocationError(
            f"no point of the feeder of meter {feeder.head_meter.id!r} explains the phasors as "
            f"a {fault_kind} fault with a plausible fault resistance: the fault may lie elsewhere"
        )
    best_score = float(score[plausible].min())
    chosen = np.flatnonzero(plausible & (score <= best_score + feeder.settings.candidate_chi2))
    chosen = chosen[np.argsort(score[chosen], kind="stable")]
    observations = int((~np.isnan(measured)).sum())
    candidates = tuple(
        _candidate(
            feeder,
            section[c],
            (fraction[c], spread[c]),
            resistance_ohm[c],
            score[c],
            mismatch[c],
            observations,
        )
        for c in chosen
    )
    best = candidates[0]
    elsewhere, across = _rivals(feeder, candidates)
    reasons += _ambiguities(feeder, best, elsewhere, observations)
    sections = () if reasons else (best.line, *across)
    if across:
        bus = sorted(_near_buses(feeder, best))[0]
        reasons.append(
            f"the fault is at bus {bus} as far as the measurements tell, which joins "
            f"{best.line} and {', '.join(across)}: it may be on either side"
        )
    if reasons:
        logger.info("fault location of meter %s is ambiguous: %s", feeder.head_meter.id, reasons)
    return FaultLocation(
        from_bus=best.from_bus,
        to_bus=best.to_bus,
        line=best.line,
        distance_m=best.distance_m,
        distance_sigma_m=best.distance_sigma_m,
        kind=fault_kind,
        resistance_ohm=best.resistance_ohm,
        candidates=candidates,
        ambiguous=bool(reasons),
        reasons=tuple(reasons),
        sections=sections,
        meters_used=used,
        meters_missing=missing,
    )


def locate_reported(
    feeder: FeederModel,
    phasors: IntervalPhasors,
    reports: Mapping[str, VoltageReport],
    *,
    kind: str | FaultKind | None = None,
) -> FaultLocation:
    """Locate from a head meter's interval fit and the downstream meters' reports of it.

    :func:`locate` with the phasors and standard errors of
    :func:`gridedge.meter.faults.interval.estimate` and, per meter, the magnitudes, their
    standard errors and the pre-fault voltage of its
    :func:`~gridedge.meter.faults.interval.voltage_report` over the same intervals: what the
    ``fault-detector`` built-in does with its ``fault-reporter`` meters' answers.
    """
    return locate(
        feeder,
        phasors.prefault,
        phasors.fault,
        {m: r.voltages for m, r in reports.items()},
        kind=kind,
        uncertainty=phasors.uncertainty,
        voltage_uncertainty={m: r.sigma for m, r in reports.items()},
        prefault_voltages={m: r.prefault_voltage for m, r in reports.items()},
    )


def _per_unit(feeder: FeederModel, phasors: NDArray[np.complex128]) -> NDArray[np.complex128]:
    """Head phasors (6,) to sequence voltage and current rows (2, 3), p.u."""
    rows = phasors.reshape(2, 3) / np.array([[feeder.voltage_base_v], [feeder.current_base_a]])
    return np.ascontiguousarray(to_sequence(rows))


@dataclass(frozen=True)
class _HeadNoise:
    """The head's errors as the kernel weighs them (see its ``locate``), p.u."""

    head_weight: NDArray[np.float64]
    current_weight: NDArray[np.float64]
    current_share: NDArray[np.float64]
    voltage_variance: float
    voltage_share: float


def _head_noise(
    feeder: FeederModel,
    kind: FaultKind,
    during: NDArray[np.complex128],
    before: NDArray[np.complex128],
    uncertainty: ArrayLike | None,
) -> _HeadNoise:
    """The head's errors: weights of its voltage change and of the fault current's parts.

    A circular complex error of variance sigma^2 puts half of it in each part: the weights
    are two over the variance. A fault current part's relative error is its error over its
    current (the superimposed current at the head): the loop current, or for a two-phase
    fault with earth each faulted phase's current.
    """
    if uncertainty is None:
        fault_sigma = np.concatenate(
            [
                np.full(3, feeder.settings.head_voltage_sigma_pu * feeder.voltage_base_v),
                np.full(3, feeder.settings.head_current_sigma_a),
            ]
        )
        sigma = np.stack([fault_sigma, np.zeros(len(CHANNELS))])
    else:
        sigma = np.asarray(uncertainty, dtype=np.float64)
        if sigma.shape == (len(CHANNELS),):
            sigma = np.stack([sigma, np.zeros(len(CHANNELS))])
        if sigma.shape != (2, len(CHANNELS)) or not np.all(np.isfinite(sigma) & (sigma >= 0)):
            raise InvalidInputError(
                f"uncertainty must hold {len(CHANNELS)} finite standard deviations >= 0, or "
                f"two rows of them, got {sigma!r}"
            )
    base = np.array([feeder.voltage_base_v] * 3 + [feeder.current_base_a] * 3)
    variance = (sigma / base) ** 2  # rows: fault set, pre-fault set
    model = feeder.settings.model_sigma
    total = variance.sum(axis=0)
    total[:3] += model**2  # p.u. of the nominal voltage
    current = to_phases(during[1] - before[1])
    phases = list(kind.phases)
    if len(phases) == 3:
        # The positive sequence: a ninth of each phase's variance.
        coefficient = np.full(3, 1.0 / 9.0)
        parts = [(during[1, 1] - before[1, 1], coefficient)] * 2
    else:
        coefficient = np.zeros(3)
        coefficient[phases] = 1.0
        if len(phases) == 2 and kind.earthed:
            parts = [(current[p], np.eye(3)[p]) for p in phases]
        else:
            loop = current[phases[0]] - (current[phases[1]] if len(phases) == 2 else 0.0)
            parts = [(loop, coefficient)] * 2
    current_weight, current_share = [], []
    for value, weights in parts:
        # The model's share is relative to the current; a floor keeps the weight finite.
        part_variance = max(weights @ total[3:] + (model * abs(value)) ** 2, _TINY_SIGMA**2)
        current_weight.append(2.0 * abs(value) ** 2 / part_variance)
        current_share.append(min(weights @ variance[1, 3:] / part_variance, 1.0))
    voltage_variance = float(coefficient @ total[:3])
    return _HeadNoise(
        head_weight=2.0 / total[:3],
        current_weight=np.array(current_weight),
        current_share=np.array(current_share),
        voltage_variance=voltage_variance,
        voltage_share=float(coefficient @ variance[1, :3] / voltage_variance)
        if voltage_variance > 0
        else 0.0,
    )


def _magnitudes(
    feeder: FeederModel,
    voltages: Mapping[str, ArrayLike] | None,
    uncertainty: Mapping[str, ArrayLike] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[str, ...], tuple[str, ...]]:
    """Measured magnitudes (m, 3) p.u. (NaN = missing), their weights, meters used, missing."""
    base = feeder.meter_voltage_base_v[:, None]
    measured = np.full((len(feeder.meters), 3), np.nan)
    rows, values = _per_meter(feeder, voltages, "voltages")
    measured[rows] = np.where(np.isfinite(values) & (values >= 0), values, np.nan) / base[rows]
    sigma = np.full((len(feeder.meters), 3), feeder.settings.voltage_sigma_pu)
    rows, values = _per_meter(feeder, uncertainty, "voltage_uncertainty")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise InvalidInputError(
            f"voltage_uncertainty must be finite and > 0, got {values.tolist()}"
        )
    sigma[rows] = values / base[rows]
    sigma = np.hypot(sigma, feeder.settings.model_sigma)
    seen = ~np.isnan(measured).all(axis=1)
    used = tuple(m for m, s in zip(feeder.meters, seen, strict=True) if s)
    missing = tuple(m for m, s in zip(feeder.meters, seen, strict=True) if not s)
    return measured, 1.0 / sigma**2, used, missing


def _per_meter(
    feeder: FeederModel, values: Mapping[str, ArrayLike] | None, name: str
) -> tuple[list[int], NDArray[np.float64]]:
    """Rows of the scoring meters in `values` and their three phase values (k, 3).

    Meters that cannot score (outside the island, the head meter) are left out; an unknown
    meter id is an error, not a silent skip.
    """
    rows, kept = [], []
    for meter_id, value in (values or {}).items():
        row = _meter_row(feeder, meter_id)
        if row is None:
            continue
        array = np.asarray(value, dtype=np.float64)
        if array.shape != (3,):
            raise InvalidInputError(
                f"meter {meter_id!r}: {name} must hold three phase values, got shape {array.shape}"
            )
        rows.append(row)
        kept.append(array)
    return rows, np.array(kept, dtype=np.float64).reshape(-1, 3)


def _meter_row(feeder: FeederModel, meter_id: str) -> int | None:
    """Row of a scoring meter; None for a known meter that cannot score."""
    row = feeder.meter_row.get(meter_id)
    if row is None:
        feeder.grid.meter(meter_id)
    return row


def _meter_prefault(
    feeder: FeederModel, prefault_voltages: Mapping[str, float] | None
) -> NDArray[np.complex128]:
    """Model pre-fault voltages of the scoring meters, rescaled to measured magnitudes."""
    result = feeder.meter_prefault.copy()
    for meter_id, value in (prefault_voltages or {}).items():
        row = _meter_row(feeder, meter_id)
        magnitude = float(value)
        if row is None or not np.isfinite(magnitude) or magnitude <= 0:
            continue
        result[row] *= magnitude / feeder.meter_voltage_base_v[row] / abs(result[row])
    return result


def _candidate(
    feeder: FeederModel,
    section: int,
    position: tuple[float, float],
    resistance_ohm: float,
    score: float,
    mismatch: float,
    observations: int,
) -> Candidate:
    """A candidate from the kernel's section, (fraction, its standard deviation) and score."""
    part = feeder.sections[int(section)]
    fraction, spread = position
    return Candidate(
        line=part.line,
        from_bus=part.from_bus,
        to_bus=part.to_bus,
        distance_m=float(fraction * part.length_m),
        distance_sigma_m=float(spread * part.length_m),
        resistance_ohm=max(float(resistance_ohm), 0.0),
        score=float(score),
        mismatch_pu=float(np.sqrt(mismatch / observations)) if observations else float("nan"),
    )


def _ambiguities(
    feeder: FeederModel, best: Candidate, elsewhere: list[Candidate], observations: int
) -> list[str]:
    """Reasons not to trust `best` but the bus it may be at: rivals `elsewhere`, a poor fit."""
    settings = feeder.settings
    reasons = []
    if elsewhere:
        names = ", ".join(f"{c.from_bus}-{c.to_bus} at {c.distance_m:.0f} m" for c in elsewhere)
        evidence = "the meters' voltages" if observations else "no meter voltages, and the phasors"
        reasons.append(f"{evidence} fit {names} about as well")
    if best.score / (observations + 1) > settings.misfit_chi2:
        reasons.append(
            f"even the best candidate explains the measurements poorly (score {best.score:.3g} "
            f"over {observations + 1} observations)"
        )
    return reasons


def _rivals(
    feeder: FeederModel, candidates: tuple[Candidate, ...]
) -> tuple[list[Candidate], list[str]]:
    """Rivals of the best candidate: those elsewhere, and the sections of those at its bus.

    A rival is a candidate on another section that scores about as well.
    """
    # Points of the best section only refine the distance; another section is another answer,
    # even at the bus the two share: isolating the wrong one of them leaves the fault on.
    best = candidates[0]
    rivals = [
        c
        for c in candidates[1:]
        if c.score - best.score < feeder.settings.ambiguity_chi2 and c.line != best.line
    ]
    elsewhere = [c for c in rivals if not _same_point(feeder, best, c)]
    across = sorted({c.line for c in rivals if _same_point(feeder, best, c)})
    return elsewhere, across


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
