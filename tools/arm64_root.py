"""The target machine: a Debian 12 arm64 root run under qemu user-mode emulation.

debootstrap makes the root once (it is cached in ``.cache/arm64/root``); binfmt_misc hands
its aarch64 programs to ``qemu-aarch64-static``. The root has Python and the Python headers
and no compiler: its headers and build configuration serve the cross build
(:mod:`crossbuild`), and it is where the wheel is installed and tested (:mod:`arm64`).
"""

import json
import os
import platform
import shutil
from collections.abc import Sequence
from pathlib import Path

from steps import CACHE, REPO, StepError, logger, run, step

SUITE = "bookworm"
ARCH = "arm64"
MACHINE = "aarch64"
TRIPLET = "aarch64-linux-gnu"
PLATFORM_TAG = "linux_aarch64"
# The target root: Python and its headers, deliberately no compiler.
ROOT_PACKAGES = ("python3", "python3-venv", "libpython3.11-dev")
# Host commands and the Debian packages that provide them.
HOST_TOOLS = {
    "qemu-aarch64-static": "qemu-user-static",
    "update-binfmts": "binfmt-support",
    "debootstrap": "debootstrap",
    f"{TRIPLET}-g++": f"g++-{TRIPLET}",
}
BINFMT = Path("/proc/sys/fs/binfmt_misc")


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
