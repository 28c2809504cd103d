"""Losses and meta-gradients of Part I (collins2022): average loss, ANIL, MAML, exact and FO.

Chapter map:

* ``chapters/01_linrep_problem``: the task loss, eqs. `eq-task-loss`, `eq-sample-loss`,
  `eq-quadratic-form`, and the average-loss gradient, eq. `eq-avg-grad`;
* ``chapters/02_anil``: the ANIL inner step and meta-gradients, eqs. `eq-anil-inner`,
  `eq-fo-anil`, `eq-exact-anil` (region ``meta-gradients``);
* ``chapters/03_maml``: the MAML inner step and meta-gradients, eqs. `eq-maml-inner`,
  `eq-fo-maml`, `eq-exact-maml` (the same region, its ``maml`` terms).

Every gradient is written for a task given as a pair ``(Sigma, g)``: the task loss is, up to a
constant,

    l(B, w; Sigma, g) = 1/2 w^T B^T Sigma B w - g^T B w,

with ``Sigma = I`` and ``g = B_star theta`` for the population loss, and ``Sigma = X^T X / m``,
``g = X^T y / m`` for a batch ``(X, y)`` of ``m`` samples (eq. `eq-quadratic-form`). ``Sigma`` is
never formed: products ``Sigma v`` are computed as ``X^T (X v) / m``.

The tasks of a round are the rows of matrices: row ``i`` of ``Q`` is the inner residual ``q_i``,
row ``i`` of ``W1`` the adapted head ``w_i'``, and so on, so that a sum over tasks such as
``sum_i r_i w_i'^T`` is one matrix product ``R^T W1``. The head ``w`` is a row too, of shape
``(..., 1, k)``. One function computes every method: a method is three coefficients (see
:class:`_Kind`), numbers for one method or arrays with one entry per method for the training
loop, which updates all methods in one pass.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..linalg import transpose
from ..validation import as_array, check_choice, check_positive_float, check_same
from .model import METHODS, _check_heads

__all__ = [
    "population_meta_loss",
    "sample_meta_loss",
    "population_meta_gradient",
    "sample_meta_gradient",
    "first_order_reference",
]


class _Batch(NamedTuple):
    """The tasks of a round as the gradients see them.

    ``X``: ``None`` for population losses (``Sigma = I``), else shape (..., n, rows, d) with
    ``X_i^T X_i = m Sigma_i`` (the samples, or any matrix with the same Gram matrix);
    ``m``: the number of samples per task; ``G``: shape (..., n, d), row ``i`` is ``g_i``.
    """

    X: np.ndarray | None
    m: int
    G: np.ndarray


class _Kind(NamedTuple):
    """A method as three coefficients: inner step ``alpha`` (0 for the average loss, which does
    not adapt), ``maml`` (1 when the inner step also moves ``B``) and ``exact`` (1 when the
    meta-gradient differentiates through the inner step). Each is a number or an array of shape
    (M, 1, 1, 1), one entry per method of a stack. ``any_maml`` and ``any_exact`` skip the terms
    that no method of the stack needs."""

    alpha: float | np.ndarray
    maml: float | np.ndarray
    exact: float | np.ndarray
    any_maml: bool
    any_exact: bool


#: ``(adapts, maml, exact)`` of each method, see :class:`_Kind`
_FLAGS = {
    "exact_anil": (1.0, 0.0, 1.0),
    "fo_anil": (1.0, 0.0, 0.0),
    "exact_maml": (1.0, 1.0, 1.0),
    "fo_maml": (1.0, 1.0, 0.0),
    "avg_loss": (0.0, 0.0, 0.0),
}


def _kind(methods, alpha):
    """The :class:`_Kind` of one method (a string) or of a stack of methods (a sequence)."""
    if isinstance(methods, str):
        adapts, maml, exact = _FLAGS[methods]
        return _Kind(adapts * alpha, maml, exact, maml > 0, exact > 0)
    adapts, maml, exact = np.array([_FLAGS[m] for m in methods]).T.reshape(
        3, -1, 1, 1, 1
    )
    return _Kind(adapts * alpha, maml, exact, bool(maml.any()), bool(exact.any()))


def _cov(batch, V):
    """Row ``i`` of the result is ``Sigma_i v_i``: ``V`` itself for the population.

    ``batch.X`` may also be a tuple of matrices whose Gram matrices add up (see
    :func:`_merge`).
    """
    if batch.X is None:
        return V
    if isinstance(batch.X, tuple):
        first, second = batch.X
        SV = transpose(first) @ (first @ V[..., None]) + transpose(second) @ (
            second @ V[..., None]
        )
    else:
        SV = transpose(batch.X) @ (batch.X @ V[..., None])
    return SV[..., 0] / batch.m


# region: meta-gradients
def _adapt(B, w, inner, kind):
    """The inner step, eqs. `eq-anil-inner` and `eq-maml-inner`, one row per task."""
    Q = _cov(inner, w @ transpose(B)) - inner.G  # q_i = Sigma_in B w - g_in
    W1 = w - kind.alpha * (Q @ B)  # w_i' = w - alpha B^T q_i
    c = W1 @ transpose(w)  # w_i'^T w
    BW1 = W1 @ transpose(B)  # B_i' w_i' for ANIL, where B_i' = B
    if kind.any_maml:
        # MAML: B_i' = B - alpha q_i w^T, so B_i' w_i' = B w_i' - alpha (w^T w_i') q_i
        BW1 = BW1 - (kind.maml * kind.alpha) * c * Q
    return Q, W1, c, BW1


def _meta_gradients(B, w, inner, outer, kind):
    """Meta-gradients ``(G_B, G_w)`` averaged over the tasks, eqs. `eq-avg-grad`,
    `eq-fo-anil`, `eq-exact-anil`, `eq-fo-maml`, `eq-exact-maml`.

    ``B``: (..., d, k); ``w``: (..., 1, k); ``inner``, ``outer``: the tasks' batches.
    ``kind``: alpha = 0 for the average loss, maml = 1 for MAML, exact = 1 for exact methods.
    """
    n = outer.G.shape[-2]
    Q, W1, c, BW1 = _adapt(B, w, inner, kind)  # rows q_i, w_i', w_i'^T w, B_i' w_i'
    R = _cov(outer, BW1) - outer.G  # r_i, the outer residual
    H = R @ B  # h_i = B_i'^T r_i (ANIL)
    if kind.any_maml:
        qr = np.sum(Q * R, axis=-1, keepdims=True)  # q_i^T r_i
        H = H - (kind.maml * kind.alpha) * qr * w  # h_i = B^T r_i - alpha (q_i^T r_i) w
    G_B = transpose(R) @ W1  # sum_i r_i w_i'^T
    G_w = np.sum(H, axis=-2, keepdims=True)  # sum_i h_i
    # the first-order methods stop here; the exact ones differentiate through the inner step
    if kind.any_exact:
        a = kind.exact * kind.alpha
        S = _cov(inner, H @ transpose(B))  # s_i = Sigma_in B h_i
        s = np.sum(S, axis=-2, keepdims=True)
        G_B = G_B - a * (transpose(Q) @ H + transpose(s) @ w)  # q_i h_i^T + s_i w^T
        G_w = G_w - a * (s @ B)  # B^T s_i
        if kind.any_maml:
            # Exact MAML's extra terms: the inner step moved B by -alpha q_i w^T
            a = a * kind.maml
            u = transpose(c) @ _cov(inner, R)  # sum_i (w_i'^T w) Sigma_in r_i
            G_B = G_B - a * (transpose(u) @ w)
            G_w = G_w - a * (u @ B + transpose(qr) @ W1)  # + sum_i (q_i^T r_i) w_i'
    return G_B / n, G_w / n


# endregion: meta-gradients


# ------------------------------------------------------------------------------------------
# Public API: validated entry points
# ------------------------------------------------------------------------------------------


def _check_params(method, B, w, alpha, methods=METHODS):
    """Method, shapes and step size. Finiteness is checked on the result (see
    :func:`_check_finite`), which costs less than checking every input and names the same
    argument."""
    if method not in methods:
        check_choice("method", method, methods)
    B = as_array("B", B, min_ndim=2, finite=False)
    w = as_array("w", w, min_ndim=1, finite=False)
    d, k = B.shape[-2:]
    if k > d:
        raise ValueError(
            f"B has more columns than rows ({k} > {d}): k must not exceed d"
        )
    check_same("k (columns of B vs length of w)", "B", k, "w", w.shape[-1])
    if (
        type(alpha) is not float or not 0.0 < alpha < math.inf
    ):  # the common case, quickly
        alpha = check_positive_float("alpha", alpha)
    return B, w, alpha


def _not_broadcast(inputs):
    """Raise for arguments whose batch (leading) dimensions do not broadcast."""
    shapes = ", ".join(f"{name} {np.shape(value)}" for name, value in inputs.items())
    raise ValueError(
        f"the batch (leading) dimensions of the arguments do not broadcast: {shapes}"
    )


def _check_finite(total, parts, inputs):
    """Raise unless the result is finite, naming the input with NaN or infinite entries.

    ``total`` is a sum over the result's entries (or of their squares): it is finite exactly
    when every entry is, unless the sum itself overflows, which the full check below settles.
    """
    if math.isfinite(total) or all(np.isfinite(part).all() for part in parts):
        return
    for name, value in inputs.items():
        as_array(
            name, value
        )  # raises, naming the argument with NaN or infinite entries
    raise ValueError(
        f"the result overflowed: the entries of {', '.join(inputs)} are too large"
    )


def _population_tasks(B, B_star, heads):
    B_star, heads = _check_heads(B_star, heads, finite=False)
    check_same("d (rows)", "B", B.shape[-2], "B_star", B_star.shape[-2])
    check_same("k (columns)", "B", B.shape[-1], "B_star", B_star.shape[-1])
    return B_star, heads


def _sample_tasks(B, X_in, y_in, X_out, y_out):
    d = B.shape[-2]
    X_in = as_array("X_in", X_in, min_ndim=3, finite=False)
    X_out = as_array("X_out", X_out, min_ndim=3, finite=False)
    y_in = as_array("y_in", y_in, min_ndim=2, finite=False)
    y_out = as_array("y_out", y_out, min_ndim=2, finite=False)
    for name, X, y in (("in", X_in, y_in), ("out", X_out, y_out)):
        check_same("d (rows of B vs columns of X)", "B", d, f"X_{name}", X.shape[-1])
        if y.shape != X.shape[:-1]:
            raise ValueError(
                f"y_{name} must have shape {X.shape[:-1]} to match X_{name}, got {y.shape}"
            )
    check_same("n (number of tasks)", "X_in", X_in.shape[-3], "X_out", X_out.shape[-3])
    return X_in, y_in, X_out, y_out


def _sample_batch(X, y, m=None):
    """The :class:`_Batch` of samples ``(X, y)``, with ``g_i = X_i^T y_i / m``; ``m`` defaults to
    the number of rows of ``X`` (it differs when ``X`` only has the samples' Gram matrix)."""
    m = X.shape[-2] if m is None else m
    return _Batch(X, m, (transpose(X) @ y[..., None])[..., 0] / m)


def _merge(inner, outer, concatenate=True):
    """Average-loss minimization uses all ``m_in + m_out`` samples of a task as one batch.

    With ``concatenate=False`` the merged batch keeps the two sample matrices as a pair, whose
    Gram matrices :func:`_cov` adds: no copy, for the training loop (the losses need the
    concatenated samples).
    """
    m = inner.m + outer.m
    G = (inner.m * inner.G + outer.m * outer.G) / m
    if not concatenate:
        return _Batch((inner.X, outer.X), m, G)
    return _Batch(np.concatenate([inner.X, outer.X], axis=-2), m, G)


def _meta_losses(kind, B, w, inner, outer, y_out=None):
    """Loss of every task at its adapted parameters: population ``1/2 ||B_i' w_i' - g_i||^2``,
    samples ``1/(2m) ||X B_i' w_i' - y||^2``; shape (..., n)."""
    BW1 = _adapt(B, w, inner, kind)[3]
    if outer.X is None:
        return 0.5 * np.sum((BW1 - outer.G) ** 2, axis=-1)
    residual = (outer.X @ BW1[..., None])[..., 0] - y_out
    return 0.5 * np.mean(residual**2, axis=-1)


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
    B_star, heads = _population_tasks(B, B_star, heads)

    inputs = dict(B=B, w=w, B_star=B_star, heads=heads)
    try:  # non-finite input or overflow: named below, no numpy warning
        with np.errstate(all="ignore"):
            tasks = _Batch(None, 1, heads @ transpose(B_star))
            loss = np.mean(
                _meta_losses(_kind(method, alpha), B, w[..., None, :], tasks, tasks)
            )
    except ValueError:
        _not_broadcast(inputs)
    _check_finite(loss, (loss,), inputs)
    return float(loss)


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
    X_in, y_in, X_out, y_out = _sample_tasks(B, X_in, y_in, X_out, y_out)

    inputs = dict(B=B, w=w, X_in=X_in, y_in=y_in, X_out=X_out, y_out=y_out)
    try:  # non-finite input or overflow: named below, no numpy warning
        with np.errstate(all="ignore"):
            inner, outer, y = (
                _sample_batch(X_in, y_in),
                _sample_batch(X_out, y_out),
                y_out,
            )
            if method == "avg_loss":
                outer, y = _merge(inner, outer), np.concatenate([y_in, y_out], axis=-1)
            kind = _kind(method, alpha)
            loss = np.mean(_meta_losses(kind, B, w[..., None, :], inner, outer, y))
    except ValueError:
        _not_broadcast(inputs)
    _check_finite(loss, (loss,), inputs)
    return float(loss)


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
    B_star, heads = _population_tasks(B, B_star, heads)

    try:  # non-finite input or overflow: named below, no numpy warning
        with np.errstate(all="ignore"):
            tasks = _Batch(None, 1, heads @ transpose(B_star))
            G_B, G_w = _meta_gradients(
                B, w[..., None, :], tasks, tasks, _kind(method, alpha)
            )
            total = np.vdot(G_B, G_B) + np.vdot(G_w, G_w)  # finite iff all entries are
    except ValueError:
        _not_broadcast(dict(B=B, w=w, B_star=B_star, heads=heads))
    if not math.isfinite(total):
        _check_finite(total, (G_B, G_w), dict(B=B, w=w, B_star=B_star, heads=heads))
    return G_B, G_w[..., 0, :]


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
    X_in, y_in, X_out, y_out = _sample_tasks(B, X_in, y_in, X_out, y_out)

    inputs = dict(B=B, w=w, X_in=X_in, y_in=y_in, X_out=X_out, y_out=y_out)
    try:  # non-finite input or overflow: named below, no numpy warning
        with np.errstate(all="ignore"):
            inner, outer = _sample_batch(X_in, y_in), _sample_batch(X_out, y_out)
            if method == "avg_loss":
                outer = _merge(inner, outer)
            G_B, G_w = _meta_gradients(
                B, w[..., None, :], inner, outer, _kind(method, alpha)
            )
            total = np.vdot(G_B, G_B) + np.vdot(G_w, G_w)  # finite iff all entries are
    except ValueError:
        _not_broadcast(inputs)
    _check_finite(total, (G_B, G_w), inputs)
    return G_B, G_w[..., 0, :]


def first_order_reference(method, B, w, B_star, heads, alpha):
    """The objective a first-order direction is the gradient of, with the adaptation frozen.

    Returns a function ``f(B_var, w_var)`` equal to the mean outer population loss at
    ``(B_var + (B_i' - B), w_var + (w_i' - w))``, where ``(B_i', w_i')`` are the adapted
    parameters of task ``i`` computed once at ``(B, w)``. Its gradient at ``(B, w)`` is exactly
    the FO-ANIL / FO-MAML direction, which is how the tests and the chapters check those
    directions by finite differences.

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
    B_star, heads = _population_tasks(B, B_star, heads)
    if B_star.ndim != 2 or heads.ndim != 2:
        raise ValueError(
            f"B_star and heads must be unbatched, got shapes {B_star.shape} and {heads.shape}"
        )
    for name, value in dict(B=B, w=w, B_star=B_star, heads=heads).items():
        as_array(name, value)  # finite
    tasks = _Batch(None, 1, heads @ B_star.T)
    kind = _kind(method, alpha)
    Q, W1, _, _ = _adapt(B, w[None], tasks, kind)
    shift_B = (
        -(kind.maml * alpha) * Q[:, :, None] * w[None, None, :]
    )  # B_i' - B, (n, d, k)
    shift_w = W1 - w[None]  # w_i' - w, (n, k)

    def frozen(B_var, w_var):
        predictions = np.einsum(
            "ndk,nk->nd", B_var[None] + shift_B, w_var[None] + shift_w
        )
        return float(np.mean(0.5 * np.sum((predictions - tasks.G) ** 2, axis=-1)))

    return frozen
