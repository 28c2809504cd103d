"""The isotropic two-cluster mixture in scalar closed form, vectorized over parameter grids.

Chapter ``10_easy_and_hard_tasks``: the isotropic weight (eq. `eq-iso-weight`), the positions of
the two
solutions on the segment between the centers (eq. `eq-two-cluster-omega`), the post-adaptation loss
there
(eq. `eq-two-cluster-loss`) and the relative gain (eq. `eq-two-cluster-gain`). Chapter
``11_maml_gain_samples_and_representations``: the same with ``tau`` samples (eqs.
`eq-iso-weight-tau`,
`eq-noise-floor`), which also gives the representation case with ``d`` replaced by ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import (
    check_in_range,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)
from .model import (
    _check_tau_array,
    _check_tau_train,
    _nonnegative_array,
    _positive_array,
)

__all__ = [
    "isotropic_weight",
    "isotropic_noise_floor",
    "TwoCluster",
    "two_cluster",
    "sample_size_thresholds",
]


def isotropic_weight(rho, alpha, d, N=1, tau=None):
    """Scalar weight ``a`` with ``A = a I`` for ``Sigma = rho I_d`` (eqs. `eq-iso-weight`,
    `eq-iso-weight-tau`).

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
    """``alpha^2 sigma^2 d rho^2 / (2 tau)`` for ``Sigma = rho I_d`` (eq. `eq-noise-floor`); 0 if
    ``N = 0`` or ``tau = inf``.

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

    def __post_init__(self):
        shape = np.shape(self.omega_erm)
        for name in ("omega_maml", "loss_erm", "loss_maml"):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(
                    f"{name} must have the shape of omega_erm {shape}, "
                    f"got {np.shape(getattr(self, name))}"
                )
        for name in ("loss_erm", "loss_maml"):
            value = np.asarray(getattr(self, name), dtype=float)
            if np.any(np.isnan(value)) or np.any(value < 0):
                raise ValueError(f"{name} must hold non-negative losses")

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
    """ERM and MAML on the isotropic two-cluster mixture, in closed form and broadcast over all
    array arguments.

    Both solutions lie on the segment between the centers, at ``omega = p_H w_H / (p_H w_H + p_E
    w_E)`` with
    ``w = rho`` for ERM and ``w = a(rho)`` (:func:`isotropic_weight`) for MAML (eq.
    `eq-two-cluster-omega`);
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
    tau_train = _check_tau_train(tau_train, tau)
    if tau_train is not tau:
        tau_train = _check_tau_array("tau_train", tau_train)
    sigma = check_nonnegative_float("sigma", sigma)
    alpha = _positive_array("alpha", alpha)
    named = dict(R_H=R_H, D=D, R_E=R_E, p_H=p_H, rho_H=rho_H, rho_E=rho_E, alpha=alpha)
    named |= dict(tau=np.asarray(tau), tau_train=np.asarray(tau_train))
    try:
        np.broadcast(*named.values())
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in named.items())
        raise ValueError(
            f"the array arguments must broadcast together; got {shapes}"
        ) from None
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


def sample_size_thresholds(d, rho_H, rho_E, p_H, alpha):
    """The sample sizes of {prf:ref}`prop-three-sample-sizes` for the two-cluster mixture, one step.

    With ``kappa = alpha (rho_H + rho_E)``, ``b_g = (1 - alpha rho_g)^2`` and
    ``v_g = alpha^2 rho_g^2 (d + 1)``:

    * ``tau_0 = (d + 1) kappa / (2 - kappa)``, where sample-aware MAML ties with ERM (eq.
    `eq-tau-zero`);
    * ``tau_cross``, above which population-trained MAML beats ERM (eq. `eq-tau-cross`), with the
      midpoint ``omega_mid = (omega_MAML(inf) + omega_ERM) / 2`` of the segment;
    * ``tau_star = (d + 1) alpha^2 rho_E^2 / (1 - alpha rho_E)^2`` (eq. `eq-tau-star`).

    Parameters
    ----------
    d : int
        Dimension of the adaptation space (``k`` in the representation case).
    rho_H, rho_E : float
        Curvatures, ``0 < rho_H < rho_E < 1 / alpha``.
    p_H : float in (0, 1)
    alpha : float

    Returns
    -------
    dict with keys ``tau_0``, ``tau_cross``, ``tau_star``, ``omega_mid``
    """
    d = check_positive_int("d", d)
    alpha = check_positive_float("alpha", alpha)
    rho_H = check_positive_float("rho_H", rho_H)
    rho_E = check_in_range("rho_E", rho_E, rho_H, 1 / alpha)
    if rho_E == rho_H or alpha * rho_E == 1:
        raise ValueError(
            f"rho_E must lie strictly between rho_H={rho_H:g} and 1/alpha={1 / alpha:g}, "
            f"got {rho_E:g}"
        )
    p_H = check_in_range("p_H", p_H, 0, 1)
    if p_H in (0.0, 1.0):
        raise ValueError(f"p_H must lie in (0, 1), got {p_H!r}")
    p_E = 1 - p_H
    kappa = alpha * (rho_H + rho_E)
    b_H, b_E = (1 - alpha * rho_H) ** 2, (1 - alpha * rho_E) ** 2
    v_H, v_E = (alpha**2 * r**2 * (d + 1) for r in (rho_H, rho_E))
    omega_erm = p_H * rho_H / (p_H * rho_H + p_E * rho_E)
    omega_pop = p_H * rho_H * b_H / (p_H * rho_H * b_H + p_E * rho_E * b_E)
    mid = 0.5 * (omega_erm + omega_pop)
    tau_cross = (p_E * rho_E * mid * v_E - p_H * rho_H * (1 - mid) * v_H) / (
        p_H * rho_H * (1 - mid) * b_H - p_E * rho_E * mid * b_E
    )
    return dict(
        tau_0=(d + 1) * kappa / (2 - kappa),
        tau_cross=float(tau_cross),
        tau_star=(d + 1) * alpha**2 * rho_E**2 / b_E,
        omega_mid=float(mid),
    )
