"""A small headless-Chromium driver for checking the built book, with no dependency beyond the standard library.

Chromium is started with ``--remote-debugging-pipe``: it reads DevTools-protocol commands (JSON, each ended by a
NUL byte) from file descriptor 3 and writes replies and events to descriptor 4. That is all a page check needs:
open a page, block requests to other hosts (this machine reaches none), collect console errors, evaluate
JavaScript, and take a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from urllib.parse import urlparse

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
]


def find_chromium():
    """Path of the Chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium process, one page at a time.

    Use as a context manager. ``open(url)`` loads a page and returns a :class:`PageReport`.
    """

    def __init__(self, executable=None, width=1280, height=900):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise BrowserError("chromium is not installed (Debian package: chromium)")
        self.width, self.height = width, height
        self._next_id = 0
        self._buffer = b""
        self._events = []

    # -- process and protocol -------------------------------------------------------------------------
    def __enter__(self):
        self._profile = tempfile.mkdtemp(prefix="book-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_pipes():
            # Runs in the child before exec: the protocol wants the pipes on fds 3 and 4. Copy them out of the
            # way first (one of them may already sit on 3 or 4), then onto 3 and 4; dup2 makes the copies
            # inheritable, while every other descriptor of this process is close-on-exec.
            read_end = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self._proc = subprocess.Popen(
            [
                self.executable,
                *FLAGS,
                f"--user-data-dir={self._profile}",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes,
            close_fds=False,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.call(domain, session=True)
        self.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}, session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": self.width,
                "height": self.height,
                "deviceScaleFactor": 1,
                "mobile": False,
            },
            session=True,
        )
        return self

    def __exit__(self, *exc):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        for fd in (self._to_child, self._from_child):
            os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def _send(self, message):
        os.write(self._to_child, json.dumps(message).encode() + b"\0")

    def _read(self, timeout):
        """Next message from the browser, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                return None
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=False, timeout=60):
        """Send one command and wait for its reply; events that arrive meanwhile are queued."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(max(0.0, deadline - time.monotonic()))
            if reply is None:
                raise BrowserError(f"no reply to {method} within {timeout} s")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._handle(reply)

    def _handle(self, event):
        if event.get("method") == "Fetch.requestPaused":
            params = event["params"]
            host = urlparse(params["request"]["url"]).hostname
            if host in (None, "127.0.0.1", "localhost") or params["request"][
                "url"
            ].startswith(("data:", "blob:")):
                self._send(
                    {
                        "id": 0,
                        "method": "Fetch.continueRequest",
                        "sessionId": self.session,
                        "params": {"requestId": params["requestId"]},
                    }
                )
            else:
                self._send(
                    {
                        "id": 0,
                        "method": "Fetch.failRequest",
                        "sessionId": self.session,
                        "params": {
                            "requestId": params["requestId"],
                            "errorReason": "BlockedByClient",
                        },
                    }
                )
                self._blocked.append(params["request"]["url"])
            return
        self._events.append(event)

    def _pump(self, seconds):
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            event = self._read(left)
            if event is not None and "id" not in event:
                self._handle(event)

    # -- pages ------------------------------------------------------------------------------------------
    def evaluate(self, expression, await_promise=False, timeout=60):
        """Value of a JavaScript expression in the current page."""
        result = self.call(
            "Runtime.evaluate",
            {
                "expression": expression,
                "returnByValue": True,
                "awaitPromise": await_promise,
            },
            session=True,
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise BrowserError(
                f"JavaScript error: {result['exceptionDetails'].get('text')}"
            )
        return result["result"].get("value")

    def open(self, url, settle=1.0, timeout=60):
        """Load ``url``, wait for the load event and for MathJax, and return a :class:`PageReport`."""
        self._events, self._blocked = [], []
        self.call("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading within {timeout} s")
            self._pump(0.2)
        self.evaluate(
            "window.MathJax && MathJax.startup && MathJax.startup.promise "
            "? MathJax.startup.promise.then(() => true) : false",
            await_promise=True,
        )
        self._pump(settle)  # widgets render after the load event
        return PageReport(url, self._errors(), list(self._blocked))

    def _errors(self):
        errors = []
        blocked = set(self._blocked)
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                errors.append(
                    f"exception: {details.get('exception', {}).get('description') or details.get('text')}"
                )
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                errors.append(
                    "console.error: "
                    + " ".join(
                        str(a.get("value", a.get("description", "")))
                        for a in params.get("args", [])
                    )
                )
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                if entry.get("url") in blocked:  # our own blocking of outside hosts
                    continue
                errors.append(f"log: {entry['text']} ({entry.get('url', '')})")
        return errors

    def screenshot(self, path):
        """Save a full-page PNG screenshot of the current page."""
        data = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            session=True,
            timeout=120,
        )["data"]
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))


class PageReport:
    """What loading one page produced: console errors, and requests to outside hosts that were blocked."""

    def __init__(self, url, errors, blocked):
        self.url, self.errors, self.blocked = url, errors, blocked
