"""Import an installed algorithm version under a name of its own.

Two versions of one algorithm (the active one and the one on probation) are loaded side by
side, so their modules must not share names in ``sys.modules``. Each load makes a fresh
package ``_gridedge_algorithms.{name}_{version}_{n}`` whose ``__path__`` is the version's
payload directory; the payload's modules import each other relatively (``from . import x``)
or absolutely through ``__package__``.
"""

import importlib
import itertools
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridedge.errors import ConfigurationError

ROOT = "_gridedge_algorithms"
_loads = itertools.count(1)


def load(
    payload: Path, entry_point: str, *, name: str, version: str
) -> tuple[str, Callable[[], Any]]:
    """Import the entry point's module from `payload` and return its factory.

    Parameters
    ----------
    payload : Path
        The version's payload directory.
    entry_point : str
        ``module:function`` (module relative to the payload).
    name, version : str
        The package, to name the module namespace.

    Returns
    -------
    (namespace, factory)
        The package name the modules were imported under (for :func:`unload`) and the
        entry point function.

    Raises
    ------
    ConfigurationError
        The entry point is not a callable of the module.
    Exception
        Whatever importing the module raises (ImportError, SyntaxError, ...).
    """
    module_name, _, function = entry_point.partition(":")
    label = re.sub(r"[^0-9A-Za-z_]", "_", f"{name}_{version}")
    namespace = f"{ROOT}.{label}_{next(_loads)}"
    if ROOT not in sys.modules:
        root = types.ModuleType(ROOT)
        root.__path__ = []
        sys.modules[ROOT] = root
    package = types.ModuleType(namespace)
    package.__path__ = [str(payload)]
    package.__package__ = namespace
    sys.modules[namespace] = package
    # A directory of the same path may have held another version before: forget cached listings.
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(f"{namespace}.{module_name}")
    except BaseException:
        unload(namespace)
        raise
    factory = getattr(module, function, None)
    if not callable(factory):
        unload(namespace)
        raise ConfigurationError(f"entry point {entry_point}: {function} is not a callable")
    return namespace, factory


def unload(namespace: str) -> None:
    """Forget the modules imported under `namespace` (objects still referenced live on)."""
    for module in [m for m in sys.modules if m == namespace or m.startswith(namespace + ".")]:
        del sys.modules[module]
