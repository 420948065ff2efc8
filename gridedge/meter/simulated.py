"""The ``simulated`` acquisition backend: this meter's DAQ stream from the grid simulator.

The meter samples what :class:`gridedge.grid.waveform.Simulation` says its sensors and 12-bit
DAQ would deliver at its place in a test grid, paced in real time. It stands in for the paper's
Opal-RT analog outputs wired to the meter's DAQ. The timeline is either a single fault given
in the options, or a shared scenario file (:mod:`gridedge.grid.scenario`) that the simulator
service and the other simulated meters follow too, so that faults, protection trips and
switch operations reach every stream at the same absolute time.
"""

import dataclasses
import time

import numpy as np
from numpy.typing import NDArray

from gridedge.channels import ChannelScaling
from gridedge.errors import ConfigurationError
from gridedge.grid.casenames import CASE_NAMES
from gridedge.grid.daq import DaqSettings
from gridedge.grid.scenario import Follower, ScenarioFile, advance
from gridedge.grid.waveform import (
    Event,
    FaultClearance,
    FaultInception,
    MeterStream,
    Simulation,
    WaveformSettings,
)


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
    scenario : str
        Path of a scenario file to follow; its case, seed and events then replace `case`,
        `seed` and the fault options (which must stay unset).
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
    scenario: str = ""

    def __post_init__(self) -> None:
        if self.case not in CASE_NAMES:
            raise ConfigurationError(
                f"acquisition.options.case {self.case!r} is not one of {CASE_NAMES}"
            )
        if self.scenario and self.fault_location:
            raise ConfigurationError(
                "acquisition.options: give the fault in the scenario file "
                f"{self.scenario}, not as fault_location"
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


def open_simulated(
    fs: float, meter_id: str, settings: SimulatedSettings
) -> "MeterStream | FollowingStream":
    """The stream of meter ``settings.meter`` (or `meter_id`) of the case grid, from now on.

    Raises
    ------
    InvalidInputError
        The meter is not in the grid, or the fault timeline names an unknown element.
    ConfigurationError
        The scenario file cannot be read, or names an unknown case.
    """
    from gridedge.grid import cases

    follower = ScenarioFile(settings.scenario).follow() if settings.scenario else None
    case = follower.case if follower else settings.case
    if case not in CASE_NAMES:
        raise ConfigurationError(
            f"scenario {settings.scenario}: case {case!r} is not one of {CASE_NAMES}"
        )
    grid = getattr(cases, case)()
    waveform = WaveformSettings(
        fs=fs,
        harmonic_orders=settings.harmonic_orders,
        harmonic_fractions=settings.harmonic_fractions,
        seed=follower.seed if follower else settings.seed,
        start_time=time.time(),
        realtime=settings.realtime,
    )
    simulation = Simulation(
        grid, settings.events(), waveform, DaqSettings(noise_lsb=settings.noise_lsb)
    )
    stream = simulation.source(settings.meter or meter_id)
    if follower is None:
        return stream
    return FollowingStream(stream, follower)


class FollowingStream:
    """A meter's stream whose timeline follows a scenario file (an acquisition source).

    Before every read the file is checked (one ``stat`` when unchanged) and new events are
    added to the simulation, ahead of the samples about to be read.
    """

    def __init__(self, stream: MeterStream, follower: Follower) -> None:
        self.stream = stream
        self.follower = follower
        self.fs: float = stream.fs
        self.start_time: float = stream.start_time
        self.scaling: ChannelScaling = stream.scaling

    def read(self, max_samples: int) -> tuple[int, NDArray[np.float64]]:
        """Take up the scenario's new events, then read as :meth:`MeterStream.read`."""
        new = self.follower.poll()
        if new:
            advance(self.stream.simulation, new, self.stream.next_index)
        return self.stream.read(max_samples)

    def close(self) -> None:
        """End the stream."""
        self.stream.close()
