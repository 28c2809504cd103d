"""Figures and panels of Part IV (chapters 20 and 21, :mod:`metalib.anil_steps`).

Chapter 20: :func:`tasks_figure`, :func:`fo_gap_figure`, :func:`head_block_figure`,
:func:`head_block_panel`. Chapter 21: :func:`sc_figure`, :func:`nc_figure`, :func:`cost_figure`,
:func:`heads_panel`. Colours and names come from :data:`metalib.viz.style.METHOD_STYLE` and
:data:`metalib.viz.style.LABELS`; a run stopped by the blow-up guard is marked with
:data:`metalib.viz.style.STOP_MARK` where it stopped.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from .. import anil_steps
from ..validation import check_choice, check_in_range
from .panel import Panel
from .style import LABELS, METHOD_STYLE, STOP_MARK, THEORY_STYLE, new_figure

__all__ = [
    "tasks_figure",
    "fo_gap_figure",
    "head_block_figure",
    "head_block_panel",
    "sc_figure",
    "nc_figure",
    "cost_figure",
    "heads_panel",
]

_SHADES = ("#1b9e77", "#7570b3", "#d95f02", "#e7298a", "#66a61e")


def _shade(i):
    return _SHADES[i % len(_SHADES)]


def _tidy(fig):
    """Cheaper, narrower log ticks: minor ticks at 2 and 5 of each decade only (creating the eight
    default minor ticks of every decade costs more than the rest of a drawing); on an axis that
    spans less than two decades they are labelled as plain numbers (0.2, 0.5, 2, ...), which fit
    the fixed margins, on a wider one only the decades are."""
    for ax in fig.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() != "log":
                continue
            axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
            low, high = sorted(limits)
            if low > 0 and high / low < 100:
                axis.set_major_formatter(_PLAIN)
                axis.set_minor_formatter(_PLAIN)
            else:
                axis.set_minor_formatter(NullFormatter())
    return fig


_PLAIN = FuncFormatter(lambda value, _: f"{value:g}")


def _draw_run(ax, run, color, label):
    """A run's meta-test loss; a stopped run ends with STOP_MARK at the step where it stopped."""
    ax.semilogy(run.iterations, run.test_loss, color=color, lw=1.3, label=label)
    if run.stopped_at > 0:
        ax.semilogy([run.iterations[-1]], [run.test_loss[-1]], color=color, **STOP_MARK)


def tasks_figure(tasks, count=4):
    """Sinusoid tasks (curves) and their support sets (dots)."""
    fig, ax = new_figure(width=7, height=3.2)
    grid = np.linspace(-5, 5, 300)
    for i in range(count):
        color = _shade(i)
        ax.plot(
            grid,
            tasks.amplitude[i] * np.sin(grid - tasks.phase[i]),
            color=color,
            lw=1.2,
        )
        ax.plot(tasks.X_in[i], tasks.y_in[i], "o", color=color, ms=4)
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    return _tidy(fig)


def fo_gap_figure(N_grid, gap):
    """Relative distance FO-ANIL vs exact ANIL, per block, against N, one axes per head."""
    fig, axes = new_figure(ncols=2, width=4.5, height=3.2)
    for ax, head in zip(axes, anil_steps.HEADS):
        ax.plot(N_grid, gap[head]["head"], "o-", ms=3, label="head block $w$")
        ax.plot(N_grid, gap[head]["body"], "s-", ms=3, label=r"body block $\phi$")
        ax.set_title(LABELS[head], fontsize=10, y=1.0)
        ax.set_xlabel("inner steps $N$")
    axes[0].set_ylabel("relative distance FO vs exact")
    axes[0].legend(fontsize=9)
    return _tidy(fig)


def head_block_figure(
    N_grid, ratio, bound, bound_label=r"bound $(1-\alpha\lambda)^N$ (ridge)"
):
    """Per-task ratio ||dL_D/dw|| / ||g|| against N: median and largest over tasks, with a bound."""
    fig, ax = new_figure(width=6.5, height=3.6)
    for head, r in ratio.items():
        color = METHOD_STYLE[head]["color"]
        name = LABELS[head]
        ax.semilogy(
            N_grid,
            np.median(r, axis=1),
            "o-",
            ms=3,
            color=color,
            label=f"{name}: median",
        )
        ax.semilogy(
            N_grid, r.max(axis=1), "^--", ms=4, color=color, label=f"{name}: largest"
        )
    if bound is not None:
        ax.semilogy(N_grid, bound, **THEORY_STYLE, label=bound_label)
    ax.axhline(1, color="gray", lw=0.8, ls=":")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("inner steps $N$")
    ax.set_ylabel(
        r"$\|\partial \hat{\mathcal{L}}_{\mathcal{D}_i}/\partial w\| / \|g_i\|$"
    )
    ax.legend(fontsize=7, loc="upper left")
    return _tidy(fig)


def head_block_ratios(params, tasks, alpha, ridge, N_max):
    """Per-task ``||dL_D/dw|| / ||g||`` for ``N = 1..N_max``: shape (N_max, n)."""
    kind = anil_steps.head_kind(params)
    keys = anil_steps.HEAD_KEYS[kind]
    n = tasks.X_in.shape[0]
    out = []
    for N in range(1, N_max + 1):
        _, ex, _ = anil_steps.meta_gradient(
            "exact_anil", params, tasks, alpha, N, ridge, per_task=True
        )
        _, fo, _ = anil_steps.meta_gradient(
            "fo_anil", params, tasks, alpha, N, ridge, per_task=True
        )

        def flat(g):
            return np.concatenate([g[k].reshape(n, -1) for k in keys], axis=1)

        out.append(np.linalg.norm(flat(ex), axis=1) / np.linalg.norm(flat(fo), axis=1))
    return np.array(out)


def head_block_panel(seed=20, tasks=20):
    """Chapter 20's panel: the damping or amplification of the head block, as N and alpha move."""
    from ipywidgets import Dropdown, FloatSlider, IntSlider

    rng = np.random.default_rng(seed)
    starts = {
        head: anil_steps.init_params(rng, 32, 8, head, 8) for head in anil_steps.HEADS
    }
    data = anil_steps.sample_sinusoid_tasks(rng, tasks, 10, 10)

    def draw(head, alpha, ridge, N_max):
        head = check_choice("head", head, anil_steps.HEADS)
        alpha = check_in_range("alpha", alpha, 0.01, 1.0)
        ridge = check_in_range("ridge", ridge, 0.0, 2.0)
        N_max = check_in_range("N_max", N_max, 1, 40, integer=True)
        r = head_block_ratios(starts[head], data, alpha, ridge, N_max)
        grid = np.arange(1, N_max + 1)
        bound = (1 - alpha * ridge) ** grid if head == "ridge" else None
        fig = head_block_figure(grid, {head: r}, bound)
        fig.axes[0].set_title(
            rf"{LABELS[head]}: $\alpha={alpha:g}$, $\lambda={ridge:g}$",
            fontsize=10,
            y=1.0,
        )
        return _tidy(fig)

    controls = dict(
        head=Dropdown(options=list(anil_steps.HEADS), value="mlp", description="head"),
        alpha=FloatSlider(value=0.3, min=0.05, max=0.6, step=0.05, description="α"),
        ridge=FloatSlider(
            value=0.0, min=0.0, max=1.0, step=0.05, description="λ (ridge)"
        ),
        N_max=IntSlider(value=5, min=1, max=20, description="largest N"),
    )
    return Panel(draw, controls)


def sc_figure(runs, steps, contraction, alpha, ridge):
    """Ridge head: meta-test loss vs outer iterations and vs counted work; inner-loop
    contraction."""
    fig, axes = new_figure(ncols=3, width=4.0, height=3.3)
    for i, (N, run) in enumerate(runs.items()):
        axes[0].semilogy(
            run.iterations, run.test_loss, color=_shade(i), label=f"N = {N}"
        )
        per_step = run.cost["total"] / max(np.sum(np.isfinite(run.train_loss)), 1)
        axes[1].semilogy(run.iterations * per_step, run.test_loss, color=_shade(i))
    axes[0].set_xlabel("outer iteration")
    axes[0].set_ylabel("meta-test loss")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("multiply-adds of training")
    axes[2].semilogy(
        steps,
        np.median(contraction, axis=1),
        "o-",
        ms=3,
        label="measured, median over tasks",
    )
    axes[2].semilogy(
        steps, contraction.max(axis=1), "^-", ms=3, label="measured, slowest task"
    )
    axes[2].semilogy(
        steps,
        (1 - alpha * ridge) ** steps,
        **THEORY_STYLE,
        label=r"$(1-\alpha\lambda)^j$",
    )
    axes[2].set_xlabel("inner step $j$")
    axes[2].set_ylabel(r"$\|w_j - w^\star\| / \|w_0 - w^\star\|$")
    axes[2].legend(fontsize=7)
    return _tidy(fig)


def nc_figure(
    N_smooth, N_long, L_meta, L_pos, N_search, beta_max, panels, titles, alpha_lambda
):
    """Two-layer head: smoothness, stable steps over seed sets, and training curves."""
    fig, axes = new_figure(ncols=3, nrows=2, width=4.0, height=3.1)
    ax_a, ax_b = axes[0, 0], axes[0, 1]
    ax_a.loglog(
        N_smooth + N_long,
        L_meta["ridge"],
        "o-",
        ms=4,
        color=METHOD_STYLE["ridge"]["color"],
        label=LABELS["ridge"],
    )
    ax_a.loglog(
        N_smooth,
        L_meta["mlp"],
        "s-",
        ms=4,
        color=METHOD_STYLE["mlp"]["color"],
        label=LABELS["mlp"],
    )
    ax_a.axvline(alpha_lambda, color="gray", ls=":", lw=1, label=r"$1/(\alpha\lambda)$")
    ax_a.set_xlabel("inner steps $N$")
    ax_a.set_ylabel(r"$\max|\lambda|$ of the meta-Hessian")
    ax_a.legend(fontsize=7)
    ax_a.set_title("(a)", fontsize=10, loc="left", y=1.0)
    bm = np.array([beta_max[N] for N in N_search])  # (len(N_search), sets)
    for s in range(bm.shape[1]):
        ax_b.semilogy(
            np.array(N_search) * (1 + 0.03 * (s - 2)),
            bm[:, s],
            "o",
            ms=4,
            color="0.6",
            label="largest stable β, one seed set" if s == 0 else None,
        )
    ax_b.semilogy(
        N_search,
        np.median(bm, axis=1),
        "o-",
        color="k",
        ms=6,
        label="median over seed sets",
    )
    ax_b.semilogy(
        N_smooth, 2 / L_meta["mlp"], **THEORY_STYLE, label=r"$2/\max|\lambda|$"
    )
    ax_b.semilogy(
        N_smooth,
        2 / L_pos,
        color="tab:purple",
        ls="--",
        lw=1,
        label=r"$2/\lambda_{\max}$",
    )
    ax_b.set_xlabel("inner steps $N$")
    ax_b.set_ylabel(r"outer step $\beta$")
    ax_b.legend(fontsize=7)
    ax_b.set_title("(b)", fontsize=10, loc="left", y=1.0)
    axes[0, 2].set_axis_off()
    for ax, runs, title in zip(axes[1], panels, titles):
        for i, (N, run) in enumerate(runs.items()):
            _draw_run(ax, run, _shade(i), f"N = {N}")
        ax.set_title(title, fontsize=10, loc="left", y=1.0)
        ax.set_xlabel("outer iteration")
    axes[1, 0].set_ylabel("meta-test loss")
    axes[1, 0].legend(fontsize=7)
    return _tidy(fig)


def cost_figure(body_size, work, work2, seconds, N_cost, work_N):
    """Cost of one exact outer step: counted multiply-adds, time, ratio, and against N."""
    fig, axes = new_figure(ncols=4, width=3.3, height=3.2)
    for method in ("exact_anil", "exact_maml"):
        style = dict(color=METHOD_STYLE[method]["color"])
        label = LABELS[method]
        axes[0].loglog(body_size, work[method], "o-", ms=4, label=label, **style)
        axes[0].loglog(
            body_size,
            work2[method],
            "o--",
            ms=3,
            label=label + ", second order",
            **style,
        )
        axes[1].loglog(
            body_size, 1e3 * seconds[method], "o-", ms=4, label=label, **style
        )
        axes[3].plot(N_cost, work_N[method] / 1e6, "o-", ms=4, label=label, **style)
    axes[2].semilogx(
        body_size,
        work["exact_maml"] / work["exact_anil"],
        "k^-",
        ms=4,
        label="multiply-adds",
    )
    axes[2].semilogx(
        body_size,
        seconds["exact_maml"] / seconds["exact_anil"],
        "kv--",
        ms=4,
        label="time",
    )
    for ax in axes[:3]:
        ax.set_xlabel(r"body parameters $\dim\phi$")
    axes[0].set_ylabel("multiply-adds per outer step")
    axes[0].legend(fontsize=6)
    axes[1].set_ylabel("ms per outer step")
    axes[2].set_ylabel("MAML / ANIL")
    axes[2].set_ylim(bottom=0)
    axes[2].legend(fontsize=7)
    axes[3].set_xlabel("inner steps $N$")
    axes[3].set_ylabel("million multiply-adds")
    axes[3].legend(fontsize=7)
    return _tidy(fig)


def heads_panel(seed=21, test_tasks=30):
    """Chapter 21's panel: both heads trained at one (N, lambda, alpha, beta, outer steps)."""
    from ipywidgets import FloatSlider, IntSlider

    rng = np.random.default_rng(seed)
    starts = {
        head: anil_steps.init_params(rng, 32, 8, head, 8) for head in anil_steps.HEADS
    }
    tasks = anil_steps.sample_sinusoid_tasks(rng, test_tasks, 10, 20)

    def draw(N, ridge, alpha, beta, iterations):
        N = check_in_range("N", N, 1, 20, integer=True)
        ridge = check_in_range("ridge", ridge, 0.0, 2.0)
        alpha = check_in_range("alpha", alpha, 0.01, 1.0)
        beta = check_in_range("beta", beta, 0.001, 1.0)
        iterations = check_in_range("iterations", iterations, 1, 1000, integer=True)
        runs = anil_steps.compare_heads(
            starts,
            N,
            ridge,
            alpha,
            beta,
            iterations,
            tasks,
            seed,
            record_every=max(1, iterations // 20),
        )
        fig, ax = new_figure(width=6.5, height=3.6)
        for head, run in runs.items():
            label = LABELS[head]
            if run.stopped_at > 0:
                label += f" (blew up at step {run.stopped_at})"
            _draw_run(ax, run, METHOD_STYLE[head]["color"], label)
        ax.set_xlabel("outer iteration")
        ax.set_ylabel("meta-test loss")
        ax.set_title(
            rf"$N={N}$, $\lambda={ridge:g}$, $\alpha={alpha:g}$, $\beta={beta:g}$",
            fontsize=10,
            y=1.0,
        )
        ax.legend(fontsize=8)
        return _tidy(fig)

    controls = dict(
        N=IntSlider(value=5, min=1, max=20, description="N"),
        ridge=FloatSlider(
            value=0.1, min=0.0, max=2.0, step=0.05, description="λ (ridge)"
        ),
        alpha=FloatSlider(value=0.3, min=0.05, max=0.6, step=0.05, description="α"),
        beta=FloatSlider(value=0.05, min=0.01, max=0.5, step=0.01, description="β"),
        iterations=IntSlider(
            value=40, min=20, max=300, step=20, description="outer steps"
        ),
    )
    return Panel(draw, controls)
