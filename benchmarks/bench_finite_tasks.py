"""Timings for metalib.overparam.finite_tasks (chapter 07): the paper's fixed task set.

Budgets (issue 13 and the book's brief):
* FO-ANIL, full batch, at the paper's sizes (T = 5000, d = k' = 50, m = 20 + 10): 2000 iterations in
  under 15 s;
* the chapter's panel: render (simulation + drawing + PNG) under 0.2 s at its defaults and under
  5 s at the slowest corner of its ranges.

Prints a table and exits with status 1 if a budget is exceeded. Run:
``python benchmarks/bench_finite_tasks.py``.
"""

import sys
import time

import numpy as np
from timing import best_of, report

from metalib import overparam, viz
from metalib.subspace import random_orthonormal


def main():
    rng = np.random.default_rng(0)
    d, k, alpha, beta, sigma = 50, 5, 0.1, 0.1, 2.0
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag(np.arange(1.0, k + 1))
    start = time.perf_counter()
    tasks = overparam.sample_finite_tasks(rng, B_star, head_cov, 5000, 20, 10, sigma)
    sampling = time.perf_counter() - start
    B0 = overparam.gaussian_start(rng, d, d)
    start = time.perf_counter()
    overparam.train_finite_fo_anil(B0, alpha, beta, tasks, 2000)
    training = time.perf_counter() - start
    start = time.perf_counter()
    overparam.train_finite_fo_anil(np.stack([B0, 2 * B0]), alpha, beta, tasks, 200)
    two_starts = (time.perf_counter() - start) * 10
    panel = viz.overparam_finite.finite_tasks_panel()
    slowest = dict(T=1000, k_width=50, m_in=40, alpha=0.2, beta=0.2, start="Gaussian")
    rows = [
        ("draw the task set, T = 5000, m = 20 + 10", sampling, None),
        ("FO-ANIL, T = 5000, k' = d = 50, 2000 it.", training, 15.0),
        ("two starts at once, 2000 it. (from 200)", two_starts, None),
        ("panel render, defaults", best_of(panel.render, 3), 0.2),
        (
            "panel render, slowest corner",
            best_of(lambda: panel.render(**slowest), 1),
            5.0,
        ),
    ]
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
