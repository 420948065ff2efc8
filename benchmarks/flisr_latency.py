"""End-to-end FLISR latency of the distributed system, over several faults.

Runs the distributed demo (``gridedge.services.demo.distributed.run``: two Mosquitto brokers,
the catalog under gunicorn, the meter daemons M1 and M2, the simulator and reconfiguration
services, all on loopback) once per fault, each on a freshly started system, and prints the
latency of each step from the fault's inception - detection and location at M1, the plan,
the last switch operation acknowledged, the new topology in the catalog, the settings pushed
and running on the hardware meters - as a Markdown table of min / median / max, with one JSON
line per run before it.

Run: ``.venv/bin/python benchmarks/flisr_latency.py --runs 2`` (see docs/performance.md).
"""

import argparse
import io
import json
import statistics

from gridedge.services.demo.distributed import DemoFault, run

STEPS = (
    ("trip", "protection opens the feeder breaker"),
    ("detected", "fault event published by M1"),
    ("located", "fault located by M1"),
    ("planned", "plan published"),
    ("last_switch", "last switch operation acknowledged"),
    ("topology", "new topology version in the catalog"),
    ("pushed", "last settings push sent"),
    ("applied", "new settings running on M1 and M2"),
)

FAULTS = (
    DemoFault("F1-02", "a-g", 0.3, 1.0),
    DemoFault("F1-03", "b-c", 0.6, 0.5),
    DemoFault("F1-04", "a-g", 0.4, 2.0),
    DemoFault("F1-05", "a-b-c", 0.5, 0.1),
    DemoFault("F1-06", "b-c-g", 0.2, 1.0),
)


def main() -> None:
    """Run the faults and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs of each fault")
    args = parser.parse_args()
    seen: dict[str, list[float]] = {name: [] for name, _ in STEPS}
    for _ in range(args.runs):
        for fault in FAULTS:
            outcome = run(io.StringIO(), fault)
            print(json.dumps({"fault": fault.line, "kind": fault.kind, **outcome.latencies}))
            for name, values in seen.items():
                if name in outcome.latencies:
                    values.append(outcome.latencies[name])
    print("\n| step (from the inception) | min | median | max | runs |")
    print("|---|---|---|---|---|")
    for name, label in STEPS:
        values = seen[name]
        if values:
            print(
                f"| {label} | {min(values):.3f} s | {statistics.median(values):.3f} s | "
                f"{max(values):.3f} s | {len(values)} |"
            )


if __name__ == "__main__":
    main()
