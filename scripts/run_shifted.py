"""Execute chapters with every seed shifted, to check that their asserts hold on any draw.

Every generator of the book is made by ``numpy.random.default_rng(seed)``. Before a chapter's
first cell this script patches ``numpy.random.default_rng`` in the kernel so that an integer seed
``s`` becomes ``s + shift`` (and each integer of a sequence seed is shifted alike); ``shift=0``
runs the chapter unchanged. The chapter is executed with nbclient in a fresh kernel; a failing
cell fails the run and names the cell.

Usage::

    python scripts/run_shifted.py --shift 1000 chapters/02_anil.ipynb [more notebooks]
    python scripts/run_shifted.py --shift 1000 --shift 2000 chapters/*.ipynb

Prints one line per chapter and shift with its execution time; exits non-zero if any failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

PATCH = """\
import numpy as _np
_original_default_rng = _np.random.default_rng


def _shifted(value, shift={shift}):
    if isinstance(value, (int, _np.integer)) and not isinstance(value, bool):
        return int(value) + shift
    if isinstance(value, (list, tuple)):
        return type(value)(_shifted(v) for v in value)
    return value


def _default_rng_shifted(seed=None):
    return _original_default_rng(_shifted(seed))


_np.random.default_rng = _default_rng_shifted
"""


def run(path, shift, timeout):
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PATCH.format(shift=shift)))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        return False, time.perf_counter() - start, str(exc).splitlines()[-1]
    return True, time.perf_counter() - start, ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--shift", type=int, action="append", required=True)
    parser.add_argument("--timeout", type=int, default=120, help="per cell, seconds")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.notebooks:
        for shift in args.shift:
            ok, seconds, error = run(path, shift, args.timeout)
            failed += not ok
            status = "ok    " if ok else "FAILED"
            print(
                f"{status} shift={shift:<6d} {seconds:6.1f} s  {path}  {error}",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
