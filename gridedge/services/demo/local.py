"""The whole FLISR chain in one process, without a network: ``gridedge demo --local``.

What ``gridedge demo`` runs when Mosquitto is not installed (and on request). The grid
simulator (the Opal-RT stand-in) puts a phase-a-to-ground fault on line F1-04 of the Turin
case; the feeder protection opens the feeder breaker 300 ms later. Each of the 14 meters
samples its six channels through its sensors and a 12-bit DAQ, and the phasor estimator turns
the samples, fed in 10 ms DAQ blocks, into phasor frames. Then, as on the meters and the
services of the distributed system but in-process:

1. the feeder-head meter M1's fault detector declares the fault (first table: M1's frames
   around it), and M1 fits its pre-fault and fault phasors over the stable intervals of its
   samples;
2. the downstream meters fit their voltage magnitudes (second table: their sags) over the
   same intervals of their own samples;
3. the locator finds the bus pair and the distance from both;
4. the planner computes isolation and restoration, and the tripped breaker is closed again
   after isolation.
"""

from typing import TextIO

import numpy as np
from numpy.typing import NDArray

from gridedge.grid import Grid, cases
from gridedge.grid import topology as grid_topology
from gridedge.grid.waveform import FaultInception, Simulation, SwitchOperation, WaveformSettings
from gridedge.meter.faults.detection import FaultDetector
from gridedge.meter.faults.feeder import FeederModel
from gridedge.meter.faults.interval import estimate, voltage_report
from gridedge.meter.faults.location import locate_reported
from gridedge.meter.phasor import Frames, PhasorEstimator
from gridedge.services.reconfiguration.planner import Restorer
from gridedge.services.reconfiguration.service import with_reclosing
from gridedge.services.simulator.protection import feeder_breaker

FAULT = FaultInception(time_s=0.6, location="F1-04", kind="a-g", fraction=0.4, resistance_ohm=2.0)
PROTECTION_DELAY_S = 0.3
DURATION_S = 1.2
HEAD_METER = "M1"
SHOWN_S = (-0.06, 0.18)
"""Frames of the head meter shown, relative to the inception, s."""


def _estimate(
    simulation: Simulation, meter_id: str, fs: float, rate: float
) -> tuple[Frames, NDArray[np.float64]]:
    """A meter's frames, and its samples in primary units (from time 0)."""
    stream = simulation.source(meter_id)
    estimator = PhasorEstimator(fs, simulation.f0, rate, scaling=stream.scaling)
    block = round(fs / 100)
    blocks, samples = [], []
    while True:
        first, raw = stream.read(block)
        if not len(raw):
            return Frames.concatenate(blocks), np.concatenate(samples)
        blocks.append(estimator.push(raw, first))
        samples.append(stream.scaling.to_primary(raw))


def run(fs: float = 6400.0, reporting_rate: float = 50.0, stream: TextIO | None = None) -> Frames:
    """Simulate, detect, locate and plan; print it all; return the head meter's frames.

    Parameters
    ----------
    fs : float
        Sampling rate of every meter's DAQ, Hz.
    reporting_rate : float
        Phasor frames per second.
    stream : text stream, optional
        Where the tables and the plan go (standard output by default).

    Raises
    ------
    ConfigurationError
        `fs` or `reporting_rate` does not suit the phasor estimator.
    """
    grid = cases.turin()
    breaker = feeder_breaker(grid, grid.switch_states(), FAULT.location)
    events = [FAULT]
    if breaker is not None:
        events.append(SwitchOperation(FAULT.time_s + PROTECTION_DELAY_S, breaker, False))
    simulation = Simulation(grid, events, WaveformSettings(fs=fs, duration_s=DURATION_S))
    measured = {m: _estimate(simulation, m, fs, reporting_rate) for m in simulation.meter_ids}
    frames = {m: seen[0] for m, seen in measured.items()}
    samples = {m: seen[1] for m, seen in measured.items()}
    head = frames[HEAD_METER]
    line = grid.line(FAULT.location)
    print(
        f"Turin case, {FAULT.kind} fault on {FAULT.location} ({line.from_bus}-{line.to_bus}) at "
        f"{FAULT.fraction:.0%} through {FAULT.resistance_ohm:g} ohm, t = "
        f"{1000 * FAULT.time_s:g} ms; protection opens {breaker} "
        f"{1000 * PROTECTION_DELAY_S:g} ms later; fs = {fs:g} Hz, 12-bit DAQ",
        file=stream,
    )
    _print_head(head, stream)
    _print_sags(grid, frames, stream)
    _detect_locate_plan(
        grid,
        frames,
        samples,
        breaker,
        PhasorEstimator(fs, grid.frequency_hz, reporting_rate),
        stream,
    )
    return head


def _print_head(head: Frames, stream: TextIO | None) -> None:
    print(f"\nFeeder-head meter {HEAD_METER} around the fault:", file=stream)
    print(
        f"{'t (ms)':>7} {'|Va| kV':>8} {'|Vb| kV':>8} {'|Vc| kV':>8} {'|Ia| A':>8} {'|Ib| A':>8} "
        f"{'|Ic| A':>8} {'f (Hz)':>8} {'ROCOF':>7} {'P (MW)':>7} {'Q (Mvar)':>8} ok",
        file=stream,
    )
    voltage = np.abs(head.voltage) / 1e3
    current = np.abs(head.current)
    power = head.total_active_power / 1e6
    reactive = head.total_reactive_power / 1e6
    relative = head.time - FAULT.time_s
    for i in np.flatnonzero((relative >= SHOWN_S[0]) & (relative <= SHOWN_S[1])):
        print(
            f"{1000 * head.time[i]:7.0f} {voltage[i, 0]:8.3f} {voltage[i, 1]:8.3f} "
            f"{voltage[i, 2]:8.3f} {current[i, 0]:8.1f} {current[i, 1]:8.1f} {current[i, 2]:8.1f} "
            f"{head.frequency[i]:8.3f} {head.rocof[i]:7.2f} {power[i]:7.3f} {reactive[i]:8.3f} "
            f"{'yes' if head.valid[i] else 'no'}",
            file=stream,
        )


def _print_sags(grid: Grid, frames: dict[str, Frames], stream: TextIO | None) -> None:
    print("\nPhase-a voltage at every meter, before and during the fault:", file=stream)
    print(f"{'meter':>6} {'bus':>7} {'before':>9} {'during':>9} {'sag':>6}", file=stream)
    for meter in grid.meters:
        seen = frames[meter.id]
        before = np.abs(seen.voltage[seen.time < FAULT.time_s - 0.03, 0]).mean()
        during_rows = (seen.time > FAULT.time_s + 0.05) & (
            seen.time < FAULT.time_s + PROTECTION_DELAY_S - 0.03
        )
        during = np.abs(seen.voltage[during_rows, 0]).mean()
        print(
            f"{meter.id:>6} {meter.bus:>7} {before:9.1f} {during:9.1f} {1 - during / before:6.1%}",
            file=stream,
        )


def _detect_locate_plan(
    grid: Grid,
    frames: dict[str, Frames],
    samples: dict[str, NDArray[np.float64]],
    breaker: str | None,
    estimator: PhasorEstimator,
    stream: TextIO | None,
) -> None:
    # The detector's window timing must be that of the estimator that made the frames.
    detector = FaultDetector.for_meter(grid, HEAD_METER, estimator)
    events = detector.push(frames[HEAD_METER])
    if not events:
        print("\nNo fault detected at the head meter.", file=stream)
        return
    event = events[0]
    print(
        f"\nDetection at {HEAD_METER}: {event.kind} fault, inception before "
        f"{1000 * event.inception_time:.0f} ms, confirmed at {1000 * event.detection_time:.0f} ms "
        f"({event.prefault_frames} pre-fault and {event.fault_frames} fault frames)",
        file=stream,
    )
    fs = estimator.fs
    phasors = estimate(samples[HEAD_METER], 0.0, fs, None, event.inception_time)
    region = grid_topology.of(grid).meter_region(HEAD_METER)
    downstream = [m.id for m in grid.meters if m.bus in region and m.id != HEAD_METER]
    reports = {m: voltage_report(samples[m], 0.0, fs, None, phasors.intervals) for m in downstream}
    found = locate_reported(FeederModel(grid, HEAD_METER), phasors, reports, kind=event.kind)
    truth = FAULT.fraction * grid.line(FAULT.location).length_km * 1e3
    fitted_ms = 1000 * (phasors.fault_interval[1] - phasors.fault_interval[0])
    print(
        f"Location ({HEAD_METER}'s phasors over {fitted_ms:.0f} ms of the fault and the "
        f"voltage magnitudes of "
        f"{len(found.meters_used)} downstream meters): line {found.line}, "
        f"{found.from_bus}-{found.to_bus}, {found.distance_m:.0f} m from {found.from_bus} "
        f"(truth {truth:.0f} m, error {found.distance_m - truth:+.0f} m), "
        f"{found.resistance_ohm:.1f} ohm{', ambiguous' if found.ambiguous else ''}",
        file=stream,
    )
    plan = Restorer(grid).plan((found.from_bus, found.to_bus, found.distance_m))
    steps = with_reclosing(plan, [breaker] if breaker else [])
    print("Restoration plan (the protection-opened breaker recloses after isolation):", file=stream)
    for number, step in enumerate(steps, start=1):
        print(f"  {number}. {step.action:<5} {step.switch:<14} {step.detail}", file=stream)
    print(
        f"  restores {plan.state.restored_kw:.1f} kW, {plan.state.unserved_kw:.1f} kW unserved "
        f"(the faulted section); voltages {plan.state.min_voltage_pu:.4f} to "
        f"{plan.state.max_voltage_pu:.4f} p.u.",
        file=stream,
    )
