"""Bad input to every public callable of metalib.anil_steps: a ValueError or TypeError naming the
argument (wrong shape, negative or zero size, NaN, wrong type, unknown option), never numpy's error
or a silent NaN. The last test checks that every callable of ``__all__`` is covered."""

import numpy as np
from bad_input import bad_input_tests

from metalib import anil_steps as A


def rng():
    return np.random.default_rng(0)


RIDGE = A.init_params(rng(), hidden=4, k_width=3, head="ridge")
MLP = A.init_params(rng(), hidden=4, k_width=3, head="mlp", head_hidden=2)
TASKS = A.sample_sinusoid_tasks(rng(), 2, 3, 4)
STARTS = {"ridge": RIDGE, "mlp": MLP}
NAN = np.nan


def tasks(**kw):
    """The arguments of a valid Tasks, with some replaced."""
    args = dict(
        X_in=np.ones((2, 3)),
        y_in=np.ones((2, 3)),
        X_out=np.ones((2, 4)),
        y_out=np.ones((2, 4)),
        amplitude=np.ones(2),
        phase=np.ones(2),
    )
    return A.Tasks(**(args | kw))


def run(**kw):
    """A Run with some fields replaced."""
    args = dict(
        method="exact_anil",
        head="ridge",
        N=1,
        alpha=0.1,
        beta=0.1,
        ridge=0.0,
        iterations=np.zeros(2),
        test_loss=np.zeros(2),
        seconds=np.zeros(2),
        train_loss=np.zeros(3),
        stopped_at=-1,
        params=RIDGE,
    )
    return A.Run(**(args | kw))


def train(**kw):
    args = dict(
        method="exact_anil",
        params0=RIDGE,
        alpha=0.1,
        beta=0.1,
        N=1,
        iterations=2,
        rng=rng(),
        n=2,
        m_in=3,
        m_out=3,
    )
    return A.train(**(args | kw))


def train_runs(**kw):
    args = dict(
        method="exact_anil",
        params0=RIDGE,
        alpha=[0.1, 0.2],
        beta=0.1,
        N=1,
        iterations=2,
        seeds=[0, 1],
        n=2,
        m_in=3,
        m_out=3,
    )
    return A.train_runs(**(args | kw))


def search(**kw):
    args = dict(
        method="exact_anil",
        params0=RIDGE,
        alpha=0.1,
        N=1,
        betas=[0.1],
        iterations=2,
        seeds=[0],
        n=2,
        m_in=3,
        m_out=3,
        test_tasks=TASKS,
    )
    return A.stable_step_search(**(args | kw))


def compare(**kw):
    args = dict(
        starts=STARTS,
        N=1,
        ridge=0.1,
        alpha=0.1,
        beta=0.1,
        iterations=2,
        test_tasks=TASKS,
        seed=0,
        n=2,
        m_in=3,
        m_out=3,
    )
    return A.compare_heads(**(args | kw))


def smooth(**kw):
    args = dict(
        method="exact_anil",
        params=RIDGE,
        tasks=TASKS,
        alpha=0.1,
        N=1,
        iterations=2,
        rng=rng(),
    )
    return A.meta_smoothness(**(args | kw))


# (call, the argument its message must name); kinds: shape, size, NaN, type, option
CASES = {
    "Tasks": [
        (lambda: tasks(y_in=np.ones((2, 2))), "y_in"),
        (lambda: tasks(X_in=np.ones(3)), "X_in"),
        (lambda: tasks(X_out=np.ones((3, 4))), "X_out"),
        (lambda: tasks(amplitude=np.ones(3)), "amplitude"),
        (lambda: tasks(X_in=np.ones((0, 3))), "X_in"),
        (lambda: tasks(phase=np.full(2, NAN)), "phase"),
        (lambda: tasks(y_out="sinusoid"), "y_out"),
    ],
    "sample_sinusoid_tasks": [
        (lambda: A.sample_sinusoid_tasks(rng(), 0, 3, 3), "n"),
        (lambda: A.sample_sinusoid_tasks(rng(), 2, 3, -1), "m_out"),
        (lambda: A.sample_sinusoid_tasks(rng(), 2.5, 3, 3), "n"),
        (lambda: A.sample_sinusoid_tasks(0, 2, 3, 3), "rng"),
        (lambda: A.sample_sinusoid_tasks(rng(), 2, 3, 3, phase=(0.0, NAN)), "phase"),
        (lambda: A.sample_sinusoid_tasks(rng(), 2, 3, 3, x_range="ab"), "x_range"),
        (
            lambda: A.sample_sinusoid_tasks(rng(), 2, 3, 3, amplitude=("a", 1)),
            "amplitude",
        ),
        (
            lambda: A.sample_sinusoid_tasks(rng(), 2, 3, 3, amplitude=(5.0, 0.1)),
            "amplitude",
        ),
    ],
    "init_params": [
        (lambda: A.init_params(rng(), hidden=0), "hidden"),
        (lambda: A.init_params(rng(), k_width=-2), "k_width"),
        (lambda: A.init_params(rng(), head="mlp", head_hidden=0), "head_hidden"),
        (lambda: A.init_params(rng(), hidden="32"), "hidden"),
        (lambda: A.init_params(rng(), head="deep"), "head"),
        (lambda: A.init_params(0), "rng"),
    ],
    "head_kind": [
        (lambda: A.head_kind([RIDGE]), "params"),
        (lambda: A.head_kind({"W1": RIDGE["W1"]}), "params"),
        (lambda: A.head_kind({**RIDGE, "V": MLP["V"]}), "params"),
    ],
    "check_params": [
        (lambda: A.check_params({**RIDGE, "W1": np.ones((4, 3))}), "params['W1']"),
        (lambda: A.check_params({**RIDGE, "W2": np.full((3, 4), NAN)}), "params['W2']"),
        (lambda: A.check_params({**RIDGE, "w": "abc"}), "params['w']"),
        (lambda: A.check_params({**RIDGE, "w": np.ones(0)}), "params['w']"),
        (lambda: A.check_params({**MLP, "a": np.ones(5)}), "params['a']"),
        (lambda: A.check_params(None), "params"),
    ],
    "check_tasks": [
        (lambda: A.check_tasks(tuple(TASKS)), "tasks"),
        (lambda: A.check_tasks(TASKS._replace(y_in=TASKS.y_in * NAN)), "tasks.y_in"),
        (
            lambda: A.check_tasks(TASKS._replace(y_out=TASKS.y_out[:, :2])),
            "tasks.y_out",
        ),
        (
            lambda: A.check_tasks(
                TASKS._replace(X_out=TASKS.X_out[:1], y_out=TASKS.y_out[:1])
            ),
            "tasks.X_in and tasks.X_out",
        ),
    ],
    "count_params": [
        (lambda: A.count_params(None), "params"),
        (lambda: A.count_params({**RIDGE, "W2": np.ones((3, 5))}), "params['W2']"),
    ],
    "features": [
        (lambda: A.features(RIDGE, np.ones(3)), "X"),
        (lambda: A.features(RIDGE, np.full((2, 3), NAN)), "X"),
        (lambda: A.features(RIDGE, "x"), "X"),
        (lambda: A.features(RIDGE, np.ones((0, 3))), "X"),
        (
            lambda: A.features({**RIDGE, "W1": np.ones(4)}, np.ones((2, 3))),
            "params['W1']",
        ),
    ],
    "predict": [
        (lambda: A.predict(RIDGE, np.ones(3)), "X"),
        (lambda: A.predict({**RIDGE, "W1": np.ones((4, 3))}, np.ones((2, 3))), "W1"),
        (lambda: A.predict({**RIDGE, "w": np.full(3, NAN)}, np.ones((2, 3))), "w"),
        (lambda: A.predict({**RIDGE, "w": np.ones((5, 3))}, np.ones((2, 3))), "w"),
        (lambda: A.predict({**MLP, "V": np.ones((2, 2, 3))}, np.ones((2, 3))), "a"),
        (lambda: A.predict("params", np.ones((2, 3))), "params"),
    ],
    "inner_loop": [
        (lambda: A.inner_loop(RIDGE, TASKS.X_in, TASKS.y_in[:, :2], 0.1, 2), "y_in"),
        (lambda: A.inner_loop(RIDGE, TASKS.X_in, TASKS.y_in, 0.1, -1), "N"),
        (lambda: A.inner_loop(RIDGE, TASKS.X_in, TASKS.y_in, NAN, 1), "alpha"),
        (lambda: A.inner_loop(RIDGE, TASKS.X_in, TASKS.y_in, "0.1", 1), "alpha"),
        (
            lambda: A.inner_loop(RIDGE, TASKS.X_in, TASKS.y_in, 0.1, 1, ridge=-1.0),
            "ridge",
        ),
        (lambda: A.inner_loop(RIDGE, TASKS.X_in[0], TASKS.y_in, 0.1, 1), "X_in"),
    ],
    "head_hessian": [
        (lambda: A.head_hessian(RIDGE, np.ones(3), TASKS.y_in), "X_in"),
        (lambda: A.head_hessian(RIDGE, TASKS.X_in, TASKS.y_in[:1]), "y_in"),
        (lambda: A.head_hessian(RIDGE, TASKS.X_in, TASKS.y_in, ridge=NAN), "ridge"),
        (lambda: A.head_hessian(RIDGE, TASKS.X_in * NAN, TASKS.y_in), "X_in"),
        (lambda: A.head_hessian([1], TASKS.X_in, TASKS.y_in), "params"),
    ],
    "meta_loss": [
        (lambda: A.meta_loss("maml", RIDGE, TASKS, 0.1, 1), "method"),
        (lambda: A.meta_loss("exact_anil", RIDGE, "tasks", 0.1, 1), "tasks"),
        (lambda: A.meta_loss("exact_anil", RIDGE, TASKS, 0.1, 1.5), "N"),
        (lambda: A.meta_loss("exact_anil", RIDGE, TASKS, -0.1, 1), "alpha"),
        (lambda: A.meta_loss("exact_anil", RIDGE, TASKS, 0.1, 1, ridge=NAN), "ridge"),
    ],
    "meta_gradient": [
        (lambda: A.meta_gradient("anil", RIDGE, TASKS, 0.1, 1), "method"),
        (lambda: A.meta_gradient("exact_anil", RIDGE, TASKS, 0.0, 1), "alpha"),
        (lambda: A.meta_gradient("exact_anil", RIDGE, TASKS, 0.1, -1), "N"),
        (
            lambda: A.meta_gradient("exact_anil", RIDGE, TASKS, 0.1, 1, per_task="yes"),
            "per_task",
        ),
        (
            lambda: A.meta_gradient(
                "exact_anil", {**RIDGE, "w": np.ones(4)}, TASKS, 0.1, 1
            ),
            "params['w']",
        ),
        (
            lambda: A.meta_gradient(
                "exact_maml", RIDGE, TASKS._replace(X_in=TASKS.X_in * NAN), 0.1, 1
            ),
            "tasks.X_in",
        ),
    ],
    "first_order_reference": [
        (lambda: A.first_order_reference(RIDGE, TASKS, -0.1, 1), "alpha"),
        (lambda: A.first_order_reference(RIDGE, None, 0.1, 1), "tasks"),
        (lambda: A.first_order_reference(RIDGE, TASKS, 0.1, 1.5), "N"),
        (
            lambda: A.first_order_reference(RIDGE, TASKS, 0.1, 1)(
                {**RIDGE, "w": np.ones(5)}
            ),
            "w",
        ),
    ],
    "meta_smoothness": [
        (lambda: smooth(method="fo_anil"), "method"),
        (lambda: smooth(rng=None), "rng"),
        (lambda: smooth(iterations=0), "iterations"),
        (lambda: smooth(eps=NAN), "eps"),
        (lambda: smooth(which="smallest"), "which"),
        (lambda: smooth(block="tail"), "block"),
        (lambda: smooth(tol=-1.0), "tol"),
        (lambda: smooth(tasks=tuple(TASKS)), "tasks"),
        (lambda: smooth(N=-1), "N"),
    ],
    "multiply_adds": [
        (lambda: A.multiply_adds("x", RIDGE, 2, 3, 3, 1), "method"),
        (lambda: A.multiply_adds("exact_anil", RIDGE, 0, 3, 3, 1), "n"),
        (lambda: A.multiply_adds("exact_anil", RIDGE, 2, 3, -3, 1), "m_out"),
        (lambda: A.multiply_adds("exact_anil", RIDGE, 2, 3, 3, -2), "N"),
        (lambda: A.multiply_adds("exact_anil", {"W1": 1}, 2, 3, 3, 1), "params"),
        (lambda: A.multiply_adds("exact_anil", RIDGE, 2, 3.0, 3, 1), "m_in"),
    ],
    "Run": [
        (lambda: run(method="x"), "method"),
        (lambda: run(head="deep"), "head"),
        (lambda: run(N=-1), "N"),
        (lambda: run(beta=NAN), "beta"),
        (lambda: run(test_loss=np.zeros(1)), "test_loss"),
        (lambda: run(iterations=np.zeros((2, 1))), "iterations"),
        (lambda: run(stopped_at=-5), "stopped_at"),
        (lambda: run(params=MLP), "params"),
        (lambda: run(cost=[1]), "cost"),
    ],
    "train": [
        (lambda: train(rng=0), "rng"),
        (lambda: train(method="anil"), "method"),
        (lambda: train(beta=NAN), "beta"),
        (lambda: train(alpha=-0.1), "alpha"),
        (lambda: train(N=1.5), "N"),
        (lambda: train(iterations=0), "iterations"),
        (lambda: train(n=0), "n"),
        (lambda: train(test_tasks=[1]), "tasks"),
        (lambda: train(record_every=0), "record_every"),
        (lambda: train(learn_head_init="no"), "learn_head_init"),
        (lambda: train(warn=None), "warn"),
        (lambda: train(params0={**RIDGE, "w": np.full(3, NAN)}), "params['w']"),
    ],
    "train_runs": [
        (lambda: train_runs(seeds=[-1, 0]), "seeds"),
        (lambda: train_runs(N=[1, 2, 3]), "one value or one per run"),
        (lambda: train_runs(alpha=[0.1, NAN]), "alpha"),
        (lambda: train_runs(alpha=[]), "alpha"),
        (lambda: train_runs(seeds="abc"), "seeds"),
        (lambda: train_runs(N=[1.5]), "N"),
        (lambda: train_runs(beta=[0.1, -0.1]), "beta"),
        (lambda: train_runs(ridge=-1.0), "ridge"),
        (lambda: train_runs(method="maml"), "method"),
        (lambda: train_runs(m_in=0), "m_in"),
    ],
    "stable_step_search": [
        (lambda: search(betas=[0.1, -1.0]), "betas"),
        (lambda: search(betas=0.1), "betas"),
        (lambda: search(betas=[]), "betas"),
        (lambda: search(betas=["a"]), "betas"),
        (lambda: search(betas=[NAN]), "betas"),
        (lambda: search(seeds=[1.5]), "seeds"),
        (lambda: search(record_every=0), "record_every"),
        (lambda: search(N=-1), "N"),
        (lambda: search(test_tasks=None), "test_tasks"),
        (lambda: search(method="reptile"), "method"),
        (lambda: search(iterations=0), "iterations"),
    ],
    "compare_heads": [
        (lambda: compare(starts={"ridge": RIDGE}), "starts"),
        (lambda: compare(starts=[RIDGE, MLP]), "starts"),
        (lambda: compare(starts={"ridge": MLP, "mlp": RIDGE}), "starts"),
        (lambda: compare(seed=-3), "seed"),
        (lambda: compare(seed=1.5), "seed"),
        (lambda: compare(ridge=-0.1), "ridge"),
        (lambda: compare(alpha=NAN), "alpha"),
        (lambda: compare(iterations=0), "iterations"),
        (lambda: compare(test_tasks="tasks"), "tasks"),
    ],
    "time_meta_gradient": [
        (
            lambda: A.time_meta_gradient("exact_anil", RIDGE, TASKS, 0.1, 1, repeats=0),
            "repeats",
        ),
        (lambda: A.time_meta_gradient("x", RIDGE, TASKS, 0.1, 1), "method"),
        (lambda: A.time_meta_gradient("exact_anil", RIDGE, TASKS, NAN, 1), "alpha"),
    ],
}


test_bad_input_names_the_argument, test_every_callable_is_covered = bad_input_tests(
    CASES, A
)
