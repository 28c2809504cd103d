"""Finite-difference gradients: the book's referee for every derived update rule.

Each chapter that derives a gradient compares it with :func:`numerical_gradient` of the
objective it claims to follow, and so do the unit tests.
"""

from __future__ import annotations

import numpy as np

__all__ = ["numerical_gradient", "relative_error"]


def numerical_gradient(f, x, eps=1e-6):
    """Central finite-difference gradient of a scalar function.

    ``g_i = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``, whose error is ``O(eps^2)``
    times the third derivative, plus ``O(machine_eps / eps)`` rounding.

    Parameters
    ----------
    f : callable
        Maps an array of the shape of ``x`` to a float.
    x : array_like, any shape
        Point of evaluation (not modified).
    eps : float
        Step.

    Returns
    -------
    g : ndarray, same shape as ``x``
    """
    x = np.array(x, dtype=float)
    g = np.empty_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        f_plus = f(x)
        flat[i] = old - eps
        f_minus = f(x)
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return g


def relative_error(a, b):
    """``||a - b|| / max(||a||, ||b||)`` (Frobenius norms over all entries); 0 when both are 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)
