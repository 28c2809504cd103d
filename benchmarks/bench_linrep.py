"""Timings for Part I (metalib.linrep) and chapter 00: core speed, Figure 1, every panel's redraw.

Budgets: the exact meta-gradient at Figure 1 sizes (d=100, k=n=5) within 30% of the bare
closed-form arithmetic it wraps; each panel's redraw (simulation + drawing + PNG, as
``Panel.render`` does) under 0.2 s at its defaults and under 5 s at the slowest corner of its
ranges. Run: ``python benchmarks/bench_linrep.py``.
"""

import sys

import numpy as np
from timing import best_of, report

from metalib import linrep, random_orthonormal, viz
from metalib.linrep.gradients import _Batch, _kind, _meta_gradients


def core_speed(method="exact_anil", repeats=2000):
    rng = np.random.default_rng(0)
    d, k, n, alpha = 100, 5, 5, 0.1
    B_star = random_orthonormal(d, k, rng)
    B = random_orthonormal(d, k, rng) / np.sqrt(alpha)
    w = 0.1 * rng.standard_normal(k)
    heads = rng.standard_normal((n, k))

    def public():
        for _ in range(repeats):
            linrep.population_meta_gradient(method, B, w, B_star, heads, alpha)

    kind = _kind(method, alpha)

    def bare():  # the arithmetic alone: tasks and meta-gradients, no checks, no dispatch
        for _ in range(repeats):
            tasks = _Batch(None, 1, heads @ B_star.T)
            _meta_gradients(B, w[None], tasks, tasks, kind)

    return best_of(public, 5) / repeats, best_of(bare, 5) / repeats


def figure1():
    rng = np.random.default_rng(0)
    B_star = random_orthonormal(100, 5, rng, size=5)
    B0 = linrep.initial_representation(B_star, 0.1, rng, dist0=0.9)
    linrep.train(linrep.METHODS, B_star, B0, 0.1, 0.1, 3000, rng, n=5, record_every=10)


def render(panel, **values):
    def run():
        png, _ = panel.render(**values)
        assert png is not None

    return run


def main():
    rows = []
    for method in ("exact_anil", "exact_maml"):
        public, bare = core_speed(method)
        rows.append(
            (f"{method} meta-gradient d=100 k=n=5, public API", public, 1.3 * bare)
        )
        rows.append(
            (f"{method} meta-gradient d=100 k=n=5, bare arithmetic", bare, None)
        )
    rows.append(
        ("Figure 1 (5 trials x 5 methods x 3000 iterations)", best_of(figure1, 1), 10.0)
    )
    corner = dict(
        method="exact_maml",
        d=50,
        k=10,
        n=10,
        iterations=2000,
        samples="m=100",
        alpha=0.5,
    )
    for name, panel in (
        ("01 avg_loss", viz.linrep.linrep_panel(method="avg_loss")),
        ("02 exact_anil", viz.linrep.linrep_panel(method="exact_anil")),
        ("03 exact_maml", viz.linrep.linrep_panel(method="exact_maml")),
        ("04 fo_anil m=25", viz.linrep.linrep_panel(method="fo_anil", samples="m=25")),
    ):
        rows.append((f"panel {name}, defaults", best_of(render(panel), 3), 0.2))
    rows.append(
        ("panel 01-04, slowest corner", best_of(render(panel, **corner), 1), 5.0)
    )
    panel0 = viz.subspace.random_distance_panel()
    rows.append(("panel 00, defaults", best_of(render(panel0), 3), 0.2))
    rows.append(
        ("panel 00, slowest corner", best_of(render(panel0, d=200, k=50), 1), 5.0)
    )
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
