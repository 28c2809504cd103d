"""A small reverse-mode engine for stacks of tanh and linear layers, with a multiply-add tally.

Chapter 20 derives the passes this module implements, for a stack ``A_l = act(A_{l-1} W_l^T)``:

* :func:`_forward`: the activations (eq. `eq-tanh-body` and the heads' equations);
* :func:`_backward`: backpropagation of an output cotangent (weight gradients, input cotangent);
* :func:`_jvp`: forward-mode tangents of the activations;
* :func:`_rop_backward`: the derivative of the backward pass along a direction, Pearlmutter's
  R-operator (eq. `eq-rop-pass`), which gives Hessian-vector and mixed products.

Every matrix product goes through a :class:`_Tally`, which counts multiply-adds by category
(``inner``, ``second_order``, ``outer``): the cost of a meta-gradient is counted, not timed
(chapter 21 checks the count against its closed form, :func:`metalib.anil_steps.multiply_adds`).
The names are private to :mod:`metalib.anil_steps`: readers call the meta-gradients of
:mod:`metalib.anil_steps.gradients`, which are built on them.
"""

from __future__ import annotations

import numpy as np

from ..linalg import transpose

# ------------------------------------------------------------------------------------------------
# The network as a stack of layers  A_l = act(A_{l-1} W_l^T), and its four passes
# ------------------------------------------------------------------------------------------------
# Weights are matrices; the vector parameters w and a are stored as (..., 1, k) rows. A leading
# task axis is optional on the weights (shared body in ANIL, per-task copies in MAML). Every matrix
# product goes through a tally, which counts multiply-adds per category, so that the cost of a
# meta-gradient is counted, not guessed.


class _Tally:
    """Counts multiply-adds of matrix products, by category (deterministic work measure)."""

    def __init__(self):
        self.madds = {"inner": 0, "second_order": 0, "outer": 0}
        self.category = "outer"

    def mm(self, A, B):
        out = A @ B
        self.madds[self.category] += out.size * A.shape[-1]
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
        Z = tally.mm(As[-1], transpose(W))
        As.append(np.tanh(Z) if act == "tanh" else Z)
    return As


def _backward(Ws, acts, As, G, tally, need_input=False):
    """Reverse pass: per-task weight gradients for output cotangent ``G`` (and the cotangent of
    ``A0``)."""
    grads = [None] * len(Ws)
    for l in reversed(range(len(Ws))):
        Gz = G * (1.0 - As[l + 1] ** 2) if acts[l] == "tanh" else G
        grads[l] = tally.mm(transpose(Gz), As[l])
        if l > 0 or need_input:
            G = tally.mm(Gz, Ws[l])
    return grads, (G if need_input else None)


def _jvp(Ws, acts, As, dWs, tally, dA0=None):
    """Forward-mode pass: tangents ``dA_l`` of the activations for weight tangents ``dWs`` (None =
    0)."""
    dAs = [dA0]
    for l, (W, act) in enumerate(zip(Ws, acts)):
        dZ = 0.0
        if dAs[l] is not None:
            dZ = dZ + tally.mm(dAs[l], transpose(W))
        if dWs[l] is not None:
            dZ = dZ + tally.mm(As[l], transpose(dWs[l]))
        dAs.append((1.0 - As[l + 1] ** 2) * dZ if act == "tanh" else dZ)
    return dAs


def _rop_backward(Ws, acts, As, dWs, dAs, G, dG, tally, need_input=False):
    """Directional derivative of :func:`_backward` (Pearlmutter's R-operator, eq. `eq-rop-pass`).

    Differentiates the reverse pass along the weight tangents ``dWs`` (with activation tangents
    ``dAs`` from
    :func:`_jvp`) and the output-cotangent tangent ``dG``. Returns the derivatives of the weight
    gradients, i.e. a Hessian-vector product, and the derivative of the input cotangent.
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
        dgrads[l] = tally.mm(transpose(dGz), As[l])
        if dAs[l] is not None:
            dgrads[l] = dgrads[l] + tally.mm(transpose(Gz), dAs[l])
        if l > 0 or need_input:
            new_dG = tally.mm(dGz, Ws[l])
            if dWs[l] is not None:
                new_dG = new_dG + tally.mm(Gz, dWs[l])
            G, dG = tally.mm(Gz, Ws[l]), new_dG
    return dgrads, (dG if need_input else None)


def _squared_loss(As, y):
    """Per-task ``1/(2m) ||f - y||^2`` and its output cotangent ``(f - y)/m`` of shape (n, m, 1)."""
    r = As[-1][..., 0] - y
    m = y.shape[-1]
    return (r * r).sum(axis=-1) * (0.5 / m), r[..., None] * (1.0 / m)
