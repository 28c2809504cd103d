"""Live Code runs a panel in the page, against a real Jupyter server on this machine (no network).

A Jupyter server (``jupyter_server``, from requirements-dev.txt, running a kernel of this
environment) is started on localhost with the book's source folder as its root, and the built
pages are served on another local port. In headless Chromium the test opens a page with a panel,
adds a second thebe configuration to it that points Live Code at the local server instead of
mybinder.org (thebe merges every ``text/x-thebe-config`` script of a page; this override is the
only test-only change), clicks "Live Code" in the launch menu, clicks "run all" on the first cell,
as a reader does, and checks that:

* every cell ran without an error, in the kernel folder the page's configuration names
  (``chapters/``, where the chapters' relative paths start);
* the live panel cell (``panel.widget()``, tagged ``remove-output``) shows the panel: its slider,
  its status line, its figure;
* moving the slider (keyboard, on its handle) redraws the figure.

Two pages are driven:

* a small book of the test's own, built here with the book's ``_config.yml`` (so with the same
  extensions, thebe and page scripts): one notebook whose panel is a :class:`metalib.viz.Panel`
  over a tiny drawing function. It does not depend on the chapters, which change;
* chapter 00 of the built book (``_build/html``, or ``BOOK_HTML``), or the first built chapter
  with a live panel cell (skipped while no chapter has one).

On the small book the test also checks that a claims table (a Markdown output) renders as a table
with its math typeset, and that the page carries no widget state although the notebook stores it.

``LIVE_CODE_THEBE=thebelab@0.5.1`` builds the small book with that release instead (the ipywidgets
7 front end: ``@jupyter-widgets/base`` 2, ``controls`` 1.5): the test then fails, as it should.
Screenshots: ``_build/screenshots/live_code_*.png``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
import yaml
from browser import Browser, find_chromium

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))  # the built book
SHOTS = ROOT / "_build" / "screenshots"
PANEL_CELL = "panel.widget()"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TIMEOUT = int(os.environ.get("LIVE_CODE_TIMEOUT", 300))


@pytest.fixture(autouse=True)
def _chromium_is_there():
    # fail, not skip: `make test` installs Chromium before it runs the browser checks
    assert find_chromium() is not None, "Chromium is missing: run `make chromium` first"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the small book ---------------------------------------------------------------------------

DRAW = '''\
def draw(n):
    """The parabola y = x^2 on 0..n, titled with n (so that every n gives another image)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    fig, ax = viz.new_figure(width=4.0, height=2.6)
    xs = list(range(n + 1))
    ax.plot(xs, [x * x for x in xs], marker="o")
    ax.set_title(f"n = {n}")
    return fig


panel = viz.Panel(draw, dict(n=IntSlider(value=3, min=1, max=9, description="n")))'''


# a Markdown output as the chapters' claims tables make them (a MyST table fence, $ and \( math)
CLAIMS = """\
viz.claims_table(
    [
        {
            "claim": "the square $x^2$ at $x = 3$",
            "source": "book",
            "expected": r"\\(9\\)",
            "measured": f"{3**2}",
            "status": "shown",
        }
    ],
    label="claims-live-code",
)"""


def _notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    # widget state, as Jupyter saves it with a notebook (myst-nb would embed it in the page)
    layout = {
        "model_module": "@jupyter-widgets/base",
        "model_module_version": "2.0.0",
        "model_name": "LayoutModel",
        "state": {},
    }
    nb.metadata["widgets"] = {
        WIDGET_STATE: {
            "state": {"0" * 32: layout},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    static = nbformat.v4.new_code_cell("panel.static()")
    static.metadata["mystnb"] = {
        "figure": {"caption": "The panel at its defaults.", "name": "fig-live-panel"}
    }
    live = nbformat.v4.new_code_cell(PANEL_CELL)
    live.metadata["tags"] = ["remove-output"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A panel\n\nOne slider, one figure."),
        nbformat.v4.new_code_cell(
            "import os\n\nfrom ipywidgets import IntSlider\n\nfrom metalib import viz"
        ),
        nbformat.v4.new_code_cell(
            'print("kernel folder:", os.path.basename(os.getcwd()))'
        ),
        nbformat.v4.new_code_cell(CLAIMS),
        nbformat.v4.new_code_cell(DRAW),
        static,
        nbformat.v4.new_markdown_cell("The live panel:"),
        live,
    ]
    return nb


def _config(package):
    """The book's _config.yml, with paths made absolute and the thebe release to copy."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["title"] = "Live Code test book"
    config["execute"]["cache"] = "_build/.jupyter_cache"
    config["html"]["favicon"] = str(ROOT / config["html"]["favicon"])
    config["bibtex_bibfiles"] = [str(ROOT / f) for f in config["bibtex_bibfiles"]]
    sphinx = config["sphinx"]
    sphinx["local_extensions"] = {
        name: str((ROOT / path).resolve())
        for name, path in sphinx["local_extensions"].items()
    }
    if package:
        sphinx["config"]["live_code_thebe"] = package
    return config


@pytest.fixture(scope="module")
def small_book(tmp_path_factory):
    """Source folder and built HTML of the small book (built with the book's configuration)."""
    src = tmp_path_factory.mktemp("live-book")
    (src / "chapters").mkdir()
    nbformat.write(_notebook(), src / "chapters" / "panel.ipynb")
    (src / "intro.md").write_text("# Live Code test book\n", encoding="utf-8")
    (src / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: chapters/panel\n",
        encoding="utf-8",
    )
    package = os.environ.get("LIVE_CODE_THEBE", "")
    (src / "_config.yml").write_text(yaml.safe_dump(_config(package)), encoding="utf-8")
    if package:  # the release must be known to the vendoring script (sha512 recorded)
        spec = importlib.util.spec_from_file_location(
            "vendor_thebe", ROOT / "scripts" / "vendor_thebe.py"
        )
        vendor = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(vendor)
        vendor.tarball(package)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("jupyter-book")),
            "build",
            "--warningiserror",
            "--keep-going",
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (
        f"the small book did not build:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return src, src / "_build" / "html"


# -- servers ----------------------------------------------------------------------------------


@contextlib.contextmanager
def jupyter_server(root, runtime):
    """A Jupyter server on localhost serving ``root``: yields (url, token)."""
    port, token = free_port(), secrets.token_hex(16)
    log = (runtime / "server.log").open("w+b")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_origin=*",
            "--ServerApp.disable_check_xsrf=True",
            "--allow-root",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={
            **os.environ,
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTER_RUNTIME_DIR": str(runtime),
        },
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(
                        f"jupyter server did not start: {log.read().decode()[-2000:]}"
                    )
                time.sleep(0.3)
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def static_site(html):
    """The built pages of ``html`` served on localhost: yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


# -- the page ---------------------------------------------------------------------------------

# where Live Code is: status, the live cells and their outputs, the panel's parts. (Selectors cover
# thebe 0.9 and the older thebelab, whose cells are .thebelab-cell with the output inside.)
STATE = r"""
(() => {
  const button = document.querySelector(".thebe-launch-button");
  const cells = [...document.querySelectorAll(".cell")]
    .filter(c => c.querySelector(".thebe-cell, .thebelab-cell"));
  const out = c => c.querySelector(".jp-OutputArea");
  return JSON.stringify({
    status: button ? button.textContent.trim().slice(0, 200) : null,
    live: document.body.dataset.liveCode || null,
    cells: cells.length,
    sources: cells.map(c => c.querySelector(".thebe-cell, .thebelab-cell").textContent)
      .map(t => t.slice(0, 60)),
    outputs: cells.map(c => (out(c) ? out(c).textContent : "").trim().slice(0, 200)),
    errors: [...document.querySelectorAll(".jp-OutputArea [data-mime-type*=error], "
      + ".jp-OutputArea [data-mime-type*=stderr]")].map(e => e.textContent.slice(0, 500)),
    markdown: [...document.querySelectorAll(".jp-OutputArea .jp-RenderedMarkdown")].map(e => ({
      tables: e.querySelectorAll("table").length,
      math: e.querySelectorAll("mjx-container").length,
      text: e.textContent.trim().slice(0, 200),
    })),
    sliders: document.querySelectorAll(".jp-OutputArea .widget-slider").length,
    panel_status: [...document.querySelectorAll(".jp-OutputArea .widget-html")]
      .map(e => e.textContent.trim()),
    widget_errors: [...document.querySelectorAll(".jp-OutputArea .jupyter-widgets")]
      .map(e => e.textContent).filter(t => /error|not found|failed/i.test(t))
      .map(t => t.slice(0, 300)),
  });
})()
"""

# the panel's figure: the last widget image with content, as a data URL of its pixels
PANEL_IMAGE = r"""
(async () => {
  const imgs = [...document.querySelectorAll(".jp-OutputArea .widget-image, "
    + ".jp-OutputArea .jupyter-widgets img")]
    .filter(i => i.src && i.complete && i.naturalWidth > 0);
  if (!imgs.length) return null;
  const img = imgs[imgs.length - 1];
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext("2d").drawImage(img, 0, 0);
  return canvas.toDataURL("image/png");
})()
"""

CLICK_LIVE_CODE = """
(() => {
  const b = document.querySelector('button.btn-launch-thebe, [onclick*=initThebeSBT]');
  if (!b) return false;
  b.click();
  return true;
})()
"""

# "run all" on the first cell, as a reader does (thebelab has no "run all": every "run", in order)
CLICK_RUN_ALL = """
(() => {
  const all = document.querySelector('.thebe-runall-button');
  if (all) { all.click(); return true; }
  const each = [...document.querySelectorAll('.thebelab-run-button')];
  each.forEach(b => b.click());
  return each.length > 0;
})()
"""

FOCUS_SLIDER = """
(() => {
  const h = document.querySelector('.jp-OutputArea .widget-slider .noUi-handle, '
    + '.jp-OutputArea .widget-slider .ui-slider-handle');
  if (!h) return false;
  h.focus();
  return true;
})()
"""


def wait_for(browser, expression, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.evaluate(expression, await_promise=True)
        if value:
            return value
        browser._pump(0.5)
    state = browser.evaluate(STATE)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; page state: {state}")


def add_local_kernel(browser, server_url, token):
    """The test-only override: a second thebe configuration, pointing at the local server."""
    settings = {"baseUrl": server_url, "token": token, "appendToken": True}
    override = {
        "useBinder": False,
        "requestKernel": True,
        "serverSettings": settings,
        # what an older thebelab reads instead (for the ipywidgets 7 check)
        "binderOptions": {"repo": ""},
        "kernelOptions": {"serverSettings": settings},
    }
    browser.evaluate(
        "(() => { const s = document.createElement('script');"
        " s.type = 'text/x-thebe-config';"
        f" s.textContent = {json.dumps(json.dumps(override))};"
        " document.body.appendChild(s); return true; })()"
    )


def drive_panel(browser, site, page, server, shot):
    """Open ``page``, start Live Code on ``server``, run all, check the panel and move its slider.

    Returns the final page state (a dict)."""
    server_url, token = server
    browser.open(f"{site}/{page}")
    add_local_kernel(browser, server_url, token)
    assert browser.evaluate(CLICK_LIVE_CODE), f"{page} has no Live Code button"
    wait_for(
        browser,
        "['connected', 'failed'].includes(document.body.dataset.liveCode)",
        120,
        "Live Code to connect",
    )
    state = json.loads(browser.evaluate(STATE))
    assert state["live"] == "connected", f"Live Code did not connect: {state}"
    assert any(PANEL_CELL in s for s in state["sources"]), (
        f"the live panel cell is not runnable on {page}: {state['sources']}"
    )
    # "run all" on the first cell, as a reader does
    assert browser.evaluate(CLICK_RUN_ALL), "thebe added no 'run all' button"
    wait_for(
        browser,
        "document.querySelectorAll('.jp-OutputArea .widget-slider').length > 0"
        " || JSON.parse(" + STATE.strip() + ").widget_errors.length > 0",
        TIMEOUT,
        "the panel's slider",
    )
    state = json.loads(browser.evaluate(STATE))
    assert not state["widget_errors"], f"the panel failed: {state['widget_errors']}"
    first = wait_for(browser, PANEL_IMAGE, 60, "the panel's figure")
    state = json.loads(browser.evaluate(STATE))
    assert not state["errors"], f"cells failed under Live Code: {state['errors']}"
    # move the first slider one step with the keyboard, as a reader can
    assert browser.evaluate(FOCUS_SLIDER), "the panel's slider has no handle"
    for kind in ("keyDown", "keyUp"):
        browser.call(
            "Input.dispatchKeyEvent",
            {
                "type": kind,
                "key": "ArrowRight",
                "code": "ArrowRight",
                "windowsVirtualKeyCode": 39,
            },
            session=True,
        )
    wait_for(
        browser,
        f"(async () => {{ const s = await ({PANEL_IMAGE}); "
        f"return s && s !== {json.dumps(first)}; }})()",
        60,
        "the figure to change after the slider moved",
    )
    state = json.loads(browser.evaluate(STATE))
    assert not state["errors"], f"cells failed under Live Code: {state['errors']}"
    assert not any(state["panel_status"]), (
        f"the panel's status line reports: {state['panel_status']}"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SHOTS / shot)
    return state


def test_pages_carry_no_widget_state(small_book):
    """The small book's notebook stores widget state, as one saved from Jupyter does; the page
    does not carry it (no widget manager reads it: the live panel's output is removed)."""
    src, html = small_book
    stored = nbformat.read(src / "chapters" / "panel.ipynb", 4)
    assert stored.metadata["widgets"][WIDGET_STATE]["state"]
    page = (html / "chapters" / "panel.html").read_text(encoding="utf-8")
    assert WIDGET_STATE not in page, "the page embeds the notebook's widget state"


def test_live_code_runs_a_panel_and_redraws(small_book, tmp_path):
    src, html = small_book
    with (
        jupyter_server(src, tmp_path) as server,
        static_site(html) as site,
        Browser(height=1200) as browser,
    ):
        state = drive_panel(
            browser, site, "chapters/panel.html", server, "live_code_small_book.png"
        )
    assert "kernel folder: chapters" in state["outputs"], (
        f"the kernel did not start in chapters/: {state['outputs']}"
    )
    # the claims table renders as a table, with its caption, no MyST fence, and typeset math
    (table,) = state["markdown"]
    assert table["tables"] == 1 and ":::" not in table["text"], table
    assert table["text"].startswith("Claims and how this chapter checks them"), table
    assert table["math"] == 3, f"the table's math is not typeset: {table}"


def first_panel_chapter():
    """Chapter 00 if it has a live panel cell, else the first built chapter that has one."""
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        if not (HTML / "chapters" / f"{notebook.stem}.html").is_file():
            continue
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        if any(
            c["cell_type"] == "code"
            and "".join(c["source"]).strip().endswith(PANEL_CELL)
            for c in cells
        ):
            return notebook.stem
    return None


def test_live_code_runs_a_chapter_panel(tmp_path):
    assert (HTML / "index.html").is_file(), (
        f"no {HTML}/index.html: build the book first (make book)"
    )
    chapter = first_panel_chapter()
    if chapter is None:
        pytest.skip("no chapter has a live panel cell (panel.widget()) yet")
    built = (HTML / "chapters" / f"{chapter}.html").read_text(encoding="utf-8")
    has_panel_cell = PANEL_CELL in re.sub(r"<[^>]*>", "", built)
    assert has_panel_cell, (
        f"the built {chapter}.html has no {PANEL_CELL} cell: _build/html is older than the "
        "chapter (make book)"
    )
    with (
        jupyter_server(ROOT, tmp_path) as server,
        static_site(HTML) as site,
        Browser(height=1200) as browser,
    ):
        drive_panel(
            browser,
            site,
            f"chapters/{chapter}.html",
            server,
            f"live_code_{chapter}.png",
        )
