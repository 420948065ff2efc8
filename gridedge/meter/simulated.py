"""The ``simulated`` acquisition backend: this meter's DAQ stream from the grid simulator.

The meter samples what :class:`gridedge.grid.waveform.Simulation` says its sensors and 12-bit
DAQ would deliver at its place in a test grid, through an optional fault timeline, paced in
real time. It stands in for the paper's Opal-RT analog outputs wired to the meter's DAQ.
"""

import dataclasses
import time

from gridedge.errors import ConfigurationError
from gridedge.grid.daq import DaqSettings
from gridedge.grid.waveform import (
    Event,
    FaultClearance,
    FaultInception,
    MeterStream,
    Simulation,
    WaveformSettings,
)

CASES = ("turin", "ieee33")


@dataclasses.dataclass(frozen=True)
class SimulatedSettings:
    """Options of the ``simulated`` backend (``parameters.acquisition.options``).

    Attributes
    ----------
    case : str
        The grid: ``turin`` or ``ieee33``.
    meter : str
        Which meter of that grid this one is; the meter's own id by default.
    fault_location : str
        Line or bus of a fault; none when empty.
    fault_kind : str
        ``a-g``, ``b-c``, ``b-c-g``, ``a-b-c`` ...
    fault_fraction : float
        Position along the line from its from bus.
    fault_resistance_ohm : float
        Fault resistance.
    fault_at_s, fault_clear_s : float
        Inception and clearance, s after acquisition starts (no clearance when negative).
    harmonic_orders, harmonic_fractions : tuple
        Harmonics on every channel (see :class:`gridedge.grid.waveform.WaveformSettings`).
    noise_lsb : float
        DAQ input noise, LSB rms.
    seed : int
        Seed of the noise.
    realtime : bool
        Deliver samples at the sampling rate (True) or as fast as they are read.
    """

    case: str = "turin"
    meter: str = ""
    fault_location: str = ""
    fault_kind: str = "a-g"
    fault_fraction: float = 0.5
    fault_resistance_ohm: float = 0.0
    fault_at_s: float = 1.0
    fault_clear_s: float = -1.0
    harmonic_orders: tuple[int, ...] = ()
    harmonic_fractions: tuple[float, ...] = ()
    noise_lsb: float = 1.0
    seed: int = 0
    realtime: bool = True

    def __post_init__(self) -> None:
        if self.case not in CASES:
            raise ConfigurationError(
                f"acquisition.options.case {self.case!r} is not one of {CASES}"
            )

    def events(self) -> list[Event]:
        """The fault timeline."""
        if not self.fault_location:
            return []
        events: list[Event] = [
            FaultInception(
                self.fault_at_s,
                self.fault_location,
                self.fault_kind,
                self.fault_fraction,
                self.fault_resistance_ohm,
            )
        ]
        if self.fault_clear_s >= 0:
            events.append(FaultClearance(self.fault_clear_s))
        return events


def open_simulated(fs: float, meter_id: str, settings: SimulatedSettings) -> MeterStream:
    """The stream of meter ``settings.meter`` (or `meter_id`) of the case grid, from now on.

    Raises
    ------
    InvalidInputError
        The meter is not in the grid, or the fault timeline names an unknown element.
    """
    from gridedge.grid import cases

    grid = getattr(cases, settings.case)()
    waveform = WaveformSettings(
        fs=fs,
        harmonic_orders=settings.harmonic_orders,
        harmonic_fractions=settings.harmonic_fractions,
        seed=settings.seed,
        start_time=time.time(),
        realtime=settings.realtime,
    )
    simulation = Simulation(
        grid, settings.events(), waveform, DaqSettings(noise_lsb=settings.noise_lsb)
    )
    return simulation.source(settings.meter or meter_id)
