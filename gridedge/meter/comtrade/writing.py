"""Writing COMTRADE records: ``.cfg`` with ``.dat``, or a ``.cff`` single file."""

from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError
from gridedge.meter.comtrade.formats import (
    ASCII_MISSING,
    BINARY_MISSING,
    INTEGER_LIMIT,
    TIMESTAMP_MISSING,
    binary_layout,
)
from gridedge.meter.comtrade.record import Record, SampleRate


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
    limit = INTEGER_LIMIT[record.file_type]
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
    if np.any((stamps < 0) | (stamps >= TIMESTAMP_MISSING) | (stamps != np.round(stamps))):
        raise InvalidInputError("time stamps must be integers from 0 to 2**32 - 2")
    if record.file_type == "ASCII":
        texts = np.where(np.isfinite(raw), raw, ASCII_MISSING).astype(np.int64).astype(str)
        times = np.where(missing_time, "", stamps.astype(np.int64).astype(str))
        columns = [np.arange(1, n + 1).astype(str), times, *texts.T, *record.digital.T.astype(str)]
        rows = (",".join(row) for row in zip(*columns, strict=True))
        return "".join(row + "\r\n" for row in rows).encode()
    layout = binary_layout(record.file_type, len(record.analog), len(record.status))
    records = np.zeros(n, dtype=layout)
    records["n"] = np.arange(1, n + 1)
    records["timestamp"] = np.where(missing_time, TIMESTAMP_MISSING, stamps)
    missing = BINARY_MISSING.get(record.file_type, np.nan)
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
