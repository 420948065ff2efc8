"""Settings of the simulator service (section ``[simulator]``, ``GRIDEDGE_SIMULATOR_*``)."""

import dataclasses
import math
from pathlib import Path

from gridedge.errors import ConfigurationError

SECTION = "simulator"


@dataclasses.dataclass(frozen=True)
class SimulatorSettings:
    """How the Opal-RT stand-in runs.

    Attributes
    ----------
    scenario : Path or None
        The scenario file it and the hardware meters follow (:mod:`gridedge.grid.scenario`).
    hardware_meters : tuple of str
        Meters of the grid that are real meter daemons sampling the simulator themselves
        (the paper's M1 and M2); the simulator publishes the measurements of all the others.
    fs : float
        Sampling rate of the simulated meters, Hz (the paper's DAQs ran at 3.2 kHz).
    reporting_rate : float
        Phasor frames per second of the simulated meters.
    decimation : int
        Publish one frame in this many, as the ``phasor-publisher`` algorithm does.
    block_s : float
        Seconds of signal simulated and estimated per step.
    protection_delay_s : float
        Time from a fault's inception to the feeder breaker's opening, s (definite-time
        overcurrent protection).
    operate_s : float
        Time from an ``operate`` command to the switch having moved, s (its mechanism); also
        how far ahead of its time a switching event is written to the scenario.
    select_timeout_s : float
        How long a selection waits for its ``operate``, s.
    silent_switches : tuple of str
        Switches whose IoT device does not answer (to exercise a failed step of a plan).
    se_interval_s : float
        Time between state-estimation rounds of the simulated concentrators and LV levels,
        s (a minute in the paper); 0 runs none.
    """

    scenario: Path | None = None
    hardware_meters: tuple[str, ...] = ("M1", "M2")
    fs: float = 3200.0
    reporting_rate: float = 50.0
    decimation: int = 5
    block_s: float = 0.02
    protection_delay_s: float = 0.3
    operate_s: float = 0.1
    select_timeout_s: float = 5.0
    silent_switches: tuple[str, ...] = ()
    se_interval_s: float = 60.0

    def __post_init__(self) -> None:
        for name in (
            "fs",
            "reporting_rate",
            "block_s",
            "protection_delay_s",
            "operate_s",
            "select_timeout_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{SECTION}.{name} must be positive, got {value!r}")
        if not (math.isfinite(self.se_interval_s) and self.se_interval_s >= 0):
            raise ConfigurationError(
                f"{SECTION}.se_interval_s must be >= 0, got {self.se_interval_s!r}"
            )
        if self.decimation < 1:
            raise ConfigurationError(f"{SECTION}.decimation must be >= 1, got {self.decimation}")
        if self.operate_s < 2 * self.block_s:
            raise ConfigurationError(
                f"{SECTION}.operate_s ({self.operate_s}) must be at least two blocks "
                f"({2 * self.block_s} s): followers read the scenario once per block"
            )
