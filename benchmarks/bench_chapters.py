"""Execution time of every chapter from a fresh kernel, and of the whole book (budgets 15 s / 90 s).

Each chapter is executed once, one after the other, with nbclient in a new kernel started in
``chapters/`` (as the book build and nbval execute it); the kernel's start-up is part of the
chapter's time. Prints one line per chapter (its time and its slowest cell), the total, and the
slowest cell of the book, from which the per-cell timeouts of the build (``_config.yml``,
``execute.timeout``) and of nbval (``--nbval-cell-timeout`` in ``pyproject.toml``) are sized.
Exits non-zero when a budget is exceeded. Timing is measured, never asserted in a test.

Usage::

    python benchmarks/bench_chapters.py                    # every chapter of the book
    python benchmarks/bench_chapters.py chapters/02_anil.ipynb
    python benchmarks/bench_chapters.py --json times.json  # also write the per-cell times
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_BUDGET = 15.0  # seconds, each chapter from a fresh kernel
BOOK_BUDGET = 90.0  # seconds, every chapter


def chapters_in_toc():
    """The notebooks of ``_toc.yml``, in the book's order."""
    paths = []
    for line in (ROOT / "_toc.yml").read_text().splitlines():
        line = line.strip()
        if line.startswith("- file:"):
            path = ROOT / (line.split(":", 1)[1].strip() + ".ipynb")
            if path.exists():
                paths.append(path)
    return paths


def execute(path, timeout=600):
    """Execute one notebook in a fresh kernel; return (total seconds, {cell index: seconds})."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    cells = {}
    original = client.async_execute_cell

    async def timed(cell, cell_index, **kwargs):
        start = time.perf_counter()
        try:
            return await original(cell, cell_index, **kwargs)
        finally:
            if cell.cell_type == "code":
                cells[cell_index] = time.perf_counter() - start

    client.async_execute_cell = timed
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start, cells


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: the book's chapters"
    )
    parser.add_argument("--json", type=Path, help="write the per-cell times here")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or chapters_in_toc()
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    print(f"{'chapter':<48} {'time [s]':>8}  {'slowest cell':>14}  budget")
    total, exceeded, slowest, record = 0.0, False, (0.0, "", 0), {}
    for path in paths:
        seconds, cells = execute(path)
        total += seconds
        index, worst = max(cells.items(), key=lambda item: item[1], default=(0, 0.0))
        if worst > slowest[0]:
            slowest = (worst, path.stem, index)
        ok = seconds < CHAPTER_BUDGET
        exceeded |= not ok
        print(
            f"{path.stem:<48} {seconds:8.1f}  {worst:8.1f} (#{index:<2d})  "
            f"{CHAPTER_BUDGET:g} s {'ok' if ok else 'EXCEEDED'}",
            flush=True,
        )
        record[path.stem] = {"seconds": seconds, "cells": cells}
    ok = total < BOOK_BUDGET
    exceeded |= not ok
    print(
        f"{'total':<48} {total:8.1f}  {'':14}  {BOOK_BUDGET:g} s {'ok' if ok else 'EXCEEDED'}"
    )
    print(f"slowest cell: {slowest[1]} cell #{slowest[2]}, {slowest[0]:.1f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))
    return 1 if exceeded else 0


if __name__ == "__main__":
    sys.exit(main())
