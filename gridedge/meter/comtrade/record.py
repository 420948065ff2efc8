"""A COMTRADE record in memory: channels, sampling rates, times and stored values."""

import calendar
import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridedge.errors import InvalidInputError
from gridedge.meter.comtrade.formats import (
    FILE_TYPES,
    INTEGER_LIMIT,
    REVISIONS,
    TIMESTAMP_MISSING,
)

_TIME_CODE = re.compile(r"([+-]?)(\d{1,2})(?:h(\d{2}))?$")


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
            parse_time_code(self.time_code)
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
        return parse_time_code(self.time_code)

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
        timemult = float(max(1, math.ceil(n / rate * 1e6 / (TIMESTAMP_MISSING - 1))))
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
    limit = INTEGER_LIMIT[file_type]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    b = (high + low) / 2
    a = (high - low) / (2 * limit) if high > low else 1.0
    out[:] = np.round((column - b) / a)
    return replace(channel, a=a, b=b, minimum=-limit, maximum=limit)


def _posix(moment: datetime) -> float:
    return calendar.timegm(moment.timetuple()) + moment.microsecond / 1e6


def parse_time_code(code: str) -> timedelta:
    """The offset from UTC that a COMTRADE time code (``0``, ``+1``, ``-5h30``) gives."""
    match = _TIME_CODE.match(code.strip())
    if match is None:
        raise InvalidInputError(f"time code {code!r} is not an offset like 0, +1 or -5h30")
    sign = -1 if match.group(1) == "-" else 1
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    if hours > 23 or minutes > 59:
        raise InvalidInputError(f"time code {code!r} is out of range")
    return sign * timedelta(hours=hours, minutes=minutes)
