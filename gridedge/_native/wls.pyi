import numpy as np
from numpy.typing import ArrayLike, NDArray

class Solver:
    def __init__(
        self,
        n_node: int,
        y_ptr: ArrayLike,
        y_idx: ArrayLike,
        y_val: ArrayLike,
        from_node: ArrayLike,
        to_node: ArrayLike,
        two_port: ArrayLike,
        fixed_angle: ArrayLike,
        kind: ArrayLike,
        node: ArrayLike,
        branch: ArrayLike,
        end: ArrayLike,
        group_ptr: ArrayLike,
    ) -> None: ...
    def solve(
        self,
        values: ArrayLike,
        covariance: ArrayLike,
        active: ArrayLike,
        vm: ArrayLike,
        va: ArrayLike,
        tolerance: float,
        tolerance_sd: float,
        max_iterations: int,
        pivot_tolerance: float,
        min_current: float,
        max_magnitude: float,
        check_observability: bool = True,
    ) -> tuple[int, int, float, int, float]: ...
    @property
    def vm(self) -> NDArray[np.float64]: ...
    @property
    def va(self) -> NDArray[np.float64]: ...
    def estimates(self) -> NDArray[np.float64]: ...
    def unobservable_nodes(self) -> NDArray[np.int64]: ...
    def measurement_variance(self) -> NDArray[np.float64]: ...
    def state_variance(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
    def derived(
        self, kind: ArrayLike, node: ArrayLike, branch: ArrayLike, end: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
    @property
    def n_node(self) -> int: ...
    @property
    def n_state(self) -> int: ...
    @property
    def n_measurement(self) -> int: ...
    @property
    def weight_size(self) -> int: ...
    @property
    def factor_nonzeros(self) -> int: ...
    @property
    def memory_bytes(self) -> int: ...
