"""The versioned JSON format of a grid (documented in ``docs/grid-format.md``).

A document is one object::

    {"format": "gridedge.grid", "version": 1, "name": "...", "frequency_hz": 50,
     "buses": [...], "lines": [...], "transformers": [...], "switches": [...],
     "loads": [...], "sources": [...], "meters": [...], "measurements": [...]}

Each list holds objects whose keys are the fields of the matching element class of
:mod:`gridedge.grid.model` (optional fields may be left out). Reading is strict: an unknown
key, a missing field or a value of the wrong type is an error naming the element and field,
and nothing is returned unless the whole grid is valid.
"""

import dataclasses
import functools
import json
import math
import os
import tempfile
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gridedge.errors import InvalidInputError
from gridedge.grid.model import _KINDS, Grid, element_fields

FORMAT = "gridedge.grid"
"""Value of the ``format`` key."""

VERSION = 1
"""Version written by :func:`to_dict`; :func:`from_dict` reads versions up to this one."""

_TOP_KEYS = {"format", "version", "name", "frequency_hz", *_KINDS}


def to_dict(grid: Grid) -> dict[str, Any]:
    """Return the JSON document of `grid` (plain dicts, lists, strings and numbers).

    Optional fields at their default value are left out.
    """
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "name": grid.name,
        "frequency_hz": grid.frequency_hz,
    }
    for kind, cls in _KINDS.items():
        defaults = _defaults(cls)
        records = []
        for element in getattr(grid, kind):
            record: dict[str, Any] = {}
            for name in element_fields(cls):
                value = getattr(element, name)
                if name in defaults and value == defaults[name]:
                    continue
                record[name] = list(value) if isinstance(value, tuple) else value
            records.append(record)
        document[kind] = records
    return document


def from_dict(document: Any) -> Grid:
    """Build a grid from its JSON document.

    Parameters
    ----------
    document : dict
        As written by :func:`to_dict`.

    Returns
    -------
    Grid

    Raises
    ------
    InvalidInputError
        Wrong format or version, unknown or missing keys, values of the wrong type, or an
        invalid grid; the message names the element and field.
    """
    if not isinstance(document, dict):
        raise InvalidInputError(f"a grid document must be a JSON object, got {_kind(document)}")
    if document.get("format") != FORMAT:
        raise InvalidInputError(
            f"not a grid document: 'format' must be {FORMAT!r}, got {document.get('format')!r}"
        )
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise InvalidInputError(
            f"grid document version {version!r} is not supported (this reader: 1 to {VERSION})"
        )
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise InvalidInputError(f"grid document: unknown keys {unknown}")
    name = document.get("name", "")
    if not isinstance(name, str):
        raise InvalidInputError(f"grid document: 'name' must be a string, got {name!r}")
    elements: dict[str, tuple[Any, ...]] = {}
    for kind, cls in _KINDS.items():
        records = document.get(kind, [])
        if not isinstance(records, list):
            raise InvalidInputError(f"grid document: {kind!r} must be a list, got {_kind(records)}")
        elements[kind] = tuple(
            _element(cls, kind, position, record) for position, record in enumerate(records)
        )
    frequency = document.get("frequency_hz", 50.0)
    if not _is_number(frequency):
        raise InvalidInputError(
            f"grid document: 'frequency_hz' must be a number, got {frequency!r}"
        )
    return Grid(name=name, frequency_hz=float(frequency), **elements)


def load(path: str | os.PathLike[str]) -> Grid:
    """Read a grid from a JSON file.

    Raises
    ------
    InvalidInputError
        The file cannot be read, is not JSON, or does not hold a valid grid; the message
        names the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read grid file {path}: {exc}") from exc
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidInputError(f"grid file {path} is not valid JSON: {exc}") from exc
    try:
        return from_dict(document)
    except InvalidInputError as exc:
        raise InvalidInputError(f"grid file {path}: {exc}") from exc


def save(grid: Grid, path: str | os.PathLike[str]) -> None:
    """Write `grid` to a JSON file, atomically (a reader never sees half a file)."""
    path = Path(path)
    text = json.dumps(to_dict(grid), indent=1, allow_nan=False) + "\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes the file private; a grid file is not secret
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _kind(value: Any) -> str:
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@functools.cache
def _defaults(cls: type) -> Mapping[str, Any]:
    # Cached per class: a topology document holds thousands of elements of a few classes.
    return types.MappingProxyType(
        {
            f.name: f.default
            for f in dataclasses.fields(cls)
            if f.init and f.default is not dataclasses.MISSING
        }
    )


@functools.cache
def _hints(cls: type) -> Mapping[str, Any]:
    return types.MappingProxyType(typing.get_type_hints(cls))


def _element(cls: type, kind: str, position: int, record: Any) -> Any:
    if not isinstance(record, dict):
        raise InvalidInputError(f"{kind}[{position}] must be an object, got {_kind(record)}")
    where = f"{kind}[{position}]" + (
        f" ({record['id']!r})" if isinstance(record.get("id"), str) else ""
    )
    names = element_fields(cls)
    unknown = sorted(set(record) - set(names))
    if unknown:
        raise InvalidInputError(f"{where}: unknown fields {unknown}; known: {list(names)}")
    required = [n for n in names if n not in _defaults(cls)]
    missing = [n for n in required if n not in record]
    if missing:
        raise InvalidInputError(f"{where}: missing fields {missing}")
    hints = _hints(cls)
    values = {name: _value(where, name, hints[name], value) for name, value in record.items()}
    return cls(**values)


def _value(where: str, name: str, hint: Any, value: Any) -> Any:
    """Check a JSON value against a field's type; lists become tuples."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    options = typing.get_args(hint) if union else ()
    if options:
        if value is None and type(None) in options:
            return None
        (hint,) = [o for o in options if o is not type(None)]
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list):
            raise InvalidInputError(f"{where}: {name} must be a list, got {value!r}")
        (item, *_) = typing.get_args(hint)
        return tuple(_value(where, name, item, v) for v in value)
    if hint is float:
        if not _is_number(value):
            raise InvalidInputError(f"{where}: {name} must be a number, got {value!r}")
        return float(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidInputError(f"{where}: {name} must be true or false, got {value!r}")
        return value
    if not isinstance(value, str):
        raise InvalidInputError(f"{where}: {name} must be a string, got {value!r}")
    return value
