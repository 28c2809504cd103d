"""The data model of Part IV: sinusoid tasks, the tanh network's parameters and their checks.

Chapter 20 (``chapters/20_anil_beyond_linear``):

* :func:`sample_sinusoid_tasks`, :class:`Tasks`: eq. `eq-sinusoid-tasks`;
* :func:`init_params`: the body ``phi = (W1, W2)`` of eq. `eq-tanh-body` and the two heads,
  eqs. `eq-ridge-head` (``"ridge"``) and `eq-mlp-head` (``"mlp"``);
* :func:`head_kind`, :func:`count_params`, :func:`check_params`, :func:`check_tasks`.

Parameters travel as a ``dict`` of arrays: body keys ``"W1"`` (h, 2), ``"W2"`` (k', h); head keys
``"w"`` (k',) or ``"V"`` (r, k'), ``"a"`` (r,).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ..validation import (
    as_array,
    check_choice,
    check_positive_int,
    check_rng,
    check_same,
)

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


# ------------------------------------------------------------------------------------------------
# Tasks
# ------------------------------------------------------------------------------------------------


class _TaskArrays(NamedTuple):
    X_in: np.ndarray
    y_in: np.ndarray
    X_out: np.ndarray
    y_out: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray


class Tasks(_TaskArrays):
    """A batch of ``n`` sinusoid regression tasks (eq. `eq-sinusoid-tasks`).

    Attributes
    ----------
    X_in, y_in : ndarray, shape (n, m_in)
        Support inputs and targets.
    X_out, y_out : ndarray, shape (n, m_out)
        Query inputs and targets.
    amplitude, phase : ndarray, shape (n,)
        The task parameters ``A_i`` and ``psi_i``.

    The constructor checks the shapes and that every entry is finite, naming the argument.
    """

    __slots__ = ()

    def __new__(cls, X_in, y_in, X_out, y_out, amplitude, phase):
        arrays = {
            name: as_array(name, value, ndim=ndim)
            for name, value, ndim in (
                ("X_in", X_in, 2),
                ("y_in", y_in, 2),
                ("X_out", X_out, 2),
                ("y_out", y_out, 2),
                ("amplitude", amplitude, 1),
                ("phase", phase, 1),
            )
        }
        n = arrays["X_in"].shape[0]
        expected = {
            "y_in": arrays["X_in"].shape,
            "X_out": (n, arrays["X_out"].shape[1]),
            "y_out": arrays["X_out"].shape,
            "amplitude": (n,),
            "phase": (n,),
        }
        for name, shape in expected.items():
            if arrays[name].shape != shape:
                raise ValueError(
                    f"{name} must have shape {shape} (n = {n} tasks, from X_in), "
                    f"got {arrays[name].shape}"
                )
        return super().__new__(cls, **arrays)


def sample_sinusoid_tasks(
    rng, n, m_in, m_out, amplitude=(0.1, 5.0), phase=(0.0, np.pi), x_range=(-5.0, 5.0)
):
    """Draw ``n`` tasks ``y = A_i sin(x - psi_i)`` with ``A_i``, ``psi_i`` and ``x`` uniform (eq.
    `eq-sinusoid-tasks`).

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
    check_rng("rng", rng)
    n = check_positive_int("n", n)
    m_in = check_positive_int("m_in", m_in)
    m_out = check_positive_int("m_out", m_out)
    for name, pair in (
        ("amplitude", amplitude),
        ("phase", phase),
        ("x_range", x_range),
    ):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{name} must be a pair (low, high), got {pair!r}")
        if not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in pair
        ):
            raise TypeError(f"{name} must be a pair of real numbers, got {pair!r}")
        if not all(np.isfinite(v) for v in pair) or not pair[0] <= pair[1]:
            raise ValueError(
                f"{name} must be a pair (low, high) of finite numbers with low <= high, "
                f"got {pair!r}"
            )
    return _draw_tasks(rng, n, m_in, m_out, amplitude, phase, x_range)


def _draw_tasks(
    rng, n, m_in, m_out, amplitude=(0.1, 5.0), phase=(0.0, np.pi), x_range=(-5.0, 5.0)
):
    """:func:`sample_sinusoid_tasks` on checked arguments (the training loops' per-step draw)."""
    A = rng.uniform(*amplitude, size=n)
    psi = rng.uniform(*phase, size=n)
    X_in = rng.uniform(*x_range, size=(n, m_in))
    X_out = rng.uniform(*x_range, size=(n, m_out))
    return Tasks._make(  # valid by construction: skip the constructor's checks
        (
            X_in,
            A[:, None] * np.sin(X_in - psi[:, None]),
            X_out,
            A[:, None] * np.sin(X_out - psi[:, None]),
            A,
            psi,
        )
    )


def check_tasks(tasks):
    """Validate a :class:`Tasks`; return its four arrays ``(X_in, y_in, X_out, y_out)`` as
    floats."""
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


# ------------------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------------------


def init_params(rng, hidden=32, k_width=8, head="ridge", head_hidden=8):
    """Random starting parameters of the body and a head (the start of every run in Part IV).

    ``W1`` has a slope column ``~ N(0, 1)`` and a bias column ``~ N(0, 1)`` (hidden units tanh(s x
    + b) spread over the input range), ``W2 ~ N(0, 2/h)``; the ridge head starts at ``w = 0``; the
    two-layer head at ``V ~ N(0, 1/k')``, ``a ~ N(0, 1/r)`` (not at 0, a saddle point of its inner
    loss).

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
    check_rng("rng", rng)
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
    """``"ridge"`` if ``params`` holds a linear head ``w``, ``"mlp"`` if it holds ``V`` and
    ``a``."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    for kind, keys in HEAD_KEYS.items():
        if set(params) == set(BODY_KEYS) | set(keys):
            return kind
    raise ValueError(
        f"params must hold the keys W1, W2 and either w or (V, a); got {sorted(params)}"
    )


def check_params(params):
    """Validate a parameter dict; return ``(kind, dict of float arrays)`` or raise naming the
    key."""
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
    kind, p = check_params(params)
    body = sum(p[key].size for key in BODY_KEYS)
    head = sum(p[key].size for key in HEAD_KEYS[kind])
    return {"body": int(body), "head": int(head), "total": int(body + head)}
