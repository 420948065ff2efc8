"""Load test of the catalog's settings polls: gunicorn, SQLite, a client in another process.

Starts ``gridedge catalog serve`` (SQLite, no MQTT) on a free loopback port, registers
``--devices`` meters, then for each kind of poll (304: If-None-Match with the current ETag;
full: no ETag) sends polls at ``--rate`` per second for ``--seconds`` from this process, each
from a device chosen in turn, with at most ``--connections`` requests in flight. Latency runs
from the moment a poll was due to its last byte, so a slow server cannot hide its queue.
Prints throughput, latency percentiles, errors and the "database is locked" count of the
server log, as one JSON line per kind and a table.

Run: ``.venv/bin/python benchmarks/catalog_load.py`` (see docs/performance.md).
"""

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gridedge.catalog.auth import sha256_hex

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(directory: Path, args: argparse.Namespace, admin_token: str) -> tuple:
    port = free_port()
    config = {
        "catalog": {
            "database": f"sqlite:///{directory / 'catalog.sqlite3'}",
            "bind": f"{HOST}:{port}",
            "workers": args.workers,
            "threads": args.threads,
            "admin_token_sha256": sha256_hex(admin_token),
        }
    }
    path = directory / "catalog.json"
    path.write_text(json.dumps(config))
    log = (directory / "server.log").open("w+b")
    process = subprocess.Popen(
        [sys.executable, "-m", "gridedge.cli", "catalog", "serve", "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return process, port, log
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the catalog did not start:\n{(directory / 'server.log').read_text()}")


def register(port: int, admin_token: str, count: int) -> dict[str, tuple[str, str]]:
    """Register `count` meters; return id -> (token, current settings ETag)."""
    devices = {}
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    for i in range(count):
        device_id = f"M{i:06d}"
        body = json.dumps({"kind": "meter", "timeout_s": 600, "parameters": {"bus": f"B{i}"}})
        connection.request(
            "PUT",
            f"/v1/devices/{device_id}",
            body=body,
            headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        document = json.loads(response.read())
        if response.status != 201:
            raise SystemExit(f"registration of {device_id} failed: {response.status} {document}")
        devices[device_id] = (document["token"], f'"r{document["revision"]}"')
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.close()
    return devices


class Lane:
    """One client connection, kept open while the server allows it (HTTP/1.1 keep-alive)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def poll(self, request: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        self.writer.write(request)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("the server closed the connection")
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run_phase(port: int, requests: list[bytes], args: argparse.Namespace) -> dict:
    """Send polls at the target rate through the lanes; collect latency and statuses."""
    total = int(args.rate * args.seconds)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    due: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    start = time.perf_counter() + 0.1

    async def lane() -> None:
        connection = Lane(port)
        while (job := await due.get()) is not None:
            i, when = job
            try:
                status = await asyncio.wait_for(connection.poll(requests[i % len(requests)]), 10)
                key = str(status)
            except (TimeoutError, OSError, ValueError, IndexError) as exc:
                connection.close()
                key = type(exc).__name__
            latencies.append(time.perf_counter() - when)
            statuses[key] = statuses.get(key, 0) + 1
        connection.close()

    lanes = [asyncio.create_task(lane()) for _ in range(args.connections)]
    for i in range(total):
        when = start + i / args.rate
        delay = when - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait((i, when))
    for _ in lanes:
        due.put_nowait(None)
    await asyncio.gather(*lanes)
    elapsed = time.perf_counter() - start
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=1000)
    return {
        "requests": total,
        "throughput_per_s": round(total / elapsed, 1),
        "p50_ms": round(quantiles[499] * 1e3, 2),
        "p99_ms": round(quantiles[989] * 1e3, 2),
        "max_ms": round(latencies[-1] * 1e3, 2),
        "statuses": statuses,
    }


WRK_SCRIPT = """
local requests = {}
local next = 0
init = function(args)
  for line in io.lines(args[1]) do
    local path, token, etag = line:match("^(%S+) (%S+) ?(%S*)$")
    local headers = {Authorization = "Bearer " .. token}
    if etag ~= "" then headers["If-None-Match"] = etag end
    table.insert(requests, wrk.format("GET", path, headers))
  end
  next = math.random(#requests)
end
request = function()
  next = next % #requests + 1
  return requests[next]
end
"""


def run_wrk(port: int, lines: list[str], args: argparse.Namespace, directory: Path) -> dict:
    """Closed-loop load with wrk: `--connections` connections, as fast as the server answers.

    A first run of ``--warmup`` seconds is not counted.
    """
    (directory / "polls.txt").write_text("\n".join(lines) + "\n")
    (directory / "polls.lua").write_text(WRK_SCRIPT)
    if args.warmup > 0:
        _wrk(port, args, directory, args.warmup)
    return _parse_wrk(_wrk(port, args, directory, args.seconds))


def _wrk(port: int, args: argparse.Namespace, directory: Path, seconds: float) -> str:
    return subprocess.run(
        [
            "wrk",
            f"-t{args.wrk_threads}",
            f"-c{args.connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(directory / "polls.lua"),
            f"http://{HOST}:{port}",
            "--",
            str(directory / "polls.txt"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _parse_wrk(output: str) -> dict:
    result: dict = {"requests": 0, "statuses": {"errors": 0}}
    for line in output.splitlines():
        words = line.split()
        if line.strip().startswith(("50%", "99%")):
            result[f"p{words[0][:-1]}_ms"] = _milliseconds(words[1])
        elif "requests in" in line:
            result["requests"] = int(words[0])
        elif line.startswith("Requests/sec:"):
            result["throughput_per_s"] = float(words[1])
        elif line.startswith("Non-2xx or 3xx responses:"):
            result["statuses"]["errors"] += int(words[-1])
        elif line.strip().startswith("Socket errors:"):
            result["statuses"]["errors"] += sum(int(w.strip(",")) for w in words[3::2])
        elif line.strip().startswith("Latency") and "max_ms" not in result:
            result["max_ms"] = _milliseconds(words[3])
    return result


def _milliseconds(text: str) -> float:
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3), ("m", 6e4)):
        if text.endswith(unit):
            return round(float(text[: -len(unit)]) * factor, 2)
    raise ValueError(f"wrk printed a latency {text!r} this script cannot read")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=2000.0, help="polls per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="per kind of poll")
    parser.add_argument("--connections", type=int, default=64, help="polls in flight, at most")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="per worker")
    parser.add_argument(
        "--client",
        choices=["asyncio", "wrk"],
        default="asyncio",
        help="asyncio: open loop at --rate; wrk (Debian's wrk): closed loop, as fast as answered",
    )
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=2.0, help="wrk: seconds not counted")
    args = parser.parse_args()
    admin_token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="gridedge-load-") as tmp:
        process, port, log = start_server(Path(tmp), args, admin_token)
        try:
            devices = register(port, admin_token, args.devices)
            results = {}
            for kind in ("304", "full"):
                if args.client == "wrk":
                    lines = [
                        f"/v1/devices/{device_id}/settings {token} {etag if kind == '304' else ''}"
                        for device_id, (token, etag) in devices.items()
                    ]
                    results[kind] = run_wrk(port, lines, args, Path(tmp))
                    continue
                requests = []
                for device_id, (token, etag) in devices.items():
                    header = f"If-None-Match: {etag}\r\n" if kind == "304" else ""
                    requests.append(
                        (
                            f"GET /v1/devices/{device_id}/settings HTTP/1.1\r\nHost: {HOST}\r\n"
                            f"Authorization: Bearer {token}\r\n{header}\r\n"
                        ).encode()
                    )
                results[kind] = asyncio.run(run_phase(port, requests, args))
        finally:
            process.terminate()
            process.wait(30)
        log.seek(0)
        server_log = log.read().decode(errors="replace")
    locked = server_log.count("database is locked")
    print(
        f"catalog: {args.workers} workers x {args.threads} threads, SQLite, {args.devices} devices"
    )
    print(f"{'poll':6} {'polls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses")
    for kind, result in results.items():
        print(
            f"{kind:6} {result['throughput_per_s']:9.1f} {result['p50_ms']:8.2f} "
            f"{result['p99_ms']:8.2f} {result['max_ms']:8.2f}  {result['statuses']}"
        )
        print(
            json.dumps({"kind": kind, **result, "database_locked": locked, "cpus": os.cpu_count()})
        )
    print(f'"database is locked" in the server log: {locked}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
