import numpy as np
from numpy.typing import NDArray

def frames(
    head: NDArray[np.float64],
    chunk: NDArray[np.float64],
    first_start: int,
    n_frames: int,
    stride: int,
    half_span: int,
    kernel: NDArray[np.complex128],
    cycle_phase: float,
    base_index: int,
    samples_per_cycle: int,
    gains: NDArray[np.float64],
    fs: float,
    f0: float,
    max_deviation: float,
    min_voltage: float,
    phasor: NDArray[np.complex128],
    frequency: NDArray[np.float64],
    rocof: NDArray[np.float64],
    valid: NDArray[np.uint8],
) -> None: ...
