"""pytest-benchmark JSON: the results of one run, and trimmed copies kept as baselines."""

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from gridedge.errors import InvalidInputError
from gridedge.kernels import BACKENDS

STATISTICS = ("min", "median", "mean")


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One benchmark of a run.

    Attributes
    ----------
    fullname : str
        pytest node id, for example ``benchmarks/bench_phasor.py::test_ring[native]``; the key
        that matches a benchmark across runs.
    name : str
        Test name with its parameters, for example ``test_ring[native]``.
    group : str or None
        pytest-benchmark group, for example ``"phasor: 1 s of 6 channels at 6.4 kHz, one push"``.
    backend : str or None
        ``"native"`` or ``"python"`` when a parameter (or an item of a tuple parameter) names
        a kernel backend, None otherwise.
    case : str
        `fullname` without the backend: the key that pairs a kernel with its twin.
    seconds : dict of str to float
        ``min``, ``median`` and ``mean`` of the rounds, seconds.
    rounds : int
        Number of rounds timed.
    """

    fullname: str
    name: str
    group: str | None
    backend: str | None
    case: str
    seconds: dict[str, float]
    rounds: int

    @property
    def function(self) -> str:
        """The benchmark function's name, without parameters: ``test_ring``."""
        return self.fullname.rsplit("::", 1)[-1].split("[", 1)[0]


@dataclasses.dataclass(frozen=True)
class Run:
    """A pytest-benchmark results file.

    Attributes
    ----------
    path : Path
        Where it was read from.
    machine_info : dict
        pytest-benchmark's description of the machine (with a ``gridedge`` entry when
        :mod:`gridedge.bench.plugin` was loaded).
    commit_info : dict
        The commit the benchmarks ran on, as pytest-benchmark recorded it.
    datetime : str
        When the run ended (ISO 8601).
    benchmarks : tuple of Benchmark
        In file order.
    """

    path: Path
    machine_info: dict[str, Any]
    commit_info: dict[str, Any]
    datetime: str
    benchmarks: tuple[Benchmark, ...]

    def by_fullname(self) -> dict[str, Benchmark]:
        """Map each benchmark's node id to it."""
        return {b.fullname: b for b in self.benchmarks}


def load_run(path: str | Path) -> Run:
    """Read a pytest-benchmark JSON file.

    Raises
    ------
    InvalidInputError
        The file cannot be read, is not JSON, or lacks a field the comparison needs (the
        message names the file, the benchmark and the field).
    """
    path = Path(path)
    document = _read(path)
    machine_info = document.get("machine_info")
    if not isinstance(machine_info, dict):
        raise InvalidInputError(f"{path}: no machine_info table: not pytest-benchmark JSON")
    entries = document.get("benchmarks")
    if not isinstance(entries, list):
        raise InvalidInputError(f"{path}: no benchmarks list: not pytest-benchmark JSON")
    benchmarks = tuple(_benchmark(path, i, entry) for i, entry in enumerate(entries))
    return Run(
        path=path,
        machine_info=machine_info,
        commit_info=document.get("commit_info") or {},
        datetime=str(document.get("datetime", "")),
        benchmarks=benchmarks,
    )


def write_baseline(results: str | Path, destination: str | Path) -> Path:
    """Keep a results file as a baseline: the same JSON without the per-round timings.

    Parameters
    ----------
    results : path-like
        pytest-benchmark JSON, as ``make bench`` writes it.
    destination : path-like
        The baseline file, or a directory to put it in under a name made from the machine
        (for example ``x86_64-amd-epyc-2cpu.json``).

    Returns
    -------
    Path
        The file written.
    """
    run = load_run(results)
    document = _read(run.path)
    for entry in document["benchmarks"]:
        entry["stats"].pop("data", None)
    destination = Path(destination)
    if destination.is_dir():
        destination = destination / f"{machine_slug(run.machine_info)}.json"
    destination.write_text(json.dumps(document, indent=1) + "\n")
    return destination


def machine_slug(machine_info: dict[str, Any]) -> str:
    """File-name-safe label of a machine: architecture, processor and CPU count."""
    cpu = machine_info.get("cpu") or {}
    words = [
        str(machine_info.get("machine") or "unknown"),
        str((machine_info.get("gridedge") or {}).get("board") or cpu.get("brand_raw") or ""),
        f"{cpu['count']}cpu" if cpu.get("count") else "",
    ]
    text = "-".join(w for w in words if w).lower()
    return re.sub(r"[^a-z0-9_.]+", "-", text).strip("-")


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise InvalidInputError(f"cannot read benchmark results {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InvalidInputError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInputError(f"{path}: expected a JSON object at the top")
    return document


def _benchmark(path: Path, index: int, entry: Any) -> Benchmark:
    where = f"{path}: benchmark #{index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("fullname"), str):
        raise InvalidInputError(f"{where} has no fullname")
    where = f"{path}: {entry['fullname']}"
    stats = entry.get("stats")
    if not isinstance(stats, dict):
        raise InvalidInputError(f"{where} has no stats")
    seconds = {}
    for statistic in STATISTICS:
        value = stats.get(statistic)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InvalidInputError(
                f"{where}: stats.{statistic} = {value!r} is not a positive time"
            )
        seconds[statistic] = float(value)
    backend, case = _backend_and_case(entry["fullname"], entry.get("params") or {})
    group = entry.get("group")
    return Benchmark(
        fullname=entry["fullname"],
        name=str(entry.get("name", entry["fullname"].rsplit("::", 1)[-1])),
        group=None if group is None else str(group),
        backend=backend,
        case=case,
        seconds=seconds,
        rounds=int(stats.get("rounds", 0)),
    )


def _backend_and_case(fullname: str, params: dict[str, Any]) -> tuple[str | None, str]:
    """Find the kernel backend among the parameters; name the case without it.

    Benchmarks choose the backend as a parameter of its own (``backend="native"``) or as an
    item of a tuple parameter (``planner=("sweep", "python")``); the case replaces it by ``*``
    so that a kernel and its twin share one.
    """
    backend = None
    described = []
    for key, value in sorted(params.items()):
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if item in BACKENDS:
                backend = item
        shown = ["*" if item in BACKENDS else str(item) for item in items]
        described.append(f"{key}={'/'.join(shown)}")
    base = fullname.split("[", 1)[0]
    return backend, base + (f"[{','.join(described)}]" if described else "")
