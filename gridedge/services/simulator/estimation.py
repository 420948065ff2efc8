"""The estimation levels that run on simulated devices (the paper's section V).

The concentrators of every LV node, and the LV levels of the secondary substations whose
meter is simulated, run here once per round; the hardware meters run their own levels
(``se-lv`` on M2, ``se-mv`` on M1). Each round takes the simulated grid's steady state for
the switch states of the moment, gives every customer a smart meter (voltage, active and
reactive power, with the error of its accuracy class) and every simulated secondary-
substation meter its readings, and runs
:func:`~gridedge.meter.estimation.multilevel.concentrator` and
:class:`~gridedge.meter.estimation.multilevel.LVLevel`. A customer without supply has no
reading, and an LV level whose MV bus is dead does not run.
"""

import logging
from collections.abc import Iterable, Mapping

import numpy as np

from gridedge.errors import GridedgeError
from gridedge.grid import Grid, Measurement, power_flow
from gridedge.grid import topology as grid_topology
from gridedge.meter.estimation import areas
from gridedge.meter.estimation.accuracy import SMART_METER, SUBSTATION_METER, AccuracyClass
from gridedge.meter.estimation.multilevel import (
    LVInput,
    LVLevel,
    LVOutput,
    NodeEstimate,
    NodeReadings,
    Reading,
    concentrator,
)
from gridedge.meter.estimation.quantities import Quantity
from gridedge.meter.estimation.simulation import true_values

logger = logging.getLogger(__name__)


class SimulatedEstimation:
    """Concentrators and the simulated meters' LV levels of one grid.

    Parameters
    ----------
    grid : Grid
    hardware_meters : iterable of str
        Meters that run their own LV level (their substations are left out here).
    seed : int
        Seed of the readings' errors.
    """

    def __init__(self, grid: Grid, hardware_meters: Iterable[str], seed: int) -> None:
        self.grid = grid
        hardware = set(hardware_meters)
        stations = [t.id for t in areas.secondary_transformers(grid)]
        self.meter_of = {m.branch: m for m in grid.meters if m.branch in stations}
        self.levels = {
            t: LVLevel(grid, t)
            for t in stations
            if t in self.meter_of and self.meter_of[t].id not in hardware
        }
        self._loads = tuple(grid.loads)
        self._rng = np.random.default_rng(seed)

    def round(
        self, time: float, states: Mapping[str, bool]
    ) -> tuple[list[NodeEstimate], list[LVOutput]]:
        """One estimation round for the switch states of the moment.

        Parameters
        ----------
        time : float
            The round's time, POSIX s.
        states : mapping of str to bool
            Every switch's state (True = closed).

        Returns
        -------
        nodes : list of NodeEstimate
            The concentrator of every LV node with a supplied customer.
        outputs : list of LVOutput
            The simulated meters' LV levels whose MV bus is live (a level that fails is
            logged and left out).
        """
        grid = self.grid
        flow = power_flow(grid, states)
        live = grid_topology.energised_buses(grid, states)
        supplied = [load for load in self._loads if load.bus in live]
        quantities = [Quantity(q, load.bus) for load in supplied for q in ("v", "p", "q")]
        truth = true_values(flow, quantities).reshape(-1, 3) if quantities else ()
        readings: dict[str, list[Reading]] = {}
        for load, (v, p, q) in zip(supplied, truth, strict=True):
            # Injections in the power flow, consumption as a meter counts it.
            values = {"v": v, "p": -p, "q": -q}
            readings.setdefault(load.bus, []).extend(
                self._reading(f"meter:{load.id}", quantity, value, load.id)
                for quantity, value in values.items()
            )
        nodes = {bus: concentrator(NodeReadings(bus, tuple(r))) for bus, r in readings.items()}
        outputs = []
        for transformer, level in self.levels.items():
            if level.bus not in live:
                continue
            meter = self.meter_of[transformer]
            quantities = [
                Quantity("v", level.bus),
                Quantity("p", transformer, level.bus),
                Quantity("q", transformer, level.bus),
            ]
            substation = []
            for q, true in zip(quantities, true_values(flow, quantities), strict=True):
                value, sigma = self._noisy(q.quantity, float(true), SUBSTATION_METER)
                substation.append(
                    Measurement(
                        f"{meter.id}:{q.quantity}", q.quantity, q.element, value, sigma, side=q.side
                    )
                )
            message = LVInput(
                transformer,
                time,
                tuple(nodes[b] for b in level.customer_buses if b in nodes),
                tuple(substation),
            )
            try:
                outputs.append(level.run(message))
            except GridedgeError as exc:
                logger.warning("LV level of %s failed: %s", transformer, exc)
        return list(nodes.values()), outputs

    def _reading(self, meter: str, quantity: str, value: float, customer: str) -> Reading:
        noisy, sigma = self._noisy(quantity, value, SMART_METER)
        return Reading(meter, quantity, noisy, sigma, customer)  # type: ignore[arg-type]

    def _noisy(self, quantity: str, value: float, accuracy: AccuracyClass) -> tuple[float, float]:
        sigma = float(accuracy.sigma(quantity, value))
        return value + sigma * float(self._rng.standard_normal()), sigma
