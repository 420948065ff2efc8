"""What keeps the meter daemon's resident memory down: one malloc arena for all its threads,
and no module that only fault location needs (the grid model, scipy) loaded to detect."""

import os
import platform
import subprocess
import sys

import pytest

from gridedge.meter.commands import one_malloc_arena

# A thread allocates blocks above pymalloc's 512 bytes (so from malloc), then glibc prints
# its arenas to stderr.
THREAD_ALLOCATES = """
import ctypes, threading
def allocate():
    global kept
    kept = [bytearray(4096) for _ in range(100)]
thread = threading.Thread(target=allocate)
thread.start()
thread.join()
ctypes.CDLL(None).malloc_stats()
"""

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")


def run(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**environ, **environment},
        timeout=60,
        check=True,
    )


@glibc
def test_the_meter_entry_point_keeps_every_thread_in_the_main_arena() -> None:
    limited = run(
        "from gridedge.meter.commands import one_malloc_arena\n"
        "print(one_malloc_arena())\n" + THREAD_ALLOCATES
    )
    assert limited.stdout.strip() == "True"
    assert "Arena 0:" in limited.stderr
    assert "Arena 1:" not in limited.stderr
    # Without the limit the thread gets an arena of its own: the check above means something.
    assert "Arena 1:" in run(THREAD_ALLOCATES).stderr


def test_a_malloc_arena_max_in_the_environment_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not one_malloc_arena()


def test_the_fault_detector_loads_neither_the_grid_model_nor_scipy() -> None:
    done = run(
        "import sys\n"
        "import gridedge.meter.builtins.fault_detector\n"
        "print(sorted(m for m in sys.modules if m == 'scipy' or m == 'gridedge.grid.model'))\n"
    )
    assert done.stdout.strip() == "[]"
