"""Shared set-up of the benchmarks: every kernel is timed beside its numpy twin."""

import pytest

from gridedge import kernels


@pytest.fixture(params=kernels.BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each kernel backend in turn: the compiled kernels, then their numpy twins."""
    return request.param
