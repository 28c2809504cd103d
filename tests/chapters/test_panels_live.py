"""Every chapter's panel, driven in a live kernel the way a browser drives it.

For each chapter: start a kernel, record every :class:`metalib.viz.Panel` the chapter creates
(``Panel.__init__`` is wrapped before the chapter's cells run), execute the code cells its panels
need (:func:`_chapter_code.panel_slice`: the cells that make or show a panel and the earlier cells
that bind a name they read; the chapter's long experiments are left to the book build), then, for
each control of each panel, send the kernel the comm message a front end sends when the reader
releases a slider (``{"method": "update", "state": {"value": v}}``, or ``{"index": i}`` for a
selection widget) at the control's minimum, its maximum and back to its default, and after each
one put every control back at its default. The test fails on

* any error output or a traceback on stderr (in the executed cells or after an update);
* a widget displayed by those cells that is not a panel (a control outside a panel's design);
* a panel whose widget is not exactly its controls, a status line and an image;
* an update that changes the panel's values but sends no new image, or sends two (counted as
  the kernel's ``update`` messages carrying a ``value`` buffer on the panel's image model).

A chapter that makes no panel fails. Every cell of every chapter is executed once by the strict
book build, which fails on an error; ``tests/book/test_built_book.py`` checks its executed
notebooks for widgets displayed outside a panel.
"""

from __future__ import annotations

import json
import queue
import sys
import time

import pytest
from _chapter_code import CHAPTERS, ROOT, panel_slice

jupyter_client = pytest.importorskip("jupyter_client")

TIMEOUT = (
    120  # seconds for one cell or one redraw (a redraw's budget is 5 s; this is a hang)
)

INSTRUMENT = """
import metalib.viz.panel as _panel_module
__panels__ = []
_original_init = _panel_module.Panel.__init__
def _recording_init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    __panels__.append(self)
_panel_module.Panel.__init__ = _recording_init
"""

DESCRIBE = """
import json as _json
def _describe_panels():
    out = []
    for p in __panels__:
        box = p.widget()
        controls = {}
        for name, w in p.controls.items():
            if hasattr(w, "options") and hasattr(w, "index"):
                controls[name] = dict(id=w.model_id, kind="index", low=0,
                                      high=len(w.options) - 1, now=w.index)
            elif isinstance(w.value, bool):
                controls[name] = dict(id=w.model_id, kind="value", low=False, high=True,
                                      now=w.value)
            else:
                controls[name] = dict(id=w.model_id, kind="value", low=w.min, high=w.max,
                                      now=w.value)
        out.append(dict(controls=controls, box=box.model_id,
                        children=[c.model_id for c in box.children],
                        image=box.children[-1].model_id,
                        status=box.children[-2].value,
                        values=repr(p.values())))
    print("@@PANELS@@" + _json.dumps(out, default=float))
"""


class Kernel:
    def __init__(self, cwd):
        km = jupyter_client.KernelManager(kernel_name="python3")
        km.kernel_spec.argv[0] = (
            sys.executable
        )  # the test's environment, as nbval-current-env
        km.start_kernel(cwd=str(cwd))
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        self.km, self.kc = km, kc

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def _collect(self, msg_id):
        """Every iopub message answering ``msg_id``, until the kernel is idle again."""
        got, deadline = [], time.monotonic() + TIMEOUT
        while True:
            try:
                msg = self.kc.get_iopub_msg(
                    timeout=max(0.1, deadline - time.monotonic())
                )
            except queue.Empty:
                raise AssertionError(f"no answer within {TIMEOUT} s") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if (
                msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                return got
            got.append(msg)

    def execute(self, code):
        msg_id = self.kc.execute(code, store_history=False)
        return self._collect(msg_id)

    def send_update(self, comm_id, state):
        msg = self.kc.session.msg(
            "comm_msg",
            {
                "comm_id": comm_id,
                "data": {"method": "update", "state": state, "buffer_paths": []},
            },
        )
        self.kc.shell_channel.send(msg)
        return self._collect(msg["header"]["msg_id"])


def problems_in(messages, where):
    found = []
    for msg in messages:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "error":
            found.append(f"{where}: {content['ename']}: {content['evalue']}")
        elif (
            kind == "stream"
            and content["name"] == "stderr"
            and "Traceback" in content["text"]
        ):
            found.append(f"{where}: traceback on stderr: {content['text'][-300:]}")
    return found


def displayed_widgets(messages):
    ids = []
    for msg in messages:
        if msg["msg_type"] in ("display_data", "execute_result"):
            view = msg["content"]["data"].get(
                "application/vnd.jupyter.widget-view+json"
            )
            if view:
                ids.append(view["model_id"])
    return ids


def image_updates(messages, image_id):
    """The kernel's messages that set a new PNG on the image model ``image_id``."""
    found = []
    for msg in messages:
        if msg["msg_type"] != "comm_msg" or msg["content"]["comm_id"] != image_id:
            continue
        data = msg["content"]["data"]
        if data.get("method") != "update":
            continue
        # bytes travel as buffers: the state lists their paths instead of holding them
        if "value" in data.get("state", {}) or ["value"] in data.get(
            "buffer_paths", []
        ):
            found.append(msg)
    return found


def describe(kernel):
    out = kernel.execute("_describe_panels()")
    assert not problems_in(out, "describe"), problems_in(out, "describe")
    text = "".join(m["content"]["text"] for m in out if m["msg_type"] == "stream")
    return json.loads(text.split("@@PANELS@@", 1)[1])


def drive(kernel, panels, index, name, target, failures):
    """Set one control as the front end does; check errors and the number of new images."""
    panel = panels[index]
    control = panel["controls"][name]
    if control["now"] == target:
        return describe(kernel)
    state = {control["kind"]: target}
    answer = kernel.send_update(control["id"], state)
    where = f"panel {index}, {name}={target!r}"
    failures += problems_in(answer, where)
    after = describe(kernel)
    changed = after[index]["values"] != panel["values"]
    images = len(image_updates(answer, panel["image"]))
    if changed and images != 1:
        failures.append(
            f"{where}: {images} new images for one change "
            f"(status: {after[index]['status'] or 'empty'})"
        )
    if not changed and images:
        failures.append(f"{where}: {images} new images although no value changed")
    return after


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_panel_survives_the_front_end(path):
    if not panel_slice(path):
        pytest.fail(f"{path.name} builds no metalib.viz.Panel")
    kernel = Kernel(ROOT / "chapters")
    failures = []
    try:
        failures += problems_in(
            kernel.execute(INSTRUMENT + DESCRIBE), "instrumentation"
        )
        shown = []
        for source in panel_slice(path):
            out = kernel.execute(source)
            failures += problems_in(out, f"cell {source.splitlines()[0]!r}")
            shown += displayed_widgets(out)
        assert not failures, "\n".join(failures)
        panels = describe(kernel)
        assert panels, f"{path.name} mentions a panel but created none"
        boxes = {p["box"] for p in panels}
        stray = [model for model in shown if model not in boxes]
        assert not stray, f"widgets displayed outside any panel: {stray}"
        for i, panel in enumerate(panels):
            controls = [c["id"] for c in panel["controls"].values()]
            assert (
                panel["children"][:-2] == controls
                and len(panel["children"]) == len(controls) + 2
            ), (
                f"panel {i}: its widget is not exactly its controls, a status and an image"
            )
        defaults = [{n: c["now"] for n, c in p["controls"].items()} for p in panels]
        for i, panel in enumerate(panels):
            for name in panel["controls"]:
                for which in ("low", "high", "default"):
                    control = panels[i]["controls"][name]
                    target = defaults[i][name] if which == "default" else control[which]
                    panels = drive(kernel, panels, i, name, target, failures)
                for other, value in defaults[i].items():  # back to the defaults
                    panels = drive(kernel, panels, i, other, value, failures)
    finally:
        kernel.close()
    assert not failures, f"{path.name}:\n  " + "\n  ".join(failures)
