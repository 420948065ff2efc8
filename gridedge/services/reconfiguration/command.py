"""``gridedge reconfigure plan``: print the restoration plan of one fault.

Its arguments are declared in :mod:`gridedge.cli`.
"""

import argparse
import sys
from typing import TextIO

from gridedge.grid import Grid, Switch, load
from gridedge.grid.cases import ieee33, turin
from gridedge.services.reconfiguration.planner import Restorer
from gridedge.services.reconfiguration.settings import load_limits


def sectionalised(grid: Grid) -> Grid:
    """`grid` with a remote switch at the from end of every line that has none.

    The published IEEE 33-bus reconfiguration case treats every section as switchable; the
    grid package's copy has switches on its ties only.
    """
    switched = {switch.branch for switch in grid.switches}
    extra = [
        Switch(f"S{line.id}", line.from_bus, branch=line.id, remote=True)
        for line in grid.lines
        if line.id not in switched
    ]
    return grid.with_elements(switches=[*grid.switches, *extra])


CASES = {"turin": turin, "ieee33": lambda: sectionalised(ieee33())}
"""Ready-made grids by name (IEEE 33-bus with every section switchable)."""


def run(args: argparse.Namespace, stream: TextIO = sys.stdout) -> int:
    """Plan the fault named in `args` and print the plan to `stream`."""
    grid = CASES[args.case]() if args.case else load(args.file)
    fault = args.line
    if args.located:
        first, second, distance = args.located
        try:
            fault = (first, second, float(distance))
        except ValueError:
            fault = (first, second, distance)
    plan = Restorer(grid, load_limits(args.settings)).plan(fault)
    print(plan.to_json(indent=2) if args.json else plan.describe(), file=stream)
    return 0
