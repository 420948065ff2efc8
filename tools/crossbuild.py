"""Cross-compile the aarch64 wheel on the x86_64 host with Debian's aarch64 toolchain.

The host's CPython (the target's version) runs setuptools with the target's build
configuration: its ``_sysconfigdata`` module names the cross compilers
(``aarch64-linux-gnu-gcc``), the target's flags and extension suffix; its Python headers come
first on the include path. Every extension that setup.py declares is built, Cython and C++
alike, and the wheel is then checked by :mod:`wheelcheck`.
"""

import json
import os
import shutil
import tomllib
from collections.abc import Sequence
from pathlib import Path

import wheelcheck
from arm64_root import MACHINE, PLATFORM_TAG, TRIPLET, ensure_root, prepare_host, target_facts
from steps import CACHE, DIST, REPO, StepError, run, step

SYSCONFIG_NAME = f"_sysconfigdata__linux_{TRIPLET}"
# Run by the build environment's python in the source tree: the PEP 517 build, and the names
# of the extension modules setup.py declares (so that none is missed or hard-coded here).
BUILD_WHEEL = (
    "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
)
DECLARED_EXTENSIONS = (
    "import json, setuptools; from distutils.core import run_setup; "
    "dist = run_setup('setup.py', stop_after='init'); "
    "print(json.dumps([extension.name for extension in dist.ext_modules or []]))"
)


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
        # One compiler per CPU: setuptools reads build_ext's options from this file too.
        "DIST_EXTRA_CONFIG": str(_parallel_build_config()),
    }


def _parallel_build_config() -> Path:
    path = CACHE / "build.cfg"
    path.write_text(f"[build_ext]\nparallel = {os.cpu_count() or 1}\n")
    return path


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
