"""What keeps the meter daemon's resident memory down: no module that only fault location
needs (the grid model, scipy) loaded to detect."""

import subprocess
import sys


def test_the_fault_detector_loads_neither_the_grid_model_nor_scipy() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "import gridedge.meter.builtins.fault_detector\n"
            "print(sorted(m for m in sys.modules if m == 'scipy' or m == 'gridedge.grid.model'))\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"
