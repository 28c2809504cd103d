"""Meta-training by outer gradient steps, the stable-step search, and the two-heads comparison.

Chapter 21 (``chapters/21_inner_steps_and_cost``):

* :func:`train`: SGD on the meta-objective, eq. `eq-outer-step-n`, recorded in a :class:`Run`;
* :func:`stable_step_search`: the largest outer step size on a grid whose runs are stable;
* :func:`compare_heads`: both heads trained at one setting (the computation behind the panels).

Runs that blow up follow the book's one policy (:mod:`metalib.divergence`): :func:`train` watches
the **batch meta-loss** (the query loss after the inner loop, averaged over the step's tasks) with a
:class:`~metalib.divergence.BlowupGuard` whose starting size is the first batch meta-loss; a run
stops at the first outer step where that loss is not finite, any parameter is not finite, or the
loss exceeds ``BLOWUP_FACTOR * (1 + first loss)``. The step where it stopped is recorded in
``Run.stopped_at`` and one :class:`~metalib.divergence.DivergenceWarning` names the step size to
lower.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from ..divergence import BlowupGuard
from ..validation import (
    as_array,
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_rng,
)
from .cost import multiply_adds
from .gradients import _meta_gradient_runs, inner_loop
from .model import (
    BODY_KEYS,
    HEAD_KEYS,
    HEADS,
    LABELS,
    METHODS,
    _draw_tasks,
    check_params,
    check_tasks,
    head_kind,
)


@dataclass
class Run:
    """What :func:`train` records.

    Attributes
    ----------
    method, head : str
    N : int
    alpha, beta, ridge : float
    iterations : ndarray, shape (R,)
        Recorded outer iterations (0 is the start). A stopped run ends with ``stopped_at - 1``, the
        last step whose parameters were finite, so that its curve reaches where it stopped.
    test_loss : ndarray, shape (R,)
        Meta-test loss (adapt with the same N, alpha, ridge on each test task's support set, query
        loss) at those iterations; NaN only if no test tasks were given.
    seconds : ndarray, shape (R,)
        Training wall-clock time (evaluation excluded) up to each recorded iteration, of the
        whole batch when runs are trained together (:func:`train_runs`); never asserted on.
    train_loss : ndarray, shape (T,)
        Batch meta-loss at every outer step (NaN after a stop).
    stopped_at : int
        Outer iteration at which the run blew up and was stopped, or -1.
    params : dict
        Final parameters (last finite ones for a stopped run).
    cost : dict
        Multiply-adds of the outer steps the run took, by category (the steps taken times
        :func:`multiply_adds`, which equals the engine's tally), and the Hessian-vector products
        (``hvp``).
    """

    method: str
    head: str
    N: int
    alpha: float
    beta: float
    ridge: float
    iterations: np.ndarray
    test_loss: np.ndarray
    seconds: np.ndarray
    train_loss: np.ndarray
    stopped_at: int
    params: dict
    cost: dict = field(default_factory=dict)

    def __post_init__(self):
        self.method = check_choice("method", self.method, METHODS)
        self.head = check_choice("head", self.head, HEADS)
        self.N = check_nonnegative_int("N", self.N)
        self.alpha = check_positive_float("alpha", self.alpha)
        self.beta = check_positive_float("beta", self.beta)
        self.ridge = check_nonnegative_float("ridge", self.ridge)
        self.iterations = as_array("iterations", self.iterations, ndim=1)
        for name in (
            "test_loss",
            "seconds",
        ):  # NaN allowed: no test tasks, no time recorded
            value = as_array(name, getattr(self, name), ndim=1, finite=False)
            if value.shape != self.iterations.shape:
                raise ValueError(
                    f"{name} must have the shape of iterations {self.iterations.shape}, "
                    f"got {value.shape}"
                )
            setattr(self, name, value)
        self.train_loss = as_array("train_loss", self.train_loss, ndim=1, finite=False)
        if not isinstance(self.stopped_at, numbers.Integral) or self.stopped_at < -1:
            raise ValueError(
                f"stopped_at must be an integer >= -1 (-1: not stopped), got {self.stopped_at!r}"
            )
        self.stopped_at = int(self.stopped_at)
        if check_params(self.params)[0] != self.head:
            raise ValueError(f"params must hold a {self.head} head, as head says")
        if not isinstance(self.cost, dict):
            raise TypeError(f"cost must be a dict, got {type(self.cost).__name__}")

    @property
    def stable(self):
        """True when the run was not stopped and its meta-test loss ended below where it started."""
        return self.stopped_at < 0 and bool(self.test_loss[-1] < self.test_loss[0])


def _broadcast_runs(**values):
    """Each value as a list, one per run: a scalar (or a length-1 sequence) is shared by all."""
    lists = {
        name: list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]
        for name, v in values.items()
    }
    R = max(len(v) for v in lists.values())
    for name, v in lists.items():
        if len(v) not in (1, R):
            sizes = {k: len(w) for k, w in lists.items()}
            raise ValueError(
                f"{name} must be one value or one per run; got lengths {sizes}"
            )
        if len(v) == 0:
            raise ValueError(f"{name} must not be empty")
    return {name: v * R if len(v) == 1 else v for name, v in lists.items()}


def _train_runs(
    method,
    kind,
    params0,
    alpha,
    beta,
    ridge,
    N,
    T,
    streams,
    sizes,
    test_data,
    record_every,
    keys,
    warn,
    stacklevel=4,
):
    """The training loop of :func:`train` and :func:`train_runs` on checked arguments.

    ``params0`` is a parameter dict (shared start); ``alpha``, ``beta``, ``ridge`` and ``N``
    arrays of shape (R,); ``streams`` a list of R generators (runs given the same generator
    object share its tasks, drawn once per step). The active runs go through the engine together
    (:func:`~metalib.anil_steps.gradients._meta_gradient_runs`); a run that blows up leaves the
    batch. The multiply-adds of a run are those of :func:`multiply_adds` per step taken (the
    engine's tally equals that closed form, see the unit tests; counted per run, they do not
    include the padding of runs with a smaller ``N``).
    """
    R = alpha.size
    n, m_in, m_out = sizes
    unique = list({id(g): g for g in streams}.values())
    stream_of = np.array([[g is s for g in unique].index(True) for s in streams])
    recorded = sorted(set(range(0, T + 1, record_every)) | {T})
    test_loss = np.full((R, len(recorded)), np.nan)
    seconds = np.full((R, len(recorded)), np.nan)
    train_loss = np.full((R, T), np.nan)
    kept = np.full(R, len(recorded))  # recorded columns a stopped run keeps
    P = {key: np.repeat(value[None], R, axis=0) for key, value in params0.items()}
    final = {key: value.copy() for key, value in P.items()}

    def evaluate(runs, params):  # one engine call per distinct N (no padded steps)
        loss = np.full(runs.size, np.nan)
        if test_data is None:
            return loss
        for steps in np.unique(N[runs]):
            sel = N[runs] == steps
            loss[sel], _, _ = _meta_gradient_runs(
                method,
                kind,
                {key: value[sel] for key, value in params.items()},
                test_data,
                alpha[runs][sel],
                int(steps),
                ridge[runs][sel],
                gradient=False,
            )
        return loss

    active = np.arange(R)
    # at the start every run has the same parameters: evaluate each distinct setting once
    _, first = np.unique(np.stack([alpha, ridge, N]), axis=1, return_inverse=True)
    _, one_each = np.unique(first, return_index=True)
    test_loss[:, 0] = evaluate(one_each, {k: v[one_each] for k, v in P.items()})[first]
    seconds[:, 0], column = 0.0, 1
    elapsed, guard, first_tasks = 0.0, None, {}
    for t in range(1, T + 1):
        draws = {}
        for u in np.unique(stream_of[active]):
            draws[u] = _draw_tasks(unique[u], n, m_in, m_out)
            first_tasks.setdefault(u, draws[u])
        if len(draws) == 1:  # one stream: its tasks serve every run
            data = next(iter(draws.values()))[:4]
        else:
            data = [
                np.stack([draws[u][i] for u in stream_of[active]]) for i in range(4)
            ]
        clock = time.perf_counter()
        loss, grads, _ = _meta_gradient_runs(
            method, kind, P, data, alpha[active], N[active], ridge[active]
        )
        with np.errstate(over="ignore", invalid="ignore"):
            new = {
                key: (P[key] - _per_run(beta[active], P[key]) * grads[key])
                if key in keys
                else P[key]
                for key in P
            }
        elapsed += time.perf_counter() - clock
        if (
            guard is None
        ):  # the watched size: the batch meta-loss, relative to the first one
            guard = BlowupGuard(np.where(np.isfinite(loss), loss, 0.0))
        size, finite = np.zeros(R), np.ones(R, dtype=bool)
        size[active] = loss
        finite[active] = np.all(
            [np.isfinite(v).reshape(active.size, -1).all(axis=1) for v in new.values()],
            axis=0,
        )
        ok = guard.check(t, size, finite=finite)[active]
        train_loss[active[ok], t - 1] = loss[ok]
        if not ok.all():  # stopped runs keep their last finite parameters and leave
            for key in P:
                final[key][active[~ok]] = P[key][~ok]
            kept[active[~ok]] = column
            active = active[ok]
            new = {key: value[ok] for key, value in new.items()}
        P = new
        if active.size and t == recorded[column]:
            test_loss[active, column] = evaluate(active, P)
            seconds[active, column] = elapsed
            column += 1
        if not active.size:
            break
    for key in P:
        final[key][active] = P[key]
    stopped_at = guard.stopped_at
    stopped = np.flatnonzero(stopped_at > 0)
    # a stopped run is drawn up to its last finite parameters (step stopped_at - 1)
    last_loss = evaluate(stopped, {key: value[stopped] for key, value in final.items()})
    last_loss = dict(zip(stopped.tolist(), last_loss))
    per_step = {
        int(steps): multiply_adds(method, params0, n, m_in, m_out, int(steps))
        for steps in np.unique(N)
    }
    runs = []
    for r in range(R):
        iterations_done, tl, sec = np.array(recorded), test_loss[r], seconds[r]
        taken = T
        if stopped_at[r] > 0:
            keep, last = kept[r], stopped_at[r] - 1
            iterations_done, tl, sec = iterations_done[:keep], tl[:keep], sec[:keep]
            if last > iterations_done[-1]:
                iterations_done = np.append(iterations_done, last)
                tl = np.append(tl, last_loss[r])
                sec = np.append(sec, elapsed)
            taken = last
        cost = {name: taken * value for name, value in per_step[int(N[r])].items()}
        cost["hvp"] = taken * int(N[r]) * n if method != "fo_anil" else 0
        runs.append(
            Run(
                method,
                kind,
                int(N[r]),
                float(alpha[r]),
                float(beta[r]),
                float(ridge[r]),
                iterations_done,
                tl,
                sec,
                train_loss[r],
                int(stopped_at[r]),
                {key: value[r].copy() for key, value in final.items()},
                cost,
            )
        )
    if warn and stopped.size:
        r = stopped[0]
        guard.warn(
            f"{LABELS[method]} with N={N[r]}",
            _advice(
                params0, first_tasks[stream_of[r]], alpha[r], beta[r], N[r], ridge[r]
            ),
            stacklevel=stacklevel,
        )
    return runs


def _per_run(values, like):
    """``values`` of shape (R,) reshaped to broadcast against ``like`` of shape (R, ...)."""
    return values.reshape((-1,) + (1,) * (like.ndim - 1))


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_run_args(
    method, params0, iterations, n, m_in, m_out, record_every, test_tasks
):
    method = check_choice("method", method, METHODS)
    kind, params = check_params(params0)
    T = check_positive_int("iterations", iterations)
    sizes = (
        check_positive_int("n", n),
        check_positive_int("m_in", m_in),
        check_positive_int("m_out", m_out),
    )
    record_every = check_positive_int("record_every", record_every)
    test_data = None if test_tasks is None else check_tasks(test_tasks)
    return method, kind, params, T, sizes, record_every, test_data


def train(
    method,
    params0,
    alpha,
    beta,
    N,
    iterations,
    rng,
    n=10,
    m_in=10,
    m_out=10,
    ridge=0.0,
    test_tasks=None,
    record_every=10,
    learn_head_init=True,
    warn=True,
):
    """Meta-train by outer gradient steps ``(w_0, phi) <- (w_0, phi) - beta grad F`` on fresh tasks
    (eq. `eq-outer-step-n`).

    Every outer iteration draws ``n`` new sinusoid tasks (:func:`sample_sinusoid_tasks`) and takes
    one step along :func:`meta_gradient`.

    Parameters
    ----------
    method : {"exact_anil", "fo_anil", "exact_maml"}
    params0 : dict
        Starting parameters (see :func:`init_params`).
    alpha, beta : float
        Inner and outer step sizes.
    N : int
        Inner steps.
    iterations : int
        Outer iterations ``T``.
    rng : numpy.random.Generator
        Source of the training tasks.
    n, m_in, m_out : int
        Tasks per outer iteration, support and query points per task.
    ridge : float
        Ridge weight of the inner loss.
    test_tasks : Tasks, optional
        Fixed meta-test tasks; if None, the test loss is not recorded (NaN).
    record_every : int
        Evaluate on the test tasks every this many iterations (and at the last).
    learn_head_init : bool
        Meta-learn the head initialization ``w_0`` too (default); if False only the body ``phi``
        moves.
    warn : bool
        Emit a :class:`DivergenceWarning` when the run blows up.

    Returns
    -------
    Run

    Warns
    -----
    DivergenceWarning
        When the batch meta-loss becomes non-finite or exceeds ``BLOWUP_FACTOR * (1 + first loss)``
        (the policy of :mod:`metalib.divergence`); the run stops there and the warning names the
        step size to lower: ``alpha`` if the inner loop already raised the support loss of the
        first batch at the starting parameters, ``beta`` otherwise (the outer steps then carried
        the parameters to where the meta-objective is too sharp for them).
    """
    method, kind, params, T, sizes, record_every, test_data = _check_run_args(
        method, params0, iterations, n, m_in, m_out, record_every, test_tasks
    )
    check_rng("rng", rng)
    N = check_nonnegative_int("N", N)
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    ridge = check_nonnegative_float("ridge", ridge)
    learn_head_init = _check_bool("learn_head_init", learn_head_init)
    warn = _check_bool("warn", warn)
    keys = BODY_KEYS + (HEAD_KEYS[kind] if learn_head_init else ())
    (run,) = _train_runs(
        method,
        kind,
        params,
        np.array([alpha]),
        np.array([beta]),
        np.array([ridge]),
        np.array([N]),
        T,
        [rng],
        sizes,
        test_data,
        record_every,
        keys,
        warn,
    )
    return run


def train_runs(
    method,
    params0,
    alpha,
    beta,
    N,
    iterations,
    seeds,
    n=10,
    m_in=10,
    m_out=10,
    ridge=0.0,
    test_tasks=None,
    record_every=10,
    learn_head_init=True,
    warn=True,
):
    """Several runs of :func:`train` from one start, computed together.

    ``alpha``, ``beta``, ``N``, ``ridge`` and ``seeds`` are each one value (shared by every run)
    or a sequence with one value per run. Run ``r`` draws its tasks from
    ``numpy.random.default_rng(seeds[r])``; runs with the same seed share one task stream (drawn
    once per step). Each run is the run :func:`train` makes with the same arguments and
    ``rng=numpy.random.default_rng(seed)`` (up to floating-point rounding): the runs only share
    the array operations of each step, which is what makes them cheaper together. Runs with
    different ``N`` take the largest number of inner steps, with step size 0 after their own
    (which leaves the head unchanged; the result is exactly that of their own ``N``). A run that
    blows up leaves the batch at the step where it was stopped.

    Parameters
    ----------
    method, params0, iterations, n, m_in, m_out, test_tasks, record_every,
    learn_head_init, warn : as in :func:`train`
    alpha, beta : float or sequence of float
    N : int or sequence of int
    ridge : float or sequence of float
    seeds : int or sequence of int

    Returns
    -------
    list of Run
        One per run; ``Run.seconds`` is the wall-clock time of the whole batch.
    """
    method, kind, params, T, sizes, record_every, test_data = _check_run_args(
        method, params0, iterations, n, m_in, m_out, record_every, test_tasks
    )
    lists = _broadcast_runs(alpha=alpha, beta=beta, N=N, ridge=ridge, seeds=seeds)
    N = np.array([check_nonnegative_int("N", steps) for steps in lists["N"]])
    alpha = np.array([check_positive_float("alpha", a) for a in lists["alpha"]])
    beta = np.array([check_positive_float("beta", b) for b in lists["beta"]])
    ridge = np.array([check_nonnegative_float("ridge", c) for c in lists["ridge"]])
    generators = {}
    for s in lists["seeds"]:
        s = check_nonnegative_int("seeds", s)
        generators.setdefault(s, np.random.default_rng(s))
    streams = [generators[int(s)] for s in lists["seeds"]]
    learn_head_init = _check_bool("learn_head_init", learn_head_init)
    warn = _check_bool("warn", warn)
    keys = BODY_KEYS + (HEAD_KEYS[kind] if learn_head_init else ())
    return _train_runs(
        method,
        kind,
        params,
        alpha,
        beta,
        ridge,
        N,
        T,
        streams,
        sizes,
        test_data,
        record_every,
        keys,
        warn,
    )


def _advice(params, tasks, alpha, beta, N, ridge):
    """Which step to lower: alpha if the inner loop raises the support loss at the start, else
    beta."""
    _, losses = inner_loop(params, tasks.X_in, tasks.y_in, alpha, max(N, 1), ridge)
    inner_up = bool(np.any(~np.isfinite(losses[-1])) or np.any(losses[-1] > losses[0]))
    if inner_up:
        return (
            f"lower alpha (the inner step size, now {alpha:g}): already at the start the inner "
            f"loop raises the support loss"
        )
    return f"lower beta (the outer step size, now {beta:g})"


def stable_step_search(
    method,
    params0,
    alpha,
    N,
    betas,
    iterations,
    seeds,
    n=10,
    m_in=10,
    m_out=10,
    ridge=0.0,
    test_tasks=None,
    record_every=None,
):
    """The largest outer step size in ``betas`` whose run is stable (see :attr:`Run.stable`), on
    each task stream.

    Every candidate trains from ``params0``; stream ``s`` is ``numpy.random.default_rng(seeds[s])``
    for every candidate, so only ``beta`` differs between the candidates of one stream.
    Candidates are tried from the largest down; a stream leaves the search at its first stable
    candidate, which is its largest stable step on the grid. Stability need not be monotone in
    ``beta`` (a smaller step can blow up where a larger one did not), so the grid is scanned,
    not bisected. The streams still searching at a candidate are trained together
    (:func:`train_runs`), and a run that blows up stops there.

    Parameters
    ----------
    method : str
    params0 : dict
    alpha : float
    N : int
    betas : sequence of float
        Candidate outer step sizes (any order).
    iterations : int
        Outer iterations per trial run.
    seeds : int or sequence of int
        Seeds of the task streams.
    n, m_in, m_out, ridge : as in :func:`train`
    test_tasks : Tasks
        Meta-test tasks that decide stability (required).
    record_every : int, optional
        Defaults to ``iterations`` (evaluate at start and end only).

    Returns
    -------
    beta_max : ndarray, shape (S,)
        The largest stable candidate of each stream (NaN if it has none).
    runs : dict
        ``{beta: {seed: Run}}``, the runs made at every candidate tried.
    """
    if isinstance(betas, (str, bytes)) or not np.iterable(betas):
        raise TypeError(f"betas must be a sequence of step sizes, got {betas!r}")
    candidates = sorted(
        {check_positive_float("betas", b) for b in np.asarray(betas).tolist()},
        reverse=True,
    )
    if not candidates:
        raise ValueError("betas must hold at least one step size")
    if test_tasks is None:
        raise ValueError(
            "test_tasks must be given: they decide whether a run is stable"
        )
    method, kind, params, T, sizes, record_every, test_data = _check_run_args(
        method,
        params0,
        iterations,
        n,
        m_in,
        m_out,
        iterations if record_every is None else record_every,
        test_tasks,
    )
    N = check_nonnegative_int("N", N)
    alpha = check_positive_float("alpha", alpha)
    ridge = check_nonnegative_float("ridge", ridge)
    seeds = [check_nonnegative_int("seeds", s) for s in np.atleast_1d(seeds).tolist()]
    beta_max = np.full(len(seeds), np.nan)
    runs = {}
    searching = list(range(len(seeds)))
    keys = BODY_KEYS + HEAD_KEYS[kind]
    for beta in candidates:
        if not searching:
            break
        batch = _train_runs(
            method,
            kind,
            params,
            np.full(len(searching), alpha),
            np.full(len(searching), beta),
            np.full(len(searching), ridge),
            np.full(len(searching), N),
            T,
            [np.random.default_rng(seeds[s]) for s in searching],
            sizes,
            test_data,
            record_every,
            keys,
            warn=False,
        )
        runs[beta] = {seeds[s]: run for s, run in zip(searching, batch)}
        for s, run in zip(searching, batch):
            if run.stable:
                beta_max[s] = beta
        searching = [s for s in searching if np.isnan(beta_max[s])]
    return beta_max, runs


def compare_heads(
    starts,
    N,
    ridge,
    alpha,
    beta,
    iterations,
    test_tasks,
    seed,
    n=10,
    m_in=10,
    m_out=10,
    record_every=20,
):
    """Train exact ANIL with the ridge head and with the two-layer head at the same ``N``,
    ``alpha``, ``beta``.

    The computation behind the chapter's interactive panel: the ridge weight applies to the ridge
    head, the two-layer head keeps ``ridge = 0``; both runs see the same task stream. Blow-ups are
    recorded in ``Run.stopped_at`` without a warning.

    Parameters
    ----------
    starts : dict
        ``{"ridge": params, "mlp": params}``, starting parameters of each head.
    N : int
    ridge, alpha, beta : float
    iterations : int
    test_tasks : Tasks
    seed : int
        Seed of the shared task stream.
    n, m_in, m_out, record_every : as in :func:`train`

    Returns
    -------
    dict
        ``{"ridge": Run, "mlp": Run}``
    """
    if not isinstance(starts, dict) or set(starts) != set(HEADS):
        got = sorted(starts) if isinstance(starts, dict) else type(starts).__name__
        raise ValueError(
            f"starts must be a dict mapping each of {HEADS} to its starting parameters, "
            f"got {got}"
        )
    for head in HEADS:
        if head_kind(starts[head]) != head:
            raise ValueError(
                f"starts['{head}'] must hold the parameters of a {head} head"
            )
    seed = check_nonnegative_int("seed", seed)
    return {
        head: train(
            "exact_anil",
            starts[head],
            alpha,
            beta,
            N,
            iterations,
            np.random.default_rng(seed),
            n=n,
            m_in=m_in,
            m_out=m_out,
            ridge=ridge if head == "ridge" else 0.0,
            test_tasks=test_tasks,
            record_every=record_every,
            warn=False,
        )
        for head in HEADS
    }
