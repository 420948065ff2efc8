"""IEEE C37.111 COMTRADE records, as fault recorders write them: reading and writing.

Supported: the 1999 and 2013 revisions; a ``.cfg`` file with its ``.dat`` file, or a 2013
``.cff`` single file; data in ASCII, BINARY (16-bit), BINARY32 and FLOAT32. Not supported:
the 1991 revision (its first line has no revision year) and the ``.hdr`` and ``.inf``
files (they hold free text; a ``.cff`` writer leaves their sections empty).

The configuration (``.cfg``) describes each analog channel with ``a``, ``b``, ``primary``,
``secondary`` and the ``PS`` flag: a stored value ``x`` means ``a x + b`` in the channel's
unit, on the primary side when PS is ``P`` and on the secondary side (to be multiplied by
``primary / secondary``) when it is ``S``. A :class:`Record` keeps the stored values as they
are, so a record read and written again is unchanged; :attr:`AnalogChannel.gain` and
:attr:`AnalogChannel.offset` give the map to primary values.

Every malformed input raises :class:`~gridedge.errors.InvalidInputError` naming the file,
the line (or data record) and the field.
"""

import calendar
import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridedge.errors import InvalidInputError

REVISIONS = (1999, 2013)
"""Revisions of the standard this module reads and writes."""

FILE_TYPES = ("ASCII", "BINARY", "BINARY32", "FLOAT32")
"""Data file formats."""

_LIMIT = {"ASCII": 99998, "BINARY": 32767, "BINARY32": 2**31 - 1}
"""Largest stored magnitude of each integer format (ASCII reserves 99999 for missing data)."""

_BINARY_ANALOG = {"BINARY": "<i2", "BINARY32": "<i4", "FLOAT32": "<f4"}
_BINARY_MISSING = {"BINARY": -32768, "BINARY32": -(2**31)}
_ASCII_MISSING = 99999.0
_TIMESTAMP_MISSING = 0xFFFFFFFF

_ANALOG_FIELDS = "An,ch_id,ph,ccbm,uu,a,b,skew,min,max,primary,secondary,PS"
_STATUS_FIELDS = "Dn,ch_id,ph,ccbm,y"
_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})$")
_TIME = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?$")
_TIME_CODE = re.compile(r"([+-]?)(\d{1,2})(?:h(\d{2}))?$")
_CFF_HEADER = re.compile(
    rb"--- file type: (CFG|INF|HDR|DAT)(?: (ASCII|BINARY|BINARY32|FLOAT32))?(?:\s*:\s*(\d+))? ---",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AnalogChannel:
    """One analog channel of a record (an ``An`` line of the configuration).

    Attributes
    ----------
    name : str
        Channel identifier (``ch_id``).
    unit : str
        Unit of ``a x + b``, for example ``V``, ``kV``, ``A``.
    a, b : float
        Stored value ``x`` to channel units: ``a x + b``.
    phase : str
        Phase identification (``ph``), for example ``A``.
    circuit : str
        Circuit component being monitored (``ccbm``).
    skew : float
        Time skew of the channel against the sample time, microseconds.
    minimum, maximum : float
        Range of the stored values ``x``.
    primary, secondary : float
        Transformer ratio: primary and secondary rated values, > 0.
    ps : {"P", "S"}
        Whether ``a x + b`` is a primary or a secondary value.
    """

    name: str
    unit: str
    a: float = 1.0
    b: float = 0.0
    phase: str = ""
    circuit: str = ""
    skew: float = 0.0
    minimum: float = -32767.0
    maximum: float = 32767.0
    primary: float = 1.0
    secondary: float = 1.0
    ps: str = "P"

    @property
    def ratio(self) -> float:
        """Factor from ``a x + b`` to primary values: 1, or primary / secondary when PS is S."""
        return self.primary / self.secondary if self.ps == "S" else 1.0

    @property
    def gain(self) -> float:
        """Primary value, in :attr:`unit`, per stored unit."""
        return self.a * self.ratio

    @property
    def offset(self) -> float:
        """Primary value, in :attr:`unit`, of a stored zero."""
        return self.b * self.ratio


@dataclass(frozen=True)
class StatusChannel:
    """One status (digital) channel of a record (a ``Dn`` line of the configuration).

    Attributes
    ----------
    name : str
        Channel identifier (``ch_id``).
    phase, circuit : str
        Phase identification and circuit component (``ph``, ``ccbm``).
    normal : int
        Normal state of the channel, 0 or 1 (``y``).
    """

    name: str
    phase: str = ""
    circuit: str = ""
    normal: int = 0


@dataclass(frozen=True)
class SampleRate:
    """A run of samples at one rate (a ``samp,endsamp`` line).

    Attributes
    ----------
    rate : float
        Samples per second; 0 when the record has no fixed rate and the time stamps of the
        data file are the only time base.
    last : int
        Number of the last sample at this rate (samples are numbered from 1).
    """

    rate: float
    last: int


def _frozen(array: NDArray[np.generic]) -> NDArray[np.generic]:
    array = array.copy()
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Record:
    """A COMTRADE record: configuration and data.

    Attributes
    ----------
    station, device : str
        Station name and recording device identifier.
    analog : tuple of AnalogChannel
        The analog channels, in file order.
    status : tuple of StatusChannel
        The status channels, in file order.
    rates : tuple of SampleRate
        Sampling rates; ``(SampleRate(0, n),)`` when only time stamps give the time base.
    start, trigger : datetime
        Time of the first sample and of the trigger, as written in the file (the time
        zone is :attr:`time_code`); microsecond resolution.
    raw : ndarray of float64, shape (n, len(analog))
        Stored values ``x`` of the analog channels; NaN where data are missing.
    digital : ndarray of uint8, shape (n, len(status))
        States of the status channels, 0 or 1.
    timestamp : ndarray of float64, shape (n,)
        Time stamps of the data file in units of 1 microsecond times :attr:`timemult`;
        NaN where missing.
    revision : {1999, 2013}
        Revision of the standard.
    file_type : {"ASCII", "BINARY", "BINARY32", "FLOAT32"}
        Format of the data.
    frequency : float
        Nominal line frequency, Hz (0 if not given).
    timemult : float
        Multiplier of the time stamps.
    time_code : str
        Offset of the record's times from UTC, such as ``"0"``, ``"+1"`` or ``"-5h30"``.
        A 1999 record cannot state it: its times count as UTC, and it must be ``"0"``.
    local_code : str
        (2013) Offset of local time at the recorder from UTC, or ``"x"``.
    time_quality : str
        (2013) Time quality code of the recorder's clock, one hexadecimal digit.
    leap_second : int
        (2013) Leap second indicator, 0 to 3.
    path : str
        File the record was read from ("" when built in memory), for messages.
    config_line : int
        Line of that file where the configuration starts (2 in a ``.cff`` file).
    """

    station: str
    device: str
    analog: tuple[AnalogChannel, ...]
    status: tuple[StatusChannel, ...]
    rates: tuple[SampleRate, ...]
    start: datetime
    trigger: datetime
    raw: NDArray[np.float64]
    digital: NDArray[np.uint8]
    timestamp: NDArray[np.float64]
    revision: int = 2013
    file_type: str = "BINARY"
    frequency: float = 50.0
    timemult: float = 1.0
    time_code: str = "0"
    local_code: str = "0"
    time_quality: str = "0"
    leap_second: int = 0
    path: str = field(default="", compare=False)
    config_line: int = field(default=1, compare=False)

    def __post_init__(self) -> None:
        where = self.path or "record"
        raw = _frozen(np.asarray(self.raw, dtype=np.float64))
        digital = _frozen(np.asarray(self.digital, dtype=np.uint8))
        timestamp = _frozen(np.asarray(self.timestamp, dtype=np.float64))
        if raw.ndim != 2 or raw.shape[1] != len(self.analog):
            raise InvalidInputError(
                f"{where}: raw must have shape (n, {len(self.analog)}), one column per analog "
                f"channel, got {raw.shape}"
            )
        n = raw.shape[0]
        if digital.shape != (n, len(self.status)):
            raise InvalidInputError(
                f"{where}: digital must have shape ({n}, {len(self.status)}), got {digital.shape}"
            )
        if np.any(digital > 1):
            raise InvalidInputError(f"{where}: digital states must be 0 or 1")
        if timestamp.shape != (n,):
            raise InvalidInputError(
                f"{where}: timestamp must have shape ({n},), got {timestamp.shape}"
            )
        if self.revision not in REVISIONS:
            raise InvalidInputError(f"{where}: revision must be one of {REVISIONS}")
        if self.file_type not in FILE_TYPES:
            raise InvalidInputError(f"{where}: file_type must be one of {FILE_TYPES}")
        if self.revision == 1999 and self.time_code != "0":
            raise InvalidInputError(
                f"{where}: a 1999 record has no time code, its times are UTC; got time_code "
                f"{self.time_code!r} (convert the times to UTC or use revision 2013)"
            )
        try:
            _parse_time_code(self.time_code)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
        if not self.rates or self.rates[-1].last != n:
            raise InvalidInputError(
                f"{where}: the last sample rate must end at sample {n}, got {self.rates}"
            )
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "digital", digital)
        object.__setattr__(self, "timestamp", timestamp)

    def __len__(self) -> int:
        return int(self.raw.shape[0])

    def __eq__(self, other: object) -> bool:
        """Same configuration and data (missing values compare equal); `path` is ignored."""
        if not isinstance(other, Record):
            return NotImplemented
        arrays = ("raw", "digital", "timestamp")
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name), equal_nan=True)
            if f.name in arrays
            else getattr(self, f.name) == getattr(other, f.name)
            for f in dataclasses.fields(self)
            if f.compare
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def utc_offset(self) -> timedelta:
        """Offset of the record's times from UTC, from :attr:`time_code`."""
        return _parse_time_code(self.time_code)

    @property
    def start_time(self) -> float:
        """Time of the first sample, POSIX seconds (UTC)."""
        return _posix(self.start - self.utc_offset)

    @property
    def trigger_time(self) -> float:
        """Time of the trigger, POSIX seconds (UTC)."""
        return _posix(self.trigger - self.utc_offset)

    def constant_rate(self) -> float:
        """The one sampling rate of the record, Hz.

        Raises
        ------
        InvalidInputError
            If the record has no fixed rate (time stamps only) or more than one rate.
        """
        rates = {r.rate for r in self.rates}
        line = self.config_line + 3 + len(self.analog) + len(self.status)
        where = f"{self.path or 'record'}:{line}: nrates"
        if rates == {0.0}:
            raise InvalidInputError(
                f"{where}: the record has no fixed sampling rate (nrates 0, time stamps only); "
                "a constant sampling rate is required"
            )
        if len(rates) > 1:
            listed = ", ".join(f"{r.rate:g} Hz to sample {r.last}" for r in self.rates)
            raise InvalidInputError(
                f"{where}: the record changes its sampling rate ({listed}); "
                "a constant sampling rate is required"
            )
        return self.rates[0].rate

    def primary(self) -> NDArray[np.float64]:
        """Analog values in primary units (each channel's :attr:`~AnalogChannel.unit`).

        Returns
        -------
        ndarray of float64, shape (n, len(analog))
            ``gain * x + offset`` of every channel; NaN where data are missing.
        """
        gain = np.array([c.gain for c in self.analog])
        offset = np.array([c.offset for c in self.analog])
        return self.raw * gain + offset

    @classmethod
    def from_values(
        cls,
        values: ArrayLike,
        channels: Sequence[AnalogChannel],
        rate: float,
        start: datetime,
        *,
        file_type: str = "BINARY",
        trigger: datetime | None = None,
        status: Sequence[StatusChannel] = (),
        digital: ArrayLike | None = None,
        station: str = "",
        device: str = "",
        revision: int = 2013,
        frequency: float = 50.0,
        time_code: str = "0",
    ) -> "Record":
        """Build a record from primary values, choosing ``a`` and ``b`` of each channel.

        Parameters
        ----------
        values : array_like of float, shape (n, len(channels))
            Primary values in each channel's unit; NaN for missing data.
        channels : sequence of AnalogChannel
            Name, unit, phase, circuit, skew, primary, secondary and PS of each channel;
            their ``a``, ``b``, ``minimum`` and ``maximum`` are replaced.
        rate : float
            Sampling rate, Hz.
        start : datetime
            Time of the first sample (in the record's time zone, :attr:`time_code`).
        file_type : {"ASCII", "BINARY", "BINARY32", "FLOAT32"}
            Data format. The integer formats spread each channel's values over the whole
            stored range (``b`` the middle, ``a`` the step); FLOAT32 stores them with
            ``a = 1``, ``b = 0``.
        trigger : datetime, optional
            Trigger time; `start` by default.
        status : sequence of StatusChannel
            Status channels.
        digital : array_like of int, shape (n, len(status)), optional
            Their states; zeros by default.
        station, device, revision, frequency, time_code
            As the attributes of :class:`Record`.
        """
        data = np.array(values, dtype=np.float64, ndmin=2)
        if data.ndim != 2 or data.shape[1] != len(channels):
            raise InvalidInputError(
                f"values must have shape (n, {len(channels)}), one column per channel, "
                f"got {np.shape(values)}"
            )
        if file_type not in FILE_TYPES:
            raise InvalidInputError(f"file_type must be one of {FILE_TYPES}, got {file_type!r}")
        if not (math.isfinite(rate) and rate > 0):
            raise InvalidInputError(f"rate must be a positive number, got {rate!r}")
        n = data.shape[0]
        stored = np.empty_like(data)
        encoded = []
        for k, channel in enumerate(channels):
            column = data[:, k] / channel.ratio
            encoded.append(_encode(channel, column, file_type, stored[:, k]))
        digital_array = (
            np.zeros((n, len(status)), dtype=np.uint8)
            if digital is None
            else np.asarray(digital, dtype=np.uint8)
        )
        # Time stamps count microseconds times timemult in 32 bits: long records need timemult > 1.
        timemult = float(max(1, math.ceil(n / rate * 1e6 / (_TIMESTAMP_MISSING - 1))))
        timestamp = np.round(np.arange(n) / rate * 1e6 / timemult)
        return cls(
            analog=tuple(encoded),
            status=tuple(status),
            rates=(SampleRate(float(rate), n),),
            start=start,
            trigger=start if trigger is None else trigger,
            raw=stored,
            digital=digital_array,
            timestamp=timestamp,
            timemult=timemult,
            file_type=file_type,
            station=station,
            device=device,
            revision=revision,
            frequency=frequency,
            time_code=time_code,
            local_code=time_code,
        )


def _encode(
    channel: AnalogChannel, column: NDArray[np.float64], file_type: str, out: NDArray[np.float64]
) -> AnalogChannel:
    """Store `column` (values of ``a x + b``) in `out` as ``x``; return the channel's a, b."""
    finite = column[np.isfinite(column)]
    if file_type == "FLOAT32":
        out[:] = column.astype(np.float32)
        top = float(np.abs(finite).max()) if finite.size else 1.0
        return replace(channel, a=1.0, b=0.0, minimum=-top, maximum=top)
    limit = _LIMIT[file_type]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    b = (high + low) / 2
    a = (high - low) / (2 * limit) if high > low else 1.0
    out[:] = np.round((column - b) / a)
    return replace(channel, a=a, b=b, minimum=-limit, maximum=limit)


def _posix(moment: datetime) -> float:
    return calendar.timegm(moment.timetuple()) + moment.microsecond / 1e6


def _parse_time_code(code: str) -> timedelta:
    match = _TIME_CODE.match(code.strip())
    if match is None:
        raise InvalidInputError(f"time code {code!r} is not [+|-]h or [+|-]hhHmm, like -5h30")
    sign = -1 if match.group(1) == "-" else 1
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    if hours > 23 or minutes > 59:
        raise InvalidInputError(f"time code {code!r} is out of range")
    return sign * timedelta(hours=hours, minutes=minutes)


# --------------------------------------------------------------------------------------------
# Reading


class _Lines:
    """The lines of a configuration, with the position needed for error messages."""

    def __init__(self, path: str, text: str, first_line: int = 1) -> None:
        self.path = path
        self.lines = text.replace("\x1a", "").splitlines()
        self.first_line = first_line
        self.index = -1

    @property
    def number(self) -> int:
        """Line number, in the file, of the line last taken."""
        return self.first_line + self.index

    def error(self, what: str, message: str) -> InvalidInputError:
        return InvalidInputError(f"{self.path}:{self.number}: {what}: {message}")

    def take(self, what: str, names: str) -> list[str] | None:
        """The comma-separated fields `names` of the next line; None if there is none."""
        self.index += 1
        if self.index >= len(self.lines) or not self.lines[self.index].strip():
            return None
        fields = [f.strip() for f in self.lines[self.index].split(",")]
        expected = names.count(",") + 1
        if len(fields) != expected:
            raise self.error(what, f"expected {expected} fields ({names}), got {len(fields)}")
        return fields

    def need(self, what: str, names: str) -> list[str]:
        """The comma-separated fields `names` of the next line, which must be there."""
        fields = self.take(what, names)
        if fields is None:
            raise self.error(what, f"missing line (expected {names})")
        return fields

    def integer(self, what: str, text: str, low: int = 0) -> int:
        try:
            value = int(text)
        except ValueError:
            raise self.error(what, f"{text!r} is not an integer") from None
        if value < low:
            raise self.error(what, f"{value} is below {low}")
        return value

    def real(self, what: str, text: str, *, blank: float | None = None) -> float:
        if not text and blank is not None:
            return blank
        try:
            value = float(text)
        except ValueError:
            raise self.error(what, f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise self.error(what, f"{text!r} is not finite")
        return value

    def moment(self, what: str, fields: list[str]) -> datetime:
        date, time = _DATE.match(fields[0]), _TIME.match(fields[1])
        if date is None:
            raise self.error(what, f"date {fields[0]!r} is not dd/mm/yyyy")
        if time is None:
            raise self.error(what, f"time {fields[1]!r} is not hh:mm:ss.ssssss")
        day, month, year = (int(g) for g in date.groups())
        hour, minute, second = (int(g) for g in time.groups()[:3])
        digits = time.group(4) or "0"
        try:
            moment = datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise self.error(what, f"{fields[0]},{fields[1]}: {exc}") from None
        # datetime keeps microseconds; a 2013 nanosecond fraction is rounded to them.
        fraction = int(digits) * 10 ** (9 - len(digits))
        return moment + timedelta(microseconds=round(fraction / 1000))


@dataclass(frozen=True)
class _Config:
    """What the configuration says, before the data are read."""

    attributes: dict[str, object]
    analog: tuple[AnalogChannel, ...]
    status: tuple[StatusChannel, ...]
    rates: tuple[SampleRate, ...]
    file_type: str
    revision: int
    samples_line: int
    first_line: int


def _parse_config(path: str, text: str, first_line: int = 1) -> _Config:
    lines = _Lines(path, text, first_line)
    station, device, year = lines.need("station line", "station_name,rec_dev_id,rev_year")
    revision = lines.integer("rev_year", year)
    if revision not in REVISIONS:
        raise lines.error("rev_year", f"revision {revision} is not supported; use {REVISIONS}")
    total, analog_text, status_text = lines.need("channel counts", "TT,##A,##D")
    if not analog_text.upper().endswith("A") or not status_text.upper().endswith("D"):
        raise lines.error("##A,##D", f"expected counts like 6A,2D, got {analog_text},{status_text}")
    count_a = lines.integer("##A", analog_text[:-1])
    count_d = lines.integer("##D", status_text[:-1])
    if lines.integer("TT", total) != count_a + count_d:
        raise lines.error("TT", f"{total} is not {count_a} analog + {count_d} status channels")
    analog = tuple(_parse_analog(lines, k + 1) for k in range(count_a))
    status = tuple(_parse_status(lines, k + 1) for k in range(count_d))
    (frequency_text,) = lines.need("lf", "lf")
    frequency = lines.real("lf", frequency_text, blank=0.0)
    (nrates_text,) = lines.need("nrates", "nrates")
    nrates = lines.integer("nrates", nrates_text)
    rates = []
    for k in range(max(nrates, 1)):
        samp, endsamp = lines.need(f"sample rate {k + 1}", "samp,endsamp")
        rate = lines.real("samp", samp)
        if nrates and rate <= 0:
            raise lines.error("samp", f"sampling rate must be positive, got {rate:g}")
        last = lines.integer("endsamp", endsamp)
        if rates and last <= rates[-1].last:
            raise lines.error("endsamp", f"{last} does not follow {rates[-1].last}")
        rates.append(SampleRate(rate if nrates else 0.0, last))
    samples_line = lines.number
    start = lines.moment("start date and time", lines.need("start", "dd/mm/yyyy,hh:mm:ss.ssssss"))
    trigger = lines.moment(
        "trigger date and time", lines.need("trigger", "dd/mm/yyyy,hh:mm:ss.ssssss")
    )
    (file_type_text,) = lines.need("ft", "ft")
    file_type = file_type_text.upper()
    if file_type not in FILE_TYPES:
        raise lines.error("ft", f"{file_type_text!r} is not one of {', '.join(FILE_TYPES)}")
    (timemult_text,) = lines.need("timemult", "timemult")
    timemult = lines.real("timemult", timemult_text, blank=1.0)
    if timemult <= 0:
        raise lines.error("timemult", f"must be positive, got {timemult:g}")
    attributes: dict[str, object] = {
        "station": station,
        "device": device,
        "start": start,
        "trigger": trigger,
        "frequency": frequency,
        "timemult": timemult,
        "time_code": "0",
        "local_code": "0",
        "time_quality": "0",
        "leap_second": 0,
    }
    if revision == 2013:
        attributes.update(_parse_2013_time(lines))
    return _Config(
        attributes, analog, status, tuple(rates), file_type, revision, samples_line, first_line
    )


def _parse_analog(lines: _Lines, number: int) -> AnalogChannel:
    what = f"analog channel {number}"
    values = lines.need(what, _ANALOG_FIELDS)
    an, name, phase, circuit, unit, a, b, skew, low, high, primary, secondary, ps = values
    if lines.integer(f"{what}: An", an) != number:
        raise lines.error(f"{what}: An", f"expected channel number {number}, got {an}")
    channel = AnalogChannel(
        name=name,
        unit=unit,
        a=lines.real(f"{what}: a", a),
        b=lines.real(f"{what}: b", b, blank=0.0),
        phase=phase,
        circuit=circuit,
        skew=lines.real(f"{what}: skew", skew, blank=0.0),
        minimum=lines.real(f"{what}: min", low),
        maximum=lines.real(f"{what}: max", high),
        primary=lines.real(f"{what}: primary", primary),
        secondary=lines.real(f"{what}: secondary", secondary),
        ps=ps.upper(),
    )
    if channel.ps not in ("P", "S"):
        raise lines.error(f"{what}: PS", f"{ps!r} is neither P nor S")
    for label, value in (("primary", channel.primary), ("secondary", channel.secondary)):
        if value <= 0:
            raise lines.error(f"{what}: {label}", f"must be positive, got {value:g}")
    return channel


def _parse_status(lines: _Lines, number: int) -> StatusChannel:
    what = f"status channel {number}"
    dn, name, phase, circuit, normal = lines.need(what, _STATUS_FIELDS)
    if lines.integer(f"{what}: Dn", dn) != number:
        raise lines.error(f"{what}: Dn", f"expected channel number {number}, got {dn}")
    state = lines.integer(f"{what}: y", normal or "0")
    if state not in (0, 1):
        raise lines.error(f"{what}: y", f"normal state must be 0 or 1, got {state}")
    return StatusChannel(name=name, phase=phase, circuit=circuit, normal=state)


def _parse_2013_time(lines: _Lines) -> dict[str, object]:
    """The 2013 lines ``time_code,local_code`` and ``tmq_code,leapsec`` (absent: defaults)."""
    codes = lines.take("time codes", "time_code,local_code")
    if codes is None:
        return {}
    for label, code in zip(("time_code", "local_code"), codes, strict=True):
        if label == "time_code" or code.lower() != "x":
            try:
                _parse_time_code(code)
            except InvalidInputError as exc:
                raise lines.error(label, str(exc)) from None
    found: dict[str, object] = {"time_code": codes[0], "local_code": codes[1]}
    quality = lines.take("time quality", "tmq_code,leapsec")
    if quality is not None:
        if not re.fullmatch(r"[0-9A-Fa-f]", quality[0]):
            raise lines.error("tmq_code", f"{quality[0]!r} is not one hexadecimal digit")
        leap = lines.integer("leapsec", quality[1])
        if leap > 3:
            raise lines.error("leapsec", f"must be 0 to 3, got {leap}")
        found.update(time_quality=quality[0].upper(), leap_second=leap)
    return found


@dataclass(frozen=True)
class _Data:
    """The three arrays of a data file."""

    raw: NDArray[np.float64]
    digital: NDArray[np.uint8]
    timestamp: NDArray[np.float64]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_ascii_data(path: str, text: str, config: _Config, first_line: int = 1) -> _Data:
    count_a, count_d = len(config.analog), len(config.status)
    width = 2 + count_a + count_d
    rows = [line.split(",") for line in text.replace("\x1a", "").splitlines() if line.strip()]
    for k, row in enumerate(rows):
        if len(row) != width:
            raise InvalidInputError(
                f"{path}:{first_line + k}: sample line: expected {width} fields "
                f"(n, timestamp, {count_a} analog, {count_d} status), got {len(row)}"
            )
    columns = list(zip(*rows, strict=True)) if rows else [()] * width

    def column(index: int, what: str) -> NDArray[np.float64]:
        texts = [t.strip() or "nan" for t in columns[index]]
        try:
            return np.array([float(t) for t in texts], dtype=np.float64)
        except ValueError:
            k = next(k for k, t in enumerate(texts) if not _is_number(t))
            raise InvalidInputError(
                f"{path}:{first_line + k}: {what}: {texts[k]!r} is not a number"
            ) from None

    column(0, "n")
    timestamp = column(1, "timestamp")
    raw = np.empty((len(rows), count_a))
    for k in range(count_a):
        values = column(2 + k, f"analog channel {k + 1}")
        values[values == _ASCII_MISSING] = np.nan
        raw[:, k] = values
    digital = np.empty((len(rows), count_d), dtype=np.uint8)
    for k in range(count_d):
        values = column(2 + count_a + k, f"status channel {k + 1}")
        bad = np.flatnonzero((values != 0) & (values != 1))
        if bad.size:
            raise InvalidInputError(
                f"{path}:{first_line + bad[0]}: status channel {k + 1}: "
                f"{values[bad[0]]:g} is neither 0 nor 1"
            )
        digital[:, k] = values
    return _Data(raw, digital, timestamp)


def _binary_layout(file_type: str, analog: int, status: int) -> np.dtype:
    """One data record: sample number, time stamp, analog values, status bits in 16-bit words."""
    return np.dtype(
        [
            ("n", "<u4"),
            ("timestamp", "<u4"),
            ("analog", _BINARY_ANALOG[file_type], (analog,)),
            ("status", "<u2", (math.ceil(status / 16),)),
        ]
    )


def _parse_binary_data(path: str, data: bytes, config: _Config) -> _Data:
    layout = _binary_layout(config.file_type, len(config.analog), len(config.status))
    if len(data) % layout.itemsize:
        raise InvalidInputError(
            f"{path}: size {len(data)} bytes is not a whole number of {config.file_type} "
            f"data records of {layout.itemsize} bytes (n, timestamp, "
            f"{len(config.analog)} analog, {len(config.status)} status channels)"
        )
    records = np.frombuffer(data, dtype=layout)
    raw = records["analog"].astype(np.float64)
    if config.file_type in _BINARY_MISSING:
        raw[records["analog"] == _BINARY_MISSING[config.file_type]] = np.nan
    timestamp = records["timestamp"].astype(np.float64)
    timestamp[records["timestamp"] == _TIMESTAMP_MISSING] = np.nan
    bits = np.arange(len(config.status))
    words = records["status"][:, bits // 16]
    digital = ((words >> (bits % 16)) & 1).astype(np.uint8)
    return _Data(raw, digital, timestamp)


def _assemble(config: _Config, data: _Data, path: str, data_path: str) -> Record:
    expected = config.rates[-1].last
    if data.raw.shape[0] != expected:
        raise InvalidInputError(
            f"{data_path}: holds {data.raw.shape[0]} samples, but {path}:{config.samples_line}: "
            f"endsamp says {expected}"
        )
    return Record(
        analog=config.analog,
        status=config.status,
        rates=config.rates,
        raw=data.raw,
        digital=data.digital,
        timestamp=data.timestamp,
        revision=config.revision,
        file_type=config.file_type,
        path=path,
        config_line=config.first_line,
        **config.attributes,  # type: ignore[arg-type]
    )


def _decode(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInputError(f"{path}:{line}: not UTF-8 text: {exc.reason}") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from exc


def _data_path(cfg: Path) -> Path:
    for suffix in (".dat", ".DAT", ".Dat"):
        candidate = cfg.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return cfg.with_suffix(".DAT" if cfg.suffix.isupper() else ".dat")


def read(path: str | Path) -> Record:
    """Read a COMTRADE record.

    Parameters
    ----------
    path : str or Path
        A ``.cfg`` file (its ``.dat`` file beside it, same name) or a ``.cff`` file.

    Returns
    -------
    Record
        The record, with :attr:`Record.path` set to `path`.

    Raises
    ------
    InvalidInputError
        A file is missing or malformed; the message names the file, line and field.
    """
    path = Path(path)
    if path.suffix.lower() == ".cff":
        return _read_cff(path)
    if path.suffix.lower() != ".cfg":
        raise InvalidInputError(f"{path}: a COMTRADE record is a .cfg or a .cff file")
    config = _parse_config(str(path), _decode(str(path), _read_bytes(path)))
    data_path = _data_path(path)
    content = _read_bytes(data_path)
    if config.file_type == "ASCII":
        data = _parse_ascii_data(str(data_path), _decode(str(data_path), content), config)
    else:
        data = _parse_binary_data(str(data_path), content, config)
    return _assemble(config, data, str(path), str(data_path))


@dataclass(frozen=True)
class _Section:
    """One section of a ``.cff`` file: its format (DAT only), first line and content."""

    kind: str
    line: int
    body: bytes


def _cff_sections(path: Path, content: bytes) -> dict[str, _Section]:
    """Split a ``.cff`` file at its ``--- file type: ... ---`` lines.

    A DAT section whose header gives its byte count is taken by that count: binary data may
    hold any byte, including a line break followed by something that looks like a header.
    """
    sections: dict[str, _Section] = {}
    open_name, open_kind, body_start, body_line = "", "", 0, 0
    position, line = 0, 1
    while position < len(content):
        end = content.find(b"\n", position)
        end = len(content) if end < 0 else end + 1
        header = _CFF_HEADER.fullmatch(content[position:end].strip())
        if header is None:
            if not open_name and content[position:end].strip():
                raise InvalidInputError(f"{path}:{line}: expected '--- file type: CFG ---'")
            position, line = end, line + 1
            continue
        if open_name:
            sections[open_name] = _Section(open_kind, body_line, content[body_start:position])
        open_name = header.group(1).decode().upper()
        open_kind = (header.group(2) or b"").decode().upper()
        if open_name in sections:
            raise InvalidInputError(f"{path}:{line}: a second {open_name} section")
        body_start, body_line = end, line + 1
        position, line = end, line + 1
        size = header.group(3)
        if open_name == "DAT" and size is not None:
            body_end = body_start + int(size)
            if body_end > len(content):
                raise InvalidInputError(
                    f"{path}:{line - 1}: DAT section of {int(size)} bytes, but only "
                    f"{len(content) - body_start} follow"
                )
            sections["DAT"] = _Section(open_kind, body_line, content[body_start:body_end])
            line += content[body_start:body_end].count(b"\n")
            open_name, position = "", body_end
    if open_name:
        sections[open_name] = _Section(open_kind, body_line, content[body_start:])
    for needed in ("CFG", "DAT"):
        if needed not in sections:
            raise InvalidInputError(f"{path}: no '--- file type: {needed} ---' section")
    return sections


def _read_cff(path: Path) -> Record:
    sections = _cff_sections(path, _read_bytes(path))
    cfg, dat = sections["CFG"], sections["DAT"]
    config = _parse_config(str(path), _decode(str(path), cfg.body), cfg.line)
    if config.revision != 2013:
        raise InvalidInputError(
            f"{path}:{cfg.line}: rev_year: a .cff file holds a 2013 record, got {config.revision}"
        )
    if dat.kind != config.file_type:
        raise InvalidInputError(
            f"{path}:{dat.line - 1}: DAT section holds {dat.kind or 'no format'}, "
            f"but the configuration says ft {config.file_type}"
        )
    if config.file_type == "ASCII":
        data = _parse_ascii_data(str(path), _decode(str(path), dat.body), config, dat.line)
    else:
        data = _parse_binary_data(str(path), dat.body, config)
    return _assemble(config, data, str(path), str(path))


# --------------------------------------------------------------------------------------------
# Writing


def _number(value: float) -> str:
    """Shortest text that reads back as the same float ('1' rather than '1.0')."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _text_field(where: str, value: str) -> str:
    if any(c in value for c in ",\r\n"):
        raise InvalidInputError(f"{where}: {value!r} contains a comma or a line break")
    return value


def _moment(value: datetime) -> str:
    return value.strftime("%d/%m/%Y,%H:%M:%S.%f")


def _config_text(record: Record) -> str:
    lines = [
        ",".join(
            (
                _text_field("station", record.station),
                _text_field("device", record.device),
                str(record.revision),
            )
        ),
        f"{len(record.analog) + len(record.status)},{len(record.analog)}A,{len(record.status)}D",
    ]
    for k, c in enumerate(record.analog, start=1):
        where = f"analog channel {k}"
        if c.ps not in ("P", "S"):
            raise InvalidInputError(f"{where}: PS must be P or S, got {c.ps!r}")
        texts = [_text_field(where, t) for t in (c.name, c.phase, c.circuit, c.unit)]
        numbers = (c.a, c.b, c.skew, c.minimum, c.maximum, c.primary, c.secondary)
        lines.append(",".join([str(k), *texts, *map(_number, numbers), c.ps]))
    for k, s in enumerate(record.status, start=1):
        where = f"status channel {k}"
        texts = [_text_field(where, t) for t in (s.name, s.phase, s.circuit)]
        lines.append(",".join([str(k), *texts, str(s.normal)]))
    lines.append(_number(record.frequency))
    timestamps_only = record.rates == (SampleRate(0.0, len(record)),)
    lines.append("0" if timestamps_only else str(len(record.rates)))
    lines.extend(f"{_number(r.rate)},{r.last}" for r in record.rates)
    lines += [_moment(record.start), _moment(record.trigger), record.file_type]
    lines.append(_number(record.timemult))
    if record.revision == 2013:
        lines.append(f"{record.time_code},{record.local_code}")
        lines.append(f"{record.time_quality},{record.leap_second}")
    return "\r\n".join(lines) + "\r\n"


def _stored_values(record: Record) -> NDArray[np.float64]:
    """The analog values checked against the range of the record's data format."""
    raw = record.raw
    if record.file_type == "FLOAT32":
        return raw
    limit = _LIMIT[record.file_type]
    finite = np.isfinite(raw)
    bad = np.argwhere(finite & ((raw != np.round(raw)) | (np.abs(raw) > limit)))
    if bad.size:
        row, column = bad[0]
        raise InvalidInputError(
            f"analog channel {column + 1} ({record.analog[column].name}), sample {row + 1}: "
            f"{float(raw[row, column])!r} is not an integer within +-{limit} ({record.file_type})"
        )
    return raw


def _data_bytes(record: Record) -> bytes:
    raw = _stored_values(record)
    n = len(record)
    missing_time = ~np.isfinite(record.timestamp)
    stamps = np.where(missing_time, 0, record.timestamp)
    if np.any((stamps < 0) | (stamps >= _TIMESTAMP_MISSING) | (stamps != np.round(stamps))):
        raise InvalidInputError("time stamps must be integers from 0 to 2**32 - 2")
    if record.file_type == "ASCII":
        texts = np.where(np.isfinite(raw), raw, _ASCII_MISSING).astype(np.int64).astype(str)
        times = np.where(missing_time, "", stamps.astype(np.int64).astype(str))
        columns = [np.arange(1, n + 1).astype(str), times, *texts.T, *record.digital.T.astype(str)]
        rows = (",".join(row) for row in zip(*columns, strict=True))
        return "".join(row + "\r\n" for row in rows).encode()
    layout = _binary_layout(record.file_type, len(record.analog), len(record.status))
    records = np.zeros(n, dtype=layout)
    records["n"] = np.arange(1, n + 1)
    records["timestamp"] = np.where(missing_time, _TIMESTAMP_MISSING, stamps)
    missing = _BINARY_MISSING.get(record.file_type, np.nan)
    records["analog"] = np.where(np.isfinite(raw), raw, missing)
    bits = np.arange(len(record.status))
    for word in range(records["status"].shape[1]):
        chosen = bits[bits // 16 == word]
        records["status"][:, word] = (record.digital[:, chosen] << (chosen % 16)).sum(axis=1)
    return records.tobytes()


def write(record: Record, path: str | Path) -> list[Path]:
    """Write a COMTRADE record.

    Parameters
    ----------
    record : Record
        The record; its stored values must fit its data format (integers within the
        format's range, except FLOAT32).
    path : str or Path
        A ``.cfg`` file (the ``.dat`` file is written beside it) or a ``.cff`` file
        (2013 records only).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    InvalidInputError
        The record cannot be written in its format, or `path` has another suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".cfg", ".cff"):
        raise InvalidInputError(f"{path}: write a COMTRADE record to a .cfg or a .cff file")
    config = _config_text(record).encode()
    data = _data_bytes(record)
    if suffix == ".cfg":
        data_path = path.with_suffix(".DAT" if path.suffix.isupper() else ".dat")
        path.write_bytes(config)
        data_path.write_bytes(data)
        return [path, data_path]
    if record.revision != 2013:
        raise InvalidInputError(f"{path}: a .cff file holds a 2013 record, got {record.revision}")
    path.write_bytes(
        b"--- file type: CFG ---\r\n"
        + config
        + b"--- file type: INF ---\r\n--- file type: HDR ---\r\n"
        + f"--- file type: DAT {record.file_type}: {len(data)} ---\r\n".encode()
        + data
    )
    return [path]
