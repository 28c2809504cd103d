"""The theory's predictions for Part I (collins2022), as the book derives them.

Chapter map: ``chapters/02_anil``, the tangent law, eq. `eq-tan-law` (:func:`predicted_distance`),
a small-step (continuous-time) consequence of the ANIL update that the book derives; it is the
book's, not a statement of collins2022.
"""

from __future__ import annotations

import numpy as np

from ..validation import as_array, check_in_range, check_positive_float

__all__ = ["predicted_distance"]


def predicted_distance(t, dist0, alpha, beta, lam):
    """Distance predicted by the tangent law ``tan(theta_t) = tan(theta_0) exp(-alpha beta lam t)``.

    Eq. `eq-tan-law`, derived in chapter 02 for ANIL started with ``w = 0``,
    ``alpha B_0^T B_0 = I`` and all principal angles equal to ``theta_0 = arcsin(dist0)``, with
    head second moment ``lam I``, in the small-step limit. For a head covariance
    ``diag(1, ..., 1, mu^2)`` use ``lam = mu^2``: the slowest direction sets the distance.

    Parameters
    ----------
    t : array_like
        Iterations (non-negative).
    dist0 : float in [0, 1)
    alpha, beta, lam : float
        Positive.

    Returns
    -------
    ndarray, shape of ``t``
    """
    t = as_array("t", t)
    if np.any(t < 0):
        raise ValueError("t must be non-negative iterations")
    dist0 = check_in_range("dist0", dist0, 0.0, 1.0)
    if dist0 == 1.0:
        raise ValueError(
            "dist0 must lie in [0, 1): at dist0 = 1 the tangent is infinite"
        )
    rate = (
        check_positive_float("alpha", alpha)
        * check_positive_float("beta", beta)
        * check_positive_float("lam", lam)
    )
    tan0 = dist0 / np.sqrt(1 - dist0**2)
    return np.sin(np.arctan(tan0 * np.exp(-rate * t)))
