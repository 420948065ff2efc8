"""Build gridedge wheels for the Raspberry Pi (aarch64) on an x86_64 Debian machine; test them.

Target: Raspberry Pi OS (64-bit) / Debian 12 "bookworm" on aarch64, CPython 3.11.

How, in two pieces (docs/arm64.md has the why):

- A Debian 12 arm64 root made by debootstrap, whose programs run under qemu-user through
  binfmt_misc. It holds the target's Python (headers and build configuration, the
  ``_sysconfigdata`` module) and is the machine the wheel is installed and tested on. It has no
  compiler, so the test also shows that the wheel installs without one.
- Debian's aarch64 cross compiler, driven by the host's CPython 3.11 with the target's build
  configuration: setuptools then compiles every extension the build declares, at native speed,
  with the target's flags and file names.

Commands (as root, from anywhere)::

    python3 tools/arm64.py wheel   # dist/gridedge-<version>-cp311-cp311-linux_aarch64.whl, checked
    python3 tools/arm64.py test    # installs it in the arm64 root, runs `-m kernels` tests there

Everything reusable is cached under ``.cache/arm64/`` (git-ignored): the root, the build
environment, the downloaded aarch64 dependency wheels. Delete that directory to start afresh.
"""

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import wheelcheck

logger = logging.getLogger("arm64")

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "arm64"
DIST = REPO / "dist"

SUITE = "bookworm"
ARCH = "arm64"
MACHINE = "aarch64"
TRIPLET = "aarch64-linux-gnu"
PLATFORM_TAG = "linux_aarch64"
# Debian 12's C library: wheels for any manylinux_2_N with N up to this run on the target.
GLIBC_MINOR = 36
# The target root: Python and its headers, deliberately no compiler.
ROOT_PACKAGES = ("python3", "python3-venv", "libpython3.11-dev")
SYSCONFIG_NAME = f"_sysconfigdata__linux_{TRIPLET}"
# What the kernel tests and the benchmarks need beside the package and its dependencies.
TEST_REQUIREMENTS = ("pytest", "pytest-benchmark")
# Host commands and the Debian packages that provide them.
HOST_TOOLS = {
    "qemu-aarch64-static": "qemu-user-static",
    "update-binfmts": "binfmt-support",
    "debootstrap": "debootstrap",
    f"{TRIPLET}-g++": f"g++-{TRIPLET}",
}
BINFMT = Path("/proc/sys/fs/binfmt_misc")
# Installed inside the root where docs/deploy.md installs it on a Pi.
TARGET_VENV = "/opt/gridedge"
STAGE = "/tmp/gridedge-arm64"
COMPILERS = ("cc", "gcc", "c++", "g++", "clang")
# Run by the build environment's python in the source tree: the PEP 517 build, and the names
# of the extension modules setup.py declares (so that none is missed or hard-coded here).
BUILD_WHEEL = (
    "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
)
# Run on the target: each compiled kernel's file, to show they come from the installed wheel.
SHOW_KERNELS = (
    "import pkgutil, gridedge._native as n; from gridedge import kernels; "
    "[print(kernels.load(m.name, 'native').__file__) for m in pkgutil.iter_modules(n.__path__)]"
)
# What gridedge bench compare prints for an emulated run (gridedge/bench/compare.py).
EMULATION_MARK = "EMULATED"
DECLARED_EXTENSIONS = (
    "import json, setuptools; from distutils.core import run_setup; "
    "dist = run_setup('setup.py', stop_after='init'); "
    "print(json.dumps([extension.name for extension in dist.ext_modules or []]))"
)


class StepError(RuntimeError):
    """A step of the build or test failed; the message says which and why."""


@contextmanager
def step(name: str) -> Iterator[None]:
    """Log the start, the end and the duration of a step."""
    logger.info("%s ...", name)
    start = time.monotonic()
    yield
    logger.info("%s: done in %.1f s", name, time.monotonic() - start)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    capture: bool = False,
) -> str:
    """Run a command; raise StepError with its output's tail when it fails.

    Returns
    -------
    str
        Standard output when `capture`, else an empty string (output goes to the terminal).
    """
    logger.debug("$ %s", " ".join(map(str, argv)))
    result = subprocess.run(
        [str(a) for a in argv],
        env=None if env is None else dict(env),
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout or "").splitlines()[-40:])
        raise StepError(f"{argv[0]} exited with status {result.returncode}\n{tail}".rstrip())
    return result.stdout or ""


def prepare_host() -> None:
    """Install the host tools that are missing and make aarch64 programs run through qemu.

    Raises
    ------
    StepError
        Not root, not an x86_64 host, or binfmt_misc cannot run aarch64 programs.
    """
    if os.geteuid() != 0:
        raise StepError("run as root: debootstrap, chroot and binfmt_misc need it")
    if platform.machine() == MACHINE:
        raise StepError(
            "this host is aarch64 already: build natively with "
            "'python3 -m pip wheel --no-deps -w dist .'"
        )
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        with step(f"apt-get install {' '.join(missing)}"):
            apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            run(["apt-get", "update", "-qq"], env=apt_env, capture=True)
            run(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                env=apt_env,
                capture=True,
            )
    if not (BINFMT / "status").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT])
    entry = BINFMT / f"qemu-{MACHINE}"
    if not entry.exists() or entry.read_text().splitlines()[0] != "enabled":
        run(["update-binfmts", "--enable", f"qemu-{MACHINE}"])
    lines = entry.read_text().splitlines() if entry.exists() else ["missing"]
    flags = next((line.split(":", 1)[1] for line in lines if line.startswith("flags:")), "")
    # F: the kernel opens the interpreter once, so the root needs no copy of qemu.
    if lines[0] != "enabled" or "F" not in flags:
        raise StepError(f"binfmt_misc entry {entry} is not enabled with flag F: {lines}")


def ensure_root(mirror: str | None) -> Path:
    """Return the cached Debian arm64 root, making it with debootstrap when absent or stale.

    Parameters
    ----------
    mirror : str, optional
        Debian mirror URL; debootstrap's default when None.
    """
    root = CACHE / "root"
    stamp = {"suite": SUITE, "arch": ARCH, "packages": list(ROOT_PACKAGES)}
    stamp_file = root / ".gridedge-root.json"
    if stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp:
        logger.info("reusing the %s %s root in %s", SUITE, ARCH, root.relative_to(REPO))
        return root
    partial = CACHE / "root.partial"
    shutil.rmtree(partial, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    with step(f"debootstrap {SUITE} {ARCH} (a few minutes, once)"):
        argv = [
            "debootstrap",
            f"--arch={ARCH}",
            "--variant=minbase",
            f"--include={','.join(ROOT_PACKAGES)}",
            SUITE,
            partial,
        ]
        run(argv + ([mirror] if mirror else []), capture=True)
    (partial / stamp_file.name).write_text(json.dumps(stamp))
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root


def in_root(root: Path, argv: Sequence[str], *, capture: bool = False) -> str:
    """Run a command inside the root under emulation, with its own /proc.

    The mount and PID namespaces end with the command, so nothing stays mounted.
    """
    environment = [
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "HOME=/root",
        "LANG=C.UTF-8",
        "PIP_DISABLE_PIP_VERSION_CHECK=1",
        "PIP_NO_INPUT=1",
    ]
    return run(
        [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            f"--mount-proc={root / 'proc'}",
            "chroot",
            root,
            "/usr/bin/env",
            "-i",
            *environment,
            *argv,
        ],
        capture=capture,
    )


def target_facts(root: Path) -> dict[str, object]:
    """Ask the target interpreter for its version and extension-module suffixes."""
    script = (
        "import importlib.machinery, json, sys; "
        "print(json.dumps({'version': list(sys.version_info[:2]), "
        "'suffixes': importlib.machinery.EXTENSION_SUFFIXES}))"
    )
    facts = json.loads(in_root(root, ["python3", "-c", script], capture=True))
    major, minor = facts["version"]
    facts["tag"] = f"cp{major}{minor}-cp{major}{minor}-{PLATFORM_TAG}"
    return facts


def build_environment(version: Sequence[int], python: str) -> Path:
    """Make (or reuse) the host virtual environment that runs the build backend.

    Parameters
    ----------
    version : sequence of int
        The target interpreter's (major, minor).
    python : str
        The host interpreter; it must be the same CPython version as the target's.

    Returns
    -------
    Path
        The environment's python.
    """
    host = run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture=True).split()
    if [int(v) for v in host] != list(version):
        raise StepError(
            f"{python} is CPython {'.'.join(host)}; building for the target's CPython "
            f"{'.'.join(map(str, version))} needs a host interpreter of the same version "
            "(Debian 12's python3); pass it with --python"
        )
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    venv = CACHE / "build-venv"
    stamp = venv / "gridedge-requires.json"
    if not (stamp.exists() and json.loads(stamp.read_text()) == requires):
        with step(f"build environment: {', '.join(requires)}"):
            shutil.rmtree(venv, ignore_errors=True)
            run([python, "-m", "venv", venv])
            run([venv / "bin/python", "-m", "pip", "install", "-q", *requires], capture=True)
            stamp.write_text(json.dumps(requires))
    return venv / "bin/python"


def cross_variables(root: Path) -> dict[str, str]:
    """Environment that makes the host's setuptools compile for the target.

    The target's ``_sysconfigdata`` module names Debian's cross compilers
    (``aarch64-linux-gnu-gcc``), the target's flags and extension suffix; the target's
    Python headers come first on the include path.
    """
    python_include = next((root / "usr/include").glob("python3.*"))
    sysconfig_dir = CACHE / "sysconfig"
    sysconfig_dir.mkdir(parents=True, exist_ok=True)
    module = f"{SYSCONFIG_NAME}.py"
    shutil.copy2(root / "usr/lib" / python_include.name / module, sysconfig_dir / module)
    include = CACHE / "include"
    platform_include = root / "usr/include" / TRIPLET / python_include.name
    links = {
        include / python_include.name: python_include,
        include / TRIPLET / python_include.name: platform_include,
    }
    for link, target in links.items():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    # Settings of the host's own compiler must not leak into a cross build.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CC", "CXX", "LDSHARED", "CFLAGS", "CXXFLAGS", "LDFLAGS", "CPPFLAGS"}
    }
    return {
        **inherited,
        "PYTHONPATH": str(sysconfig_dir),
        "_PYTHON_SYSCONFIGDATA_NAME": SYSCONFIG_NAME,
        "_PYTHON_HOST_PLATFORM": PLATFORM_TAG.replace("_", "-", 1),
        "CPPFLAGS": f"-I{include / python_include.name} -I{include}",
        # Release wheels carry no debug information; the symbol table stays.
        "LDFLAGS": "-Wl,--strip-debug",
    }


def copy_source(destination: Path) -> Path:
    """Copy the files git tracks or would track (not ignored ones) to a fresh directory."""
    listing = run(
        ["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture=True,
    )
    shutil.rmtree(destination, ignore_errors=True)
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def build_wheel(python: str, mirror: str | None) -> Path:
    """Build and check the aarch64 wheel; return its path in ``dist/``.

    Raises
    ------
    StepError
        A step failed, or the wheel has the wrong tags, machine code or modules.
    """
    prepare_host()
    root = ensure_root(mirror)
    facts = target_facts(root)
    build_python = build_environment(facts["version"], python)
    env = cross_variables(root)
    source = copy_source(CACHE / "src")
    out = CACHE / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    with step(f"cross-compile the wheel ({TRIPLET}-gcc), log in .cache/arm64/build.log"):
        log = run([build_python, "-c", BUILD_WHEEL, out], env=env, cwd=source, capture=True)
        (CACHE / "build.log").write_text(log)
        built = out / log.strip().splitlines()[-1]
    output = run([build_python, "-c", DECLARED_EXTENSIONS], env=env, cwd=source, capture=True)
    declared = json.loads(output.splitlines()[-1])
    DIST.mkdir(exist_ok=True)
    for old in DIST.glob(f"gridedge-*-{PLATFORM_TAG}.whl"):
        old.unlink()
    wheel = DIST / built.name
    shutil.move(built, wheel)
    report = wheelcheck.check_wheel(
        wheel, tags=[facts["tag"]], machine=MACHINE, suffixes=facts["suffixes"], modules=declared
    )
    print(wheelcheck.format_report(report), flush=True)
    if not report.ok:
        raise StepError(f"{wheel.name} failed its check")
    return wheel


def built_wheel() -> Path:
    """Return the aarch64 wheel in ``dist/``, as the ``wheel`` command left it."""
    wheels = sorted(DIST.glob(f"gridedge-*-{PLATFORM_TAG}.whl"))
    if len(wheels) != 1:
        raise StepError(
            f"expected one dist/gridedge-*-{PLATFORM_TAG}.whl, found {len(wheels)}: "
            "run 'make wheel-arm64' first"
        )
    return wheels[0]


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
    with step("benchmarks on aarch64, a few rounds each (emulated: timings meaningless)"):
        in_project(
            root,
            f"python -m pytest {files} -q -p no:cacheprovider -p gridedge.bench.plugin "
            "--benchmark-only --benchmark-min-rounds=3 --benchmark-max-time=0.05 "
            f"--benchmark-json={results}",
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
