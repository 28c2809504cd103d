"""Timings for metalib.overparam.finite_tasks (chapter 07): the paper's fixed task set.

Budgets (issue 13 and the book's brief):
* FO-ANIL, full batch, at the paper's sizes (T = 5000, d = k' = 50, m = 20 + 10): 2000 iterations in
  under 15 s;
* the chapter's panel: render (simulation + drawing + PNG) under 0.2 s at its defaults and under
  5 s at the slowest corner of its ranges.

Also printed, without a budget: the time per 100 iterations (the best of several short runs, so
less sensitive to a busy machine than the full run) of one start, two starts at once (in double
and in single precision, on one thread and on two), and the multi-task learner; and the run of
chapter 07 (two starts, single precision, two workers, 2000 iterations), whose chapter has the
15 s budget of benchmarks/bench_chapters.py.

Prints a table and exits with status 1 if a budget is exceeded. Run:
``python benchmarks/bench_finite_tasks.py``. On a machine whose cores are busy, run it (and the
book) with ``OPENBLAS_NUM_THREADS=1``: OpenBLAS's threads then cost far more than they save.
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

    starts = np.stack([B0, 2 * B0])
    start = time.perf_counter()
    fast = dict(precision="single", workers=2)
    overparam.train_finite_fo_anil(starts, alpha, beta, tasks, 2000, **fast)
    as_chapter = time.perf_counter() - start

    def per_iteration(train, B, n=20, **options):
        return (
            100
            * best_of(lambda: train(B, alpha, beta, tasks, n, record=[], **options), 5)
            / n
        )

    one = per_iteration(overparam.train_finite_fo_anil, B0)
    two = per_iteration(overparam.train_finite_fo_anil, starts)
    single = per_iteration(overparam.train_finite_fo_anil, starts, precision="single")
    shared = per_iteration(overparam.train_finite_fo_anil, starts, workers=2)
    both = per_iteration(overparam.train_finite_fo_anil, starts, **fast)
    multitask = per_iteration(overparam.train_finite_multitask, B0, n=5)
    panel = viz.overparam_finite.finite_tasks_panel()
    slowest = dict(T=1000, k_width=50, m_in=40, alpha=0.2, beta=0.2, start="Gaussian")
    rows = [
        ("draw the task set, T = 5000, m = 20 + 10", sampling, None),
        ("FO-ANIL, T = 5000, k' = d = 50, 2000 it.", training, 15.0),
        ("  per 100 it. (best of 5 runs of 20)", one, None),
        ("  per 100 it., two starts at once", two, None),
        ("  per 100 it., two starts, single precision", single, None),
        ("  per 100 it., two starts, 2 workers", shared, None),
        ("  per 100 it., two starts, single precision, 2 workers", both, None),
        ("chapter 07's run: two starts, single, 2 workers, 2000 it.", as_chapter, None),
        ("  per 100 it., multi-task learner", multitask, None),
        ("panel render, defaults", best_of(panel.render, 5), 0.2),
        (
            "panel render, slowest corner",
            best_of(lambda: panel.render(**slowest), 1),
            5.0,
        ),
    ]
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
