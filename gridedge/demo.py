"""The main job, as far as the project goes today: a simulated fault seen by a feeder-head meter.

A 22 kV feeder head carries a 4.6 MW load; at t = 100 ms a phase-a-to-ground fault draws
2 kA with a decaying DC offset and sags phase a to 30 %. The waveforms pass through the
meter's sensors and a 12-bit DAQ (0-10 V) at `fs`, and the phasor estimator turns the raw
counts back into phasors, frequency and power, printed as a table.
"""

from typing import TextIO

import numpy as np

from gridedge.channels import ChannelScaling
from gridedge.meter.phasor import Frames, PhasorEstimator

PHASE_VOLTAGE = 22e3 / np.sqrt(3)
LOAD_CURRENT = 120.0
FAULT_CURRENT = 2000.0
FAULT_TIME = 0.1
DAQ_BITS = 12
DAQ_RANGE = 10.0


def simulate(fs: float, duration: float, seed: int = 0) -> tuple[np.ndarray, ChannelScaling]:
    """Raw DAQ counts of the six channels, shape (n, 6) uint16, and their scaling."""
    t = np.arange(round(duration * fs)) / fs
    w = 2 * np.pi * 50.0
    shift = np.array([0.0, -2 * np.pi / 3, 2 * np.pi / 3])
    faulted = t >= FAULT_TIME
    sag = np.where(faulted, 0.3, 1.0)
    voltage = np.sqrt(2) * PHASE_VOLTAGE * np.cos(w * t[:, None] + shift)
    voltage[:, 0] *= sag
    current = np.sqrt(2) * LOAD_CURRENT * np.cos(w * t[:, None] + shift - np.arccos(0.95))
    # Fault current lagging 75 degrees, with the DC offset that decays with the source X/R.
    angle = np.radians(75.0)
    tau = np.tan(angle) / w
    since = np.clip(t - FAULT_TIME, 0.0, None)
    at_inception = np.cos(w * FAULT_TIME - angle)
    fault = (
        np.sqrt(2) * FAULT_CURRENT * (np.cos(w * t - angle) - at_inception * np.exp(-since / tau))
    )
    current[:, 0] += np.where(faulted, fault, 0.0)
    primary = np.hstack([voltage, current])
    # Sensors map +-1.5x the largest peak onto the DAQ's 0-10 V; counts are 12-bit.
    peak = np.array([1.5 * np.sqrt(2) * PHASE_VOLTAGE] * 3 + [1.5 * np.sqrt(2) * 2.5e3] * 3)
    counts_per_volt = (2**DAQ_BITS - 1) / DAQ_RANGE
    gain = 2 * peak / DAQ_RANGE / counts_per_volt
    scaling = ChannelScaling(gain=gain, offset=-peak)
    noise = np.random.default_rng(seed).normal(0.0, 0.5, primary.shape)
    counts = np.clip(np.rint(scaling.to_raw(primary) + noise), 0, 2**DAQ_BITS - 1)
    return counts.astype(np.uint16), scaling


def run(fs: float = 6400.0, reporting_rate: float = 50.0, stream: TextIO | None = None) -> Frames:
    """Simulate, estimate and print the table; return the frames."""
    counts, scaling = simulate(fs, 0.3)
    estimator = PhasorEstimator(fs, 50.0, reporting_rate, scaling=scaling)
    # Feed it as a DAQ would, in blocks of 10 ms.
    block = round(fs / 100)
    frames = Frames.concatenate(
        [estimator.push(counts[i : i + block]) for i in range(0, len(counts), block)]
    )
    print(
        f"Feeder-head meter, 22 kV, fs = {fs:g} Hz, 12-bit DAQ, a-g fault at "
        f"{1000 * FAULT_TIME:g} ms",
        file=stream,
    )
    header = (
        f"{'t (ms)':>7} {'|Va| kV':>8} {'|Vb| kV':>8} {'|Vc| kV':>8} {'|Ia| A':>8} {'|Ib| A':>8} "
        f"{'|Ic| A':>8} {'f (Hz)':>8} {'ROCOF':>7} {'P (MW)':>7} {'Q (Mvar)':>8} ok"
    )
    print(header, file=stream)
    voltage = np.abs(frames.voltage) / 1e3
    current = np.abs(frames.current)
    power = frames.total_active_power / 1e6
    reactive = frames.total_reactive_power / 1e6
    for i in range(len(frames)):
        print(
            f"{1000 * frames.time[i]:7.0f} {voltage[i, 0]:8.3f} {voltage[i, 1]:8.3f} "
            f"{voltage[i, 2]:8.3f} {current[i, 0]:8.1f} {current[i, 1]:8.1f} {current[i, 2]:8.1f} "
            f"{frames.frequency[i]:8.3f} {frames.rocof[i]:7.2f} "
            f"{power[i]:7.3f} {reactive[i]:8.3f} "
            f"{'yes' if frames.valid[i] else 'no'}",
            file=stream,
        )
    return frames
