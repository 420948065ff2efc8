"""The main job, as far as the project goes today: a fault on the Turin grid seen by its meters.

The grid simulator (the Opal-RT stand-in) puts a phase-a-to-ground fault on line F1-04 of the
Turin case at t = 100 ms. Each of the 14 meters samples its six channels through its sensors
and a 12-bit DAQ; the phasor estimator turns the feeder-head meter M1's raw samples, fed in
10 ms DAQ blocks, back into phasors, frequency and power (the first table), and the voltage
sag every meter sees (the second table) is what fault location works from.
"""

from typing import TextIO

import numpy as np

from gridedge.grid import cases
from gridedge.grid.waveform import FaultInception, Simulation, WaveformSettings
from gridedge.meter.phasor import Frames, PhasorEstimator

FAULT = FaultInception(time_s=0.1, location="F1-04", kind="a-g", fraction=0.4, resistance_ohm=2.0)
DURATION_S = 0.3
HEAD_METER = "M1"


def _estimate(simulation: Simulation, meter_id: str, fs: float, rate: float) -> Frames:
    stream = simulation.source(meter_id)
    estimator = PhasorEstimator(fs, simulation.f0, rate, scaling=stream.scaling)
    block = round(fs / 100)
    blocks = []
    while True:
        first, samples = stream.read(block)
        if not len(samples):
            return Frames.concatenate(blocks)
        blocks.append(estimator.push(samples, first))


def run(fs: float = 6400.0, reporting_rate: float = 50.0, stream: TextIO | None = None) -> Frames:
    """Simulate, estimate and print both tables; return the head meter's frames."""
    grid = cases.turin()
    simulation = Simulation(grid, [FAULT], WaveformSettings(fs=fs, duration_s=DURATION_S))
    frames = {m: _estimate(simulation, m, fs, reporting_rate) for m in simulation.meter_ids}
    head = frames[HEAD_METER]
    print(
        f"Turin case, {FAULT.kind} fault on {FAULT.location} at {FAULT.fraction:.0%} through "
        f"{FAULT.resistance_ohm:g} ohm, t = {1000 * FAULT.time_s:g} ms; fs = {fs:g} Hz, 12-bit DAQ",
        file=stream,
    )
    print(f"\nFeeder-head meter {HEAD_METER}:", file=stream)
    print(
        f"{'t (ms)':>7} {'|Va| kV':>8} {'|Vb| kV':>8} {'|Vc| kV':>8} {'|Ia| A':>8} {'|Ib| A':>8} "
        f"{'|Ic| A':>8} {'f (Hz)':>8} {'ROCOF':>7} {'P (MW)':>7} {'Q (Mvar)':>8} ok",
        file=stream,
    )
    voltage = np.abs(head.voltage) / 1e3
    current = np.abs(head.current)
    power = head.total_active_power / 1e6
    reactive = head.total_reactive_power / 1e6
    for i in range(len(head)):
        print(
            f"{1000 * head.time[i]:7.0f} {voltage[i, 0]:8.3f} {voltage[i, 1]:8.3f} "
            f"{voltage[i, 2]:8.3f} {current[i, 0]:8.1f} {current[i, 1]:8.1f} {current[i, 2]:8.1f} "
            f"{head.frequency[i]:8.3f} {head.rocof[i]:7.2f} {power[i]:7.3f} {reactive[i]:8.3f} "
            f"{'yes' if head.valid[i] else 'no'}",
            file=stream,
        )
    print("\nPhase-a voltage at every meter, before and during the fault:", file=stream)
    print(f"{'meter':>6} {'bus':>7} {'before':>9} {'during':>9} {'sag':>6}", file=stream)
    for meter in grid.meters:
        seen = frames[meter.id]
        before = np.abs(seen.voltage[seen.time < FAULT.time_s - 0.03, 0]).mean()
        during = np.abs(seen.voltage[seen.time > FAULT.time_s + 0.05, 0]).mean()
        print(
            f"{meter.id:>6} {meter.bus:>7} {before:9.1f} {during:9.1f} {1 - during / before:6.1%}",
            file=stream,
        )
    return head
