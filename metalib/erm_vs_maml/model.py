"""The task model of Part III (collins2020): mixtures of easy and hard linear-regression tasks.

Chapter ``10_easy_and_hard_tasks`` defines the model ({prf:ref}`def-task-mixture`). Task ``i``
draws inputs
``x ~ N(0, Sigma_i)`` and labels ``y = <theta_star_i, x> + sigma z``; its excess population loss is
``L_i(theta) = 1/2 (theta - theta_star_i)^T Sigma_i (theta - theta_star_i)`` (eq. `eq-excess-loss`;
the
constant ``sigma^2 / 2`` is dropped everywhere). A task distribution is a :class:`TaskMixture`: with
probability ``weights[j]`` a task belongs to cluster ``j``, whose tasks share the covariance
``Sigma[j]`` and
have optima ``theta_star = centers[j] + xi`` with ``E xi = 0`` and ``E xi xi^T = spread_cov[j]``.
Every
closed form depends on the optima only through these two moments. A finite set of tasks is the
special
case of zero spreads (:func:`empirical_mixture`).

This module also draws tasks (:func:`sample_tasks`) and Gaussian Gram matrices
(:func:`sample_gram_factor`,
eq. `eq-bartlett` of chapter ``11_maml_gain_samples_and_representations``), and holds the argument
checks
shared by the part's other modules.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..linalg import transpose
from ..validation import (
    as_array,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_rng,
    check_same,
)

__all__ = [
    "METHODS",
    "LABELS",
    "TaskMixture",
    "task_mixture",
    "empirical_mixture",
    "two_cluster_mixture",
    "sample_tasks",
    "sample_gram_factor",
]

#: the two training methods: ERM (no adaptation in training; NAL from v4 of collins2020) and MAML
METHODS = ("erm", "maml")
#: display names
LABELS = {"erm": "ERM", "maml": "MAML"}


def _check_tau(name, tau):
    """A sample size: a positive integer, or ``numpy.inf`` / ``None`` for the population
    gradient."""
    if tau is None or (
        isinstance(tau, numbers.Real) and not isinstance(tau, bool) and tau == np.inf
    ):
        return np.inf
    return float(check_positive_int(name, tau))


def _check_tau_train(tau_train, tau):
    """MAML's training sample size: ``"test"`` (the test-time ``tau``), ``None`` or a size."""
    if isinstance(tau_train, str):
        if tau_train != "test":
            raise ValueError(
                f'tau_train must be "test", None or a positive sample size, got {tau_train!r}'
            )
        return tau
    return tau_train


def _check_square(name, arr):
    if arr.shape[-1] != arr.shape[-2]:
        raise ValueError(
            f"{name} must be square in its last two dimensions, got shape {arr.shape}"
        )
    return arr


def _check_tau_array(name, tau):
    """Like :func:`_check_tau`, but an array of sample sizes (``inf`` allowed) is accepted too."""
    if tau is None:
        return np.inf
    try:
        arr = np.asarray(tau, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a sample size or an array of them, got {tau!r}"
        ) from exc
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


def _psd_factor(C):
    """A factor ``F`` with ``F F^T = C`` for a stack of PSD matrices (symmetric square root)."""
    lam, V = np.linalg.eigh(C)
    return (V * np.sqrt(np.clip(lam, 0, None))[..., None, :]) @ transpose(V)


@dataclass(frozen=True)
class TaskMixture:
    """A task distribution: cluster ``j`` has probability ``weights[j]``, input covariance
    ``Sigma[j]``,
    and optima ``theta_star = centers[j] + xi`` with ``E xi = 0``, ``E xi xi^T = spread_cov[j]``.

    Build it with :func:`task_mixture`, :func:`empirical_mixture` or :func:`two_cluster_mixture`,
    which
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

    def __post_init__(self):
        Sigma, centers = np.asarray(self.Sigma), np.asarray(self.centers)
        spread, weights = np.asarray(self.spread_cov), np.asarray(self.weights)
        if Sigma.ndim != 3 or Sigma.shape[1] != Sigma.shape[2]:
            raise ValueError(f"Sigma must have shape (J, d, d), got {Sigma.shape}")
        if centers.shape != Sigma.shape[:2]:
            raise ValueError(
                f"centers must have shape (J, d) = {Sigma.shape[:2]}, got {centers.shape}"
            )
        if spread.shape != Sigma.shape:
            raise ValueError(
                f"spread_cov must have the shape of Sigma {Sigma.shape}, got {spread.shape}"
            )
        if weights.shape != Sigma.shape[:1]:
            raise ValueError(
                f"weights must have shape (J,) = {Sigma.shape[:1]}, got {weights.shape}"
            )

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
    Sigma = as_array("Sigma", Sigma, ndim=3)
    check_same("n (number of tasks)", "Sigma", Sigma.shape[0], "theta_star", n)
    weights = np.full(n, 1.0 / n) if weights is None else weights
    return task_mixture(Sigma, theta_star, weights)


def two_cluster_mixture(d, rho_H, rho_E, p_H, R_H, R_E, D, basis=None):
    """The book's easy/hard mixture: isotropic curvatures and isotropic spreads.

    Hard tasks (probability ``p_H``) have ``Sigma = rho_H I_d`` and optima around ``c_H = D u``;
    easy tasks
    have ``Sigma = rho_E I_d`` and optima around ``c_E = 0``, so that ``||c_H - c_E|| = D``. The
    spread of
    cluster ``g`` has covariance ``(R_g^2 / k) P``, so ``E||theta_star - c_g||^2 = R_g^2``, where
    ``P`` is the
    projector onto the span of ``basis`` (``P = I_d``, ``k = d`` by default) and ``u`` is its first
    column.

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
        Orthonormal columns: the shared subspace of the optima (the representation case, chapter
        11).

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


def sample_tasks(rng, mixture, n):
    """Draw ``n`` tasks: a cluster ``j ~ weights`` and an optimum ``theta_star ~ N(c_j,
    spread_cov_j)``.

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
    rng = check_rng("rng", rng)
    mixture = _check_mixture(mixture)
    size = (
        (check_positive_int("n", n),)
        if not isinstance(n, tuple)
        else tuple(check_positive_int("n", s) for s in n)
    )
    cluster = rng.choice(mixture.J, size=size, p=mixture.weights)
    factor = _psd_factor(mixture.spread_cov)  # (J, d, d)
    z = rng.standard_normal((*size, mixture.d))
    xi = np.empty_like(z)
    for j in range(mixture.J):  # one matrix product per cluster, not one per task
        mask = cluster == j
        xi[mask] = z[mask] @ transpose(factor[j])
    return cluster, mixture.centers[cluster] + xi


def sample_gram_factor(rng, tau, d, size=()):
    """A factor ``S`` of a Gaussian Gram matrix: ``S S^T`` has the law of ``G^T G`` for ``G`` with
    ``tau x d``
    i.i.d. standard normal entries, and, for ``g ~ N(0, I_r)`` independent, ``(S S^T, S g)`` has
    the law of
    ``(G^T G, G^T z)`` with ``z ~ N(0, I_tau)``.

    For ``tau >= d`` the Bartlett decomposition is used (eq. `eq-bartlett`): ``S = L`` lower
    triangular with
    ``L_ii^2 ~ chi^2(tau - i + 1)`` and ``L_ij ~ N(0, 1)`` below the diagonal, so the cost does not
    grow with
    ``tau``. For ``tau < d``, ``S = G^T`` itself. Correct jointly because, given ``G``, ``G^T z ~
    N(0, G^T G)``
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
    rng = check_rng("rng", rng)
    if not isinstance(size, tuple):
        raise TypeError(
            f"size must be a tuple of batch sizes, got {type(size).__name__}"
        )
    size = tuple(check_positive_int("size", s) for s in size)
    tau, d = check_positive_int("tau", tau), check_positive_int("d", d)
    if tau < d:
        return transpose(rng.standard_normal((*size, tau, d)))
    L = np.zeros((*size, d, d))
    rows, cols = np.tril_indices(
        d, k=-1
    )  # only the entries below the diagonal are drawn
    L[..., rows, cols] = rng.standard_normal((*size, rows.size))
    idx = np.arange(d)
    L[..., idx, idx] = np.sqrt(rng.chisquare(tau - idx, size=(*size, d)))
    return L
