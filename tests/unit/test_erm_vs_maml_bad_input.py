"""Bad input to every public callable of metalib.erm_vs_maml: a ValueError or TypeError naming the
argument (wrong shape, negative or zero size, NaN, wrong type, unknown option), never numpy's error
or a silent NaN. The last test checks that every callable of ``__all__`` is covered."""

import numpy as np
from bad_input import bad_input_tests

from metalib import erm_vs_maml as em

MIX = em.two_cluster_mixture(3, 0.1, 0.9, 0.5, 0.1, 1.0, 2.0)
SIGMA2 = np.stack([np.eye(2)] * 2)
SAMPLE = em.AdaptationSample(np.ones((2, 5)), np.zeros(5, dtype=int))
TWO = dict(rho_H=0.1, rho_E=0.9, p_H=0.5, alpha=1.0, d=3)


def rng():
    return np.random.default_rng(0)


def sgd(**kw):
    args = dict(
        rng=rng(),
        methods=("maml",),
        mixture=MIX,
        alpha=1.0,
        beta=0.1,
        iterations=3,
        n=2,
        m_in=2,
        m_out=2,
    )
    return em.train_sgd(**(args | kw))


CASES = {
    "TaskMixture": [
        (
            lambda: em.TaskMixture(np.eye(2), np.zeros((2, 2)), SIGMA2, [0.5, 0.5]),
            "Sigma",
        ),
        (
            lambda: em.TaskMixture(SIGMA2, np.zeros((2, 3)), SIGMA2, [0.5, 0.5]),
            "centers",
        ),
        (lambda: em.TaskMixture(SIGMA2, np.zeros((2, 2)), SIGMA2, [0.5]), "weights"),
    ],
    "task_mixture": [
        (lambda: em.task_mixture(SIGMA2, np.zeros((2, 2)), [0.5, 0.6]), "weights"),
        (
            lambda: em.task_mixture(SIGMA2 * np.nan, np.zeros((2, 2)), [0.5, 0.5]),
            "Sigma",
        ),
        (lambda: em.task_mixture(SIGMA2, np.zeros((3, 2)), [0.5, 0.5]), "centers"),
        (lambda: em.task_mixture("a", np.zeros((2, 2)), [0.5, 0.5]), "Sigma"),
        (
            lambda: em.task_mixture(SIGMA2, np.zeros((2, 2)), [0.5, 0.5], -SIGMA2),
            "spread_cov",
        ),
    ],
    "empirical_mixture": [
        (lambda: em.empirical_mixture(SIGMA2, np.zeros(2)), "theta_star"),
        (lambda: em.empirical_mixture(SIGMA2, np.zeros((3, 2))), "theta_star"),
        (lambda: em.empirical_mixture(SIGMA2, np.zeros((2, 2)), [1.0, 1.0]), "weights"),
    ],
    "two_cluster_mixture": [
        (lambda: em.two_cluster_mixture(0, 0.1, 0.9, 0.5, 0.1, 1.0, 2.0), "d"),
        (lambda: em.two_cluster_mixture(3, np.nan, 0.9, 0.5, 0.1, 1.0, 2.0), "rho_H"),
        (lambda: em.two_cluster_mixture(3, 0.1, 0.9, 1.5, 0.1, 1.0, 2.0), "p_H"),
        (lambda: em.two_cluster_mixture(3, 0.1, 0.9, 0.5, -0.1, 1.0, 2.0), "R_H"),
        (lambda: em.two_cluster_mixture(3, 0.1, 0.9, 0.5, 0.1, 1.0, "far"), "D"),
        (
            lambda: em.two_cluster_mixture(
                3, 0.1, 0.9, 0.5, 0.1, 1.0, 2.0, np.ones((3, 2))
            ),
            "basis",
        ),
    ],
    "adaptation_matrix": [
        (lambda: em.adaptation_matrix(np.eye(2), -1.0), "alpha"),
        (lambda: em.adaptation_matrix(np.eye(2), 1.0, tau=0), "tau"),
        (lambda: em.adaptation_matrix(np.eye(2), 1.0, N=-1), "N"),
        (lambda: em.adaptation_matrix(np.ones(3), 1.0), "Sigma"),
        (lambda: em.adaptation_matrix(np.ones((2, 3)), 1.0), "Sigma"),
        (lambda: em.adaptation_matrix(np.eye(2), 1.0, N=2, tau=5), "N"),
    ],
    "noise_floor": [
        (lambda: em.noise_floor(np.eye(2), 1.0, -0.5, tau=5), "sigma"),
        (lambda: em.noise_floor(np.eye(2), np.nan, 0.5, tau=5), "alpha"),
        (lambda: em.noise_floor(np.ones((2, 3)), 1.0, 0.5, tau=5), "Sigma"),
        (lambda: em.noise_floor(np.eye(2), 1.0, 0.5, tau=2.5), "tau"),
    ],
    "weighted_minimizer": [
        (lambda: em.weighted_minimizer(np.ones((2, 3, 3)), "mix"), "mixture"),
        (lambda: em.weighted_minimizer(np.ones((2, 2, 2)), MIX), "A"),
        (lambda: em.weighted_minimizer(np.full((2, 3, 3), np.nan), MIX), "A"),
    ],
    "theta_erm": [(lambda: em.theta_erm(np.eye(3)), "mixture")],
    "theta_maml": [
        (lambda: em.theta_maml("not a mixture", 1.0), "mixture"),
        (lambda: em.theta_maml(MIX, 0.0), "alpha"),
        (lambda: em.theta_maml(MIX, 1.0, N=1.5), "N"),
    ],
    "post_adaptation_loss": [
        (lambda: em.post_adaptation_loss(np.zeros(2), MIX, 1.0), "theta"),
        (lambda: em.post_adaptation_loss(np.full(3, np.nan), MIX, 1.0), "theta"),
        (lambda: em.post_adaptation_loss(np.zeros(3), MIX, 1.0, sigma=-1.0), "sigma"),
    ],
    "erm_objective": [
        (lambda: em.erm_objective(np.zeros(4), MIX), "theta"),
        (lambda: em.erm_objective(np.zeros(3), None), "mixture"),
    ],
    "gain_quadratic_form": [
        (lambda: em.gain_quadratic_form(MIX, -1.0), "alpha"),
        (lambda: em.gain_quadratic_form(MIX, 1.0, tau=-3), "tau"),
    ],
    "Comparison": [
        (lambda: em.Comparison(np.zeros(3), np.zeros(2), 1.0, 1.0), "theta_maml"),
        (lambda: em.Comparison(np.zeros(3), np.zeros(3), np.nan, 1.0), "loss_erm"),
    ],
    "compare_erm_maml": [
        (lambda: em.compare_erm_maml(MIX, 1.0, tau_train="train"), "tau_train"),
        (lambda: em.compare_erm_maml(MIX, 1.0, tau=0), "tau"),
        (lambda: em.compare_erm_maml(MIX, 1.0, tau=10, sigma=np.nan), "sigma"),
    ],
    "meta_hessian": [
        (lambda: em.meta_hessian("anil", MIX, 1.0), "method"),
        (lambda: em.meta_hessian("maml", MIX, None), "alpha"),
    ],
    "inner_loop": [
        (lambda: em.inner_loop(np.zeros(3), MIX.Sigma, 1.0, 1), "e"),
        (lambda: em.inner_loop(np.zeros((2, 4)), MIX.Sigma, 1.0, 1), "e"),
        (lambda: em.inner_loop(np.zeros((2, 3)), MIX.Sigma, -1.0, 1), "alpha"),
        (lambda: em.inner_loop(np.zeros((2, 3)), MIX.Sigma, 1.0, -2), "N"),
    ],
    "meta_objective": [
        (lambda: em.meta_objective("reptile", np.zeros(3), MIX, 1.0), "method"),
        (lambda: em.meta_objective("maml", np.zeros(2), MIX, 1.0), "theta"),
        (lambda: em.meta_objective("maml", np.zeros(3), MIX, np.inf), "alpha"),
    ],
    "meta_gradient": [
        (lambda: em.meta_gradient("maml", np.zeros(3), MIX, 1.0, N=-1), "N"),
        (lambda: em.meta_gradient("maml", "x", MIX, 1.0), "theta"),
    ],
    "GDResult": [
        (lambda: em.GDResult(np.zeros(3), -1, 0.0, True), "iterations"),
        (lambda: em.GDResult(np.zeros(3), 3, np.nan, True), "grad_norm"),
    ],
    "fit_gradient_descent": [
        (lambda: em.fit_gradient_descent("erm", MIX, beta=0.0), "beta"),
        (lambda: em.fit_gradient_descent("erm", MIX, beta=1.0, tol=-1.0), "tol"),
        (lambda: em.fit_gradient_descent("erm", MIX, beta=1.0, max_iter=0), "max_iter"),
        (
            lambda: em.fit_gradient_descent("erm", MIX, beta=1.0, theta0=np.ones(2)),
            "theta0",
        ),
        (lambda: em.fit_gradient_descent("sgd", MIX, beta=1.0), "method"),
    ],
    "isotropic_weight": [
        (lambda: em.isotropic_weight(-0.1, 1.0, 3), "rho"),
        (lambda: em.isotropic_weight(0.1, np.nan, 3), "alpha"),
        (lambda: em.isotropic_weight(0.1, 1.0, 0), "d"),
        (lambda: em.isotropic_weight(0.1, 1.0, 3, tau=[5, -1]), "tau"),
        (lambda: em.isotropic_weight(0.1, 1.0, 3, N=2, tau=5), "N"),
    ],
    "isotropic_noise_floor": [
        (lambda: em.isotropic_noise_floor(0.1, 1.0, 3, sigma=-1.0), "sigma"),
        (lambda: em.isotropic_noise_floor(0.1, 1.0, 3.5, sigma=1.0), "d"),
        (lambda: em.isotropic_noise_floor([], 1.0, 3, sigma=1.0), "rho"),
    ],
    "TwoCluster": [
        (
            lambda: em.TwoCluster(np.zeros(2), np.zeros(3), np.ones(2), np.ones(2)),
            "omega_maml",
        ),
        (
            lambda: em.TwoCluster(np.zeros(2), np.zeros(2), -np.ones(2), np.ones(2)),
            "loss_erm",
        ),
    ],
    "two_cluster": [
        (lambda: em.two_cluster(0.1, 1.0, **(TWO | dict(p_H=1.0))), "p_H"),
        (lambda: em.two_cluster(-0.1, 1.0, **TWO), "R_H"),
        (lambda: em.two_cluster(0.1, np.nan, **TWO), "D"),
        (
            lambda: em.two_cluster(0.1, 1.0, **(TWO | dict(rho_H=1.0, rho_E=1.0))),
            "flat",
        ),
        (lambda: em.two_cluster(0.1, 1.0, tau=-2, **TWO), "tau"),
        (lambda: em.two_cluster(0.1, 1.0, tau_train=-2, **TWO), "tau_train"),
        (lambda: em.two_cluster(0.1, 1.0, tau_train="train", **TWO), "tau_train"),
        (lambda: em.two_cluster(0.1, 1.0, **(TWO | dict(alpha=-1.0))), "alpha"),
        (lambda: em.two_cluster(0.1, 1.0, sigma=-1.0, **TWO), "sigma"),
        (lambda: em.two_cluster(np.ones(2), np.ones(3), **TWO), "broadcast"),
    ],
    "sample_size_thresholds": [
        (lambda: em.sample_size_thresholds(0, 0.1, 0.9, 0.5, 1.0), "d"),
        (lambda: em.sample_size_thresholds(10, 0.1, 0.05, 0.5, 1.0), "rho_E"),
        (lambda: em.sample_size_thresholds(10, 0.1, 0.9, 1.0, 1.0), "p_H"),
        (lambda: em.sample_size_thresholds(10, 0.1, 0.9, 0.5, -1.0), "alpha"),
    ],
    "sample_tasks": [
        (lambda: em.sample_tasks(0, MIX, 5), "rng"),
        (lambda: em.sample_tasks(rng(), MIX, -5), "n"),
        (lambda: em.sample_tasks(rng(), "mix", 5), "mixture"),
    ],
    "sample_gram_factor": [
        (lambda: em.sample_gram_factor(rng(), 0, 3), "tau"),
        (lambda: em.sample_gram_factor(rng(), 5, -3), "d"),
        (lambda: em.sample_gram_factor(rng(), 5, 3, size=(-2,)), "size"),
        (lambda: em.sample_gram_factor(None, 5, 3), "rng"),
    ],
    "AdaptationSample": [
        (lambda: em.AdaptationSample(np.ones(5), np.zeros(5, dtype=int)), "losses"),
        (
            lambda: em.AdaptationSample(np.ones((2, 5)), np.zeros(4, dtype=int)),
            "cluster",
        ),
        (lambda: SAMPLE.ratio(0, 5), "b"),
        (lambda: SAMPLE.difference(-3, 1), "a"),
    ],
    "simulate_adaptation": [
        (lambda: em.simulate_adaptation(0, np.zeros(3), MIX, 1.0, 10), "rng"),
        (lambda: em.simulate_adaptation(rng(), np.zeros(2), MIX, 1.0, 10), "thetas"),
        (lambda: em.simulate_adaptation(rng(), np.zeros(3), MIX, 1.0, 0), "n_tasks"),
        (
            lambda: em.simulate_adaptation(rng(), np.zeros(3), MIX, 1.0, 10, tau=-1),
            "tau",
        ),
        (
            lambda: em.simulate_adaptation(
                rng(), np.zeros(3), MIX, 1.0, 10, sigma=np.nan
            ),
            "sigma",
        ),
        (
            lambda: em.simulate_adaptation(
                rng(), np.zeros(3), MIX, 1.0, 10, basis=np.ones((3, 2))
            ),
            "basis",
        ),
        (
            lambda: em.simulate_adaptation(rng(), np.zeros(3), MIX, 1.0, 10, chunk=0),
            "chunk",
        ),
    ],
    "SGDRun": [
        (
            lambda: em.SGDRun(
                ("maml",), np.zeros((2, 1, 3)), np.zeros((1, 1, 3)), [0], [], []
            ),
            "theta_avg",
        ),
        (lambda: sgd().series("erm"), "method"),
    ],
    "train_sgd": [
        (lambda: sgd(rng=0), "rng"),
        (lambda: sgd(methods="maml"), "methods"),
        (lambda: sgd(methods=("anil",)), "method"),
        (lambda: sgd(methods=()), "methods"),
        (lambda: sgd(beta=-1.0), "beta"),
        (lambda: sgd(iterations=0), "iterations"),
        (lambda: sgd(m_in=0), "m_in"),
        (lambda: sgd(n=-1), "n"),
        (lambda: sgd(theta0=np.zeros(2)), "theta0"),
        (lambda: sgd(average_from=1.0), "average_from"),
        (lambda: sgd(sigma=np.nan), "sigma"),
    ],
}


test_bad_input_names_the_argument, test_every_callable_is_covered = bad_input_tests(
    CASES, em
)
