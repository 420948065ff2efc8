"""The COMTRADE data file formats: stored value types, their ranges and missing-data codes."""

import math

import numpy as np

REVISIONS = (1999, 2013)
"""Revisions of the standard read and written."""

FILE_TYPES = ("ASCII", "BINARY", "BINARY32", "FLOAT32")
"""Data file formats."""

INTEGER_LIMIT = {"ASCII": 99998, "BINARY": 32767, "BINARY32": 2**31 - 1}
"""Largest stored magnitude of each integer format (ASCII reserves 99999 for missing data)."""

BINARY_ANALOG = {"BINARY": "<i2", "BINARY32": "<i4", "FLOAT32": "<f4"}
"""Type of a stored analog value in each binary format."""

BINARY_MISSING = {"BINARY": -32768, "BINARY32": -(2**31)}
"""Stored value of missing data in the binary integer formats (FLOAT32 stores NaN)."""

ASCII_MISSING = 99999.0
"""Stored value of missing data in an ASCII data file."""

TIMESTAMP_MISSING = 0xFFFFFFFF
"""Time stamp of a binary data record that has none."""


def binary_layout(file_type: str, analog: int, status: int) -> np.dtype:
    """One data record: sample number, time stamp, analog values, status bits in 16-bit words."""
    return np.dtype(
        [
            ("n", "<u4"),
            ("timestamp", "<u4"),
            ("analog", BINARY_ANALOG[file_type], (analog,)),
            ("status", "<u2", (math.ceil(status / 16),)),
        ]
    )
