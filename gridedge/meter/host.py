"""The algorithm host: one worker thread per algorithm, bounded inputs, and a watchdog.

Each algorithm lives in a :class:`Slot`: its own thread, which imports the package, calls
``configure`` and then the input methods one at a time, fed through a queue. Producers never
wait for an algorithm: when its queue is full the input is dropped and counted, so a slow
algorithm delays nobody, least of all sampling. A method that raises fails the slot at once;
the :class:`Host`'s watchdog fails a slot whose call runs past its deadline (a hang or an
overrun) without waiting for it. A failed slot gets no more input, and whatever it tries to
publish afterwards is dropped; the host reports the failure to its owner, which disables the
algorithm or rolls it back (:mod:`gridedge.meter.deployer`).

Threads, not processes: see "Meter daemon" in ``docs/architecture.md``. A thread cannot be
killed, so a hung algorithm's thread is abandoned (it is a daemon thread and holds nothing
the others need); the GIL is shared, so an algorithm spinning in Python slows the others by
its share until the watchdog has disabled it, which is within one deadline.
"""

import enum
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from gridedge.errors import GridedgeError, InvalidInputError
from gridedge.meter import loader
from gridedge.meter.installer import Installed
from gridedge.meter.phasor import Frames
from gridedge.meter.plugin import (
    FRAMES,
    MESSAGES,
    SAMPLES,
    Context,
    Declaration,
    Message,
    Output,
    SampleBlock,
)

logger = logging.getLogger(__name__)


class AlgorithmFailedError(GridedgeError, RuntimeError):
    """An algorithm raised, overran its deadline, or failed to load."""


class State(enum.StrEnum):
    """Where a slot is in its life."""

    LOADING = "loading"
    PROBATION = "probation"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"


class _Reply:
    """The outcome of one call the owner waits for."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.value: Any = None
        self.error: str | None = None

    def set(self, value: Any) -> None:
        self.value = value
        self._done.set()

    def fail(self, reason: str) -> None:
        if not self._done.is_set():
            self.error = reason
            self._done.set()

    def wait(self, timeout: float) -> Any:
        if not self._done.wait(timeout):
            raise AlgorithmFailedError(f"no answer within {timeout} s")
        if self.error is not None:
            raise AlgorithmFailedError(self.error)
        return self.value


_STOP = object()


class Slot:
    """One algorithm version running in its own thread.

    Parameters
    ----------
    installed : Installed
        The version on disk.
    deadline_s : float
        Longest call of an input method or ``close``.
    configure_timeout_s : float
        Longest import plus ``configure``.
    queue_length : int
        Inputs waiting at most; more are dropped and counted.
    emit : callable
        ``emit(output, body)``: deliver a message published on a declared output.
    on_failure : callable
        ``on_failure(slot, reason)``: called once, from whichever thread saw the failure.
    """

    def __init__(
        self,
        installed: Installed,
        *,
        deadline_s: float,
        configure_timeout_s: float,
        queue_length: int,
        emit: Callable[[Output, Any], None],
        on_failure: Callable[["Slot", str], None],
    ) -> None:
        self.installed = installed
        self.deadline_s = deadline_s
        self.configure_timeout_s = configure_timeout_s
        self.state = State.LOADING
        self.declaration: Declaration | None = None
        self.probation_until: float | None = None
        self.calls = 0
        self.dropped = 0
        self.last_error: str | None = None
        self.slowest_s = 0.0
        self._queue_length = queue_length
        self._emit = emit
        self._on_failure = on_failure
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._waiting = 0
        self._lock = threading.Lock()
        self._busy: tuple[str, float, float, _Reply | None] | None = None
        self._instance: Any = None
        self._namespace: str | None = None
        self._thread = threading.Thread(
            target=self._work, name=f"algorithm-{installed.name}-{installed.version}", daemon=True
        )

    @property
    def name(self) -> str:
        """The algorithm's name."""
        return self.installed.name

    @property
    def version(self) -> str:
        """The running version."""
        return self.installed.version

    @property
    def sha256(self) -> str:
        """Hex sha256 of the version's package."""
        return self.installed.sha256

    @property
    def active(self) -> bool:
        """Whether the slot takes inputs."""
        return self.state in (State.PROBATION, State.RUNNING)

    def wants(self, kind: str) -> bool:
        """Whether the slot takes inputs of `kind` (frames, samples, messages) now."""
        declaration = self.declaration
        return self.active and declaration is not None and kind in declaration.inputs

    # -- owner's side ----------------------------------------------------------------------

    def start(self, context: Context) -> Declaration:
        """Import the package, create the algorithm and configure it; wait for the outcome.

        Raises
        ------
        AlgorithmFailedError
            Import, creation or ``configure`` failed or took too long; the slot is failed.
        """
        reply = _Reply()
        self._queue.put(("_load", (context,), reply, self.configure_timeout_s))
        self._thread.start()
        return reply.wait(self.configure_timeout_s + 1.0)

    def configure(self, context: Context) -> Declaration:
        """Hand the running algorithm new settings; wait for its new declaration.

        Raises
        ------
        AlgorithmFailedError
            ``configure`` raised or took too long; the slot is failed.
        """
        reply = _Reply()
        self._queue.put(("_configure", (context,), reply, self.configure_timeout_s))
        return reply.wait(self.configure_timeout_s + 1.0)

    def offer(self, method: str, argument: Any) -> bool:
        """Queue an input for `method` without waiting; False if it was dropped."""
        with self._lock:
            if not self.active:
                return False
            if self._waiting >= self._queue_length:
                self.dropped += 1
                return False
            self._waiting += 1
        self._queue.put((method, (argument,), None, self.deadline_s))
        return True

    def stop(self, timeout: float) -> None:
        """Close the algorithm (unless it failed) and end the thread; wait up to `timeout` s."""
        with self._lock:
            if self.state is not State.FAILED:
                self.state = State.STOPPED
        self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._namespace is not None:
            loader.unload(self._namespace)

    def publish(self, topic: str, body: Any) -> None:
        """``context.publish`` of this algorithm: only declared outputs, nothing once failed.

        A stopped algorithm may still publish from its ``close``.

        Raises
        ------
        InvalidInputError
            `topic` is not among the declared outputs.
        """
        declaration = self.declaration
        if self.state is State.FAILED:
            return
        output = declaration.output(topic) if declaration is not None else None
        if output is None:
            declared = [o.topic for o in declaration.outputs] if declaration else []
            raise InvalidInputError(
                f"{self.name} {self.version}: {topic!r} is not a declared output {declared}"
            )
        self._emit(output, body)

    def check(self, now: float) -> None:
        """Watchdog: fail the slot if its current call has run past its deadline."""
        busy = self._busy
        if busy is None or self.state in (State.FAILED, State.STOPPED):
            return
        method, started, deadline, _ = busy
        if now - started > deadline:
            self._fail(
                f"{method.lstrip('_')} still running after {now - started:.2f} s "
                f"(deadline {deadline} s)"
            )

    def report(self) -> dict[str, Any]:
        """Counters and state, for status telemetry."""
        return {
            "version": self.version,
            "state": str(self.state),
            "calls": self.calls,
            "dropped": self.dropped,
            "slowest_ms": round(1000 * self.slowest_s, 3),
            "error": self.last_error,
        }

    # -- the worker thread -----------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                if self.state is State.STOPPED and self._instance is not None:
                    self._call("close", (), None, self.deadline_s)
                return
            method, arguments, reply, deadline = item
            if reply is None:
                with self._lock:
                    self._waiting -= 1
            if self.state is State.FAILED:
                if reply is not None:
                    reply.fail(self.last_error or "failed")
                return
            if not self._call(method, arguments, reply, deadline):
                return

    def _call(
        self, method: str, arguments: tuple[Any, ...], reply: _Reply | None, deadline: float
    ) -> bool:
        """Run one call; False if the slot failed in it."""
        started = time.monotonic()
        self._busy = (method, started, deadline, reply)
        target = (
            getattr(self, method) if method.startswith("_") else getattr(self._instance, method)
        )
        try:
            result = target(*arguments)
        except BaseException as exc:
            self._busy = None
            self._fail(f"{method.lstrip('_')} raised {type(exc).__name__}: {exc}", reply)
            if method != "_load" and self._instance is not None:
                self._close_after_failure()
            return False
        elapsed = time.monotonic() - started
        self._busy = None
        self.calls += 1
        self.slowest_s = max(self.slowest_s, elapsed)
        if elapsed > deadline and self.state is not State.STOPPED:
            self._fail(f"{method.lstrip('_')} took {elapsed:.3f} s (deadline {deadline} s)", reply)
            return False
        if self.state is State.FAILED:
            if reply is not None:
                reply.fail(self.last_error or "failed")
            return False
        if reply is not None:
            reply.set(result)
        return True

    def _load(self, context: Context) -> Declaration:
        self._namespace, factory = loader.load(
            self.installed.payload,
            self.installed.entry_point,
            name=self.name,
            version=self.version,
        )
        self._instance = factory()
        return self._configure(context)

    def _configure(self, context: Context) -> Declaration:
        declaration = self._instance.configure(context)
        if not isinstance(declaration, Declaration):
            raise InvalidInputError(
                f"configure returned {type(declaration).__name__}, not a Declaration"
            )
        self.declaration = declaration
        return declaration

    def _close_after_failure(self) -> None:
        try:
            self._instance.close()
        except Exception:
            logger.exception("%s %s: close after a failure raised", self.name, self.version)

    def _fail(self, reason: str, reply: _Reply | None = None) -> None:
        """Fail the slot (once); answer whoever waits for the call that failed."""
        with self._lock:
            if self.state in (State.FAILED, State.STOPPED):
                return
            self.state = State.FAILED
            self.last_error = reason
            busy = self._busy
        logger.error("algorithm %s %s failed: %s", self.name, self.version, reason)
        for waiting in (reply, busy[3] if busy is not None else None):
            if waiting is not None:
                waiting.fail(reason)
        self._on_failure(self, reason)


class Host:
    """The active slot of every algorithm, input dispatch, and the watchdog.

    Parameters
    ----------
    watchdog_interval_s : float
        Seconds between two watchdog checks; a hang is caught within its deadline plus this.
    """

    def __init__(self, watchdog_interval_s: float = 0.05) -> None:
        self._slots: dict[str, Slot] = {}
        self._lock = threading.Lock()
        self._interval = watchdog_interval_s
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._candidates: list[Slot] = []

    def start(self) -> None:
        """Start the watchdog."""
        self._watchdog.start()

    def close(self, timeout: float) -> None:
        """Stop every slot and the watchdog."""
        with self._lock:
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            slot.stop(timeout)
        self._stop.set()
        self._watchdog.join(timeout)

    def slot(self, name: str) -> Slot | None:
        """The slot of `name`, or None."""
        return self._slots.get(name)

    def slots(self) -> list[Slot]:
        """All slots, by name."""
        with self._lock:
            return [self._slots[n] for n in sorted(self._slots)]

    def watch(self, slot: Slot) -> None:
        """Watch a slot that is loading before it is placed (so a hung import is caught)."""
        with self._lock:
            self._candidates.append(slot)

    def place(self, slot: Slot) -> Slot | None:
        """Make `slot` the one of its name; return the slot it replaces (not stopped yet)."""
        with self._lock:
            if slot in self._candidates:
                self._candidates.remove(slot)
            old = self._slots.get(slot.name)
            self._slots[slot.name] = slot
        return old

    def forget(self, slot: Slot) -> None:
        """Stop watching a candidate that will not be placed."""
        with self._lock:
            if slot in self._candidates:
                self._candidates.remove(slot)

    def remove(self, name: str) -> Slot | None:
        """Take the slot of `name` out (not stopped yet)."""
        with self._lock:
            return self._slots.pop(name, None)

    def wants(self, kind: str) -> bool:
        """Whether any slot takes inputs of `kind`."""
        return any(s.wants(kind) for s in list(self._slots.values()))

    def on_frames(self, frames: Frames) -> None:
        """Offer a block of frames to every slot that declared them."""
        for slot in list(self._slots.values()):
            if slot.wants(FRAMES):
                slot.offer("on_frames", frames)

    def on_samples(self, block: SampleBlock) -> None:
        """Offer a block of samples to every slot that declared them."""
        for slot in list(self._slots.values()):
            if slot.wants(SAMPLES):
                slot.offer("on_samples", block)

    def on_message(
        self, broker: str, message: Message, matches: Callable[[str, str], bool]
    ) -> None:
        """Offer a message from `broker` to every slot subscribed to its topic.

        `matches(topic_filter, topic)` tells whether a filter matches a topic.
        """
        for slot in list(self._slots.values()):
            declaration = slot.declaration
            if not slot.wants(MESSAGES) or declaration is None:
                continue
            if any(
                s.broker == broker and matches(s.topic_filter, message.topic)
                for s in declaration.subscriptions
            ):
                slot.offer("on_message", message)

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            now = time.monotonic()
            with self._lock:
                slots = list(self._slots.values()) + list(self._candidates)
            for slot in slots:
                slot.check(now)
