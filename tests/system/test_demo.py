"""``gridedge demo`` as a user runs it: the whole system started, a fault walked through FLISR,
the timeline printed, everything stopped - also on Ctrl-C."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures.services import require_program


def processes_using(directory: Path) -> list[str]:
    """Command lines of the processes that name `directory` (the demo's children do)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(directory) in command:
            found.append(command)
    return found


def test_the_demo_prints_the_flisr_timeline_and_leaves_nothing_running(tmp_path):
    require_program("mosquitto", "mosquitto", "/usr/sbin/mosquitto")
    keep = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridedge.cli",
            "demo",
            "--keep",
            str(keep),
            "--json",
            str(tmp_path / "latencies.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for expected in (
        "fault inception",
        "protection opens F1-01@PS1-MV",
        "fault detected at M1 (a-g; confirmed by its frame of",
        "fault located by M1: SS02-SS03",
        "plan: open F1-03@SS02, open F1-03@SS03, close F1-01@PS1-MV, close TIE@SS06",
        "F1-03@SS02 open: operation acknowledged",
        "TIE@SS06 closed: operation acknowledged",
        "catalog: topology version 2",
        "catalog pushes settings (retained) to 14 meters",
        "M1 runs settings revision",
        "M2 runs settings revision",
        "state estimation: LV level of TS03 on M2",
        "state estimation: MV level on M1 for the feeder it now heads, from the LV levels of "
        "TS01, TS02",
        "last switch operation acknowledged",
        "Stopped 5 processes and 2 brokers",
    ):
        assert expected in out, f"{expected!r} missing from:\n{out}"
    # Every line of the timeline carries its latency from the inception, in order.
    timeline = out[out.index("t (ms)") : out.index("End to end")].splitlines()[1:-1]
    latencies = [float(line.split()[0]) for line in timeline if line.strip()]
    assert latencies == sorted(latencies)
    assert latencies[0] == 0.0
    assert (tmp_path / "latencies.json").exists()
    assert processes_using(keep) == []


def test_ctrl_c_stops_everything(tmp_path):
    require_program("mosquitto", "mosquitto", "/usr/sbin/mosquitto")
    keep = tmp_path / "demo"
    # As from a terminal: a test runner started in the background has SIGINT ignored, and a
    # child would inherit that; the wrapper sets it back to the default, then execs the demo.
    command = [sys.executable, "-m", "gridedge.cli", "demo", "--keep", str(keep)]
    wrapper = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    demo = subprocess.Popen(
        [sys.executable, "-c", wrapper, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        lines.append(line)
        if "all running" in line or not line:
            break
    assert processes_using(keep), "".join(lines)
    demo.send_signal(signal.SIGINT)
    out, _ = demo.communicate(timeout=60)
    assert "Stopped 5 processes and 2 brokers" in out
    assert "gridedge: interrupted" in out
    assert demo.returncode == 130
    assert processes_using(keep) == []
