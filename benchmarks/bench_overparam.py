"""Timings for metalib.overparam (Part II): the FO-ANIL recursion and the two panels.

Budgets (issue 5 and the book's brief):
* d = 50, k' = 10: 5,000 iterations of the deterministic recursion in under 5 s;
* each panel renders (simulation + drawing + PNG) in under 0.2 s at its defaults and under
  5 s at the slowest corner of its ranges.

Prints a table; exits with status 1 if a budget is exceeded.
Run: ``python benchmarks/bench_overparam.py``.
"""

import math
import sys

import numpy as np
from timing import best_of, report

from metalib import overparam as op
from metalib import viz
from metalib.linrep import initial_representation
from metalib.subspace import random_orthonormal

REPEATS = 3


def main():
    rng = np.random.default_rng(0)
    d, k, k_width, alpha, beta, sigma, m_in = 50, 5, 10, 0.1, 0.1, 2.0, 20
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag(np.arange(1.0, k + 1))
    B0 = initial_representation(B_star, alpha, rng, k_width=k_width)
    w0 = 0.1 * rng.standard_normal(k_width)

    width = viz.overparam.width_penalty_panel(B_star, head_cov, alpha, m_in)
    unlearning = viz.overparam.unlearning_panel(B_star, head_cov, sigma)

    def draw_width():  # simulation + drawing + PNG, as the live panel does
        width.render()

    def draw_unlearning():
        unlearning.render()

    def draw_unlearning_slowest():  # k' = d, 20000 iterations, m_in = inf
        unlearning.render(k_width=d, iterations=20_000, m_in=math.inf)

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
        ("panel render incl. PNG, chapter 05 (defaults)", 0.2, draw_width),
        ("panel render incl. PNG, chapter 06 (defaults)", 0.2, draw_unlearning),
        (
            "panel render incl. PNG, chapter 06 (slowest corner)",
            5.0,
            draw_unlearning_slowest,
        ),
    ]
    return report([(name, best_of(fn, REPEATS), budget) for name, budget, fn in rows])


if __name__ == "__main__":
    sys.exit(main())
