"""The absolute time base shared by the simulator and the phasor estimator."""

import math


def cycle_phase(time_s: float, frequency_hz: float) -> float:
    """``frequency_hz * time_s`` modulo 1, without losing the fraction to a large time.

    POSIX times near 1.8e9 s times 50 Hz exceed 2**36: multiplying first would keep only a
    few fractional bits, so the whole seconds and the fraction are handled apart.
    """
    whole = math.floor(time_s)
    return (math.fmod(frequency_hz * whole, 1.0) + frequency_hz * (time_s - whole)) % 1.0
