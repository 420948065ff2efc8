"""The ``gridedge grid`` and ``gridedge simulate`` subcommands (options in :mod:`gridedge.cli`)."""

import argparse
import logging
from pathlib import Path

import numpy as np

from gridedge.errors import InvalidInputError
from gridedge.grid import cases, jsonformat
from gridedge.grid.drawing import to_svg
from gridedge.grid.model import Grid
from gridedge.grid.waveform import FaultClearance, FaultInception, Simulation, WaveformSettings

logger = logging.getLogger(__name__)


def _grid(args: argparse.Namespace) -> Grid:
    return getattr(cases, args.case)() if args.case else jsonformat.load(args.file)


def run_grid(args: argparse.Namespace) -> int:
    """Draw or export a grid."""
    grid = _grid(args)
    if args.action == "draw":
        Path(args.output).write_text(to_svg(grid), encoding="utf-8")
    else:
        jsonformat.save(grid, args.output)
    logger.info("wrote %s", args.output)
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    """Simulate every meter's DAQ stream and save it."""
    grid = _grid(args)
    events: list = []
    if args.fault:
        try:
            line, fraction, kind, ohm = args.fault.split(":")
            events.append(FaultInception(args.at, line, kind, float(fraction), float(ohm)))
        except ValueError:
            raise InvalidInputError(
                f"--fault {args.fault!r} must be LINE:FRACTION:KIND:OHM"
            ) from None
        if args.clear is not None:
            events.append(FaultClearance(args.clear))
    settings = WaveformSettings(fs=args.fs, duration_s=args.duration, seed=args.seed)
    simulation = Simulation(grid, events, settings)
    arrays = {}
    for meter_id, stream in simulation.sources().items():
        _, samples = stream.read(round(args.duration * args.fs))
        arrays[f"{meter_id}/samples"] = samples
        arrays[f"{meter_id}/gain"] = stream.scaling.gain
        arrays[f"{meter_id}/offset"] = stream.scaling.offset
    np.savez_compressed(args.output, fs=args.fs, **arrays)
    logger.info("wrote %d meters to %s", len(simulation.meter_ids), args.output)
    return 0
