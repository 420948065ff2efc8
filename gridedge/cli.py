"""The ``gridedge`` console command: one entry point for every component.

Each component declares its subcommands in one small function here; a handler imports its
component only when it runs, so that ``gridedge meter`` does not carry the solvers, the
catalog's web stack or the benchmark tools.
"""

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gridedge import __version__
from gridedge.errors import GridedgeError
from gridedge.grid.casenames import CASE_NAMES

Commands = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _demo(args: argparse.Namespace) -> int:
    from gridedge.services.demo import run

    return run(args, stream=sys.stdout)


def _compliance(args: argparse.Namespace) -> int:
    from gridedge.meter.c37118 import report

    report(sampling_rates=args.fs, stream=sys.stdout)
    return 0


def _add_foundation(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo", help="the main job: a fault through FLISR on the distributed system, end to end"
    )
    demo.add_argument(
        "--local", action="store_true", help="the chain in one process, without brokers"
    )
    demo.add_argument("--line", default="F1-03", help="the faulted line (feeder 1: F1-01..F1-06)")
    demo.add_argument(
        "--fraction", type=float, default=0.4, help="fault position from its from bus"
    )
    demo.add_argument("--kind", default="a-g", help="fault kind: a-g, b-c, b-c-g, a-b-c ...")
    demo.add_argument("--ohm", type=float, default=1.0, help="fault resistance")
    demo.add_argument("--keep", type=Path, help="keep every process's files and logs here")
    demo.add_argument("--json", type=Path, help="also write the latencies to this JSON file")
    demo.add_argument("--fs", type=float, default=6400.0, help="sampling rate (--local), Hz")
    demo.add_argument("--rate", type=float, default=50.0, help="reports per second (--local)")
    demo.set_defaults(handler=_demo)
    compliance = commands.add_parser(
        "phasor-compliance", help="IEEE C37.118.1 test signals through the phasor estimator"
    )
    compliance.add_argument(
        "--fs", type=float, nargs="+", default=[3200.0, 6400.0], help="sampling rates, Hz"
    )
    compliance.set_defaults(handler=_compliance)


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


def _add_estimation(commands: Commands) -> None:
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


def _add_grid(commands: Commands) -> None:
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
    for subcommand in (grid, simulate):
        source = subcommand.add_mutually_exclusive_group(required=True)
        source.add_argument("--case", choices=CASE_NAMES, help="a built-in grid")
        source.add_argument("--file", help="a grid in the JSON format")


def _meter(args: argparse.Namespace) -> int:
    from gridedge.meter import commands

    return commands.run_meter(args)


def _algorithms(args: argparse.Namespace) -> int:
    from gridedge.meter import commands

    return commands.run_algorithms(args, stream=sys.stdout)


def _daq_devices(args: argparse.Namespace) -> int:
    from gridedge.meter.daq import discover

    devices = discover()
    for d in devices:
        print(f"{d.product_name}\tproduct id {d.product_id:#x}\tunique id {d.unique_id}")
    if not devices:
        print("gridedge: no MCC DAQ device on USB", file=sys.stderr)
        return 1
    return 0


def _add_meter(commands: Commands) -> None:
    from gridedge.meter import commands as meter_commands
    from gridedge.meter.faults import commands as fault_commands

    meter = commands.add_parser("meter", help="the meter daemon: self-configures from the catalog")
    meter_commands.add_meter_arguments(meter)
    meter.set_defaults(handler=_meter)
    algorithms = commands.add_parser("algorithms", help="sign and build algorithm packages")
    meter_commands.add_algorithms_arguments(algorithms)
    algorithms.set_defaults(handler=_algorithms)
    daq_devices = commands.add_parser(
        "daq-devices", help="list the MCC DAQ boards on USB (product and unique id)"
    )
    daq_devices.set_defaults(handler=_daq_devices)
    fault_commands.add_parser(commands)


def _catalog(args: argparse.Namespace) -> int:
    from gridedge.catalog import commands

    return commands.run(args, stream=sys.stdout)


def _add_catalog(commands: Commands) -> None:
    catalog = commands.add_parser("catalog", help="the Device Catalog service")
    actions = catalog.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="run the catalog under gunicorn")
    actions.add_parser("token", help="make an administrator token and its sha256")
    seed = actions.add_parser("seed", help="register a test case's grid and devices")
    seed.add_argument("--case", choices=["turin"], default="turin", help="the test case")
    for sub in (serve, seed):
        sub.add_argument("--config", help="TOML or JSON file with a [catalog] table")
    catalog.set_defaults(handler=_catalog)


def _reconfigure_plan(args: argparse.Namespace) -> int:
    from gridedge.services.reconfiguration.command import run

    return run(args, stream=sys.stdout)


def _simulator(args: argparse.Namespace) -> int:
    from gridedge.services.simulator.command import run

    return run(args, stream=sys.stdout)


def _reconfigure_serve(args: argparse.Namespace) -> int:
    from gridedge.services.reconfiguration.service import run

    return run(args)


def _add_simulator(commands: Commands) -> None:
    simulator = commands.add_parser(
        "simulator", help="the grid simulator service (Opal-RT stand-in): meters, switches"
    )
    actions = simulator.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="simulate a scenario in real time over MQTT")
    serve.add_argument(
        "--config", required=True, help="TOML or JSON file with [service] and [simulator] tables"
    )
    scenario = actions.add_parser("scenario", help="write a scenario file without events")
    scenario.add_argument("file", help="the scenario file")
    scenario.add_argument("--case", choices=CASE_NAMES, default="turin", help="the grid")
    scenario.add_argument("--seed", type=int, default=0, help="seed of the DAQ noise")
    fault = actions.add_parser("fault", help="add a fault to a running scenario")
    fault.add_argument("file", help="the scenario file")
    fault.add_argument("--line", required=True, help="the faulted line")
    fault.add_argument("--fraction", type=float, default=0.5, help="position from its from bus")
    fault.add_argument("--kind", default="a-g", help="a-g, b-c, b-c-g, a-b-c ...")
    fault.add_argument("--ohm", type=float, default=1.0, help="fault resistance")
    fault.add_argument("--after", type=float, default=0.5, help="seconds from now")
    simulator.set_defaults(handler=_simulator)


def _add_services(commands: Commands) -> None:
    _add_simulator(commands)
    reconfigure = commands.add_parser("reconfigure", help="network reconfiguration (FLISR)")
    actions = reconfigure.add_subparsers(dest="action", required=True)
    serve = actions.add_parser(
        "serve", help="restore supply after each located fault: plan, switch, post the topology"
    )
    serve.add_argument(
        "--config",
        required=True,
        help="TOML or JSON file with [service], [reconfigure] and [reconfiguration] tables",
    )
    serve.set_defaults(handler=_reconfigure_serve)
    plan = actions.add_parser("plan", help="isolation and restoration plan of one faulted line")
    where = plan.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--case",
        choices=CASE_NAMES,
        help="a ready-made grid (ieee33 with a remote switch on every section)",
    )
    where.add_argument("--file", help="a grid in the JSON format")
    faulted = plan.add_mutually_exclusive_group(required=True)
    faulted.add_argument("--line", help="the faulted line id")
    faulted.add_argument(
        "--located",
        nargs=3,
        metavar=("FROM_BUS", "TO_BUS", "DISTANCE_M"),
        help="the fault as a fault locator reports it",
    )
    plan.add_argument("--settings", help="TOML or JSON file with a [reconfiguration] table")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(handler=_reconfigure_plan)


def _bench_compare(args: argparse.Namespace) -> int:
    from gridedge.bench.compare import compare, format_comparison, plot_comparison
    from gridedge.bench.results import load_run

    baseline = None if args.baseline is None else load_run(args.baseline)
    comparison = compare(load_run(args.results), baseline, statistic=args.statistic)
    print(format_comparison(comparison))
    if args.plot is not None:
        plot_comparison(comparison, args.plot)
    return 0


def _bench_baseline(args: argparse.Namespace) -> int:
    from gridedge.bench.results import write_baseline

    print(write_baseline(args.results, args.destination))
    return 0


def _add_bench(commands: Commands) -> None:
    bench = commands.add_parser(
        "bench", help="benchmark results against a reference machine and the paper's figures"
    )
    actions = bench.add_subparsers(dest="bench_command", required=True, metavar="ACTION")
    compare = actions.add_parser(
        "compare", help="print this run against the baseline, the twins and the paper"
    )
    compare.add_argument("results", type=Path, help="pytest-benchmark JSON of this run")
    compare.add_argument("--baseline", type=Path, help="pytest-benchmark JSON of the reference")
    compare.add_argument(
        "--statistic", choices=["min", "median", "mean"], default="median", help="of the rounds"
    )
    compare.add_argument("--plot", type=Path, help="also draw a PNG here (needs matplotlib)")
    compare.set_defaults(handler=_bench_compare)
    baseline = actions.add_parser(
        "baseline", help="keep a results file as a baseline, without the per-round timings"
    )
    baseline.add_argument("results", type=Path, help="pytest-benchmark JSON")
    baseline.add_argument("destination", type=Path, help="file, or directory to name one in")
    baseline.set_defaults(handler=_bench_baseline)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``gridedge`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="gridedge", description="An open smart-meter runtime: one command for every component."
    )
    parser.add_argument("--version", action="version", version=f"gridedge {__version__}")
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_foundation,
        _add_grid,
        _add_estimation,
        _add_meter,
        _add_catalog,
        _add_services,
        _add_bench,
    ):
        add(commands)
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
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM for the demo): whatever was started has been stopped on the way.
        print("gridedge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``gridedge demo | head``): not an error of ours. Point stdout
        # at /dev/null so that the flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
