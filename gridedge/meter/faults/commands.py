"""The ``gridedge faults`` subcommands.

The campaign's modules (the simulator, the solvers, scipy) are imported when the subcommand
runs, not when the ``gridedge`` command builds its parser: ``gridedge meter`` must not carry
them.
"""

import argparse
import sys
import time

CASES = ("cigre_mv", "ieee33", "ieee33-dense", "turin")
"""The networks of :data:`gridedge.meter.faults.accuracy.CASES` (a test keeps them equal)."""


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``faults accuracy`` to the ``gridedge`` command's subcommands."""
    faults = commands.add_parser("faults", help="fault detection and location")
    actions = faults.add_subparsers(dest="action", required=True, metavar="ACTION")
    accuracy = actions.add_parser(
        "accuracy",
        help="random faults through the simulator, DAQ model, phasor kernel, detector and "
        "locator; print the accuracy table",
    )
    accuracy.add_argument("--case", choices=CASES, default="turin")
    accuracy.add_argument("--faults", type=int, default=200, help="number of faults")
    accuracy.add_argument("--seed", type=int, default=1, help="seed of the draw and the noise")
    accuracy.add_argument("--fs", type=float, default=3200.0, help="DAQ sampling rate, Hz")
    accuracy.add_argument("--clearing", type=float, default=0.2, help="fault duration, s")
    accuracy.add_argument("--bits", type=int, default=12, help="DAQ resolution")
    accuracy.add_argument("--noise-lsb", type=float, default=1.0, help="DAQ input noise, LSB rms")
    accuracy.set_defaults(handler=run_accuracy)


def run_accuracy(args: argparse.Namespace) -> int:
    """Run an accuracy campaign and print its table (markdown)."""
    from gridedge.grid.daq import DaqSettings
    from gridedge.meter.faults.accuracy import KINDS, Campaign, run, summary

    daq = DaqSettings(bits=args.bits, noise_lsb=args.noise_lsb)
    campaign = Campaign(fs=args.fs, clearing_s=args.clearing, daq=daq)
    started = time.perf_counter()
    outcomes = run(args.case, args.faults, args.seed, campaign)
    elapsed = time.perf_counter() - started
    out = sys.stdout
    out.write(
        f"case {args.case}: {args.faults} faults (seed {args.seed}), kinds {', '.join(KINDS)} in "
        f"turn, Rf 0-{campaign.max_resistance_ohm:g} ohm, {daq.bits}-bit DAQ "
        f"({daq.noise_lsb:g} LSB noise) at {campaign.fs:g} Hz, cleared after "
        f"{campaign.clearing_s:g} s\n\n"
    )
    out.write(summary(outcomes) + "\n\n")
    failures = [o for o in outcomes if o.location is None]
    for outcome in failures:
        out.write(f"no location: {outcome.fault} ({outcome.failure})\n")
    wrong = [o for o in outcomes if o.location is not None and not o.correct_pair]
    for outcome in wrong:
        found = outcome.location
        out.write(
            f"wrong pair: {outcome.fault} -> {found.from_bus}-{found.to_bus} at "
            f"{found.distance_m:.1f} m, error {outcome.error_m:.1f} m, "
            f"ambiguous {found.ambiguous}\n"
        )
    out.write(f"\n{elapsed:.1f} s\n")
    return 0
