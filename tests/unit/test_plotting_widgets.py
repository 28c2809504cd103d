"""Figures and panels: they draw what they claim, mark stopped runs, and refuse bad settings."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from metalib import linrep, random_orthonormal  # noqa: E402
from metalib.plotting import plot_trajectories  # noqa: E402
from metalib.widgets import LINREP_DEFAULTS, draw_linrep, linrep_controls  # noqa: E402


def test_panel_draws_method_baseline_and_theory():
    fig = draw_linrep(**(LINREP_DEFAULTS | dict(iterations=200)), show=False)
    ax_dist, ax_cond = fig.axes
    labels = [line.get_label() for line in ax_dist.lines]
    assert "Exact ANIL" in labels and "Average loss" in labels
    assert any(label.startswith("theory") for label in labels)
    assert all(np.all(np.isfinite(line.get_ydata())) for line in ax_dist.lines)
    assert len(ax_cond.lines) == 2
    plt.close(fig)


def test_panel_rejects_k_too_large():
    with pytest.raises(ValueError, match="k <= d/2"):
        draw_linrep(d=6, k=4, show=False)


def test_controls_start_at_defaults():
    controls = linrep_controls(method="fo_maml")
    assert controls["method"].value == "fo_maml"
    assert controls["alpha"].value == LINREP_DEFAULTS["alpha"]
    assert set(controls) == set(LINREP_DEFAULTS)


def test_stopped_runs_are_marked_not_drawn_as_nan(rng):
    B_star = random_orthonormal(12, 2, rng, size=3)
    B0 = linrep.initial_representation(B_star, 0.2, rng, dist0=0.8)
    with pytest.warns(linrep.DivergenceWarning):
        traj = linrep.train(("fo_anil",), B_star, B0, 0.2, 50.0, 100, rng, n=4)
    fig, ax = plt.subplots()
    plot_trajectories(ax, traj, "dist")
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(crosses) == 3, "one cross per stopped trial"
    mean_line = ax.lines[0]
    assert np.all(np.isfinite(mean_line.get_ydata()))
    plt.close(fig)
