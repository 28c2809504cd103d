"""Bad input to every public callable of metalib.linrep: a ValueError or TypeError naming the
argument (wrong shape, negative or zero size, NaN, wrong type, unknown option, incompatible
shapes), never numpy's error, a numpy warning or a silent NaN. The last test checks that every
callable of ``linrep.__all__`` is covered."""

import numpy as np
from bad_input import bad_input_tests

from metalib import linrep, random_orthonormal

D, K, N = 8, 2, 3
B_STAR = random_orthonormal(D, K, np.random.default_rng(0))
B = 2.0 * B_STAR + 0.1
W = np.ones(K)
HEADS = np.ones((N, K))
X = np.random.default_rng(1).standard_normal((N, 4, D))
Y = np.ones((N, 4))
B_STARS = random_orthonormal(D, K, np.random.default_rng(2), size=2)
B0S = linrep.initial_representation(B_STARS, 0.1, np.random.default_rng(3), dist0=0.5)
NAN = np.nan


def rng():
    return np.random.default_rng(0)


def gradient(**kw):
    args = dict(method="exact_anil", B=B, w=W, B_star=B_STAR, heads=HEADS, alpha=0.1)
    return linrep.population_meta_gradient(**(args | kw))


def loss(**kw):
    args = dict(method="exact_maml", B=B, w=W, B_star=B_STAR, heads=HEADS, alpha=0.1)
    return linrep.population_meta_loss(**(args | kw))


def sample_gradient(**kw):
    args = dict(method="fo_maml", B=B, w=W, X_in=X, y_in=Y, X_out=X, y_out=Y, alpha=0.1)
    return linrep.sample_meta_gradient(**(args | kw))


def sample_loss(**kw):
    args = dict(
        method="avg_loss", B=B, w=W, X_in=X, y_in=Y, X_out=X, y_out=Y, alpha=0.1
    )
    return linrep.sample_meta_loss(**(args | kw))


def reference(**kw):
    args = dict(method="fo_anil", B=B, w=W, B_star=B_STAR, heads=HEADS, alpha=0.1)
    return linrep.first_order_reference(**(args | kw))


def train(**kw):
    args = dict(
        methods=("fo_anil", "avg_loss"),
        B_star=B_STARS,
        B0=B0S,
        alpha=0.1,
        beta=0.1,
        iterations=3,
        rng=rng(),
        n=2,
    )
    return linrep.train(**(args | kw))


def trajectory(**kw):
    M, T, R = 1, 2, 3
    args = dict(
        methods=("fo_anil",),
        iterations=np.arange(R),
        dist=np.ones((M, T, R)),
        conditioning=np.ones((M, T, R)),
        head_norm=np.ones((M, T, R)),
        stopped_at=np.full((M, T), -1),
        B=np.ones((M, T, D, K)),
        w=np.ones((M, T, K)),
    )
    return linrep.Trajectory(**(args | kw))


def with_nan(a):
    a = np.array(a, dtype=float)
    a.flat[0] = NAN
    return a


CASES = {
    "head_scales": [
        (lambda: linrep.head_scales(0), "k"),
        (lambda: linrep.head_scales(-2), "k"),
        (lambda: linrep.head_scales(2.5), "k"),
        (lambda: linrep.head_scales("3"), "k"),
        (lambda: linrep.head_scales(3, mu=NAN), "mu"),
        (lambda: linrep.head_scales(3, mu=0.0), "mu"),
        (lambda: linrep.head_scales(3, mu="high"), "mu"),
    ],
    "sample_heads": [
        (lambda: linrep.sample_heads(0, [1.0, 1.0], (3,)), "rng"),
        (lambda: linrep.sample_heads(rng(), [1.0, NAN], (3,)), "scales"),
        (lambda: linrep.sample_heads(rng(), [1.0, -1.0], (3,)), "scales"),
        (lambda: linrep.sample_heads(rng(), 1.0, (3,)), "scales"),
        (lambda: linrep.sample_heads(rng(), np.ones((2, 2)), (3, 4)), "scales"),
        (lambda: linrep.sample_heads(rng(), [1.0, 1.0], (-3,)), "size"),
        (lambda: linrep.sample_heads(rng(), [1.0, 1.0], (0,)), "size"),
        (lambda: linrep.sample_heads(rng(), [1.0, 1.0], "3"), "size"),
    ],
    "sample_task_data": [
        (lambda: linrep.sample_task_data(1, B_STAR, HEADS, 4), "rng"),
        (lambda: linrep.sample_task_data(rng(), B_STAR, np.ones((3, 3)), 4), "heads"),
        (lambda: linrep.sample_task_data(rng(), np.ones(D), HEADS, 4), "B_star"),
        (lambda: linrep.sample_task_data(rng(), with_nan(B_STAR), HEADS, 4), "B_star"),
        (lambda: linrep.sample_task_data(rng(), B_STAR, HEADS, 0), "m"),
        (lambda: linrep.sample_task_data(rng(), B_STAR, HEADS, -1), "m"),
        (lambda: linrep.sample_task_data(rng(), B_STAR, HEADS, 4, sigma=-1.0), "sigma"),
        (lambda: linrep.sample_task_data(rng(), B_STAR, HEADS, 4, sigma="x"), "sigma"),
        (
            lambda: linrep.sample_task_data(rng(), B_STARS, np.ones((3, N, K)), 4),
            "B_star",
        ),
    ],
    "initial_representation": [
        (lambda: linrep.initial_representation(B_STAR, 0.1, rng(), dist0=1.5), "dist0"),
        (lambda: linrep.initial_representation(B_STAR, 0.1, rng(), dist0=NAN), "dist0"),
        (lambda: linrep.initial_representation(B_STAR, -0.1, rng()), "alpha"),
        (lambda: linrep.initial_representation(B, 0.1, rng()), "B_star"),
        (
            lambda: linrep.initial_representation(B_STAR, 0.1, rng(), k_width=1),
            "k_width",
        ),
        (
            lambda: linrep.initial_representation(B_STAR, 0.1, rng(), k_width=9),
            "k_width",
        ),
        (lambda: linrep.initial_representation(B_STAR, 0.1, 5), "rng"),
        (lambda: linrep.initial_representation(np.ones((2, 3)), 0.1, rng()), "B_star"),
        (lambda: linrep.initial_representation("B", 0.1, rng()), "B_star"),
        (
            lambda: linrep.initial_representation(
                random_orthonormal(3, 2, rng()), 0.1, rng(), dist0=0.5
            ),
            "dist0",
        ),
    ],
    "population_meta_gradient": [
        (lambda: gradient(method="maml"), "method"),
        (lambda: gradient(method=3), "method"),
        (lambda: gradient(w=np.ones(3)), "w"),
        (lambda: gradient(w=with_nan(W)), "w"),
        (lambda: gradient(heads=np.full((N, K), np.inf)), "heads"),
        (lambda: gradient(B=with_nan(B)), "B"),
        (lambda: gradient(alpha=0.0), "alpha"),
        (lambda: gradient(alpha="a"), "alpha"),
        (lambda: gradient(B=np.stack([B] * 3), w=np.stack([W] * 2)), "B (3, 8, 2)"),
        (lambda: gradient(B_star=B_STAR[:5]), "B_star"),
        (lambda: gradient(heads=np.ones(K)), "heads"),
        (lambda: gradient(B=np.ones((0, K))), "B"),
        (lambda: gradient(B=[["a"]]), "B"),
        (lambda: gradient(B=1e200 * B, w=1e200 * W), "B, w"),
    ],
    "population_meta_loss": [
        (lambda: loss(method="reptile"), "method"),
        (lambda: loss(B_star=with_nan(B_STAR)), "B_star"),
        (lambda: loss(B=np.ones((D, 3))), "B"),
        (lambda: loss(alpha=-1.0), "alpha"),
        (lambda: loss(heads="heads"), "heads"),
    ],
    "sample_meta_gradient": [
        (lambda: sample_gradient(y_out=Y[:, :3]), "y_out"),
        (lambda: sample_gradient(X_in=X[..., :5]), "X_in"),
        (lambda: sample_gradient(X_in=with_nan(X)), "X_in"),
        (lambda: sample_gradient(y_in=with_nan(Y)), "y_in"),
        (lambda: sample_gradient(X_out=X[:2], y_out=Y[:2]), "X_out"),
        (lambda: sample_gradient(method="xx"), "method"),
        (lambda: sample_gradient(alpha=-1.0), "alpha"),
        (lambda: sample_gradient(X_in=X[0], y_in=Y[0]), "X_in"),
        (
            lambda: sample_gradient(
                B=np.stack([B] * 2),
                X_in=np.stack([X] * 3),
                y_in=np.stack([Y] * 3),
                X_out=np.stack([X] * 3),
                y_out=np.stack([Y] * 3),
            ),
            "X_in (3, 3, 4, 8)",
        ),
    ],
    "sample_meta_loss": [
        (lambda: sample_loss(method="average"), "method"),
        (lambda: sample_loss(w=with_nan(W)), "w"),
        (lambda: sample_loss(y_in=np.ones((N, 5))), "y_in"),
        (lambda: sample_loss(alpha=NAN), "alpha"),
        (lambda: sample_loss(X_out=None), "X_out"),
    ],
    "first_order_reference": [
        (lambda: reference(method="exact_anil"), "method"),
        (lambda: reference(B=np.stack([B] * 2)), "B"),
        (lambda: reference(B_star=B_STARS), "B_star"),
        (lambda: reference(w=with_nan(W)), "w"),
        (lambda: reference(heads=np.ones((N, 3))), "heads"),
    ],
    "predicted_distance": [
        (lambda: linrep.predicted_distance([-1, 2], 0.5, 0.1, 0.1, 1.0), "t"),
        (lambda: linrep.predicted_distance([1, NAN], 0.5, 0.1, 0.1, 1.0), "t"),
        (lambda: linrep.predicted_distance("t", 0.5, 0.1, 0.1, 1.0), "t"),
        (lambda: linrep.predicted_distance([1, 2], 1.5, 0.1, 0.1, 1.0), "dist0"),
        (lambda: linrep.predicted_distance([1, 2], 1.0, 0.1, 0.1, 1.0), "dist0"),
        (lambda: linrep.predicted_distance([1], NAN, 0.1, 0.1, 1.0), "dist0"),
        (lambda: linrep.predicted_distance([1], 0.5, 0.0, 0.1, 1.0), "alpha"),
        (lambda: linrep.predicted_distance([1], 0.5, 0.1, -0.1, 1.0), "beta"),
        (lambda: linrep.predicted_distance([1, 2], 0.5, 0.1, 0.1, 0), "lam"),
    ],
    "Trajectory": [
        (lambda: trajectory(methods=("fo_anil", "maml++")), "method"),
        (lambda: trajectory(methods=3), "methods"),
        (lambda: trajectory(dist=np.ones((1, 2, 4))), "dist"),
        (lambda: trajectory(head_norm=np.ones(3)), "head_norm"),
        (lambda: trajectory(conditioning=np.ones((1, 3, 3))), "conditioning"),
        (lambda: trajectory(stopped_at=np.full((1, 3), -1)), "stopped_at"),
        (lambda: trajectory(stopped_at=np.full((1, 2), 0.5)), "stopped_at"),
        (lambda: trajectory(iterations=np.ones((2, 2))), "iterations"),
        (lambda: trajectory(iterations=np.linspace(0, 1, 3)), "iterations"),
        (lambda: trajectory(params="alpha=0.1"), "params"),
    ],
    "train": [
        (lambda: train(iterations=0), "iterations"),
        (lambda: train(iterations=2.5), "iterations"),
        (lambda: train(rng=0), "rng"),
        (lambda: train(methods="exact"), "method"),
        (lambda: train(methods=5), "methods"),
        (lambda: train(methods=()), "method"),
        (lambda: train(B0=B0S[:1]), "B0"),
        (lambda: train(B0=with_nan(B0S)), "B0"),
        (lambda: train(B_star=2 * B_STARS), "B_star"),
        (lambda: train(B_star=B_STAR, B0=B), "B_star"),
        (lambda: train(n=-2), "n"),
        (lambda: train(n=0), "n"),
        (lambda: train(alpha=0.0), "alpha"),
        (lambda: train(beta=NAN), "beta"),
        (lambda: train(mu=[1.0, 2.0, 3.0]), "mu"),
        (lambda: train(mu=NAN), "mu"),
        (lambda: train(w0=np.ones((2, 3))), "w0"),
        (lambda: train(learn_head="yes"), "learn_head"),
        (lambda: train(record_every=0), "record_every"),
        (lambda: train(m_in=2, m_out=2.5), "m_out"),
        (lambda: train(m_in=2), "m_in"),
        (lambda: train(m_in=2, m_out=2, sigma=NAN), "sigma"),
    ],
}


test_bad_input_names_the_argument, test_every_callable_is_covered = bad_input_tests(
    CASES, linrep, no_warnings=True
)
