"""Built-in algorithm ``se-mv``: the MV level of the multilevel state estimation.

It runs on a feeder-head meter (the paper's M1) and estimates, once per round, the MV grid of
the region the meter observes - its feeder, from the source down
(:func:`gridedge.meter.estimation.areas.region_area`, with the switch states of the meter's
topology portion) - with :class:`gridedge.meter.estimation.multilevel.MVLevel`: from the LV
levels of the feeder's secondary substations (``se/lv/{bus}``, each weighted by its
covariance; pseudo-measurements for a silent one) and from this meter's own readings, busbar
voltage and power into the feeder, averaged over the last ``window_s`` of its frames. The
MV bus voltages and the slack voltage for each LV level go to ``se/mv/{bus}``, named after the
meter's bus.

When a reconfiguration changes the meter's portion, the catalog's settings push configures
the algorithm again: the level is rebuilt for the new feeder and subscribes to the LV levels
of the secondary substations now on it.

Parameters
----------
``case`` (str, default ``turin``)
    The grid the meter sits in.
``meter`` (str, default the meter id)
    Which meter of that grid this one is.
``interval_s``, ``wait_s``, ``window_s`` (float)
    Round interval (60 s), wait for the LV levels (half the interval), own readings' window
    (1 s).
"""

from collections.abc import Mapping
from typing import Any

from gridedge.errors import ConfigurationError
from gridedge.meter.estimation import areas
from gridedge.meter.estimation.accuracy import SUBSTATION_METER
from gridedge.meter.estimation.level_algorithm import LevelAlgorithm, Prepared
from gridedge.meter.estimation.multilevel import LVOutput, MVInput, MVLevel, MVOutput
from gridedge.meter.plugin import Context
from gridedge.meter.portion import region, switch_states


class MVLevelAlgorithm(LevelAlgorithm[LVOutput]):
    """One MV level per round, from the feeder's LV levels and this meter's readings."""

    level = "mv"
    lower = "lv"
    message_type = LVOutput

    def __init__(self) -> None:
        super().__init__()
        self._level: MVLevel | None = None
        self._key: tuple[Any, ...] = ()

    def prepare(self, context: Context, case: str) -> Prepared:
        """Build the level for the meter's current region; its secondary substations send."""
        from gridedge.grid import cases, topology

        meter_id = str(context.parameters.get("meter", context.meter_id))
        states = switch_states(context.topology)
        key = (case, meter_id, tuple(sorted(states.items())))
        if key != self._key or self._level is None:
            grid = getattr(cases, case)().with_switch_states(states)
            observed = region(context.topology) or topology.of(grid).meter_region(meter_id)
            area = areas.region_area(grid, observed, meter_id)
            stations = [t.id for t in areas.secondary_transformers(area)]
            self._level = MVLevel(area, stations)
            self._stations = {grid.transformer(t).hv_bus: t for t in stations}
            self._meter = grid.meter(meter_id)
            self._kv = grid.bus(self._meter.bus).kv
            self._key = key
        if self._meter.branch is None:
            raise ConfigurationError(f"meter {meter_id} measures no branch: no power into a feeder")
        self._name = context.meter_id
        return Prepared(self._stations, self._meter.bus, self._kv)

    def sender(self, message: LVOutput) -> str:
        """An LV level's result is collected under its transformer."""
        return message.transformer

    def run_level(
        self, time: float, received: Mapping[str, LVOutput], window: tuple[float, float]
    ) -> tuple[MVOutput, dict[str, list[str]]]:
        """The MV level from the LV levels' results and the feeder head's readings."""
        level, meter = self._level, self._meter
        assert level is not None  # configured before any round opens
        primary = self._readings.measurements(
            f"primary:{self._name}", meter.bus, str(meter.branch), window, SUBSTATION_METER
        )
        output = level.run(MVInput(time, tuple(received.values()), primary))
        pseudo = sorted(set(self._stations.values()) - set(received))
        return output, {"stations": sorted(received), "pseudo": pseudo}


def create() -> MVLevelAlgorithm:
    """Entry point of the package."""
    return MVLevelAlgorithm()
