"""Which machine a benchmark ran on, and whether it was emulated.

Timings taken by an aarch64 interpreter under qemu user-mode emulation on an x86_64 host (as
``make test-arm64`` runs) say nothing about a real Raspberry Pi. Such a run leaves traces: the
emulator passes the host's ``/proc/cpuinfo`` through, so an aarch64 process sees an Intel or
AMD processor; and the results name this host while reporting another architecture.
"""

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ARM_MACHINES = ("aarch64", "arm64", "armv7l", "armv6l")
X86_VENDORS = ("GenuineIntel", "AuthenticAMD", "HygonGenuine")
_BOARD_FILES = ("proc/device-tree/model", "sys/firmware/devicetree/base/model")
_DMI = "sys/class/dmi/id"


def board_model(root: Path = Path("/")) -> str | None:
    """Name the board or computer: the device-tree model (a Raspberry Pi) or the DMI product.

    Parameters
    ----------
    root : Path
        File system root to read ``/proc`` and ``/sys`` under.

    Returns
    -------
    str or None
        For example ``"Raspberry Pi 4 Model B Rev 1.4"`` or ``"LENOVO 20XW"``; None when the
        machine does not say.
    """
    for name in _BOARD_FILES:
        text = _read(root / name).strip("\0 \n")
        if text:
            return text
    vendor, product = (_read(root / _DMI / f).strip() for f in ("sys_vendor", "product_name"))
    return " ".join(w for w in (vendor, product) if w) or None


def detect_emulation(root: Path = Path("/"), machine: str | None = None) -> str | None:
    """Say why this process looks emulated, or None when it does not.

    Parameters
    ----------
    root : Path
        File system root to read ``/proc/cpuinfo`` under.
    machine : str, optional
        The interpreter's architecture; ``platform.machine()`` by default.

    Returns
    -------
    str or None
        The evidence, as a sentence.
    """
    machine = machine or platform.machine()
    if machine not in ARM_MACHINES:
        return None
    cpuinfo = _read(root / "proc/cpuinfo")
    vendor = next((v for v in X86_VENDORS if v in cpuinfo), None)
    if vendor:
        return f"this {machine} interpreter reads an x86 processor ({vendor}) in /proc/cpuinfo"
    if "qemu" in cpuinfo.lower():
        return f"this {machine} interpreter reads a QEMU processor in /proc/cpuinfo"
    return None


def emulation_evidence(
    machine_info: Mapping[str, Any],
    *,
    node: str | None = None,
    machine: str | None = None,
    binfmt: Path = Path("/proc/sys/fs/binfmt_misc"),
) -> str | None:
    """Say why a run's timings come from an emulated processor, or None.

    Parameters
    ----------
    machine_info : mapping
        pytest-benchmark's ``machine_info`` of the run.
    node, machine : str, optional
        This host's name and architecture (``platform.node()``, ``platform.machine()`` by
        default), to recognise a foreign-architecture run made on this very host.
    binfmt : Path
        The binfmt_misc directory whose ``qemu-<machine>`` entry runs foreign programs.

    Returns
    -------
    str or None
        The evidence, as a sentence.
    """
    recorded = (machine_info.get("gridedge") or {}).get("emulation")
    if recorded:
        return f"recorded at run time: {recorded}"
    run_machine = str(machine_info.get("machine", ""))
    cpu = machine_info.get("cpu") or {}
    if run_machine in ARM_MACHINES:
        vendor = str(cpu.get("vendor_id_raw", ""))
        brand = str(cpu.get("brand_raw", ""))
        if vendor in X86_VENDORS:
            return f"an {run_machine} interpreter on an x86 processor ({vendor}, {brand})"
        if "qemu" in brand.lower():
            return f"an {run_machine} interpreter on a QEMU processor ({brand})"
    node = platform.node() if node is None else node
    machine = platform.machine() if machine is None else machine
    entry = binfmt / f"qemu-{run_machine}"
    if (
        machine_info.get("node") == node
        and run_machine
        and run_machine != machine
        and _read(entry).startswith("enabled")
    ):
        return (
            f"an {run_machine} run on this {machine} host ({node}), "
            f"where binfmt_misc hands {run_machine} programs to qemu"
        )
    return None


def describe_machine(machine_info: Mapping[str, Any]) -> str:
    """One line naming the machine of a run: architecture, board, processor, system, Python."""
    cpu = machine_info.get("cpu") or {}
    python = " ".join(
        str(machine_info.get(k, "")) for k in ("python_implementation", "python_version")
    )
    parts = [
        str(machine_info.get("machine") or cpu.get("arch_string_raw") or "unknown architecture"),
        str((machine_info.get("gridedge") or {}).get("board") or ""),
        str(cpu.get("brand_raw") or ""),
        f"{cpu['count']} CPUs" if cpu.get("count") else "",
        f"{machine_info.get('system', '')} {machine_info.get('release', '')}",
        python,
        f"host {machine_info['node']}" if machine_info.get("node") else "",
    ]
    return ", ".join(p.strip() for p in parts if p.strip())


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
