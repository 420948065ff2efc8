"""Child processes of the services that start others (the demo, the broker launcher).

A :class:`Child` is one program run in the foreground of its own log file: started, waited
for (its TCP port), stopped with SIGTERM and, if it lingers, SIGKILL. Nothing here daemonises,
so whoever started a child can always stop it: no orphans.
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that was free on `host` a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, process: subprocess.Popen, timeout: float = 10.0, host: str = LOOPBACK
) -> bool:
    """Wait up to `timeout` s until something accepts connections on `port`.

    Returns
    -------
    bool
        True once a connection succeeds; False if `process` exits first or time runs out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def stop(process: subprocess.Popen, timeout: float = 10.0, signum: int = signal.SIGTERM) -> int:
    """Stop `process` with `signum`, then SIGKILL after `timeout` s; return its exit status."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("process %d ignored signal %d; killing it", process.pid, signum)
            process.kill()
            process.wait()
    return process.returncode


class Child:
    """A program running in the foreground, its output in a log file.

    Parameters
    ----------
    name : str
        What it is, for messages.
    command : sequence of str
        Program and arguments.
    log : Path
        File its standard output and error go to (appended).
    environment : mapping, optional
        Variables added to this process's environment.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log: Path,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log = log
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                self.command,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(environment or {})},
            )
        logger.debug("started %s (pid %d): %s", name, self.process.pid, " ".join(self.command))

    @property
    def running(self) -> bool:
        """Whether the process has not exited."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `timeout` s; return the exit status."""
        return stop(self.process, timeout)

    def output(self) -> str:
        """Everything it logged so far."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
