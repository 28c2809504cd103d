"""Part I figures and panel: they draw what they claim, mark stopped runs, refuse bad settings."""

import numpy as np
import pytest

from metalib import linrep, random_orthonormal, viz
from metalib.viz.linrep import (
    LINREP_DEFAULTS,
    draw_linrep,
    linrep_panel,
    plot_trajectories,
)


def test_panel_draws_method_baseline_and_theory():
    fig = draw_linrep(**(LINREP_DEFAULTS | dict(iterations=200)))
    ax_dist, ax_cond = fig.axes
    labels = [line.get_label() for line in ax_dist.lines]
    assert "Exact ANIL" in labels and "Average loss" in labels
    assert any(label.startswith("tangent law") for label in labels)
    assert all(np.all(np.isfinite(line.get_ydata())) for line in ax_dist.lines)
    assert len(ax_cond.lines) == 2


def test_panel_rejects_k_too_large():
    with pytest.raises(ValueError, match="k must be at most d/2"):
        draw_linrep(d=6, k=4)


def test_panel_uses_the_chosen_sample_size():
    fig = draw_linrep(samples="m=10", iterations=100)
    assert "m=10" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="samples"):
        draw_linrep(samples="m=7")


def test_panel_has_only_designed_controls_and_links_k_to_d():
    panel = linrep_panel(method="fo_maml")
    assert set(panel.controls) == set(LINREP_DEFAULTS)
    assert panel.controls["method"].value == "fo_maml"
    panel.controls["d"].value = 6
    assert panel.controls["k"].max == 3 and panel.controls["k"].value <= 3


def test_panel_reports_divergence_every_time():
    panel = linrep_panel(method="fo_maml")
    for _ in range(2):
        png, message = panel.render(beta=1.0, iterations=200)
        assert png is not None and "blew up" in message


def test_stopped_runs_are_marked_not_drawn_as_nan(rng):
    B_star = random_orthonormal(12, 2, rng, size=3)
    B0 = linrep.initial_representation(B_star, 0.2, rng, dist0=0.8)
    with pytest.warns(linrep.DivergenceWarning):
        traj = linrep.train(("fo_anil",), B_star, B0, 0.2, 50.0, 100, rng, n=4)
    fig, ax = viz.new_figure()
    plot_trajectories(ax, traj, "dist")
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(crosses) == 3, "one cross per stopped trial"
    assert np.all(np.isfinite(ax.lines[0].get_ydata()))


def test_each_run_is_drawn_and_stops_are_marked(rng):
    """each=True draws one line per trial, so no mean hides the runs that stopped."""
    B_star = random_orthonormal(12, 2, rng, size=3)
    B0 = linrep.initial_representation(B_star, 0.2, rng, dist0=0.8)
    with pytest.warns(linrep.DivergenceWarning):
        traj = linrep.train(("fo_anil",), B_star, B0, 0.2, 50.0, 100, rng, n=4)
    fig, ax = viz.new_figure()
    plot_trajectories(ax, traj, "dist", each=True)
    runs = [line for line in ax.lines if line.get_marker() != "x"]
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(runs) == 3 and len(crosses) == 3
    assert all(np.all(np.isfinite(line.get_ydata())) for line in runs)


def test_chapter00_panel_links_k_to_d():
    panel = viz.subspace.random_distance_panel()
    panel.controls["d"].value = 3
    assert panel.controls["k"].max == 3
    png, message = panel.render()
    assert png is not None and message == ""
