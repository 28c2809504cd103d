"""Training: the objectives computed by running the inner loop, their meta-gradients, gradient
descent
on them, and meta-training by SGD on sampled tasks and samples.

Chapter ``10_easy_and_hard_tasks``: the N-step MAML objective (eq. `eq-maml-objective-steps`) run
through
:func:`inner_loop`, its meta-gradient by back-propagation (eq. `eq-maml-meta-gradient`) and
:func:`fit_gradient_descent`. Chapter ``11_maml_gain_samples_and_representations``:
:func:`train_sgd`
(eq. `eq-sgd-updates`).

Every training loop watches its runs with one :class:`metalib.divergence.BlowupGuard`: a run whose
iterate
grows beyond ``BLOWUP_FACTOR * (1 + scale)`` (``scale`` = norm of the start + size of the centers
and
spreads) or stops being finite is stopped there, and one DivergenceWarning names the step size to
lower.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..divergence import BlowupGuard
from ..linalg import transpose
from ..validation import (
    as_array,
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_rng,
    check_same,
)
from .model import (
    LABELS,
    METHODS,
    _check_mixture,
    _psd_factor,
    sample_gram_factor,
    sample_tasks,
)

__all__ = [
    "inner_loop",
    "meta_objective",
    "meta_gradient",
    "GDResult",
    "fit_gradient_descent",
    "SGDRun",
    "train_sgd",
]


def _check_method_args(method, theta, mixture, alpha, N):
    check_choice("method", method, METHODS)
    mixture = _check_mixture(mixture)
    theta = as_array("theta", theta, min_ndim=1)
    check_same("d", "theta", theta.shape[-1], "mixture", mixture.d)
    N = 0 if method == "erm" else check_nonnegative_int("N", N)
    alpha = check_positive_float("alpha", alpha) if N > 0 else 0.0
    return theta, mixture, alpha, N


def inner_loop(e, Sigma, alpha, N):
    """``N`` population inner steps on the errors ``e = theta - theta_star``: ``e <- (I - alpha
    Sigma_j) e``.

    The steps of eq. `eq-hardness`, for every cluster ``j`` at once. The Jacobian of one step is
    the same
    matrix ``I - alpha Sigma_j``, so :func:`meta_gradient` also uses this function to
    back-propagate.

    Parameters
    ----------
    e : array_like, shape (..., J, d)
        One error per cluster (leading batch dimensions allowed).
    Sigma : array_like, shape (J, d, d)
        The clusters' input covariances.
    alpha : float
        Inner step size (any finite number >= 0; 0 leaves ``e`` unchanged).
    N : int
        Number of steps, ``N >= 0``.

    Returns
    -------
    ndarray, shape (..., J, d)
    """
    e = as_array("e", e, min_ndim=2)
    Sigma = as_array("Sigma", Sigma, ndim=3)
    if e.shape[-2:] != Sigma.shape[:2] or Sigma.shape[1] != Sigma.shape[2]:
        raise ValueError(
            f"e must have shape (..., J, d) and Sigma shape (J, d, d); got e {e.shape}, "
            f"Sigma {Sigma.shape}"
        )
    alpha = check_nonnegative_float("alpha", alpha)
    N = check_nonnegative_int("N", N)
    return _inner_steps(e, Sigma, alpha, N)


def _inner_steps(e, Sigma, alpha, N):
    # region: inner-loop
    for _ in range(N):
        e = e - alpha * np.einsum("jde,...je->...jd", Sigma, e)
    return e
    # endregion: inner-loop


def meta_objective(method, theta, mixture, alpha=None, N=1):
    """Training objective computed by running the ``N`` population inner steps (eq.
    `eq-maml-objective-steps`).

    For each cluster the inner loop is run from ``theta`` toward the cluster's center, and the
    spread term is
    obtained by pushing the spread covariance through the same steps, ``C <- (I - alpha Sigma) C (I
    - alpha
    Sigma)``; no closed-form matrix ``A`` is used, so this is an independent route to
    :func:`post_adaptation_loss`. ``method="erm"`` (or ``N=0``) gives the ERM objective.

    Parameters
    ----------
    method : {"erm", "maml"}
    theta : array_like, shape (..., d)
    mixture : TaskMixture
    alpha : float
    N : int

    Returns
    -------
    ndarray, shape (...)
    """
    theta, mixture, alpha, N = _check_method_args(method, theta, mixture, alpha, N)
    eN = _inner_steps(theta[..., None, :] - mixture.centers, mixture.Sigma, alpha, N)
    C = mixture.spread_cov
    step = np.eye(mixture.d) - alpha * mixture.Sigma
    for _ in range(N):
        C = step @ C @ step
    quad = np.einsum("...jd,jde,...je->...j", eN, mixture.Sigma, eN)
    spread = np.einsum("jde,jed->j", mixture.Sigma, C)
    return 0.5 * (quad + spread) @ mixture.weights


def meta_gradient(method, theta, mixture, alpha=None, N=1):
    """Gradient of :func:`meta_objective`, by back-propagation through the inner loop (eq.
    `eq-maml-meta-gradient`).

    ``grad = E_j (I - alpha Sigma_j)^N Sigma_j (theta_N,j - c_j)``: run the inner loop forward,
    form the outer
    gradient ``Sigma_j (theta_N,j - c_j)``, and multiply it ``N`` times by the Jacobian ``I - alpha
    Sigma_j`` of an
    inner step. This is how MAML computes its meta-gradient; it never forms ``A``.

    Parameters
    ----------
    method : {"erm", "maml"}
    theta : array_like, shape (..., d)
    mixture : TaskMixture
    alpha : float
    N : int

    Returns
    -------
    ndarray, shape (..., d)
    """
    theta, mixture, alpha, N = _check_method_args(method, theta, mixture, alpha, N)
    eN = _inner_steps(theta[..., None, :] - mixture.centers, mixture.Sigma, alpha, N)
    v = np.einsum("jde,...je->...jd", mixture.Sigma, eN)
    v = _inner_steps(
        v, mixture.Sigma, alpha, N
    )  # the Jacobian of a step is also I - alpha Sigma
    return np.einsum("j,...jd->...d", mixture.weights, v)


def _problem_scale(theta0, mixture):
    """The size a run is measured against: the start's norm plus the size of the centers and
    spreads."""
    return (
        np.linalg.norm(theta0)
        + np.abs(mixture.centers).max()
        + np.sqrt(np.abs(mixture.spread_cov).max())
    )


@dataclass(frozen=True)
class GDResult:
    """Outcome of :func:`fit_gradient_descent`."""

    theta: np.ndarray
    iterations: int
    grad_norm: float
    converged: bool

    def __post_init__(self):
        as_array("theta", self.theta, ndim=1, finite=False)
        check_nonnegative_int("iterations", self.iterations)
        check_nonnegative_float("grad_norm", self.grad_norm)


def fit_gradient_descent(
    method, mixture, beta, alpha=None, N=1, theta0=None, tol=1e-12, max_iter=100_000
):
    """Plain gradient descent ``theta <- theta - beta * meta_gradient(theta)`` until ``||grad|| <=
    tol``.

    Parameters
    ----------
    method : {"erm", "maml"}
    mixture : TaskMixture
    beta : float
        Step size (stable below ``2 / lambda_max`` of :func:`meta_hessian`).
    alpha : float
        Inner step size (MAML).
    N : int
    theta0 : array_like, shape (d,), optional
        Start (default 0).
    tol : float
        Stop when the gradient norm is at most ``tol``.
    max_iter : int

    Returns
    -------
    GDResult

    Warns
    -----
    DivergenceWarning
        If the iterates blow up; the last finite iterate is returned and the warning names ``beta``.
    """
    mixture = _check_mixture(mixture)
    beta = check_positive_float("beta", beta)
    tol = check_positive_float("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    theta = (
        np.zeros(mixture.d)
        if theta0 is None
        else as_array("theta0", theta0, ndim=1).copy()
    )
    check_same("d", "theta0", theta.size, "mixture", mixture.d)
    guard = BlowupGuard(_problem_scale(theta, mixture))
    grad = meta_gradient(method, theta, mixture, alpha, N)
    for it in range(1, max_iter + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            new = theta - beta * grad
            size = np.linalg.norm(new)
        if not guard.check(it, size, finite=np.all(np.isfinite(new))):
            guard.warn(
                f"gradient descent on the {LABELS[method]} objective",
                f"lower beta (the outer step size, now {beta:g}) "
                "below 2 / lambda_max(meta_hessian)",
            )
            return GDResult(theta, it - 1, float(np.linalg.norm(grad)), False)
        theta = new
        grad = meta_gradient(method, theta, mixture, alpha, N)
        gnorm = float(np.linalg.norm(grad))
        if gnorm <= tol:
            return GDResult(theta, it, gnorm, True)
    return GDResult(theta, max_iter, gnorm, False)


@dataclass
class SGDRun:
    """What :func:`train_sgd` records.

    Attributes
    ----------
    methods : tuple of str
    theta_avg : ndarray, shape (M, trials, d)
        Average of the iterates over the last part of the run (Polyak-Ruppert averaging).
    theta_last : ndarray, shape (M, trials, d)
    iterations : ndarray, shape (R,)
        Recorded iteration numbers.
    path : ndarray, shape (M, trials, R, d)
        Recorded iterates (NaN after a run was stopped).
    stopped_at : ndarray of int, shape (M, trials)
        Iteration at which a run blew up and was stopped, or -1.
    params : dict
    """

    methods: tuple
    theta_avg: np.ndarray
    theta_last: np.ndarray
    iterations: np.ndarray
    path: np.ndarray
    stopped_at: np.ndarray
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        M = len(self.methods)
        for name in ("theta_avg", "theta_last", "path", "stopped_at"):
            shape = np.shape(getattr(self, name))
            if len(shape) < 2 or shape[0] != M:
                raise ValueError(
                    f"{name} must have a leading axis of length {M} (one per method), "
                    f"got shape {shape}"
                )

    def series(self, method, what="theta_avg"):
        """``what`` (an attribute with a leading method axis) for ``method``."""
        check_choice("method", method, self.methods)
        check_choice("what", what, ("theta_avg", "theta_last", "path", "stopped_at"))
        return getattr(self, what)[self.methods.index(method)]


def _batch_statistics(rng, roots, m, sigma, shape):
    """The two statistics a gradient step on ``m`` samples of each task uses, drawn exactly.

    For a batch ``X`` (rows ``x ~ N(0, Sigma)``) and labels ``y = X theta_star + sigma z``, the
    gradient
    of the empirical loss at ``theta`` is ``X^T (X theta - y) / m = Sigma_hat e - X^T z sigma / m``
    with
    ``e = theta - theta_star``. With ``X = G Sigma^{1/2}`` and the factor ``S`` of
    :func:`sample_gram_factor`, ``(X^T X, X^T z)`` has the law of ``(R S S^T R, R S g)``,
    ``R = Sigma^{1/2}``, so the cost does not grow with ``m``.

    Returns ``Sigma_hat`` of shape ``(*shape, d, d)`` and the noise term ``X^T z sigma / m`` of
    shape
    ``(*shape, d)``.
    """
    d = roots.shape[-1]
    RS = roots @ sample_gram_factor(rng, m, d, shape)  # (*shape, d, r)
    sigma_hat = RS @ transpose(RS) / m
    noise = sigma * (RS @ rng.standard_normal((*shape, RS.shape[-1], 1)))[..., 0] / m
    return sigma_hat, noise


def train_sgd(
    rng,
    methods,
    mixture,
    alpha,
    beta,
    iterations,
    n,
    m_in,
    m_out,
    N=1,
    sigma=0.0,
    trials=1,
    theta0=None,
    average_from=0.5,
    record_every=None,
):
    """Meta-train ERM and MAML by SGD on freshly sampled tasks and samples, vectorized over trials
    and tasks.

    Each iteration draws ``n`` tasks per trial, an inner batch of ``m_in`` and an independent outer
    batch of
    ``m_out`` samples per task, and updates ``theta <- theta - beta * mean_i g_i`` with (eq.
    `eq-sgd-updates`)

    * ERM: ``g_i = X^T (X theta - y) / m`` on both batches together (``m = m_in + m_out``);
    * MAML: ``N`` inner steps ``theta' <- theta' - alpha X_in^T (X_in theta' - y_in) / m_in`` on
    the inner batch,
      then ``g_i = (I - alpha Sigma_hat_in)^N X_out^T (X_out theta_N - y_out) / m_out``.

    Both are unbiased estimates of the gradients of the ERM objective and of the MAML objective
    whose inner
    step uses ``m_in`` samples (:func:`theta_maml` with ``tau=m_in``, for ``N = 1``).

    Parameters
    ----------
    rng : numpy.random.Generator
    methods : sequence of {"erm", "maml"}
    mixture : TaskMixture
    alpha : float
        Inner step size.
    beta : float
        Outer step size.
    iterations : int
    n : int
        Tasks per iteration.
    m_in, m_out : int
        Samples per task for the inner step and for the outer loss.
    N : int
        Inner steps (MAML).
    sigma : float
        Label-noise standard deviation.
    trials : int
        Independent runs (vectorized).
    theta0 : array_like, shape (d,), optional
        Start (default 0).
    average_from : float in [0, 1)
        Average the iterates from iteration ``floor(average_from * iterations) + 1`` on.
    record_every : int, optional
        Record the iterate every this many iterations (default: about 200 records).

    Returns
    -------
    SGDRun

    Warns
    -----
    DivergenceWarning
        When a run blows up; it is stopped there and the warning names the step size to lower.
    """
    rng = check_rng("rng", rng)
    if isinstance(methods, str):
        raise TypeError(
            f"methods must be a sequence of method names, for example ({methods!r},); "
            f"got the string {methods!r}"
        )
    methods = tuple(check_choice("method", m, METHODS) for m in methods)
    if not methods:
        raise ValueError("methods must name at least one method")
    mixture = _check_mixture(mixture)
    alpha, beta = (
        check_positive_float("alpha", alpha),
        check_positive_float("beta", beta),
    )
    T = check_positive_int("iterations", iterations)
    n, trials = check_positive_int("n", n), check_positive_int("trials", trials)
    m_in, m_out = check_positive_int("m_in", m_in), check_positive_int("m_out", m_out)
    N = check_nonnegative_int("N", N)
    sigma = check_nonnegative_float("sigma", sigma)
    average_from = check_nonnegative_float("average_from", average_from)
    if average_from >= 1:
        raise ValueError(f"average_from must lie in [0, 1), got {average_from}")
    record_every = (
        max(1, T // 200)
        if record_every is None
        else check_positive_int("record_every", record_every)
    )
    d = mixture.d
    theta0 = np.zeros(d) if theta0 is None else as_array("theta0", theta0, ndim=1)
    check_same("d", "theta0", theta0.size, "mixture", d)

    M = len(methods)
    roots = _psd_factor(mixture.Sigma)
    theta = np.broadcast_to(theta0, (M, trials, d)).copy()
    guard = BlowupGuard(np.full((M, trials), _problem_scale(theta0, mixture)))
    running = guard.running
    first_avg = int(np.floor(average_from * T)) + 1
    total = np.zeros_like(theta)
    recorded = sorted(set(range(0, T + 1, record_every)) | {T})
    path = np.full((M, trials, len(recorded), d), np.nan)
    path[:, :, 0] = theta
    column = 1
    # tasks and batch statistics are drawn for blocks of iterations at once (fewer calls)
    block = int(max(1, min(64, T, 2**21 // (trials * n * d * d))))
    for t in range(1, T + 1):
        b = (t - 1) % block
        if b == 0:
            size = (min(block, T - t + 1), trials, n)
            cluster_b, star_b = sample_tasks(rng, mixture, size)
            S_in_b, z_in_b = _batch_statistics(rng, roots[cluster_b], m_in, sigma, size)
            S_out_b, z_out_b = _batch_statistics(
                rng, roots[cluster_b], m_out, sigma, size
            )
        theta_star, S_in, z_in = star_b[b], S_in_b[b], z_in_b[b]
        S_out, z_out = S_out_b[b], z_out_b[b]
        new = np.empty_like(theta)
        for j, method in enumerate(methods):
            e = (theta[j][:, None, :] - theta_star)[..., None]  # (trials, n, d, 1)
            with np.errstate(over="ignore", invalid="ignore"):
                if method == "erm":  # both batches together
                    S = (m_in * S_in + m_out * S_out) / (m_in + m_out)
                    z = (m_in * z_in + m_out * z_out) / (m_in + m_out)
                    g = S @ e - z[..., None]
                else:
                    # region: sgd-maml-gradient
                    for _ in range(N):  # inner steps on the inner batch
                        e = e - alpha * (S_in @ e - z_in[..., None])
                    # the outer gradient on the outer batch, then back through the
                    # inner steps: multiply N times by (I - alpha S_in)
                    g = S_out @ e - z_out[..., None]
                    for _ in range(N):
                        g = g - alpha * S_in @ g
                    # endregion: sgd-maml-gradient
                new[j] = theta[j] - beta * g[..., 0].mean(axis=1)
        with np.errstate(over="ignore", invalid="ignore"):
            size = np.linalg.norm(new, axis=-1)
        running = guard.check(t, size, finite=np.all(np.isfinite(new), axis=-1))
        theta[running] = new[running]
        if t >= first_avg:
            total += theta
        if t == recorded[column]:
            path[:, :, column] = np.where(running[..., None], theta, np.nan)
            column += 1
        if not running.any():
            break
    if guard.any_stopped:
        inner = alpha * float(np.linalg.eigvalsh(mixture.Sigma)[..., -1].max())
        advice = (
            f"lower alpha (={alpha:g}): the inner step overshoots "
            f"(alpha * lambda_max(Sigma) = {inner:.3g} > 2)"
            if inner > 2
            else f"lower beta (the outer step size, now {beta:g})"
        )
        guard.warn(
            f"SGD on the {' and '.join(LABELS[m] for m in methods)} objective(s) "
            f"(runs of shape (methods, trials) = {guard.stopped_at.shape}; the stopped runs' "
            "averages are NaN)",
            advice,
        )
    theta_avg = np.where(running[..., None], total / max(1, T - first_avg + 1), np.nan)
    params = dict(
        alpha=alpha,
        beta=beta,
        iterations=T,
        n=n,
        m_in=m_in,
        m_out=m_out,
        N=N,
        sigma=sigma,
        trials=trials,
        average_from=average_from,
    )
    return SGDRun(
        methods,
        theta_avg,
        theta,
        np.array(recorded),
        path,
        guard.stopped_at.copy(),
        params,
    )
