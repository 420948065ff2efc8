"""The shared timeline of a simulated grid: case, noise seed, and events at absolute times.

The simulator service and every meter that samples the grid simulator (acquisition backend
``simulated``) each run a :class:`~gridedge.grid.waveform.Simulation` of the same grid, the
way the paper's Opal-RT fed its analog outputs to the meters' DAQs. A scenario file keeps them
in step: it names the case and the seed, and lists events - a fault, its clearance, a switch
operation - at absolute POSIX times, so that each participant maps them onto its own stream
whenever that stream started. Events are appended while everything runs (a fault injected, a
breaker tripped by protection, a switch operated on command), each a fraction of a second
ahead of its time so that every follower reads it before its samples are due.

The file is JSON, replaced atomically (a reader never sees half of it) under an exclusive lock
on a sibling ``.lock`` file, so several writers may append.
"""

import dataclasses
import fcntl
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid.waveform import (
    Event,
    FaultClearance,
    FaultInception,
    LoadChange,
    Simulation,
    SwitchOperation,
)

logger = logging.getLogger(__name__)

FORMAT = "gridedge-scenario"
VERSION = 1


@dataclasses.dataclass(frozen=True)
class Entry:
    """One event of a scenario.

    Attributes
    ----------
    event : Event
        The event; its ``time_s`` is an absolute POSIX time, s.
    cause : str
        Who or what made it happen (``injected``, ``protection``, ``command`` ...).
    """

    event: Event
    cause: str = ""

    @property
    def at(self) -> float:
        """Absolute time of the event, s."""
        return self.event.time_s

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object."""
        event = self.event
        record: dict[str, Any] = {"at": event.time_s}
        if isinstance(event, FaultInception):
            record.update(
                type="fault",
                location=event.location,
                kind=event.kind,
                fraction=event.fraction,
                resistance_ohm=event.resistance_ohm,
            )
        elif isinstance(event, FaultClearance):
            record["type"] = "clear"
        elif isinstance(event, SwitchOperation):
            record.update(type="switch", switch=event.switch_id, closed=event.closed)
        else:
            record.update(type="load", load=event.load_id, p_kw=event.p_kw, q_kvar=event.q_kvar)
        if self.cause:
            record["cause"] = self.cause
        return record

    @classmethod
    def from_json(cls, record: Any, where: str) -> "Entry":
        """Parse an entry; `where` names it in errors.

        Raises
        ------
        InvalidInputError
            A missing or mistyped field, or an unknown type.
        """
        if not isinstance(record, dict):
            raise InvalidInputError(f"{where} must be an object")
        try:
            at = _number(record, "at", where)
            kind = record["type"]
            if kind == "fault":
                event: Event = FaultInception(
                    at,
                    str(record["location"]),
                    str(record["kind"]),
                    _number(record, "fraction", where, 0.0),
                    _number(record, "resistance_ohm", where, 0.0),
                )
            elif kind == "clear":
                event = FaultClearance(at)
            elif kind == "switch":
                if not isinstance(record["closed"], bool):
                    raise InvalidInputError(f"{where}.closed must be true or false")
                event = SwitchOperation(at, str(record["switch"]), record["closed"])
            elif kind == "load":
                event = LoadChange(
                    at,
                    str(record["load"]),
                    _number(record, "p_kw", where),
                    _number(record, "q_kvar", where),
                )
            else:
                raise InvalidInputError(
                    f"{where}.type {kind!r} is not fault, clear, switch or load"
                )
        except KeyError as exc:
            raise InvalidInputError(f"{where} has no {exc.args[0]!r}") from None
        return cls(event, str(record.get("cause", "")))


def _number(record: dict[str, Any], name: str, where: str, default: float | None = None) -> float:
    value = record.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{where}.{name} must be a finite number, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """What a scenario file holds.

    Attributes
    ----------
    case : str
        The grid (``turin``, ``ieee33``).
    seed : int
        Seed of the DAQ noise.
    entries : tuple of Entry
        In the order they were written.
    """

    case: str
    seed: int
    entries: tuple[Entry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The scenario as a JSON object."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "case": self.case,
            "seed": self.seed,
            "events": [e.to_json() for e in self.entries],
        }

    @classmethod
    def from_json(cls, document: Any, where: str) -> "Scenario":
        """Parse a scenario document.

        Raises
        ------
        InvalidInputError
            Naming the field at fault.
        """
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise InvalidInputError(f"{where} is not a {FORMAT} document")
        if document.get("version") != VERSION:
            raise InvalidInputError(
                f"{where}: version {document.get('version')!r} is not {VERSION}"
            )
        case, seed, events = document.get("case"), document.get("seed"), document.get("events")
        if not isinstance(case, str) or not case:
            raise InvalidInputError(f"{where}: case must be a non-empty string")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidInputError(f"{where}: seed must be an integer")
        if not isinstance(events, list):
            raise InvalidInputError(f"{where}: events must be a list")
        entries = tuple(Entry.from_json(r, f"{where}: events[{i}]") for i, r in enumerate(events))
        return cls(case, seed, entries)


class ScenarioFile:
    """A scenario on disk that several processes read and append to.

    Parameters
    ----------
    path : path-like
        The JSON file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = self.path.with_name(self.path.name + ".lock")

    @classmethod
    def create(cls, path: str | os.PathLike[str], case: str, seed: int = 0) -> "ScenarioFile":
        """Write a scenario without events (replacing any file there)."""
        scenario = cls(path)
        with scenario._locked():
            scenario._write(Scenario(case, seed))
        return scenario

    def read(self) -> Scenario:
        """Read the whole scenario.

        Raises
        ------
        ConfigurationError
            The file cannot be read or is not a scenario.
        """
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read scenario {self.path}: {exc.strerror}") from None
        try:
            return Scenario.from_json(json.loads(text), str(self.path))
        except (ValueError, InvalidInputError) as exc:
            raise ConfigurationError(f"scenario {self.path}: {exc}") from None

    def append(self, entries: Iterable[Entry]) -> None:
        """Add entries at the end, atomically with respect to readers and other writers."""
        added = tuple(entries)
        if not added:
            return
        with self._locked():
            current = self.read()
            self._write(dataclasses.replace(current, entries=current.entries + added))
        logger.info("scenario %s: added %s", self.path.name, [e.to_json() for e in added])

    def follow(self) -> "Follower":
        """A reader that hands out each entry once, as it appears."""
        return Follower(self)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, scenario: Scenario) -> None:
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".scenario-")
        try:
            with os.fdopen(descriptor, "w") as output:
                json.dump(scenario.to_json(), output)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class Follower:
    """Reads a scenario file as it grows; cheap when it has not changed (one ``stat``).

    Parameters
    ----------
    scenario : ScenarioFile
        The file to follow; read once at construction for its case and seed.

    Raises
    ------
    ConfigurationError
        The file cannot be read or is not a scenario.
    """

    def __init__(self, scenario: ScenarioFile) -> None:
        self.file = scenario
        self._seen = 0
        self._stamp: tuple[int, int, int] | None = None
        first = scenario.read()
        self.case, self.seed = first.case, first.seed

    def poll(self) -> tuple[Entry, ...]:
        """The entries written since the last call (all of them at the first).

        Raises
        ------
        ConfigurationError
            The file can no longer be read (removed, or not a scenario any more).
        """
        try:
            info = self.file.path.stat()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read scenario {self.file.path}: {exc.strerror}"
            ) from None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return ()
        self._stamp = stamp
        entries = self.file.read().entries
        new, self._seen = entries[self._seen :], len(entries)
        return new


def advance(simulation: Simulation, entries: Iterable[Entry], position: int) -> None:
    """Add scenario entries to a running simulation.

    Parameters
    ----------
    simulation : Simulation
        Started at ``simulation.settings.start_time`` (POSIX time of its sample 0).
    entries : iterable of Entry
        New entries.
    position : int
        First sample no stream of the simulation has read yet: a later event applies there
        (and is logged), since the samples before it are gone.
    """
    origin = simulation.settings.start_time
    earliest = position / simulation.settings.fs
    events = []
    for entry in entries:
        time_s = entry.at - origin
        if time_s < earliest:
            if time_s >= 0:
                logger.warning(
                    "scenario event %s arrived %.3f s late; applied now",
                    entry.to_json(),
                    earliest - time_s,
                )
            time_s = earliest
        events.append(dataclasses.replace(entry.event, time_s=time_s))
    simulation.extend(events)
