"""Timings for Part III (metalib.erm_vs_maml): the widget redraw of chapter 10 and the Monte-Carlo simulator.

Usage: ``python benchmarks/bench_erm_vs_maml.py``. Prints a table (best of a few repeats, time.perf_counter)
and exits with status 1 if the widget redraw exceeds its budget of 0.5 s at the sliders' defaults (issue 6).
"""

import io
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from timing import best_of, report  # noqa: E402

import metalib.erm_vs_maml as em  # noqa: E402

BUDGET_REDRAW = 0.5  # seconds, at the defaults
MARKS = [
    (0.05, 5.0, "packed, far"),
    (5.0, 5.0, "spread, far"),
    (0.05, 0.0, "packed, centered"),
]


def redraw(alpha=1.0, rho_H=0.1, rho_E=0.9, p_H=0.5, N=1):
    """What the chapter-10 widget callback does: compute the map, draw it, and render it to PNG as the inline
    backend of plt.show() does."""
    fig, _ = em.plot_gain_heatmap(
        alpha, rho_H, rho_E, p_H, N, R_E=1.0, d=10, marks=MARKS
    )
    fig.savefig(io.BytesIO(), format="png", dpi=matplotlib.rcParams["figure.dpi"])
    plt.close(fig)


def main():
    rng = np.random.default_rng(0)
    mix = em.two_cluster_mixture(20, 0.1, 0.9, 0.5, 0.1, 1.0, 5.0)
    thetas = np.stack([em.theta_erm(mix), em.theta_maml(mix, 1.0, 1, 100)])
    grid_R, grid_D = np.logspace(-1.5, 1, 61), np.linspace(0, 5, 61)
    rows = [
        (
            "widget redraw, defaults (alpha=1, rho_H=0.1, rho_E=0.9, p_H=0.5, N=1)",
            best_of(redraw),
            BUDGET_REDRAW,
        ),
        (
            "widget redraw, N=5, alpha=0.5, p_H=0.2",
            best_of(lambda: redraw(0.5, 0.1, 0.9, 0.2, 5)),
            None,
        ),
        (
            "closed-form gain on the 61 x 61 grid",
            best_of(
                lambda: (
                    em.two_cluster(
                        grid_R[None],
                        grid_D[:, None],
                        rho_H=0.1,
                        rho_E=0.9,
                        p_H=0.5,
                        alpha=1.0,
                        d=10,
                    ).gain
                )
            ),
            None,
        ),
        (
            "simulate_adaptation, d=20, 20 000 tasks, tau=5 (explicit samples)",
            best_of(
                lambda: em.simulate_adaptation(rng, thetas, mix, 1.0, 20_000, tau=5), 3
            ),
            None,
        ),
        (
            "simulate_adaptation, d=20, 20 000 tasks, tau=10 000 (Bartlett)",
            best_of(
                lambda: em.simulate_adaptation(
                    rng, thetas, mix, 1.0, 20_000, tau=10_000
                ),
                3,
            ),
            None,
        ),
        (
            "train_sgd, d=10, 8 trials x 16 tasks, m_in=m_out=10, 500 steps",
            best_of(
                lambda: em.train_sgd(
                    rng,
                    ("erm", "maml"),
                    em.two_cluster_mixture(10, 0.1, 0.9, 0.5, 0.1, 1.0, 5.0),
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
