"""Benchmark for metalib.anil_steps and chapters 20-21 (issue 7).

Reports, and checks against the issue's budgets:

1. the time of one exact outer step of ANIL and of MAML as the body grows (best of a few repeats), with the
   multiply-adds the library counts (no budget: this is the chapter's cost table, for the record);
2. the redraw time of the chapter 21 widget callback at its defaults (budget 0.5 s);
3. the execution time of each chapter notebook, run top to bottom in a fresh kernel (budget 60 s each).

Exits with status 1 if a budget is exceeded. Run from the repository root:

    .venv/bin/python benchmarks/bench_anil_steps.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from timing import best_of  # noqa: E402

from metalib import anil_steps as ans  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("20_anil_beyond_linear", "21_inner_steps_and_cost")
BUDGET_CHAPTER_S = 60.0
BUDGET_WIDGET_S = 0.5


def cost_table():
    tasks = ans.sample_sinusoid_tasks(np.random.default_rng(0), 10, 10, 10)
    print("1. one exact outer step, N = 5, 10 tasks, ridge head (best of 5)")
    print(
        f"{'h':>6} {'dim phi':>8} {'ANIL ms':>8} {'MAML ms':>8} {'ANIL madds':>11} {'MAML madds':>11}"
    )
    for h in (16, 64, 256, 1024, 2048):
        params = ans.init_params(
            np.random.default_rng(1), hidden=h, k_width=8, head="ridge"
        )
        row = []
        for method in ("exact_anil", "exact_maml"):
            row.append(
                1e3
                * ans.time_meta_gradient(method, params, tasks, 0.1, 5, 0.1, repeats=5)
            )
        madds = [
            ans.meta_gradient(m, params, tasks, 0.1, 5, 0.1)[2]["madds"]["total"]
            for m in ("exact_anil", "exact_maml")
        ]
        print(
            f"{h:>6} {ans.count_params(params)['body']:>8} {row[0]:>8.2f} {row[1]:>8.2f} "
            f"{madds[0]:>11.3g} {madds[1]:>11.3g}"
        )


def widget_time():
    """The chapter-21 callback `explore` at its defaults: the same library call and the same drawing."""
    sizes = dict(hidden=32, k_width=8, head_hidden=8)
    starts = {
        head: ans.init_params(np.random.default_rng(1), head=head, **sizes)
        for head in ans.HEADS
    }
    tasks = ans.sample_sinusoid_tasks(np.random.default_rng(2), 100, 10, 20)

    def explore(N=5, ridge=0.1, alpha=0.3, beta=0.05, iterations=100):
        runs = ans.compare_heads(starts, N, ridge, alpha, beta, iterations, tasks, 3)
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        for (head, run), color in zip(runs.items(), ("tab:blue", "tab:red")):
            ax.semilogy(
                run.iterations,
                run.test_loss,
                "o-",
                ms=3,
                color=color,
                label=ans.LABELS[head],
            )
            if run.stopped_at > 0:
                ax.semilogy(
                    [run.stopped_at], [run.test_loss[0]], "x", ms=10, mew=2, color=color
                )
        ax.set_xlabel("outer iteration")
        ax.set_ylabel("meta-test loss")
        ax.set_title(
            rf"$N={N}$, $\lambda={ridge:g}$, $\alpha={alpha:g}$, $\beta={beta:g}$",
            fontsize=10,
        )
        ax.legend(fontsize=8)
        fig.canvas.draw()
        plt.close(fig)

    explore()  # warm-up (font cache, first mathtext)
    seconds = best_of(explore, 3)
    print(
        f"\n2. widget callback at defaults: {seconds:.3f} s (budget {BUDGET_WIDGET_S} s)"
    )
    return seconds <= BUDGET_WIDGET_S


def chapter_times():
    import nbformat
    from nbclient import NotebookClient

    print(
        f"\n3. chapter execution, fresh kernel (budget {BUDGET_CHAPTER_S:.0f} s each)"
    )
    ok = True
    for name in CHAPTERS:
        nb = nbformat.read(ROOT / "chapters" / f"{name}.ipynb", as_version=4)
        start = time.perf_counter()
        NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(ROOT / "chapters")}},
        ).execute()
        seconds = time.perf_counter() - start
        ok &= seconds <= BUDGET_CHAPTER_S
        print(
            f"   {name:28} {seconds:6.1f} s  {'ok' if seconds <= BUDGET_CHAPTER_S else 'OVER BUDGET'}"
        )
    return ok


def main():
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[0]} (2-core machine)\n")
    cost_table()
    ok = widget_time()
    ok &= chapter_times()
    print("\nall budgets met" if ok else "\nBUDGET EXCEEDED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
