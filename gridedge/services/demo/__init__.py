"""``gridedge demo`` (``make demo``): the paper's system end to end.

With Mosquitto installed, :mod:`.distributed` starts the whole distributed system on loopback
and walks a fault through FLISR; without it (or with ``--local``), :mod:`.local` runs the same
chain in one process.
"""

import argparse
import json
import signal
from typing import TextIO

from gridedge.services.brokers import mosquitto_program


def run(args: argparse.Namespace, stream: TextIO) -> int:
    """Run the demo the arguments ask for; return the exit status."""
    if args.local or mosquitto_program() is None:
        from gridedge.services.demo import local

        if not args.local:
            print(
                "mosquitto is not installed (Debian: apt-get install mosquitto), so the "
                "distributed system cannot start: running the whole chain in one process "
                "instead.\n",
                file=stream,
            )
        local.run(fs=args.fs, reporting_rate=args.rate, stream=stream)
        return 0
    from gridedge.services.demo import distributed

    # SIGTERM as Ctrl-C: the demo stops everything it started either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    fault = distributed.DemoFault(args.line, args.kind, args.fraction, args.ohm)
    outcome = distributed.run(stream, fault, keep=args.keep)
    if args.json is not None:
        args.json.write_text(
            json.dumps({"latencies_s": outcome.latencies, "ready_s": outcome.ready_s}, indent=2)
        )
    return 0 if "last_switch" in outcome.latencies else 1
