"""The six channels of a three-phase meter and their scaling from raw DAQ units to primary units."""

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridedge.errors import ConfigurationError

CHANNELS = ("Va", "Vb", "Vc", "Ia", "Ib", "Ic")
"""The six channels of a three-phase meter, in the order of every sample row."""


def _vector(name: str, values: ArrayLike) -> NDArray[np.float64]:
    array = np.array(values, dtype=np.float64).reshape(-1)
    if array.shape != (len(CHANNELS),):
        raise ConfigurationError(
            f"{name} needs one value per channel {CHANNELS}, got {array.shape[0]}"
        )
    if not np.all(np.isfinite(array)):
        raise ConfigurationError(f"{name} must be finite, got {array.tolist()}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class ChannelScaling:
    """Affine map ``primary = gain * raw + offset`` for each of the six channels.

    Parameters
    ----------
    gain : array_like of float, shape (6,)
        Primary volts (channels 0-2) or amperes (3-5) per raw unit; non-zero.
    offset : array_like of float, shape (6,)
        Primary value of a raw zero, in volts or amperes.
    """

    gain: NDArray[np.float64] = field(default_factory=lambda: np.ones(len(CHANNELS)))
    offset: NDArray[np.float64] = field(default_factory=lambda: np.zeros(len(CHANNELS)))

    def __post_init__(self) -> None:
        object.__setattr__(self, "gain", _vector("gain", self.gain))
        object.__setattr__(self, "offset", _vector("offset", self.offset))
        if np.any(self.gain == 0):
            zero = [CHANNELS[i] for i in np.flatnonzero(self.gain == 0)]
            raise ConfigurationError(f"gain must be non-zero, got 0 for {zero}")

    @classmethod
    def identity(cls) -> "ChannelScaling":
        """Return the scaling of samples already in primary volts and amperes."""
        return cls()

    def to_primary(self, raw: ArrayLike) -> NDArray[np.float64]:
        """Scale raw samples, shape (n, 6), to primary volts and amperes, float64."""
        return np.asarray(raw, dtype=np.float64) * self.gain + self.offset

    def to_raw(self, primary: ArrayLike) -> NDArray[np.float64]:
        """Inverse of :meth:`to_primary`, shape (n, 6), float64 raw units."""
        return (np.asarray(primary, dtype=np.float64) - self.offset) / self.gain
