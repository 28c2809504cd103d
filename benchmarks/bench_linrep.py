"""Timings for Part I (metalib.linrep): the Figure 1 reproduction and one widget redraw.

Budgets (issue: Part I): the whole Figure 1 reproduction (5 trials x 5 methods, 3,000 iterations) under 10 s,
one redraw of the Part I panel at its defaults under 0.5 s. Prints the best of several repeats and exits
non-zero if a budget is exceeded. Run: ``make benchmark`` or ``python benchmarks/bench_linrep.py``.
"""

import sys

import matplotlib

matplotlib.use("Agg")  # a script, not a notebook: render off-screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from timing import best_of, report  # noqa: E402

from metalib import linrep, random_orthonormal  # noqa: E402
from metalib.widgets import LINREP_DEFAULTS, draw_linrep  # noqa: E402


def figure1():
    rng = np.random.default_rng(0)
    B_star = random_orthonormal(100, 5, rng, size=5)
    B0 = linrep.initial_representation(B_star, 0.1, rng, dist0=0.9)
    linrep.train(linrep.METHODS, B_star, B0, 0.1, 0.1, 3000, rng, n=5, record_every=10)


def redraw(method):
    def run():
        fig = draw_linrep(**(LINREP_DEFAULTS | dict(method=method)), show=False)
        fig.canvas.draw()  # include rendering, as a notebook would
        plt.close(fig)

    return run


def main():
    rows = [
        (
            "Figure 1 reproduction (5 trials x 5 methods x 3000 iterations)",
            best_of(figure1, 3, warmup=False),
            10.0,
        )
    ]
    for method in ("exact_anil", "exact_maml", "avg_loss"):
        rows.append(
            (f"panel redraw at defaults, {method}", best_of(redraw(method), 5), 0.5)
        )
    rows.append(
        (
            "panel redraw at defaults, fo_anil, m=25",
            best_of(
                lambda: plt.close(
                    draw_linrep(method="fo_anil", samples="m=25", show=False)
                ),
                5,
            ),
            0.5,
        )
    )
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
