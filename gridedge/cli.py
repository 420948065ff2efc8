"""The ``gridedge`` console command: one entry point for every component."""

import argparse
import logging
import sys
from collections.abc import Sequence

from gridedge import __version__
from gridedge.errors import GridedgeError


def _demo(args: argparse.Namespace) -> int:
    from gridedge.demo import run

    run(fs=args.fs, reporting_rate=args.rate, stream=sys.stdout)
    return 0


def _compliance(args: argparse.Namespace) -> int:
    from gridedge.meter.compliance import report

    report(sampling_rates=args.fs, stream=sys.stdout)
    return 0


def _grid(args: argparse.Namespace) -> int:
    from gridedge.grid.commands import run_grid

    return run_grid(args)


def _simulate(args: argparse.Namespace) -> int:
    from gridedge.grid.commands import run_simulate

    return run_simulate(args)


def _estimation(args: argparse.Namespace) -> int:
    from gridedge.meter.estimation.montecarlo import MonteCarloSettings, run

    settings = MonteCarloSettings(trials=args.trials, seed=args.seed)
    print(run(settings, backend=args.backend).table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``gridedge`` command and its subcommands."""
    parser = argparse.ArgumentParser(prog="gridedge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gridedge {__version__}")
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="the main job: a simulated fault through the meter")
    demo.add_argument("--fs", type=float, default=6400.0, help="sampling rate, Hz")
    demo.add_argument("--rate", type=float, default=50.0, help="reports per second")
    demo.set_defaults(handler=_demo)

    compliance = commands.add_parser(
        "phasor-compliance", help="IEEE C37.118.1 test signals through the phasor estimator"
    )
    compliance.add_argument(
        "--fs", type=float, nargs="+", default=[3200.0, 6400.0], help="sampling rates, Hz"
    )
    compliance.set_defaults(handler=_compliance)

    grid = commands.add_parser("grid", help="draw a grid (SVG) or export it (JSON)")
    grid.add_argument("action", choices=["draw", "export"], help="SVG drawing or JSON file")
    grid.add_argument("output", help="file to write")
    grid.set_defaults(handler=_grid)
    simulate = commands.add_parser(
        "simulate", help="simulate the meters' DAQ streams of a grid, with a fault, to .npz"
    )
    simulate.add_argument("output", help=".npz file: samples and scaling per meter")
    simulate.add_argument("--fs", type=float, default=6400.0, help="sampling rate, Hz")
    simulate.add_argument("--duration", type=float, default=1.0, help="seconds")
    simulate.add_argument("--fault", help="LINE:FRACTION:KIND:OHM, for example F1-04:0.37:a-g:1")
    simulate.add_argument("--at", type=float, default=0.2, help="fault inception, s")
    simulate.add_argument("--clear", type=float, help="fault clearance, s")
    simulate.add_argument("--seed", type=int, default=0, help="seed of the DAQ noise")
    simulate.set_defaults(handler=_simulate)
    estimation = commands.add_parser("estimation", help="state estimation studies")
    estimation.add_argument(
        "study",
        choices=["accuracy"],
        help="accuracy: multilevel vs centralised Monte Carlo on the Turin case (a table)",
    )
    estimation.add_argument("--trials", type=int, default=200, help="Monte Carlo trials")
    estimation.add_argument("--seed", type=int, default=2022, help="seed of the draws")
    estimation.add_argument(
        "--backend", choices=["native", "python"], help="kernel backend (default: native)"
    )
    estimation.set_defaults(handler=_estimation)
    for subcommand in (grid, simulate):
        source = subcommand.add_mutually_exclusive_group(required=True)
        source.add_argument("--case", choices=["ieee33", "turin"], help="a built-in grid")
        source.add_argument("--file", help="a grid in the JSON format")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gridedge`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.handler(args)
    except GridedgeError as exc:
        print(f"gridedge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
