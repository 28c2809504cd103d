"""Multi-task linear representation learning: the data model, the meta-gradients of ANIL, MAML
and average-loss minimization, and a training loop vectorized over trials.

Implements Part I of the book (collins2022):

* ``chapters/01_linrep_problem``   the data model, eqs. `eq-linrep-model`, `eq-task-loss`, and the
  average-loss baseline, eq. `eq-avg-grad`;
* ``chapters/02_anil``             the ANIL inner step and meta-gradients, eqs. `eq-anil-inner`,
  `eq-fo-anil`, `eq-exact-anil`;
* ``chapters/03_maml``             the MAML inner step and meta-gradients, eqs. `eq-maml-inner`,
  `eq-fo-maml`, `eq-exact-maml`.

Every gradient is written for a task given as a pair ``(Sigma, g)``: the task loss is, up to a constant,

    l(B, w; Sigma, g) = 1/2 w^T B^T Sigma B w - g^T B w,

with ``Sigma = I`` and ``g = B_star theta`` for the population loss, and ``Sigma = X^T X / m``,
``g = X^T y / m`` for a batch ``(X, y)`` of ``m`` samples (eq. `eq-quadratic-form`). ``Sigma`` is never
formed: products ``Sigma V`` are computed as ``X^T (X V) / m``.

Shapes: ``d`` input dimension, ``k`` width of the representation, ``n`` tasks, ``m`` samples per task.
Leading batch dimensions (trials) come first and broadcast.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..subspace import random_orthonormal, subspace_distance
from ..validation import (
    as_array,
    check_choice,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_same,
)

__all__ = [
    "METHODS",
    "META_METHODS",
    "LABELS",
    "DivergenceWarning",
    "head_scales",
    "sample_heads",
    "sample_task_data",
    "initial_representation",
    "population_meta_loss",
    "sample_meta_loss",
    "population_meta_gradient",
    "sample_meta_gradient",
    "first_order_reference",
    "predicted_distance",
    "Trajectory",
    "train",
]

#: the five methods of collins2022, in the order of the book's figures
METHODS = ("exact_anil", "fo_anil", "exact_maml", "fo_maml", "avg_loss")
#: the four meta-learning methods (all but the average-loss baseline)
META_METHODS = METHODS[:4]
#: display names
LABELS = {
    "exact_anil": "Exact ANIL",
    "fo_anil": "FO-ANIL",
    "exact_maml": "Exact MAML",
    "fo_maml": "FO-MAML",
    "avg_loss": "Average loss",
}
#: a run stops when a norm of its iterate exceeds this multiple of its starting norm
BLOWUP_FACTOR = 1e6


class DivergenceWarning(UserWarning):
    """Raised (as a warning) when training iterates blow up and a run is stopped."""


# ----------------------------------------------------------------------------------------------------
# The data model
# ----------------------------------------------------------------------------------------------------


def head_scales(k, mu=1.0):
    """Standard deviations of the task heads, ``theta ~ N(0, diag(1, ..., 1, mu^2))`` (eq. `eq-heads`).

    Parameters
    ----------
    k : int
        Dimension of the heads.
    mu : float
        Task diversity: the standard deviation of the last head coordinate. ``mu = 1`` gives isotropic heads.

    Returns
    -------
    scales : ndarray, shape (k,)
    """
    k = check_positive_int("k", k)
    mu = check_positive_float("mu", mu)
    scales = np.ones(k)
    scales[-1] = mu
    return scales


def sample_heads(rng, scales, size):
    """Draw task heads ``theta_i ~ N(0, diag(scales^2))``.

    Parameters
    ----------
    rng : numpy.random.Generator
    scales : array_like, shape (k,) or (*size[:-1], k)
        Standard deviation of each coordinate (see :func:`head_scales`), shared by all tasks or one row per
        batch entry (for example per trial, with ``size = (trials, n)``).
    size : tuple of int
        Batch shape, for example ``(trials, n)``.

    Returns
    -------
    heads : ndarray, shape (*size, k)
    """
    scales = as_array("scales", scales, min_ndim=1)
    return rng.standard_normal((*size, scales.shape[-1])) * scales[..., None, :]


def sample_task_data(rng, B_star, heads, m, sigma=0.0):
    """Draw ``m`` samples per task: ``x ~ N(0, I_d)``, ``y = <B_star theta_i, x> + sigma * noise`` (eq. `eq-linrep-model`).

    Parameters
    ----------
    rng : numpy.random.Generator
    B_star : ndarray, shape (..., d, k)
    heads : ndarray, shape (..., n, k)
    m : int
        Samples per task.
    sigma : float
        Label-noise standard deviation.

    Returns
    -------
    X : ndarray, shape (..., n, m, d)
    y : ndarray, shape (..., n, m)
    """
    m = check_positive_int("m", m)
    sigma = check_nonnegative_float("sigma", sigma)
    regressors = heads @ np.swapaxes(B_star, -1, -2)  # (..., n, d): B_star theta_i
    X = rng.standard_normal((*regressors.shape[:-1], m, regressors.shape[-1]))
    y = (X @ regressors[..., None])[..., 0]
    if sigma > 0:
        y = y + sigma * rng.standard_normal(y.shape)
    return X, y


def initial_representation(B_star, alpha, rng, dist0=None, k_width=None):
    """Starting representation ``B_0 = alpha^{-1/2} Q_0``, so that ``alpha B_0^T B_0 = I`` (eq. `eq-init`).

    Parameters
    ----------
    B_star : ndarray, shape (..., d, k)
        Ground truth with orthonormal columns.
    alpha : float
        Inner step size.
    rng : numpy.random.Generator
    dist0 : float in [0, 1], optional
        If given, ``Q_0 = (sqrt(1 - dist0^2) B_star + dist0 U_perp) O`` with ``U_perp`` a random orthonormal
        basis of a subspace of ``col(B_star)^perp`` and ``O`` a random rotation: every principal angle between
        ``col(B_0)`` and ``col(B_star)`` has sine ``dist0``, so ``dist(B_0, B_star) = dist0`` exactly.
        If ``None``, ``Q_0`` is uniformly random (its distance is then close to 1 when ``d >> k``).
    k_width : int, optional
        Width of the representation (defaults to ``k``); only with ``dist0=None``.

    Returns
    -------
    B0 : ndarray, shape (..., d, k_width)
    """
    B_star = as_array("B_star", B_star, min_ndim=2)
    alpha = check_positive_float("alpha", alpha)
    d, k = B_star.shape[-2:]
    batch = B_star.shape[:-2]
    if dist0 is None:
        width = k if k_width is None else check_positive_int("k_width", k_width)
        return random_orthonormal(d, width, rng, size=batch) / np.sqrt(alpha)
    if k_width is not None and k_width != k:
        raise ValueError("dist0 can only be prescribed when k_width equals k")
    dist0 = check_nonnegative_float("dist0", dist0)
    if dist0 > 1:
        raise ValueError(f"dist0 must lie in [0, 1], got {dist0}")
    if 2 * k > d:
        raise ValueError(
            f"a start at a prescribed distance needs d >= 2k, got d={d}, k={k}"
        )
    # an orthonormal basis of col(B_star)^perp, then k random directions inside it
    G = rng.standard_normal((*batch, d, k))
    G = G - B_star @ (np.swapaxes(B_star, -1, -2) @ G)
    U_perp = np.linalg.qr(G)[0]
    O = random_orthonormal(k, k, rng, size=batch)
    Q0 = (np.sqrt(1 - dist0**2) * B_star + dist0 * U_perp) @ O
    return Q0 / np.sqrt(alpha)


# ----------------------------------------------------------------------------------------------------
# Losses (the objectives that the gradients below differentiate)
# ----------------------------------------------------------------------------------------------------


def _swap(A):
    return np.swapaxes(A, -1, -2)


def _cov(X, V):
    """``Sigma V``: ``V`` itself for the population (``X is None``), else ``X^T (X V) / m``."""
    if X is None:
        return V
    return _swap(X) @ (X @ V) / X.shape[-2]


def _task_losses(B, w, X, g, y=None):
    """Loss of every task at (B, w): population ``1/2||Bw - g||^2`` or sample ``1/(2m)||XBw - y||^2``.

    B : (..., n or 1, d, k), w : (..., n or 1, k, 1), g : (..., n, d, 1) -> (..., n)
    """
    if X is None:
        return 0.5 * np.sum((B @ w - g) ** 2, axis=(-2, -1))
    residual = X @ (B @ w) - y[..., None]
    return 0.5 * np.mean(residual[..., 0] ** 2, axis=-1)


def _inner_step(method, B, w, X_in, g_in, alpha):
    """Adapted parameters ``(B', w')`` after one inner step (eqs. `eq-anil-inner`, `eq-maml-inner`)."""
    q = _cov(X_in, B @ w) - g_in  # (..., n, d, 1): gradient of l_in w.r.t. Bw
    w1 = w - alpha * _swap(B) @ q  # head step, shared by ANIL and MAML
    B1 = B - alpha * q @ _swap(w) if method in ("exact_maml", "fo_maml") else B
    return B1, w1, q


def _meta_losses(method, B, w, inner, outer, alpha):
    X_in, g_in, _ = inner
    X_out, g_out, y_out = outer
    if method == "avg_loss":
        return _task_losses(B, w, X_out, g_out, y_out)
    B1, w1, _ = _inner_step(method, B, w, X_in, g_in, alpha)
    return _task_losses(B1, w1, X_out, g_out, y_out)


# ----------------------------------------------------------------------------------------------------
# Meta-gradients, per task, on (Sigma, g) pairs
# ----------------------------------------------------------------------------------------------------


def _task_gradients(method, B, w, inner, outer, alpha):
    """Per-task outer gradients ``(G_B, G_w)`` of shapes (..., n, d, k) and (..., n, k, 1).

    ``B`` has shape (..., 1, d, k) and ``w`` (..., 1, k, 1), broadcast against the task axis.
    """
    X_in, g_in, _ = inner
    X_out, g_out, _ = outer
    Bt = _swap(B)
    if method == "avg_loss":  # eq. eq-avg-grad
        r = _cov(X_out, B @ w) - g_out
        return r @ _swap(w), Bt @ r
    B1, w1, q = _inner_step(method, B, w, X_in, g_in, alpha)
    r = _cov(X_out, B1 @ w1) - g_out  # outer residual (..., n, d, 1)
    h = _swap(B1) @ r  # outer gradient w.r.t. the adapted head
    G_B = r @ _swap(w1)
    if method in ("fo_anil", "fo_maml"):  # eqs. eq-fo-anil, eq-fo-maml
        return G_B, h
    s = _cov(X_in, B @ h)  # Sigma_in B h
    if method == "exact_anil":  # eq. eq-exact-anil
        G_B = G_B - alpha * (q @ _swap(h) + s @ _swap(w))
        G_w = h - alpha * Bt @ s
        return G_B, G_w
    # exact_maml, eq. eq-exact-maml
    u = _cov(X_in, r)  # Sigma_in r
    w1w = _swap(w1) @ w  # w'^T w, (..., n, 1, 1)
    G_B = G_B - alpha * (w1w * u @ _swap(w) + q @ _swap(h) + s @ _swap(w))
    G_w = h - alpha * (Bt @ s + w1w * (Bt @ u) + w1 * (_swap(r) @ q))
    return G_B, G_w


def _average(G_B, G_w):
    n = G_B.shape[-3]
    return G_B.sum(axis=-3) / n, G_w.sum(axis=-3)[..., 0] / n


# ----------------------------------------------------------------------------------------------------
# Public API: validated entry points
# ----------------------------------------------------------------------------------------------------


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
    check_same(
        "k (columns of B_star vs length of each head)",
        "B_star",
        B_star.shape[-1],
        "heads",
        heads.shape[-1],
    )
    g = (heads @ _swap(B_star))[..., None]  # (..., n, d, 1)
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
    g_in = (_swap(X_in) @ y_in[..., None]) / X_in.shape[-2]
    g_out = (_swap(X_out) @ y_out[..., None]) / X_out.shape[-2]
    return (X_in, g_in, y_in), (X_out, g_out, y_out)


def _merge_batches(inner, outer):
    """Average-loss minimization uses all m_in + m_out samples of a task as one batch."""
    X = np.concatenate([inner[0], outer[0]], axis=-2)
    y = np.concatenate([inner[2], outer[2]], axis=-1)
    return X, (_swap(X) @ y[..., None]) / X.shape[-2], y


def population_meta_loss(method, B, w, B_star, heads, alpha):
    """Meta-objective with population task losses, averaged over the tasks.

    ``F(B, w) = (1/n) sum_i L_i(adapted (B, w))`` with ``L_i(B, w) = 1/2 ||Bw - B_star theta_i||^2``
    (eqs. `eq-task-loss`, `eq-anil-objective`, `eq-maml-objective`; ``avg_loss``: no adaptation, eq. `eq-avg-loss`).
    For ``fo_anil``/``fo_maml`` this is the objective of the exact method they approximate.

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
    return float(
        np.mean(
            _meta_losses(
                method, B[..., None, :, :], w[..., None, :, None], inner, outer, alpha
            )
        )
    )


def sample_meta_loss(method, B, w, X_in, y_in, X_out, y_out, alpha):
    """Meta-objective on finite batches: inner step on ``(X_in, y_in)``, loss on ``(X_out, y_out)``.

    Task loss ``1/(2m) ||X B w - y||^2`` (eq. `eq-sample-loss`). ``avg_loss`` uses both batches as one.

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
    return float(
        np.mean(
            _meta_losses(
                method, B[..., None, :, :], w[..., None, :, None], inner, outer, alpha
            )
        )
    )


def population_meta_gradient(method, B, w, B_star, heads, alpha):
    """Meta-gradient of ``method`` with population task losses, averaged over the ``n`` tasks.

    Exact methods return the gradient of :func:`population_meta_loss`; first-order methods return the
    first-order direction (the outer gradient at the adapted parameters, with the adaptation treated as a
    constant). Equations: `eq-avg-grad`, `eq-fo-anil`, `eq-exact-anil`, `eq-fo-maml`, `eq-exact-maml`.

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

    The inner step uses ``(X_in, y_in)`` and the differentiated loss ``(X_out, y_out)``; average-loss
    minimization uses both batches of a task as one. Exact methods return the gradient of
    :func:`sample_meta_loss`.

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
    ``(B_var + (B' - B), w_var + (w' - w))``, where ``(B', w')`` are the adapted parameters computed once at
    ``(B, w)``. Its gradient at ``(B, w)`` is exactly the FO-ANIL / FO-MAML direction, which is how the tests
    and the chapters check those directions by finite differences.

    Parameters
    ----------
    method : {"fo_anil", "fo_maml"}
    B, w, B_star, heads, alpha : as in :func:`population_meta_gradient` (unbatched)

    Returns
    -------
    callable
    """
    B, w, alpha = _check_params(method, B, w, alpha, methods=("fo_anil", "fo_maml"))
    inner, outer = _population_tasks(B, B_star, heads)
    B1, w1, _ = _inner_step(
        method, B[None], w[None, :, None], inner[0], inner[1], alpha
    )
    shift_B, shift_w = B1 - B, w1 - w[None, :, None]

    def frozen(B_var, w_var):
        return float(
            np.mean(
                _task_losses(
                    B_var + shift_B, w_var[None, :, None] + shift_w, None, outer[1]
                )
            )
        )

    return frozen


def predicted_distance(t, dist0, alpha, beta, lam):
    """Distance predicted by the tangent law ``tan(theta_t) = tan(theta_0) exp(-alpha beta lam t)`` (eq. `eq-tan-law`).

    Derived in chapter 02 for ANIL started with ``w = 0``, ``alpha B_0^T B_0 = I`` and all principal angles equal
    to ``theta_0 = arcsin(dist0)``, with head second moment ``lam I``, in the small-step limit. For a head
    covariance ``diag(1, ..., 1, mu^2)`` use ``lam = mu^2``: the slowest direction sets the distance.

    Parameters
    ----------
    t : array_like
        Iterations.
    dist0 : float in (0, 1)
    alpha, beta, lam : float

    Returns
    -------
    ndarray, shape of ``t``
    """
    tan0 = dist0 / np.sqrt(1 - dist0**2)
    return np.sin(
        np.arctan(tan0 * np.exp(-alpha * beta * lam * np.asarray(t, dtype=float)))
    )


# ----------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------


@dataclass
class Trajectory:
    """What :func:`train` records, per method, trial and recorded iteration.

    Attributes
    ----------
    methods : tuple of str
    iterations : ndarray, shape (R,)
        The recorded iteration numbers (0 is the start).
    dist : ndarray, shape (M, trials, R)
        ``dist(B_t, B_star)``; NaN after a run was stopped.
    conditioning : ndarray, shape (M, trials, R)
        ``||I - alpha B_t^T B_t||_2``.
    head_norm : ndarray, shape (M, trials, R)
        ``||w_t||``.
    stopped_at : ndarray of int, shape (M, trials)
        Iteration at which a run blew up and was stopped, or -1.
    B, w : ndarray
        Final iterates, shapes (M, trials, d, k) and (M, trials, k) (last finite values for stopped runs).
    params : dict
        The arguments of the run.
    """

    methods: tuple
    iterations: np.ndarray
    dist: np.ndarray
    conditioning: np.ndarray
    head_norm: np.ndarray
    stopped_at: np.ndarray
    B: np.ndarray
    w: np.ndarray
    params: dict = field(default_factory=dict)

    def series(self, method, quantity="dist"):
        """Array of shape (trials, R) of ``quantity`` for ``method``."""
        return getattr(self, quantity)[self.methods.index(method)]


def _diagnostics(B, w, B_star, alpha):
    eig = np.linalg.eigvalsh(alpha * _swap(B) @ B)
    conditioning = np.max(np.abs(1 - eig), axis=-1)
    return subspace_distance(B, B_star[None]), conditioning, np.linalg.norm(w, axis=-1)


def train(
    methods,
    B_star,
    B0,
    alpha,
    beta,
    iterations,
    rng,
    n,
    mu=1.0,
    w0=None,
    m_in=None,
    m_out=None,
    sigma=0.0,
    learn_head=True,
    record_every=1,
):
    """Run meta-training for several methods on shared tasks, vectorized over trials (eq. `eq-outer-step`).

    Every outer iteration draws ``n`` fresh tasks per trial (and, with finite samples, fresh batches) and
    gives the same tasks to every method, then updates ``B <- B - beta grad_B``, ``w <- w - beta grad_w``.

    Parameters
    ----------
    methods : sequence of str
        Any of :data:`METHODS`.
    B_star : array_like, shape (trials, d, k)
        Ground truth, one per trial.
    B0 : array_like, shape (trials, d, k)
        Starting representation (see :func:`initial_representation`); shared by all methods.
    alpha, beta : float
        Inner and outer step sizes.
    iterations : int
        Number of outer iterations ``T``.
    rng : numpy.random.Generator
    n : int
        Tasks per iteration.
    mu : float or array_like of shape (trials,)
        Task diversity (see :func:`head_scales`); one value per trial lets a single call compare several.
    w0 : array_like, shape (trials, k), optional
        Starting head (default 0).
    m_in, m_out : int, optional
        Samples per task for the inner step and the outer loss; both ``None`` means population losses.
    sigma : float
        Label-noise standard deviation (finite samples only).
    learn_head : bool
        Meta-learn the head initialization ``w``; if False it stays at ``w0``.
    record_every : int
        Record the diagnostics every this many iterations (and at the last).

    Returns
    -------
    Trajectory

    Warns
    -----
    DivergenceWarning
        When a run blows up (non-finite values, or a norm above ``BLOWUP_FACTOR`` times its start); the run
        is stopped there, its records are NaN from then on, and the warning says which step size to lower.
    """
    methods = tuple(check_choice("method", m, METHODS) for m in methods)
    if not methods:
        raise ValueError("methods must name at least one method")
    B_star = as_array("B_star", B_star, ndim=3)
    B0 = as_array("B0", B0, ndim=3)
    if B0.shape != B_star.shape:
        raise ValueError(
            f"B0 must have the shape of B_star {B_star.shape}, got {B0.shape}"
        )
    trials, d, k = B_star.shape
    if k > d:
        raise ValueError(f"k must not exceed d, got k={k} > d={d}")
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    T = check_positive_int("iterations", iterations)
    n = check_positive_int("n", n)
    record_every = check_positive_int("record_every", record_every)
    if np.ndim(mu):
        mus = as_array("mu", mu, ndim=1)
        if mus.shape != (trials,):
            raise ValueError(
                f"mu must be a number or have one value per trial, shape {(trials,)}; got {mus.shape}"
            )
    else:
        mus = [mu] * trials
    scales = np.stack([head_scales(k, value) for value in mus])  # (trials, k)
    sigma = check_nonnegative_float("sigma", sigma)
    if (m_in is None) != (m_out is None):
        raise ValueError(
            "give both m_in and m_out (finite samples) or neither (population losses)"
        )
    finite = m_in is not None
    if finite:
        m_in, m_out = (
            check_positive_int("m_in", m_in),
            check_positive_int("m_out", m_out),
        )
    w0 = np.zeros((trials, k)) if w0 is None else as_array("w0", w0, ndim=2)
    if w0.shape != (trials, k):
        raise ValueError(f"w0 must have shape {(trials, k)}, got {w0.shape}")

    M = len(methods)
    B = np.broadcast_to(B0, (M, trials, d, k)).copy()
    w = np.broadcast_to(w0, (M, trials, k)).copy()
    start_norm = np.linalg.norm(B0, axis=(-2, -1)) + np.linalg.norm(w0, axis=-1) + 1.0
    limit = BLOWUP_FACTOR * start_norm  # (trials,)
    running = np.ones((M, trials), dtype=bool)
    stopped_at = np.full((M, trials), -1)
    recorded = sorted(set(range(0, T + 1, record_every)) | {T})
    R = len(recorded)
    dist, cond, hnorm = (np.full((M, trials, R), np.nan) for _ in range(3))
    dist[..., 0], cond[..., 0], hnorm[..., 0] = _diagnostics(B, w, B_star, alpha)
    column = 1

    for t in range(1, T + 1):
        heads = sample_heads(rng, scales, (trials, n))
        if finite:
            X_in, y_in = sample_task_data(rng, B_star, heads, m_in, sigma)
            X_out, y_out = sample_task_data(rng, B_star, heads, m_out, sigma)
            g_in = (_swap(X_in) @ y_in[..., None]) / m_in
            g_out = (_swap(X_out) @ y_out[..., None]) / m_out
            inner, outer = (X_in, g_in, y_in), (X_out, g_out, y_out)
        else:
            inner = outer = (None, (heads @ _swap(B_star))[..., None], None)
        for j, method in enumerate(methods):
            if not running[j].any():
                continue
            out_j = (
                _merge_batches(inner, outer)
                if (finite and method == "avg_loss")
                else outer
            )
            with np.errstate(over="ignore", invalid="ignore"):
                G_B, G_w = _average(
                    *_task_gradients(
                        method,
                        B[j][:, None],
                        w[j][:, None, :, None],
                        inner,
                        out_j,
                        alpha,
                    )
                )
                B_new = B[j] - beta * G_B
                w_new = w[j] - beta * G_w if learn_head else w[j]
                size = np.sqrt(np.einsum("tdk,tdk->t", B_new, B_new)) + np.sqrt(
                    np.einsum("tk,tk->t", w_new, w_new)
                )
            ok = size < limit  # False for NaN and inf too
            if ok.all() and running[j].all():  # the usual case: no masking
                B[j], w[j] = B_new, w_new
                continue
            stopped_at[j, running[j] & ~ok] = t
            running[j] &= ok
            B[j][running[j]] = B_new[running[j]]
            w[j][running[j]] = w_new[running[j]]
        if t == recorded[column]:
            values = _diagnostics(B, w, B_star, alpha)
            for array, value in zip((dist, cond, hnorm), values):
                array[..., column] = np.where(running, value, np.nan)
            column += 1
        if not running.any():
            break

    inner_gain0 = alpha * np.linalg.eigvalsh(_swap(B0) @ B0)[..., -1].max()
    _warn_divergence(methods, stopped_at, alpha, beta, inner_gain0)
    params = dict(
        alpha=alpha,
        beta=beta,
        iterations=T,
        n=n,
        mu=mu,
        m_in=m_in,
        m_out=m_out,
        sigma=sigma,
        learn_head=learn_head,
        d=d,
        k=k,
        trials=trials,
    )
    return Trajectory(
        methods, np.array(recorded), dist, cond, hnorm, stopped_at, B, w, params
    )


def _warn_divergence(methods, stopped_at, alpha, beta, inner_gain0):
    """Warn once per method that blew up, naming the step size to lower.

    The inner step on the head is gradient descent on a quadratic with Hessian ``B^T B`` (population); it
    overshoots when ``alpha * lambda_max(B^T B) > 2``. If that already held at the start, the inner step is
    to blame; otherwise the inner step was stable and the outer dynamics blew up, so ``beta`` is.
    """
    for j, method in enumerate(methods):
        bad = np.flatnonzero(stopped_at[j] >= 0)
        if bad.size == 0:
            continue
        if inner_gain0 > 2:
            advice = (
                f"lower alpha (={alpha:g}) or rescale B0: the inner step overshoots from the start "
                f"(alpha * ||B0||^2 = {inner_gain0:.3g} > 2)"
            )
        else:
            advice = f"lower beta (the outer step size, now {beta:g})"
        warnings.warn(
            f"{LABELS[method]} blew up in {bad.size} of {stopped_at.shape[1]} trial(s), at iteration(s) "
            f"{stopped_at[j][bad].tolist()}; those runs were stopped there and are not plotted beyond. "
            f"To fix it, {advice}.",
            DivergenceWarning,
            stacklevel=3,
        )
