"""The meter process's own CPU and memory use, for status telemetry and the footprint benchmark."""

import os
import time
from pathlib import Path


def cpu_seconds(pid: int | None = None) -> float:
    """User plus system CPU time of a process (all its threads), s; this process by default."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid: int | str = "self") -> dict[str, int]:
    """Resident memory of a process, bytes: ``rss``, ``anonymous``, ``file`` and ``pss``.

    ``rss`` counts every resident page, shared libraries included; ``pss`` divides shared
    pages among the processes that map them.
    """
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            values[key] = int(rest.split()[0]) * 1024
    pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "rss": values.get("VmRSS", 0),
        "anonymous": values.get("RssAnon", 0),
        "file": values.get("RssFile", 0),
        "pss": pss,
    }


class CpuMeter:
    """CPU use of this process between two readings, percent of one core."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._cpu = cpu_seconds()

    def percent(self) -> float:
        """Percent of one core since the previous call (or since creation)."""
        wall, cpu = time.monotonic(), cpu_seconds()
        elapsed = wall - self._wall
        used = cpu - self._cpu
        self._wall, self._cpu = wall, cpu
        return 100.0 * used / elapsed if elapsed > 0 else 0.0
