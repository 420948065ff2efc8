"""Accuracy of the multilevel estimator on the Turin case: a Monte Carlo study.

Each trial draws the customers' consumption (each load scaled by a uniform factor around its
nominal value), solves the power flow for the true state and simulates every meter with its
accuracy class (:mod:`gridedge.meter.estimation.accuracy`):

- a smart meter at every customer: voltage, active and reactive power (class 0.5 / 1 / 2);
- the meter of every secondary substation (M2, M4 to M14): MV busbar voltage and the power
  into the transformer (substation class);
- the primary-substation meters (M1, M3): MV busbar voltage and the power into the feeder.

The trial then runs the centralised estimator (one WLS over the whole grid and every
measurement) and the multilevel one (concentrators, twelve LV levels, the MV level, the MV
estimate sent back down as each LV level's slack), and compares both with the true
voltages. Finally a gross error of ``gross_error_sigma`` standard deviations goes into one
randomly chosen meter's voltage reading, then into one meter's active-power reading, and the
level that holds it must detect and remove it.

``gridedge estimation accuracy`` runs it and prints the table of ``docs/accuracy.md``.
"""

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from gridedge import kernels
from gridedge.errors import ConfigurationError
from gridedge.grid import Grid, Measurement, PowerFlowResult, power_flow
from gridedge.grid.cases import turin
from gridedge.meter.estimation import areas
from gridedge.meter.estimation.accuracy import SMART_METER, SUBSTATION_METER, AccuracyClass
from gridedge.meter.estimation.estimator import Estimator
from gridedge.meter.estimation.multilevel import (
    LVInput,
    LVLevel,
    LVOutput,
    MVInput,
    MVLevel,
    NodeReadings,
    Reading,
    concentrator,
)
from gridedge.meter.estimation.quantities import Quantity
from gridedge.meter.estimation.simulation import readings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonteCarloSettings:
    """What the study draws.

    Attributes
    ----------
    trials : int
    seed : int
    load_spread : float
        Each load is scaled by a factor drawn uniformly in [1 - spread, 1 + spread].
    gross_error_sigma : float
        Size of the injected gross error, in standard deviations of the reading.
    customer_meter, substation_meter : AccuracyClass
    """

    trials: int = 200
    seed: int = 2022
    load_spread: float = 0.5
    gross_error_sigma: float = 20.0
    customer_meter: AccuracyClass = SMART_METER
    substation_meter: AccuracyClass = SUBSTATION_METER

    def __post_init__(self) -> None:
        if not (isinstance(self.trials, int) and self.trials > 0):
            raise ConfigurationError(f"trials must be a positive whole number, got {self.trials!r}")
        if not 0 <= self.load_spread < 1:
            raise ConfigurationError(f"load_spread must lie in [0, 1), got {self.load_spread!r}")
        if not self.gross_error_sigma > 0:
            raise ConfigurationError(
                f"gross_error_sigma must be positive, got {self.gross_error_sigma!r}"
            )


GROSS_ERRORS = (
    ("the voltage reading of a random meter", "v", "all"),
    ("the active-power reading of a random secondary-substation meter", "p", "substations"),
    ("the active-power reading of a random smart meter", "p", "customers"),
)
"""Gross-error experiments of each trial: name, quantity hit, meters drawn from."""


@dataclass(frozen=True)
class Scenario:
    """One trial's truth and readings.

    Attributes
    ----------
    flow : PowerFlowResult
        The true state.
    nodes : dict of str to NodeReadings
        Customer readings per LV bus (one smart meter, id ``meter:<bus>``).
    substation : dict of str to tuple of Measurement
        Secondary-substation meter readings per transformer.
    primary : tuple of Measurement
        Primary-substation meter readings.
    """

    flow: PowerFlowResult
    nodes: dict[str, NodeReadings]
    substation: dict[str, tuple[Measurement, ...]]
    primary: tuple[Measurement, ...]


@dataclass
class MonteCarloReport:
    """Figures of a study (see :func:`run`).

    Attributes
    ----------
    settings : MonteCarloSettings
    buses : int
        Buses compared in each trial.
    vm_error_multilevel, vm_error_centralised : list of float
        Per trial, RMS over the buses of the voltage magnitude error, p.u.
    va_error_multilevel, va_error_centralised : list of float
        Per trial, RMS of the voltage angle error, degrees.
    detected, gross : dict of str to list of bool
        Per experiment of :data:`GROSS_ERRORS` and trial, whether bad data was detected and
        whether the erroneous reading was removed.
    sensitivity : dict of str to list of float
        The same, the residual sensitivity of the reading hit (before the error).
    false_removals : int
        Measurements removed in the error-free runs (multilevel).
    seconds : dict of str to list of float
        Run time of each level per trial.
    """

    settings: MonteCarloSettings
    buses: int = 0
    vm_error_multilevel: list[float] = field(default_factory=list)
    vm_error_centralised: list[float] = field(default_factory=list)
    va_error_multilevel: list[float] = field(default_factory=list)
    va_error_centralised: list[float] = field(default_factory=list)
    detected: dict[str, list[bool]] = field(default_factory=dict)
    gross: dict[str, list[bool]] = field(default_factory=dict)
    sensitivity: dict[str, list[float]] = field(default_factory=dict)
    false_removals: int = 0
    seconds: dict[str, list[float]] = field(default_factory=dict)

    @staticmethod
    def _rms(values: Sequence[float]) -> float:
        return math.sqrt(float(np.mean(np.square(values))))

    @property
    def vm_ratio(self) -> float:
        """RMS magnitude error of the multilevel estimate over the centralised one's."""
        return self._rms(self.vm_error_multilevel) / self._rms(self.vm_error_centralised)

    @property
    def va_ratio(self) -> float:
        """RMS angle error of the multilevel estimate over the centralised one's."""
        return self._rms(self.va_error_multilevel) / self._rms(self.va_error_centralised)

    def table(self) -> str:
        """Return the study as a Markdown table."""
        s = self.settings
        rms = self._rms
        rows = [
            ("trials", f"{s.trials} (seed {s.seed}, loads x U(1 +- {s.load_spread:g}))"),
            ("buses compared per trial", f"{self.buses}"),
            (
                "RMS voltage magnitude error, centralised",
                f"{rms(self.vm_error_centralised):.3e} p.u.",
            ),
            (
                "RMS voltage magnitude error, multilevel",
                f"{rms(self.vm_error_multilevel):.3e} p.u.",
            ),
            ("multilevel / centralised (magnitude)", f"{self.vm_ratio:.3f}"),
            ("RMS voltage angle error, centralised", f"{rms(self.va_error_centralised):.3e} deg"),
            ("RMS voltage angle error, multilevel", f"{rms(self.va_error_multilevel):.3e} deg"),
            ("multilevel / centralised (angle)", f"{self.va_ratio:.3f}"),
        ]
        k = s.gross_error_sigma
        for name, removed in self.gross.items():
            shown = k * float(np.median(self.sensitivity[name]))
            rows.append(
                (
                    f"{k:g} sigma error on {name}: normalised residual it causes (median)",
                    f"{shown:.1f}",
                )
            )
            rows.append(("... detected (chi-square)", _share(self.detected[name])))
            rows.append(("... identified and removed", _share(removed)))
        rows.append(
            ("measurements removed without a gross error (all trials)", f"{self.false_removals}")
        )
        for level, times in self.seconds.items():
            rows.append((f"time per trial, {level} (median)", f"{np.median(times) * 1e3:.2f} ms"))
        lines = ["| quantity | value |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in rows]
        return "\n".join(lines)


def _share(flags: Sequence[bool]) -> str:
    return f"{100 * np.mean(flags):.1f} % ({int(np.sum(flags))} of {len(flags)})"


class TurinStudy:
    """The Turin case prepared for the study: its levels and the centralised estimator.

    Parameters
    ----------
    settings : MonteCarloSettings
    grid : Grid, optional
        The Turin case (``gridedge.grid.cases.turin()`` by default).
    backend : {"native", "python"}, optional
    """

    def __init__(
        self,
        settings: MonteCarloSettings,
        grid: Grid | None = None,
        backend: kernels.Backend | None = None,
    ) -> None:
        self.settings = settings
        self.grid = grid = turin() if grid is None else grid
        self.stations = [t.id for t in areas.secondary_transformers(grid)]
        self.lv = {t: LVLevel(grid, t, backend=backend) for t in self.stations}
        self.mv = MVLevel(grid, self.stations, backend=backend)
        self._substation_meter = {m.branch: m for m in grid.meters if m.branch in self.stations}
        self._primary_meters = [m for m in grid.meters if m.branch not in self.stations]
        self.central = Estimator(grid, self._central_slots(), backend=backend)
        self._station_of = {bus: t for t in self.stations for bus in self.lv[t].customer_buses}

    def _central_slots(self) -> list[Measurement]:
        slots = []
        for load in self.grid.loads:
            slots += [
                Measurement(f"node:{q}:{load.bus}", q, load.bus, 0.0, 1.0) for q in ("v", "p", "q")
            ]
        for transformer, meter in self._substation_meter.items():
            slots += [Measurement(f"{transformer}:v", "v", meter.bus, 1.0, 1.0)]
            slots += [
                Measurement(f"{transformer}:{q}", q, transformer, 0.0, 1.0, side=meter.bus)
                for q in ("p", "q")
            ]
        for meter in self._primary_meters:
            slots += [Measurement(f"{meter.id}:v", "v", meter.bus, 1.0, 1.0)]
            slots += [
                Measurement(f"{meter.id}:{q}", q, str(meter.branch), 0.0, 1.0, side=meter.bus)
                for q in ("p", "q")
            ]
        return slots

    def scenario(self, rng: np.random.Generator) -> Scenario:
        """Draw one trial: loads, true state and readings."""
        s = self.settings
        loads = [
            replace(
                load,
                p_kw=load.p_kw
                * (factor := float(rng.uniform(1 - s.load_spread, 1 + s.load_spread))),
                q_kvar=load.q_kvar * factor,
            )
            for load in self.grid.loads
        ]
        flow = power_flow(self.grid.with_elements(loads=loads))
        plan = [
            (Quantity(q, load.bus), s.customer_meter)
            for load in self.grid.loads
            for q in ("v", "p", "q")
        ]
        measured = readings(flow, plan, rng)
        nodes = {}
        for k, load in enumerate(self.grid.loads):
            v, p, q = measured[3 * k : 3 * k + 3]
            meter = f"meter:{load.bus}"
            nodes[load.bus] = NodeReadings(
                load.bus,
                (
                    Reading(meter, "v", v.value, v.std_dev),
                    Reading(meter, "p", -p.value, p.std_dev),  # consumption, as meters count
                    Reading(meter, "q", -q.value, q.std_dev),
                ),
            )
        substation = {
            transformer: self._meter(flow, rng, meter.id, meter.bus, transformer)
            for transformer, meter in self._substation_meter.items()
        }
        primary = tuple(
            m
            for meter in self._primary_meters
            for m in self._meter(flow, rng, meter.id, meter.bus, str(meter.branch))
        )
        return Scenario(flow, nodes, substation, primary)

    def _meter(
        self, flow: PowerFlowResult, rng: np.random.Generator, meter: str, bus: str, branch: str
    ) -> tuple[Measurement, ...]:
        accuracy = self.settings.substation_meter
        plan = [
            (Quantity("v", bus), accuracy),
            (Quantity("p", branch, bus), accuracy),
            (Quantity("q", branch, bus), accuracy),
        ]
        return tuple(replace(m, id=f"{meter}:{m.quantity}") for m in readings(flow, plan, rng))

    def centralised(self, scenario: Scenario) -> NDArray[np.complex128]:
        """Voltages (grid bus order) estimated by the centralised estimator."""
        values = []
        std_devs = []
        for load in self.grid.loads:
            node = concentrator(scenario.nodes[load.bus])
            values += [node.v, -node.p, -node.q]  # injections
            std_devs += [node.v_std, node.p_std, node.q_std]
        for transformer in self._substation_meter:
            for m in scenario.substation[transformer]:
                values.append(m.value)
                std_devs.append(m.std_dev)
        for m in scenario.primary:
            values.append(m.value)
            std_devs.append(m.std_dev)
        return self.central.estimate(values, std_devs).voltage

    def lv_input(self, transformer: str, scenario: Scenario) -> LVInput:
        """Return the LV level's message: concentrator outputs and the substation meter."""
        level = self.lv[transformer]
        return LVInput(
            transformer=transformer,
            time=0.0,
            nodes=tuple(concentrator(scenario.nodes[bus]) for bus in level.customer_buses),
            substation=scenario.substation[transformer],
        )

    def multilevel(
        self, scenario: Scenario, timing: dict[str, list[float]] | None = None
    ) -> tuple[NDArray[np.complex128], list[LVOutput]]:
        """Voltages (grid bus order) from the three levels, and the final LV outputs."""
        clock = time.perf_counter
        started = clock()
        inputs = {t: self.lv_input(t, scenario) for t in self.stations}
        concentrated = clock()
        first = [self.lv[t].run(inputs[t]) for t in self.stations]
        lv_done = clock()
        mv = self.mv.run(MVInput(0.0, tuple(first), scenario.primary))
        mv_done = clock()
        second = [
            self.lv[t].run(replace(inputs[t], slack=mv.slack_of(self.lv[t].bus)))
            for t in self.stations
        ]
        down_done = clock()
        if timing is not None:
            for name, seconds in (
                ("concentrators (all LV nodes)", concentrated - started),
                (f"LV levels ({len(self.stations)}, first pass)", lv_done - concentrated),
                ("MV level", mv_done - lv_done),
                (f"LV levels ({len(self.stations)}, with the MV slack)", down_done - mv_done),
            ):
                timing.setdefault(name, []).append(seconds)
        voltage = {}
        for estimate in [o.voltages for o in second] + [mv.voltages]:
            values = np.asarray(estimate.vm_pu) * np.exp(1j * np.radians(estimate.va_deg))
            voltage.update(zip(estimate.buses, values.tolist(), strict=True))
        return np.array([voltage[b] for b in self.grid.bus_ids]), second

    def gross_error(
        self, scenario: Scenario, rng: np.random.Generator, quantity: str, meters: str
    ) -> tuple[bool, bool, float]:
        """Put a gross error into one random meter's `quantity` reading.

        Parameters
        ----------
        meters : {"all", "customers", "substations"}
            Which meters to draw from: every smart meter and secondary-substation meter, or
            one kind.

        Returns
        -------
        detected : bool
            Whether its LV level detected bad data (chi-square test).
        removed : bool
            Whether it removed the bad reading (identified by its normalised residual).
        sensitivity : float
            The reading's residual sensitivity in the error-free estimate (see
            :meth:`Estimator.sensitivity`).
        """
        size = self.settings.gross_error_sigma * float(rng.choice((-1.0, 1.0)))
        candidates = []
        if meters in ("all", "customers"):
            candidates += [("node", bus) for bus in scenario.nodes]
        if meters in ("all", "substations"):
            candidates += [("substation", t) for t in self.stations]
        kind, where = candidates[int(rng.integers(len(candidates)))]
        if kind == "node":
            readings = tuple(
                replace(r, value=r.value + size * r.std_dev) if r.quantity == quantity else r
                for r in scenario.nodes[where].readings
            )
            nodes = dict(scenario.nodes)
            nodes[where] = NodeReadings(where, readings)
            bad = replace(scenario, nodes=nodes)
            transformer = self._station_of[where]
            expected = f"node:{quantity}:{where}"
        else:
            transformer = where
            substation = dict(scenario.substation)
            substation[where] = tuple(
                replace(m, value=m.value + size * m.std_dev) if m.quantity == quantity else m
                for m in scenario.substation[where]
            )
            bad = replace(scenario, substation=substation)
            expected = f"substation:{quantity}"
        level = self.lv[transformer]
        level.run(self.lv_input(transformer, scenario))
        sensitivity = level.estimator.sensitivity()
        index = level.estimator.measurement_ids.index(expected)
        output = level.run(self.lv_input(transformer, bad))
        return output.bad_data_detected, expected in output.removed, float(sensitivity[index])


def run(
    settings: MonteCarloSettings | None = None, backend: kernels.Backend | None = None
) -> MonteCarloReport:
    """Run the study; see the module docstring."""
    settings = MonteCarloSettings() if settings is None else settings
    study = TurinStudy(settings, backend=backend)
    rng = np.random.default_rng(settings.seed)
    report = MonteCarloReport(settings, buses=len(study.grid.buses))
    for trial in range(settings.trials):
        scenario = study.scenario(rng)
        truth = scenario.flow.voltage
        central = study.centralised(scenario)
        multilevel, outputs = study.multilevel(scenario, report.seconds)
        report.false_removals += sum(len(o.removed) for o in outputs)
        for estimate, vm_errors, va_errors in (
            (central, report.vm_error_centralised, report.va_error_centralised),
            (multilevel, report.vm_error_multilevel, report.va_error_multilevel),
        ):
            vm_errors.append(float(np.sqrt(np.mean((np.abs(estimate) - np.abs(truth)) ** 2))))
            angle = np.degrees(np.angle(estimate * np.conj(truth)))
            va_errors.append(float(np.sqrt(np.mean(angle**2))))
        for name, quantity, meters in GROSS_ERRORS:
            detected, removed, sensitivity = study.gross_error(scenario, rng, quantity, meters)
            report.detected.setdefault(name, []).append(detected)
            report.gross.setdefault(name, []).append(removed)
            report.sensitivity.setdefault(name, []).append(sensitivity)
        logger.debug("trial %d done", trial)
    return report
