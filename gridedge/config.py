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
from collections.abc import Mapping
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
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    if path is not None:
        document = _read(Path(path))
        if section is not None:
            document = document.get(section, {})
            if not isinstance(document, dict):
                raise ConfigurationError(f"{path}: [{section}] must be a table")
        for key, value in document.items():
            if key not in fields:
                raise ConfigurationError(
                    f"{path}: unknown setting {key!r}; known: {', '.join(sorted(fields))}"
                )
            values[key] = _convert(f"{path}: {key}", hints[key], value)
    stem = prefix + (f"{section}_" if section else "")
    for name in fields:
        variable = (stem + name).upper()
        if variable in environ:
            values[name] = _convert(variable, hints[name], environ[variable], text=True)
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


def _convert(where: str, hint: Any, value: Any, *, text: bool = False) -> Any:  # noqa: PLR0911, PLR0912
    """Check `value` against the type `hint`; parse it first if it is a variable's text."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if (value is None or (text and value == "")) and len(options) < len(typing.get_args(hint)):
            return None
        for option in options:
            try:
                return _convert(where, option, value, text=text)
            except ConfigurationError:
                continue
        raise ConfigurationError(f"{where}: {value!r} is not a valid {hint}")
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        items = [v for v in value.split(",") if v.strip()] if text else value
        if not isinstance(items, list | tuple):
            raise ConfigurationError(f"{where}: expected a list, got {value!r}")
        return tuple(_convert(where, item, v.strip() if text else v, text=text) for v in items)
    if hint is bool:
        if text:
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        elif isinstance(value, bool):
            return value
        raise ConfigurationError(f"{where}: {value!r} is not a boolean")
    if hint in (int, float):
        if isinstance(value, bool):
            raise ConfigurationError(f"{where}: {value!r} is not a number")
        try:
            number = hint(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{where}: {value!r} is not a valid {hint.__name__}") from None
        if hint is int and not text and not isinstance(value, int):
            raise ConfigurationError(f"{where}: {value!r} is not an integer")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigurationError(f"{where}: {value!r} is not a string")
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise ConfigurationError(f"{where}: {value!r} is not a path")
        return Path(value)
    raise ConfigurationError(f"{where}: settings of type {hint} are not supported")
