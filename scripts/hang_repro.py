"""Reproduce (or rule out) the rare stall of a notebook execution; record both sides if one stalls.

Runs many executions of the book's chapters, ``--parallel`` at a time (default 2, as nbval's two
xdist workers and a build running next to them load this 2-core machine), each in a fresh kernel
with nbclient's ``NotebookClient``: the executor that jupyter-book's cache (jupyter-cache) and
nbconvert use. Every message the client sends or receives is time-stamped and the last ones of
each channel (shell, iopub, control, stdin, and the client's own requests) are kept.

A watchdog thread in each worker declares a *stall* when no message has moved for longer than
``max(--min-stall, 3 x that cell's slowest time so far)``. On a stall it records, into
``--out``/stalls.jsonl:

* ``py-spy dump`` of the client (this worker) and of its kernel;
* the last messages on each channel and the msg_id of the request being waited for;
* whether the client's shell and iopub sockets hold an unread message (``zmq.EVENTS``), checked
  from inside the client's event loop: a reply that is queued in the socket while the client
  sleeps in ``select`` is a lost wake-up on the client side; an empty socket with an idle kernel
  is a message the kernel never sent.

Reading ``zmq.EVENTS`` makes pyzmq look at the socket again, so a lost wake-up on the client ends
right after that check (``ended_after_s`` about ``quiet_s``): that is its signature. The run then
goes on waiting: a stall that ends by itself is recorded with its length; one that
lasts ``--hang-timeout`` seconds is a *hang* (nbclient's per-cell timeout fires, the kernel is
killed) and the worker moves on. Every execution is one line of ``--out``/runs.jsonl (chapter,
seconds, per-cell seconds, stalls, outcome). The closing summary prints the stall and hang rates
and the machine's load average.

Usage::

    python scripts/hang_repro.py --runs 300 --parallel 2 --out _build/hang_repro
    python scripts/hang_repro.py --runs 20 chapters/01_linrep_problem.ipynb
    python scripts/hang_repro.py --summary _build/hang_repro      # summarise earlier runs

    python scripts/hang_repro.py --panel-style --runs 200      # the same, with the fix applied
    python scripts/hang_repro.py --synthetic 200 --runs 30     # panel-cell traffic, many messages
    python scripts/hang_repro.py --simulate-lost-wakeup 2 --synthetic 1 --runs 1 --min-stall 3

What it found (issue 14): the stall is a lost wake-up in the client, triggered by
``ipywidgets.interact``. interact draws into an ipywidgets Output widget; nbclient mimics the
front end's Output widget and answers each captured output with a comm_msg on the shell socket,
sent from its iopub handler through a synchronous shadow of the asyncio socket (jupyter_client's
``Session.send``). That send lets libzmq consume the socket's edge-triggered wake-up behind
pyzmq's asyncio layer, so the cell's execute_reply stays unread in the socket, both sides idle,
until the poll's timeout (the cell timeout) expires; the cell then completes. Panels built as
``metalib.viz.Panel`` builds them (no Output widget) never make nbclient send; nbval's client
does not mimic Output widgets and is not affected. See PANEL_STYLE_INTERACT below.

py-spy is needed for the stacks (``pip install py-spy``); without it the rest still works.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import glob
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import zmq
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parents[1]


def _summary(msg):
    """A short, JSON-able description of a Jupyter message."""
    header = msg.get("header", {})
    content = msg.get("content", {})
    out = {
        "type": header.get("msg_type"),
        "id": str(header.get("msg_id", ""))[-12:],
        "parent": str(msg.get("parent_header", {}).get("msg_id", ""))[-12:],
    }
    for key in ("execution_state", "status", "comm_id", "name", "target_name"):
        if key in content:
            out[key] = str(content[key])[-12:]
    if "data" in content and isinstance(content["data"], dict):
        out["method"] = content["data"].get("method")
    if msg.get("buffers"):
        out["buffers"] = [len(b) for b in msg["buffers"]]
    return out


class TracedClient(NotebookClient):
    """A NotebookClient that keeps the last messages of each channel and its progress."""

    def __init__(self, nb, trace_len=25, deafen_at=None, **kw):
        super().__init__(nb, **kw)
        self.deafen_at = deafen_at
        self.trace = {
            name: collections.deque(maxlen=trace_len)
            for name in ("sent", "shell", "iopub", "control", "stdin")
        }
        self.last_activity = time.monotonic()
        self.phase = "start kernel"
        self.cell_started = None
        self.waiting_for = None
        self.loop = None
        self.on_cell_execute = self._cell_execute

    def _note(self, channel, msg):
        self.last_activity = time.monotonic()
        self.trace[channel].append((round(time.time(), 3), _summary(msg)))

    async def _cell_execute(self, cell, cell_index):
        self.phase = f"cell {cell_index}"
        self.cell_started = time.monotonic()
        if self.deafen_at is not None and cell_index >= self.deafen_at:
            # positive control of the detector: the client's event loop stops watching the shell
            # socket, as if its wake-up were lost; the reply then waits in the socket
            sock = self.kc.shell_channel.socket
            asyncio.get_running_loop().remove_reader(sock.get(zmq.FD))

    async def async_start_new_kernel_client(self):
        self.loop = asyncio.get_running_loop()
        kc = self.km.client()
        self._wrap(kc)
        self.kc = kc
        # the same steps as NotebookClient.async_start_new_kernel_client, on the wrapped client
        await _maybe_await(self.kc.start_channels())
        self.phase = "wait_for_ready"
        await _maybe_await(self.kc.wait_for_ready(timeout=self.startup_timeout))
        self.kc.allow_stdin = False
        self.phase = "ready"
        return self.kc

    def _wrap(self, kc):
        session_send = kc.session.send

        def send(stream, msg_or_type, *args, **kwargs):
            msg = session_send(stream, msg_or_type, *args, **kwargs)
            if isinstance(msg, dict):
                self._note("sent", msg)
                if msg.get("header", {}).get("msg_type") == "execute_request":
                    self.waiting_for = msg["header"]["msg_id"]
            return msg

        kc.session.send = send
        for name in ("shell", "iopub", "control", "stdin"):
            channel = getattr(kc, f"{name}_channel")
            original = channel.get_msg

            async def get_msg(*args, _original=original, _name=name, **kwargs):
                msg = await _maybe_await(_original(*args, **kwargs))
                self._note(_name, msg)
                return msg

            channel.get_msg = get_msg

    def socket_state(self, timeout=5.0):
        """Unread messages in the client's sockets, read inside the client's event loop."""
        if self.loop is None or self.kc is None:
            return None
        result = {}
        done = threading.Event()

        def check():
            try:
                for name in ("shell", "iopub", "control"):
                    sock = getattr(self.kc, f"{name}_channel").socket
                    if sock is not None and not sock.closed:
                        result[name] = bool(sock.get(zmq.EVENTS) & zmq.POLLIN)
            except Exception as exc:  # noqa: BLE001 - a diagnostic, never fatal
                result["error"] = repr(exc)
            done.set()

        self.loop.call_soon_threadsafe(check)
        if not done.wait(timeout):
            return {"error": "event loop did not run the check"}
        return result


async def _maybe_await(value):
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


def _kernel_pid(client):
    km = client.km
    for getter in (
        lambda: km.provisioner.process.pid,
        lambda: km.provisioner.pid,
        lambda: km.kernel.pid,
    ):
        try:
            return int(getter())
        except Exception:  # noqa: BLE001
            continue
    return None


def _pyspy(pid):
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if pid is None or not Path(exe).exists():
        return "py-spy not available" if pid else "no pid"
    try:
        out = subprocess.run(
            [exe, "dump", "--nonblocking", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout + out.stderr
    except Exception as exc:  # noqa: BLE001
        return f"py-spy failed: {exc!r}"


def _loadavg():
    return [round(x, 2) for x in os.getloadavg()]


class Watchdog(threading.Thread):
    def __init__(self, client, chapter, slowest, min_stall, stall_log):
        super().__init__(daemon=True)
        self.client, self.chapter, self.slowest = client, chapter, slowest
        self.min_stall, self.stall_log = min_stall, stall_log
        self.stop = threading.Event()
        self.stalls = []

    def limit(self):
        phase = self.client.phase
        return max(
            self.min_stall, 3.0 * self.slowest.get(f"{self.chapter}:{phase}", 0.0)
        )

    def run(self):
        recorded_at = None
        while not self.stop.wait(1.0):
            c = self.client
            quiet = time.monotonic() - c.last_activity
            if recorded_at is not None:
                if c.last_activity > recorded_at:  # the stall ended by itself
                    self.stalls[-1]["ended_after_s"] = round(
                        c.last_activity - recorded_at, 1
                    )
                    self.stalls[-1]["ended_by"] = c.trace_last()
                    recorded_at = None
                continue
            if quiet <= self.limit():
                continue
            recorded_at = c.last_activity
            record = {
                "chapter": self.chapter,
                "phase": c.phase,
                "quiet_s": round(quiet, 1),
                "limit_s": round(self.limit(), 1),
                "waiting_for": (c.waiting_for or "")[-12:],
                "loadavg": _loadavg(),
                "client_stack": _pyspy(os.getpid()),
                "kernel_stack": _pyspy(_kernel_pid(c)),
                "last_messages": {k: list(v) for k, v in c.trace.items()},
            }
            # a kernel running a cell has run_code on its main thread's stack; an idle one sits
            # in its event loop (the stall is then in the messaging, not in the computation)
            record["kernel_busy"] = (
                "InteractiveShell.run_code" in record["kernel_stack"]
            )
            # last: reading zmq.EVENTS can itself deliver a lost wake-up
            record["unread_in_socket"] = c.socket_state()
            self.stalls.append(record)
            with open(self.stall_log, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(
                f"[stall] {self.chapter} {c.phase}: quiet {quiet:.0f} s, sockets "
                f"{record['unread_in_socket']}",
                flush=True,
            )


def _trace_last(self):
    last = max(
        ((t, ch, m) for ch, d in self.trace.items() for t, m in d),
        default=(0, "", {}),
        key=lambda item: item[0],
    )
    return {"channel": last[1], **last[2]}


TracedClient.trace_last = _trace_last


def execute_once(
    path, hang_timeout, min_stall, slowest, stall_log, deafen_at=None, panel_style=False
):
    nb = nbformat.read(path, as_version=4)
    if panel_style:
        nb.cells.insert(0, nbformat.v4.new_code_cell(PANEL_STYLE_INTERACT))
    client = TracedClient(
        nb,
        deafen_at=deafen_at,
        timeout=hang_timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    chapter = Path(path).stem
    cell_times = {}
    original = client.async_execute_cell

    async def timed_execute_cell(cell, cell_index, **kw):
        start = time.monotonic()
        try:
            return await original(cell, cell_index, **kw)
        finally:
            cell_times[f"cell {cell_index}"] = round(time.monotonic() - start, 2)

    client.async_execute_cell = timed_execute_cell
    watchdog = Watchdog(client, chapter, slowest, min_stall, stall_log)
    watchdog.start()
    start = time.monotonic()
    outcome = "ok"
    try:
        client.execute()
    except CellTimeoutError:
        outcome = "hang"
    except DeadKernelError:
        outcome = "dead kernel"
    except CellExecutionError as exc:
        outcome = "cell error: " + str(exc).strip().splitlines()[-1][:200]
    except Exception as exc:  # noqa: BLE001
        outcome = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        watchdog.stop.set()
    seconds = time.monotonic() - start
    for key, value in cell_times.items():
        name = f"{chapter}:{key}"
        slowest[name] = max(slowest.get(name, 0.0), value)
    return {
        "chapter": chapter,
        "seconds": round(seconds, 2),
        "outcome": outcome,
        "stalls": [
            {
                k: s.get(k)
                for k in (
                    "phase",
                    "quiet_s",
                    "ended_after_s",
                    "unread_in_socket",
                    "kernel_busy",
                )
            }
            for s in watchdog.stalls
        ],
        "cells": cell_times,
        "loadavg": _loadavg(),
        "worker": os.getpid(),
    }


def worker(queue, out, hang_timeout, min_stall, deafen_at=None, panel_style=False):
    slowest = {}
    stall_log = Path(out) / "stalls.jsonl"
    while True:
        path = queue.get()
        if path is None:
            return
        record = execute_once(
            path, hang_timeout, min_stall, slowest, stall_log, deafen_at, panel_style
        )
        with open(Path(out) / "runs.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        stalls = len(record["stalls"])
        print(
            f"{record['outcome'][:40]:<12} {record['seconds']:6.1f} s  {record['chapter']}"
            f"{f'  STALLS: {stalls}' if stalls else ''}  load {record['loadavg'][0]}",
            flush=True,
        )


def summarise(out):
    runs = [json.loads(line) for line in open(Path(out) / "runs.jsonl")]
    n = len(runs)
    hangs = sum(r["outcome"] == "hang" for r in runs)
    stalled = sum(bool(r["stalls"]) for r in runs)
    # the signature of a lost wake-up: the awaited reply sits unread in the client's shell socket
    lost = sum(
        any((st.get("unread_in_socket") or {}).get("shell") for st in r["stalls"])
        for r in runs
    )
    errors = [r for r in runs if r["outcome"] not in ("ok", "hang")]
    loads = [r["loadavg"][0] for r in runs]
    print(f"{n} executions in {out}")
    print(
        f"  hangs (no message for the whole timeout): {hangs}  ({hangs / max(n, 1):.2%})"
    )
    print(
        f"  executions with a stall:                  {stalled}  ({stalled / max(n, 1):.2%})"
    )
    print(f"    of which a lost wake-up (reply unread in the shell socket): {lost}")
    print(
        "    (other stalls: a cell computing longer than the stall limit, kernel busy)"
    )
    print(f"  other failures: {len(errors)}  {sorted({r['outcome'] for r in errors})}")
    if loads:
        loads.sort()
        print(f"  1-min load average: median {loads[len(loads) // 2]}, max {loads[-1]}")
    per = collections.defaultdict(list)
    for r in runs:
        if r["outcome"] == "ok":
            per[r["chapter"]].append(r["seconds"])
    for chapter, times in sorted(per.items()):
        times.sort()
        print(
            f"  {chapter:<45} n={len(times):<4} median {times[len(times) // 2]:5.1f} s"
        )


SYNTHETIC_CELLS = [
    # what a chapter's panel cells do: controls, a status line and a PNG image (comm_open and
    # comm_msg traffic with binary buffers), redrawn once, as metalib.viz.Panel.widget() does
    """\
import io
import ipywidgets as w
from matplotlib.figure import Figure

fig = Figure(figsize=(3, 2))
fig.add_subplot().plot([0, 1, 2], [1, 0, 2])
buf = io.BytesIO()
fig.savefig(buf, format="png", dpi=40)
png = buf.getvalue()
""",
    """\
controls = [w.FloatSlider(value=0.5, min=0, max=1), w.IntSlider(value=3, min=1, max=9)]
status, image = w.HTML(value=""), w.Image(format="png")
box = w.VBox([*controls, status, image])
status.value = "<i>running...</i>"
image.value = png
status.value = ""
box
""",
    "print('a line on stdout'); fig",
    "sum(range(10_000))",
]


# --panel-style: the change that removes the stall, applied to chapters that still call
# ipywidgets.interact. interact renders into an ipywidgets Output widget; nbclient mimics a front
# end for Output widgets and, on each output captured by one, sends a comm_msg to the kernel on the
# shell socket from inside its iopub handler (nbclient/output_widget.py, sync_state), through a
# synchronous shadow of the asyncio socket (jupyter_client Session.send). That send lets libzmq
# consume the socket's edge-triggered wake-up behind pyzmq's asyncio layer, so the execute_reply
# that arrives can sit unread until the cell's timeout. A panel built as metalib.viz.Panel builds
# it (controls, an HTML status line and an Image, values set directly, no Output widget) never
# makes nbclient send anything. This shim gives interact that shape: it draws once and shows the
# controls, without an Output widget.
PANEL_STYLE_INTERACT = """\\
import ipywidgets as _w
from IPython.display import display as _display


def _panel_style_interact(_f=None, **kwargs):
    def build(f):
        controls = {
            k: _w.interactive.widget_from_abbrev(v, None) if not isinstance(v, _w.Widget) else v
            for k, v in kwargs.items()
        }
        f(**{k: getattr(c, "value", c) for k, c in controls.items()})
        box = _w.VBox([c for c in controls.values() if isinstance(c, _w.Widget)])
        _display(box)
        return box

    return build(_f) if _f is not None else build


_w.interact = _panel_style_interact
"""


def synthetic_notebook(out, repeats):
    """A notebook whose cells repeat the message pattern of a chapter's panel cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(SYNTHETIC_CELLS[0])]
    for _ in range(repeats):
        nb.cells += [nbformat.v4.new_code_cell(src) for src in SYNTHETIC_CELLS[1:]]
    path = Path(out) / "synthetic.ipynb"
    nbformat.write(nb, path)
    return str(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: every chapter")
    parser.add_argument("--runs", type=int, default=300, help="executions in all")
    parser.add_argument("--parallel", type=int, default=2, help="executions at once")
    parser.add_argument("--out", default=str(ROOT / "_build" / "hang_repro"))
    parser.add_argument(
        "--hang-timeout", type=float, default=300.0, help="seconds, per cell"
    )
    parser.add_argument(
        "--min-stall", type=float, default=20.0, help="seconds without a message"
    )
    parser.add_argument(
        "--summary", metavar="OUT", help="only summarise an earlier --out"
    )
    parser.add_argument(
        "--synthetic",
        type=int,
        metavar="N",
        help="instead of the chapters, execute a notebook repeating N times the message pattern "
        "of a panel cell (widgets with a PNG image, a figure, stdout): many more messages a second",
    )
    parser.add_argument(
        "--simulate-lost-wakeup",
        type=int,
        metavar="CELL",
        help="positive control: from cell index CELL on, the client stops watching its shell "
        "socket (a lost wake-up); each cell then waits --hang-timeout and the stall is recorded",
    )
    parser.add_argument(
        "--panel-style",
        action="store_true",
        help="run each chapter with ipywidgets.interact replaced by a panel without an Output "
        "widget (the fix; see PANEL_STYLE_INTERACT)",
    )
    args = parser.parse_args(argv)
    if args.summary:
        summarise(args.summary)
        return 0
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.synthetic:
        notebooks = [synthetic_notebook(args.out, args.synthetic)]
    else:
        notebooks = args.notebooks or sorted(
            glob.glob(str(ROOT / "chapters" / "*.ipynb"))
        )
    queue = mp.Queue()
    for i in range(args.runs):
        queue.put(notebooks[i % len(notebooks)])
    for _ in range(args.parallel):
        queue.put(None)
    workers = [
        mp.Process(
            target=worker,
            args=(
                queue,
                args.out,
                args.hang_timeout,
                args.min_stall,
                args.simulate_lost_wakeup,
                args.panel_style,
            ),
        )
        for _ in range(args.parallel)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    summarise(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
