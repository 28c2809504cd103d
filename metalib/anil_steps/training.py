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

import time
from dataclasses import dataclass, field

import numpy as np

from ..divergence import BlowupGuard
from ..validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_rng,
)
from .gradients import _check_common, _meta_gradient, _meta_loss, inner_loop
from .model import (
    BODY_KEYS,
    HEAD_KEYS,
    HEADS,
    LABELS,
    METHODS,
    check_params,
    check_tasks,
    sample_sinusoid_tasks,
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
        Training wall-clock time (evaluation excluded) up to each recorded iteration (shown in
        chapter 21's figures; never asserted on).
    train_loss : ndarray, shape (T,)
        Batch meta-loss at every outer step (NaN after a stop).
    stopped_at : int
        Outer iteration at which the run blew up and was stopped, or -1.
    params : dict
        Final parameters (last finite ones for a stopped run).
    cost : dict
        Multiply-adds of the whole run by category, and Hessian-vector products counted.
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

    @property
    def stable(self):
        """True when the run was not stopped and its meta-test loss ended below where it started."""
        return self.stopped_at < 0 and bool(self.test_loss[-1] < self.test_loss[0])


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
    one step along
    :func:`meta_gradient`.

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
    method = check_choice("method", method, METHODS)
    kind, params = check_params(params0)
    check_rng("rng", rng)
    alpha, N, ridge = _check_common(alpha, N, ridge)
    beta = check_positive_float("beta", beta)
    T = check_positive_int("iterations", iterations)
    n, m_in, m_out = (
        check_positive_int("n", n),
        check_positive_int("m_in", m_in),
        check_positive_int("m_out", m_out),
    )
    record_every = check_positive_int("record_every", record_every)
    test_data = None if test_tasks is None else check_tasks(test_tasks)
    keys = BODY_KEYS + (HEAD_KEYS[kind] if learn_head_init else ())
    recorded = sorted(set(range(0, T + 1, record_every)) | {T})
    test_loss = np.full(len(recorded), np.nan)
    seconds = np.full(len(recorded), np.nan)
    train_loss = np.full(T, np.nan)

    def evaluate(ps):
        return (
            np.nan
            if test_data is None
            else _meta_loss(method, kind, ps, test_data, alpha, N, ridge)
        )

    test_loss[0], seconds[0], column = evaluate(params), 0.0, 1
    elapsed, guard = 0.0, None
    totals = {"inner": 0, "second_order": 0, "outer": 0, "total": 0, "hvp": 0}
    first_tasks = None
    for t in range(1, T + 1):
        tasks = sample_sinusoid_tasks(rng, n, m_in, m_out)
        first_tasks = tasks if first_tasks is None else first_tasks
        start = time.perf_counter()
        loss, grads, cost = _meta_gradient(
            method, kind, params, tasks[:4], alpha, N, ridge
        )
        with np.errstate(over="ignore", invalid="ignore"):
            new = {
                key: (params[key] - beta * grads[key] if key in keys else params[key])
                for key in params
            }
        elapsed += time.perf_counter() - start
        if (
            guard is None
        ):  # the watched size: the batch meta-loss, relative to the first one
            guard = BlowupGuard(loss if np.isfinite(loss) else 0.0)
        finite = all(np.all(np.isfinite(v)) for v in new.values())
        if not guard.check(t, loss, finite=finite):
            break
        train_loss[t - 1] = loss
        params = new
        for name, value in cost["madds"].items():
            totals[name] += value
        totals["hvp"] += cost["hvp"]
        if t == recorded[column]:
            test_loss[column], seconds[column] = evaluate(params), elapsed
            column += 1
    stopped_at = int(guard.stopped_at)
    iterations_done = np.array(recorded)
    if stopped_at > 0:
        # keep what was recorded, then the last finite parameters (step stopped_at - 1), so that a
        # stopped run is drawn up to where it stopped
        last = stopped_at - 1
        keep = column
        iterations_done = np.array(recorded[:keep])
        test_loss, seconds = test_loss[:keep], seconds[:keep]
        if last > iterations_done[-1]:
            iterations_done = np.append(iterations_done, last)
            test_loss = np.append(test_loss, evaluate(params))
            seconds = np.append(seconds, elapsed)
        if warn:
            guard.warn(
                f"{LABELS[method]} with N={N}",
                _advice(params0, first_tasks, alpha, beta, N, ridge),
            )
    return Run(
        method,
        kind,
        N,
        alpha,
        beta,
        ridge,
        iterations_done,
        test_loss,
        seconds,
        train_loss,
        stopped_at,
        params,
        totals,
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
    """The largest outer step size in ``betas`` whose runs are stable on every task stream (see
    :attr:`Run.stable`).

    Every candidate trains from ``params0`` on the same task streams (generators seeded with
    ``seeds``), so only ``beta`` differs between candidates. Candidates are tried from the largest
    down; a candidate fails as soon as one of its streams is unstable, and the search stops at the
    first candidate stable on all of them.

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
        Seeds of the task streams shared by the candidates.
    n, m_in, m_out, ridge : as in :func:`train`
    test_tasks : Tasks
        Meta-test tasks that decide stability (required).
    record_every : int, optional
        Defaults to ``iterations`` (evaluate at start and end only).

    Returns
    -------
    beta_max : float
        The largest candidate stable on every stream, or NaN if there is none.
    runs : dict
        ``{beta: [Run, ...]}``, the runs made for every candidate tried (the first unstable one
        ends a list).
    """
    betas = sorted(
        (check_positive_float("betas", float(b)) for b in betas), reverse=True
    )
    if not betas:
        raise ValueError("betas must hold at least one step size")
    if test_tasks is None:
        raise ValueError(
            "test_tasks must be given: they decide whether a run is stable"
        )
    T = check_positive_int("iterations", iterations)
    seeds = [check_nonnegative_int("seeds", int(s)) for s in np.atleast_1d(seeds)]
    runs = {}
    for beta in betas:
        runs[beta] = []
        for seed in seeds:
            run = train(
                method,
                params0,
                alpha,
                beta,
                N,
                T,
                np.random.default_rng(seed),
                n=n,
                m_in=m_in,
                m_out=m_out,
                ridge=ridge,
                test_tasks=test_tasks,
                record_every=record_every or T,
                warn=False,
            )
            runs[beta].append(run)
            if not run.stable:
                break
        if all(run.stable for run in runs[beta]):
            return beta, runs
    return float("nan"), runs


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
    if set(starts) != set(HEADS):
        raise ValueError(
            f"starts must map each of {HEADS} to its starting parameters, got {sorted(starts)}"
        )
    return {
        head: train(
            "exact_anil",
            starts[head],
            alpha,
            beta,
            N,
            iterations,
            np.random.default_rng(check_nonnegative_int("seed", int(seed))),
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
