"""Live Code on a built chapter, against a real Jupyter server on this machine (no network).

A Jupyter server (``jupyter_server``, pinned in requirements-dev.txt, running the reader's kernel
from requirements.txt) is started on localhost with the repository as its root. The built book is
served on another local port. In headless Chromium the test opens a chapter with a panel, adds a
second thebe configuration to the page that points Live Code at the local server instead of
mybinder.org (thebe merges every ``text/x-thebe-config`` script of a page; this override is the
only test-only change), clicks "Live Code" in the launch menu, runs every cell in order, and
checks that the panel cell shows the panel (a slider and a figure), that moving the slider redraws
the figure, and that no cell shows an error.

Swapping the book's thebe for one with the ipywidgets 7 front end makes this test fail (the panel
never renders): ``BOOK_HTML=<copy of _build/html with scripts/vendor_thebe.py --package
thebelab@0.5.1 copied to _static/thebe>`` runs it against such a copy."""

from __future__ import annotations

import functools
import http.server
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from browser import Browser, find_chromium

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
# the chapter whose panel is driven: the first chapter with a panel cell
PANEL_MARKERS = ("panel.widget()", "interact(")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def panel_chapter():
    """The first built chapter whose source has a live panel cell (sorted by name)."""
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        if any(
            c["cell_type"] == "code"
            and any(m in "".join(c["source"]) for m in PANEL_MARKERS)
            for c in cells
        ):
            return f"chapters/{notebook.stem}.html"
    pytest.fail("no chapter has a panel cell (panel.widget())")


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory):
    port, token = free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
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
            f"--ServerApp.root_dir={ROOT}",
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
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.seek(0)
                pytest.fail(
                    f"jupyter server did not start: {log.read().decode()[-2000:]}"
                )
            time.sleep(0.3)
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def site():
    assert (HTML / "index.html").is_file(), (
        f"no {HTML}/index.html: build the book first (make book)"
    )
    handler = functools.partial(QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def wait_for(browser, expression, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.evaluate(expression, await_promise=True)
        if value:
            return value
        browser._pump(0.5)
    state = browser.evaluate(STATE)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; page state: {state}")


# where Live Code is: the status text, the cells' errors, the panel's parts
STATE = r"""
(() => {
  const button = document.querySelector(".thebe-launch-button");
  const cells = [...document.querySelectorAll(".thebe-cell")];
  return JSON.stringify({
    status: button ? button.textContent.trim().slice(0, 200) : null,
    live: document.body.dataset.liveCode || null,
    cells: cells.length,
    errors: cells.map(c => c.querySelector(".jp-OutputArea-output[data-mime-type*=error], .jp-RenderedText[data-mime-type*=stderr]"))
      .filter(Boolean).map(e => e.textContent.slice(0, 300)),
    sliders: document.querySelectorAll(".thebe-cell .widget-slider").length,
    images: [...document.querySelectorAll(".thebe-cell .widget-image, .thebe-cell .jupyter-widgets img")].length,
    outputs: cells.map(c => (c.parentElement.querySelector("[data-output]") || {}).innerHTML || "")
      .map(t => t.slice(0, 160)),
    widget_errors: [...document.querySelectorAll(".thebe-cell .jupyter-widgets")].map(e => e.textContent)
      .filter(t => /error|not found/i.test(t)).map(t => t.slice(0, 300)),
  });
})()
"""

PANEL_IMAGE = r"""
(() => {
  const imgs = [...document.querySelectorAll(".thebe-cell .jupyter-widgets img, .thebe-cell .widget-image")]
    .filter(i => i.src && i.naturalWidth > 0);
  return imgs.length ? imgs[imgs.length - 1].src : null;
})()
"""


@pytest.mark.skipif(find_chromium() is None, reason="make test installs chromium first")
def test_live_code_runs_the_panel_and_redraws(jupyter_server, site):
    server_url, token = jupyter_server
    page = panel_chapter()
    override = json.dumps(
        {
            "useBinder": False,
            "requestKernel": True,
            "binderOptions": {"repo": ""},
            "serverSettings": {
                "baseUrl": server_url,
                "token": token,
                "appendToken": True,
            },
            "kernelOptions": {
                "name": "python3",
                "serverSettings": {"baseUrl": server_url, "token": token},
            },
        }
    )
    with Browser(height=1200) as browser:
        browser.open(f"{site}/{page}")
        # the test-only override: a second thebe configuration, pointing at the local server
        browser.evaluate(
            "(() => { const s = document.createElement('script');"
            " s.type = 'text/x-thebe-config';"
            f" s.textContent = {json.dumps(override)};"
            " document.body.appendChild(s); return true; })()"
        )
        # the "Live Code" entry of the launch menu
        assert browser.evaluate(
            "(() => { const b = document.querySelector('button.btn-launch-thebe, "
            "[onclick*=initThebeSBT]'); if (!b) return false; b.click(); return true; })()"
        ), f"{page} has no Live Code button"
        wait_for(
            browser,
            "['connected', 'failed'].includes(document.body.dataset.liveCode)",
            120,
            "Live Code to connect",
        )
        state = json.loads(browser.evaluate(STATE))
        assert state["live"] == "connected", f"Live Code did not connect: {state}"
        assert state["cells"] > 0, "Live Code made no cell runnable"
        # run every cell in order, as a reader does with "run all"
        browser.evaluate(
            "(() => { window.thebe.notebook.executeAll(true); return true; })()"
        )
        wait_for(
            browser,
            "document.querySelectorAll('.thebe-cell .widget-slider').length > 0",
            int(os.environ.get("LIVE_CODE_TIMEOUT", 300)),
            "the panel's slider",
        )
        state = json.loads(browser.evaluate(STATE))
        assert not state["errors"], f"cells failed under Live Code: {state['errors']}"
        first = wait_for(browser, PANEL_IMAGE, 60, "the panel's figure")
        state = json.loads(browser.evaluate(STATE))
        assert state["sliders"] > 0, f"the panel shows no slider: {state}"
        # move the first slider one step with the keyboard, as a reader can
        browser.evaluate(
            "(() => { const h = document.querySelector('.thebe-cell .widget-slider .noUi-handle');"
            " h.focus(); return true; })()"
        )
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
            f"(() => {{ const s = ({PANEL_IMAGE}); return s && s !== {json.dumps(first)}; }})()",
            60,
            "the figure to change after the slider moved",
        )
        SHOT = ROOT / "_build" / "screenshots"
        SHOT.mkdir(parents=True, exist_ok=True)
        browser.screenshot(SHOT / "live_code.png")
