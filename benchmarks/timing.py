"""Shared by the benchmark scripts: best-of-n timing and a budget table.

A benchmark measures, it does not test: each script prints what it timed and exits non-zero when
one of the book's budgets is exceeded, so `make benchmark` can flag a regression without any timed
test.
"""

import time


def best_of(fn, repeats=3, warmup=True):
    """Smallest wall-clock time of ``repeats`` calls of ``fn()``, in seconds (after one untimed
    call)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report(rows):
    """Print ``(what, seconds, budget or None)`` rows as a table; return 1 if a budget is exceeded,
    else 0."""
    width = max(len(what) for what, _, _ in rows)
    print(f"{'what':<{width}}  {'best [s]':>9}  budget")
    failed = False
    for what, seconds, budget in rows:
        verdict = ""
        if budget is not None:
            ok = seconds < budget
            failed |= not ok
            verdict = f"{budget:g} s {'ok' if ok else 'EXCEEDED'}"
        print(f"{what:<{width}}  {seconds:9.3f}  {verdict}")
    return 1 if failed else 0
