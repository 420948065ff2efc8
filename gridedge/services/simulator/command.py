"""``gridedge simulator``: serve the simulation, start a scenario, inject a fault.

Its arguments are declared in :mod:`gridedge.cli`.
"""

import argparse
import signal
import sys
import time
from typing import TextIO

from gridedge import config
from gridedge.grid.scenario import Entry, ScenarioFile
from gridedge.grid.waveform import FaultInception
from gridedge.services.runtime import SECTION, ServiceProvisioning
from gridedge.services.simulator.settings import SECTION as SIMULATOR
from gridedge.services.simulator.settings import SimulatorSettings


def run(args: argparse.Namespace, stream: TextIO = sys.stdout) -> int:
    """Run ``gridedge simulator serve|scenario|fault``."""
    if args.action == "scenario":
        ScenarioFile.create(args.file, args.case, args.seed)
        print(f"{args.file}: {args.case}, seed {args.seed}, no events", file=stream)
        return 0
    if args.action == "fault":
        at = time.time() + args.after
        fault = FaultInception(at, args.line, args.kind, args.fraction, args.ohm)
        ScenarioFile(args.file).append([Entry(fault, "injected")])
        print(
            f"{args.kind} fault on {args.line} at {args.fraction:g} through {args.ohm:g} ohm, "
            f"in {args.after:g} s (t = {at:.3f})",
            file=stream,
        )
        return 0
    from gridedge.services.simulator.service import SimulatorService

    service = SimulatorService(
        config.load(ServiceProvisioning, args.config, section=SECTION),
        config.load(SimulatorSettings, args.config, section=SIMULATOR),
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.request_stop())
    service.run()
    return 0
