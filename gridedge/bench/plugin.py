"""pytest plugin (``-p gridedge.bench.plugin``): complete the machine description of a run.

pytest-benchmark records the processor, system and Python in ``machine_info``. This adds a
``gridedge`` entry: the package version, the board (a Raspberry Pi names its model only in
the device tree) and, when the run is emulated, the evidence, so the results file says so
wherever it is read later.
"""

from typing import Any

import pytest

from gridedge import __version__
from gridedge.bench.machine import board_model, detect_emulation


def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    """Add the ``gridedge`` entry to ``machine_info`` (a hook of pytest-benchmark)."""
    machine_info["gridedge"] = {
        "version": __version__,
        "board": board_model(),
        "emulation": detect_emulation(),
    }
