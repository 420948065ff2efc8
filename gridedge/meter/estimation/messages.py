"""Strict conversion of the multilevel messages to and from JSON-able dicts.

Messages are frozen dataclasses whose fields are str, float, int, bool, optional values,
tuples, nested message dataclasses or :class:`gridedge.grid.Measurement`. :func:`to_dict`
gives plain dicts, lists, strings and numbers (ready for ``json.dumps``); :func:`from_dict`
rebuilds the dataclass and rejects unknown or missing keys and values of the wrong type,
naming the message and field.
"""

import dataclasses
import math
import types
import typing
from typing import Any, TypeVar

from gridedge.errors import InvalidInputError

T = TypeVar("T")


def to_dict(message: Any) -> dict[str, Any]:
    """Return `message` (a dataclass) as a dict of plain JSON values."""
    return {
        field.name: _plain(getattr(message, field.name)) for field in dataclasses.fields(message)
    }


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def from_dict(cls: type[T], document: Any) -> T:
    """Rebuild a message of type `cls` from :func:`to_dict`'s output.

    Raises
    ------
    InvalidInputError
        Naming the message and field that is unknown, missing or of the wrong type.
    """
    return _build(cls, document, cls.__name__)


def _build(cls: type[T], document: Any, where: str) -> T:
    if not isinstance(document, dict):
        raise InvalidInputError(f"{where}: expected an object, got {type(document).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(document) - set(fields))
    if unknown:
        raise InvalidInputError(f"{where}: unknown fields {unknown}; known: {sorted(fields)}")
    missing = [
        name
        for name, f in fields.items()
        if name not in document
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise InvalidInputError(f"{where}: missing fields {missing}")
    hints = typing.get_type_hints(cls)
    values = {
        name: _convert(hints[name], value, f"{where}.{name}") for name, value in document.items()
    }
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(typing.get_args(hint), value, where)
    if origin is tuple:
        return _convert_tuple(typing.get_args(hint), value, where)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise InvalidInputError(
                f"{where}: expected one of {list(typing.get_args(hint))}, got {value!r}"
            )
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)  # type: ignore[arg-type]
    return _convert_scalar(hint, value, where)


def _convert_union(options: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _convert(option, value, where)
        except InvalidInputError as exc:
            errors.append(str(exc))
    raise InvalidInputError(errors[0] if errors else f"{where}: unexpected value {value!r}")


def _convert_tuple(args: tuple[Any, ...], value: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidInputError(f"{where}: expected a list, got {type(value).__name__}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if len(args) != len(value):
        raise InvalidInputError(f"{where}: expected {len(args)} items, got {len(value)}")
    return tuple(
        _convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
    )


def _convert_scalar(hint: Any, value: Any, where: str) -> Any:
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidInputError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidInputError(f"{where}: expected a whole number, got {value!r}")
    if hint in (str, bool) and not isinstance(value, hint):
        raise InvalidInputError(f"{where}: expected {hint.__name__}, got {value!r}")
    if hint not in (int, str, bool):
        raise InvalidInputError(f"{where}: unsupported field type {hint!r}")
    return value
