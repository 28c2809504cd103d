"""Argument checks shared by the modules of :mod:`metalib.overparam` (private).

Every public function of the part validates its arguments here, so that an error names the
argument a reader passed (``k_width``, ``m_in``, ``head_cov``, ...) and what was expected.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..validation import as_array, check_same


def check_m(name, m, allow_inf=True):
    """A sample size: a positive integer, or ``inf`` for the infinite-sample limit (if allowed)."""
    if (
        allow_inf
        and isinstance(m, numbers.Real)
        and not isinstance(m, bool)
        and m == math.inf
    ):
        return math.inf
    if isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 1:
        return int(m)
    also = " or inf (infinitely many samples)" if allow_inf else ""
    raise ValueError(f"{name} must be a positive integer{also}, got {m!r}")


def check_head_cov(head_cov, k=None):
    """``Lambda_*``: a symmetric positive semi-definite (k, k) matrix."""
    cov = as_array("head_cov", head_cov, ndim=2)
    if cov.shape[0] != cov.shape[1]:
        raise ValueError(
            f"head_cov must be a square (k, k) matrix, got shape {cov.shape}"
        )
    if k is not None:
        check_same(
            "k (columns of B_star vs size of head_cov)",
            "B_star",
            k,
            "head_cov",
            cov.shape[0],
        )
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
        raise ValueError("head_cov must be symmetric")
    if np.linalg.eigvalsh(cov)[0] < -1e-12 * max(1.0, np.abs(cov).max()):
        raise ValueError("head_cov must be positive semi-definite")
    return 0.5 * (cov + cov.T)


def check_B_star(B_star):
    """The ground truth: a (d, k) matrix with k <= d and orthonormal columns."""
    B_star = as_array("B_star", B_star, ndim=2)
    d, k = B_star.shape
    if k > d:
        raise ValueError(
            f"B_star has more columns than rows {B_star.shape}: k must not exceed d"
        )
    if not np.allclose(B_star.T @ B_star, np.eye(k), atol=1e-8):
        raise ValueError("B_star must have orthonormal columns (B_star^T B_star = I_k)")
    return B_star


def check_model(B, B_star, head_cov, name="B"):
    """``B`` (..., d, k'), ``B_star`` (d, k) orthonormal, ``head_cov`` (k, k) PSD."""
    B = as_array(name, B, min_ndim=2)
    B_star = check_B_star(B_star)
    check_same("d (rows)", name, B.shape[-2], "B_star", B_star.shape[0])
    return B, B_star, check_head_cov(head_cov, B_star.shape[1])


def check_head(w, B, name="w", B_name="B"):
    """A head (..., k') whose length matches the width of ``B`` and whose batch broadcasts."""
    w = as_array(name, w, min_ndim=1)
    check_same(
        f"k' (columns of {B_name} vs length of {name})",
        B_name,
        B.shape[-1],
        name,
        w.shape[-1],
    )
    check_batches(name, w.shape[:-1], B_name, B.shape[:-2])
    return w


def check_batches(name_a, batch_a, name_b, batch_b):
    """Raise unless the leading (batch) dimensions of two arguments broadcast together."""
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        raise ValueError(
            f"the batch dimensions of {name_a} {batch_a} and of {name_b} {batch_b} "
            "do not broadcast together"
        ) from None


def check_record(record, iterations):
    """Recorded iteration numbers: integers in [0, iterations], with 0 and the last added."""
    if record is None:
        points = np.geomspace(1, iterations, 200).astype(int)
    else:
        if isinstance(record, (str, bytes)):
            raise TypeError(
                f"record must be a sequence of iteration numbers, got {record!r}"
            )
        try:
            raw = np.asarray(record, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise TypeError(
                f"record must be a sequence of iteration numbers, got {type(record).__name__}"
            ) from None
        if (
            raw.size == 0
            or not np.all(np.isfinite(raw))
            or np.any(raw != np.round(raw))
            or raw.min() < 0
            or raw.max() > iterations
        ):
            raise ValueError(
                f"record must hold integer iteration numbers in [0, {iterations}]"
            )
        points = raw.astype(int)
    return np.unique(np.concatenate([[0], points, [iterations]]))


def check_taus(tau, name="tau"):
    """One sample size or an array of them (positive integers)."""
    if isinstance(tau, (str, bytes)) or tau is None:
        raise TypeError(
            f"{name} must be a positive integer or an array of them, got {tau!r}"
        )
    arr = np.asarray(tau)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    flat = [
        check_m(name, v.item() if hasattr(v, "item") else v, allow_inf=False)
        for v in arr.reshape(-1)
    ]
    return np.array(flat, dtype=float).reshape(arr.shape)


def check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def sqrt_psd(cov):
    """The symmetric square root of a positive semi-definite matrix."""
    vals, vecs = np.linalg.eigh(cov)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
