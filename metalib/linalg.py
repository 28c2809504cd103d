"""Small array helpers shared by every part of :mod:`metalib`."""

from __future__ import annotations

import numpy as np

__all__ = ["transpose"]


def transpose(A):
    """Swap the last two axes of ``A`` (the matrix transpose, batched over leading axes).

    Parameters
    ----------
    A : ndarray, shape (..., p, q)

    Returns
    -------
    ndarray, shape (..., q, p)
        A view, not a copy.
    """
    return np.swapaxes(A, -1, -2)
