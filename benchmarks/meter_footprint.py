"""Footprint of the meter daemon: CPU and resident memory of the real process, from /proc.

Sets up what a meter in the field has around it - two Mosquitto brokers, the catalog under
gunicorn with the built-in packages signed and uploaded, and a USB DAQ - then starts
``gridedge meter`` and measures it for ``--seconds`` after ``--warm-up``: user plus system CPU
time over wall time (``/proc/{pid}/stat``), and VmRSS and PSS (``/proc/{pid}/status``,
``smaps_rollup``) once a second.

The DAQ is the simulated USB-201 of the uldaq tests (``tests/meter/usb200_sim.c``) built as
``libuldaq.so`` with ``benchmarks/usb200_autoplug.c``, which plugs one board with a 50 Hz
three-phase signal, and preloaded into the daemon: the daemon runs its real ``uldaq`` backend
(continuous scan of 6 channels at ``--fs``), the acquisition pump, the sample ring, the phasor
estimator, the outbox, and the algorithms assigned (``--algorithms``: by default the phasor
publisher, one message a second, and the fault detector).

Run: ``.venv/bin/python benchmarks/meter_footprint.py`` (see docs/performance.md). Needs
``mosquitto`` and ``gcc``.
"""

import argparse
import contextlib
import datetime
import http.client
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gridedge.catalog.auth import sha256_hex
from gridedge.meter.builtins import BUILTINS, build
from gridedge.meter.usage import cpu_seconds, memory
from gridedge.mqtt import Connection
from gridedge.services.brokers import start_mosquitto
from gridedge.services.processes import free_port

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
VOLTS_PER_INPUT_VOLT = 7185.17  # 2 p.u. of 22 kV / sqrt(3) peak over 5 V
AMPERES_PER_INPUT_VOLT = 2976.92  # 25 x 421 A peak over 5 V
ALGORITHMS = {
    "phasor-publisher": {"decimation": 50},
    "fault-detector": {
        "case": "turin",
        "meter": "M1",
        "feeder": "F1",
        "nominal_voltage_v": 22e3 / 3**0.5,
        "deadline_s": 5.0,
    },
    "power-quality": {"interval_s": 1.0},
}


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port}")


class Processes:
    """Child processes, stopped (SIGTERM, then SIGKILL) in reverse order."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, command: list[str], log: Path, **kwargs: Any) -> subprocess.Popen:
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, **kwargs)
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def build_daq_library(directory: Path) -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise SystemExit("gcc is needed to build the simulated libuldaq.so")
    library = directory / "libuldaq.so"
    subprocess.run(
        [
            *(compiler, "-shared", "-fPIC", "-O2", "-pthread", "-Wl,-soname,libuldaq.so"),
            *("-o", str(library), str(ROOT / "tests/meter/usb200_sim.c")),
            *(str(ROOT / "benchmarks/usb200_autoplug.c"), "-lm"),
        ],
        check=True,
    )
    return library


def admin(port: int, token: str, method: str, path: str, body: bytes, content_type: str) -> Any:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request(
        method,
        path,
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    response = connection.getresponse()
    content = response.read()
    connection.close()
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: {response.status} {content[:300]!r}")
    return json.loads(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time, s")
    parser.add_argument("--warm-up", type=float, default=10.0, help="time before measuring, s")
    parser.add_argument("--fs", type=float, default=6400.0, help="sampling rate, Hz")
    parser.add_argument(
        "--algorithms",
        nargs="*",
        default=["phasor-publisher", "fault-detector"],
        choices=sorted(ALGORITHMS),
        help="built-ins the meter runs",
    )
    parser.add_argument(
        "--directory", type=Path, help="work (and keep the logs) here instead of a temporary one"
    )
    args = parser.parse_args()
    processes = Processes()
    with contextlib.ExitStack() as stack:
        if args.directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="footprint-")))
        else:
            directory = args.directory
            directory.mkdir(parents=True, exist_ok=True)
        try:
            result = run(args, directory, processes)
        finally:
            processes.stop()
    print(json.dumps(result))
    print(
        f"\nmeter daemon, {len(args.algorithms)} algorithms ({', '.join(args.algorithms)}), "
        f"6 channels at {args.fs:g} Hz, {args.seconds:g} s after {args.warm_up:g} s:\n"
        f"  CPU          {result['cpu_percent']:.2f} % of one core, of which the simulated "
        f"board's own scan {result['board_cpu_percent']:.2f} %\n"
        f"  VmRSS        {result['rss_mb_mean']:.1f} MB mean, {result['rss_mb_max']:.1f} MB max\n"
        f"  PSS          {result['pss_mb_mean']:.1f} MB mean\n"
        f"  anonymous    {result['anonymous_mb_mean']:.1f} MB mean\n"
        f"  samples      {result['samples']} read, {result['ring_dropped']} dropped, "
        f"{result['measurements']} measurements received"
    )


def run(args: argparse.Namespace, directory: Path, processes: Processes) -> dict[str, Any]:
    brokers = start_brokers(directory, processes)
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    token = secrets.token_urlsafe(24)
    port = start_catalog(directory, brokers, public, token, processes)
    register_meter(args, port, brokers, key, token, directory)
    provisioning = {
        "meter": {
            "device_id": "M1",
            "catalog_url": f"http://{HOST}:{port}",
            "credential": str(directory / "token"),
            "trusted_keys": [public],
            "state_dir": str(directory / "state"),
        }
    }
    (directory / "meter.json").write_text(json.dumps(provisioning))
    status_topic = "gridedge/meters/M1/status"
    watcher = Connection(HOST, brokers["monitoring"], sender="footprint")
    watcher.start()
    watcher.subscribe(status_topic)
    watcher.subscribe("gridedge/meters/M1/measurements")
    library = build_daq_library(directory)
    command = [sys.executable, "-m", "gridedge.cli", "--log-level", "INFO", "meter"]
    meter = processes.start(
        [*command, "--provisioning", str(directory / "meter.json")],
        directory / "meter.log",
        env={**os.environ, "LD_PRELOAD": str(library)},
    )
    try:
        status = wait_until_running(watcher, status_topic, set(args.algorithms), meter)
        board = board_cpu_percent(library, args.fs, args.warm_up)
        time.sleep(args.warm_up)
        drain(watcher, status_topic)
        result = measure(meter.pid, args.seconds)
        seen = drain(watcher, status_topic)
        status = seen.get("status", status)
    finally:
        watcher.close()
    log = (directory / "meter.log").read_text()
    if "Traceback" in log:
        raise SystemExit(f"the meter logged an exception:\n{log}")
    return {
        **result,
        "board_cpu_percent": board,
        "algorithms": args.algorithms,
        "fs": args.fs,
        "samples": status["acquisition"]["samples"],
        "ring_dropped": status["acquisition"]["ring_dropped"],
        "measurements": seen["count"],
        "states": {n: s["state"] for n, s in status["algorithms"].items()},
    }


def start_brokers(directory: Path, processes: Processes) -> dict[str, int]:
    """The two brokers from the package's launcher; stopped with the other processes."""
    brokers = {}
    for broker in ("grid", "monitoring"):
        started = start_mosquitto(broker, directory, persistence=False)
        processes.started.append(started.process)
        brokers[broker] = started.port
    return brokers


def start_catalog(
    directory: Path, brokers: dict[str, int], public: str, token: str, processes: Processes
) -> int:
    port = free_port()
    catalog = {
        "catalog": {
            "database": f"sqlite:///{directory / 'catalog.sqlite3'}",
            "bind": f"{HOST}:{port}",
            "workers": 1,
            "admin_token_sha256": sha256_hex(token),
            "package_keys": [public],
            "grid_broker": f"{HOST}:{brokers['grid']}",
            "monitoring_broker": f"{HOST}:{brokers['monitoring']}",
        }
    }
    path = directory / "catalog.json"
    path.write_text(json.dumps(catalog))
    process = processes.start(
        [sys.executable, "-m", "gridedge.cli", "catalog", "serve", "--config", str(path)],
        directory / "catalog.log",
    )
    wait_for_port(port, process, "the catalog")
    return port


def register_meter(
    args: argparse.Namespace,
    port: int,
    brokers: dict[str, int],
    key: Ed25519PrivateKey,
    token: str,
    directory: Path,
) -> None:
    """Brokers and signed built-ins into the catalog; meter M1 with a DAQ and the algorithms."""
    json_type, package_type = "application/json", "application/octet-stream"
    for broker, broker_port in brokers.items():
        body = json.dumps({"host": HOST, "port": broker_port}).encode()
        admin(port, token, "PUT", f"/v1/brokers/{broker}", body, json_type)
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    for builtin in BUILTINS:
        path = f"/v1/algorithms/{builtin.name}/{builtin.version}"
        admin(port, token, "PUT", path, build(builtin, key, expires), package_type)
    acquisition = {
        "backend": "uldaq",
        "fs": args.fs,
        "block_s": 0.05,
        "options": {
            "unique_id": "BENCH001",
            "input_range": "BIP10VOLTS",
            "gain": [VOLTS_PER_INPUT_VOLT] * 3 + [AMPERES_PER_INPUT_VOLT] * 3,
            "zero": [5.0] * 6,
        },
    }
    registration = {
        "kind": "meter",
        "update_interval_s": 60,
        "algorithms": [
            {"name": n, "version": "1.0.0", "parameters": ALGORITHMS[n]} for n in args.algorithms
        ],
        "parameters": {"acquisition": acquisition},
    }
    body = json.dumps(registration).encode()
    registered = admin(port, token, "PUT", "/v1/devices/M1", body, json_type)
    (directory / "token").write_text(registered["token"])


BOARD_ALONE = """
import sys, time
from gridedge.meter.daq import DaqSettings, DaqSource
from gridedge.meter.usage import cpu_seconds
source = DaqSource(DaqSettings(unique_id="BENCH001", fs=float(sys.argv[1]), buffer_seconds=60.0))
time.sleep(0.5)
start, wall = cpu_seconds(), time.monotonic()
time.sleep(float(sys.argv[2]))
print(100 * (cpu_seconds() - start) / (time.monotonic() - wall))
source.close()
"""


def board_cpu_percent(library: Path, fs: float, seconds: float) -> float:
    """CPU of the simulated board scanning with nobody reading (what real hardware does itself)."""
    result = subprocess.run(
        [sys.executable, "-c", BOARD_ALONE, str(fs), str(seconds)],
        env={**os.environ, "LD_PRELOAD": str(library)},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout)


def measure(pid: int, seconds: float) -> dict[str, float]:
    """CPU over `seconds` and memory once a second, of process `pid`."""
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    readings = []
    while time.monotonic() - wall0 < seconds:
        time.sleep(1.0)
        readings.append(memory(pid))
    cpu1, wall1 = cpu_seconds(pid), time.monotonic()
    megabytes = 1024 * 1024
    return {
        "seconds": wall1 - wall0,
        "cpu_percent": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "rss_mb_mean": statistics.fmean(r["rss"] for r in readings) / megabytes,
        "rss_mb_max": max(r["rss"] for r in readings) / megabytes,
        "pss_mb_mean": statistics.fmean(r["pss"] for r in readings) / megabytes,
        "anonymous_mb_mean": statistics.fmean(r["anonymous"] for r in readings) / megabytes,
    }


def wait_until_running(
    watcher: Connection, topic: str, names: set[str], meter: subprocess.Popen
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if meter.poll() is not None:
            raise SystemExit(f"the meter exited with {meter.returncode}")
        try:
            message = watcher.inbox.get(timeout=1.0)
        except queue.Empty:
            continue
        if message.topic != topic or not message.payload:
            continue
        body = message.envelope().body
        if isinstance(body, dict) and all(
            body["algorithms"].get(n, {}).get("state") in ("probation", "running") for n in names
        ):
            return body
    raise SystemExit("the meter did not start its algorithms within 60 s")


def drain(watcher: Connection, status_topic: str) -> dict[str, Any]:
    """Count the measurements waiting; keep the last status."""
    found: dict[str, Any] = {"count": 0}
    while True:
        try:
            message = watcher.inbox.get_nowait()
        except queue.Empty:
            return found
        if message.topic == status_topic:
            body = message.envelope().body
            if isinstance(body, dict):
                found["status"] = body
        else:
            found["count"] += 1


if __name__ == "__main__":
    main()
