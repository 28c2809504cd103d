"""Timings for Part III (metalib.erm_vs_maml): the panels of chapters 10 and 11, and the simulators.

Usage: ``python benchmarks/bench_erm_vs_maml.py``. Prints a table (best of a few repeats,
time.perf_counter). A panel's time is ``panel.render()``: simulation + drawing + PNG encoding, what
a reader waits for after moving a slider. Budgets: 0.2 s at the defaults, 5 s at the slowest corner
of the ranges. Exits with status 1 if a budget is exceeded.
"""

import sys

import numpy as np
from timing import best_of, report

from metalib import erm_vs_maml, viz

BUDGET_DEFAULT = 0.2  # seconds, a panel at its defaults
BUDGET_CORNER = 5.0  # seconds, a panel at the slowest corner of its ranges


def render(panel, **values):
    png, message = panel.render(**values)
    assert png is not None, message


def load_reference():
    """A fixed pure-Python loop (about 0.15 s on an idle core): read the table against it."""
    import time

    start = time.perf_counter()
    sum(range(10**7))
    return time.perf_counter() - start


def main():
    print(f"reference loop: {load_reference():.3f} s (about 0.15 s on an idle core)")
    rng = np.random.default_rng(0)
    mix = erm_vs_maml.two_cluster_mixture(20, 0.1, 0.9, 0.5, 0.1, 1.0, 5.0)
    thetas = np.stack(
        [erm_vs_maml.theta_erm(mix), erm_vs_maml.theta_maml(mix, 1.0, 1, 100)]
    )
    gain_map = viz.erm_vs_maml.gain_map_panel()
    samples = viz.erm_vs_maml.samples_panel()
    rows = [
        (
            "ch10 gain_map_panel render, defaults (alpha=1, rho_H=0.1, rho_E=0.9, p_H=0.5, N=1)",
            best_of(lambda: render(gain_map)),
            BUDGET_DEFAULT,
        ),
        (
            "ch10 gain_map_panel render, corner (alpha=1.5, rho_H=0.5, rho_E=1.5, p_H=0.95, N=5)",
            best_of(
                lambda: render(gain_map, alpha=1.5, rho_H=0.5, rho_E=1.5, p_H=0.95, N=5)
            ),
            BUDGET_CORNER,
        ),
        (
            "ch10 gain_map_panel render, corner (alpha=0.2, rho_H=0.02, rho_E=0.05, p_H=0.05, N=0)",
            best_of(
                lambda: render(
                    gain_map, alpha=0.2, rho_H=0.02, rho_E=0.05, p_H=0.05, N=0
                )
            ),
            BUDGET_CORNER,
        ),
        (
            "ch11 samples_panel render, defaults (d=20, rho_E=0.9, R_H=0.1, D=5, sigma=0)",
            best_of(lambda: render(samples)),
            BUDGET_DEFAULT,
        ),
        (
            "ch11 samples_panel render, corner (d=200, rho_E=0.98, R_H=0.01, D=10, sigma=2)",
            best_of(
                lambda: render(samples, d=200, rho_E=0.98, R_H=0.01, D=10.0, sigma=2.0)
            ),
            BUDGET_CORNER,
        ),
        (
            "ch11 samples_panel render, corner (d=1, rho_E=0.2, R_H=5, D=0, sigma=0)",
            best_of(lambda: render(samples, d=1, rho_E=0.2, R_H=5.0, D=0.0, sigma=0.0)),
            BUDGET_CORNER,
        ),
        (
            "simulate_adaptation, d=20, 20 000 tasks, tau=5 (explicit samples)",
            best_of(
                lambda: erm_vs_maml.simulate_adaptation(
                    rng, thetas, mix, 1.0, 20_000, tau=5
                ),
                3,
            ),
            None,
        ),
        (
            "simulate_adaptation, d=20, 20 000 tasks, tau=10 000 (Bartlett)",
            best_of(
                lambda: erm_vs_maml.simulate_adaptation(
                    rng, thetas, mix, 1.0, 20_000, tau=10_000
                ),
                3,
            ),
            None,
        ),
        (
            "train_sgd, d=10, 8 trials x 16 tasks, m_in=m_out=10, 500 steps",
            best_of(
                lambda: erm_vs_maml.train_sgd(
                    rng,
                    ("erm", "maml"),
                    erm_vs_maml.two_cluster_mixture(10, 0.1, 0.9, 0.5, 0.1, 1.0, 5.0),
                    1.0,
                    0.5,
                    500,
                    n=16,
                    m_in=10,
                    m_out=10,
                    trials=8,
                ),
                2,
            ),
            None,
        ),
    ]
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
