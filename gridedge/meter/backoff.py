"""Delays between retries: doubling up to a ceiling, each jittered.

Many meters rebooting together (after a feeder is re-energised) must not poll the catalog in
lock step: every delay is drawn uniformly from its upper half, so they spread out while the
retry rate still falls off exponentially.
"""

import random
from collections.abc import Callable, Iterator

from gridedge.errors import ConfigurationError


def delays(
    initial: float,
    maximum: float,
    *,
    factor: float = 2.0,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Iterator[float]:
    """Yield the seconds to wait before each retry, without end.

    Parameters
    ----------
    initial : float
        Ceiling of the first delay, s.
    maximum : float
        Largest ceiling, s.
    factor : float
        Growth of the ceiling from one retry to the next.
    uniform : callable
        ``uniform(a, b)``: a random number in [a, b] (for tests).
    """
    if not 0 < initial <= maximum or factor < 1:
        raise ConfigurationError(
            f"backoff needs 0 < initial <= maximum and factor >= 1, got {initial}, {maximum}, "
            f"{factor}"
        )
    ceiling = initial
    while True:
        yield uniform(ceiling / 2, ceiling)
        ceiling = min(maximum, ceiling * factor)
