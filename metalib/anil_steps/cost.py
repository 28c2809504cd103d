"""What one meta-gradient costs: multiply-adds in closed form, and wall-clock time.

Chapter 21 (``chapters/21_inner_steps_and_cost``, eqs. `eq-madds-anil`, `eq-madds-maml`):

* :func:`multiply_adds`: the exact number of multiply-adds of every matrix product in one call of
  :func:`metalib.anil_steps.meta_gradient`, by category, from the layer sizes alone. The library
  counts the same numbers while it computes (``cost["madds"]``); the chapter and the unit tests
  check that both agree exactly;
* :func:`time_meta_gradient`: the best wall-clock time of one call (the one place in this part where
  timing is the point; no test or chapter asserts on it).

The count of a stack of layers with sizes ``s_l = d_l d_{l-1}`` (``l = 0, 1, ...``) on ``M`` rows:
forward ``M sum s_l``; backward ``M sum s_l`` (weight gradients) plus ``M s_l`` for every input
cotangent it computes (layers ``l > 0``, and ``l = 0`` when the input cotangent is needed); the
forward-mode tangents ``M (s_0 + 2 sum_{l>0} s_l)``; the R-pass ``M (s_0 + 2 sum_{l>0} s_l)`` plus
``3 M s_l`` for every input cotangent.
"""

from __future__ import annotations

import time

import numpy as np

from ..validation import check_choice, check_nonnegative_int, check_positive_int
from .gradients import meta_gradient
from .model import METHODS, check_params


def _layer_sizes(kind, p):
    body = [p["W1"].shape[0] * 2, p["W2"].shape[0] * p["W2"].shape[1]]
    if kind == "ridge":
        head = [p["w"].shape[0]]
    else:
        head = [p["V"].shape[0] * p["V"].shape[1], p["a"].shape[0]]
    return body, head


def _forward(sizes, rows):
    return rows * sum(sizes)


def _backward(sizes, rows, need_input):
    cotangents = sum(sizes[1:]) + (sizes[0] if need_input else 0)
    return rows * (sum(sizes) + cotangents)


def _tangents(sizes, rows):
    return rows * (sizes[0] + 2 * sum(sizes[1:]))


def _r_pass(sizes, rows, need_input):
    cotangents = sum(sizes[1:]) + (sizes[0] if need_input else 0)
    return rows * (sizes[0] + 2 * sum(sizes[1:]) + 3 * cotangents)


def multiply_adds(method, params, n, m_in, m_out, N):
    """Multiply-adds of one meta-gradient, in closed form (eqs. `eq-madds-anil`, `eq-madds-maml`).

    For the ridge head with ``h`` hidden units and ``k'`` features this is, per task,
    ``(m_in + m_out)(4h + 3hk') + 3 m_out k' + 7 N m_in k'`` for exact ANIL and
    ``(N m_in + m_out)(4h + 3k'(h + 1)) + N m_in (4h + 7k'(h + 1))`` for exact MAML.

    Parameters
    ----------
    method : {"exact_anil", "fo_anil", "exact_maml"}
    params : dict
        Parameters (only their shapes are used).
    n, m_in, m_out : int
        Tasks, support and query points per task.
    N : int
        Inner steps.

    Returns
    -------
    dict
        ``inner``, ``second_order``, ``outer`` and ``total``, as in
        ``meta_gradient(...)[2]["madds"]``.
    """
    method = check_choice("method", method, METHODS)
    kind, p = check_params(params)
    n = check_positive_int("n", n)
    m_in = check_positive_int("m_in", m_in)
    m_out = check_positive_int("m_out", m_out)
    N = check_nonnegative_int("N", N)
    body, head = _layer_sizes(kind, p)
    if method == "exact_maml":
        full = body + head
        inner = N * (_forward(full, m_in) + _backward(full, m_in, False))
        outer = _forward(full, m_out) + _backward(full, m_out, False)
        second = N * (_tangents(full, m_in) + _r_pass(full, m_in, False))
    else:
        m = m_in + m_out
        inner = N * (_forward(head, m_in) + _backward(head, m_in, False))
        outer = _forward(body, m) + _forward(head, m_out) + _backward(head, m_out, True)
        body_back = _backward(body, m, False)
        if method == "exact_anil":
            second = N * (_tangents(head, m_in) + _r_pass(head, m_in, True))
            second += _backward(body, m_in, False)
            outer += body_back - _backward(body, m_in, False)
        else:
            second = 0
            outer += body_back
    out = {"inner": n * inner, "second_order": n * second, "outer": n * outer}
    out["total"] = sum(out.values())
    return {key: int(value) for key, value in out.items()}


def time_meta_gradient(method, params, tasks, alpha, N, ridge=0.0, repeats=5):
    """Best (smallest) wall-clock seconds of one :func:`meta_gradient` call over ``repeats`` calls.

    One warm-up call comes first. The minimum is the estimate least disturbed by other processes on
    a shared machine: interference only ever adds time.

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
