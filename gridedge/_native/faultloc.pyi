"""Compiled impedance-based fault location; the contract is gridedge._twin.faultloc."""

import numpy as np
from numpy.typing import NDArray

class FeederKernel:
    def __init__(
        self,
        parent: NDArray[np.int64],
        series: NDArray[np.complex128],
        half_shunt: NDArray[np.complex128],
        side: NDArray[np.complex128],
        end: NDArray[np.complex128],
        from_end: NDArray[np.int64],
        to_end: NDArray[np.int64],
        end_impedance: NDArray[np.complex128],
        transfer: NDArray[np.complex128],
        head_transfer: NDArray[np.complex128],
        head_ratio: NDArray[np.complex128],
        samples: int,
        iterations: int,
    ) -> None: ...
    @property
    def sections(self) -> int: ...
    @property
    def meters(self) -> int: ...
    def locate(
        self,
        during: NDArray[np.complex128],
        prefault: NDArray[np.complex128],
        phases: int,
        earthed: bool,
        measured: NDArray[np.float64],
        weight: NDArray[np.float64],
        meter_prefault: NDArray[np.complex128],
        head_weight: NDArray[np.float64],
        current_weight: NDArray[np.float64],
        current_share: NDArray[np.float64],
        voltage_variance: float,
        voltage_share: float,
        source_weight: float,
        reactance_weight: float,
    ) -> tuple[
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.complex128],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
    ]: ...
