"""Built-in algorithm ``phasor-publisher``: phasor frames to ``meters/{id}/measurements``.

Parameters
----------
``decimation`` (int, default 50)
    Publish one frame in this many: 50 at 50 frames/s is one message a second.

Each message body holds one frame: ``t`` (s, POSIX), ``frequency`` (Hz) and ``rocof``
(Hz/s) or null where not valid, ``valid``, ``phasors`` (``{channel: [re, im]}``, primary V
and A RMS) and three-phase ``p`` (W) and ``q`` (var).
"""

import math
from typing import Any

from gridedge.channels import CHANNELS
from gridedge.errors import ConfigurationError
from gridedge.meter.phasor import Frames
from gridedge.meter.plugin import FRAMES, BaseAlgorithm, Context, Declaration, Output


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class PhasorPublisher(BaseAlgorithm):
    """Publish every `decimation`-th frame."""

    def __init__(self) -> None:
        self._count = 0
        self._decimation = 1
        self._topic = ""
        self._publish: Any = None

    def configure(self, context: Context) -> Declaration:
        """Read ``decimation``; publish on this meter's measurements topic."""
        decimation = context.parameters.get("decimation", 50)
        if not isinstance(decimation, int) or isinstance(decimation, bool) or decimation < 1:
            raise ConfigurationError(f"decimation must be a positive integer, got {decimation!r}")
        self._decimation = decimation
        self._topic = context.topics.measurements(context.meter_id)
        self._publish = context.publish
        return Declaration(inputs=frozenset({FRAMES}), outputs=(Output(self._topic),))

    def on_frames(self, frames: Frames) -> None:
        """Publish the frames that fall on the decimation grid."""
        for k in range(len(frames)):
            if self._count % self._decimation == 0:
                self._publish(self._topic, frame_body(frames, k))
            self._count += 1


def frame_body(frames: Frames, k: int) -> dict[str, Any]:
    """The message body of frame `k` of `frames` (see the module docstring)."""
    phasor = frames.phasor[k]
    power = phasor[:3] @ phasor[3:].conj()
    valid = bool(frames.valid[k])
    return {
        "t": float(frames.time[k]),
        "frequency": _number(frames.frequency[k]) if valid else None,
        "rocof": _number(frames.rocof[k]) if valid else None,
        "valid": valid,
        "phasors": {
            c: [_number(z.real), _number(z.imag)] for c, z in zip(CHANNELS, phasor, strict=True)
        },
        "p": _number(power.real),
        "q": _number(power.imag),
    }


def create() -> PhasorPublisher:
    """Entry point of the package."""
    return PhasorPublisher()
