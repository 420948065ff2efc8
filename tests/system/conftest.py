"""Fixtures of the end-to-end tests: the whole distributed system on the session's brokers.

The brokers and the subscriber come from the catalog tests' fixtures; the system itself is
the one ``gridedge demo`` starts (:class:`gridedge.services.demo.system.System`): the catalog
under gunicorn, meter daemons, the simulator and reconfiguration services as processes.
"""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gridedge.mqtt import Topics
from gridedge.services.demo.distributed import wait_ready
from gridedge.services.demo.system import System, SystemOptions
from gridedge.services.demo.timeline import Observer
from tests.catalog.conftest import brokers  # noqa: F401 (the session's brokers)
from tests.fixtures.services import Mosquitto

STARTUP_S = 60.0


class Running:
    """A started system and an observer of its flows."""

    def __init__(self, system: System, observer: Observer) -> None:
        self.system = system
        self.observer = observer
        self.topics = observer.topics

    def warnings(self) -> dict[str, list[str]]:
        """The lines each program logged at WARNING or above so far (for failure messages)."""
        return {
            name: [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]
            for name, text in self.system.logs().items()
        }

    def stop(self) -> None:
        self.observer.close()
        codes = self.system.stop()
        logs = self.system.logs()
        for name, text in logs.items():
            assert "Traceback" not in text, f"{name}:\n{text}"
        assert all(code == 0 for code in codes.values()), (codes, logs)


@pytest.fixture
def start_system(
    tmp_path: Path,
    brokers: dict[str, Mosquitto],  # noqa: F811
) -> Iterator[Callable[..., Running]]:
    """Start systems with given options on the session's brokers; stopped after the test."""
    started: list[Running] = []

    def start(**options) -> Running:
        prefix = f"system-{uuid.uuid4().hex[:8]}/"
        chosen = SystemOptions(topic_prefix=prefix, **options)
        system = System(tmp_path / prefix.rstrip("/"), chosen, brokers)
        system.start()
        observer = Observer(system.brokers, Topics(prefix))
        running = Running(system, observer)
        started.append(running)
        wait_ready(system, observer, STARTUP_S)
        return running

    yield start
    for running in started:
        running.stop()
