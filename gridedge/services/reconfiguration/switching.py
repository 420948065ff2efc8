"""Operating remote switches over MQTT with select-before-operate, one acknowledged step at a time.

The switch side of the protocol is in :mod:`gridedge.services.simulator.switchboard`. Here:
a command (``select``, then ``operate``) goes to ``switches/{id}/command`` with an expiry and
never retained; the answer, matched by the request id, comes on ``switches/{id}/response``.
A step succeeds only when the switch says ``operated``; a refusal or silence past
``ack_timeout_s`` fails it (after a ``cancel`` of a selection that was never operated).
"""

import dataclasses
import functools
import secrets
import threading
import time
from typing import Any

from gridedge.mqtt import Connection, Envelope, Topics
from gridedge.services.reconfiguration.settings import ServiceSettings


@dataclasses.dataclass(frozen=True)
class Answer:
    """A switch's answer: its body and when the switch sent it (POSIX time, s)."""

    body: dict[str, Any]
    sent: float


KEEP_S = 60.0
"""Answers nobody waited for (they came too late) are forgotten after this long, s."""


class Responses:
    """Switch answers, handed from the thread that receives them to the one that waits."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], Answer] = {}
        self._arrived = threading.Condition()

    def deliver(self, envelope: Envelope) -> None:
        """Take an answer (from the receiving thread)."""
        body = envelope.body
        if not isinstance(body, dict) or not isinstance(body.get("request"), str):
            return
        with self._arrived:
            stale = time.time() - KEEP_S
            for key in [k for k, a in self._answers.items() if a.sent < stale]:
                del self._answers[key]
            self._answers[(body["request"], str(body.get("action")))] = Answer(body, envelope.ts)
            self._arrived.notify_all()

    def wait(self, request: str, action: str, timeout: float) -> Answer | None:
        """The answer to `action` of `request`, waiting up to `timeout` s; None if none came."""
        key = (request, action)
        with self._arrived:
            if not self._arrived.wait_for(lambda: key in self._answers, timeout):
                return None
            return self._answers.pop(key)


@dataclasses.dataclass(frozen=True)
class Operation:
    """How one switching step went.

    Attributes
    ----------
    switch, action : str
        The switch and ``open`` or ``close``.
    ok : bool
        The switch acknowledged the operation.
    reason : str or None
        Why not, when it failed.
    commanded, selected, operated : float or None
        POSIX times: the select was sent; the switch acknowledged the selection; the switch
        acknowledged the operation (it had moved).
    """

    switch: str
    action: str
    ok: bool
    reason: str | None
    commanded: float
    selected: float | None = None
    operated: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The operation as a JSON object."""
        return dataclasses.asdict(self)


class SwitchCommander:
    """Carries out switching steps over one MQTT session.

    Parameters
    ----------
    connection : Connection
        The session with the grid broker (its sender id goes into every command).
    topics : Topics
    responses : Responses
        Where the receiving thread puts the switches' answers.
    settings : ServiceSettings
        Answer timeout and command expiry.
    """

    def __init__(
        self,
        connection: Connection,
        topics: Topics,
        responses: Responses,
        settings: ServiceSettings,
    ) -> None:
        self.connection = connection
        self.topics = topics
        self.responses = responses
        self.settings = settings

    def operate(self, switch_id: str, action: str) -> Operation:
        """Select, then operate `switch_id` to `action` (``open`` or ``close``)."""
        request = f"{self.connection.sender}-{secrets.token_hex(6)}"
        commanded = time.time()
        failed = functools.partial(Operation, switch_id, action, False, commanded=commanded)
        self._send(switch_id, "select", action, request)
        selected = self.responses.wait(request, "select", self.settings.ack_timeout_s)
        if selected is None:
            self._send(switch_id, "cancel", action, request)
            return failed(f"no answer to select within {self.settings.ack_timeout_s:g} s")
        if selected.body.get("result") != "selected":
            return failed(f"select refused: {selected.body.get('reason')}")
        self._send(switch_id, "operate", action, request)
        operated = self.responses.wait(request, "operate", self.settings.ack_timeout_s)
        if operated is None:
            return failed(
                f"no answer to operate within {self.settings.ack_timeout_s:g} s",
                selected=selected.sent,
            )
        if operated.body.get("result") != "operated":
            return failed(f"operate refused: {operated.body.get('reason')}", selected=selected.sent)
        return Operation(switch_id, action, True, None, commanded, selected.sent, operated.sent)

    def _send(self, switch_id: str, command: str, operation: str, request: str) -> None:
        self.connection.publish(
            self.topics.switch_command(switch_id),
            {"action": command, "operation": operation, "request": request},
            expiry_s=self.settings.command_expiry_s,
        )
