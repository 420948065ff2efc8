"""Reading COMTRADE records: the configuration, the data file, and the ``.cff`` single file."""

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError
from gridedge.meter.comtrade.formats import (
    ASCII_MISSING,
    BINARY_MISSING,
    FILE_TYPES,
    REVISIONS,
    TIMESTAMP_MISSING,
    binary_layout,
)
from gridedge.meter.comtrade.record import (
    AnalogChannel,
    Record,
    SampleRate,
    StatusChannel,
    parse_time_code,
)

_ANALOG_FIELDS = "An,ch_id,ph,ccbm,uu,a,b,skew,min,max,primary,secondary,PS"
_STATUS_FIELDS = "Dn,ch_id,ph,ccbm,y"
_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})$")
_TIME = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?$")
_TIME_CODE = re.compile(r"([+-]?)(\d{1,2})(?:h(\d{2}))?$")
_CFF_HEADER = re.compile(
    rb"--- file type: (CFG|INF|HDR|DAT)(?: (ASCII|BINARY|BINARY32|FLOAT32))?(?:\s*:\s*(\d+))? ---",
    re.IGNORECASE,
)


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
                parse_time_code(code)
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
        values[values == ASCII_MISSING] = np.nan
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


def _parse_binary_data(path: str, data: bytes, config: _Config) -> _Data:
    layout = binary_layout(config.file_type, len(config.analog), len(config.status))
    if len(data) % layout.itemsize:
        raise InvalidInputError(
            f"{path}: size {len(data)} bytes is not a whole number of {config.file_type} "
            f"data records of {layout.itemsize} bytes (n, timestamp, "
            f"{len(config.analog)} analog, {len(config.status)} status channels)"
        )
    records = np.frombuffer(data, dtype=layout)
    raw = records["analog"].astype(np.float64)
    if config.file_type in BINARY_MISSING:
        raw[records["analog"] == BINARY_MISSING[config.file_type]] = np.nan
    timestamp = records["timestamp"].astype(np.float64)
    timestamp[records["timestamp"] == TIMESTAMP_MISSING] = np.nan
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
