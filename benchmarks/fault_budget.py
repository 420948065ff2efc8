"""Error budget of fault location: which input dominates the distance error (docs/accuracy.md).

Run: ``.venv/bin/python benchmarks/fault_budget.py --case turin`` (and ``--case ieee33``).

Every fault of the campaign (same draw and noise as ``gridedge faults accuracy``) is measured
twice, through the 12-bit DAQ model and through an ideal one (24 bits, no noise), and also
taken as the simulator's steady-state phasors. Each row locates it from a mix: the ideal
measurements with one input replaced by its 12-bit version shows what that input alone
costs; the weights are always the 12-bit chain's (what the locator would be told). A second
table compares the head's phasor sets with the simulator's.
"""

import argparse
import math
from dataclasses import dataclass, replace

import numpy as np

from gridedge.errors import GridedgeError
from gridedge.grid.daq import DaqSettings
from gridedge.meter.faults.accuracy import (
    CASES,
    Campaign,
    Measured,
    _separation,
    draw,
    measure,
    simulate,
)
from gridedge.meter.faults.feeder import FeederModel
from gridedge.meter.faults.location import locate

IDEAL = DaqSettings(bits=24, noise_lsb=0.0)


@dataclass
class Inputs:
    """What `locate` is given for one fault."""

    prefault: np.ndarray
    fault: np.ndarray
    voltages: dict
    prefault_voltages: dict
    uncertainty: np.ndarray
    voltage_uncertainty: dict

    @classmethod
    def of(cls, measured: Measured) -> "Inputs":
        return cls(
            measured.phasors.prefault,
            measured.phasors.fault,
            measured.voltages,
            measured.prefault_voltages,
            measured.phasors.uncertainty,
            measured.voltage_uncertainty,
        )

    def mixed(self, voltage: "Inputs", current: "Inputs", which: str) -> "Inputs":
        """These inputs with the head's voltages and currents of `which` set(s) replaced."""
        prefault, fault = self.prefault.copy(), self.fault.copy()
        if which in ("both", "prefault"):
            prefault = np.concatenate([voltage.prefault[:3], current.prefault[3:]])
        if which in ("both", "fault"):
            fault = np.concatenate([voltage.fault[:3], current.fault[3:]])
        return replace(self, prefault=prefault, fault=fault)


def variants(noisy: Inputs, ideal: Inputs, truth: Inputs, frames: Inputs) -> dict[str, Inputs]:
    """The mixes located, by label."""
    clean = replace(noisy, prefault=ideal.prefault, fault=ideal.fault, voltages=ideal.voltages)
    clean = replace(clean, prefault_voltages=ideal.prefault_voltages)
    return {
        "as measured (12 bit)": noisy,
        "ideal DAQ (24 bit, no noise), the same chain": clean,
        "simulator's steady-state phasors (the model alone)": replace(
            noisy,
            prefault=truth.prefault,
            fault=truth.fault,
            voltages=truth.voltages,
            prefault_voltages=truth.prefault_voltages,
        ),
        "only the head's currents from the 12-bit DAQ": clean.mixed(ideal, noisy, "both"),
        "  only its pre-fault currents": clean.mixed(ideal, noisy, "prefault"),
        "  only its fault currents": clean.mixed(ideal, noisy, "fault"),
        "only the head's voltages from the 12-bit DAQ": clean.mixed(noisy, ideal, "both"),
        "only the downstream magnitudes from the 12-bit DAQ": replace(
            clean, voltages=noisy.voltages, prefault_voltages=noisy.prefault_voltages
        ),
        "as measured, the detector's frame sets for the head's phasors": frames,
        "as measured, without the downstream meters": replace(noisy, voltages={}),
        "as measured, source short-circuit power 10 % low in the model": noisy,
    }


def rows(
    name: str, count: int, seed: int
) -> tuple[list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
    case = CASES[name]
    grid = case.build()
    noisy_campaign, ideal_campaign = Campaign(), Campaign(daq=IDEAL)
    feeders = {head: FeederModel(grid, head) for head in case.heads}
    # The same feeders modelled with the source's short-circuit power 10 % low.
    weak = grid.with_elements(sources=[replace(s, sk_mva=0.9 * s.sk_mva) for s in grid.sources])
    weak_feeders = {head: FeederModel(weak, head) for head in case.heads}
    results: dict[str, tuple[list[float], list[bool]]] = {}
    # Per fault: |error| against the simulator and the claimed standard error (V or A).
    sets: dict[str, list[np.ndarray]] = {}
    faults = draw(case, grid, count, seed, noisy_campaign)
    for n, fault in enumerate(faults):
        feeder = feeders[fault.head]
        noisy = measure(grid, case, feeder, fault, noisy_campaign, seed * 100_003 + n)
        ideal = measure(grid, case, feeder, fault, ideal_campaign, seed * 100_003 + n)
        simulation = simulate(grid, fault, noisy_campaign, seed * 100_003 + n)
        head, time = feeder.head_meter.id, noisy.phasors.time
        before = noisy_campaign.inception_s - 0.2
        true_before = simulation.phasors(head, before)
        true_during = simulation.phasors(head, time)
        true_voltages = {m: np.abs(simulation.phasors(m, time)[:3]) for m in feeder.meters}
        true_normal = {
            m: float(abs(simulation.phasors(m, before)[:3] @ np.exp(2j * np.pi * np.arange(3) / 3)))
            / 3
            for m in feeder.meters
        }
        measured = Inputs.of(noisy)
        truth = Inputs(
            true_before, true_during, true_voltages, true_normal, measured.uncertainty, {}
        )
        event = noisy.event
        frames = replace(
            measured, prefault=event.prefault, fault=event.fault, uncertainty=event.uncertainty
        )
        phasors = noisy.phasors
        for key, whole, claimed, framed, spread in (
            (
                "pre-fault V",
                phasors.prefault[:3],
                phasors.prefault_sigma[:3],
                event.prefault[:3],
                event.prefault_sigma[:3],
            ),
            (
                "pre-fault I",
                phasors.prefault[3:],
                phasors.prefault_sigma[3:],
                event.prefault[3:],
                event.prefault_sigma[3:],
            ),
            (
                "fault V",
                phasors.fault[:3],
                phasors.fault_sigma[:3],
                event.fault[:3],
                event.fault_sigma[:3],
            ),
            (
                "fault I",
                phasors.fault[3:],
                phasors.fault_sigma[3:],
                event.fault[3:],
                event.fault_sigma[3:],
            ),
        ):
            true = true_before if key.startswith("pre") else true_during
            true = true[:3] if key.endswith("V") else true[3:]
            sets.setdefault(key, []).append(
                np.stack([np.abs(whole - true), claimed, np.abs(framed - true), spread])
            )
        sets.setdefault("downstream |V|", []).append(
            np.stack(
                [
                    np.concatenate(
                        [np.abs(noisy.voltages[m] - true_voltages[m]) for m in feeder.meters]
                    ),
                    np.concatenate([noisy.voltage_uncertainty[m] for m in feeder.meters]),
                ]
            )
        )
        for label, inputs in variants(measured, Inputs.of(ideal), truth, frames).items():
            model = weak_feeders[fault.head] if "source" in label else feeder
            try:
                location = locate(
                    model,
                    inputs.prefault,
                    inputs.fault,
                    inputs.voltages,
                    uncertainty=inputs.uncertainty,
                    voltage_uncertainty=inputs.voltage_uncertainty,
                    prefault_voltages=inputs.prefault_voltages,
                )
                error, right = _separation(feeder, fault, location), location.line == fault.line
            except GridedgeError:
                error, right = math.inf, False
            errors, pairs = results.setdefault(label, ([], []))
            errors.append(error)
            pairs.append(right)
    low = np.array([f.resistance_ohm <= 10 for f in faults])
    table = [(label, np.array(e), np.array(p), low) for label, (e, p) in results.items()]
    return table, {key: np.concatenate(v, axis=1) for key, v in sets.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), default="turin")
    parser.add_argument("--faults", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"case {args.case}, {args.faults} faults (seed {args.seed})\n")
    print("| inputs | p50 / p95 (m), all | p95 (m), Rf <= 10 ohm | wrong pairs |")
    print("|---|---|---|---|")
    table, sets = rows(args.case, args.faults, args.seed)
    for label, errors, pairs, low in table:
        p50, p95 = np.percentile(errors, [50, 95])
        print(
            f"| {label} | {p50:.1f} / {p95:.1f} | {np.percentile(errors[low], 95):.1f} "
            f"| {int((~pairs).sum())} |"
        )
    print("\nRMS over every fault and channel, V or A:\n")
    print(
        "| set | whole interval: error | its standard error | detector's frames: error "
        "| their spread |"
    )
    print("|---|---|---|---|---|")
    for key, columns in sets.items():
        rms = [f"{math.sqrt(np.mean(np.square(c))):.2f}" for c in columns]
        rms += ["-"] * (4 - len(rms))
        print(f"| {key} | {' | '.join(rms)} |")


if __name__ == "__main__":
    main()
