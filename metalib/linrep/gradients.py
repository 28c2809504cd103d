"""Losses and meta-gradients of Part I (collins2022): average loss, ANIL, MAML, exact and FO.

Chapter map:

* ``chapters/01_linrep_problem``: the task loss, eqs. `eq-task-loss`, `eq-sample-loss`,
  `eq-quadratic-form`, and the average-loss gradient, eq. `eq-avg-grad`;
* ``chapters/02_anil``: the ANIL inner step and meta-gradients, eqs. `eq-anil-inner`,
  `eq-fo-anil`, `eq-exact-anil` (region ``anil-gradients``);
* ``chapters/03_maml``: the MAML inner step and meta-gradients, eqs. `eq-maml-inner`,
  `eq-fo-maml`, `eq-exact-maml` (region ``maml-gradients``).

Every gradient is written for a task given as a pair ``(Sigma, g)``: the task loss is, up to a
constant,

    l(B, w; Sigma, g) = 1/2 w^T B^T Sigma B w - g^T B w,

with ``Sigma = I`` and ``g = B_star theta`` for the population loss, and ``Sigma = X^T X / m``,
``g = X^T y / m`` for a batch ``(X, y)`` of ``m`` samples (eq. `eq-quadratic-form`). ``Sigma`` is
never formed: products ``Sigma V`` are computed as ``X^T (X V) / m``.
"""

from __future__ import annotations

import numpy as np

from ..linalg import transpose
from ..validation import as_array, check_choice, check_positive_float, check_same
from .model import METHODS

__all__ = [
    "population_meta_loss",
    "sample_meta_loss",
    "population_meta_gradient",
    "sample_meta_gradient",
    "first_order_reference",
]

_MAML = ("exact_maml", "fo_maml")


def _cov(X, V):
    """``Sigma V``: ``V`` itself for the population (``X is None``), else ``X^T (X V) / m``."""
    if X is None:
        return V
    return transpose(X) @ (X @ V) / X.shape[-2]


def _task_losses(B, w, X, g, y=None):
    """Loss of every task at (B, w): population ``1/2||Bw - g||^2``, sample ``1/(2m)||XBw - y||^2``.

    B : (..., n or 1, d, k), w : (..., n or 1, k, 1), g : (..., n, d, 1) -> (..., n)
    """
    if X is None:
        return 0.5 * np.sum((B @ w - g) ** 2, axis=(-2, -1))
    residual = X @ (B @ w) - y[..., None]
    return 0.5 * np.mean(residual[..., 0] ** 2, axis=-1)


def _inner_step(method, B, w, X_in, g_in, alpha):
    """Adapted ``(B', w')`` after one inner step (eqs. `eq-anil-inner`, `eq-maml-inner`)."""
    q = _cov(X_in, B @ w) - g_in  # (..., n, d, 1): gradient of l_in w.r.t. Bw
    w1 = w - alpha * transpose(B) @ q  # head step, shared by ANIL and MAML
    B1 = B - alpha * q @ transpose(w) if method in _MAML else B
    return B1, w1, q


def _meta_losses(method, B, w, inner, outer, alpha):
    X_in, g_in, _ = inner
    X_out, g_out, y_out = outer
    if method == "avg_loss":
        return _task_losses(B, w, X_out, g_out, y_out)
    B1, w1, _ = _inner_step(method, B, w, X_in, g_in, alpha)
    return _task_losses(B1, w1, X_out, g_out, y_out)


def _task_gradients(method, B, w, inner, outer, alpha):
    """Per-task outer gradients ``(G_B, G_w)`` of shapes (..., n, d, k) and (..., n, k, 1).

    ``B`` has shape (..., 1, d, k) and ``w`` (..., 1, k, 1), broadcast against the task axis.
    ``inner`` and ``outer`` are triples ``(X, g, y)`` (``X = None`` for population losses).
    """
    X_in, g_in, _ = inner
    X_out, g_out, _ = outer
    Bt = transpose(B)
    if method == "avg_loss":  # eq. eq-avg-grad
        r = _cov(X_out, B @ w) - g_out
        return r @ transpose(w), Bt @ r
    # region: anil-gradients
    B1, w1, q = _inner_step(method, B, w, X_in, g_in, alpha)
    r = _cov(X_out, B1 @ w1) - g_out  # outer residual r_i, (..., n, d, 1)
    h = transpose(B1) @ r  # h_i: outer gradient w.r.t. the adapted head
    G_B = r @ transpose(w1)
    if method in ("fo_anil", "fo_maml"):  # eqs. eq-fo-anil, eq-fo-maml
        return G_B, h
    s = _cov(X_in, B @ h)  # Sigma_in B h_i
    if method == "exact_anil":  # eq. eq-exact-anil
        G_B = G_B - alpha * (q @ transpose(h) + s @ transpose(w))
        G_w = h - alpha * Bt @ s
        return G_B, G_w
    # endregion: anil-gradients
    # region: maml-gradients
    # exact_maml, eq. eq-exact-maml (B1, w1, q, r, h, G_B = P_i and s as above)
    u = _cov(X_in, r)  # Sigma_in r_i
    w1w = transpose(w1) @ w  # w_i'^T w, (..., n, 1, 1)
    G_B = G_B - alpha * (w1w * u @ transpose(w) + q @ transpose(h) + s @ transpose(w))
    G_w = h - alpha * (Bt @ s + w1w * (Bt @ u) + w1 * (transpose(r) @ q))
    return G_B, G_w
    # endregion: maml-gradients


def _average(G_B, G_w):
    n = G_B.shape[-3]
    return G_B.sum(axis=-3) / n, G_w.sum(axis=-3)[..., 0] / n


# ------------------------------------------------------------------------------------------
# Public API: validated entry points
# ------------------------------------------------------------------------------------------


def _check_params(method, B, w, alpha, methods=METHODS):
    check_choice("method", method, methods)
    B = as_array("B", B, min_ndim=2)
    w = as_array("w", w, min_ndim=1)
    d, k = B.shape[-2:]
    if k > d:
        raise ValueError(
            f"B has more columns than rows ({k} > {d}): k must not exceed d"
        )
    check_same("k (columns of B vs length of w)", "B", k, "w", w.shape[-1])
    alpha = check_positive_float("alpha", alpha)
    return B, w, alpha


def _population_tasks(B, B_star, heads):
    B_star = as_array("B_star", B_star, min_ndim=2)
    heads = as_array("heads", heads, min_ndim=2)
    check_same("d (rows)", "B", B.shape[-2], "B_star", B_star.shape[-2])
    check_same("k (columns)", "B", B.shape[-1], "B_star", B_star.shape[-1])
    check_same(
        "k (columns of B_star vs length of each head)",
        "B_star",
        B_star.shape[-1],
        "heads",
        heads.shape[-1],
    )
    g = (heads @ transpose(B_star))[..., None]  # (..., n, d, 1)
    task = (None, g, None)
    return task, task


def _sample_tasks(B, X_in, y_in, X_out, y_out):
    d = B.shape[-2]
    X_in = as_array("X_in", X_in, min_ndim=3)
    X_out = as_array("X_out", X_out, min_ndim=3)
    y_in = as_array("y_in", y_in, min_ndim=2)
    y_out = as_array("y_out", y_out, min_ndim=2)
    for name, X, y in (("in", X_in, y_in), ("out", X_out, y_out)):
        check_same("d (rows of B vs columns of X)", "B", d, f"X_{name}", X.shape[-1])
        if y.shape != X.shape[:-1]:
            raise ValueError(
                f"y_{name} must have shape {X.shape[:-1]} to match X_{name}, got {y.shape}"
            )
    check_same("n (number of tasks)", "X_in", X_in.shape[-3], "X_out", X_out.shape[-3])
    return _batch(X_in, y_in), _batch(X_out, y_out)


def _batch(X, y):
    """The triple ``(X, g, y)`` of a batch, with ``g = X^T y / m``."""
    return X, (transpose(X) @ y[..., None]) / X.shape[-2], y


def _merge_batches(inner, outer):
    """Average-loss minimization uses all m_in + m_out samples of a task as one batch."""
    return _batch(
        np.concatenate([inner[0], outer[0]], axis=-2),
        np.concatenate([inner[2], outer[2]], axis=-1),
    )


def population_meta_loss(method, B, w, B_star, heads, alpha):
    """Meta-objective with population task losses, averaged over the tasks.

    ``F(B, w) = (1/n) sum_i L_i(adapted (B, w))`` with ``L_i(B, w) = 1/2 ||Bw - B_star theta_i||^2``
    (eqs. `eq-task-loss`, `eq-anil-objective`, `eq-maml-objective`; ``avg_loss``: no adaptation,
    eq. `eq-avg-loss`). For ``fo_anil``/``fo_maml`` this is the objective of the exact method they
    approximate.

    Parameters
    ----------
    method : {"exact_anil", "fo_anil", "exact_maml", "fo_maml", "avg_loss"}
    B : array_like, shape (d, k)
    w : array_like, shape (k,)
    B_star : array_like, shape (d, k)
    heads : array_like, shape (n, k)
    alpha : float

    Returns
    -------
    float
    """
    B, w, alpha = _check_params(method, B, w, alpha)
    inner, outer = _population_tasks(B, B_star, heads)
    losses = _meta_losses(
        method, B[..., None, :, :], w[..., None, :, None], inner, outer, alpha
    )
    return float(np.mean(losses))


def sample_meta_loss(method, B, w, X_in, y_in, X_out, y_out, alpha):
    """Meta-objective on finite batches: inner step on ``(X_in, y_in)``, loss on ``(X_out, y_out)``.

    Task loss ``1/(2m) ||X B w - y||^2`` (eq. `eq-sample-loss`). ``avg_loss`` uses both batches
    as one.

    Parameters
    ----------
    method : str
    B : array_like, shape (d, k)
    w : array_like, shape (k,)
    X_in : array_like, shape (n, m_in, d)
    y_in : array_like, shape (n, m_in)
    X_out : array_like, shape (n, m_out, d)
    y_out : array_like, shape (n, m_out)
    alpha : float

    Returns
    -------
    float
    """
    B, w, alpha = _check_params(method, B, w, alpha)
    inner, outer = _sample_tasks(B, X_in, y_in, X_out, y_out)
    if method == "avg_loss":
        outer = _merge_batches(inner, outer)
    losses = _meta_losses(
        method, B[..., None, :, :], w[..., None, :, None], inner, outer, alpha
    )
    return float(np.mean(losses))


def population_meta_gradient(method, B, w, B_star, heads, alpha):
    """Meta-gradient of ``method`` with population task losses, averaged over the ``n`` tasks.

    Exact methods return the gradient of :func:`population_meta_loss`; first-order methods return
    the first-order direction (the outer gradient at the adapted parameters, with the adaptation
    treated as a constant). Equations: `eq-avg-grad`, `eq-fo-anil`, `eq-exact-anil`, `eq-fo-maml`,
    `eq-exact-maml`.

    Parameters
    ----------
    method : {"exact_anil", "fo_anil", "exact_maml", "fo_maml", "avg_loss"}
    B : array_like, shape (..., d, k)
    w : array_like, shape (..., k)
    B_star : array_like, shape (..., d, k)
        Ground-truth representation.
    heads : array_like, shape (..., n, k)
        Ground-truth heads of the ``n`` tasks.
    alpha : float
        Inner step size (ignored by ``avg_loss``).

    Returns
    -------
    grad_B : ndarray, shape (..., d, k)
    grad_w : ndarray, shape (..., k)
    """
    B, w, alpha = _check_params(method, B, w, alpha)
    inner, outer = _population_tasks(B, B_star, heads)
    return _average(
        *_task_gradients(
            method, B[..., None, :, :], w[..., None, :, None], inner, outer, alpha
        )
    )


def sample_meta_gradient(method, B, w, X_in, y_in, X_out, y_out, alpha):
    """Meta-gradient of ``method`` on finite batches, averaged over the ``n`` tasks.

    The inner step uses ``(X_in, y_in)`` and the differentiated loss ``(X_out, y_out)``;
    average-loss minimization uses both batches of a task as one. Exact methods return the
    gradient of :func:`sample_meta_loss`.

    Parameters
    ----------
    method : {"exact_anil", "fo_anil", "exact_maml", "fo_maml", "avg_loss"}
    B : array_like, shape (..., d, k)
    w : array_like, shape (..., k)
    X_in : array_like, shape (..., n, m_in, d)
    y_in : array_like, shape (..., n, m_in)
    X_out : array_like, shape (..., n, m_out, d)
    y_out : array_like, shape (..., n, m_out)
    alpha : float

    Returns
    -------
    grad_B : ndarray, shape (..., d, k)
    grad_w : ndarray, shape (..., k)
    """
    B, w, alpha = _check_params(method, B, w, alpha)
    inner, outer = _sample_tasks(B, X_in, y_in, X_out, y_out)
    if method == "avg_loss":
        outer = _merge_batches(inner, outer)
    return _average(
        *_task_gradients(
            method, B[..., None, :, :], w[..., None, :, None], inner, outer, alpha
        )
    )


def first_order_reference(method, B, w, B_star, heads, alpha):
    """The objective a first-order direction is the gradient of, with the adaptation frozen.

    Returns a function ``f(B_var, w_var)`` equal to the mean outer population loss at
    ``(B_var + (B' - B), w_var + (w' - w))``, where ``(B', w')`` are the adapted parameters
    computed once at ``(B, w)``. Its gradient at ``(B, w)`` is exactly the FO-ANIL / FO-MAML
    direction, which is how the tests and the chapters check those directions by finite
    differences.

    Parameters
    ----------
    method : {"fo_anil", "fo_maml"}
    B, w, B_star, heads, alpha : as in :func:`population_meta_gradient` (unbatched)

    Returns
    -------
    callable
    """
    B, w, alpha = _check_params(method, B, w, alpha, methods=("fo_anil", "fo_maml"))
    if B.ndim != 2 or w.ndim != 1:
        raise ValueError(
            f"B and w must be unbatched, got shapes {B.shape} and {w.shape}"
        )
    inner, outer = _population_tasks(B, B_star, heads)
    B1, w1, _ = _inner_step(
        method, B[None], w[None, :, None], inner[0], inner[1], alpha
    )
    shift_B, shift_w = B1 - B, w1 - w[None, :, None]

    def frozen(B_var, w_var):
        losses = _task_losses(
            B_var + shift_B, w_var[None, :, None] + shift_w, None, outer[1]
        )
        return float(np.mean(losses))

    return frozen
