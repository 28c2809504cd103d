"""Bad input to every public callable of metalib.overparam: a ValueError or TypeError naming the
argument (wrong shape, negative or zero size, NaN, wrong type, unknown option, incompatible
shapes), never numpy's error or a silent NaN. The last test checks that every callable of
``__all__`` is covered."""

import math

import numpy as np
from bad_input import bad_input_tests

from metalib import overparam as op
from metalib.subspace import random_orthonormal

D, K, KW = 6, 2, 3
B_STAR = random_orthonormal(D, K, np.random.default_rng(0))
COV = np.diag([1.0, 2.0])
B = np.random.default_rng(1).standard_normal((D, KW))
W = np.ones(KW)
X, Y = np.ones((4, 3, D)), np.ones((4, 3))
HEADS, REGRESSORS, L = np.ones((4, KW)), np.ones((4, D)), np.ones((KW, K))
NAN = np.nan


def rng():
    return np.random.default_rng(0)


def update(**kw):
    args = dict(B=B, w=W, alpha=0.1, B_star=B_STAR, head_cov=COV, m_in=3, sigma=0.5)
    return op.expected_fo_anil_update(**(args | kw))


def task_updates(**kw):
    args = dict(B=B, w=W, alpha=0.1, X_in=X, y_in=Y, regressors=REGRESSORS)
    return op.fo_anil_task_updates(**(args | kw))


def sampled_update(**kw):
    args = dict(
        rng=rng(), B=B, w=W, alpha=0.1, B_star=B_STAR, head_cov=COV, m_in=3, n_tasks=10
    )
    return op.sampled_fo_anil_update(**(args | kw))


def risk(**kw):
    args = dict(B=B, step=0.1, B_star=B_STAR, head_cov=COV, tau=3)
    return op.one_step_excess_risk(**(args | kw))


def sampled_risk(**kw):
    args = dict(
        rng=rng(), B=B, step=0.1, B_star=B_STAR, head_cov=COV, tau=3, n_tasks=10
    )
    return op.sampled_one_step_risk(**(args | kw))


def widen(**kw):
    args = dict(B_star=B_STAR, head_cov=COV, m_in=3, alpha=0.1, extra=1, rho=1.0)
    return op.width_penalty_representation(**(args | kw))


def fo_run(**kw):
    args = dict(
        B0=B, alpha=0.1, beta=0.1, B_star=B_STAR, head_cov=COV, m_in=3, iterations=5
    )
    return op.train_expected_fo_anil(**(args | kw))


def mtl_run(**kw):
    args = dict(B0=B, alpha=0.1, beta=0.1, B_star=B_STAR, head_cov=COV, iterations=5)
    return op.train_multitask(**(args | kw))


def trajectory(**kw):
    R = 3
    args = dict(
        iterations=np.arange(R),
        perp_norm=np.ones(R),
        singular_values=np.ones((R, KW)),
        head_norm=np.ones(R),
        gram_error=np.ones(R),
        stopped_at=-1,
        B=B,
        head=W,
        B_history=np.ones((R, D, KW)),
        B_star=B_STAR,
    )
    return op.OverparamTrajectory(**(args | kw))


CASES = {
    "sample_covariance_moment": [
        (lambda: op.sample_covariance_moment(np.ones(3), 2), "A"),
        (lambda: op.sample_covariance_moment(np.ones((2, 3)), 2), "A"),
        (lambda: op.sample_covariance_moment(np.full((2, 2), NAN), 2), "A"),
        (lambda: op.sample_covariance_moment("A", 2), "A"),
        (lambda: op.sample_covariance_moment(np.eye(2), 0), "m"),
        (lambda: op.sample_covariance_moment(np.eye(2), -3), "m"),
        (lambda: op.sample_covariance_moment(np.eye(2), "many"), "m"),
    ],
    "split_representation": [
        (lambda: op.split_representation(np.ones(D), B_STAR), "B"),
        (lambda: op.split_representation(np.ones((5, KW)), B_STAR), "B_star"),
        (lambda: op.split_representation(B, np.ones((D, K))), "B_star"),
        (lambda: op.split_representation(B, B_STAR * NAN), "B_star"),
        (lambda: op.split_representation(B, np.eye(2, 3)), "B_star"),
    ],
    "expected_fo_anil_update": [
        (lambda: update(w=np.ones(2)), "w"),
        (lambda: update(w=np.ones((3, KW)), B=np.stack([B, B])), "w"),
        (lambda: update(alpha=-0.1), "alpha"),
        (lambda: update(alpha=NAN), "alpha"),
        (lambda: update(head_cov=np.eye(3)), "head_cov"),
        (lambda: update(head_cov=np.array([[1.0, 1.0], [0.0, 1.0]])), "head_cov"),
        (lambda: update(head_cov=-COV), "head_cov"),
        (lambda: update(m_in=0), "m_in"),
        (lambda: update(m_in=2.5), "m_in"),
        (lambda: update(m_in="infinity"), "m_in"),
        (lambda: update(sigma=-1.0), "sigma"),
        (lambda: update(sigma="noisy"), "sigma"),
        (lambda: update(B="B"), "B"),
        (lambda: update(B=B * NAN), "B"),
        (lambda: update(m_out=5), "m_out"),
    ],
    "frozen_objective": [
        (lambda: op.frozen_objective(np.stack([B, B]), W, 0.1, B_STAR, COV, 3), "B"),
        (lambda: op.frozen_objective(B, W, 0.1, B_STAR, COV, 0), "m_in"),
        (lambda: op.frozen_objective(B, W, 0.0, B_STAR, COV, 3), "alpha"),
        (
            lambda: op.frozen_objective(B, W, 0.1, B_STAR, COV, 3)(np.ones((2, 2)), W),
            "B_v",
        ),
        (lambda: op.frozen_objective(B, W, 0.1, B_STAR, COV, 3)(B, np.ones(2)), "w_v"),
        (lambda: op.frozen_objective(B, W, 0.1, B_STAR, COV, 3)(B, W * NAN), "w_v"),
    ],
    "expected_anil_loss": [
        (lambda: op.expected_anil_loss(B, W, 0.1, B_STAR, COV, -3), "m_in"),
        (lambda: op.expected_anil_loss(B, np.ones(4), 0.1, B_STAR, COV, 3), "w"),
        (lambda: op.expected_anil_loss(B, W, 0.1, B_STAR, COV, 3, NAN), "sigma"),
        (lambda: op.expected_anil_loss(B, W, 0.1, B_STAR, "cov", 3), "head_cov"),
    ],
    "fo_anil_task_updates": [
        (lambda: task_updates(X_in=np.ones((3, D))), "X_in"),
        (lambda: task_updates(X_in=np.ones((4, 3, 5))), "X_in"),
        (lambda: task_updates(y_in=np.ones((4, 2))), "y_in"),
        (lambda: task_updates(y_in=Y * NAN), "y_in"),
        (lambda: task_updates(regressors=None), "regressors"),
        (lambda: task_updates(regressors=None, X_out=X), "y_out"),
        (lambda: task_updates(regressors=np.ones((3, D))), "regressors"),
        (
            lambda: task_updates(
                regressors=None, X_out=np.ones((2, 3, D)), y_out=np.ones((2, 3))
            ),
            "X_out",
        ),
        (lambda: task_updates(B=np.stack([B, B])), "B"),
        (lambda: task_updates(w=np.ones((2, KW))), "w"),
        (lambda: task_updates(alpha="big"), "alpha"),
    ],
    "sampled_fo_anil_update": [
        (lambda: sampled_update(rng=0), "rng"),
        (lambda: sampled_update(m_in=math.inf), "m_in"),
        (lambda: sampled_update(m_out=0), "m_out"),
        (lambda: sampled_update(n_tasks=1), "n_tasks"),
        (lambda: sampled_update(n_tasks=-5), "n_tasks"),
        (lambda: sampled_update(chunk=0), "chunk"),
        (lambda: sampled_update(alpha="a"), "alpha"),
        (lambda: sampled_update(B=np.stack([B, B])), "B"),
        (lambda: sampled_update(sigma=NAN), "sigma"),
        (lambda: sampled_update(directions=np.ones((2, 3, 3))), "directions"),
        (lambda: sampled_update(directions=np.full((1, D, KW), NAN)), "directions"),
    ],
    "optimal_head_preconditioner": [
        (lambda: op.optimal_head_preconditioner(COV, 0), "tau"),
        (lambda: op.optimal_head_preconditioner(COV, "3"), "tau"),
        (lambda: op.optimal_head_preconditioner(np.ones(2), 3), "head_cov"),
        (lambda: op.optimal_head_preconditioner(COV, 3, NAN), "sigma"),
    ],
    "one_step_excess_risk": [
        (lambda: risk(step=-1.0), "step"),
        (lambda: risk(step=NAN), "step"),
        (lambda: risk(step=np.array([0.1, NAN])), "step"),
        (lambda: risk(step="big"), "step"),
        (lambda: risk(tau=[3, 0]), "tau"),
        (lambda: risk(tau=[]), "tau"),
        (lambda: risk(tau=math.inf), "tau"),
        (lambda: risk(tau=[3, 4], B=np.stack([B, B, B])), "tau"),
        (lambda: risk(tau=[3, 4], step=np.ones(3)), "step"),
        (lambda: risk(w=np.ones(2)), "w"),
        (lambda: risk(B=np.ones((5, KW))), "B_star"),
    ],
    "best_one_step_size": [
        (lambda: op.best_one_step_size(B, B_STAR, COV, 0), "tau"),
        (lambda: op.best_one_step_size(np.zeros((D, KW)), B_STAR, COV, 3), "B"),
        (lambda: op.best_one_step_size(B, B_STAR, COV, 3, w=np.full(KW, NAN)), "w"),
        (lambda: op.best_one_step_size(B, B_STAR, COV, 3, sigma=-2.0), "sigma"),
    ],
    "oracle_one_step_risk": [
        (lambda: op.oracle_one_step_risk(COV, -2), "tau"),
        (lambda: op.oracle_one_step_risk(COV, 2.5), "tau"),
        (lambda: op.oracle_one_step_risk(np.ones((2, 3)), 2), "head_cov"),
        (lambda: op.oracle_one_step_risk(COV, None), "tau"),
    ],
    "sampled_one_step_risk": [
        (lambda: sampled_risk(rng=None), "rng"),
        (lambda: sampled_risk(tau=0), "tau"),
        (lambda: sampled_risk(n_tasks=0), "n_tasks"),
        (lambda: sampled_risk(n_tasks=1), "n_tasks"),
        (lambda: sampled_risk(step=-0.1), "step"),
        (lambda: sampled_risk(w=np.ones(5)), "w"),
        (lambda: sampled_risk(B=np.stack([B, B])), "B"),
    ],
    "multitask_objective": [
        (lambda: op.multitask_objective(B, np.ones((4, 2)), REGRESSORS), "W"),
        (lambda: op.multitask_objective(B, HEADS, np.ones((4, 5))), "regressors"),
        (lambda: op.multitask_objective(B, HEADS), "regressors"),
        (lambda: op.multitask_objective(B, HEADS, X=np.ones((4, 3, 5)), y=Y), "X"),
        (lambda: op.multitask_objective(B, HEADS, X=X[:3], y=Y[:3]), "X"),
        (lambda: op.multitask_objective(B, HEADS, X=X, y=np.ones((4, 2))), "y"),
        (lambda: op.multitask_objective(B, HEADS, X=X), "y"),
        (lambda: op.multitask_objective(B, HEADS * NAN, REGRESSORS), "W"),
    ],
    "multitask_gradients": [
        (lambda: op.multitask_gradients(np.ones(D), HEADS, REGRESSORS), "B"),
        (lambda: op.multitask_gradients(B, "W", REGRESSORS), "W"),
        (lambda: op.multitask_gradients(B, HEADS, REGRESSORS * NAN), "regressors"),
    ],
    "expected_multitask_objective": [
        (lambda: op.expected_multitask_objective(B, np.ones((2, 2)), B_STAR, COV), "L"),
        (lambda: op.expected_multitask_objective(B, L * NAN, B_STAR, COV), "L"),
        (lambda: op.expected_multitask_objective(B, L, B_STAR, np.eye(3)), "head_cov"),
    ],
    "expected_multitask_update": [
        (lambda: op.expected_multitask_update(B, "L", B_STAR, COV), "L"),
        (
            lambda: op.expected_multitask_update(
                np.stack([B, B]), np.ones((3, KW, K)), B_STAR, COV
            ),
            "L",
        ),
    ],
    "fixed_point_gram": [
        (lambda: op.fixed_point_gram(0.0, COV, 3), "alpha"),
        (lambda: op.fixed_point_gram(0.1, COV, "3"), "m_in"),
        (lambda: op.fixed_point_gram(0.1, COV, 0), "m_in"),
        (lambda: op.fixed_point_gram(0.1, -COV, 3), "head_cov"),
    ],
    "inner_noise": [
        (lambda: op.inner_noise(COV, 0), "m_in"),
        (lambda: op.inner_noise(COV * NAN, 3), "head_cov"),
        (lambda: op.inner_noise(COV, 3, sigma=-1.0), "sigma"),
    ],
    "unlearning_law": [
        (lambda: op.unlearning_law([-1, 2], 0.1, 0.1, 1.0), "t"),
        (lambda: op.unlearning_law("t", 0.1, 0.1, 1.0), "t"),
        (lambda: op.unlearning_law([NAN], 0.1, 0.1, 1.0), "t"),
        (lambda: op.unlearning_law([], 0.1, 0.1, 1.0), "t"),
        (lambda: op.unlearning_law([[1, 2], [3]], 0.1, 0.1, 1.0), "t"),
        (lambda: op.unlearning_law([1, 2], 0.1, 0.1, 0.0), "nu"),
        (lambda: op.unlearning_law([1, 2], 0.1, -0.1, 1.0), "beta"),
        (lambda: op.unlearning_law([1, 2], 0.1, 0.1, 1.0, start=-1.0), "start"),
        (lambda: op.unlearning_law([1, 2], 0.1, 0.1, 1.0, start=[1.0, 2, 3]), "start"),
    ],
    "frozen_kernel_floor": [
        (lambda: op.frozen_kernel_floor(3, 2, 0.1), "k_width"),
        (lambda: op.frozen_kernel_floor(0, 2, 0.1), "k"),
        (lambda: op.frozen_kernel_floor(2.0, 4, 0.1), "k"),
        (lambda: op.frozen_kernel_floor(2, -4, 0.1), "k_width"),
        (lambda: op.frozen_kernel_floor(2, 4, -0.1), "alpha"),
    ],
    "width_penalty_representation": [
        (lambda: widen(extra=10), "extra"),
        (lambda: widen(extra=-1), "extra"),
        (lambda: widen(extra=1.5), "extra"),
        (lambda: widen(rho=-1.0), "rho"),
        (lambda: widen(m_in=0), "m_in"),
        (lambda: widen(head_cov=np.eye(3)), "head_cov"),
        (lambda: widen(B_star=np.ones((D, K))), "B_star"),
    ],
    "train_expected_fo_anil": [
        (lambda: fo_run(iterations=0), "iterations"),
        (lambda: fo_run(iterations=5.0), "iterations"),
        (lambda: fo_run(beta=NAN), "beta"),
        (lambda: fo_run(w0=np.ones((2, KW))), "w0"),
        (lambda: fo_run(w0=np.ones(2)), "w0"),
        (lambda: fo_run(record=[7]), "record"),
        (lambda: fo_run(record=[-1]), "record"),
        (lambda: fo_run(record="all"), "record"),
        (lambda: fo_run(record=[2.5]), "record"),
        (lambda: fo_run(record=[NAN]), "record"),
        (lambda: fo_run(B0=B * NAN), "B0"),
        (lambda: fo_run(B0=np.ones(D)), "B0"),
        (lambda: fo_run(m_in="infinity"), "m_in"),
        (lambda: fo_run(method="exact"), "method"),
    ],
    "train_multitask": [
        (lambda: mtl_run(iterations=-1), "iterations"),
        (lambda: mtl_run(alpha="x"), "alpha"),
        (lambda: mtl_run(B0=np.ones(D)), "B0"),
        (lambda: mtl_run(B0=np.ones((5, KW))), "B0"),
        (lambda: mtl_run(record=[]), "record"),
        (lambda: mtl_run(m_in=5), "m_in"),
    ],
    "OverparamTrajectory": [
        (lambda: trajectory(perp_norm=np.ones(2)), "perp_norm"),
        (lambda: trajectory(iterations=np.array([0, 2, 1])), "iterations"),
        (lambda: trajectory(iterations=np.array([0.0, 1.0, 2.0])), "iterations"),
        (lambda: trajectory(stopped_at=0.5), "stopped_at"),
        (lambda: trajectory(singular_values=np.ones((3, 2))), "singular_values"),
        (lambda: trajectory(B_history=np.ones((2, D, KW))), "B_history"),
        (lambda: trajectory(B="B"), "B"),
        (lambda: trajectory(B_star=np.ones((D, K))), "B_star"),
        (lambda: trajectory(params=[1]), "params"),
    ],
}


# the finite-task experiment's names have their own cases in test_overparam_finite.py
test_bad_input_names_the_argument, test_every_callable_is_covered = bad_input_tests(
    CASES, op, exclude=op.finite_tasks.__all__, whole_word=True
)
