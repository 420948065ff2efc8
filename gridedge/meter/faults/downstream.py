"""The sparse voltage measurements of downstream meters, as the feeder-head meter collects them.

Every meter publishes phasor frames (``phasor-publisher``: one frame in ``decimation``, time
stamped on the absolute time base). The head meter keeps the last few seconds of each
downstream meter's phase-voltage magnitudes; when it has detected a fault, it averages the
frames that fall inside its own during-fault set (``FaultEvent.fault_start`` to
``FaultEvent.time``: their windows saw the fault, and nothing of its onset or clearing) and,
for the pre-fault reference, the positive-sequence magnitude of the frames before the
inception. Those are the ``voltages`` and ``prefault_voltages`` that
:func:`gridedge.meter.faults.locate` takes.
"""

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError
from gridedge.grid.sequence import to_sequence
from gridedge.meter.faults.detection import FaultEvent

VOLTAGES = ("Va", "Vb", "Vc")
"""The channels a frame body names the phase voltages by."""

PREFAULT_MARGIN_S = 0.1
"""Pre-fault frames end this long before the latest possible inception, s: a frame period
(the earliest possible inception) and a frame's half-window, with room to spare."""


class DownstreamVoltages:
    """Recent phase-voltage magnitudes of a set of meters.

    Parameters
    ----------
    meters : iterable of str
        The meters to collect (others are ignored).
    keep_s : float
        Seconds of frames kept per meter, counted back from its newest.
    prefault_s : float
        Seconds of frames before an inception averaged into the pre-fault reference.
    """

    def __init__(
        self, meters: Iterable[str], keep_s: float = 10.0, prefault_s: float = 1.0
    ) -> None:
        self.meters = frozenset(meters)
        self.keep_s = keep_s
        self.prefault_s = prefault_s
        # Per meter: (time stamp, complex phase voltages (3,)) of its valid frames, in order.
        self._frames: dict[str, deque[tuple[float, NDArray[np.complex128]]]] = {
            m: deque() for m in self.meters
        }
        self._newest: dict[str, float] = {}

    def add(self, meter_id: str, body: Mapping[str, Any]) -> None:
        """Take one frame a meter published (the ``phasor-publisher`` body).

        Raises
        ------
        InvalidInputError
            The body lacks the time stamp or a phase voltage.
        """
        if meter_id not in self.meters:
            return
        try:
            t = float(body["t"])
            phasors = body["phasors"]
            voltage = np.array([complex(*phasors[c]) for c in VOLTAGES])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"frame of meter {meter_id} is malformed: {exc!r}") from None
        if not math.isfinite(t):
            raise InvalidInputError(f"frame of meter {meter_id} has time stamp {t!r}")
        self._newest[meter_id] = max(t, self._newest.get(meter_id, -math.inf))
        if not body.get("valid", False) or not np.all(np.isfinite(voltage)):
            return
        frames = self._frames[meter_id]
        frames.append((t, voltage))
        if len(frames) > 1 and frames[-2][0] > t:  # reordered in transit: keep time order
            frames = self._frames[meter_id] = deque(sorted(frames, key=lambda f: f[0]))
        while frames and frames[0][0] < self._newest[meter_id] - self.keep_s:
            frames.popleft()

    def complete(self, until: float) -> bool:
        """Whether every meter has reported a frame time-stamped at or after `until`."""
        return all(self._newest.get(m, -math.inf) >= until for m in self.meters)

    def around(self, event: FaultEvent) -> tuple[dict[str, NDArray[np.float64]], dict[str, float]]:
        """The ``voltages`` and ``prefault_voltages`` with which to locate `event`.

        Empty when the event has no during-fault frames to bound the interval.
        """
        if not math.isfinite(event.fault_start):
            return {}, {}
        return (
            self.during(event.fault_start, event.time),
            self.before(event.inception_time - PREFAULT_MARGIN_S),
        )

    def during(self, start: float, end: float) -> dict[str, NDArray[np.float64]]:
        """Mean phase-voltage magnitudes (3,), V, of each meter's frames in [start, end].

        Meters without a valid frame there are left out.
        """
        result = {}
        for meter_id, frames in self._frames.items():
            inside = [np.abs(v) for t, v in frames if start <= t <= end]
            if inside:
                result[meter_id] = np.mean(inside, axis=0)
        return result

    def before(self, end: float) -> dict[str, float]:
        """Mean positive-sequence voltage magnitude, V, of each meter's frames before `end`.

        Only the last ``prefault_s`` before `end` count; meters without such frames are left
        out.
        """
        result = {}
        for meter_id, frames in self._frames.items():
            inside = [v for t, v in frames if end - self.prefault_s <= t < end]
            if inside:
                result[meter_id] = float(np.mean(np.abs(to_sequence(np.array(inside))[:, 1])))
        return result
