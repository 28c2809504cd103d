"""ANIL with N inner steps on a nonlinear body, its exact and first-order meta-gradients, and exact
N-step MAML on the same network for the cost comparison.

Implements Part IV of the book (ji2020, ji2022):

* ``chapters/20_anil_beyond_linear``  the sinusoid tasks (eq. `eq-sinusoid-tasks`), the body and the two heads
  (eqs. `eq-tanh-body`, `eq-ridge-head`, `eq-mlp-head`), the inner loop and the bilevel objective
  (eqs. `eq-anil-inner-n`, `eq-anil-bilevel`), the meta-gradient through N steps (eqs. `eq-anil-metagrad-w`,
  `eq-anil-metagrad-phi`, algorithm `alg-anil-backward`), the head Hessian-vector and mixed products
  (eqs. `eq-rop-pass`, `eq-mixed-accumulated`) and the first-order variant (eq. `eq-fo-anil-n`);
* ``chapters/21_inner_steps_and_cost`` training (eq. `eq-outer-step-n`), the stable-step search, and exact
  N-step MAML (eqs. `eq-maml-inner-n`, `eq-maml-metagrad`) with its cost.

The network, for a scalar input ``x`` lifted to ``x~ = (x, 1)``:

* body ``phi = (W1, W2)``: features ``Phi(x) = tanh(W2 tanh(W1 x~))`` in ``R^k'`` (``W1``: ``(h, 2)``,
  ``W2``: ``(k', h)``), a network with one hidden layer of width ``h``;
* head ``"ridge"``: ``f = <w, Phi(x)>`` with ``w`` in ``R^k'`` (strongly convex inner loss when ``ridge > 0``);
* head ``"mlp"``: ``f = <a, tanh(V Phi(x))>`` with ``V``: ``(r, k')``, ``a`` in ``R^r`` (nonconvex inner loss).

Parameters travel as a ``dict`` of arrays: body keys ``"W1"``, ``"W2"``; head keys ``"w"`` or ``"V"``, ``"a"``.
The inner (support) loss of a task is ``1/(2 m_in) sum (f(x) - y)^2 + ridge/2 ||head||^2`` and the outer
(query) loss is ``1/(2 m_out) sum (f(x) - y)^2``.

Shapes: ``n`` tasks (always the first axis), ``m_in``/``m_out`` support/query points per task.
Everything is vectorized over tasks and samples; the only Python loops run over the ``N`` inner steps
and over the layers of the network.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..linrep import DivergenceWarning
from ..validation import (
    as_array,
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_same,
)

__all__ = [
    "HEADS",
    "BODY_KEYS",
    "HEAD_KEYS",
    "METHODS",
    "LABELS",
    "DivergenceWarning",
    "Tasks",
    "sample_sinusoid_tasks",
    "init_params",
    "head_kind",
    "count_params",
    "features",
    "predict",
    "inner_loop",
    "head_hessian",
    "meta_loss",
    "meta_gradient",
    "first_order_reference",
    "meta_smoothness",
    "Run",
    "train",
    "stable_step_search",
    "compare_heads",
    "time_meta_gradient",
]

#: the two heads: a linear head with ridge (strongly convex inner loss) and a two-layer head (nonconvex)
HEADS = ("ridge", "mlp")
#: meta-gradients implemented here
METHODS = ("exact_anil", "fo_anil", "exact_maml")
#: display names
LABELS = {
    "exact_anil": "Exact ANIL",
    "fo_anil": "FO-ANIL",
    "exact_maml": "Exact MAML",
    "ridge": "ridge head (strongly convex)",
    "mlp": "two-layer head (nonconvex)",
}
BODY_KEYS = ("W1", "W2")
HEAD_KEYS = {"ridge": ("w",), "mlp": ("V", "a")}
#: a training run stops when its batch meta-loss exceeds this multiple of its first batch meta-loss
BLOWUP_FACTOR = 1e3


# ----------------------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------------------


class Tasks(NamedTuple):
    """A batch of ``n`` sinusoid regression tasks (eq. `eq-sinusoid-tasks`).

    Attributes
    ----------
    X_in, y_in : ndarray, shape (n, m_in)
        Support inputs and targets.
    X_out, y_out : ndarray, shape (n, m_out)
        Query inputs and targets.
    amplitude, phase : ndarray, shape (n,)
        The task parameters ``A_i`` and ``psi_i``.
    """

    X_in: np.ndarray
    y_in: np.ndarray
    X_out: np.ndarray
    y_out: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray


def sample_sinusoid_tasks(
    rng, n, m_in, m_out, amplitude=(0.1, 5.0), phase=(0.0, np.pi), x_range=(-5.0, 5.0)
):
    """Draw ``n`` tasks ``y = A_i sin(x - psi_i)`` with ``A_i``, ``psi_i`` and ``x`` uniform (eq. `eq-sinusoid-tasks`).

    The ranges are those of the sinusoid benchmark of finn2017.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of tasks.
    m_in, m_out : int
        Support and query points per task.
    amplitude, phase, x_range : pair of float
        Ranges of the uniform distributions of ``A_i``, ``psi_i`` and ``x``.

    Returns
    -------
    Tasks
        With ``X_in, y_in`` of shape (n, m_in) and ``X_out, y_out`` of shape (n, m_out).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
        )
    n = check_positive_int("n", n)
    m_in = check_positive_int("m_in", m_in)
    m_out = check_positive_int("m_out", m_out)
    for name, pair in (
        ("amplitude", amplitude),
        ("phase", phase),
        ("x_range", x_range),
    ):
        if len(pair) != 2 or not pair[0] <= pair[1]:
            raise ValueError(
                f"{name} must be a pair (low, high) with low <= high, got {pair!r}"
            )
    A = rng.uniform(*amplitude, size=n)
    psi = rng.uniform(*phase, size=n)
    X_in = rng.uniform(*x_range, size=(n, m_in))
    X_out = rng.uniform(*x_range, size=(n, m_out))
    return Tasks(
        X_in,
        A[:, None] * np.sin(X_in - psi[:, None]),
        X_out,
        A[:, None] * np.sin(X_out - psi[:, None]),
        A,
        psi,
    )


def _check_tasks(tasks):
    if not isinstance(tasks, Tasks):
        raise TypeError(
            f"tasks must be a metalib.anil_steps.Tasks, got {type(tasks).__name__}"
        )
    X_in = as_array("tasks.X_in", tasks.X_in, ndim=2)
    y_in = as_array("tasks.y_in", tasks.y_in, ndim=2)
    X_out = as_array("tasks.X_out", tasks.X_out, ndim=2)
    y_out = as_array("tasks.y_out", tasks.y_out, ndim=2)
    if y_in.shape != X_in.shape:
        raise ValueError(
            f"tasks.y_in must have the shape of tasks.X_in {X_in.shape}, got {y_in.shape}"
        )
    if y_out.shape != X_out.shape:
        raise ValueError(
            f"tasks.y_out must have the shape of tasks.X_out {X_out.shape}, got {y_out.shape}"
        )
    check_same(
        "n (number of tasks)",
        "tasks.X_in",
        X_in.shape[0],
        "tasks.X_out",
        X_out.shape[0],
    )
    return X_in, y_in, X_out, y_out


# ----------------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------------


def init_params(rng, hidden=32, k_width=8, head="ridge", head_hidden=8):
    """Random starting parameters of the body and a head (the start of every run in Part IV).

    ``W1`` has a slope column ``~ N(0, 1)`` and a bias column ``~ N(0, 1)`` (hidden units tanh(s x + b) spread
    over the input range), ``W2 ~ N(0, 2/h)``; the ridge head starts at ``w = 0``; the two-layer head at
    ``V ~ N(0, 1/k')``, ``a ~ N(0, 1/r)`` (not at 0, a saddle point of its inner loss).

    Parameters
    ----------
    rng : numpy.random.Generator
    hidden : int
        Width ``h`` of the body's hidden layer.
    k_width : int
        Number of features ``k'`` (the head's input dimension).
    head : {"ridge", "mlp"}
    head_hidden : int
        Hidden units ``r`` of the two-layer head (``"mlp"`` only).

    Returns
    -------
    dict of ndarray
        ``W1`` (h, 2), ``W2`` (k', h), and ``w`` (k',) or ``V`` (r, k'), ``a`` (r,).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
        )
    h = check_positive_int("hidden", hidden)
    k = check_positive_int("k_width", k_width)
    head = check_choice("head", head, HEADS)
    r = check_positive_int("head_hidden", head_hidden)
    params = {
        "W1": rng.standard_normal((h, 2)),
        "W2": rng.standard_normal((k, h)) * np.sqrt(2.0 / h),
    }
    if head == "ridge":
        params["w"] = np.zeros(k)
    else:
        params["V"] = rng.standard_normal((r, k)) / np.sqrt(k)
        params["a"] = rng.standard_normal(r) / np.sqrt(r)
    return params


def head_kind(params):
    """``"ridge"`` if ``params`` holds a linear head ``w``, ``"mlp"`` if it holds ``V`` and ``a``."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    for kind, keys in HEAD_KEYS.items():
        if set(params) == set(BODY_KEYS) | set(keys):
            return kind
    raise ValueError(
        f"params must hold the keys W1, W2 and either w or (V, a); got {sorted(params)}"
    )


def _check_params(params):
    """Validate shapes; return (kind, dict of float arrays)."""
    kind = head_kind(params)
    p = {key: as_array(f"params['{key}']", params[key]) for key in params}
    if p["W1"].ndim != 2 or p["W1"].shape[1] != 2:
        raise ValueError(f"params['W1'] must have shape (h, 2), got {p['W1'].shape}")
    h = p["W1"].shape[0]
    if p["W2"].ndim != 2 or p["W2"].shape[1] != h:
        raise ValueError(f"params['W2'] must have shape (k', {h}), got {p['W2'].shape}")
    k = p["W2"].shape[0]
    if kind == "ridge":
        if p["w"].shape != (k,):
            raise ValueError(f"params['w'] must have shape ({k},), got {p['w'].shape}")
    else:
        if p["V"].ndim != 2 or p["V"].shape[1] != k:
            raise ValueError(
                f"params['V'] must have shape (r, {k}), got {p['V'].shape}"
            )
        if p["a"].shape != (p["V"].shape[0],):
            raise ValueError(
                f"params['a'] must have shape ({p['V'].shape[0]},), got {p['a'].shape}"
            )
    return kind, p


def count_params(params):
    """Sizes of the parameter blocks: ``{"body": dim phi, "head": dim w, "total": ...}``."""
    kind, p = _check_params(params)
    body = sum(p[key].size for key in BODY_KEYS)
    head = sum(p[key].size for key in HEAD_KEYS[kind])
    return {"body": int(body), "head": int(head), "total": int(body + head)}


# ----------------------------------------------------------------------------------------------------
# The network as a stack of layers  A_l = act(A_{l-1} W_l^T), and its four passes
# ----------------------------------------------------------------------------------------------------
# Weights are matrices; the vector parameters w and a are stored as (..., 1, k) rows. A leading task axis is
# optional on the weights (shared body in ANIL, per-task copies in MAML). Every matrix product goes through a
# tally, which counts multiply-adds per category, so that the cost of a meta-gradient is measured, not guessed.


def _swap(A):
    return np.swapaxes(A, -1, -2)


class _Tally:
    """Counts multiply-adds of matrix products, by category (deterministic work measure)."""

    def __init__(self):
        self.madds = {"inner": 0, "second_order": 0, "outer": 0}
        self.category = "outer"

    def mm(self, A, B):
        out = A @ B
        self.madds[self.category] += math.prod(out.shape) * A.shape[-1]
        return out


def _acts(kind, body=True, head=True):
    return (("tanh", "tanh") if body else ()) + (
        (("lin",) if kind == "ridge" else ("tanh", "lin")) if head else ()
    )


def _head_mats(kind, p):
    """Head parameters as a list of matrices (vectors become rows)."""
    if kind == "ridge":
        return [p["w"][..., None, :]]
    return [p["V"], p["a"][..., None, :]]


def _head_dict(kind, mats):
    if kind == "ridge":
        return {"w": mats[0][..., 0, :]}
    return {"V": mats[0], "a": mats[1][..., 0, :]}


def _lift(X):
    """``x -> (x, 1)``: shape (n, m) -> (n, m, 2)."""
    return np.stack([X, np.ones_like(X)], axis=-1)


def _forward(Ws, acts, A0, tally):
    """Activations ``[A0, A1, ..., AL]`` (eq. `eq-tanh-body`, and the heads' equations)."""
    As = [A0]
    for W, act in zip(Ws, acts):
        Z = tally.mm(As[-1], _swap(W))
        As.append(np.tanh(Z) if act == "tanh" else Z)
    return As


def _backward(Ws, acts, As, G, tally, need_input=False):
    """Reverse pass: per-task weight gradients for output cotangent ``G`` (and the cotangent of ``A0``)."""
    grads = [None] * len(Ws)
    for l in reversed(range(len(Ws))):
        Gz = G * (1.0 - As[l + 1] ** 2) if acts[l] == "tanh" else G
        grads[l] = tally.mm(_swap(Gz), As[l])
        if l > 0 or need_input:
            G = tally.mm(Gz, Ws[l])
    return grads, (G if need_input else None)


def _jvp(Ws, acts, As, dWs, tally, dA0=None):
    """Forward-mode pass: tangents ``dA_l`` of the activations for weight tangents ``dWs`` (None = 0)."""
    dAs = [dA0]
    for l, (W, act) in enumerate(zip(Ws, acts)):
        dZ = 0.0
        if dAs[l] is not None:
            dZ = dZ + tally.mm(dAs[l], _swap(W))
        if dWs[l] is not None:
            dZ = dZ + tally.mm(As[l], _swap(dWs[l]))
        dAs.append((1.0 - As[l + 1] ** 2) * dZ if act == "tanh" else dZ)
    return dAs


def _rop_backward(Ws, acts, As, dWs, dAs, G, dG, tally, need_input=False):
    """Directional derivative of :func:`_backward` (Pearlmutter's R-operator, eq. `eq-rop-pass`).

    Differentiates the reverse pass along the weight tangents ``dWs`` (with activation tangents ``dAs`` from
    :func:`_jvp`) and the output-cotangent tangent ``dG``. Returns the derivatives of the weight gradients,
    i.e. a Hessian-vector product, and the derivative of the input cotangent.
    """
    dgrads = [None] * len(Ws)
    for l in reversed(range(len(Ws))):
        if acts[l] == "tanh":
            slope = 1.0 - As[l + 1] ** 2
            Gz = G * slope
            dGz = dG * slope
            if dAs[l + 1] is not None:
                dGz = dGz - 2.0 * G * As[l + 1] * dAs[l + 1]
        else:
            Gz, dGz = G, dG
        dgrads[l] = tally.mm(_swap(dGz), As[l])
        if dAs[l] is not None:
            dgrads[l] = dgrads[l] + tally.mm(_swap(Gz), dAs[l])
        if l > 0 or need_input:
            new_dG = tally.mm(dGz, Ws[l])
            if dWs[l] is not None:
                new_dG = new_dG + tally.mm(Gz, dWs[l])
            G, dG = tally.mm(Gz, Ws[l]), new_dG
    return dgrads, (dG if need_input else None)


def _squared_loss(As, y):
    """Per-task ``1/(2m) ||f - y||^2`` and its output cotangent ``(f - y)/m`` of shape (n, m, 1)."""
    r = As[-1][..., 0] - y
    return 0.5 * np.mean(r**2, axis=-1), r[..., None] / y.shape[-1]


# ----------------------------------------------------------------------------------------------------
# ANIL: features once, N head steps, backward pass over the stored iterates
# ----------------------------------------------------------------------------------------------------


def _features(p, X, tally):
    return _forward([p["W1"], p["W2"]], ("tanh", "tanh"), _lift(X), tally)


def _head_inner_loop(kind, head0, Phi, y, alpha, N, ridge, tally, keep=True):
    """N gradient steps on the head (eq. `eq-anil-inner-n`); returns iterates, activations, cotangents, losses."""
    acts = _acts(kind, body=False)
    heads, stored, losses = [head0], [], []
    for _ in range(N):
        As = _forward(heads[-1], acts, Phi, tally)
        loss, G = _squared_loss(As, y)
        grads, _ = _backward(heads[-1], acts, As, G, tally)
        losses.append(
            loss + 0.5 * ridge * sum(np.sum(W**2, axis=(-2, -1)) for W in heads[-1])
        )
        heads.append([W - alpha * (g + ridge * W) for W, g in zip(heads[-1], grads)])
        if keep:
            stored.append((As, G))
        else:
            heads = heads[-1:]
    return heads, stored, losses


def _anil(
    kind, p, X_in, y_in, X_out, y_out, alpha, N, ridge, order, tally, per_task=False
):
    """Per-task query losses, and (order "exact"/"first") the task-averaged meta-gradient of ANIL."""
    n, m_in = X_in.shape
    tally.category = "outer"
    body_acts = ("tanh", "tanh")
    A_body = _forward(
        [p["W1"], p["W2"]],
        body_acts,
        _lift(np.concatenate([X_in, X_out], axis=1)),
        tally,
    )
    Phi_S, Phi_D = A_body[-1][:, :m_in], A_body[-1][:, m_in:]
    head0 = [np.broadcast_to(W, (n, *W.shape)) for W in _head_mats(kind, p)]
    tally.category = "inner"
    heads, stored, _ = _head_inner_loop(
        kind, head0, Phi_S, y_in, alpha, N, ridge, tally, keep=order == "exact"
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
            C = C - alpha * dG_Phi  # eq. eq-mixed-accumulated
            v = [
                vW - alpha * (HW + ridge * vW) for vW, HW in zip(v, Hv)
            ]  # v <- (I - alpha H_j) v
    # one body backward for the query gradient and all N mixed products (eq. eq-anil-metagrad-phi); its work is
    # linear in the number of rows, so the support rows' share (the mixed products) is booked as second-order
    G_body = np.concatenate([C, G_Phi_D], axis=1)
    before = tally.madds["outer"]
    tally.category = "outer"
    grads_body, _ = _backward([p["W1"], p["W2"]], body_acts, A_body, G_body, tally)
    if order == "exact":
        share = (tally.madds["outer"] - before) * m_in // G_body.shape[1]
        tally.madds["outer"] -= share
        tally.madds["second_order"] += share
    reduce = (lambda A: A) if per_task else (lambda A: A.mean(axis=0))
    grads = {"W1": reduce(grads_body[0]), "W2": reduce(grads_body[1])}
    grads.update(_head_dict(kind, [reduce(vW) for vW in v]))
    return loss_D, grads


# ----------------------------------------------------------------------------------------------------
# MAML: every parameter adapts; full Hessian-vector products
# ----------------------------------------------------------------------------------------------------


def _maml(
    kind, p, X_in, y_in, X_out, y_out, alpha, N, ridge, order, tally, per_task=False
):
    """Per-task query losses and (order "exact") the exact N-step MAML meta-gradient (eq. `eq-maml-metagrad`)."""
    n, m_in = X_in.shape
    acts = _acts(kind)
    n_body = len(BODY_KEYS)
    theta = [
        np.broadcast_to(W, (n, *W.shape))
        for W in [p["W1"], p["W2"]] + _head_mats(kind, p)
    ]
    thetas, stored = [theta], []
    Xt_in = _lift(X_in)
    tally.category = "inner"
    for _ in range(N):  # eq. eq-maml-inner-n
        As = _forward(thetas[-1], acts, Xt_in, tally)
        _, G = _squared_loss(As, y_in)
        grads, _ = _backward(thetas[-1], acts, As, G, tally)
        reg = [0.0] * n_body + [ridge * W for W in thetas[-1][n_body:]]
        thetas.append([W - alpha * (g + c) for W, g, c in zip(thetas[-1], grads, reg)])
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
        v = [vW - alpha * (HW + c) for vW, HW, c in zip(v, Hv, reg)]
    v = v if per_task else [vW.mean(axis=0) for vW in v]
    grads = {"W1": v[0], "W2": v[1]}
    grads.update(_head_dict(kind, v[n_body:]))
    return loss_D, grads


# ----------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------


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
    _, p = _check_params(params)
    X = as_array("X", X, ndim=2)
    return _features(p, X, _Tally())[-1]


def predict(params, X):
    """Network output ``f(x; w, phi)`` for the head in ``params`` (eqs. `eq-ridge-head`, `eq-mlp-head`).

    Parameters
    ----------
    params : dict
        Parameters; a head with a leading task axis (``w`` of shape (n, k'), or ``V`` (n, r, k') and ``a``
        (n, r)) gives each task its own head, as after adaptation.
    X : array_like, shape (n, m)

    Returns
    -------
    ndarray, shape (n, m)
    """
    kind = head_kind(params)
    X = as_array("X", X, ndim=2)
    tally = _Tally()
    body = {key: as_array(f"params['{key}']", params[key], ndim=2) for key in BODY_KEYS}
    Phi = _features(body, X, tally)[-1]
    head = [np.asarray(W, dtype=float) for W in _head_mats(kind, params)]
    return _forward(head, _acts(kind, body=False), Phi, tally)[-1][..., 0]


def inner_loop(params, X_in, y_in, alpha, N, ridge=0.0):
    """The N head iterates of every task (eq. `eq-anil-inner-n`): ``w_{j+1} = w_j - alpha grad_w L_S(w_j, phi)``.

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
    kind, p = _check_params(params)
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
            kind, head0, Phi, y_in, alpha, N, ridge, tally
        )
        last_fit, _ = _squared_loss(
            _forward(heads[-1], _acts(kind, body=False), Phi, tally), y_in
        )
        losses.append(
            last_fit + 0.5 * ridge * sum(np.sum(W**2, axis=(-2, -1)) for W in heads[-1])
        )
    return [_head_dict(kind, h) for h in heads], np.array(losses)


def head_hessian(params, X_in, y_in, ridge=0.0):
    """The full head Hessian ``H = grad_w^2 L_S(w, phi)`` of every task, built from head Hessian-vector products.

    Each column is one R-operator product (eq. `eq-rop-pass`) on a basis vector; used to check strong convexity
    (``mu_sc = lambda_min(H) >= ridge`` for the ridge head) and nonconvexity (a negative eigenvalue for the
    two-layer head). Head parameters are flattened in the order ``w`` or ``(V row-major, a)``.

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
    kind, p = _check_params(params)
    X_in = as_array("X_in", X_in, ndim=2)
    y_in = as_array("y_in", y_in, ndim=2)
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
    """Meta-objective: query loss after N inner steps, averaged over tasks (eqs. `eq-anil-bilevel`, `eq-maml-objective-n`).

    ``F(w_0, phi) = (1/n) sum_i L_{D_i}(w_N^i(w_0, phi), phi)`` for ANIL (``"exact_anil"``, ``"fo_anil"``: the
    first-order method follows this objective approximately), and the same with every parameter adapted for
    ``"exact_maml"``.

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
    kind, p = _check_params(params)
    data = _check_tasks(tasks)
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
      `alg-anil-backward` (N head Hessian-vector products and N mixed products per task, the mixed products
      accumulated into one body backward pass, eq. `eq-mixed-accumulated`);
    * ``"fo_anil"``: eq. `eq-fo-anil-n` (the query gradient at the adapted head, no second-order term);
    * ``"exact_maml"``: eq. `eq-maml-metagrad` (N Hessian-vector products over all parameters per task).

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
        Same keys and shapes as ``params`` (with a leading task axis if ``per_task``); averaged over the tasks
        otherwise.
    cost : dict
        ``hvp``: Hessian-vector products computed (``N n``), ``hvp_dim``: dimension of the parameter block they
        act on (head for ANIL, all parameters for MAML), ``mixed``: mixed body-head products (``N n`` for exact
        ANIL), ``madds``: multiply-adds of all matrix products, by category ``inner`` (inner loop),
        ``second_order`` (the backward pass with its Hessian-vector and mixed products), ``outer`` (features and
        query gradient) and ``total``.
    """
    method = check_choice("method", method, METHODS)
    kind, p = _check_params(params)
    data = _check_tasks(tasks)
    alpha, N, ridge = _check_common(alpha, N, ridge)
    return _meta_gradient(method, kind, p, data, alpha, N, ridge, per_task)


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


def first_order_reference(params, tasks, alpha, N, ridge=0.0):
    """The objective whose gradient is the FO-ANIL direction (eq. `eq-fo-anil-n`), for finite-difference checks.

    Returns ``f(params_var)`` = mean query loss at head ``w_var + (w_N^i - w_0)`` and body ``phi_var``, where the
    shifts ``w_N^i - w_0`` are computed once at ``params`` and then frozen. Its gradient at ``params`` is exactly
    the first-order direction.

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
    kind, p = _check_params(params)
    X_in, y_in, X_out, y_out = _check_tasks(tasks)
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
):
    """Largest |eigenvalue| of the meta-Hessian, by power iteration on finite differences of the exact meta-gradient.

    ``H_meta v ~ (grad F(x + eps v) - grad F(x - eps v)) / (2 eps)``; the estimate is ``||H_meta v||`` for the
    final unit ``v``. It measures the local smoothness constant of the meta-objective, which caps the stable
    outer step size of gradient descent at about ``2 / L_meta``.

    Parameters
    ----------
    method : {"exact_anil", "exact_maml"}
    params : dict
    tasks : Tasks
        A fixed batch: the smoothness of the batch meta-objective.
    alpha, N, ridge : as in :func:`meta_gradient`
    iterations : int
        Power-iteration steps.
    eps : float
        Finite-difference step.
    rng : numpy.random.Generator
        Draws the starting vector.
    block : {"all", "body", "head"}
        Restrict to the body block, the head block, or use all parameters.

    Returns
    -------
    float
    """
    method = check_choice("method", method, ("exact_anil", "exact_maml"))
    kind, p = _check_params(params)
    iterations = check_positive_int("iterations", iterations)
    eps = check_positive_float("eps", eps)
    block = check_choice("block", block, ("all", "body", "head"))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
        )
    keys = {
        "all": BODY_KEYS + HEAD_KEYS[kind],
        "body": BODY_KEYS,
        "head": HEAD_KEYS[kind],
    }[block]
    x = _flatten(p, keys)

    def grad(vec):
        return _flatten(
            meta_gradient(method, _unflatten(vec, p, keys), tasks, alpha, N, ridge)[1],
            keys,
        )

    v = rng.standard_normal(x.size)
    v /= np.linalg.norm(v)
    value = 0.0
    for _ in range(iterations):
        Hv = (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)
        value = float(np.linalg.norm(Hv))
        if not np.isfinite(value) or value == 0:
            break
        v = Hv / value
    return value


# ----------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """What :func:`train` records.

    Attributes
    ----------
    method, head : str
    N : int
    alpha, beta, ridge : float
    iterations : ndarray, shape (R,)
        Recorded outer iterations (0 is the start).
    test_loss : ndarray, shape (R,)
        Meta-test loss (adapt with the same N, alpha, ridge on each test task's support set, query loss);
        NaN after a stop.
    seconds : ndarray, shape (R,)
        Training wall-clock time (evaluation excluded) up to each recorded iteration.
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
    """Meta-train by outer gradient steps ``(w_0, phi) <- (w_0, phi) - beta grad F`` on fresh tasks (eq. `eq-outer-step-n`).

    Every outer iteration draws ``n`` new sinusoid tasks (:func:`sample_sinusoid_tasks`) and takes one step along
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
        Meta-learn the head initialization ``w_0`` too (default); if False only the body ``phi`` moves.
    warn : bool
        Emit a :class:`DivergenceWarning` when the run blows up.

    Returns
    -------
    Run

    Warns
    -----
    DivergenceWarning
        When the batch meta-loss becomes non-finite or exceeds ``BLOWUP_FACTOR`` times its first value; the run
        stops there and the warning names the step size to lower: ``alpha`` if the inner loop already raised
        the support loss of the first batch at the starting parameters, ``beta`` otherwise (the outer steps
        then carried the parameters to where the meta-objective is too sharp for them).
    """
    method = check_choice("method", method, METHODS)
    kind, params = _check_params(params0)
    alpha, N, ridge = _check_common(alpha, N, ridge)
    beta = check_positive_float("beta", beta)
    T = check_positive_int("iterations", iterations)
    n, m_in, m_out = (
        check_positive_int("n", n),
        check_positive_int("m_in", m_in),
        check_positive_int("m_out", m_out),
    )
    record_every = check_positive_int("record_every", record_every)
    test_data = None if test_tasks is None else _check_tasks(test_tasks)
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
    elapsed, stopped_at, first = 0.0, -1, None
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
        first = loss if first is None else first
        finite = np.isfinite(loss) and all(np.all(np.isfinite(v)) for v in new.values())
        if not finite or loss > BLOWUP_FACTOR * max(first, 1e-12):
            stopped_at = t
            break
        train_loss[t - 1] = loss
        params = new
        for name, value in cost["madds"].items():
            totals[name] += value
        totals["hvp"] += cost["hvp"]
        if t == recorded[column]:
            test_loss[column], seconds[column] = evaluate(params), elapsed
            column += 1
    if stopped_at > 0 and warn:
        _warn_divergence(
            method, params0, first_tasks, alpha, beta, N, ridge, stopped_at
        )
    return Run(
        method,
        kind,
        N,
        alpha,
        beta,
        ridge,
        np.array(recorded),
        test_loss,
        seconds,
        train_loss,
        stopped_at,
        params,
        totals,
    )


def _warn_divergence(method, params, tasks, alpha, beta, N, ridge, stopped_at):
    """Name the step size to lower: alpha if the inner loop raises the support loss at the start, else beta."""
    _, losses = inner_loop(params, tasks.X_in, tasks.y_in, alpha, max(N, 1), ridge)
    inner_up = bool(np.any(~np.isfinite(losses[-1])) or np.any(losses[-1] > losses[0]))
    if inner_up:
        advice = (
            f"lower alpha (the inner step size, now {alpha:g}): already at the start the inner loop "
            f"raises the support loss"
        )
    else:
        advice = f"lower beta (the outer step size, now {beta:g})"
    warnings.warn(
        f"{LABELS[method]} with N={N} blew up at outer iteration {stopped_at} and was stopped there. "
        f"To fix it, {advice}.",
        DivergenceWarning,
        stacklevel=3,
    )


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
    """The largest outer step size in ``betas`` whose runs are stable on every task stream (see :attr:`Run.stable`).

    Every candidate trains from ``params0`` on the same task streams (generators seeded with ``seeds``), so only
    ``beta`` differs between candidates. Candidates are tried from the largest down; a candidate fails as soon
    as one of its streams is unstable, and the search stops at the first candidate stable on all of them.

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
        ``{beta: [Run, ...]}``, the runs made for every candidate tried (the first unstable one ends a list).
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
    """Train exact ANIL with the ridge head and with the two-layer head at the same ``N``, ``alpha``, ``beta``.

    The computation behind the chapter's interactive panel: the ridge weight applies to the ridge head, the
    two-layer head keeps ``ridge = 0``; both runs see the same task stream. Blow-ups are recorded in
    ``Run.stopped_at`` without a warning.

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


def time_meta_gradient(method, params, tasks, alpha, N, ridge=0.0, repeats=5):
    """Best (smallest) wall-clock seconds of one :func:`meta_gradient` call over ``repeats`` calls, after a warm-up.

    The minimum is the estimate least disturbed by other processes on a shared machine: interference only
    ever adds time.

    Parameters
    ----------
    method, params, tasks, alpha, N, ridge : as in :func:`meta_gradient`
    repeats : int

    Returns
    -------
    float
    """
    repeats = check_positive_int("repeats", repeats)
    meta_gradient(method, params, tasks, alpha, N, ridge)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        meta_gradient(method, params, tasks, alpha, N, ridge)
        times.append(time.perf_counter() - start)
    return float(np.min(times))
