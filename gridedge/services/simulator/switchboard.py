"""The simulated IoT switches' command logic: select-before-operate, as IEC 61850 controls do.

A command on ``switches/{id}/command`` is a JSON object ``{"action", "operation",
"request"}``: ``action`` is ``select``, ``operate`` or ``cancel``, ``operation`` is ``open`` or
``close``, ``request`` an id the requester chooses, which every answer repeats. The rules:

- ``select`` reserves the switch for its sender and request for ``select_timeout_s``; a switch
  selected by someone else (and not expired) refuses, and so does one that is not remotely
  controllable or not known;
- ``operate`` acts only on a live selection by the same sender, request and operation; the
  selection is used up. The switch moves ``operate_s`` later (its mechanism), and the answer
  ``operated`` comes then;
- ``cancel`` releases the sender's selection;
- a command past its expiry, or delivered retained, is refused: commands expire and are never
  retained, so either means the command is stale.

Answers go to ``switches/{id}/response``: ``{"request", "action", "result", "reason",
"closed"}`` with ``result`` one of ``selected``, ``operated``, ``cancelled``, ``refused``.
The board holds no MQTT: it decides, the service sends.
"""

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gridedge.grid import Grid
from gridedge.mqtt import Envelope

logger = logging.getLogger(__name__)

ACTIONS = ("select", "operate", "cancel")
OPERATIONS = ("open", "close")


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the board decided about one command.

    Attributes
    ----------
    response : dict
        The answer's body (for ``operate``: to be sent when the switch has moved).
    closed : bool or None
        For an accepted ``operate``: the state the switch goes to; None otherwise.
    """

    response: dict[str, Any]
    closed: bool | None = None


@dataclasses.dataclass(frozen=True)
class _Selection:
    holder: str
    request: str
    operation: str
    expires: float


class SwitchBoard:
    """The remotely controlled switches of a grid and their selections.

    Parameters
    ----------
    grid : Grid
        Its switches' ``remote`` flags say which ones obey commands.
    states : mapping of str to bool
        Every switch's state now (True = closed).
    select_timeout_s : float
        How long a selection waits for its ``operate``.
    clock : callable
        POSIX time, s.
    """

    def __init__(
        self,
        grid: Grid,
        states: Mapping[str, bool],
        select_timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.grid = grid
        self.select_timeout_s = select_timeout_s
        self._clock = clock
        self._states = dict(states)
        self._selections: dict[str, _Selection] = {}
        self._lock = threading.RLock()

    @property
    def remote(self) -> tuple[str, ...]:
        """Ids of the switches that obey commands."""
        return tuple(s.id for s in self.grid.switches if s.remote)

    def state(self, switch_id: str) -> bool:
        """Whether the switch is closed (as far as the board has been told)."""
        with self._lock:
            return self._states[switch_id]

    def states(self) -> dict[str, bool]:
        """Every switch's state."""
        with self._lock:
            return dict(self._states)

    def moved(self, changes: Iterable[tuple[str, bool]]) -> None:
        """Record switches that moved (on command, by protection, by the scenario)."""
        with self._lock:
            self._states.update(changes)

    def decide(self, switch_id: str, envelope: Envelope, retained: bool) -> Decision:
        """Decide about a command for `switch_id` (see the module docstring)."""
        command = envelope.body if isinstance(envelope.body, dict) else {}
        refusal = self._malformed(switch_id, envelope, command, retained)
        if refusal is not None:
            return self._answer(switch_id, command, "refused", refusal)
        now = self._clock()
        with self._lock:
            selection = self._selections.get(switch_id)
            expired = selection is not None and selection.expires < now
            if expired:
                del self._selections[switch_id]
            live = None if expired else selection
            if command["action"] == "select":
                return self._select(switch_id, envelope.sender, command, live, now)
            if live is None or (live.holder, live.request) != (envelope.sender, command["request"]):
                ours = selection is not None and selection.request == command["request"]
                why = "the selection expired" if expired and ours else "not selected"
                return self._answer(switch_id, command, "refused", why)
            return self._operate(switch_id, command, live)

    def _select(
        self,
        switch_id: str,
        sender: str,
        command: dict[str, Any],
        live: _Selection | None,
        now: float,
    ) -> Decision:
        if live is not None and (live.holder, live.request) != (sender, command["request"]):
            return self._answer(switch_id, command, "refused", f"selected by {live.holder}")
        self._selections[switch_id] = _Selection(
            sender, command["request"], command["operation"], now + self.select_timeout_s
        )
        return self._answer(switch_id, command, "selected")

    def _operate(self, switch_id: str, command: dict[str, Any], live: _Selection) -> Decision:
        """Cancel or operate on the requester's own live selection."""
        operation = command.get("operation")
        if command["action"] == "operate" and live.operation != operation:
            why = f"selected to {live.operation}, not to {operation}"
            return self._answer(switch_id, command, "refused", why)
        del self._selections[switch_id]
        if command["action"] == "cancel":
            return self._answer(switch_id, command, "cancelled")
        return self._answer(switch_id, command, "operated", closed=operation == "close")

    def _malformed(
        self, switch_id: str, envelope: Envelope, command: dict[str, Any], retained: bool
    ) -> str | None:
        """Why a command cannot be considered at all; None when it can."""
        action, operation, request = (command.get(k) for k in ("action", "operation", "request"))
        switch = next((s for s in self.grid.switches if s.id == switch_id), None)
        checks = (
            (retained, "a retained command is stale"),
            (envelope.expired(self._clock()), "the command expired before it arrived"),
            (action not in ACTIONS, f"action {action!r} is not one of {ACTIONS}"),
            (not isinstance(request, str) or not request, "a command needs a request id"),
            (
                action != "cancel" and operation not in OPERATIONS,
                f"operation {operation!r} is not one of {OPERATIONS}",
            ),
            (switch is None, f"unknown switch {switch_id!r}"),
            (
                switch is not None and not switch.remote,
                f"switch {switch_id} is not remotely controllable",
            ),
        )
        return next((reason for failed, reason in checks if failed), None)

    def _answer(
        self,
        switch_id: str,
        command: dict[str, Any],
        result: str,
        reason: str | None = None,
        closed: bool | None = None,
    ) -> Decision:
        with self._lock:
            state = self._states.get(switch_id) if closed is None else closed
        if result == "refused":
            logger.info("switch %s refuses %s: %s", switch_id, command.get("action"), reason)
        response = {
            "request": command.get("request"),
            "action": command.get("action"),
            "operation": command.get("operation"),
            "result": result,
            "reason": reason,
            "closed": state,
        }
        return Decision(response, closed)
