"""Every compiled kernel loads on this machine and has a numpy twin with the same API.

Marked ``kernels``, so ``make test-arm64`` runs it on aarch64 against the installed wheel: there
it shows that each extension module of the wheel loads (right machine code, every symbol
resolved by the target's C and C++ runtimes). The list of kernels is discovered, not written
down, so a new kernel is covered as soon as it is built.
"""

import inspect
import pkgutil
import re
from types import ModuleType

import pytest

import gridedge._native
from gridedge import kernels

pytestmark = pytest.mark.kernels

COMPILED = sorted(module.name for module in pkgutil.iter_modules(gridedge._native.__path__))


def public_members(module: ModuleType) -> dict[str, object]:
    """Public functions and classes defined by `module` itself (not imported into it)."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and callable(value)
        and getattr(value, "__module__", None) == module.__name__
    }


def parameter_names(function: object) -> list[str]:
    """Parameter names of a Python, Cython or pybind11 callable, without ``self``."""
    try:
        names = list(inspect.signature(function).parameters)  # type: ignore[arg-type]
    except ValueError:
        # pybind11 states the signature in the first docstring line: name(a: T, b: U = x) -> R
        header = (function.__doc__ or "").splitlines()[0]
        inside = header[header.index("(") + 1 : header.rindex(")")]
        names = re.findall(r"(?:^|, )(\w+):", inside)
    return [name for name in names if name != "self"]


def test_the_native_kernels_were_found() -> None:
    assert COMPILED, f"no compiled module in {gridedge._native.__path__}: is the package built?"


@pytest.mark.parametrize("name", COMPILED)
def test_native_kernel_loads_and_mirrors_its_twin(name: str) -> None:
    native = kernels.load(name, "native")
    twin = kernels.load(name, "python")
    native_members = public_members(native)
    twin_members = public_members(twin)
    assert native_members, f"{native.__name__} defines no public function or class"
    assert set(native_members) == set(twin_members)
    for member, value in native_members.items():
        if inspect.isclass(value):
            # Methods only: a compiled property may be a plain instance attribute in the twin.
            twin_class = twin_members[member]
            for method, function in vars(value).items():
                if method.startswith("_") or not callable(function):
                    continue
                assert hasattr(twin_class, method), f"{twin.__name__}.{member}.{method}"
                twin_method = getattr(twin_class, method)
                assert parameter_names(function) == parameter_names(twin_method), method
        else:
            assert parameter_names(value) == parameter_names(twin_members[member]), member
