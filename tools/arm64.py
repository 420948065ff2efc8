"""Build gridedge wheels for the Raspberry Pi (aarch64) on an x86_64 Debian machine; test them.

Target: Raspberry Pi OS (64-bit) / Debian 12 "bookworm" on aarch64, CPython 3.11.
docs/arm64.md says how and why. Commands (as root, from anywhere)::

    python3 tools/arm64.py wheel   # dist/gridedge-<version>-cp311-cp311-linux_aarch64.whl, checked
    python3 tools/arm64.py test    # installs it in the arm64 root, runs `-m kernels` tests there

``make wheel-arm64`` and ``make test-arm64`` run them. Modules: :mod:`arm64_root` (the
emulated target), :mod:`crossbuild` (the wheel), :mod:`wheelcheck` (its tags and machine
code), :mod:`steps` (shared helpers); this one installs and tests the wheel on the target.
"""

import argparse
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from arm64_root import PLATFORM_TAG, ensure_root, in_root, prepare_host, target_facts
from crossbuild import build_environment, build_wheel, built_wheel
from steps import CACHE, REPO, StepError, logger, run, step

# Debian 12's C library: wheels for any manylinux_2_N with N up to this run on the target.
GLIBC_MINOR = 36
# What the kernel tests and the benchmarks need beside the package and its dependencies.
TEST_REQUIREMENTS = ("pytest", "pytest-benchmark")
# Installed inside the root where docs/deploy.md installs it on a Pi.
TARGET_VENV = "/opt/gridedge"
STAGE = "/tmp/gridedge-arm64"
COMPILERS = ("cc", "gcc", "c++", "g++", "clang")
# Run on the target: each compiled kernel's file, to show they come from the installed wheel.
SHOW_KERNELS = (
    "import pkgutil, gridedge._native as n; from gridedge import kernels; "
    "[print(kernels.load(m.name, 'native').__file__) for m in pkgutil.iter_modules(n.__path__)]"
)
# What gridedge bench compare prints for an emulated run (gridedge/bench/compare.py).
EMULATION_MARK = "EMULATED"


def kernel_test_files(host_python: Path) -> list[str]:
    """Test files holding tests marked ``kernels``, collected on the host.

    Collecting on the host, where every test dependency is installed, and passing only these
    files to the target keeps the target free of the other tests' dependencies.
    """
    if not host_python.exists():
        raise StepError(f"{host_python} is missing: run 'make .venv/.installed' first")
    listing = run(
        [
            host_python,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "kernels",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        capture=True,
    )
    files = sorted({line.split("::", 1)[0] for line in listing.splitlines() if "::" in line})
    if not files:
        raise StepError("no test carries the 'kernels' marker: nothing to run on aarch64")
    return files


def download_dependencies(build_python: Path, wheel: Path, version: Sequence[int]) -> Path:
    """Fetch aarch64 wheels of the package's dependencies and the test tools into the cache.

    The root installs offline (``--no-index``), so the test needs no network inside it and its
    pip resolves the wheel's dependencies from exactly what the host fetched.
    """
    wheelhouse = CACHE / "wheelhouse"
    platforms = [PLATFORM_TAG, "manylinux2014_aarch64"] + [
        f"manylinux_2_{minor}_aarch64" for minor in range(GLIBC_MINOR, 16, -1)
    ]
    argv = [
        build_python,
        "-m",
        "pip",
        "download",
        "-q",
        "--dest",
        wheelhouse,
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        ".".join(map(str, version)),
    ]
    for tag in platforms:
        argv += ["--platform", tag]
    with step("aarch64 dependency wheels into .cache/arm64/wheelhouse"):
        run([*argv, wheel, *TEST_REQUIREMENTS], capture=True)
    # pip keeps a file it downloaded before under the same name: never let an old build in.
    (wheelhouse / wheel.name).unlink()
    return wheelhouse


def stage(root: Path, wheelhouse: Path, wheel: Path, files: Sequence[str]) -> None:
    """Put the wheels, the tests, the benchmarks and the pytest settings inside the root."""
    staged = root / STAGE.lstrip("/")
    shutil.rmtree(staged, ignore_errors=True)
    (staged / "wheelhouse").mkdir(parents=True)
    for item in [*wheelhouse.glob("*.whl"), wheel]:
        os.link(item, staged / "wheelhouse" / item.name)
    # Whole directories travel (conftest and data files); only `files` are run.
    for directory in ("tests", "benchmarks"):
        shutil.copytree(
            REPO / directory,
            staged / "project" / directory,
            ignore=shutil.ignore_patterns("__pycache__", "results"),
        )
    shutil.copy2(REPO / "pyproject.toml", staged / "project/pyproject.toml")
    missing = [f for f in files if not (staged / "project" / f).exists()]
    if missing:
        raise StepError(f"kernel test files outside tests/: {missing}")


def install(root: Path, wheel: Path) -> None:
    """Install the wheel with pip in a fresh virtual environment of the root, offline.

    Raises
    ------
    StepError
        The root has a compiler (it must not: the point is that none is needed), or pip fails.
    """
    present = in_root(
        root,
        ["sh", "-c", f"for c in {' '.join(COMPILERS)}; do command -v $c || true; done"],
        capture=True,
    ).split()
    if present:
        raise StepError(f"the target root has a compiler ({present}); it must not")
    with step(f"pip install {wheel.name} in {TARGET_VENV} (no compiler, no index)"):
        in_root(root, ["rm", "-rf", TARGET_VENV])
        in_root(root, ["python3", "-m", "venv", TARGET_VENV])
        pip = [f"{TARGET_VENV}/bin/pip", "install", "-q", "--no-index", "--only-binary=:all:"]
        # Byte-compiling numpy and scipy under emulation costs a minute; imports do it anyway.
        pip += ["--no-compile", "--find-links", f"{STAGE}/wheelhouse"]
        in_root(root, [*pip, f"{STAGE}/wheelhouse/{wheel.name}", *TEST_REQUIREMENTS])


def in_project(root: Path, command: str, *, capture: bool = False) -> str:
    """Run a shell command in the staged project directory of the root, venv first on PATH."""
    script = f"cd {STAGE}/project && PATH={TARGET_VENV}/bin:$PATH && {command}"
    return in_root(root, ["sh", "-c", script], capture=capture)


def emulated_benchmarks(root: Path, baseline: Path | None) -> Path:
    """Run the benchmarks briefly in the root; check that the comparison reports emulation.

    The timings mean nothing; this shows that the benchmarks run on aarch64 and that
    ``gridedge bench compare`` recognises an emulated run. Returns the results file, copied
    to ``benchmarks/results/arm64-emulated.json``.
    """
    results = "arm64-emulated.json"
    files = " ".join(str(f.relative_to(REPO)) for f in sorted(REPO.glob("benchmarks/bench_*.py")))
    with step("benchmarks on aarch64, one round each (emulated: timings meaningless)"):
        in_project(
            root,
            f"python -m pytest {files} -q -p no:cacheprovider -p gridedge.bench.plugin "
            "--benchmark-only --benchmark-min-rounds=1 --benchmark-max-time=0 "
            f"--benchmark-warmup=off --benchmark-json={results}",
        )
    compare = f"gridedge bench compare {results}"
    if baseline is not None and baseline.exists():
        compare += f" --baseline {baseline.resolve().relative_to(REPO)}"
    report = in_project(root, compare, capture=True)
    print(report, flush=True)
    if EMULATION_MARK not in report:
        raise StepError("gridedge bench compare did not notice that the run was emulated")
    destination = REPO / "benchmarks/results" / results
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / STAGE.lstrip("/") / "project" / results, destination)
    return destination


def test_wheel(python: str, host_python: Path, mirror: str | None, baseline: Path | None) -> None:
    """Install the built wheel in the arm64 root with no compiler; run the kernel tests there."""
    wheel = built_wheel()
    prepare_host()
    root = ensure_root(mirror)
    facts = target_facts(root)
    build_python = build_environment(facts["version"], python)
    files = kernel_test_files(host_python)
    logger.info("kernel tests: %s", ", ".join(files))
    wheelhouse = download_dependencies(build_python, wheel, facts["version"])
    stage(root, wheelhouse, wheel, files)
    install(root, wheel)
    with step("gridedge --help on aarch64, and where the kernels load from"):
        in_project(root, "gridedge --help")
        in_project(root, f'python -c "{SHOW_KERNELS}"')
    with step("kernel tests on aarch64 (under emulation)"):
        in_project(root, "exec python -m pytest -m kernels -p no:cacheprovider " + " ".join(files))
    emulated_benchmarks(root, baseline)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wheel`` or ``test`` command; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["wheel", "test"])
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="host CPython of the target's version, runs the build (default: this one)",
    )
    parser.add_argument(
        "--host-venv-python",
        type=Path,
        default=REPO / ".venv/bin/python",
        help="host interpreter with the test extras, collects the kernel tests",
    )
    parser.add_argument(
        "--mirror",
        default=os.environ.get("ARM64_MIRROR") or None,
        help="Debian mirror for debootstrap (default: debootstrap's own)",
    )
    parser.add_argument(
        "--baseline", type=Path, help="benchmark baseline to compare the emulated run with"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s arm64: %(message)s",
        datefmt="%H:%M:%S",
    )
    start = time.monotonic()
    try:
        if args.command == "wheel":
            build_wheel(args.python, args.mirror)
        else:
            test_wheel(args.python, args.host_venv_python, args.mirror, args.baseline)
    except StepError as exc:
        logger.error("%s failed after %.1f s: %s", args.command, time.monotonic() - start, exc)
        return 1
    logger.info("%s: all done in %.1f s", args.command, time.monotonic() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
