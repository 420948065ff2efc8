"""Symmetrical components (Fortescue): phase quantities to zero, positive, negative sequence."""

import numpy as np
from numpy.typing import ArrayLike, NDArray

A = np.exp(2j * np.pi / 3)
"""The operator a = exp(j 2 pi / 3)."""

PHASE_TO_SEQUENCE = np.array([[1, 1, 1], [1, A, A * A], [1, A * A, A]]) / 3
"""Rows give the zero, positive and negative sequence of (a, b, c) phasors."""

SEQUENCE_TO_PHASE = np.array([[1, 1, 1], [1, A * A, A], [1, A, A * A]])
"""Inverse of :data:`PHASE_TO_SEQUENCE`."""


def to_sequence(phases: ArrayLike) -> NDArray[np.complex128]:
    """Sequence components of phase phasors.

    Parameters
    ----------
    phases : array_like of complex, shape (..., 3)
        Phasors of phases a, b, c along the last axis.

    Returns
    -------
    ndarray of complex128, shape (..., 3)
        Zero, positive and negative sequence along the last axis, same unit as `phases`.
    """
    return np.asarray(phases, dtype=np.complex128) @ PHASE_TO_SEQUENCE.T


def to_phases(sequence: ArrayLike) -> NDArray[np.complex128]:
    """Phase phasors from zero, positive and negative sequence (inverse of :func:`to_sequence`).

    Parameters
    ----------
    sequence : array_like of complex, shape (..., 3)
        Zero, positive and negative sequence along the last axis.

    Returns
    -------
    ndarray of complex128, shape (..., 3)
        Phasors of phases a, b, c, same unit as `sequence`.
    """
    return np.asarray(sequence, dtype=np.complex128) @ SEQUENCE_TO_PHASE.T
