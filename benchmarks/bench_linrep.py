"""Timings for Part I (metalib.linrep) and chapter 00: core speed, Figure 1, every panel's redraw.

Budgets: the exact meta-gradient at Figure 1 sizes (d=100, k=n=5) within 30% of the bare
closed-form arithmetic it wraps (validation and dispatch included); each panel's redraw
(simulation + drawing + PNG, as ``Panel.render`` does) under 0.2 s at its defaults and under 5 s
at the slowest corner of its ranges.

Each row prints the best wall-clock time and the best CPU time of the process. On a loaded
machine the wall-clock time counts the time the process waited for a core; the CPU time is close
to what the same work takes on an idle machine, so the budgets are checked against it (and the
load average is printed). Run: ``python benchmarks/bench_linrep.py``.
"""

import os
import sys
import time

import numpy as np

from metalib import linrep, random_orthonormal, viz
from metalib.linrep.gradients import _Batch, _kind, _meta_gradients


def best(fn, repeats=3):
    """Smallest wall-clock and smallest CPU time of ``repeats`` calls (after one untimed call)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def core_speed(method="exact_anil", repeats=2000):
    """Per call: the public meta-gradient, and the bare arithmetic (tasks and gradients)."""
    rng = np.random.default_rng(0)
    d, k, n, alpha = 100, 5, 5, 0.1
    B_star = random_orthonormal(d, k, rng)
    B = random_orthonormal(d, k, rng) / np.sqrt(alpha)
    w = 0.1 * rng.standard_normal(k)
    heads = rng.standard_normal((n, k))
    kind = _kind(method, alpha)

    def public():
        for _ in range(repeats):
            linrep.population_meta_gradient(method, B, w, B_star, heads, alpha)

    def bare():  # the arithmetic alone: tasks and meta-gradients, no checks, no dispatch
        for _ in range(repeats):
            tasks = _Batch(None, 1, heads @ B_star.T)
            _meta_gradients(B, w[None], tasks, tasks, kind)

    (pw, pc), (bw, bc) = best(public, 5), best(bare, 5)
    return (pw / repeats, pc / repeats), (bw / repeats, bc / repeats)


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


#: the corners of the Part I panel's ranges that cost the most (largest d, k, n, iterations;
#: every sample regime; the method with the most work per step)
CORNERS = {
    f"{method}, {samples}": dict(
        method=method, d=50, k=10, n=10, iterations=2000, samples=samples, alpha=0.5
    )
    for method in ("exact_maml", "fo_anil")
    for samples in ("population", "m=10", "m=100")
}


def main():
    rows = []  # (what, wall, cpu, budget on cpu or None)
    for method in ("exact_anil", "exact_maml"):
        (pw, pc), (bw, bc) = core_speed(method)
        what = f"{method} meta-gradient d=100 k=n=5"
        rows.append((f"{what}, public API (budget 1.3 x bare)", pw, pc, 1.3 * bc))
        rows.append((f"{what}, bare arithmetic", bw, bc, None))
    rows.append(
        ("Figure 1 (5 trials x 5 methods x 3000 iterations)", *best(figure1, 1), None)
    )
    for name, panel in (
        ("01 avg_loss", viz.linrep.linrep_panel(method="avg_loss")),
        ("02 exact_anil", viz.linrep.linrep_panel(method="exact_anil")),
        ("03 exact_maml", viz.linrep.linrep_panel(method="exact_maml")),
        ("04 fo_anil", viz.linrep.linrep_panel(method="fo_anil")),
    ):
        rows.append((f"panel {name}, defaults", *best(render(panel), 3), 0.2))
    panel = viz.linrep.linrep_panel()
    for name, corner in CORNERS.items():
        rows.append(
            (f"panel 01-04, corner {name}", *best(render(panel, **corner), 1), 5.0)
        )
    panel0 = viz.subspace.random_distance_panel()
    rows.append(("panel 00, defaults", *best(render(panel0), 3), 0.2))
    rows.append(
        (
            "panel 00, slowest corner (d=200, k=20)",
            *best(render(panel0, d=200, k=20), 1),
            5.0,
        )
    )

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    width = max(len(what) for what, *_ in rows)
    print(f"{'what':<{width}}  {'wall [s]':>10}  {'cpu [s]':>10}  budget (cpu)")
    failed = False
    for what, wall, cpu, budget in rows:
        verdict = ""
        if budget is not None:
            ok = cpu < budget
            failed |= not ok
            verdict = f"{budget:.3g} s {'ok' if ok else 'EXCEEDED'}"
        print(f"{what:<{width}}  {wall:10.6f}  {cpu:10.6f}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
