"""Configuration as frozen dataclasses: defaults, then a file, then ``GRIDEDGE_*`` variables.

Each component declares its settings as a frozen dataclass whose fields have defaults and
plain types (str, int, float, bool, pathlib.Path, optional or tuple of them). :func:`load`
fills one from a TOML or JSON file and the environment, converting and checking every value,
so that a wrong setting fails at start-up with the name of the setting.
"""

import dataclasses
import json
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from gridedge.errors import ConfigurationError

T = TypeVar("T")

PREFIX = "GRIDEDGE_"


def load(
    cls: type[T],
    path: str | os.PathLike[str] | None = None,
    *,
    section: str | None = None,
    environ: Mapping[str, str] | None = None,
    prefix: str = PREFIX,
) -> T:
    """Build settings of type `cls` from defaults, a file and the environment.

    Parameters
    ----------
    cls : type
        A frozen dataclass whose fields all have defaults.
    path : path-like, optional
        A ``.toml`` or ``.json`` file; its values override the defaults.
    section : str, optional
        Table of the file to read (for example ``"catalog"``); the whole file by default.
        Also names the variables: field ``port`` of section ``catalog`` is read from
        ``GRIDEDGE_CATALOG_PORT``.
    environ : mapping, optional
        Environment to read; ``os.environ`` by default.
    prefix : str
        Prefix of the variables.

    Returns
    -------
    cls
        The settings.

    Raises
    ------
    ConfigurationError
        The file cannot be read or parsed, names an unknown setting, or a value has the
        wrong type.
    """
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    if path is not None:
        document = _read(Path(path))
        if section is not None:
            document = document.get(section, {})
            if not isinstance(document, dict):
                raise ConfigurationError(f"{path}: [{section}] must be a table")
        values = _values(cls, document, str(path))
    stem = prefix + (f"{section}_" if section else "")
    for name in (f.name for f in dataclasses.fields(cls)):  # type: ignore[arg-type]
        variable = (stem + name).upper()
        if variable in environ:
            values[name] = _convert(variable, hints[name], environ[variable], text=True)
    return _build(cls, values)


def from_mapping(cls: type[T], document: Mapping[str, Any], *, where: str) -> T:
    """Build settings of type `cls` from defaults and a table received at run time.

    Parameters
    ----------
    cls : type
        A frozen dataclass whose fields all have defaults.
    document : mapping
        Values by field name, as JSON or TOML gives them.
    where : str
        Where the table comes from (for example ``"settings.parameters.acquisition"``),
        named in every error.

    Raises
    ------
    ConfigurationError
        `document` is not a table, names an unknown setting, or a value has the wrong type.
    """
    if not isinstance(document, Mapping):
        raise ConfigurationError(f"{where} must be a table, got {document!r}")
    return _build(cls, _values(cls, document, where))


def _values(cls: type, document: Mapping[str, Any], where: str) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in document.items():
        if key not in fields:
            raise ConfigurationError(
                f"{where}: unknown setting {key!r}; known: {', '.join(sorted(fields))}"
            )
        values[key] = _convert(f"{where}: {key}", hints[key], value)
    return values


def _build(cls: type[T], values: dict[str, Any]) -> T:
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{cls.__name__}: {exc}") from exc


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read configuration {path}: {exc.strerror}") from exc
    try:
        document = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot parse configuration {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigurationError(f"configuration {path} must hold a table at its top")
    return document


def _convert(where: str, hint: Any, value: Any, *, text: bool = False) -> Any:
    """Check `value` against the type `hint`; parse it first if it is a variable's text."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(where, hint, value, text)
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        items = [v.strip() for v in value.split(",") if v.strip()] if text else value
        if not isinstance(items, list | tuple):
            raise ConfigurationError(f"{where}: expected a list, got {value!r}")
        return tuple(_convert(where, item, v, text=text) for v in items)
    converter = _SCALARS.get(hint)
    if converter is None:
        raise ConfigurationError(f"{where}: settings of type {hint} are not supported")
    converted = converter(value, text)
    if converted is None:
        name = getattr(hint, "__name__", str(hint))
        article = "an" if name[0] in "aeiou" else "a"
        raise ConfigurationError(f"{where}: {value!r} is not {article} {_NAMES.get(hint, name)}")
    return converted


def _convert_union(where: str, hint: Any, value: Any, text: bool) -> Any:
    arguments = typing.get_args(hint)
    options = [a for a in arguments if a is not type(None)]
    if len(options) < len(arguments) and (value is None or (text and value == "")):
        return None
    for option in options:
        try:
            return _convert(where, option, value, text=text)
        except ConfigurationError:
            continue
    raise ConfigurationError(f"{where}: {value!r} is not a valid {hint}")


def _to_bool(value: Any, text: bool) -> bool | None:
    if not text:
        return value if isinstance(value, bool) else None
    return {
        "1": True,
        "true": True,
        "yes": True,
        "on": True,
        "0": False,
        "false": False,
        "no": False,
        "off": False,
    }.get(value.strip().lower())


def _to_int(value: Any, text: bool) -> int | None:
    if text:
        try:
            return int(value)
        except ValueError:
            return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _to_float(value: Any, text: bool) -> float | None:
    if text:
        try:
            return float(value)
        except ValueError:
            return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _to_str(value: Any, text: bool) -> str | None:
    return value if isinstance(value, str) else None


def _to_path(value: Any, text: bool) -> Path | None:
    return Path(value) if isinstance(value, str) else None


_SCALARS: dict[Any, Callable[[Any, bool], Any]] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    Path: _to_path,
}
_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path"}
