"""Closed forms for a general task mixture: the two minimizers, the post-adaptation loss and the
gain.

Chapter ``10_easy_and_hard_tasks``: the adaptation matrix ``A_j`` (eq. `eq-adaptation-matrix`), the
ERM and
MAML minimizers (eqs. `eq-erm-solution`, `eq-maml-solution`), the post-adaptation loss
(eq. `eq-post-adaptation-loss`) and the exact gain as a quadratic form (eq. `eq-gain-exact`).
Chapter ``11_maml_gain_samples_and_representations``: the same with one step on ``tau`` Gaussian
samples
(eqs. `eq-adaptation-matrix-tau`, `eq-noise-floor`).

Shapes: ``J`` clusters, ``d`` dimension; leading batch dimensions come first and broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import (
    as_array,
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_same,
)
from .model import METHODS, _check_mixture, _check_square, _check_tau, _check_tau_train

__all__ = [
    "adaptation_matrix",
    "noise_floor",
    "weighted_minimizer",
    "theta_erm",
    "theta_maml",
    "post_adaptation_loss",
    "erm_objective",
    "meta_hessian",
    "gain_quadratic_form",
    "Comparison",
    "compare_erm_maml",
]


def adaptation_matrix(Sigma, alpha, N=1, tau=None):
    """The matrix ``A`` of the post-adaptation loss of one task, ``E L(theta_N) = 1/2 e^T A e +
    const``.

    With the population gradient (``tau=None``), ``N`` steps of size ``alpha`` give
    ``A = (I - alpha Sigma)^N Sigma (I - alpha Sigma)^N`` (eq. `eq-adaptation-matrix`). With one
    step on
    ``tau`` Gaussian samples, ``A = (I - alpha Sigma) Sigma (I - alpha Sigma) + alpha^2/tau
    (Sigma^3 +
    tr(Sigma^2) Sigma)`` (eq. `eq-adaptation-matrix-tau`). ``N = 0`` gives ``A = Sigma`` (no
    adaptation).

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
    Sigma = _check_square("Sigma", as_array("Sigma", Sigma, min_ndim=2))
    alpha = check_positive_float("alpha", alpha)
    N = check_nonnegative_int("N", N)
    tau = _check_tau("tau", tau)
    if N == 0:
        return Sigma.copy()
    if np.isfinite(tau) and N > 1:
        raise ValueError(
            "the closed form with finite tau is derived for N = 1 only; use simulate_adaptation"
        )
    # region: adaptation-matrix
    d = Sigma.shape[-1]
    P = np.linalg.matrix_power(np.eye(d) - alpha * Sigma, N)
    A = P @ Sigma @ P
    # eq-adaptation-matrix-tau: the variance of a step on tau samples
    if np.isfinite(tau):
        S2 = Sigma @ Sigma
        trace = np.trace(S2, axis1=-2, axis2=-1)[..., None, None]
        A = A + alpha**2 / tau * (S2 @ Sigma + trace * Sigma)
    return A
    # endregion: adaptation-matrix


def noise_floor(Sigma, alpha, sigma, N=1, tau=None):
    """Label-noise part of the post-adaptation loss: ``alpha^2 sigma^2 tr(Sigma^2) / (2 tau)`` (eq.
    `eq-noise-floor`).

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
    Sigma = _check_square("Sigma", as_array("Sigma", Sigma, min_ndim=2))
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


def weighted_minimizer(A, mixture):
    """The minimizer ``(sum_j p_j A_j)^{-1} sum_j p_j A_j c_j`` of ``1/2 sum_j p_j (theta - c_j)^T
    A_j (theta - c_j)``.

    Both solutions of {prf:ref}`thm-erm-maml-solutions` have this form: ``A_j = Sigma_j`` gives
    ``theta_ERM`` (eq. `eq-erm-solution`), ``A_j`` of :func:`adaptation_matrix` gives ``theta_MAML``
    (eq. `eq-maml-solution`).

    Parameters
    ----------
    A : array_like, shape (J, d, d)
        One symmetric positive semi-definite weight matrix per cluster.
    mixture : TaskMixture
        Supplies the cluster probabilities ``p_j`` and centers ``c_j``.

    Returns
    -------
    theta : ndarray, shape (d,)

    Raises
    ------
    ValueError
        If ``sum_j p_j A_j`` is singular (the objective is flat in some direction).
    """
    mixture = _check_mixture(mixture)
    A = as_array("A", A, ndim=3)
    if A.shape != mixture.Sigma.shape:
        raise ValueError(
            f"A must have shape (J, d, d) = {mixture.Sigma.shape} to match mixture, got {A.shape}"
        )
    # region: weighted-minimizer
    A_bar = np.einsum("j,jde->de", mixture.weights, A)
    eig = np.linalg.eigvalsh(A_bar)
    if eig[0] <= 1e-14 * max(eig[-1], 1e-300):
        raise ValueError(
            "the objective is flat in some direction (every task is solved exactly by the inner "
            "steps there), so its minimizer is not unique; change alpha or the curvatures"
        )
    b = np.einsum("j,jde,je->d", mixture.weights, A, mixture.centers)
    return np.linalg.solve(A_bar, b)
    # endregion: weighted-minimizer


def theta_erm(mixture):
    """Minimizer of the ERM objective: ``(E Sigma_i)^{-1} E[Sigma_i theta_star_i]`` (eq.
    `eq-erm-solution`).

    Parameters
    ----------
    mixture : TaskMixture

    Returns
    -------
    theta : ndarray, shape (d,)
    """
    mixture = _check_mixture(mixture)
    return weighted_minimizer(mixture.Sigma, mixture)


def theta_maml(mixture, alpha, N=1, tau=None):
    """Minimizer of the MAML objective with ``N`` inner steps: ``(E A_i)^{-1} E[A_i theta_star_i]``
    (eq. `eq-maml-solution`).

    Parameters
    ----------
    mixture : TaskMixture
    alpha : float
        Inner step size.
    N : int
        Inner steps (``N = 0`` gives :func:`theta_erm`).
    tau : int or None
        Samples of the inner step during training (``None``: population gradient); see
        :func:`adaptation_matrix`.

    Returns
    -------
    theta : ndarray, shape (d,)
    """
    mixture = _check_mixture(mixture)
    return weighted_minimizer(adaptation_matrix(mixture.Sigma, alpha, N, tau), mixture)


def post_adaptation_loss(theta, mixture, alpha, N=1, tau=None, sigma=0.0):
    """Expected excess loss on a new task after ``N`` adaptation steps from ``theta`` (eq.
    `eq-post-adaptation-loss`).

    ``E(theta) = 1/2 sum_j p_j [ (theta - c_j)^T A_j (theta - c_j) + tr(A_j C_j) ] + sum_j p_j
    noise_j``,
    with ``A_j`` from :func:`adaptation_matrix` and ``noise_j`` from :func:`noise_floor`. With the
    training
    ``tau`` equal to the test ``tau``, this is also the MAML training objective, and with ``N = 0``
    the ERM
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
    """ERM objective ``F_ERM(theta) = E_i L_i(theta)``, the loss with no adaptation (eq.
    `eq-erm-objective`).

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
    """The exact gain ``E(theta_ERM) - E(theta_MAML) = 1/2 Delta^T (E A_i) Delta``, ``Delta =
    theta_ERM - theta_MAML``
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

    def __post_init__(self):
        theta_erm = as_array("theta_erm", self.theta_erm, ndim=1)
        theta_maml = as_array("theta_maml", self.theta_maml, ndim=1)
        check_same("d", "theta_erm", theta_erm.size, "theta_maml", theta_maml.size)
        check_nonnegative_float("loss_erm", self.loss_erm)
        check_nonnegative_float("loss_maml", self.loss_maml)

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
        Samples of MAML's inner step during training; ``"test"`` (default) uses ``tau``, ``None``
        the
        population gradient.
    sigma : float

    Returns
    -------
    Comparison
    """
    tau_train = _check_tau_train(tau_train, tau)
    th_e, th_m = theta_erm(mixture), theta_maml(mixture, alpha, N, tau_train)
    losses = post_adaptation_loss(np.stack([th_e, th_m]), mixture, alpha, N, tau, sigma)
    return Comparison(th_e, th_m, float(losses[0]), float(losses[1]))
