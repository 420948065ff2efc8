"""Names of a package imported on first use (PEP 562), so that importing the package is cheap.

A meter that needs only a package's light parts (the grid model, fault detection) must not
load the heavy ones (the solvers, scipy) with them.
"""

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def exports(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package with lazy names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : mapping of str to str
        Each exported name and the submodule (relative to `package`) that defines it.
    namespace : dict
        The package's ``globals()``: a name is kept there once imported.
    """

    def attribute(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def listing() -> list[str]:
        return sorted(set(namespace) | set(names))

    return attribute, listing
