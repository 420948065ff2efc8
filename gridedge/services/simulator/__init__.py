"""The simulator service: the Opal-RT stand-in of the paper's test bench.

It runs the grid of a scenario in real time (:mod:`gridedge.grid.scenario`), publishes the
measurements of the meters that are not real meter daemons, clears faults with the feeder
protection, and is every remotely controlled IoT switch (select-before-operate). The meter
daemons that sample the simulator (acquisition backend ``simulated``) follow the same scenario
file, so a fault, a trip or a switching reaches their waveforms at the same instant.
"""

from gridedge.services.simulator.service import SimulatorService
from gridedge.services.simulator.settings import SimulatorSettings
from gridedge.services.simulator.switchboard import Decision, SwitchBoard

__all__ = ["Decision", "SimulatorService", "SimulatorSettings", "SwitchBoard"]
