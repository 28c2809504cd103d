"""Timings for metalib.overparam (Part II): the deterministic FO-ANIL recursion and the two widget callbacks.

Budgets (issue 5 and the book's brief):
* d = 50, k' = 10: 5,000 iterations of the deterministic recursion in under 5 s;
* each interactive panel redraws in under 0.5 s at its default parameters.

Prints a table and exits with status 1 if a budget is exceeded. Run: ``python benchmarks/bench_overparam.py``.
"""

import math
import sys

import matplotlib

matplotlib.use(
    "Agg"
)  # here only: a benchmark draws off screen (never set MPLBACKEND for the book)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from timing import best_of, report  # noqa: E402

from metalib import overparam as op  # noqa: E402
from metalib.linrep import initial_representation  # noqa: E402
from metalib.subspace import random_orthonormal  # noqa: E402

REPEATS = 3


def main():
    rng = np.random.default_rng(0)
    d, k, k_width, alpha, beta, sigma, m_in = 50, 5, 10, 0.1, 0.1, 2.0, 20
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag(np.arange(1.0, k + 1))
    B0 = initial_representation(B_star, alpha, rng, k_width=k_width)
    w0 = 0.1 * rng.standard_normal(k_width)

    def draw_width():
        fig = op.plot_width_penalty(B_star, head_cov, alpha, m_in)
        fig.canvas.draw()
        plt.close(fig)

    def draw_unlearning():
        fig, _, _ = op.plot_unlearning(B_star, head_cov, sigma)
        fig.canvas.draw()
        plt.close(fig)

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
            "FO-ANIL recursion, m_in = inf, 5000 it.",
            5.0,
            lambda: op.train_expected_fo_anil(
                B0, alpha, beta, B_star, head_cov, math.inf, 5000, sigma
            ),
        ),
        (
            "multi-task recursion, 5000 it.",
            5.0,
            lambda: op.train_multitask(B0, alpha, beta, B_star, head_cov, 5000),
        ),
        ("widget callback, chapter 05 (defaults)", 0.5, draw_width),
        ("widget callback, chapter 06 (defaults)", 0.5, draw_unlearning),
    ]
    return report([(name, best_of(fn, REPEATS), budget) for name, budget, fn in rows])


if __name__ == "__main__":
    sys.exit(main())
