"""Start Mosquitto brokers from a generated configuration (the demo and the test suite).

The configuration follows DESIGN.md section 3: TCP_NODELAY (``set_tcp_nodelay true``; without
it a command round trip on loopback takes tens of milliseconds), an explicit
``max_queued_messages`` (the default silently drops what a persistent session queues beyond
1000), and, with persistence, ``autosave_on_changes`` so that acknowledged messages and
retained state reach the disk after a bounded number of changes rather than only at shutdown.
Each broker listens on a free loopback port and runs in the foreground (:class:`Child`), so its
owner stops it.
"""

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from gridedge.errors import BrokerUnavailableError, MissingProgramError
from gridedge.services.processes import LOOPBACK, Child, free_port, wait_for_port

DEFAULT_MAX_QUEUED = 100_000
"""Messages a broker queues per persistent session before it drops any."""

DEFAULT_AUTOSAVE_CHANGES = 100
"""With persistence: changes (retained messages, subscriptions, queued messages) between saves."""

PROGRAM_LOCATIONS = ("/usr/sbin/mosquitto",)
"""Where Debian installs the broker (not on a normal user's PATH)."""


def mosquitto_program() -> str | None:
    """Return the path of the ``mosquitto`` program, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    return next((p for p in PROGRAM_LOCATIONS if os.access(p, os.X_OK)), None)


@dataclasses.dataclass
class Mosquitto:
    """A broker this process started.

    Attributes
    ----------
    name : str
        ``grid``, ``monitoring`` ...
    port : int
        Its loopback port.
    child : Child
        The running program.
    config : Path
        Its generated configuration.
    host : str
        The address it listens on.
    """

    name: str
    port: int
    child: Child
    config: Path
    host: str = LOOPBACK

    @property
    def endpoint(self) -> str:
        """``host:port`` of the broker."""
        return f"{self.host}:{self.port}"

    @property
    def process(self) -> subprocess.Popen:
        """The broker's process."""
        return self.child.process

    def stop(self) -> None:
        """Stop the broker (SIGTERM: a broker with persistence saves its state)."""
        self.child.stop(timeout=5.0)

    def restart(self) -> None:
        """Stop the broker and start it again on the same port and configuration.

        Raises
        ------
        BrokerUnavailableError
            It did not listen again within 10 s.
        """
        self.stop()
        self.child = Child(self.name, self.child.command, self.child.log)
        if not wait_for_port(self.port, self.child.process):
            raise BrokerUnavailableError(
                f"mosquitto {self.name} did not restart:\n{self.child.output()}"
            )


def configuration(
    port: int,
    directory: Path,
    name: str,
    *,
    persistence: bool,
    max_queued_messages: int,
    autosave_changes: int,
) -> str:
    """Return the text of a broker's configuration file.

    Parameters
    ----------
    port : int
        Loopback port it listens on.
    directory : Path
        Where its persistence file goes.
    name : str
        The broker's name (``grid``, ``monitoring``), which names the persistence file.
    persistence : bool
        Keep retained messages and persistent sessions on disk.
    max_queued_messages : int
        Messages queued per persistent session before any is dropped.
    autosave_changes : int
        With persistence: changes between saves.
    """
    lines = [
        f"listener {port} {LOOPBACK}",
        "allow_anonymous true",
        "set_tcp_nodelay true",
        f"max_queued_messages {max_queued_messages}",
        "log_dest stderr",
    ]
    if persistence:
        lines += [
            "persistence true",
            f"persistence_location {directory}/",
            f"persistence_file {name}.db",
            "autosave_on_changes true",
            f"autosave_interval {autosave_changes}",
        ]
        if os.geteuid() == 0:
            # As root Mosquitto switches to its own user, which may not write the directory.
            lines.append("user root")
    else:
        lines.append("persistence false")
    return "\n".join(lines) + "\n"


def start_mosquitto(
    name: str,
    directory: Path,
    *,
    persistence: bool = True,
    max_queued_messages: int = DEFAULT_MAX_QUEUED,
    autosave_changes: int = DEFAULT_AUTOSAVE_CHANGES,
) -> Mosquitto:
    """Start a broker on a free loopback port; its files go to `directory`.

    Raises
    ------
    MissingProgramError
        ``mosquitto`` is not installed.
    BrokerUnavailableError
        It did not start (its log is in the message).
    """
    program = mosquitto_program()
    if program is None:
        raise MissingProgramError("mosquitto is not installed (Debian: apt-get install mosquitto)")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / f"{name}.conf"
    log = directory / f"{name}.log"
    for _ in range(5):
        port = free_port()
        config.write_text(
            configuration(
                port,
                directory,
                name,
                persistence=persistence,
                max_queued_messages=max_queued_messages,
                autosave_changes=autosave_changes,
            )
        )
        child = Child(f"mosquitto {name}", [program, "-c", str(config)], log)
        if wait_for_port(port, child.process):
            return Mosquitto(name, port, child, config)
        child.stop()  # most likely the port was taken meanwhile: try another
    raise BrokerUnavailableError(f"mosquitto {name} did not start:\n{child.output()}")


def start_brokers(
    directory: Path, names: Iterable[str] = ("grid", "monitoring"), **options: int | bool
) -> dict[str, Mosquitto]:
    """Start one broker per name (options as for :func:`start_mosquitto`); all or none.

    Raises
    ------
    MissingProgramError, BrokerUnavailableError
        As for :func:`start_mosquitto`; brokers already started are stopped first.
    """
    started: dict[str, Mosquitto] = {}
    try:
        for name in names:
            started[name] = start_mosquitto(name, directory, **options)  # type: ignore[arg-type]
    except BaseException:
        for broker in started.values():
            broker.stop()
        raise
    return started
