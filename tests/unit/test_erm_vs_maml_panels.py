"""The panels and figures of Part III (metalib.viz.erm_vs_maml): every control at its minimum,
maximum and default draws a figure with no message; bad input raises naming the argument."""

import numpy as np
import pytest

from metalib import erm_vs_maml, viz

PANELS = {
    "gain_map": lambda: viz.erm_vs_maml.gain_map_panel(),
    "samples": lambda: viz.erm_vs_maml.samples_panel(),
}


def extremes(widget):
    """The smallest and largest value a control can take (a log slider's bounds are exponents)."""
    if hasattr(widget, "base"):
        return widget.base**widget.min, widget.base**widget.max
    return widget.min, widget.max


@pytest.mark.parametrize("name", sorted(PANELS))
def test_every_control_extreme_draws(name):
    panel = PANELS[name]()
    png, message = panel.render()
    assert png is not None and message == "", message
    for key, widget in panel.controls.items():
        for value in extremes(widget):
            png, message = panel.render(**{key: value})
            assert png is not None and message == "", (key, value, message)


@pytest.mark.parametrize("name", sorted(PANELS))
def test_corners_draw(name):
    panel = PANELS[name]()
    for pick in (0, 1):
        values = {k: extremes(w)[pick] for k, w in panel.controls.items()}
        png, message = panel.render(**values)
        assert png is not None and message == "", (pick, message)


def test_out_of_range_is_a_one_line_message():
    panel = viz.erm_vs_maml.gain_map_panel()
    png, message = panel.render(rho_H=0.9)
    assert png is None and "rho_H" in message and "\n" not in message


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(rho_H=1.0, rho_E=1.0), "flat"),
        (dict(p_H=1.2), "p_H"),
        (dict(R_H_grid=[0.0, 1.0]), "R_H_grid"),
        (dict(D_grid=[-1.0, 1.0]), "D_grid"),
        (dict(alpha=np.nan), "alpha"),
        (dict(tau=-3), "tau"),
    ],
)
def test_gain_heatmap_raises_instead_of_drawing_the_error(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        viz.erm_vs_maml.plot_gain_heatmap(**kwargs)


def test_gain_heatmap_returns_the_closed_form_map():
    R, D = np.array([0.1, 1.0]), np.array([0.0, 5.0])
    fig, G = viz.erm_vs_maml.plot_gain_heatmap(R_H_grid=R, D_grid=D)
    expected = erm_vs_maml.two_cluster(
        R[None], D[:, None], rho_H=0.1, rho_E=0.9, p_H=0.5, alpha=1.0, d=10
    ).gain
    np.testing.assert_allclose(G, expected)
    assert fig.axes
