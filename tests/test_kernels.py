"""Backend selection: the environment switch, explicit choice, and no silent fallback."""

import pytest

from gridedge import kernels
from gridedge.errors import BackendUnavailableError, ConfigurationError


def test_native_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kernels.ENVIRONMENT_VARIABLE, raising=False)
    assert kernels.default_backend() == "native"
    assert kernels.load("phasor").__name__ == "gridedge._native.phasor"


def test_environment_selects_the_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernels.ENVIRONMENT_VARIABLE, "python")
    assert kernels.load("phasor").__name__ == "gridedge._twin.phasor"
    assert kernels.load("ring", "native").__name__ == "gridedge._native.ring"


def test_unknown_backend_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernels.ENVIRONMENT_VARIABLE, "fortran")
    with pytest.raises(ConfigurationError, match="'fortran' is not a kernel backend"):
        kernels.load("phasor")
    with pytest.raises(ConfigurationError, match="'gpu' is not one of"):
        kernels.load("phasor", "gpu")  # type: ignore[arg-type]


def test_missing_native_module_says_how_to_build_it() -> None:
    with pytest.raises(BackendUnavailableError, match="pip install -e ") as caught:
        kernels.load("not_built", "native")
    assert isinstance(caught.value, ImportError)
