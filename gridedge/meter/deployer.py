"""Bring the algorithms the settings assign into service: install, swap, probation, rollback.

For an algorithm that is new, or assigned another version, the deployer downloads the
package, has it verified and unpacked (:meth:`Installer.stage`, in a child process: nothing
is imported before signature, digest, version, expiry and interface version are checked),
loads it into a new slot beside the running version, and only when it has loaded and
configured switches the ``current`` pointer on disk and the slot in the host. The new version
then runs on probation; the previous one stays on disk until it passes. If it fails (raises,
overruns its deadline) during probation, the previous version is made current again and
restarted; after probation, a failure disables the algorithm. A package that fails is
remembered and not tried again, so a bad assignment costs one download.
"""

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from gridedge.errors import (
    AccessDeniedError,
    CatalogUnavailableError,
    NotFoundError,
    VerificationError,
)
from gridedge.meter.host import AlgorithmFailedError, Host, Slot, State
from gridedge.meter.installer import Installed, Installer
from gridedge.meter.plugin import Context, Output
from gridedge.meter.settings import AlgorithmSpec

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Policy:
    """Local limits on algorithms (from the meter's provisioning)."""

    probation_s: float
    deadline_s: float
    configure_timeout_s: float
    queue_length: int


class Deployer:
    """The algorithms of one meter.

    Parameters
    ----------
    installer : Installer
        The versions on disk.
    host : Host
        The running slots.
    policy : Policy
        Probation, deadlines, queue length.
    download : callable
        ``download(spec) -> bytes``: the package archive from the catalog.
    make_context : callable
        ``make_context(spec, installed, publish) -> Context``.
    emit : callable
        ``emit(output, body)``: where algorithms' messages go.
    on_failure : callable
        ``on_failure(slot, reason)``: where slots report failures (any thread); the owner
        calls :meth:`failed` from its control thread.
    clock : callable
        Monotonic seconds.
    """

    def __init__(
        self,
        installer: Installer,
        host: Host,
        policy: Policy,
        *,
        download: Callable[[AlgorithmSpec], bytes],
        make_context: Callable[[AlgorithmSpec, Installed, Callable[[str, Any], None]], Context],
        emit: Callable[[Output, Any], None],
        on_failure: Callable[[Slot, str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.installer = installer
        self.host = host
        self.policy = policy
        self._download = download
        self._make_context = make_context
        self._emit = emit
        self._on_failure = on_failure
        self._clock = clock
        self._specs: dict[str, AlgorithmSpec] = {}
        # The assignment each running slot was configured with, and, while a new version is
        # on probation, the one its predecessor ran with (a rollback restores both).
        self._running: dict[str, AlgorithmSpec] = {}
        self._fallback: dict[str, AlgorithmSpec] = {}
        self._refused: dict[tuple[str, str, str], str] = {}

    # -- settings ---------------------------------------------------------------------------

    def apply(self, specs: tuple[AlgorithmSpec, ...], *, reconfigure: bool) -> None:
        """Make the running algorithms those of `specs`.

        Parameters
        ----------
        specs : tuple of AlgorithmSpec
            The assignments of the new settings.
        reconfigure : bool
            Hand every running algorithm a new context even if its own parameters did not
            change (the topology or the topic tree did).
        """
        wanted = {s.name: s for s in specs}
        for name in sorted(self._present() - wanted.keys()):
            self._remove(name)
        for spec in specs:
            previous = self._specs.get(spec.name)
            self._specs[spec.name] = spec
            changed = previous is None or previous.parameters_key != spec.parameters_key
            slot = self.host.slot(spec.name)
            if slot is not None and (slot.version, slot.sha256) == (spec.version, spec.sha256):
                if slot.active and (changed or reconfigure):
                    self._reconfigure(slot, spec)
                elif slot.state is State.FAILED and changed:
                    self._restart(slot, spec)
                continue
            if self._is_refused(spec):
                continue
            self._deploy(spec)

    def restore(self, specs: tuple[AlgorithmSpec, ...]) -> None:
        """At boot: start the versions on disk, then bring them in line with `specs`.

        A version found with a ``previous`` beside it was on probation when the meter
        stopped: it runs on probation again.
        """
        wanted = {s.name: s for s in specs}
        for name in self.installer.names():
            installed = self.installer.current(name)
            spec = wanted.get(name)
            if installed is None or spec is None:
                continue
            on_probation = self.installer.previous(name) is not None
            try:
                slot = self._start(spec, installed)
            except AlgorithmFailedError as exc:
                if on_probation:
                    self._roll_back(name, installed, f"failed to start after a restart: {exc}")
                continue
            self._place(slot, spec, probation=on_probation)
        self.apply(specs, reconfigure=False)

    # -- events -----------------------------------------------------------------------------

    def failed(self, slot: Slot, reason: str) -> None:
        """Act on a failure a slot reported: roll back during probation, else disable."""
        if self.host.slot(slot.name) is not slot:
            return
        if slot.probation_until is not None:
            self._roll_back(slot.name, slot.installed, reason)
        else:
            logger.error("%s %s disabled: %s", slot.name, slot.version, reason)

    def tick(self) -> None:
        """Commit the versions whose probation has passed."""
        now = self._clock()
        for slot in self.host.slots():
            due = slot.probation_until
            if slot.state is State.PROBATION and due is not None and now >= due:
                self.installer.commit(slot.name)
                self._fallback.pop(slot.name, None)
                slot.probation_until = None
                slot.state = State.RUNNING
                logger.info("%s %s passed its probation", slot.name, slot.version)

    def report(self) -> dict[str, Any]:
        """Per algorithm: running version, state, counters, assigned version, refusals."""
        report: dict[str, Any] = {slot.name: slot.report() for slot in self.host.slots()}
        for name, spec in self._specs.items():
            report.setdefault(name, {"version": None, "state": "absent"})["assigned"] = spec.version
        for (name, version, _), reason in self._refused.items():
            entry = report.setdefault(name, {"version": None, "state": "absent"})
            entry.setdefault("refused", {})[version] = reason
        return report

    # -- steps ------------------------------------------------------------------------------

    def _deploy(self, spec: AlgorithmSpec) -> None:
        try:
            archive = self._download(spec)
            installed = self.installer.stage(spec.name, spec.sha256, archive)
        except (CatalogUnavailableError, NotFoundError, AccessDeniedError) as exc:
            # Not the package's fault: tried again with the next settings.
            self._specs.pop(spec.name, None)
            logger.warning("cannot fetch %s %s: %s", spec.name, spec.version, exc)
            return
        except VerificationError as exc:
            self._refuse(spec.name, spec.version, spec.sha256, str(exc))
            return
        try:
            slot = self._start(spec, installed)
        except AlgorithmFailedError as exc:
            self._refuse(spec.name, spec.version, spec.sha256, f"failed to start: {exc}")
            self.installer.discard(installed)
            return
        self.installer.activate(installed)
        previous = self._running.get(spec.name)
        if previous is not None:
            self._fallback[spec.name] = previous
        self._place(slot, spec, probation=True)

    def _start(self, spec: AlgorithmSpec, installed: Installed) -> Slot:
        deadline = spec.parameters.get("deadline_s", self.policy.deadline_s)
        slot = Slot(
            installed,
            deadline_s=float(deadline),
            configure_timeout_s=self.policy.configure_timeout_s,
            queue_length=self.policy.queue_length,
            emit=self._emit,
            on_failure=self._on_failure,
        )
        self.host.watch(slot)
        try:
            slot.start(self._make_context(spec, installed, slot.publish))
        except AlgorithmFailedError:
            self.host.forget(slot)
            slot.stop(0.1)
            raise
        return slot

    def _place(self, slot: Slot, spec: AlgorithmSpec, *, probation: bool) -> None:
        self._running[slot.name] = spec
        if probation:
            slot.probation_until = self._clock() + self.policy.probation_s
            slot.state = State.PROBATION
        else:
            slot.state = State.RUNNING
        old = self.host.place(slot)
        if old is not None:
            old.stop(self.policy.deadline_s)
        logger.info("%s %s is running (%s)", slot.name, slot.version, slot.state)

    def _reconfigure(self, slot: Slot, spec: AlgorithmSpec) -> None:
        try:
            slot.configure(self._make_context(spec, slot.installed, slot.publish))
        except AlgorithmFailedError as exc:
            logger.error("%s %s: new settings failed: %s", slot.name, slot.version, exc)
            return
        self._running[slot.name] = spec

    def _restart(self, failed: Slot, spec: AlgorithmSpec) -> None:
        try:
            slot = self._start(spec, failed.installed)
        except AlgorithmFailedError as exc:
            logger.error(
                "%s %s: restart with new settings failed: %s", spec.name, spec.version, exc
            )
            return
        self._place(slot, spec, probation=False)

    def _roll_back(self, name: str, failed: Installed, reason: str) -> None:
        self._refuse(name, failed.version, failed.sha256, reason)
        slot = self.host.remove(name)
        if slot is not None:
            slot.stop(0.1)
        restored = self.installer.rollback(name)
        spec = self._fallback.pop(name, None) or self._specs.get(name)
        if restored is None or spec is None:
            logger.error("%s %s failed with no version to go back to", name, failed.version)
            return
        logger.warning("%s rolled back from %s to %s", name, failed.version, restored.version)
        try:
            slot = self._start(spec, restored)
        except AlgorithmFailedError as exc:
            logger.error(
                "%s %s: the restored version failed to start: %s", name, restored.version, exc
            )
            return
        self._place(slot, spec, probation=False)

    def _remove(self, name: str) -> None:
        slot = self.host.remove(name)
        if slot is not None:
            slot.stop(self.policy.deadline_s)
        self.installer.remove(name)
        for specs in (self._specs, self._running, self._fallback):
            specs.pop(name, None)
        logger.info("%s removed", name)

    def _refuse(self, name: str, version: str, sha256: str, reason: str) -> None:
        self._refused[(name, version, sha256)] = reason
        logger.error("refused %s %s: %s", name, version, reason)

    def _is_refused(self, spec: AlgorithmSpec) -> bool:
        if (spec.name, spec.version, spec.sha256) in self._refused:
            return True
        if f"{spec.version}:{spec.sha256}" in self.installer.rejected(spec.name):
            self._refused[(spec.name, spec.version, spec.sha256)] = "failed before a restart"
            return True
        return False

    def _present(self) -> set[str]:
        return {s.name for s in self.host.slots()} | set(self.installer.names())
