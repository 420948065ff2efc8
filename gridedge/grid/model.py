"""The grid model: frozen dataclasses for buses, branches, switches, loads, sources and meters.

Every element has a string id. Buses carry the nominal line-to-line voltage; every other
element refers to buses (and branches) by id. A :class:`Grid` checks, when it is built, that
each element is physically meaningful and that every reference resolves, and raises one
:class:`~gridedge.errors.InvalidInputError` naming each offending element and field, so a
grid that exists is a grid the solvers can use.

Units: kV (line-to-line), km, ohm/km, nF/km, A, MVA, kW, kvar, percent on the transformer
rating. Loads are balanced three-phase consumers (positive P and Q absorb power).
"""

import functools
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any, Literal

from gridedge.channels import CHANNELS
from gridedge.errors import InvalidInputError

Winding = Literal["D", "Y", "YN"]

MEASURED_QUANTITIES = ("v", "va", "p", "q", "i", "ia")
"""Quantities a :class:`Measurement` can hold (pandapower's measurement types)."""

_VECTOR_GROUP = re.compile(r"^(D|Y|YN)(d|y|yn|z|zn)(\d{1,2})$", re.IGNORECASE)


class _Problems:
    """Collects validation problems so that one error lists all of them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_if_any(self, what: str) -> None:
        if self.messages:
            shown = "\n  ".join(self.messages[:20])
            more = len(self.messages) - 20
            tail = f"\n  ... and {more} more" if more > 0 else ""
            raise InvalidInputError(f"invalid {what}:\n  {shown}{tail}")


def _label(element: Any) -> str:
    return f"{type(element).__name__.lower()} {element.id!r}"


def _check_number(
    problems: _Problems,
    element: Any,
    name: str,
    *,
    low: float | None = None,
    low_inclusive: bool = True,
    high: float | None = None,
    optional: bool = False,
) -> None:
    """Record a problem unless ``element.name`` is a finite number within the bounds."""
    value = getattr(element, name)
    if value is None and optional:
        return
    where = f"{_label(element)}: {name}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(f"{where} must be a number, got {value!r}")
        return
    if not math.isfinite(value):
        problems.add(f"{where} must be finite, got {value!r}")
        return
    if low is not None and (value < low or (value == low and not low_inclusive)):
        relation = ">=" if low_inclusive else ">"
        problems.add(f"{where} must be {relation} {low:g}, got {value!r}")
    if high is not None and value > high:
        problems.add(f"{where} must be <= {high:g}, got {value!r}")


def _check_id(problems: _Problems, element: Any, name: str = "id", optional: bool = False) -> None:
    value = getattr(element, name)
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        label = f"{type(element).__name__.lower()} {getattr(element, 'id', '?')!r}"
        problems.add(f"{label}: {name} must be a non-empty string, got {value!r}")


def _finish(element: Any, checks: _Problems) -> None:
    checks.raise_if_any(_label(element) if isinstance(element.id, str) else "element")


@dataclass(frozen=True)
class Bus:
    """A node of the grid.

    Attributes
    ----------
    id : str
        Unique bus id.
    kv : float
        Nominal line-to-line voltage, kV; the per-unit base of the bus.
    xy : tuple of float, optional
        Drawing coordinates (any unit, x to the right, y up).
    name : str
        Free text.
    """

    id: str
    kv: float
    xy: tuple[float, float] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        problems = _Problems()
        _check_id(problems, self)
        _check_number(problems, self, "kv", low=0.0, low_inclusive=False)
        if self.xy is not None:
            xy = tuple(self.xy)
            if len(xy) != 2 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in xy
            ):
                problems.add(f"{_label(self)}: xy must be two finite numbers, got {self.xy!r}")
            else:
                object.__setattr__(self, "xy", (float(xy[0]), float(xy[1])))
        _finish(self, problems)


@dataclass(frozen=True)
class Line:
    """A three-phase line or cable, modelled as a pi section per sequence.

    Attributes
    ----------
    id : str
        Unique branch id (shared namespace with transformers and switches).
    from_bus, to_bus : str
        Bus ids of the two ends.
    length_km : float
        Length, km; > 0.
    r1_ohm_per_km, x1_ohm_per_km : float
        Positive-sequence series resistance and reactance, ohm/km (negative sequence equal).
    c1_nf_per_km : float
        Positive-sequence shunt capacitance, nF/km.
    r0_ohm_per_km, x0_ohm_per_km, c0_nf_per_km : float
        Zero-sequence counterparts.
    ampacity_a : float, optional
        Continuous current rating, A.
    name : str
        Free text.
    """

    id: str
    from_bus: str
    to_bus: str
    length_km: float
    r1_ohm_per_km: float
    x1_ohm_per_km: float
    c1_nf_per_km: float
    r0_ohm_per_km: float
    x0_ohm_per_km: float
    c0_nf_per_km: float
    ampacity_a: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        problems = _Problems()
        _check_id(problems, self)
        _check_id(problems, self, "from_bus")
        _check_id(problems, self, "to_bus")
        _check_number(problems, self, "length_km", low=0.0, low_inclusive=False)
        for name in ("r1_ohm_per_km", "x1_ohm_per_km", "c1_nf_per_km"):
            _check_number(problems, self, name, low=0.0)
        for name in ("r0_ohm_per_km", "x0_ohm_per_km", "c0_nf_per_km"):
            _check_number(problems, self, name, low=0.0)
        _check_number(problems, self, "ampacity_a", low=0.0, low_inclusive=False, optional=True)
        if not problems.messages:
            if self.r1_ohm_per_km == 0 and self.x1_ohm_per_km == 0:
                problems.add(f"{_label(self)}: r1_ohm_per_km and x1_ohm_per_km are both zero")
            if self.r0_ohm_per_km == 0 and self.x0_ohm_per_km == 0:
                problems.add(f"{_label(self)}: r0_ohm_per_km and x0_ohm_per_km are both zero")
            if self.from_bus == self.to_bus:
                problems.add(f"{_label(self)}: from_bus and to_bus are both {self.to_bus!r}")
        _finish(self, problems)

    @property
    def buses(self) -> tuple[str, str]:
        """The two end buses."""
        return (self.from_bus, self.to_bus)


@dataclass(frozen=True)
class Transformer:
    """A two-winding three-phase transformer.

    Attributes
    ----------
    id : str
        Unique branch id.
    hv_bus, lv_bus : str
        Bus ids of the high- and low-voltage sides.
    sn_mva : float
        Rated power, MVA.
    hv_kv, lv_kv : float
        Rated line-to-line voltages, kV; their ratio against the buses' nominal voltages is
        the (fixed) off-nominal tap.
    uk_percent, ukr_percent : float
        Short-circuit voltage and its resistive part, percent of rated voltage.
    vector_group : str
        IEC vector group, for example ``"Dyn11"``, ``"YNyn0"``, ``"YNd5"``: winding
        connections (D, Y, YN on the high side; d, y, yn on the low side) and the clock
        number k (low-side positive-sequence voltage lags by k x 30 degrees).
    uk0_percent, ukr0_percent : float, optional
        Zero-sequence short-circuit voltage and its resistive part; equal to the positive
        sequence values when not given.
    pfe_kw : float
        Iron losses, kW.
    i0_percent : float
        No-load current, percent of rated current.
    hv_neutral_ohm, lv_neutral_ohm : float
        Earthing resistance of a YN / yn star point, ohm (0 = solidly earthed).
    name : str
        Free text.
    """

    id: str
    hv_bus: str
    lv_bus: str
    sn_mva: float
    hv_kv: float
    lv_kv: float
    uk_percent: float
    ukr_percent: float
    vector_group: str = "Dyn11"
    uk0_percent: float | None = None
    ukr0_percent: float | None = None
    pfe_kw: float = 0.0
    i0_percent: float = 0.0
    hv_neutral_ohm: float = 0.0
    lv_neutral_ohm: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        problems = _Problems()
        _check_id(problems, self)
        _check_id(problems, self, "hv_bus")
        _check_id(problems, self, "lv_bus")
        for name in ("sn_mva", "hv_kv", "lv_kv", "uk_percent"):
            _check_number(problems, self, name, low=0.0, low_inclusive=False)
        _check_number(problems, self, "uk0_percent", low=0.0, low_inclusive=False, optional=True)
        _check_number(problems, self, "ukr_percent", low=0.0)
        _check_number(problems, self, "ukr0_percent", low=0.0, optional=True)
        for name in ("pfe_kw", "i0_percent", "hv_neutral_ohm", "lv_neutral_ohm"):
            _check_number(problems, self, name, low=0.0)
        if not isinstance(self.vector_group, str) or not _VECTOR_GROUP.match(self.vector_group):
            problems.add(
                f"{_label(self)}: vector_group {self.vector_group!r} is not an IEC vector "
                "group like 'Dyn11', 'YNyn0' or 'YNd5'"
            )
        if not problems.messages:
            self._check_consistency(problems)
        _finish(self, problems)

    def _check_consistency(self, problems: _Problems) -> None:
        if self.ukr_percent >= self.uk_percent:
            problems.add(
                f"{_label(self)}: ukr_percent ({self.ukr_percent}) must be below uk_percent "
                f"({self.uk_percent})"
            )
        if self.ukr0 >= self.uk0:
            problems.add(
                f"{_label(self)}: ukr0_percent ({self.ukr0}) must be below uk0_percent ({self.uk0})"
            )
        if self.hv_kv <= self.lv_kv:
            problems.add(f"{_label(self)}: hv_kv ({self.hv_kv}) must exceed lv_kv ({self.lv_kv})")
        if self.hv_bus == self.lv_bus:
            problems.add(f"{_label(self)}: hv_bus and lv_bus are both {self.lv_bus!r}")
        if self.pfe_kw > 0 and self.pfe_kw / 10 / self.sn_mva > self.i0_percent:
            problems.add(
                f"{_label(self)}: pfe_kw ({self.pfe_kw}) needs i0_percent of at least "
                f"{self.pfe_kw / 10 / self.sn_mva:g}, got {self.i0_percent}"
            )
        high, low, clock = self.windings
        if low.startswith("Z"):
            problems.add(f"{_label(self)}: zigzag windings are not supported")
        elif (high == "D") == (low == "D") and clock % 2:
            problems.add(f"{_label(self)}: vector group {self.vector_group!r} needs an even clock")
        elif (high == "D") != (low == "D") and not clock % 2:
            problems.add(f"{_label(self)}: vector group {self.vector_group!r} needs an odd clock")

    @property
    def windings(self) -> tuple[str, str, int]:
        """High-side connection, low-side connection (upper case) and clock number."""
        match = _VECTOR_GROUP.match(self.vector_group)
        if match is None:  # construction rejects this; kept for type checkers
            raise InvalidInputError(f"{_label(self)}: bad vector_group {self.vector_group!r}")
        return match.group(1).upper(), match.group(2).upper(), int(match.group(3)) % 12

    @property
    def uk0(self) -> float:
        """Zero-sequence short-circuit voltage, percent."""
        return self.uk_percent if self.uk0_percent is None else self.uk0_percent

    @property
    def ukr0(self) -> float:
        """Resistive part of the zero-sequence short-circuit voltage, percent."""
        return self.ukr_percent if self.ukr0_percent is None else self.ukr0_percent

    @property
    def buses(self) -> tuple[str, str]:
        """The two end buses (high side first)."""
        return (self.hv_bus, self.lv_bus)


@dataclass(frozen=True)
class Switch:
    """A switch between two buses, or at one end of a line or transformer.

    Attributes
    ----------
    id : str
        Unique branch id.
    bus : str
        The bus the switch sits at.
    to_bus : str, optional
        For a bus-bus switch: the other bus (same nominal voltage).
    branch : str, optional
        For a switch at a branch end: the line or transformer; `bus` must be one of its ends.
        Exactly one of `to_bus` and `branch` is given.
    closed : bool
        State in this grid.
    normally_closed : bool
        State in normal operation (False for a tie switch).
    remote : bool
        Whether it can be operated remotely.
    name : str
        Free text.
    """

    id: str
    bus: str
    to_bus: str | None = None
    branch: str | None = None
    closed: bool = True
    normally_closed: bool = True
    remote: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        problems = _Problems()
        _check_id(problems, self)
        _check_id(problems, self, "bus")
        _check_id(problems, self, "to_bus", optional=True)
        _check_id(problems, self, "branch", optional=True)
        if (self.to_bus is None) == (self.branch is None):
            problems.add(f"{_label(self)}: give exactly one of to_bus and branch")
        if self.to_bus is not None and self.to_bus == self.bus:
            problems.add(f"{_label(self)}: bus and to_bus are both {self.bus!r}")
        for name in ("closed", "normally_closed", "remote"):
            if not isinstance(getattr(self, name), bool):
                problems.add(f"{_label(self)}: {name} must be true or false")
        _finish(self, problems)


@dataclass(frozen=True)
class Load:
    """A balanced three-phase load (constant power in the power flow).

    Attributes
    ----------
    id : str
        Unique load id.
    bus : str
        Bus id.
    p_kw, q_kvar : float
        Active and reactive power absorbed, kW and kvar.
    profile : tuple of float
        Optional multipliers of P and Q over consecutive intervals of `profile_step_s`
        (for example 24 hourly values); empty means a constant load.
    profile_step_s : float
        Length of one profile interval, s.
    name : str
        Free text.
    """

    id: str
    bus: str
    p_kw: float
    q_kvar: float = 0.0
    profile: tuple[float, ...] = ()
    profile_step_s: float = 3600.0
    name: str = ""

    def __post_init__(self) -> None:
        problems = _Problems()
        _check_id(problems, self)
        _check_id(problems, self, "bus")
        _check_number(problems, self, "p_kw")
        _check_number(problems, self, "q_kvar")
        _check_number(problems, self, "profile_step_s", low=0.0, low_inclusive=False)
        profile = tuple(self.profile)
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            for v in profile
        ):
            problems.add(f"{_label(self)}: profile must hold finite numbers >= 0")
        else:
            object.__setattr__(self, "profile", tuple(float(v) for v in profile))
        _finish(self, problems)

    def multiplier(self, time_s: float) -> float:
        """Profile multiplier at `time_s` seconds after the profile start (cyclic); 1 if none."""
        if not self.profile:
            return 1.0
        step = math.floor(time_s / self.profile_step_s) % len(self.profile)
        return self.profile[step]


@dataclass(frozen=True)
class Source:
    """A primary-substation infeed: an ideal voltage behind its short-circuit impedance.

    The power flow holds the bus at `vm_pu` and `va_deg` (slack bus); fault analysis puts
    the Thevenin impedance given by `sk_mva` and the ratios behind it.

    Attributes
    ----------
    id : str
        Unique source id.
    bus : str
        Bus id.
    sk_mva : float
        Three-phase short-circuit power at the bus, MVA.
    rx_ratio : float
        R / X of the positive-sequence source impedance.
    x0_x1 : float
        X0 / X1 of the source impedance.
    r0_x0 : float
        R0 / X0 of the source impedance.
    vm_pu, va_deg : float
        Voltage magnitude (p.u.) and angle (degrees) held at the bus.
    name : str
        Free text.
    """

    id: str
    bus: str
    sk_mva: float
    rx_ratio: float = 0.1
    x0_x1: float = 1.0
    r0_x0: float = 0.1
    vm_pu: float = 1.0
    va_deg: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        problems = _Problems()
        _check_id(problems, self)
        _check_id(problems, self, "bus")
        _check_number(problems, self, "sk_mva", low=0.0, low_inclusive=False)
        for name in ("rx_ratio", "r0_x0"):
            _check_number(problems, self, name, low=0.0)
        _check_number(problems, self, "x0_x1", low=0.0, low_inclusive=False)
        _check_number(problems, self, "vm_pu", low=0.0, low_inclusive=False, high=2.0)
        _check_number(problems, self, "va_deg", low=-360.0, high=360.0)
        _finish(self, problems)


@dataclass(frozen=True)
class Meter:
    """Where a three-phase meter sits and what it measures.

    Attributes
    ----------
    id : str
        Unique meter id.
    bus : str
        Bus whose phase-to-earth voltages the meter measures.
    branch : str, optional
        Line or transformer whose current the meter measures, at its `bus` end, positive
        from the bus into the branch. Without it the meter measures voltages only.
    channels : tuple of str
        Channels wired, a subset of :data:`gridedge.channels.CHANNELS`.
    current_rating_a : float, optional
        Rated primary current of its current sensors, A RMS; their full scale is a multiple
        of it (:class:`gridedge.grid.daq.DaqSettings`). The measured branch's ampacity (or
        rated current) when not given. A meter that locates faults needs sensors that do not
        saturate at the feeder's largest fault current, which may be tens of times the
        cable's ampacity.
    name : str
        Free text.
    """

    id: str
    bus: str
    branch: str | None = None
    channels: tuple[str, ...] = CHANNELS
    current_rating_a: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        problems = _Problems()
        _check_id(problems, self)
        _check_id(problems, self, "bus")
        _check_id(problems, self, "branch", optional=True)
        channels = tuple(self.channels)
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown or not channels or len(set(channels)) != len(channels):
            problems.add(
                f"{_label(self)}: channels must be distinct names from {CHANNELS}, got "
                f"{list(channels)}"
            )
        elif self.branch is None and any(c.startswith("I") for c in channels):
            problems.add(f"{_label(self)}: current channels need a branch to measure")
        _check_number(
            problems, self, "current_rating_a", low=0.0, low_inclusive=False, optional=True
        )
        if self.current_rating_a is not None and self.branch is None:
            problems.add(f"{_label(self)}: current_rating_a needs a branch to measure")
        object.__setattr__(self, "channels", channels)
        _finish(self, problems)


@dataclass(frozen=True)
class Measurement:
    """A measurement for the state estimator (as in pandapower's ``net.measurement``).

    Attributes
    ----------
    id : str
        Unique measurement id.
    quantity : str
        One of :data:`MEASURED_QUANTITIES`: voltage magnitude ``v`` (p.u.), voltage angle
        ``va`` (degrees), active ``p`` (kW) and reactive ``q`` (kvar) power, current
        magnitude ``i`` (A) and angle ``ia`` (degrees). Powers at a bus are injections;
        on a branch they flow from `side` into the branch.
    element : str
        Bus id, or line / transformer id.
    value, std_dev : float
        Measured value and its standard deviation, in the unit of `quantity`.
    side : str, optional
        For a branch: the end bus the measurement is taken at.
    """

    id: str
    quantity: str
    element: str
    value: float
    std_dev: float
    side: str | None = None

    def __post_init__(self) -> None:
        problems = _Problems()
        _check_id(problems, self)
        _check_id(problems, self, "element")
        _check_id(problems, self, "side", optional=True)
        if self.quantity not in MEASURED_QUANTITIES:
            problems.add(
                f"{_label(self)}: quantity must be one of {MEASURED_QUANTITIES}, "
                f"got {self.quantity!r}"
            )
        _check_number(problems, self, "value")
        _check_number(problems, self, "std_dev", low=0.0, low_inclusive=False)
        _finish(self, problems)


Branch = Line | Transformer
Element = Bus | Line | Transformer | Switch | Load | Source | Meter | Measurement


@dataclass(frozen=True)
class Grid:
    """A distribution grid: the elements and their connections.

    Attributes
    ----------
    name : str
        Name of the grid.
    buses, lines, transformers, switches, loads, sources, meters, measurements : tuple
        The elements (lists are accepted and stored as tuples).
    frequency_hz : float
        Nominal frequency, Hz.

    Raises
    ------
    InvalidInputError
        Listing every duplicate id, unknown reference, inconsistent element and bus that
        no source can reach even with every switch closed.

    Notes
    -----
    Lines, transformers and switches share one id namespace (results are keyed by branch
    id); buses, loads, sources, meters and measurements have one each.
    """

    name: str
    buses: tuple[Bus, ...]
    lines: tuple[Line, ...] = ()
    transformers: tuple[Transformer, ...] = ()
    switches: tuple[Switch, ...] = ()
    loads: tuple[Load, ...] = ()
    sources: tuple[Source, ...] = ()
    meters: tuple[Meter, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    frequency_hz: float = 50.0
    _lookup: dict[str, dict[str, Any]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )
    _cache: dict[Any, Any] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for kind, cls in _KINDS.items():
            items = tuple(getattr(self, kind))
            for item in items:
                if not isinstance(item, cls):
                    raise InvalidInputError(
                        f"grid {self.name!r}: {kind} must hold {cls.__name__} objects, "
                        f"got {type(item).__name__}"
                    )
            object.__setattr__(self, kind, items)
        if not (
            isinstance(self.frequency_hz, int | float)
            and math.isfinite(self.frequency_hz)
            and self.frequency_hz > 0
        ):
            raise InvalidInputError(
                f"grid {self.name!r}: frequency_hz must be a positive number, "
                f"got {self.frequency_hz!r}"
            )
        problems = _Problems()
        self._index(problems)
        self._check_references(problems)
        if not problems.messages:
            self._check_supplied(problems)
        problems.raise_if_any(f"grid {self.name!r}")

    # --- construction checks -------------------------------------------------------------

    def _index(self, problems: _Problems) -> None:
        namespaces = {
            "buses": ("buses",),
            "branches": ("lines", "transformers", "switches"),
            "loads": ("loads",),
            "sources": ("sources",),
            "meters": ("meters",),
            "measurements": ("measurements",),
        }
        for kinds in namespaces.values():
            seen: dict[str, Any] = {}
            for kind in kinds:
                table: dict[str, Any] = {}
                for item in getattr(self, kind):
                    if item.id in seen:
                        problems.add(f"{_label(item)}: duplicate id (also {_label(seen[item.id])})")
                    seen[item.id] = item
                    table[item.id] = item
                self._lookup[kind] = table

    def _check_references(self, problems: _Problems) -> None:
        buses = self._lookup["buses"]

        def bus_ref(element: Any, name: str) -> None:
            value = getattr(element, name)
            if value is not None and value not in buses:
                problems.add(f"{_label(element)}: {name} names unknown bus {value!r}")

        for line in self.lines:
            bus_ref(line, "from_bus")
            bus_ref(line, "to_bus")
            ends = [buses.get(bus) for bus in line.buses]
            if None not in ends and ends[0].kv != ends[1].kv:
                problems.add(f"{_label(line)}: joins buses of {ends[0].kv} kV and {ends[1].kv} kV")
        for transformer in self.transformers:
            bus_ref(transformer, "hv_bus")
            bus_ref(transformer, "lv_bus")
        for element in (*self.loads, *self.sources, *self.meters):
            bus_ref(element, "bus")
        for switch in self.switches:
            bus_ref(switch, "bus")
            bus_ref(switch, "to_bus")
            self._check_switch(problems, switch)
        for meter in self.meters:
            self._check_branch_end(problems, meter, meter.branch, meter.bus)
        for measurement in self.measurements:
            self._check_measurement(problems, measurement)

    def _check_switch(self, problems: _Problems, switch: Switch) -> None:
        if switch.to_bus is not None:
            here, there = (
                self._lookup["buses"].get(switch.bus),
                self._lookup["buses"].get(switch.to_bus),
            )
            if here is not None and there is not None and here.kv != there.kv:
                problems.add(f"{_label(switch)}: joins buses of {here.kv} kV and {there.kv} kV")
        else:
            self._check_branch_end(problems, switch, switch.branch, switch.bus)

    def _check_branch_end(
        self, problems: _Problems, element: Any, branch_id: str | None, bus: str
    ) -> None:
        if branch_id is None:
            return
        branch = self._lookup["lines"].get(branch_id) or self._lookup["transformers"].get(branch_id)
        if branch is None:
            problems.add(
                f"{_label(element)}: branch names unknown line or transformer {branch_id!r}"
            )
        elif bus not in branch.buses:
            problems.add(
                f"{_label(element)}: bus {bus!r} is not an end of {_label(branch)} "
                f"(ends {branch.buses[0]!r}, {branch.buses[1]!r})"
            )

    def _check_measurement(self, problems: _Problems, measurement: Measurement) -> None:
        if measurement.element in self._lookup["buses"]:
            if measurement.side is not None:
                problems.add(f"{_label(measurement)}: side is only for branch measurements")
            return
        branch = self._lookup["lines"].get(measurement.element) or self._lookup["transformers"].get(
            measurement.element
        )
        if branch is None:
            problems.add(
                f"{_label(measurement)}: element names unknown bus, line or transformer "
                f"{measurement.element!r}"
            )
        elif measurement.side not in branch.buses:
            problems.add(
                f"{_label(measurement)}: side must be an end bus of {_label(branch)}, "
                f"got {measurement.side!r}"
            )

    def _check_supplied(self, problems: _Problems) -> None:
        """Every bus must reach a source when every switch is closed."""
        parent = {bus.id: bus.id for bus in self.buses}

        def root(bus: str) -> str:
            while parent[bus] != bus:
                parent[bus] = parent[parent[bus]]
                bus = parent[bus]
            return bus

        pairs = [line.buses for line in self.lines] + [t.buses for t in self.transformers]
        pairs += [(s.bus, s.to_bus) for s in self.switches if s.to_bus is not None]
        for a, b in pairs:
            parent[root(a)] = root(b)
        supplied = {root(source.bus) for source in self.sources}
        unsupplied = [bus.id for bus in self.buses if root(bus.id) not in supplied]
        if unsupplied:
            shown = ", ".join(repr(b) for b in unsupplied[:10])
            problems.add(
                f"{len(unsupplied)} bus(es) belong to an island without a source: {shown}"
                + (" ..." if len(unsupplied) > 10 else "")
            )

    # --- lookups -------------------------------------------------------------------------

    def _get(self, kind: str, element_id: str, what: str) -> Any:
        try:
            return self._lookup[kind][element_id]
        except (KeyError, TypeError):
            raise InvalidInputError(f"grid {self.name!r} has no {what} {element_id!r}") from None

    def bus(self, bus_id: str) -> Bus:
        """Return the bus `bus_id`; :class:`InvalidInputError` if unknown."""
        return self._get("buses", bus_id, "bus")

    def line(self, line_id: str) -> Line:
        """Return the line `line_id`; :class:`InvalidInputError` if unknown."""
        return self._get("lines", line_id, "line")

    def transformer(self, transformer_id: str) -> Transformer:
        """Return the transformer `transformer_id`; :class:`InvalidInputError` if unknown."""
        return self._get("transformers", transformer_id, "transformer")

    def switch(self, switch_id: str) -> Switch:
        """Return the switch `switch_id`; :class:`InvalidInputError` if unknown."""
        return self._get("switches", switch_id, "switch")

    def load(self, load_id: str) -> Load:
        """Return the load `load_id`; :class:`InvalidInputError` if unknown."""
        return self._get("loads", load_id, "load")

    def source(self, source_id: str) -> Source:
        """Return the source `source_id`; :class:`InvalidInputError` if unknown."""
        return self._get("sources", source_id, "source")

    def meter(self, meter_id: str) -> Meter:
        """Return the meter `meter_id`; :class:`InvalidInputError` if unknown."""
        return self._get("meters", meter_id, "meter")

    def branch(self, branch_id: str) -> Branch:
        """Return the line or transformer `branch_id`; :class:`InvalidInputError` if unknown."""
        found = self._lookup["lines"].get(branch_id) or self._lookup["transformers"].get(branch_id)
        if found is None:
            raise InvalidInputError(f"grid {self.name!r} has no line or transformer {branch_id!r}")
        return found

    @property
    def branches(self) -> tuple[Branch, ...]:
        """Lines, then transformers."""
        return (*self.lines, *self.transformers)

    @cached_property
    def bus_ids(self) -> tuple[str, ...]:
        """Bus ids in the order of :attr:`buses` (the row order of every bus result)."""
        return tuple(bus.id for bus in self.buses)

    @cached_property
    def branch_ids(self) -> tuple[str, ...]:
        """Line then transformer ids (the row order of every branch result)."""
        return tuple(branch.id for branch in self.branches)

    def elements(self) -> Iterator[Element]:
        """Every element of the grid."""
        for kind in _KINDS:
            yield from getattr(self, kind)

    # --- derived grids -------------------------------------------------------------------

    def switch_states(self) -> dict[str, bool]:
        """Switch id -> closed, as in this grid."""
        return {switch.id: switch.closed for switch in self.switches}

    def with_switch_states(self, states: Mapping[str, bool]) -> "Grid":
        """Return a copy with the switches named in `states` set closed (True) or open (False)."""
        checked = self.check_switch_states(states)
        switches = tuple(
            replace(s, closed=checked[s.id]) if s.id in checked else s for s in self.switches
        )
        return replace(self, switches=switches)

    def check_switch_states(self, states: Mapping[str, bool] | None) -> dict[str, bool]:
        """Validate a switch-state mapping; return it as a plain dict.

        Raises
        ------
        InvalidInputError
            An unknown switch id, or a state that is not a bool.
        """
        if states is None:
            return {}
        result: dict[str, bool] = {}
        for switch_id, closed in states.items():
            self.switch(switch_id)
            if not isinstance(closed, bool):
                raise InvalidInputError(
                    f"switch {switch_id!r}: state must be True (closed) or False (open), "
                    f"got {closed!r}"
                )
            result[switch_id] = closed
        return result

    def with_elements(self, **kinds: Iterable[Element]) -> "Grid":
        """Return a copy with whole element tuples replaced, for example ``loads=[...]``."""
        unknown = set(kinds) - set(_KINDS)
        if unknown:
            raise InvalidInputError(f"unknown element kinds {sorted(unknown)}")
        return replace(self, **{k: tuple(v) for k, v in kinds.items()})

    def at_time(self, time_s: float) -> "Grid":
        """Return a copy with every load scaled by its profile at `time_s`."""
        loads = tuple(
            replace(
                load,
                p_kw=load.p_kw * load.multiplier(time_s),
                q_kvar=load.q_kvar * load.multiplier(time_s),
                profile=(),
            )
            for load in self.loads
        )
        return replace(self, loads=loads)


_KINDS: dict[str, type] = {
    "buses": Bus,
    "lines": Line,
    "transformers": Transformer,
    "switches": Switch,
    "loads": Load,
    "sources": Source,
    "meters": Meter,
    "measurements": Measurement,
}
"""Element kinds of a :class:`Grid`, in document order, with their classes."""


@functools.cache
def element_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields of an element class, in declaration order."""
    return tuple(f.name for f in fields(cls) if f.init)
