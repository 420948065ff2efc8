"""Channel scaling from raw DAQ units to primary units."""

import numpy as np
import pytest

from gridedge.channels import ChannelScaling
from gridedge.errors import ConfigurationError


def test_round_trip() -> None:
    scaling = ChannelScaling(gain=[1, 2, 3, 4, 5, 6], offset=[0, -1, 1, 0, 2, -2])
    raw = np.random.default_rng(0).uniform(0, 4095, (10, 6))
    np.testing.assert_allclose(scaling.to_raw(scaling.to_primary(raw)), raw)
    np.testing.assert_allclose(scaling.to_primary(np.zeros((1, 6))), [scaling.offset])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gain": [1, 2, 3]}, "gain needs one value per channel"),
        ({"gain": [1, 0, 1, 1, 0, 1]}, r"gain must be non-zero, got 0 for \['Vb', 'Ib'\]"),
        ({"offset": [0, 0, 0, 0, 0, np.nan]}, "offset must be finite"),
    ],
)
def test_bad_scaling_is_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ChannelScaling(**kwargs)


def test_scaling_is_immutable() -> None:
    scaling = ChannelScaling()
    with pytest.raises(ValueError, match="read-only"):
        scaling.gain[0] = 2.0
