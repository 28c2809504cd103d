"""Timings for Part IV (metalib.anil_steps): the panels of chapters 20 and 21, and the cost table.

Usage: ``python benchmarks/bench_anil_steps.py``. Prints

1. the render time of each panel (``panel.render()``: simulation + drawing + PNG encoding, what a
   reader waits for after moving a slider) at its defaults and at the slowest corner of its ranges,
   best of a few repeats, in wall-clock time and in CPU time of this process (the CPU time is what
   an idle machine would take; on a loaded one the wall-clock time is larger). Budgets: 0.2 s at
   the defaults, 5 s at the slowest corner, checked on the CPU time;
2. the cost of one exact outer step of ANIL and of MAML as the body grows: the multiply-adds the
   library counts, their closed form, and the best wall-clock time (the chapter 21 table; no
   budget).

Exits with status 1 if a budget is exceeded. Timing never appears in a test.
"""

import os
import sys
import time

import numpy as np

from metalib import anil_steps, viz

BUDGET_DEFAULT = 0.2  # seconds, a panel at its defaults
BUDGET_CORNER = 5.0  # seconds, a panel at the slowest corner of its ranges


def best(fn, repeats=3):
    """Smallest wall-clock and CPU seconds of ``repeats`` calls (after one untimed call)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def render(panel, **values):
    png, message = panel.render(**values)
    assert png is not None, message


def panels():
    block = viz.anil_steps.head_block_panel()
    heads = viz.anil_steps.heads_panel()
    rows = [
        ("ch20 head_block_panel, defaults", lambda: render(block), BUDGET_DEFAULT),
        (
            "ch20 head_block_panel, corner (mlp, alpha=0.6, N_max=20)",
            lambda: render(block, head="mlp", alpha=0.6, N_max=20),
            BUDGET_CORNER,
        ),
        (
            "ch20 head_block_panel, corner (ridge, lambda=1, N_max=20)",
            lambda: render(block, head="ridge", ridge=1.0, N_max=20),
            BUDGET_CORNER,
        ),
        ("ch21 heads_panel, defaults", lambda: render(heads), BUDGET_DEFAULT),
        (
            "ch21 heads_panel, corner (N=20, 300 outer steps)",
            lambda: render(heads, N=20, iterations=300),
            BUDGET_CORNER,
        ),
        (
            "ch21 heads_panel, corner (N=20, alpha=0.6, beta=0.5, 300 steps)",
            lambda: render(heads, N=20, alpha=0.6, beta=0.5, iterations=300),
            BUDGET_CORNER,
        ),
    ]
    width = max(len(what) for what, _, _ in rows)
    print(f"{'panel render':<{width}}  {'wall [s]':>8}  {'CPU [s]':>8}  budget (CPU)")
    failed = False
    for what, fn, budget in rows:
        wall, cpu = best(fn, 3 if budget == BUDGET_DEFAULT else 1)
        ok = cpu < budget
        failed |= not ok
        print(
            f"{what:<{width}}  {wall:8.3f}  {cpu:8.3f}  {budget:g} s "
            f"{'ok' if ok else 'EXCEEDED'}"
        )
    return failed


def cost_table():
    tasks = anil_steps.sample_sinusoid_tasks(np.random.default_rng(0), 10, 10, 10)
    print("\none exact outer step, N = 5, 10 tasks of 10 + 10 points, ridge head")
    print(
        f"{'h':>6} {'dim phi':>8} {'ANIL madds':>11} {'MAML madds':>11} {'ratio':>6} "
        f"{'ANIL ms':>8} {'MAML ms':>8}"
    )
    for h in (16, 64, 256, 1024, 2048):
        params = anil_steps.init_params(
            np.random.default_rng(1), hidden=h, k_width=8, head="ridge"
        )
        madds, ms = [], []
        for method in ("exact_anil", "exact_maml"):
            counted = anil_steps.meta_gradient(method, params, tasks, 0.1, 5, 0.1)[2]
            closed = anil_steps.multiply_adds(method, params, 10, 10, 10, 5)
            assert counted["madds"] == closed, (
                method,
                h,
            )  # the tally is the closed form
            madds.append(closed["total"])
            ms.append(
                1e3
                * anil_steps.time_meta_gradient(
                    method, params, tasks, 0.1, 5, 0.1, repeats=3
                )
            )
        print(
            f"{h:>6} {anil_steps.count_params(params)['body']:>8} {madds[0]:>11.3g} "
            f"{madds[1]:>11.3g} {madds[1] / madds[0]:>6.2f} {ms[0]:>8.2f} {ms[1]:>8.2f}"
        )


def main():
    print(f"load average: {os.getloadavg()[0]:.2f} (2-core machine)\n")
    failed = panels()
    cost_table()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
