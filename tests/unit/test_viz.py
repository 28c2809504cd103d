"""The presentation layer's shared pieces: Panel, link_max, claims_table, show_function/region."""

import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
from ipywidgets import HTML, Image, IntSlider, VBox  # noqa: E402

from metalib import viz  # noqa: E402
from metalib.divergence import BlowupGuard  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


class Recorder:
    """A drawing function that counts its calls, refuses k > d // 2 and blows up when d == 13."""

    def __init__(self):
        self.calls = []

    def __call__(self, d, k, scale=1.0):
        self.calls.append((d, k))
        if k > d // 2:
            raise ValueError(f"k must be at most d // 2 = {d // 2}, got {k}")
        if d == 13:
            guard = BlowupGuard(np.zeros(1))
            guard.check(7, np.array([np.inf]))
            guard.warn("FO-MAML", "lower beta")
        fig, ax = viz.new_figure()
        ax.plot(np.arange(d) * scale)
        ax.set_title(f"k = {k}")
        return fig


def make_panel(draw=None, link=True):
    controls = dict(
        d=IntSlider(value=10, min=2, max=20, continuous_update=True),
        k=IntSlider(value=5, min=1, max=10),
    )
    links = [viz.link_max("d", "k", lambda d: d // 2)] if link else []
    return viz.Panel(draw or Recorder(), controls, fixed=dict(scale=2.0), links=links)


def test_render_returns_a_png_and_no_message():
    panel = make_panel()
    png, message = panel.render()
    assert png.startswith(PNG)
    assert message == ""
    assert panel.draw.calls == [(10, 5)]


def test_controls_update_on_release_only():
    panel = make_panel()
    assert all(not w.continuous_update for w in panel.controls.values())


def test_value_error_becomes_the_message():
    panel = make_panel(link=False)
    png, message = panel.render(k=9)
    assert png is None
    assert message == "k must be at most d // 2 = 5, got 9"


def test_divergence_is_reported_every_time():
    panel = make_panel()
    for _ in range(3):
        png, message = panel.render(d=13)
        assert png.startswith(PNG)
        assert "FO-MAML blew up in 1 of 1 run(s)" in message


def test_other_warnings_are_not_swallowed():
    def draw(d, k, scale):
        import warnings

        warnings.warn("something else", RuntimeWarning, stacklevel=1)
        return viz.new_figure()[0]

    panel = make_panel(draw)
    with pytest.warns(RuntimeWarning, match="something else"):
        png, message = panel.render()
    assert message == ""


def test_fixed_and_controls_must_not_overlap():
    with pytest.raises(ValueError, match="fixed and controls both set"):
        viz.Panel(Recorder(), dict(d=IntSlider(value=4)), fixed=dict(d=3))
    with pytest.raises(TypeError, match="draw must be callable"):
        viz.Panel(None, dict(d=IntSlider(value=4)))


def test_link_max_clamps_the_dependent_control():
    panel = make_panel()
    d, k = panel.controls["d"], panel.controls["k"]
    assert k.max == 5
    d.value = 6
    assert (k.max, k.value) == (3, 3)
    d.value = 20
    assert (k.max, k.value) == (10, 3)


def test_widget_is_exactly_the_controls_a_status_and_an_image():
    panel = make_panel()
    box = panel.widget()
    assert isinstance(box, VBox)
    children = list(box.children)
    assert children[:2] == [panel.controls["d"], panel.controls["k"]]
    assert len(children) == 4
    assert isinstance(children[2], HTML) and isinstance(children[3], Image)
    assert bytes(children[3].value).startswith(PNG)
    assert panel.widget() is box  # built once


def _watch(panel):
    box = panel.widget()
    status, image = box.children[-2], box.children[-1]
    images, statuses = [], []
    image.observe(lambda change: images.append(change["new"]), names="value")
    status.observe(lambda change: statuses.append(change["new"]), names="value")
    return status, images, statuses


def test_a_clamping_redraw_draws_once():
    panel = make_panel()
    status, images, _ = _watch(panel)
    before = len(panel.draw.calls)
    panel.controls["d"].value = 4  # clamps k from 5 to 2: one new state, one drawing
    assert panel.draw.calls[before:] == [(4, 2)]
    assert len(images) == 1


def test_each_redraw_sets_one_new_image():
    panel = make_panel()
    _, images, _ = _watch(panel)
    panel.controls["k"].value = 3
    panel.controls["d"].value = 12
    assert len(images) == 2 and bytes(images[0]) != bytes(images[1])


def test_live_errors_and_divergence_show_in_the_status_line_every_time():
    panel = make_panel(link=False)
    status, images, _ = _watch(panel)
    panel.controls["k"].value = 9  # invalid: message, no new image, no exception
    assert "k must be at most d // 2 = 5, got 9" in status.value
    assert images == []
    panel.controls["k"].value = 5
    assert "must be" not in status.value
    for _ in range(2):
        panel.controls["d"].value = 13
        assert "FO-MAML blew up" in status.value
        panel.controls["d"].value = 14
        assert "blew up" not in status.value


def test_static_is_an_image_of_the_defaults():
    panel = make_panel()
    image = panel.static()
    assert image.data.startswith(PNG)
    assert panel.draw.calls == [(10, 5)]


ROWS = [
    dict(
        claim="rate | slope",
        source="paper",
        expected="1e-2",
        measured="0.0101",
        status="shown",
    ),
    dict(
        claim="floor", source="book", expected="0.1", measured="0.09", status="asserted"
    ),
]


def test_claims_table_markdown():
    text = viz.claims_table(ROWS, label="claims-test", caption="Claims").data
    assert text.startswith(
        ":::{table} Claims\n:class: claims-table\n:name: claims-test\n"
    )
    assert "| claim | source | expected | measured | status |" in text
    assert r"rate \| slope" in text
    assert text.rstrip().endswith(":::")
    assert text.count("\n| ") == 3


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(source="paper (confirmed)"), r"rows\[1\]\['source'\] must be one of"),
        (dict(status="checked"), r"rows\[1\]\['status'\] must be one of"),
    ],
)
def test_claims_table_refuses_unknown_source_or_status(change, message):
    rows = [ROWS[0], ROWS[1] | change]
    with pytest.raises(ValueError, match=message):
        viz.claims_table(rows, label="claims-x")


def test_claims_table_refuses_missing_columns_empty_rows_and_bad_labels():
    with pytest.raises(ValueError, match=r"rows\[0\] lacks \['measured'\]"):
        viz.claims_table(
            [{k: v for k, v in ROWS[0].items() if k != "measured"}], "claims-x"
        )
    with pytest.raises(ValueError, match="rows must hold at least one claim"):
        viz.claims_table([], "claims-x")
    with pytest.raises(ValueError, match="label must be"):
        viz.claims_table(ROWS, "claims x")


def test_show_function_shows_public_metalib_code_only():
    from metalib import subspace_distance, validation

    text = viz.show_function(subspace_distance).data
    assert text.startswith("```python\ndef subspace_distance(")
    with pytest.raises(ValueError, match="private name '_is_int'"):
        viz.show_function(validation._is_int)
    with pytest.raises(TypeError, match="obj must be a function or class of metalib"):
        viz.show_function(np.mean)


@pytest.fixture
def region_module(tmp_path, monkeypatch):
    source = textwrap.dedent(
        """\
        def f(x):
            # region: inner-step
            y = 2 * x
            return y
            # endregion: inner-step


        # region: twice
        # endregion: twice
        # region: twice
        # endregion: twice
        # endregion: backwards
        # region: backwards
        """
    )
    (tmp_path / "regions_sample.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    import regions_sample

    yield regions_sample
    sys.modules.pop("regions_sample", None)


def test_show_region_returns_the_lines_between_the_markers(region_module):
    assert viz.show_region(region_module, "inner-step").data == (
        "```python\ny = 2 * x\nreturn y\n```"
    )
    assert viz.show_region("regions_sample", "inner-step").data.count("\n") == 3


@pytest.mark.parametrize(
    "name,message",
    [
        ("missing", "exactly one region 'missing'"),
        ("twice", "exactly one region 'twice'"),
        ("backwards", "ends before it starts"),
    ],
)
def test_show_region_refuses_bad_markers(region_module, name, message):
    with pytest.raises(ValueError, match=message):
        viz.show_region(region_module, name)


def test_viz_refuses_private_part_names():
    with pytest.raises(AttributeError):
        viz._style  # noqa: B018
    with pytest.raises(AttributeError):
        viz.no_such_part  # noqa: B018


@pytest.mark.parametrize(
    "low, high",
    [
        (1, 5000),
        (0.3, 20),
        (1e-4, 30),
        (2.5, 7),
        (0.7, 0.95),
        (1e-6, 1e9),
        (3.85, 3.99),
    ],
)
def test_log_ticks_lie_inside_increase_and_are_labelled(low, high):
    ticks, labels = viz.style.log_ticks(low, high)
    assert 2 <= len(ticks) <= 7 and len(labels) == len(ticks)
    assert np.all((ticks >= low * (1 - 1e-9)) & (ticks <= high * (1 + 1e-9)))
    assert np.all(np.diff(ticks) > 0) and all(labels)


def test_log_ticks_labels_are_plain_text():
    assert viz.style.log_ticks(1e-5, 1e-1)[1] == ["10\u207b\u2075", "10\u207b\u2074",
        "10\u207b\u00b3", "10\u207b\u00b2", "10\u207b\u00b9"]  # fmt: skip
    assert viz.style.log_ticks(0.3, 20)[1] == ["0.5", "1", "2", "5", "10", "20"]
    assert viz.style.log_ticks(2e5, 6e5)[1] == [
        f"{m}\u00b710\u2075" for m in range(2, 7)
    ]
    # 1 to 9 would give 8 ticks here: thinned to 1, 2, 5
    assert viz.style.log_ticks(2e5, 9e5)[1] == ["2\u00b710\u2075", "5\u00b710\u2075"]
    assert viz.style.log_ticks(0.3, 2)[1] == ["0.5", "1", "2"]
    ticks, labels = viz.style.log_ticks(0, 1)  # no log axis reaches 0: no ticks
    assert ticks.size == 0 and labels == []


def test_plain_log_axis_ticks_follow_the_limits_set_after_it():
    fig, ax = viz.new_figure()
    ax.plot([1, 10, 100], [1e-6, 1e-3, 1.0])
    viz.style.plain_log_axis(ax, "xy")
    ax.set_ylim(1e-6, 1.0)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert ax.get_yscale() == ax.get_xscale() == "log"
    assert labels == viz.style.log_ticks(1e-6, 1.0)[1]
    assert not ax.yaxis.get_minor_ticks() and "$" not in "".join(labels)
    with pytest.raises(ValueError, match="which"):
        viz.style.plain_log_axis(ax, "z")


def test_to_png_gives_default_log_axes_the_book_ticks_and_keeps_set_ones():
    from matplotlib.colors import LogNorm

    fig, ax = viz.new_figure()
    ax.semilogy([1, 2, 3], [1e-3, 1e-1, 10])
    mesh = ax.pcolormesh(np.arange(1.0, 10.0).reshape(3, 3), norm=LogNorm())
    colorbar = fig.colorbar(mesh, ax=ax)
    colorbar.set_ticks([1, 1.5, 2, 5], labels=["1", "1.5", "2", "5"])
    viz.to_png(fig)
    y_labels = [t.get_text() for t in ax.get_yticklabels()]
    assert y_labels == viz.style.log_ticks(*ax.get_ylim())[1]
    assert [t.get_text() for t in colorbar.ax.get_yticklabels()] == [
        "1",
        "1.5",
        "2",
        "5",
    ]
    assert ax.get_xscale() == "linear"  # a linear axis is left alone


def test_page_images_hold_labels_that_stick_out_of_the_fixed_margins():
    import struct

    def png_width(data):
        return struct.unpack(">I", data[16:20])[0]

    fig, ax = viz.new_figure(width=4.0, margins=dict(left=0.02))
    ax.plot([1, 2], [1e-16, 1])
    ax.set_ylabel("a y label that the fixed left margin cannot hold")
    fixed, tight = viz.to_png(fig, dpi=50), viz.to_png(fig, dpi=50, tight=True)
    assert png_width(fixed) == 4.0 * 50
    assert png_width(tight) > png_width(
        fixed
    )  # widened to the label, not cut at the edge
    assert viz.image(fig, dpi=50).data == tight
