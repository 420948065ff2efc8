"""The gridedge console command, run as a user would."""

import subprocess
import sys

import numpy as np

from gridedge.demo import run


def gridedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridedge.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_the_commands() -> None:
    result = gridedge("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_demo_prints_the_fault_table() -> None:
    result = gridedge("demo")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:2] == ["t", "(ms)"]
    assert len(lines) > 10


def test_demo_sees_the_fault() -> None:
    frames = run(stream=None)
    before = frames.time < 0.08
    after = frames.time > 0.14
    va = np.abs(frames.voltage[:, 0])
    ia = np.abs(frames.current[:, 0])
    assert va[after].max() < 0.35 * va[before].min()
    assert ia[after].min() > 10 * ia[before].max()
    np.testing.assert_allclose(np.abs(frames.voltage[after, 1]), 22e3 / np.sqrt(3), rtol=2e-3)


def test_a_domain_error_is_a_clean_exit() -> None:
    result = gridedge("demo", "--fs", "3010")
    assert result.returncode == 2
    assert "gridedge: error: fs / f0 must be a whole multiple" in result.stderr
    assert "Traceback" not in result.stderr
