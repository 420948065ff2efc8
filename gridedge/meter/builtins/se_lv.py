"""Built-in algorithm ``se-lv``: the LV level of the multilevel state estimation.

It runs on a secondary-substation meter (the paper's M2) and estimates the LV grid under one
transformer (:class:`gridedge.meter.estimation.multilevel.LVLevel`) once per round: from the
concentrators' estimates of its customer nodes (``se/concentrator/{bus}``, grid broker) and
from this meter's own readings, voltage of the MV busbar and power into the transformer,
averaged over the last ``window_s`` of its phasor frames. The result - MV busbar voltage, P
and Q into the transformer with their covariance, and every bus voltage of the LV grid - goes
to ``se/lv/{bus}`` for the MV level (see :mod:`gridedge.meter.estimation.rounds`).

Parameters
----------
``transformer`` (str)
    The secondary transformer this meter measures (``TS03`` for M2 in the Turin case).
``case`` (str, default ``turin``)
    The grid the meter sits in.
``interval_s``, ``wait_s``, ``window_s`` (float)
    Round interval (60 s), wait for the concentrators (half the interval), own readings'
    window (1 s).

Give it a ``deadline_s`` of a second or two: a round takes tens of milliseconds, building the
level at configuration a little more.
"""

from collections.abc import Mapping

from gridedge.errors import ConfigurationError
from gridedge.meter.estimation.accuracy import SUBSTATION_METER
from gridedge.meter.estimation.level_algorithm import LevelAlgorithm, Prepared
from gridedge.meter.estimation.multilevel import LVInput, LVLevel, LVOutput, NodeEstimate
from gridedge.meter.plugin import Context


class LVLevelAlgorithm(LevelAlgorithm[NodeEstimate]):
    """One LV level per round, from the concentrators and this meter's readings."""

    level = "lv"
    lower = "concentrator"
    message_type = NodeEstimate

    def __init__(self) -> None:
        super().__init__()
        self._level: LVLevel | None = None
        self._key: tuple[str, str] = ("", "")

    def prepare(self, context: Context, case: str) -> Prepared:
        """Build the level once per case and transformer; its customer buses send."""
        transformer = context.parameters.get("transformer")
        if not isinstance(transformer, str):
            raise ConfigurationError("give the secondary transformer this meter measures")
        if (case, transformer) != self._key or self._level is None:
            from gridedge.grid import cases

            grid = getattr(cases, case)()
            self._level = LVLevel(grid, transformer)
            self._kv = grid.bus(self._level.bus).kv
            self._key = (case, transformer)
        self._name = context.meter_id
        level = self._level
        return Prepared({bus: bus for bus in level.customer_buses}, level.bus, self._kv)

    def sender(self, message: NodeEstimate) -> str:
        """A concentrator's estimate is collected under its node's bus."""
        return message.bus

    def run_level(
        self, time: float, received: Mapping[str, NodeEstimate], window: tuple[float, float]
    ) -> tuple[LVOutput, dict[str, int]]:
        """The LV level from the concentrators' estimates and the substation's readings."""
        level = self._level
        assert level is not None  # configured before any round opens
        substation = self._readings.measurements(
            self._name, level.bus, level.transformer, window, SUBSTATION_METER
        )
        output = level.run(LVInput(level.transformer, time, tuple(received.values()), substation))
        return output, {"concentrators": len(received)}


def create() -> LVLevelAlgorithm:
    """Entry point of the package."""
    return LVLevelAlgorithm()
