"""Error budget of fault location: which input dominates the distance error (docs/accuracy.md).

Run: ``.venv/bin/python benchmarks/fault_budget.py --case turin`` (and ``--case ieee33``).

Every fault of the campaign (same draw and noise as ``gridedge faults accuracy``) is measured
twice, through the 12-bit DAQ model and through an ideal one (24 bits, no noise), and also
taken as the simulator's steady-state phasors. Each row locates it from a mix: the ideal
measurements with one input replaced by its 12-bit version shows what that input alone
costs; the weights are always the 12-bit chain's (what the locator would be told).
"""

import argparse
import math
from dataclasses import dataclass, replace

import numpy as np

from gridedge.errors import GridedgeError
from gridedge.grid.daq import DaqSettings
from gridedge.meter.faults.accuracy import CASES, Campaign, _separation, draw, measure, simulate
from gridedge.meter.faults.feeder import FeederModel
from gridedge.meter.faults.location import locate
from gridedge.meter.phasor import PhasorEstimator

IDEAL = DaqSettings(bits=24, noise_lsb=0.0)


@dataclass
class Inputs:
    """What `locate` is given for one fault."""

    prefault: np.ndarray
    fault: np.ndarray
    voltages: dict
    uncertainty: np.ndarray
    voltage_uncertainty: dict


def frame_mean_sigma(campaign: Campaign, frames: int, gain: np.ndarray) -> np.ndarray:
    """Standard error (6,) of the mean of `frames` consecutive frames from the DAQ's noise.

    The frames' two-cycle Hann windows overlap by half, so their errors correlate.
    """
    estimator = PhasorEstimator(campaign.fs)
    kernel = np.abs(estimator._kernel)
    stride = estimator.stride
    total = np.zeros(kernel.size + stride * (frames - 1))
    for k in range(frames):
        total[k * stride : k * stride + kernel.size] += kernel
    daq = campaign.daq
    sample = np.abs(gain) * daq.lsb_v * math.sqrt(daq.noise_lsb**2 + 1 / 12)
    return sample * math.sqrt((total**2).sum()) / frames


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
    # Per fault: errors against the simulator, the frames' spread, the DAQ's noise (V or A).
    sets: dict[str, list[np.ndarray]] = {}
    faults = draw(case, grid, count, seed, noisy_campaign)
    for n, fault in enumerate(faults):
        feeder = feeders[fault.head]
        noisy = measure(grid, case, feeder, fault, noisy_campaign, seed * 100_003 + n)
        ideal = measure(grid, case, feeder, fault, ideal_campaign, seed * 100_003 + n)
        simulation = simulate(grid, fault, noisy_campaign, seed * 100_003 + n)
        head = feeder.head_meter.id
        t0, duration = noisy_campaign.inception_s, noisy_campaign.clearing_s
        true_before = simulation.phasors(head, t0 - 0.2)
        true_during = simulation.phasors(head, t0 + duration / 2)
        true_voltages = {
            m: np.abs(simulation.phasors(m, t0 + duration / 2)[:3]) for m in feeder.meters
        }
        measured = Inputs(
            noisy.event.prefault,
            noisy.event.fault,
            noisy.voltages,
            noisy.event.uncertainty,
            noisy.voltage_uncertainty,
        )
        clean = replace(
            measured,
            prefault=ideal.event.prefault,
            fault=ideal.event.fault,
            voltages=ideal.voltages,
        )

        def mixed(before_v, before_i, during_v, during_i, voltages, measured=measured):
            return replace(
                measured,
                prefault=np.concatenate([before_v.prefault[:3], before_i.prefault[3:]]),
                fault=np.concatenate([during_v.fault[:3], during_i.fault[3:]]),
                voltages=voltages,
            )

        gain = simulation.scalings[head].gain
        sigma_pre = frame_mean_sigma(noisy_campaign, noisy.event.prefault_frames, gain)
        sigma_fault = frame_mean_sigma(noisy_campaign, noisy.event.fault_frames, gain)
        daq_sigma = np.concatenate([sigma_fault[:3], np.hypot(sigma_pre[3:], sigma_fault[3:])])
        meter_sigma = {}
        for meter in feeder.meters:
            meter_gain = simulation.scalings[meter].gain
            meter_sigma[meter] = frame_mean_sigma(
                noisy_campaign, noisy.event.fault_frames, meter_gain
            )[:3] / math.sqrt(2)
        for key, error, spread, expected in (
            (
                "pre-fault V",
                noisy.event.prefault[:3] - true_before[:3],
                noisy.event.prefault_sigma[:3],
                sigma_pre[:3],
            ),
            (
                "pre-fault I",
                noisy.event.prefault[3:] - true_before[3:],
                noisy.event.prefault_sigma[3:],
                sigma_pre[3:],
            ),
            (
                "fault V",
                noisy.event.fault[:3] - true_during[:3],
                noisy.event.fault_sigma[:3],
                sigma_fault[:3],
            ),
            (
                "fault I",
                noisy.event.fault[3:] - true_during[3:],
                noisy.event.fault_sigma[3:],
                sigma_fault[3:],
            ),
            (
                "downstream |V|",
                np.concatenate([noisy.voltages[m] - true_voltages[m] for m in feeder.meters]),
                np.concatenate([noisy.voltage_uncertainty[m] for m in feeder.meters]),
                np.concatenate([meter_sigma[m] for m in feeder.meters]),
            ),
        ):
            sets.setdefault(key, []).append(np.stack([np.abs(error), spread, expected]))
        variants = {
            "as measured (12 bit)": measured,
            "ideal DAQ (24 bit, no noise), detector and frames as usual": clean,
            "simulator's steady-state phasors (the model alone)": replace(
                measured, prefault=true_before, fault=true_during, voltages=true_voltages
            ),
            "only the head's currents from the 12-bit DAQ": mixed(
                ideal.event, noisy.event, ideal.event, noisy.event, ideal.voltages
            ),
            "  only its pre-fault currents": mixed(
                ideal.event, noisy.event, ideal.event, ideal.event, ideal.voltages
            ),
            "  only its fault currents": mixed(
                ideal.event, ideal.event, ideal.event, noisy.event, ideal.voltages
            ),
            "only the head's voltages from the 12-bit DAQ": mixed(
                noisy.event, ideal.event, noisy.event, ideal.event, ideal.voltages
            ),
            "only the downstream magnitudes from the 12-bit DAQ": replace(
                clean, voltages=noisy.voltages
            ),
            "as measured, weights from the DAQ's noise (not the frames' spread)": replace(
                measured, uncertainty=daq_sigma, voltage_uncertainty=meter_sigma
            ),
            "as measured, without the downstream meters": replace(measured, voltages={}),
            "as measured, source short-circuit power 10 % low in the model": measured,
        }
        for label, inputs in variants.items():
            model = weak_feeders[fault.head] if "source" in label else feeder
            try:
                location = locate(
                    model,
                    inputs.prefault,
                    inputs.fault,
                    inputs.voltages,
                    uncertainty=inputs.uncertainty,
                    voltage_uncertainty=inputs.voltage_uncertainty,
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
        "| head set | error against the simulator | claimed standard error | from the DAQ's noise |"
    )
    print("|---|---|---|---|")
    for key, (error, spread, expected) in sets.items():
        rms = [math.sqrt(np.mean(np.square(v))) for v in (error, spread, expected)]
        print(f"| {key} | {rms[0]:.2f} | {rms[1]:.2f} | {rms[2]:.2f} |")


if __name__ == "__main__":
    main()
