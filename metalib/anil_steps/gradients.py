"""Meta-gradients through N inner steps: exact ANIL, first-order ANIL and exact N-step MAML.

Chapter 20 (``chapters/20_anil_beyond_linear``):

* :func:`features`, :func:`predict`: eqs. `eq-tanh-body`, `eq-ridge-head`, `eq-mlp-head`;
* :func:`inner_loop`: eq. `eq-anil-inner-n`; :func:`meta_loss`: eq. `eq-anil-bilevel`;
* :func:`meta_gradient` with ``"exact_anil"``: eqs. `eq-anil-metagrad-w`, `eq-anil-metagrad-phi`,
  algorithm `alg-anil-backward` (region ``anil-meta-gradient``), the mixed products accumulated
  into one body backward pass (eq. `eq-mixed-accumulated`); with ``"fo_anil"``: eq. `eq-fo-anil-n`,
  checked against :func:`first_order_reference`;
* :func:`head_hessian`: the head Hessian, column by column from R-passes (eq. `eq-rop-pass`).

Chapter 21 (``chapters/21_inner_steps_and_cost``):

* :func:`meta_gradient` with ``"exact_maml"``: eqs. `eq-maml-inner-n`, `eq-maml-metagrad`
  (region ``maml-meta-gradient``); :func:`meta_loss`: eq. `eq-maml-objective-n`;
* :func:`meta_smoothness`: the local smoothness constant of the meta-objective.

The inner (support) loss of a task is ``1/(2 m_in) sum (f(x) - y)^2 + ridge/2 ||head||^2`` and the
outer (query) loss ``1/(2 m_out) sum (f(x) - y)^2``. Everything is vectorized over the ``n`` tasks
(always the first axis) and their samples; the only Python loops run over the ``N`` inner steps and
the layers of the network.
"""

from __future__ import annotations

import numpy as np

from ..validation import (
    as_array,
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_rng,
)
from .autodiff import (
    _acts,
    _backward,
    _forward,
    _head_dict,
    _head_mats,
    _jvp,
    _lift,
    _rop_backward,
    _squared_loss,
    _Tally,
)
from .model import BODY_KEYS, HEAD_KEYS, METHODS, check_params, check_tasks, head_kind

# ------------------------------------------------------------------------------------------------
# ANIL: features once, N head steps, backward pass over the stored iterates
# ------------------------------------------------------------------------------------------------


def _features(p, X, tally):
    return _forward([p["W1"], p["W2"]], ("tanh", "tanh"), _lift(X), tally)


def _step_sizes(alpha, N):
    """The step size of each of the N inner steps: ``alpha`` repeated, or ``alpha`` itself when it
    is already a list of N per-step values.

    Runs with different numbers of inner steps are trained together (:func:`_meta_gradient_runs`)
    by giving a run the step size 0 after its own ``N``: such a step leaves the head unchanged and
    its Jacobian ``I - 0 H`` is the identity, so the run's iterates and meta-gradient are exactly
    those of its own ``N``.
    """
    return alpha if isinstance(alpha, list) else [alpha] * N


def _head_inner_loop(
    kind, head0, Phi, y, alpha, N, ridge, tally, keep=True, track_loss=False
):
    """N gradient steps on the head (eq. `eq-anil-inner-n`); returns iterates, activations,
    cotangents and (``track_loss``) the support losses.

    ``alpha`` is the step size: a float, an array of shape (n, 1, 1) giving every task its own, or
    a list of N such values, one per inner step (see :func:`_step_sizes`); ``ridge`` a float or
    an array of shape (n, 1, 1). Losses are tracked for a float ``ridge`` only.
    """
    acts = _acts(kind, body=False)
    heads, stored, losses = [head0], [], []
    steps = _step_sizes(alpha, N)
    for j in range(N):
        As = _forward(heads[-1], acts, Phi, tally)
        loss, G = _squared_loss(As, y)
        grads, _ = _backward(heads[-1], acts, As, G, tally)
        if track_loss:
            losses.append(
                loss + 0.5 * ridge * sum(np.sum(W**2, axis=(-2, -1)) for W in heads[-1])
            )
        heads.append([W - steps[j] * (g + ridge * W) for W, g in zip(heads[-1], grads)])
        if keep:
            stored.append((As, G))
        else:
            heads = heads[-1:]
    return heads, stored, losses


def _body_layout(p, rows, per_task):
    """The body weights and how the ``rows`` tasks share them.

    A run's tasks share one body, so the body's passes stack all their points as the rows of one
    matrix. Body weights of shape (h, 2), (k', h) serve all tasks (one run); with a leading axis
    ``R`` (several runs trained together, :func:`_meta_gradient_runs`) run ``r`` owns the tasks
    ``r n, ..., r n + n - 1``; ``per_task`` makes every task its own run (per-task gradients).
    Returns ``(body, R, n, lead)`` with ``lead = (R,)`` when the weights carry the run axis.
    """
    body = [p["W1"], p["W2"]]
    if per_task:
        body = [np.broadcast_to(W, (rows, *W.shape[-2:])) for W in body]
    lead = (body[0].shape[0],) if body[0].ndim == 3 else ()
    R = lead[0] if lead else 1
    return body, R, rows // R, lead


# region: anil-meta-gradient
def _anil(
    kind, p, X_in, y_in, X_out, y_out, alpha, N, ridge, order, tally, per_task=False
):
    """Per-task query losses, and (order "exact"/"first") the task-averaged meta-gradient of
    ANIL."""
    rows, m_in = X_in.shape
    m = m_in + X_out.shape[1]
    body, R, n, lead = _body_layout(p, rows, per_task)
    steps = _step_sizes(alpha, N)  # steps[j]: the step size of inner step j
    tally.category = "outer"
    body_acts = ("tanh", "tanh")
    X = _lift(np.concatenate([X_in, X_out], axis=1))
    A_body = _forward(
        body, body_acts, X.reshape(*lead, n * m, 2), tally
    )  # one run's points
    Phi = A_body[-1].reshape(rows, m, -1)  # back to (tasks, points, features)
    Phi_S, Phi_D = Phi[:, :m_in], Phi[:, m_in:]
    head0 = [  # every task starts from its run's head
        np.repeat(W, n, axis=0) if W.ndim == 3 else np.broadcast_to(W, (rows, *W.shape))
        for W in _head_mats(kind, p)
    ]
    tally.category = "inner"
    heads, stored, _ = _head_inner_loop(
        kind, head0, Phi_S, y_in, steps, N, ridge, tally, keep=order == "exact"
    )
    tally.category = "outer"
    acts = _acts(kind, body=False)
    A_D = _forward(heads[-1], acts, Phi_D, tally)
    loss_D, G_D = _squared_loss(A_D, y_out)
    if order is None:
        return loss_D, None
    v, G_Phi_D = _backward(
        heads[-1], acts, A_D, G_D, tally, need_input=True
    )  # g = grad_w L_D(w_N, phi)
    C = np.zeros_like(Phi_S)  # accumulated mixed cotangent
    if order == "exact":  # algorithm alg-anil-backward
        tally.category = "second_order"
        for j in reversed(range(N)):
            As, G = stored[j]
            dAs = _jvp(heads[j], acts, As, v, tally)
            Hv, dG_Phi = _rop_backward(
                heads[j], acts, As, v, dAs, G, dAs[-1] / m_in, tally, need_input=True
            )
            C = C - steps[j] * dG_Phi  # eq. eq-mixed-accumulated
            v = [
                vW - steps[j] * (HW + ridge * vW) for vW, HW in zip(v, Hv)
            ]  # v <- (I - alpha H_j) v
    # one body backward for the query gradient and all N mixed products (eq. eq-anil-metagrad-phi);
    # its work is linear in the number of rows, so the support rows' share (the mixed products) is
    # booked as second-order
    G_body = np.concatenate([C, G_Phi_D], axis=1).reshape(A_body[-1].shape)
    before = tally.madds["outer"]
    tally.category = "outer"
    grads_body, _ = _backward(
        body, body_acts, A_body, G_body, tally
    )  # summed over a run
    if order == "exact":
        share = (tally.madds["outer"] - before) * m_in // m
        tally.madds["outer"] -= share
        tally.madds["second_order"] += share
    grads = {
        "W1": grads_body[0] / n,
        "W2": grads_body[1] / n,
    }  # mean over a run's tasks
    v = [vW.reshape(*lead, n, *vW.shape[1:]).mean(axis=len(lead)) for vW in v]
    grads.update(_head_dict(kind, v))
    return loss_D, grads


# endregion: anil-meta-gradient


# ------------------------------------------------------------------------------------------------
# MAML: every parameter adapts; full Hessian-vector products
# ------------------------------------------------------------------------------------------------


# region: maml-meta-gradient
def _maml(
    kind, p, X_in, y_in, X_out, y_out, alpha, N, ridge, order, tally, per_task=False
):
    """Per-task query losses and (order "exact") the exact N-step MAML meta-gradient (eq.
    `eq-maml-metagrad`)."""
    n, m_in = X_in.shape
    acts = _acts(kind)
    n_body = len(BODY_KEYS)
    theta = [
        np.broadcast_to(W, (n, *W.shape[-2:]))
        for W in [p["W1"], p["W2"]] + _head_mats(kind, p)
    ]
    thetas, stored = [theta], []
    steps = _step_sizes(alpha, N)  # steps[j]: the step size of inner step j
    Xt_in = _lift(X_in)
    tally.category = "inner"
    for j in range(N):  # eq. eq-maml-inner-n
        As = _forward(thetas[-1], acts, Xt_in, tally)
        _, G = _squared_loss(As, y_in)
        grads, _ = _backward(thetas[-1], acts, As, G, tally)
        reg = [0.0] * n_body + [ridge * W for W in thetas[-1][n_body:]]
        thetas.append(
            [W - steps[j] * (g + c) for W, g, c in zip(thetas[-1], grads, reg)]
        )
        stored.append((As, G))
    tally.category = "outer"
    A_D = _forward(thetas[-1], acts, _lift(X_out), tally)
    loss_D, G_D = _squared_loss(A_D, y_out)
    if order is None:
        return loss_D, None
    v, _ = _backward(thetas[-1], acts, A_D, G_D, tally)
    tally.category = "second_order"
    for j in reversed(range(N)):
        As, G = stored[j]
        dAs = _jvp(thetas[j], acts, As, v, tally)
        Hv, _ = _rop_backward(thetas[j], acts, As, v, dAs, G, dAs[-1] / m_in, tally)
        reg = [0.0] * n_body + [ridge * vW for vW in v[n_body:]]
        v = [vW - steps[j] * (HW + c) for vW, HW, c in zip(v, Hv, reg)]
    v = v if per_task else [vW.mean(axis=0) for vW in v]
    grads = {"W1": v[0], "W2": v[1]}
    grads.update(_head_dict(kind, v[n_body:]))
    return loss_D, grads


# endregion: maml-meta-gradient


# ------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------


def _check_common(alpha, N, ridge):
    return (
        check_positive_float("alpha", alpha),
        check_nonnegative_int("N", N),
        check_nonnegative_float("ridge", ridge),
    )


def features(params, X):
    """Body features ``Phi(x) = tanh(W2 tanh(W1 (x, 1)))`` (eq. `eq-tanh-body`).

    Parameters
    ----------
    params : dict
        Parameters (see :func:`init_params`); only the body is used.
    X : array_like, shape (n, m)

    Returns
    -------
    Phi : ndarray, shape (n, m, k')
    """
    _, p = check_params(params)
    X = as_array("X", X, ndim=2)
    return _features(p, X, _Tally())[-1]


def predict(params, X):
    """Network output ``f(x; w, phi)`` for the head in ``params`` (eqs. `eq-ridge-head`,
    `eq-mlp-head`).

    Parameters
    ----------
    params : dict
        Parameters; a head with a leading task axis (``w`` of shape (n, k'), or ``V`` (n, r, k')
        and ``a`` (n, r)) gives each task its own head, as after adaptation.
    X : array_like, shape (n, m)

    Returns
    -------
    ndarray, shape (n, m)
    """
    kind = head_kind(params)
    X = as_array("X", X, ndim=2)
    head = {key: as_array(f"params['{key}']", params[key]) for key in HEAD_KEYS[kind]}
    per_task = head["w"].ndim == 2 if kind == "ridge" else head["V"].ndim == 3
    # the body and one head are checked as usual; a per-task head has a leading axis of length
    # n (the rows of X)
    one_head = {key: value[0] if per_task else value for key, value in head.items()}
    _, p = check_params({**{key: params[key] for key in BODY_KEYS}, **one_head})
    for key, value in head.items():
        if per_task and value.shape != (X.shape[0], *p[key].shape):
            raise ValueError(
                f"params['{key}'] must have shape {p[key].shape} or, one per task, "
                f"{(X.shape[0], *p[key].shape)}; got {value.shape}"
            )
    tally = _Tally()
    Phi = _features(p, X, tally)[-1]
    return _forward(_head_mats(kind, head), _acts(kind, body=False), Phi, tally)[-1][
        ..., 0
    ]


def inner_loop(params, X_in, y_in, alpha, N, ridge=0.0):
    """The N head iterates of every task (eq. `eq-anil-inner-n`): ``w_{j+1} = w_j - alpha grad_w
    L_S(w_j, phi)``.

    Parameters
    ----------
    params : dict
        Body and head initialization ``w_0``.
    X_in, y_in : array_like, shape (n, m_in)
        Support sets.
    alpha : float
        Inner step size.
    N : int
        Number of inner steps (0 returns the initialization).
    ridge : float
        Ridge weight ``lambda`` of the inner loss.

    Returns
    -------
    heads : list of N + 1 dicts
        ``heads[j]`` holds the head of every task after ``j`` steps (leading axis n).
    support_loss : ndarray, shape (N + 1, n)
        Inner loss ``L_S(w_j, phi)`` of every task along the way (ridge included).
    """
    kind, p = check_params(params)
    X_in = as_array("X_in", X_in, ndim=2)
    y_in = as_array("y_in", y_in, ndim=2)
    if y_in.shape != X_in.shape:
        raise ValueError(
            f"y_in must have the shape of X_in {X_in.shape}, got {y_in.shape}"
        )
    alpha, N, ridge = _check_common(alpha, N, ridge)
    tally = _Tally()
    Phi = _features(p, X_in, tally)[-1]
    head0 = [np.broadcast_to(W, (X_in.shape[0], *W.shape)) for W in _head_mats(kind, p)]
    with np.errstate(over="ignore", invalid="ignore"):
        heads, _, losses = _head_inner_loop(
            kind, head0, Phi, y_in, alpha, N, ridge, tally, track_loss=True
        )
        last_fit, _ = _squared_loss(
            _forward(heads[-1], _acts(kind, body=False), Phi, tally), y_in
        )
        losses.append(
            last_fit + 0.5 * ridge * sum(np.sum(W**2, axis=(-2, -1)) for W in heads[-1])
        )
    return [_head_dict(kind, h) for h in heads], np.array(losses)


def head_hessian(params, X_in, y_in, ridge=0.0):
    """The full head Hessian ``H = grad_w^2 L_S(w, phi)`` of every task, built from head
    Hessian-vector products.

    Each column is one R-operator product (eq. `eq-rop-pass`) on a basis vector; used to check
    strong convexity (``mu_sc = lambda_min(H) >= ridge`` for the ridge head) and nonconvexity (a
    negative eigenvalue for the two-layer head). Head parameters are flattened in the order ``w``
    or ``(V row-major, a)``.

    Parameters
    ----------
    params : dict
        Body and a shared head (no task axis).
    X_in, y_in : array_like, shape (n, m_in)
    ridge : float

    Returns
    -------
    H : ndarray, shape (n, P, P) with ``P`` the number of head parameters
    """
    kind, p = check_params(params)
    X_in = as_array("X_in", X_in, ndim=2)
    y_in = as_array("y_in", y_in, ndim=2)
    if y_in.shape != X_in.shape:
        raise ValueError(
            f"y_in must have the shape of X_in {X_in.shape}, got {y_in.shape}"
        )
    ridge = check_nonnegative_float("ridge", ridge)
    tally = _Tally()
    n = X_in.shape[0]
    Phi = _features(p, X_in, tally)[-1]
    head = [np.broadcast_to(W, (n, *W.shape)) for W in _head_mats(kind, p)]
    acts = _acts(kind, body=False)
    As = _forward(head, acts, Phi, tally)
    _, G = _squared_loss(As, y_in)
    sizes = [W.shape[-2] * W.shape[-1] for W in head]
    P = sum(sizes)
    H = np.empty((n, P, P))
    for col in range(P):  # a loop over head coordinates, not tasks
        e = np.zeros(P)
        e[col] = 1.0
        parts = np.split(e, np.cumsum(sizes)[:-1])
        v = [
            np.broadcast_to(part.reshape(W.shape[-2:]), W.shape)
            for part, W in zip(parts, head)
        ]
        dAs = _jvp(head, acts, As, v, tally)
        Hv, _ = _rop_backward(head, acts, As, v, dAs, G, dAs[-1] / X_in.shape[1], tally)
        H[:, :, col] = (
            np.concatenate([h.reshape(n, -1) for h in Hv], axis=1) + ridge * e
        )
    return H


def meta_loss(method, params, tasks, alpha, N, ridge=0.0):
    """Meta-objective: query loss after N inner steps, averaged over tasks (eqs. `eq-anil-bilevel`,
    `eq-maml-objective-n`).

    ``F(w_0, phi) = (1/n) sum_i L_{D_i}(w_N^i(w_0, phi), phi)`` for ANIL (``"exact_anil"``,
    ``"fo_anil"``: the first-order method follows this objective approximately), and the same with
    every parameter adapted for ``"exact_maml"``.

    Parameters
    ----------
    method : {"exact_anil", "fo_anil", "exact_maml"}
    params : dict
    tasks : Tasks
    alpha : float
    N : int
    ridge : float

    Returns
    -------
    float
    """
    method = check_choice("method", method, METHODS)
    kind, p = check_params(params)
    data = check_tasks(tasks)
    alpha, N, ridge = _check_common(alpha, N, ridge)
    return _meta_loss(method, kind, p, data, alpha, N, ridge)


def _meta_loss(method, kind, p, data, alpha, N, ridge):
    run = _maml if method == "exact_maml" else _anil
    with np.errstate(over="ignore", invalid="ignore"):
        loss, _ = run(kind, p, *data, alpha, N, ridge, None, _Tally())
    return float(np.mean(loss))


def meta_gradient(method, params, tasks, alpha, N, ridge=0.0, per_task=False):
    """Meta-gradient of ANIL (exact or first-order) or of exact MAML through N inner steps.

    * ``"exact_anil"``: eqs. `eq-anil-metagrad-w`, `eq-anil-metagrad-phi`, computed by algorithm
      `alg-anil-backward` (N head Hessian-vector products and N mixed products per task, the mixed
      products accumulated into one body backward pass, eq. `eq-mixed-accumulated`);
    * ``"fo_anil"``: eq. `eq-fo-anil-n` (the query gradient at the adapted head, no second-order
    term);
    * ``"exact_maml"``: eq. `eq-maml-metagrad` (N Hessian-vector products over all parameters per
    task).

    Parameters
    ----------
    method : {"exact_anil", "fo_anil", "exact_maml"}
    params : dict
        Body ``W1`` (h, 2), ``W2`` (k', h) and head ``w`` (k',) or ``V`` (r, k'), ``a`` (r,).
    tasks : Tasks
        ``n`` tasks.
    alpha : float
        Inner step size.
    N : int
        Number of inner steps.
    ridge : float
        Ridge weight of the inner loss (applied to the head only).
    per_task : bool
        Return the gradient of every task's query loss (leading axis n) instead of their average.

    Returns
    -------
    loss : float
        The meta-objective at ``params`` (:func:`meta_loss`).
    grads : dict
        Same keys and shapes as ``params`` (with a leading task axis if ``per_task``); averaged
        over the tasks otherwise.
    cost : dict
        ``hvp``: Hessian-vector products computed (``N n``), ``hvp_dim``: dimension of the
        parameter block they act on (head for ANIL, all parameters for MAML), ``mixed``: mixed
        body-head products (``N n`` for exact ANIL), ``madds``: multiply-adds of all matrix
        products, by category ``inner`` (inner loop), ``second_order`` (the backward pass with its
        Hessian-vector and mixed products), ``outer`` (features and query gradient) and ``total``.
    """
    method = check_choice("method", method, METHODS)
    kind, p = check_params(params)
    data = check_tasks(tasks)
    alpha, N, ridge = _check_common(alpha, N, ridge)
    if not isinstance(per_task, (bool, np.bool_)):
        raise TypeError(f"per_task must be True or False, got {per_task!r}")
    return _meta_gradient(method, kind, p, data, alpha, N, ridge, bool(per_task))


def _meta_gradient(method, kind, p, data, alpha, N, ridge, per_task=False):
    """:func:`meta_gradient` on validated arguments (``data`` = the four task arrays)."""
    X_in, y_in, X_out, y_out = data
    tally = _Tally()
    with np.errstate(over="ignore", invalid="ignore"):
        if method == "exact_maml":
            loss, grads = _maml(
                kind,
                p,
                X_in,
                y_in,
                X_out,
                y_out,
                alpha,
                N,
                ridge,
                "exact",
                tally,
                per_task,
            )
        else:
            order = "exact" if method == "exact_anil" else "first"
            loss, grads = _anil(
                kind,
                p,
                X_in,
                y_in,
                X_out,
                y_out,
                alpha,
                N,
                ridge,
                order,
                tally,
                per_task,
            )
    body = sum(p[key].size for key in BODY_KEYS)
    head = sum(p[key].size for key in HEAD_KEYS[kind])
    n = X_in.shape[0]
    exact = method != "fo_anil"
    cost = {
        "hvp": N * n if exact else 0,
        "hvp_dim": int(body + head) if method == "exact_maml" else int(head),
        "mixed": N * n if method == "exact_anil" else 0,
        "madds": dict(tally.madds, total=sum(tally.madds.values())),
    }
    return float(np.mean(loss)), grads, cost


def _meta_gradient_runs(method, kind, P, data, alpha, N, ridge, gradient=True):
    """Meta-losses and meta-gradients of ``R`` runs at once (several runs trained together).

    ``P`` holds every parameter with a leading run axis (``W1`` of shape (R, h, 2), ...);
    ``data`` the four task arrays, of shape (R, n, m) (each run its own tasks) or (n, m) (the
    same tasks for every run); ``alpha`` and ``ridge`` are floats or arrays of shape (R,); ``N``
    an int or an array of shape (R,) (each run takes ``max N`` steps, with step size 0 after its
    own ``N``, see :func:`_step_sizes`).
    The runs' tasks are stacked on the engine's task axis (R n rows), each row with its own copy
    of its run's parameters (the engine allows a task axis on every weight), so one pass of array
    operations serves all runs; the per-task gradients are then averaged within each run. With
    ``R = 1`` this is exactly :func:`_meta_gradient`'s computation. ``gradient=False`` computes
    the losses only.

    Returns
    -------
    loss : ndarray, shape (R,)
    grads : dict of ndarray with a leading axis R, or None
    madds : dict
        Multiply-adds of the whole batch by category (``R`` times one run's).
    """
    R = P["W1"].shape[0]
    data = [np.broadcast_to(A, (R, *np.shape(A)[-2:])) for A in data]
    n = data[0].shape[1]
    tally = _Tally()
    run = _maml if method == "exact_maml" else _anil
    order = ("first" if method == "fo_anil" else "exact") if gradient else None
    N_runs = np.broadcast_to(np.asarray(N), (R,))
    N = int(N_runs.max())
    if R == 1:  # shared weights, as in meta_gradient
        p = {key: value[0] for key, value in P.items()}
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grads = run(
                kind, p, *(A[0] for A in data), alpha, N, ridge, order, tally
            )
        loss = np.array([np.mean(loss)])
        grads = None if grads is None else {key: g[None] for key, g in grads.items()}
        return loss, grads, tally.madds

    def per_row(x):
        x = np.asarray(x, dtype=float)
        return float(x) if x.ndim == 0 else np.repeat(x, n)[:, None, None]

    if np.any(N_runs != N):  # a run stops stepping (step size 0) after its own N
        alpha = [per_row(np.where(j < N_runs, alpha, 0.0)) for j in range(N)]
    else:
        alpha = per_row(alpha)

    rows = [A.reshape(R * n, A.shape[-1]) for A in data]
    maml = method == "exact_maml"  # MAML adapts every weight: one copy per task
    p_rows = (
        {key: np.repeat(value, n, axis=0) for key, value in P.items()} if maml else P
    )
    with np.errstate(over="ignore", invalid="ignore"):
        loss, grads = run(
            kind, p_rows, *rows, alpha, N, per_row(ridge), order, tally, maml
        )
    loss = loss.reshape(R, n).mean(axis=1)
    if grads is not None and maml:
        grads = {
            key: g.reshape(R, n, *g.shape[1:]).mean(axis=1) for key, g in grads.items()
        }
    return loss, grads, tally.madds


def first_order_reference(params, tasks, alpha, N, ridge=0.0):
    """The objective whose gradient is the FO-ANIL direction (eq. `eq-fo-anil-n`), for
    finite-difference checks.

    Returns ``f(params_var)`` = mean query loss at head ``w_var + (w_N^i - w_0)`` and body
    ``phi_var``, where the shifts ``w_N^i - w_0`` are computed once at ``params`` and then frozen.
    Its gradient at ``params`` is exactly the first-order direction.

    Parameters
    ----------
    params : dict
    tasks : Tasks
    alpha, N, ridge : as in :func:`meta_gradient`

    Returns
    -------
    callable
        Maps a parameter dict (same keys and shapes) to a float.
    """
    kind, p = check_params(params)
    X_in, y_in, X_out, y_out = check_tasks(tasks)
    alpha, N, ridge = _check_common(alpha, N, ridge)
    heads, _ = inner_loop(p, X_in, y_in, alpha, N, ridge)
    shift = {key: heads[-1][key] - p[key] for key in HEAD_KEYS[kind]}

    def frozen(params_var):
        adapted = {key: params_var[key] for key in BODY_KEYS}
        adapted.update({key: params_var[key] + shift[key] for key in HEAD_KEYS[kind]})
        return float(
            np.mean(0.5 * np.mean((predict(adapted, X_out) - y_out) ** 2, axis=-1))
        )

    return frozen


def _flatten(params, keys):
    return np.concatenate([np.ravel(params[key]) for key in keys])


def _unflatten(vec, like, keys):
    out, start = dict(like), 0
    for key in keys:
        size = np.size(like[key])
        out[key] = vec[start : start + size].reshape(np.shape(like[key]))
        start += size
    return out


def _lanczos_extremes(matvec, v, steps, tol):
    """Smallest and largest Ritz values of a symmetric operator after at most ``steps`` Lanczos
    steps from ``v`` (full reorthogonalization; stops early when both change by less than
    ``tol`` relative to the largest magnitude, or when the Krylov space is exhausted)."""
    basis = [v / np.linalg.norm(v)]
    diag, off = [], []
    w = matvec(basis[0])
    extremes = (np.nan, np.nan)
    for _ in range(steps):
        diag.append(float(w @ basis[-1]))
        T = np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)
        ritz = np.linalg.eigvalsh(T)
        previous, extremes = extremes, (float(ritz[0]), float(ritz[-1]))
        if not np.all(np.isfinite(ritz)):
            return (np.nan, np.nan)
        scale = max(abs(extremes[0]), abs(extremes[1]))
        change = max(abs(a - b) for a, b in zip(extremes, previous))
        if (
            len(diag) == steps or change <= tol * scale
        ):  # NaN change (first step) goes on
            break
        Q = np.array(basis)
        w = w - diag[-1] * basis[-1]
        w = w - Q.T @ (Q @ w)  # full reorthogonalization (the basis is small)
        b = float(np.linalg.norm(w))
        if b <= 1e-12 * max(scale, 1e-300):  # exhausted: the Ritz values are exact
            break
        off.append(b)
        basis.append(w / b)
        w = matvec(basis[-1]) - b * basis[-2]
    return extremes


def meta_smoothness(
    method,
    params,
    tasks,
    alpha,
    N,
    ridge=0.0,
    iterations=30,
    eps=1e-5,
    rng=None,
    block="all",
    which="magnitude",
    tol=0.0,
):
    """Extreme eigenvalues of the meta-Hessian, by Lanczos iteration on finite differences of the
    exact meta-gradient.

    ``H_meta v ~ (grad F(x + eps v) - grad F(x - eps v)) / (2 eps)``, the two gradients computed
    together as two runs of one batch. Lanczos iteration builds an orthonormal basis of the Krylov
    space ``v, H v, H^2 v, ...`` and the tridiagonal matrix of ``H_meta`` in it; the extreme
    eigenvalues of that small matrix (Ritz values) approach those of ``H_meta`` from inside, both
    ends of the spectrum from the same products. ``max |lambda|`` is the local smoothness constant
    of the meta-objective, which caps the stable outer step size of gradient descent at about
    ``2 / L_meta``.

    Parameters
    ----------
    method : {"exact_anil", "exact_maml"}
    params : dict
    tasks : Tasks
        A fixed batch: the smoothness of the batch meta-objective.
    alpha, N, ridge : as in :func:`meta_gradient`
    iterations : int
        Largest number of Lanczos steps (Hessian-vector products).
    eps : float
        Finite-difference step.
    rng : numpy.random.Generator
        Draws the starting vector.
    block : {"all", "body", "head"}
        Restrict to the body block, the head block, or use all parameters.
    which : {"magnitude", "largest", "both"}
        ``"magnitude"``: the largest ``|eigenvalue|``, ``max |lambda|``; ``"largest"``: the largest
        eigenvalue ``lambda_max`` (the largest positive curvature when it is positive);
        ``"both"``: the pair ``(max |lambda|, lambda_max)``.
    tol : float
        Stop once both extreme Ritz values change by less than ``tol`` (relative to the larger
        magnitude) from one step to the next; 0 runs all ``iterations`` (or until the Krylov
        space is exhausted, where the values are exact).

    Returns
    -------
    float, or a pair of floats for ``which="both"``
    """
    method = check_choice("method", method, ("exact_anil", "exact_maml"))
    which = check_choice("which", which, ("magnitude", "largest", "both"))
    kind, p = check_params(params)
    iterations = check_positive_int("iterations", iterations)
    eps = check_positive_float("eps", eps)
    block = check_choice("block", block, ("all", "body", "head"))
    tol = check_nonnegative_float("tol", tol)
    check_rng("rng", rng)
    data = check_tasks(tasks)
    alpha, N, ridge = _check_common(alpha, N, ridge)
    keys = {
        "all": BODY_KEYS + HEAD_KEYS[kind],
        "body": BODY_KEYS,
        "head": HEAD_KEYS[kind],
    }[block]
    x = _flatten(p, keys)
    pair = {key: np.stack([p[key], p[key]]) for key in p}

    def hessian_vector(v):  # central difference; both points as two runs of one batch
        for side, point in enumerate((x + eps * v, x - eps * v)):
            for key, value in _unflatten(point, p, keys).items():
                if key in keys:
                    pair[key][side] = value
        _, grads, _ = _meta_gradient_runs(method, kind, pair, data, alpha, N, ridge)
        plus, minus = (
            _flatten({key: grads[key][side] for key in keys}, keys) for side in (0, 1)
        )
        return (plus - minus) / (2 * eps)

    low, high = _lanczos_extremes(
        hessian_vector, rng.standard_normal(x.size), iterations, tol
    )
    magnitude, largest = max(abs(low), abs(high)), high
    return {"magnitude": magnitude, "largest": largest, "both": (magnitude, largest)}[
        which
    ]
