"""Shared fixtures of the test suite."""

import pytest

from gridedge import kernels


@pytest.fixture(params=kernels.BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each kernel backend in turn: the compiled kernels, then their numpy twins."""
    return request.param
