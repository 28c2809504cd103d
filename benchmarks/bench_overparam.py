"""Timings for metalib.overparam (Part II): the recursions and the two panels.

Budgets (the book's brief):
* d = 50, k' = 10: 5,000 iterations of the deterministic recursion in under 5 s;
* each panel renders (simulation + drawing + PNG, as a redraw of the live panel) in under 0.2 s at
  its defaults and under 5 s at the slowest corner of its ranges.

Prints the wall-clock table (best of 3, against the budgets), then the same calls in CPU time of
this process and the load average: on a machine shared with other jobs the wall clock of a short
call mostly measures the wait for a core, and the CPU time is what an idle machine would show.
Exits with status 1 if a wall-clock budget is exceeded.
Run: ``python benchmarks/bench_overparam.py``.
"""

import math
import os
import sys
import time

import numpy as np
from timing import best_of, report

from metalib import overparam as op
from metalib import viz
from metalib.linrep import initial_representation
from metalib.subspace import random_orthonormal

REPEATS = 3


def best_cpu(fn, repeats=REPEATS):
    """Smallest CPU time of this process over ``repeats`` calls of ``fn()`` (after one untimed)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    d, k, k_width, alpha, beta, sigma, m_in = 50, 5, 10, 0.1, 0.1, 2.0, 20
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag(np.arange(1.0, k + 1))
    B0 = initial_representation(B_star, alpha, rng, k_width=k_width)
    w0 = 0.1 * rng.standard_normal(k_width)

    width = viz.overparam.width_penalty_panel(B_star, head_cov, alpha, m_in)
    unlearning = viz.overparam.unlearning_panel(B_star, head_cov, sigma)
    widest = width.controls["extra"].max
    slowest = dict(
        k_width=unlearning.controls["k_width"].max,
        iterations=unlearning.controls["iterations"].max,
        m_in=math.inf,
    )

    rows = [
        (
            "FO-ANIL recursion, w0 = 0, d=50, k'=10, 5000 it.",
            5.0,
            lambda: op.train_expected_fo_anil(
                B0, alpha, beta, B_star, head_cov, m_in, 5000, sigma
            ),
        ),
        (
            "FO-ANIL recursion, w0 != 0 (general path), 5000 it.",
            5.0,
            lambda: op.train_expected_fo_anil(
                B0, alpha, beta, B_star, head_cov, m_in, 5000, sigma, w0=w0
            ),
        ),
        (
            "multi-task recursion, 5000 it.",
            5.0,
            lambda: op.train_multitask(B0, alpha, beta, B_star, head_cov, 5000),
        ),
        ("panel render incl. PNG, chapter 05 (defaults)", 0.2, width.render),
        (
            f"panel render incl. PNG, chapter 05 (slowest corner: k'-k={widest})",
            5.0,
            lambda: width.render(extra=widest, rho=1.5, sigma=4.0),
        ),
        ("panel render incl. PNG, chapter 06 (defaults)", 0.2, unlearning.render),
        (
            "panel render incl. PNG, chapter 06 (slowest corner: k'=d, "
            f"{slowest['iterations']} it.)",
            5.0,
            lambda: unlearning.render(**slowest),
        ),
    ]
    status = report([(name, best_of(fn, REPEATS), budget) for name, budget, fn in rows])
    print()
    print("CPU time of the same calls (what an idle machine would show):")
    report([(name, best_cpu(fn), None) for name, _, fn in rows])
    print(
        "load average (1, 5, 15 min): " + ", ".join(f"{v:.1f}" for v in os.getloadavg())
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
