"""gridedge bench: reading results, the comparison's arithmetic, emulation and machine labels.

Fixtures in tests/data/bench: ``run-x86_64.json`` and ``baseline-x86_64.json`` (small runs
with known times), and ``run-aarch64-emulated.json``, written by ``make test-arm64`` under qemu
(its machine_info as recorded there, two of its benchmarks).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gridedge.bench.compare import (
    EMULATION_WARNING,
    PAPER_FIGURES,
    Comparison,
    Row,
    compare,
    format_comparison,
    format_seconds,
    plot_comparison,
)
from gridedge.bench.machine import (
    board_model,
    describe_machine,
    detect_emulation,
    emulation_evidence,
)
from gridedge.bench.results import load_run, machine_slug, write_baseline
from gridedge.errors import InvalidInputError

DATA = Path(__file__).parent / "data" / "bench"
RUN = DATA / "run-x86_64.json"
BASELINE = DATA / "baseline-x86_64.json"
EMULATED = DATA / "run-aarch64-emulated.json"
RING = "benchmarks/bench_ring.py::test_ring[native]"
FAULT = "benchmarks/bench_fault.py::test_locate[native-6400]"
# What a Raspberry Pi 4 running Raspberry Pi OS 64-bit shows (abridged).
PI_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU part\t: 0xd08

Revision\t: c03114
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def rows_by_fullname(comparison: Comparison) -> dict[str, Row]:
    return {row.benchmark.fullname: row for row in comparison.rows}


def test_load_run_reads_benchmarks_and_pairs() -> None:
    run = load_run(RUN)
    assert len(run.benchmarks) == 4
    fault = run.by_fullname()[FAULT]
    assert fault.group == "fault location: Turin case, fault between buses 5 and 6"
    assert fault.backend == "native"
    assert fault.case == "benchmarks/bench_fault.py::test_locate[backend=*,fs=6400]"
    assert fault.seconds == {"min": 4e-3, "median": 5.31e-3, "mean": 6e-3}
    assert fault.rounds == 100


def test_twin_and_baseline_ratios() -> None:
    comparison = compare(load_run(RUN), load_run(BASELINE), statistic="median")
    rows = rows_by_fullname(comparison)
    ring = rows[RING]
    assert ring.seconds == pytest.approx(1e-4)
    assert ring.twin_ratio == pytest.approx(2e-3 / 1e-4)
    assert ring.baseline_s == pytest.approx(2e-4)
    assert ring.speedup == pytest.approx(2.0)
    assert rows[RING.replace("native", "python")].twin_ratio is None
    assert rows[FAULT].baseline_s is None  # the baseline has no such benchmark
    assert rows[FAULT].speedup is None
    assert rows[FAULT].twin_ratio == pytest.approx(0.25 / 5.31e-3)


def test_the_statistic_is_the_one_chosen() -> None:
    for statistic, native, twin in (("min", 8e-5, 1.6e-3), ("mean", 1.2e-4, 2.4e-3)):
        ring = rows_by_fullname(compare(load_run(RUN), statistic=statistic))[RING]
        assert ring.seconds == pytest.approx(native)
        assert ring.twin_ratio == pytest.approx(twin / native)
    with pytest.raises(InvalidInputError, match="'p99' is not one of"):
        compare(load_run(RUN), statistic="p99")


def test_paper_rows_follow_the_kernel_part_of_the_group() -> None:
    comparison = compare(load_run(RUN))
    by_step = {p.figure.step: p for p in comparison.paper}
    assert len(by_step) == len(PAPER_FIGURES)
    located = by_step["fault location (on meter)"]
    assert located.benchmark is not None
    assert located.benchmark.backend == "native"  # never the twin
    assert located.speedup(located.figure.pi_s) == pytest.approx(8.17 / 5.31e-3)
    assert located.speedup(located.figure.laptop_s) == pytest.approx(100.0)
    unmeasured = by_step["MV-level state estimation"]
    assert unmeasured.benchmark is None
    assert unmeasured.speedup(unmeasured.figure.pi_s) is None


def test_tuple_parameters_benchmarks_without_group_and_paper_rows_by_name(tmp_path: Path) -> None:
    document = json.loads(RUN.read_text())
    template = document["benchmarks"][0]
    group = "restoration plan, Turin, fault on TIE"

    def entry(name: str, group: str | None, params: dict | None, median: float) -> dict:
        made = json.loads(json.dumps(template))
        made.update(fullname=f"benchmarks/bench_plan.py::{name}", name=name, group=group)
        made.update(params=params)
        made["stats"].update(min=median, median=median, mean=median)
        return made

    document["benchmarks"] = [
        entry("test_setup", None, None, 4e-2),
        entry("test_turin_locate[native]", None, {"backend": "native"}, 2.655e-3),
        entry("test_plan[sweep-native-TIE]", group, {"planner": ["sweep", "native"]}, 5e-4),
        entry("test_plan[sweep-twin-TIE]", group, {"planner": ["sweep", "python"]}, 8e-3),
        entry("test_plan[grid-TIE]", group, {"planner": ["grid", None]}, 1.4e-2),
    ]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(document))
    comparison = compare(load_run(path))
    rows = {row.benchmark.name: row for row in comparison.rows}
    native = rows["test_plan[sweep-native-TIE]"]
    assert native.benchmark.backend == "native"
    assert native.benchmark.case == "benchmarks/bench_plan.py::test_plan[planner=sweep/*]"
    assert native.twin_ratio == pytest.approx(16.0)
    assert rows["test_plan[grid-TIE]"].benchmark.backend is None
    assert rows["test_plan[grid-TIE]"].twin_ratio is None
    reconfiguration = [p for p in comparison.paper if p.figure.step == "network reconfiguration"]
    timed = [p.benchmark.name for p in reconfiguration if p.benchmark is not None]
    assert timed == ["test_plan[sweep-native-TIE]", "test_plan[grid-TIE]"]
    assert reconfiguration[0].speedup(0.028) == pytest.approx(56.0)
    located = next(p for p in comparison.paper if p.figure.step == "fault location (on meter)")
    assert located.benchmark is not None  # matched on its function's name, not on a group
    assert located.benchmark.function == "test_turin_locate"
    assert located.speedup(located.figure.laptop_s) == pytest.approx(200.0)
    text = format_comparison(comparison)
    assert text.splitlines()[4] == "(no group)"
    assert "< 56x" in text


def test_report_shows_machines_ratios_and_the_paper() -> None:
    text = format_comparison(compare(load_run(RUN), load_run(BASELINE)))
    assert (
        "this run: x86_64, AMD EPYC, 2 CPUs, Linux 6.18.44, CPython 3.11.7, host bench-host" in text
    )
    assert "Intel(R) Core(TM) i7-8565U CPU @ 1.80GHz, 8 CPUs" in text
    assert "commit 0123456789 (with uncommitted changes)" in text
    ring_line = next(line for line in text.splitlines() if "test_ring[native]" in line)
    assert ring_line.split()[1:] == ["100", "us", "20x", "200", "us", "2x"]
    lines = text.splitlines()
    step = lines.index(next(line for line in lines if line.startswith("fault location (on")))
    assert lines[step].split()[-4:] == ["8.17", "s", "531", "ms"]
    assert lines[step + 1].split() == ["test_locate[native-6400]", "5.31", "ms", "1,539x", "100x"]
    reconfiguration = next(line for line in lines if line.startswith("network reconfiguration"))
    assert reconfiguration.split()[2:] == ["-", "<", "28", "ms", "no", "benchmark", "yet"]
    assert "EMULATED" not in text


def test_emulated_run_is_reported_as_such() -> None:
    emulated = load_run(EMULATED)
    comparison = compare(emulated, load_run(RUN))
    assert comparison.emulation is not None
    assert "AuthenticAMD" in comparison.emulation
    assert comparison.baseline_emulation is None
    text = format_comparison(comparison)
    assert "EMULATED (this run)" in text
    assert EMULATION_WARNING in text
    assert "commit" not in text.splitlines()[1]  # "unversioned" outside git is not a commit


def test_emulation_is_recognised_from_the_processor_alone() -> None:
    info = load_run(EMULATED).machine_info
    del info["gridedge"]
    evidence = emulation_evidence(info, node="elsewhere", machine="x86_64")
    assert evidence == "an aarch64 interpreter on an x86 processor (AuthenticAMD, AMD EPYC)"
    info["cpu"] = {"brand_raw": "QEMU Virtual CPU version 2.5+"}
    assert "QEMU processor" in str(emulation_evidence(info, node="elsewhere"))


def test_emulation_is_recognised_from_a_foreign_run_on_this_host(tmp_path: Path) -> None:
    info = {"node": "here", "machine": "aarch64", "cpu": {"brand_raw": "", "vendor_id_raw": ""}}
    entry = tmp_path / "qemu-aarch64"
    entry.write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    evidence = emulation_evidence(info, node="here", machine="x86_64", binfmt=tmp_path)
    assert evidence is not None
    assert "this x86_64 host (here)" in evidence
    entry.write_text("disabled\n")
    assert emulation_evidence(info, node="here", machine="x86_64", binfmt=tmp_path) is None
    entry.write_text("enabled\n")
    assert emulation_evidence(info, node="a-pi", machine="x86_64", binfmt=tmp_path) is None


def test_a_real_pi_is_not_emulated(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(PI_CPUINFO)
    assert detect_emulation(tmp_path, machine="aarch64") is None
    info = load_run(EMULATED).machine_info
    info["gridedge"] = {"board": "Raspberry Pi 4 Model B Rev 1.4", "emulation": None}
    info["cpu"] = {"arch_string_raw": "aarch64", "count": 4}
    assert emulation_evidence(info, node="elsewhere") is None
    assert describe_machine(info).startswith("aarch64, Raspberry Pi 4 Model B Rev 1.4, 4 CPUs")


def test_detect_emulation_reads_cpuinfo(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text("processor\t: 0\nvendor_id\t: GenuineIntel\n")
    assert "GenuineIntel" in str(detect_emulation(tmp_path, machine="aarch64"))
    assert detect_emulation(tmp_path, machine="x86_64") is None  # an x86 machine is itself


def test_board_model_from_device_tree_or_dmi(tmp_path: Path) -> None:
    assert board_model(tmp_path) is None
    dmi = tmp_path / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    (dmi / "sys_vendor").write_text("LENOVO\n")
    (dmi / "product_name").write_text("20XW\n")
    assert board_model(tmp_path) == "LENOVO 20XW"
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\0")
    assert board_model(tmp_path) == "Raspberry Pi 4 Model B Rev 1.4"


def test_baseline_copy_drops_the_rounds_and_is_named_after_the_machine(tmp_path: Path) -> None:
    written = write_baseline(RUN, tmp_path)
    assert written.name == "x86_64-amd-epyc-2cpu.json"
    document = json.loads(written.read_text())
    assert all("data" not in b["stats"] for b in document["benchmarks"])
    assert (
        load_run(written).by_fullname()[RING].seconds == load_run(RUN).by_fullname()[RING].seconds
    )
    pi = {"machine": "aarch64", "gridedge": {"board": "Raspberry Pi 4 Model B Rev 1.4"}}
    assert machine_slug(pi) == "aarch64-raspberry-pi-4-model-b-rev-1.4"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read benchmark results"),
        ("{", "is not JSON"),
        ("[]", "expected a JSON object"),
        ('{"benchmarks": []}', "no machine_info"),
        ('{"machine_info": {}, "benchmarks": [{}]}', "benchmark #0 has no fullname"),
        (
            '{"machine_info": {}, "benchmarks": [{"fullname": "b::t", "stats": '
            '{"min": 1, "median": -1, "mean": 1}}]}',
            r"b::t: stats.median = -1 is not a positive time",
        ),
    ],
)
def test_bad_results_are_named(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=message) as caught:
        load_run(path)
    assert str(path) in str(caught.value)


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (8.17, 0.531, 6.14e-5, 2.5e-8, None)] == [
        "8.17 s",
        "531 ms",
        "61.4 us",
        "25 ns",
        "-",
    ]


def test_plot_is_written_when_matplotlib_is_there(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is optional and not installed")
    path = plot_comparison(compare(load_run(RUN), load_run(BASELINE)), tmp_path / "bench.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def gridedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridedge.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_command_line_compare_and_module_entry_point() -> None:
    result = gridedge("bench", "compare", str(RUN), "--baseline", str(BASELINE))
    assert result.returncode == 0, result.stderr
    assert "test_ring[native]" in result.stdout
    module = subprocess.run(
        [sys.executable, "-m", "gridedge.bench", str(EMULATED)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert module.returncode == 0, module.stderr
    assert EMULATION_WARNING in module.stdout


def test_command_line_names_a_missing_file(tmp_path: Path) -> None:
    result = gridedge("bench", "compare", str(tmp_path / "nothing.json"))
    assert result.returncode == 2
    assert "gridedge: error: cannot read benchmark results" in result.stderr
    assert "Traceback" not in result.stderr


def test_plugin_records_the_gridedge_entry(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "bench_one.py").write_text(
        "def test_sum(benchmark):\n    assert benchmark(sum, range(10)) == 45\n"
    )
    out = tmp_path / "out.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "bench_one.py",
            "-q",
            "-p",
            "gridedge.bench.plugin",
            "-p",
            "no:cacheprovider",
            "--benchmark-max-time=0.01",
            f"--benchmark-json={out}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    entry = json.loads(out.read_text())["machine_info"]["gridedge"]
    assert set(entry) == {"version", "board", "emulation"}
    assert entry["emulation"] == detect_emulation()
