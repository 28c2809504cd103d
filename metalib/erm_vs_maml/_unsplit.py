"""When, and by how much, MAML beats ERM: linear-regression tasks of mixed hardness (collins2020).

Implements Part III of the book:

* ``chapters/10_easy_and_hard_tasks``  the task model and hardness (eq. `eq-hardness`), the ERM and
  N-step MAML objectives and their minimizers (eqs. `eq-erm-objective`, `eq-erm-solution`,
  `eq-maml-objective-steps`, `eq-adaptation-matrix`, `eq-maml-solution`), the meta-gradient through the
  inner loop (eq. `eq-maml-meta-gradient`), the post-adaptation loss (eq. `eq-post-adaptation-loss`), the
  exact gain (eq. `eq-gain-exact`) and its two-cluster form (eqs. `eq-iso-weight`, `eq-two-cluster-omega`,
  `eq-two-cluster-loss`, `eq-two-cluster-gain`);
* ``chapters/11_maml_gain_samples_and_representations``  adaptation with ``tau`` samples (eqs.
  `eq-gaussian-fourth-moment`, `eq-adaptation-matrix-tau`, `eq-noise-floor`, `eq-iso-weight-tau`), the exact
  Wishart sampler (eq. `eq-bartlett`), meta-training by SGD on sampled tasks (eq. `eq-sgd-updates`) and the
  learned-representation case (eq. `eq-representation-step`).

The model. Task ``i`` draws inputs ``x ~ N(0, Sigma_i)`` and labels ``y = <theta_star_i, x> + sigma z``.
Its excess population loss is ``L_i(theta) = 1/2 (theta - theta_star_i)^T Sigma_i (theta - theta_star_i)``
(the constant ``sigma^2 / 2`` is dropped everywhere). A task distribution is a :class:`TaskMixture`: with
probability ``weights[j]`` a task belongs to cluster ``j``, whose tasks share the covariance ``Sigma[j]`` and
have optima ``theta_star = centers[j] + xi`` with ``E xi = 0`` and ``E xi xi^T = spread_cov[j]``. Every
closed form depends on the optima only through these two moments. A finite set of tasks is the special
case of zero spreads (:func:`empirical_mixture`).

Shapes: ``J`` clusters, ``d`` dimension, ``n`` tasks, ``M`` initializations or methods, ``trials``
independent runs. Leading batch dimensions come first and broadcast.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..linrep import DivergenceWarning
from ..validation import (
    as_array,
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_same,
)

__all__ = [
    "METHODS",
    "LABELS",
    "DivergenceWarning",
    "TaskMixture",
    "task_mixture",
    "empirical_mixture",
    "two_cluster_mixture",
    "adaptation_matrix",
    "noise_floor",
    "theta_erm",
    "theta_maml",
    "post_adaptation_loss",
    "erm_objective",
    "gain_quadratic_form",
    "Comparison",
    "compare_erm_maml",
    "meta_hessian",
    "meta_objective",
    "meta_gradient",
    "GDResult",
    "fit_gradient_descent",
    "isotropic_weight",
    "isotropic_noise_floor",
    "TwoCluster",
    "two_cluster",
    "sample_tasks",
    "sample_gram_factor",
    "AdaptationSample",
    "simulate_adaptation",
    "SGDRun",
    "train_sgd",
    "plot_gain_heatmap",
]

#: the two training methods: ERM (no adaptation in training; NAL in later versions of collins2020) and MAML
METHODS = ("erm", "maml")
#: display names
LABELS = {"erm": "ERM", "maml": "MAML"}
#: a run stops when the norm of its iterate exceeds this multiple of the problem's scale
BLOWUP_FACTOR = 1e6


# ----------------------------------------------------------------------------------------------------
# Validation helpers for this module
# ----------------------------------------------------------------------------------------------------


def _check_tau(name, tau):
    """A sample size: a positive integer, or ``numpy.inf`` / ``None`` for the population gradient."""
    if tau is None or (
        isinstance(tau, numbers.Real) and not isinstance(tau, bool) and tau == np.inf
    ):
        return np.inf
    return float(check_positive_int(name, tau))


def _check_tau_array(name, tau):
    """Like :func:`_check_tau`, but an array of sample sizes (``inf`` allowed) is accepted too."""
    if tau is None:
        return np.inf
    arr = np.asarray(tau, dtype=float)
    if arr.size == 0 or np.any(np.isnan(arr)) or np.any(arr <= 0):
        raise ValueError(
            f"{name} must be positive (numpy.inf for the population gradient), got {tau!r}"
        )
    return arr if arr.ndim else float(arr)


def _positive_array(name, value):
    arr = np.asarray(value, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return arr


def _nonnegative_array(name, value):
    arr = np.asarray(value, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative and finite, got {value!r}")
    return arr


def _check_square_symmetric(name, arr, positive):
    if arr.shape[-1] != arr.shape[-2]:
        raise ValueError(
            f"{name} must be square in its last two dimensions, got shape {arr.shape}"
        )
    scale = max(1.0, float(np.max(np.abs(arr))))
    if np.max(np.abs(arr - np.swapaxes(arr, -1, -2))) > 1e-10 * scale:
        raise ValueError(f"{name} must be symmetric")
    eig_min = np.linalg.eigvalsh(arr)[..., 0]
    if positive and np.any(eig_min <= 0):
        raise ValueError(
            f"{name} must be positive definite (smallest eigenvalue {eig_min.min():.3g})"
        )
    if not positive and np.any(eig_min < -1e-10 * scale):
        raise ValueError(
            f"{name} must be positive semi-definite (smallest eigenvalue {eig_min.min():.3g})"
        )


def _swap(A):
    return np.swapaxes(A, -1, -2)


def _psd_factor(C):
    """A factor ``F`` with ``F F^T = C`` for a stack of PSD matrices (symmetric square root)."""
    lam, V = np.linalg.eigh(C)
    return (V * np.sqrt(np.clip(lam, 0, None))[..., None, :]) @ _swap(V)


# ----------------------------------------------------------------------------------------------------
# Task distributions
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskMixture:
    """A task distribution: cluster ``j`` has probability ``weights[j]``, input covariance ``Sigma[j]``,
    and optima ``theta_star = centers[j] + xi`` with ``E xi = 0``, ``E xi xi^T = spread_cov[j]``.

    Build it with :func:`task_mixture`, :func:`empirical_mixture` or :func:`two_cluster_mixture`, which
    validate the arguments.

    Attributes
    ----------
    Sigma : ndarray, shape (J, d, d)
    centers : ndarray, shape (J, d)
    spread_cov : ndarray, shape (J, d, d)
    weights : ndarray, shape (J,)
    """

    Sigma: np.ndarray
    centers: np.ndarray
    spread_cov: np.ndarray
    weights: np.ndarray

    @property
    def d(self):
        """Dimension of the parameters."""
        return self.centers.shape[-1]

    @property
    def J(self):
        """Number of clusters."""
        return self.centers.shape[0]


def task_mixture(Sigma, centers, weights, spread_cov=None):
    """Validate and bundle a task distribution (see :class:`TaskMixture`).

    Parameters
    ----------
    Sigma : array_like, shape (J, d, d)
        Input covariance of each cluster; symmetric positive definite.
    centers : array_like, shape (J, d)
        Mean of the task optima of each cluster.
    weights : array_like, shape (J,)
        Cluster probabilities: non-negative, summing to 1.
    spread_cov : array_like, shape (J, d, d), optional
        Covariance of the optima around their center; symmetric positive semi-definite. Default 0
        (every task of a cluster has the same optimum).

    Returns
    -------
    TaskMixture
    """
    Sigma = as_array("Sigma", Sigma, ndim=3)
    centers = as_array("centers", centers, ndim=2)
    weights = as_array("weights", weights, ndim=1)
    J, d = centers.shape
    check_same("J (number of clusters)", "Sigma", Sigma.shape[0], "centers", J)
    check_same("J (number of clusters)", "weights", weights.size, "centers", J)
    check_same("d", "Sigma", Sigma.shape[-1], "centers", d)
    _check_square_symmetric("Sigma", Sigma, positive=True)
    if np.any(weights < 0) or abs(weights.sum() - 1) > 1e-10:
        raise ValueError(
            f"weights must be non-negative and sum to 1, got sum {weights.sum():.12g}"
        )
    if spread_cov is None:
        spread_cov = np.zeros_like(Sigma)
    else:
        spread_cov = as_array("spread_cov", spread_cov, ndim=3)
        if spread_cov.shape != Sigma.shape:
            raise ValueError(
                f"spread_cov must have the shape of Sigma {Sigma.shape}, got {spread_cov.shape}"
            )
        _check_square_symmetric("spread_cov", spread_cov, positive=False)
    return TaskMixture(Sigma, centers, spread_cov, weights)


def empirical_mixture(Sigma, theta_star, weights=None):
    """The empirical distribution of ``n`` given tasks: one zero-spread cluster per task.

    Parameters
    ----------
    Sigma : array_like, shape (n, d, d)
    theta_star : array_like, shape (n, d)
    weights : array_like, shape (n,), optional
        Default ``1/n`` each.

    Returns
    -------
    TaskMixture
    """
    theta_star = as_array("theta_star", theta_star, ndim=2)
    n = theta_star.shape[0]
    weights = np.full(n, 1.0 / n) if weights is None else weights
    return task_mixture(Sigma, theta_star, weights)


def two_cluster_mixture(d, rho_H, rho_E, p_H, R_H, R_E, D, basis=None):
    """The book's easy/hard mixture: isotropic curvatures and isotropic spreads.

    Hard tasks (probability ``p_H``) have ``Sigma = rho_H I_d`` and optima around ``c_H = D u``; easy tasks
    have ``Sigma = rho_E I_d`` and optima around ``c_E = 0``, so that ``||c_H - c_E|| = D``. The spread of
    cluster ``g`` has covariance ``(R_g^2 / k) P``, so ``E||theta_star - c_g||^2 = R_g^2``, where ``P`` is the
    projector onto the span of ``basis`` (``P = I_d``, ``k = d`` by default) and ``u`` is its first column.

    Parameters
    ----------
    d : int
    rho_H, rho_E : float
        Curvatures of the hard and easy tasks.
    p_H : float in (0, 1)
        Probability of a hard task.
    R_H, R_E : float
        Root-mean-square distance of the optima to their center.
    D : float
        Distance between the centers.
    basis : array_like, shape (d, k), optional
        Orthonormal columns: the shared subspace of the optima (the representation case, chapter 11).

    Returns
    -------
    TaskMixture
        Cluster 0 is the hard cluster, cluster 1 the easy one.
    """
    d = check_positive_int("d", d)
    rho_H, rho_E = (
        check_positive_float("rho_H", rho_H),
        check_positive_float("rho_E", rho_E),
    )
    p_H = check_positive_float("p_H", p_H)
    if p_H >= 1:
        raise ValueError(f"p_H must lie in (0, 1), got {p_H}")
    R_H, R_E, D = (
        check_nonnegative_float(n, v) for n, v in (("R_H", R_H), ("R_E", R_E), ("D", D))
    )
    if basis is None:
        basis = np.eye(d)
    basis = as_array("basis", basis, ndim=2)
    check_same("d", "basis", basis.shape[0], "d", d)
    k = basis.shape[1]
    if k > d or np.max(np.abs(basis.T @ basis - np.eye(k))) > 1e-10:
        raise ValueError("basis must have orthonormal columns (shape (d, k), k <= d)")
    P = basis @ basis.T
    eye = np.eye(d)
    return task_mixture(
        Sigma=np.stack([rho_H * eye, rho_E * eye]),
        centers=np.stack([D * basis[:, 0], np.zeros(d)]),
        weights=np.array([p_H, 1 - p_H]),
        spread_cov=np.stack([R_H**2 / k * P, R_E**2 / k * P]),
    )


def _check_mixture(mixture):
    if not isinstance(mixture, TaskMixture):
        raise TypeError(
            f"mixture must be a TaskMixture (see task_mixture), got {type(mixture).__name__}"
        )
    return mixture


# ----------------------------------------------------------------------------------------------------
# Closed forms for a general mixture
# ----------------------------------------------------------------------------------------------------


def adaptation_matrix(Sigma, alpha, N=1, tau=None):
    """The matrix ``A`` of the post-adaptation loss of one task, ``E L(theta_N) = 1/2 e^T A e + const``.

    With the population gradient (``tau=None``), ``N`` steps of size ``alpha`` give
    ``A = (I - alpha Sigma)^N Sigma (I - alpha Sigma)^N`` (eq. `eq-adaptation-matrix`). With one step on
    ``tau`` Gaussian samples, ``A = (I - alpha Sigma) Sigma (I - alpha Sigma) + alpha^2/tau (Sigma^3 +
    tr(Sigma^2) Sigma)`` (eq. `eq-adaptation-matrix-tau`). ``N = 0`` gives ``A = Sigma`` (no adaptation).

    Parameters
    ----------
    Sigma : array_like, shape (..., d, d)
        Input covariance(s), symmetric.
    alpha : float
        Inner step size.
    N : int
        Number of inner steps (``N >= 0``; with finite ``tau`` only ``N <= 1`` has a closed form).
    tau : int or None
        Samples for the adaptation step; ``None`` (or ``numpy.inf``) for the population gradient.

    Returns
    -------
    A : ndarray, shape (..., d, d)
    """
    Sigma = as_array("Sigma", Sigma, min_ndim=2)
    alpha = check_positive_float("alpha", alpha)
    N = check_nonnegative_int("N", N)
    tau = _check_tau("tau", tau)
    if N == 0:
        return Sigma.copy()
    if np.isfinite(tau) and N > 1:
        raise ValueError(
            "the closed form with finite tau is derived for N = 1 only; use simulate_adaptation"
        )
    d = Sigma.shape[-1]
    P = np.linalg.matrix_power(np.eye(d) - alpha * Sigma, N)
    A = P @ Sigma @ P
    if np.isfinite(tau):
        S2 = Sigma @ Sigma
        trace = np.trace(S2, axis1=-2, axis2=-1)[..., None, None]
        A = A + alpha**2 / tau * (S2 @ Sigma + trace * Sigma)
    return A


def noise_floor(Sigma, alpha, sigma, N=1, tau=None):
    """Label-noise part of the post-adaptation loss: ``alpha^2 sigma^2 tr(Sigma^2) / (2 tau)`` (eq. `eq-noise-floor`).

    Zero for the population gradient or ``N = 0``.

    Parameters
    ----------
    Sigma : array_like, shape (..., d, d)
    alpha : float
    sigma : float
        Label-noise standard deviation.
    N : int
        0 or 1 with finite ``tau``.
    tau : int or None

    Returns
    -------
    ndarray, shape (...)
    """
    Sigma = as_array("Sigma", Sigma, min_ndim=2)
    alpha = check_positive_float("alpha", alpha)
    sigma = check_nonnegative_float("sigma", sigma)
    N = check_nonnegative_int("N", N)
    tau = _check_tau("tau", tau)
    if N == 0 or not np.isfinite(tau):
        return np.zeros(Sigma.shape[:-2])
    if N > 1:
        raise ValueError(
            "the closed form with finite tau is derived for N = 1 only; use simulate_adaptation"
        )
    return alpha**2 * sigma**2 * np.trace(Sigma @ Sigma, axis1=-2, axis2=-1) / (2 * tau)


def _weighted_minimizer(A, mixture):
    """``(sum_j p_j A_j)^{-1} sum_j p_j A_j c_j``."""
    A_bar = np.einsum("j,jde->de", mixture.weights, A)
    eig = np.linalg.eigvalsh(A_bar)
    if eig[0] <= 1e-14 * max(eig[-1], 1e-300):
        raise ValueError(
            "the objective is flat in some direction (every task is solved exactly by the inner "
            "steps there), so its minimizer is not unique; change alpha or the curvatures"
        )
    b = np.einsum("j,jde,je->d", mixture.weights, A, mixture.centers)
    return np.linalg.solve(A_bar, b)


def theta_erm(mixture):
    """Minimizer of the ERM objective: ``(E Sigma_i)^{-1} E[Sigma_i theta_star_i]`` (eq. `eq-erm-solution`).

    Parameters
    ----------
    mixture : TaskMixture

    Returns
    -------
    theta : ndarray, shape (d,)
    """
    mixture = _check_mixture(mixture)
    return _weighted_minimizer(mixture.Sigma, mixture)


def theta_maml(mixture, alpha, N=1, tau=None):
    """Minimizer of the MAML objective with ``N`` inner steps: ``(E A_i)^{-1} E[A_i theta_star_i]`` (eq. `eq-maml-solution`).

    Parameters
    ----------
    mixture : TaskMixture
    alpha : float
        Inner step size.
    N : int
        Inner steps (``N = 0`` gives :func:`theta_erm`).
    tau : int or None
        Samples of the inner step during training (``None``: population gradient); see :func:`adaptation_matrix`.

    Returns
    -------
    theta : ndarray, shape (d,)
    """
    mixture = _check_mixture(mixture)
    return _weighted_minimizer(adaptation_matrix(mixture.Sigma, alpha, N, tau), mixture)


def post_adaptation_loss(theta, mixture, alpha, N=1, tau=None, sigma=0.0):
    """Expected excess loss on a new task after ``N`` adaptation steps from ``theta`` (eq. `eq-post-adaptation-loss`).

    ``E(theta) = 1/2 sum_j p_j [ (theta - c_j)^T A_j (theta - c_j) + tr(A_j C_j) ] + sum_j p_j noise_j``,
    with ``A_j`` from :func:`adaptation_matrix` and ``noise_j`` from :func:`noise_floor`. With the training
    ``tau`` equal to the test ``tau``, this is also the MAML training objective, and with ``N = 0`` the ERM
    objective.

    Parameters
    ----------
    theta : array_like, shape (..., d)
    mixture : TaskMixture
    alpha : float
    N : int
    tau : int or None
        Samples of each test-time adaptation (``None``: population gradient).
    sigma : float
        Label-noise standard deviation (matters only with finite ``tau``).

    Returns
    -------
    ndarray, shape (...)
    """
    mixture = _check_mixture(mixture)
    theta = as_array("theta", theta, min_ndim=1)
    check_same("d", "theta", theta.shape[-1], "mixture", mixture.d)
    A = adaptation_matrix(mixture.Sigma, alpha, N, tau)
    e = theta[..., None, :] - mixture.centers  # (..., J, d)
    quad = np.einsum("...jd,jde,...je->...j", e, A, e)
    spread = np.einsum("jde,jed->j", A, mixture.spread_cov)
    noise = noise_floor(mixture.Sigma, alpha, sigma, N, tau)
    return 0.5 * (quad + spread) @ mixture.weights + noise @ mixture.weights


def erm_objective(theta, mixture):
    """ERM objective ``F_ERM(theta) = E_i L_i(theta)``, the loss with no adaptation (eq. `eq-erm-objective`).

    Parameters
    ----------
    theta : array_like, shape (..., d)
    mixture : TaskMixture

    Returns
    -------
    ndarray, shape (...)
    """
    return post_adaptation_loss(theta, mixture, alpha=1.0, N=0)


def meta_hessian(method, mixture, alpha=None, N=1, tau=None):
    """Hessian of the training objective: ``E Sigma_i`` (ERM) or ``E A_i`` (MAML).

    Its extreme eigenvalues give the step size and the iteration count of gradient descent.

    Parameters
    ----------
    method : {"erm", "maml"}
    mixture : TaskMixture
    alpha : float
        Inner step size (MAML only).
    N : int
    tau : int or None

    Returns
    -------
    ndarray, shape (d, d)
    """
    check_choice("method", method, METHODS)
    mixture = _check_mixture(mixture)
    A = (
        mixture.Sigma
        if method == "erm"
        else adaptation_matrix(mixture.Sigma, alpha, N, tau)
    )
    return np.einsum("j,jde->de", mixture.weights, A)


def gain_quadratic_form(mixture, alpha, N=1, tau=None):
    """The exact gain ``E(theta_ERM) - E(theta_MAML) = 1/2 Delta^T (E A_i) Delta``, ``Delta = theta_ERM - theta_MAML``
    (eq. `eq-gain-exact`), for MAML trained with the test-time ``N`` and ``tau``.

    Parameters
    ----------
    mixture : TaskMixture
    alpha : float
    N : int
    tau : int or None

    Returns
    -------
    float
    """
    delta = theta_erm(mixture) - theta_maml(mixture, alpha, N, tau)
    return float(0.5 * delta @ meta_hessian("maml", mixture, alpha, N, tau) @ delta)


@dataclass(frozen=True)
class Comparison:
    """ERM versus MAML on one mixture (see :func:`compare_erm_maml`)."""

    theta_erm: np.ndarray
    theta_maml: np.ndarray
    loss_erm: float
    loss_maml: float

    @property
    def difference(self):
        """``E(theta_ERM) - E(theta_MAML)``."""
        return self.loss_erm - self.loss_maml

    @property
    def ratio(self):
        """The relative gain ``G = E(theta_ERM) / E(theta_MAML)``."""
        return self.loss_erm / self.loss_maml


def compare_erm_maml(mixture, alpha, N=1, tau=None, tau_train="test", sigma=0.0):
    """Both minimizers and their post-adaptation losses.

    Parameters
    ----------
    mixture : TaskMixture
    alpha : float
    N : int
        Inner steps, in training and at test time.
    tau : int or None
        Samples of the test-time adaptation.
    tau_train : int, None or "test"
        Samples of MAML's inner step during training; ``"test"`` (default) uses ``tau``, ``None`` the
        population gradient.
    sigma : float

    Returns
    -------
    Comparison
    """
    tau_train = tau if isinstance(tau_train, str) and tau_train == "test" else tau_train
    th_e, th_m = theta_erm(mixture), theta_maml(mixture, alpha, N, tau_train)
    losses = post_adaptation_loss(np.stack([th_e, th_m]), mixture, alpha, N, tau, sigma)
    return Comparison(th_e, th_m, float(losses[0]), float(losses[1]))


# ----------------------------------------------------------------------------------------------------
# The objectives computed by running the inner loop, their gradients, and gradient descent
# ----------------------------------------------------------------------------------------------------


def _check_method_args(method, theta, mixture, alpha, N):
    check_choice("method", method, METHODS)
    mixture = _check_mixture(mixture)
    theta = as_array("theta", theta, min_ndim=1)
    check_same("d", "theta", theta.shape[-1], "mixture", mixture.d)
    N = 0 if method == "erm" else check_nonnegative_int("N", N)
    alpha = check_positive_float("alpha", alpha) if N > 0 else 0.0
    return theta, mixture, alpha, N


def _inner_loop(e, Sigma, alpha, N):
    """Population inner steps on the error ``e = theta - theta_star``: ``e <- (I - alpha Sigma) e``."""
    for _ in range(N):
        e = e - alpha * np.einsum("jde,...je->...jd", Sigma, e)
    return e


def meta_objective(method, theta, mixture, alpha=None, N=1):
    """Training objective computed by running the ``N`` population inner steps (eq. `eq-maml-objective-steps`).

    For each cluster the inner loop is run from ``theta`` toward the cluster's center, and the spread term is
    obtained by pushing the spread covariance through the same steps, ``C <- (I - alpha Sigma) C (I - alpha
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
    eN = _inner_loop(theta[..., None, :] - mixture.centers, mixture.Sigma, alpha, N)
    C = mixture.spread_cov
    step = np.eye(mixture.d) - alpha * mixture.Sigma
    for _ in range(N):
        C = step @ C @ step
    quad = np.einsum("...jd,jde,...je->...j", eN, mixture.Sigma, eN)
    spread = np.einsum("jde,jed->j", mixture.Sigma, C)
    return 0.5 * (quad + spread) @ mixture.weights


def meta_gradient(method, theta, mixture, alpha=None, N=1):
    """Gradient of :func:`meta_objective`, by back-propagation through the inner loop (eq. `eq-maml-meta-gradient`).

    ``grad = E_j (I - alpha Sigma_j)^N Sigma_j (theta_N,j - c_j)``: run the inner loop forward, form the outer
    gradient ``Sigma_j (theta_N,j - c_j)``, and multiply it ``N`` times by the Jacobian ``I - alpha Sigma_j`` of an
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
    eN = _inner_loop(theta[..., None, :] - mixture.centers, mixture.Sigma, alpha, N)
    v = np.einsum("jde,...je->...jd", mixture.Sigma, eN)
    v = _inner_loop(
        v, mixture.Sigma, alpha, N
    )  # the Jacobian of a step is also I - alpha Sigma
    return np.einsum("j,...jd->...d", mixture.weights, v)


@dataclass(frozen=True)
class GDResult:
    """Outcome of :func:`fit_gradient_descent`."""

    theta: np.ndarray
    iterations: int
    grad_norm: float
    converged: bool


def fit_gradient_descent(
    method, mixture, beta, alpha=None, N=1, theta0=None, tol=1e-12, max_iter=100_000
):
    """Plain gradient descent ``theta <- theta - beta * meta_gradient(theta)`` until ``||grad|| <= tol``.

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
    limit = BLOWUP_FACTOR * (
        1
        + np.linalg.norm(theta)
        + np.abs(mixture.centers).max()
        + np.sqrt(np.abs(mixture.spread_cov).max())
    )
    grad = meta_gradient(method, theta, mixture, alpha, N)
    for it in range(1, max_iter + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            new = theta - beta * grad
        if not np.all(np.isfinite(new)) or np.linalg.norm(new) > limit:
            warnings.warn(
                f"gradient descent on the {LABELS[method]} objective blew up at iteration {it}; "
                f"stopped there. To fix it, lower beta (the outer step size, now {beta:g}) below "
                f"2 / lambda_max(meta_hessian).",
                DivergenceWarning,
                stacklevel=2,
            )
            return GDResult(theta, it - 1, float(np.linalg.norm(grad)), False)
        theta = new
        grad = meta_gradient(method, theta, mixture, alpha, N)
        gnorm = float(np.linalg.norm(grad))
        if gnorm <= tol:
            return GDResult(theta, it, gnorm, True)
    return GDResult(theta, max_iter, gnorm, False)


# ----------------------------------------------------------------------------------------------------
# The two-cluster isotropic mixture: scalar closed forms, vectorized over parameter grids
# ----------------------------------------------------------------------------------------------------


def isotropic_weight(rho, alpha, d, N=1, tau=None):
    """Scalar weight ``a`` with ``A = a I`` for ``Sigma = rho I_d`` (eqs. `eq-iso-weight`, `eq-iso-weight-tau`).

    ``a = rho (1 - alpha rho)^(2N)`` with the population gradient;
    ``a = rho [(1 - alpha rho)^2 + alpha^2 rho^2 (d + 1) / tau]`` for one step on ``tau`` samples.

    Parameters
    ----------
    rho : array_like
        Curvature(s).
    alpha : float or array_like
    d : int
        Dimension of the space in which the adaptation step acts (``k`` in the representation case).
    N : int
    tau : float or array_like, optional
        Sample size(s); ``None`` or ``numpy.inf`` for the population gradient.

    Returns
    -------
    ndarray (broadcast of the inputs)
    """
    rho = _positive_array("rho", rho)
    alpha = _positive_array("alpha", alpha)
    d = check_positive_int("d", d)
    N = check_nonnegative_int("N", N)
    tau = _check_tau_array("tau", tau)
    finite = np.any(np.isfinite(tau))
    if N == 0:
        return rho * np.ones(np.broadcast(rho, alpha, tau).shape)
    if finite and N > 1:
        raise ValueError(
            "the closed form with finite tau is derived for N = 1 only; use simulate_adaptation"
        )
    variance = alpha**2 * rho**2 * (d + 1) / tau  # 0 where tau = inf
    return (
        rho * ((1 - alpha * rho) ** 2 + variance) ** N
        if N == 1
        else rho * (1 - alpha * rho) ** (2 * N)
    )


def isotropic_noise_floor(rho, alpha, d, sigma, N=1, tau=None):
    """``alpha^2 sigma^2 d rho^2 / (2 tau)`` for ``Sigma = rho I_d`` (eq. `eq-noise-floor`); 0 if ``N = 0`` or ``tau = inf``.

    Parameters
    ----------
    rho, alpha : array_like
    d : int
    sigma : float
    N : int
    tau : float or array_like, optional

    Returns
    -------
    ndarray
    """
    rho = _positive_array("rho", rho)
    alpha = _positive_array("alpha", alpha)
    d = check_positive_int("d", d)
    sigma = check_nonnegative_float("sigma", sigma)
    N = check_nonnegative_int("N", N)
    tau = _check_tau_array("tau", tau)
    if N == 0:
        return np.zeros(np.broadcast(rho, alpha, tau).shape)
    if np.any(np.isfinite(tau)) and N > 1:
        raise ValueError(
            "the closed form with finite tau is derived for N = 1 only; use simulate_adaptation"
        )
    return alpha**2 * sigma**2 * d * rho**2 / (2 * tau)


@dataclass(frozen=True)
class TwoCluster:
    """Closed-form ERM-versus-MAML comparison on the two-cluster mixture (see :func:`two_cluster`).

    ``omega`` is the position of a solution on the segment between the centers,
    ``theta = omega c_H + (1 - omega) c_E``.
    """

    omega_erm: np.ndarray
    omega_maml: np.ndarray
    loss_erm: np.ndarray
    loss_maml: np.ndarray

    @property
    def difference(self):
        """``E(theta_ERM) - E(theta_MAML)``."""
        return self.loss_erm - self.loss_maml

    @property
    def gain(self):
        """Relative gain ``G = E(theta_ERM) / E(theta_MAML)``."""
        with np.errstate(divide="ignore"):
            return self.loss_erm / self.loss_maml


def two_cluster(
    R_H,
    D,
    *,
    rho_H,
    rho_E,
    p_H,
    alpha,
    d,
    N=1,
    tau=None,
    tau_train="test",
    R_E=1.0,
    sigma=0.0,
):
    """ERM and MAML on the isotropic two-cluster mixture, in closed form and broadcast over all array arguments.

    Both solutions lie on the segment between the centers, at ``omega = p_H w_H / (p_H w_H + p_E w_E)`` with
    ``w = rho`` for ERM and ``w = a(rho)`` (:func:`isotropic_weight`) for MAML (eq. `eq-two-cluster-omega`);
    the post-adaptation loss at ``omega`` is (eq. `eq-two-cluster-loss`)
    ``1/2 [p_H a_H ((1 - omega)^2 D^2 + R_H^2) + p_E a_E (omega^2 D^2 + R_E^2)] + noise``.

    Parameters
    ----------
    R_H : array_like
        Spread of the hard tasks' optima (root-mean-square distance to ``c_H``).
    D : array_like
        Distance between the centers.
    rho_H, rho_E : array_like
        Curvatures.
    p_H : array_like
        Probability of a hard task, in (0, 1).
    alpha : array_like
        Inner step size.
    d : int
        Dimension of the adaptation space (``k`` in the representation case).
    N : int
    tau : float or array_like, optional
        Test-time samples (``None``: population gradient).
    tau_train : float, array_like, None or "test"
        Samples of MAML's inner step in training (default: the same as ``tau``).
    R_E : array_like
        Spread of the easy tasks' optima.
    sigma : float
        Label-noise standard deviation.

    Returns
    -------
    TwoCluster
    """
    R_H, D, R_E = (
        _nonnegative_array(n, v) for n, v in (("R_H", R_H), ("D", D), ("R_E", R_E))
    )
    p_H = np.asarray(p_H, dtype=float)
    if p_H.size == 0 or np.any(~((p_H > 0) & (p_H < 1))):
        raise ValueError(f"p_H must lie in (0, 1), got {p_H!r}")
    rho_H, rho_E = _positive_array("rho_H", rho_H), _positive_array("rho_E", rho_E)
    tau = _check_tau_array("tau", tau)
    tau_train = (
        tau
        if isinstance(tau_train, str) and tau_train == "test"
        else _check_tau_array("tau_train", tau_train)
    )
    p_E = 1 - p_H
    a_H, a_E = (
        isotropic_weight(rho_H, alpha, d, N, tau),
        isotropic_weight(rho_E, alpha, d, N, tau),
    )
    t_H, t_E = (
        isotropic_weight(rho_H, alpha, d, N, tau_train),
        isotropic_weight(rho_E, alpha, d, N, tau_train),
    )
    if np.any(p_H * t_H + p_E * t_E == 0):
        raise ValueError(
            "the MAML objective is flat (every task is solved exactly by the inner steps); "
            "change alpha or the curvatures"
        )
    noise = p_H * isotropic_noise_floor(
        rho_H, alpha, d, sigma, N, tau
    ) + p_E * isotropic_noise_floor(rho_E, alpha, d, sigma, N, tau)
    omega_erm = p_H * rho_H / (p_H * rho_H + p_E * rho_E)
    omega_maml = p_H * t_H / (p_H * t_H + p_E * t_E)

    def loss(omega):
        return (
            0.5
            * (
                p_H * a_H * ((1 - omega) ** 2 * D**2 + R_H**2)
                + p_E * a_E * (omega**2 * D**2 + R_E**2)
            )
            + noise
        )

    shape = np.broadcast(
        R_H,
        D,
        R_E,
        p_H,
        rho_H,
        rho_E,
        np.asarray(alpha),
        np.asarray(tau),
        np.asarray(tau_train),
    ).shape
    b = lambda x: np.broadcast_to(x, shape).copy()  # noqa: E731
    return TwoCluster(
        b(omega_erm), b(omega_maml), b(loss(omega_erm)), b(loss(omega_maml))
    )


# ----------------------------------------------------------------------------------------------------
# Monte Carlo: tasks, samples, test-time adaptation
# ----------------------------------------------------------------------------------------------------


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
        )
    return rng


def sample_tasks(rng, mixture, n):
    """Draw ``n`` tasks: a cluster ``j ~ weights`` and an optimum ``theta_star ~ N(c_j, spread_cov_j)``.

    Parameters
    ----------
    rng : numpy.random.Generator
    mixture : TaskMixture
    n : int or tuple of int
        Number of tasks, or a batch shape such as ``(trials, n)``.

    Returns
    -------
    cluster : ndarray of int, shape (*n,)
    theta_star : ndarray, shape (*n, d)
    """
    rng = _check_rng(rng)
    mixture = _check_mixture(mixture)
    size = (
        (check_positive_int("n", n),)
        if not isinstance(n, tuple)
        else tuple(check_positive_int("n", s) for s in n)
    )
    cluster = rng.choice(mixture.J, size=size, p=mixture.weights)
    factor = _psd_factor(mixture.spread_cov)[cluster]  # (*size, d, d)
    xi = (factor @ rng.standard_normal((*size, mixture.d, 1)))[..., 0]
    return cluster, mixture.centers[cluster] + xi


def sample_gram_factor(rng, tau, d, size=()):
    """A factor ``S`` of a Gaussian Gram matrix: ``S S^T`` has the law of ``G^T G`` for ``G`` with ``tau x d``
    i.i.d. standard normal entries, and, for ``g ~ N(0, I_r)`` independent, ``(S S^T, S g)`` has the law of
    ``(G^T G, G^T z)`` with ``z ~ N(0, I_tau)``.

    For ``tau >= d`` the Bartlett decomposition is used (eq. `eq-bartlett`): ``S = L`` lower triangular with
    ``L_ii^2 ~ chi^2(tau - i + 1)`` and ``L_ij ~ N(0, 1)`` below the diagonal, so the cost does not grow with
    ``tau``. For ``tau < d``, ``S = G^T`` itself. Correct jointly because, given ``G``, ``G^T z ~ N(0, G^T G)``
    depends on ``G`` only through ``G^T G``.

    Parameters
    ----------
    rng : numpy.random.Generator
    tau : int
        Number of samples.
    d : int
    size : tuple of int
        Batch shape.

    Returns
    -------
    S : ndarray, shape (*size, d, min(tau, d))
    """
    rng = _check_rng(rng)
    tau, d = check_positive_int("tau", tau), check_positive_int("d", d)
    if tau < d:
        return _swap(rng.standard_normal((*size, tau, d)))
    L = np.tril(rng.standard_normal((*size, d, d)), k=-1)
    idx = np.arange(d)
    L[..., idx, idx] = np.sqrt(rng.chisquare(tau - idx, size=(*size, d)))
    return L


@dataclass(frozen=True)
class AdaptationSample:
    """Per-task excess losses after test-time adaptation (see :func:`simulate_adaptation`).

    Attributes
    ----------
    losses : ndarray, shape (M, n)
        Loss of initialization ``m`` on task ``i``; all initializations meet the same tasks and samples.
    cluster : ndarray of int, shape (n,)
    """

    losses: np.ndarray
    cluster: np.ndarray

    @property
    def n(self):
        """Number of simulated tasks."""
        return self.losses.shape[-1]

    def mean(self):
        """Monte-Carlo estimate of the post-adaptation loss of each initialization, shape (M,)."""
        return self.losses.mean(axis=-1)

    def stderr(self):
        """Standard error of :meth:`mean`, shape (M,)."""
        return self.losses.std(axis=-1, ddof=1) / np.sqrt(self.n)

    def difference(self, a=0, b=1):
        """Mean of ``losses[a] - losses[b]`` and its standard error (paired: common random numbers)."""
        diff = self.losses[a] - self.losses[b]
        return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(self.n))

    def ratio(self, a=0, b=1):
        """``mean(losses[a]) / mean(losses[b])`` and its delta-method standard error.

        For ``R = mu_a / mu_b``, ``Var(R_hat) ~ Var(l_a - R l_b) / (n mu_b^2)``.
        """
        mu_a, mu_b = self.losses[a].mean(), self.losses[b].mean()
        r = mu_a / mu_b
        se = np.std(self.losses[a] - r * self.losses[b], ddof=1) / (
            np.sqrt(self.n) * mu_b
        )
        return float(r), float(se)


def simulate_adaptation(
    rng,
    thetas,
    mixture,
    alpha,
    n_tasks,
    N=1,
    tau=None,
    sigma=0.0,
    basis=None,
    chunk=4096,
):
    """Monte Carlo of test-time adaptation, vectorized over tasks: draw tasks, adapt, measure the excess loss.

    For each of ``n_tasks`` fresh tasks, every initialization in ``thetas`` takes ``N`` gradient steps of size
    ``alpha`` on the task's loss: the population loss (``tau=None``) or the empirical loss of one batch of
    ``tau`` labelled samples, reused by all ``N`` steps (eq. `eq-adaptation-matrix-tau` for ``N = 1``). With a
    ``basis`` ``B`` the step is restricted to its span, ``theta <- theta - alpha B B^T grad``: the head of a
    fixed representation is fine-tuned (eq. `eq-representation-step`). The excess population loss
    ``1/2 e^T Sigma e`` after the steps is recorded. Samples are drawn through :func:`sample_gram_factor`, so
    the cost per task is ``O(d^2)`` whatever ``tau``.

    Parameters
    ----------
    rng : numpy.random.Generator
    thetas : array_like, shape (M, d) or (d,)
        Initializations, evaluated on the same tasks and samples.
    mixture : TaskMixture
    alpha : float
    n_tasks : int
    N : int
    tau : int or None
    sigma : float
        Label-noise standard deviation.
    basis : array_like, shape (d, k), optional
        Orthonormal columns; restricts adaptation to their span.
    chunk : int
        Tasks per vectorized block (bounds the memory to about ``chunk * d^2`` floats).

    Returns
    -------
    AdaptationSample
        ``losses`` of shape (M, n_tasks) (M = 1 for a single initialization).
    """
    rng = _check_rng(rng)
    mixture = _check_mixture(mixture)
    thetas = as_array("thetas", thetas, min_ndim=1)
    thetas = thetas[None] if thetas.ndim == 1 else thetas
    if thetas.ndim != 2:
        raise ValueError(f"thetas must have shape (M, d) or (d,), got {thetas.shape}")
    d = mixture.d
    check_same("d", "thetas", thetas.shape[-1], "mixture", d)
    alpha = check_positive_float("alpha", alpha)
    n_tasks = check_positive_int("n_tasks", n_tasks)
    N = check_nonnegative_int("N", N)
    tau = _check_tau("tau", tau)
    sigma = check_nonnegative_float("sigma", sigma)
    chunk = check_positive_int("chunk", chunk)
    P = None
    if basis is not None:
        basis = as_array("basis", basis, ndim=2)
        check_same("d", "basis", basis.shape[0], "mixture", d)
        k = basis.shape[1]
        if k > d or np.max(np.abs(basis.T @ basis - np.eye(k))) > 1e-10:
            raise ValueError(
                "basis must have orthonormal columns (shape (d, k), k <= d)"
            )
        P = basis @ basis.T
    root = _psd_factor(mixture.Sigma)  # Sigma^{1/2}, (J, d, d)
    losses, clusters = [], []
    for start in range(0, n_tasks, chunk):
        n = min(chunk, n_tasks - start)
        cluster, theta_star = sample_tasks(rng, mixture, n)
        Sig, Rt = mixture.Sigma[cluster], root[cluster]  # (n, d, d)
        e = thetas[:, None, :] - theta_star  # (M, n, d)
        if np.isfinite(tau):
            S = sample_gram_factor(rng, int(tau), d, (n,))  # (n, d, r)
            RS = Rt @ S  # X^T X = RS RS^T, X^T z = RS g
            noise = (
                sigma * (RS @ rng.standard_normal((n, S.shape[-1], 1)))[..., 0] / tau
            )
        for _ in range(N):
            if np.isfinite(tau):  # Sigma_hat e - X^T z sigma / tau
                grad = (
                    np.einsum("ndr,mnr->mnd", RS, np.einsum("ndr,mnd->mnr", RS, e))
                    / tau
                    - noise
                )
            else:
                grad = np.einsum("nde,mne->mnd", Sig, e)
            if P is not None:
                grad = grad @ P
            e = e - alpha * grad
        losses.append(0.5 * np.einsum("mnd,nde,mne->mn", e, Sig, e))
        clusters.append(cluster)
    return AdaptationSample(np.concatenate(losses, axis=1), np.concatenate(clusters))


# ----------------------------------------------------------------------------------------------------
# Meta-training by SGD on sampled tasks and samples
# ----------------------------------------------------------------------------------------------------


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

    def series(self, method, what="theta_avg"):
        """``what`` (an attribute with a leading method axis) for ``method``."""
        return getattr(self, what)[self.methods.index(method)]


def _sample_batches(rng, mixture, roots, trials, n, m, sigma, theta_star, cluster):
    X = (
        rng.standard_normal((trials, n, m, mixture.d)) @ roots[cluster]
    )  # rows ~ N(0, Sigma_j)
    y = (X @ theta_star[..., None])[..., 0]
    if sigma > 0:
        y = y + sigma * rng.standard_normal(y.shape)
    return X, y


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
    """Meta-train ERM and MAML by SGD on freshly sampled tasks and samples, vectorized over trials and tasks.

    Each iteration draws ``n`` tasks per trial, an inner batch of ``m_in`` and an independent outer batch of
    ``m_out`` samples per task, and updates ``theta <- theta - beta * mean_i g_i`` with (eq. `eq-sgd-updates`)

    * ERM: ``g_i = X^T (X theta - y) / m`` on both batches together (``m = m_in + m_out``);
    * MAML: ``N`` inner steps ``theta' <- theta' - alpha X_in^T (X_in theta' - y_in) / m_in`` on the inner batch,
      then ``g_i = (I - alpha Sigma_hat_in)^N X_out^T (X_out theta_N - y_out) / m_out``.

    Both are unbiased estimates of the gradients of the ERM objective and of the MAML objective whose inner
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
    rng = _check_rng(rng)
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
    running = np.ones((M, trials), dtype=bool)
    stopped_at = np.full((M, trials), -1)
    limit = BLOWUP_FACTOR * (
        1
        + np.linalg.norm(theta0)
        + np.abs(mixture.centers).max()
        + np.sqrt(np.abs(mixture.spread_cov).max())
    )
    first_avg = int(np.floor(average_from * T)) + 1
    total = np.zeros_like(theta)
    recorded = sorted(set(range(0, T + 1, record_every)) | {T})
    path = np.full((M, trials, len(recorded), d), np.nan)
    path[:, :, 0] = theta
    column = 1
    for t in range(1, T + 1):
        cluster, theta_star = sample_tasks(rng, mixture, (trials, n))
        X_in, y_in = _sample_batches(
            rng, mixture, roots, trials, n, m_in, sigma, theta_star, cluster
        )
        X_out, y_out = _sample_batches(
            rng, mixture, roots, trials, n, m_out, sigma, theta_star, cluster
        )
        for j, method in enumerate(methods):
            th = theta[j][:, None, :, None]  # (trials, 1, d, 1)
            with np.errstate(over="ignore", invalid="ignore"):
                if method == "erm":
                    X = np.concatenate([X_in, X_out], axis=-2)
                    y = np.concatenate([y_in, y_out], axis=-1)[..., None]
                    g = _swap(X) @ (X @ th - y) / X.shape[-2]
                else:
                    th_n = np.broadcast_to(th, (trials, n, d, 1))
                    for _ in range(N):
                        th_n = (
                            th_n
                            - alpha
                            * _swap(X_in)
                            @ (X_in @ th_n - y_in[..., None])
                            / m_in
                        )
                    g = _swap(X_out) @ (X_out @ th_n - y_out[..., None]) / m_out
                    for _ in range(N):
                        g = g - alpha * _swap(X_in) @ (X_in @ g) / m_in
                new = theta[j] - beta * g[..., 0].mean(axis=1)
            ok = np.all(np.isfinite(new), axis=-1) & (
                np.linalg.norm(np.nan_to_num(new, nan=np.inf), axis=-1) < limit
            )
            blown = running[j] & ~ok
            stopped_at[j, blown] = t
            running[j] &= ok
            theta[j][running[j]] = new[running[j]]
        if t >= first_avg:
            total += theta
        if t == recorded[column]:
            path[:, :, column] = np.where(running[..., None], theta, np.nan)
            column += 1
        if not running.any():
            break
    for j, method in enumerate(methods):
        bad = np.flatnonzero(stopped_at[j] >= 0)
        if bad.size:
            inner = alpha * float(np.linalg.eigvalsh(mixture.Sigma)[..., -1].max())
            advice = (
                f"lower alpha (={alpha:g}): the inner step overshoots (alpha * lambda_max(Sigma) = {inner:.3g} > 2)"
                if inner > 2
                else f"lower beta (the outer step size, now {beta:g})"
            )
            warnings.warn(
                f"{LABELS[method]} blew up in {bad.size} of {trials} trial(s); those runs were stopped "
                f"and their averages are NaN. To fix it, {advice}.",
                DivergenceWarning,
                stacklevel=2,
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
        methods, theta_avg, theta, np.array(recorded), path, stopped_at, params
    )


# ----------------------------------------------------------------------------------------------------
# Plotting: the heat map of the relative gain (chapter 10's figure and widget)
# ----------------------------------------------------------------------------------------------------


def plot_gain_heatmap(
    alpha=1.0,
    rho_H=0.1,
    rho_E=0.9,
    p_H=0.5,
    N=1,
    R_E=1.0,
    d=10,
    tau=None,
    R_H_grid=None,
    D_grid=None,
    marks=(),
    ax=None,
):
    """Draw the relative gain ``G`` over (hard-task spread ``R_H``, center distance ``D``), from :func:`two_cluster`.

    Parameters
    ----------
    alpha, rho_H, rho_E, p_H, N, R_E, d, tau : as in :func:`two_cluster`
    R_H_grid : array_like, optional
        Spreads (default: 61 log-spaced values from 0.03 to 10).
    D_grid : array_like, optional
        Distances (default: 61 values from 0 to 5).
    marks : sequence of (R_H, D, label)
        Points to mark on the map.
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib Figure
    G : ndarray, shape (len(D_grid), len(R_H_grid)), or None when the MAML objective is flat
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    R_H_grid = (
        np.logspace(np.log10(0.03), 1, 61)
        if R_H_grid is None
        else np.asarray(R_H_grid, float)
    )
    D_grid = np.linspace(0, 5, 61) if D_grid is None else np.asarray(D_grid, float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
    else:
        fig = ax.figure
    ax.set_xscale("log")
    ax.set_xlabel(r"hard-task spread $R_H$")
    ax.set_ylabel(r"center distance $D=\|c_H-c_E\|$")
    try:
        res = two_cluster(
            R_H_grid[None, :],
            D_grid[:, None],
            rho_H=rho_H,
            rho_E=rho_E,
            p_H=p_H,
            alpha=alpha,
            d=d,
            N=N,
            tau=tau,
            R_E=R_E,
        )
    except ValueError as exc:  # flat MAML objective: say so instead of failing
        ax.text(
            0.5,
            0.5,
            str(exc).split(";")[0],
            ha="center",
            va="center",
            wrap=True,
            transform=ax.transAxes,
        )
        return fig, None
    G = res.gain
    top = max(float(np.nanmax(G[np.isfinite(G)])), 1.01)
    mesh = ax.pcolormesh(
        R_H_grid,
        D_grid,
        np.minimum(G, top),
        norm=LogNorm(vmin=1, vmax=top),
        cmap="viridis",
        shading="nearest",
    )
    levels = [
        lv for lv in (1.1, 1.5, 2, 3, 5, 10, 30, 100, 300, 1000, 3000) if lv < top
    ]
    if levels:
        cs = ax.contour(
            R_H_grid, D_grid, G, levels=levels, colors="white", linewidths=0.7
        )
        ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=7)
    for r, dist, label in marks:
        right = r > np.sqrt(R_H_grid.min() * R_H_grid.max())
        ax.plot(
            [r], [dist], marker="o", ms=8, mfc="none", mec="red", mew=1.8, clip_on=False
        )
        ax.annotate(
            label,
            (r, dist),
            xytext=(-8 if right else 8, -14 if dist > D_grid.max() / 2 else 10),
            textcoords="offset points",
            ha="right" if right else "left",
            color="red",
            fontsize=8,
            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
        )
    cbar = fig.colorbar(mesh, ax=ax, label=r"relative gain $G$ (log scale)")
    ticks = [
        t for t in (1, 1.5, 2, 3, 5, 10, 30, 100, 300, 1000, 3000, 10000) if t <= top
    ]
    cbar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    cbar.minorticks_off()
    ax.set_title(
        rf"$\alpha$={alpha:g}, $\rho_H$={rho_H:g}, $\rho_E$={rho_E:g}, $p_H$={p_H:g}, $N$={N}:  "
        rf"$\omega_{{\rm ERM}}$={float(res.omega_erm.flat[0]):.2f}, "
        rf"$\omega_{{\rm MAML}}$={float(res.omega_maml.flat[0]):.2f}",
        fontsize=9,
    )
    return fig, G
