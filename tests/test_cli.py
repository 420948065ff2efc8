"""The gridedge console command, run as a user would."""

import re
import subprocess
import sys

import numpy as np

from gridedge import cli
from gridedge.services import demo
from gridedge.services.demo.local import FAULT, PROTECTION_DELAY_S, run


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
    for command in ("demo", "meter", "catalog", "simulator", "reconfigure"):
        assert command in result.stdout


def test_the_local_demo_prints_the_fault_table_and_the_plan() -> None:
    result = gridedge("demo", "--local")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[3].split()[:2] == ["t", "(ms)"]
    assert sum(line.split()[0].startswith("M") for line in lines[4:] if line) == 14
    assert "Detection at M1: a-g fault" in result.stdout
    assert re.search(
        r"Location \(M1's phasors over \d+ ms of the fault and the voltage magnitudes of 6 "
        r"downstream meters\): line F1-04, SS03-SS04, \d+ m from SS03 "
        r"\(truth 88 m, error [-+]\d m\)",
        result.stdout,
    ), result.stdout
    assert "3. close F1-01@PS1-MV" in result.stdout
    assert "4. close TIE@SS06" in result.stdout


def test_without_mosquitto_the_demo_says_so_and_runs_in_one_process(monkeypatch, capsys) -> None:
    monkeypatch.setattr(demo, "mosquitto_program", lambda: None)
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mosquitto is not installed")
    assert "Restoration plan" in out


def test_demo_sees_the_fault() -> None:
    frames = run(stream=None)
    before = frames.time < FAULT.time_s - 0.03
    after = (frames.time > FAULT.time_s + 0.04) & (frames.time < FAULT.time_s + PROTECTION_DELAY_S)
    va = np.abs(frames.voltage[:, 0])
    ia = np.abs(frames.current[:, 0])
    # The a-g fault two sections down the feeder sags phase a at the head and draws kA.
    assert va[after].max() < 0.85 * va[before].min()
    assert ia[after].min() > 100 * ia[before].max()
    np.testing.assert_allclose(np.abs(frames.voltage[after, 1]), 22e3 / np.sqrt(3), rtol=5e-3)
    assert frames.valid[before | after].all()


def test_a_domain_error_is_a_clean_exit() -> None:
    result = gridedge("demo", "--local", "--fs", "3010")
    assert result.returncode == 2
    assert "gridedge: error: fs / f0 must be a whole multiple" in result.stderr
    assert "Traceback" not in result.stderr
