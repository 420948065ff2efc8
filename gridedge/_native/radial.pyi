import numpy as np
from numpy.typing import NDArray

def sweep(
    edge_a: NDArray[np.int64],
    edge_b: NDArray[np.int64],
    coefficients: NDArray[np.complex128],
    slack: NDArray[np.int64],
    slack_voltage: NDArray[np.complex128],
    load: NDArray[np.complex128],
    tolerance: float,
    max_iterations: int,
) -> tuple[NDArray[np.complex128], int, str]: ...
def components(
    n_vertices: int, edge_a: NDArray[np.int64], edge_b: NDArray[np.int64]
) -> NDArray[np.int64]: ...
