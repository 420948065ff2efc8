"""The one place that selects between compiled kernels and their numpy twins.

Every compiled kernel in :mod:`gridedge._native` has a pure numpy/scipy twin of the same
name in :mod:`gridedge._twin` with the same functions and classes. The twin is the test
oracle and the benchmark baseline. ``GRIDEDGE_KERNELS=native|python`` chooses the backend
for the whole process (``native`` by default); a ``backend=`` argument chooses it for one
object. There is no silent fallback: asking for native kernels that were not built raises
:class:`~gridedge.errors.BackendUnavailableError` with the command that builds them.
"""

import importlib
import os
from types import ModuleType
from typing import Literal

from gridedge.errors import BackendUnavailableError, ConfigurationError

Backend = Literal["native", "python"]

BACKENDS: tuple[Backend, ...] = ("native", "python")
ENVIRONMENT_VARIABLE = "GRIDEDGE_KERNELS"

_PACKAGES: dict[Backend, str] = {"native": "gridedge._native", "python": "gridedge._twin"}


def default_backend() -> Backend:
    """Return the backend named by ``GRIDEDGE_KERNELS``, ``"native"`` when unset.

    Raises
    ------
    ConfigurationError
        If the variable names something other than ``native`` or ``python``.
    """
    value = os.environ.get(ENVIRONMENT_VARIABLE, "native").strip().lower()
    if value not in BACKENDS:
        raise ConfigurationError(
            f"{ENVIRONMENT_VARIABLE}={value!r} is not a kernel backend; use one of {BACKENDS}"
        )
    return value  # type: ignore[return-value]


def load(kernel: str, backend: Backend | None = None) -> ModuleType:
    """Import the module that implements `kernel` in the chosen backend.

    Parameters
    ----------
    kernel : str
        Kernel module name, for example ``"phasor"`` or ``"ring"``.
    backend : {"native", "python"}, optional
        Backend to use; ``None`` means :func:`default_backend`.

    Returns
    -------
    module
        ``gridedge._native.<kernel>`` or ``gridedge._twin.<kernel>``.

    Raises
    ------
    BackendUnavailableError
        If the native module is not built.
    ConfigurationError
        If `backend` is not a known backend.
    """
    chosen = default_backend() if backend is None else backend
    if chosen not in BACKENDS:
        raise ConfigurationError(f"backend {chosen!r} is not one of {BACKENDS}")
    name = f"{_PACKAGES[chosen]}.{kernel}"
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if chosen == "native" and exc.name == name:
            raise BackendUnavailableError(
                f"the compiled kernel {name} is not built: run 'pip install -e .' (or 'make test') "
                f"in the source tree to compile it, or set {ENVIRONMENT_VARIABLE}=python to use "
                "the numpy twins"
            ) from exc
        raise
