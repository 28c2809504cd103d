"""The public API that the chapters and readers call: pinned, so that a restructuring keeps it.

The lists below were collected from the chapters' code cells when the parts were split by role
(every name reached as an attribute of ``metalib`` or of a part, and every name imported from
``metalib.*``; private names excluded), plus the names that readers are told to call. Each name
must exist at its place and be listed in that package's ``__all__`` (a name that only resolves
through a transitional ``__getattr__`` does not count).

Figures and panels moved to the presentation layer, ``metalib.viz``: the names of the old
``metalib.plotting`` and ``metalib.widgets`` and the plotting functions of the parts are listed in
:data:`MOVED_TO_VIZ` with the places where they may now live; each must exist in one of them.
"""

from __future__ import annotations

import importlib

import pytest

PINNED = {
    "metalib": [
        "numerical_gradient",
        "principal_angles",
        "random_orthonormal",
        "relative_error",
        "subspace_distance",
    ],
    "metalib.subspace": ["principal_angles", "random_orthonormal", "subspace_distance"],
    "metalib.linrep": [
        "DivergenceWarning",
        "LABELS",
        "META_METHODS",
        "METHODS",
        "first_order_reference",
        "head_scales",
        "initial_representation",
        "population_meta_gradient",
        "population_meta_loss",
        "predicted_distance",
        "sample_heads",
        "sample_meta_gradient",
        "sample_meta_loss",
        "sample_task_data",
        "train",
    ],
    "metalib.overparam": [
        "best_one_step_size",
        "expected_anil_loss",
        "expected_fo_anil_update",
        "expected_multitask_objective",
        "expected_multitask_update",
        "fixed_point_gram",
        "frozen_objective",
        "multitask_gradients",
        "one_step_excess_risk",
        "optimal_head_preconditioner",
        "oracle_one_step_risk",
        "sample_covariance_moment",
        "sampled_fo_anil_update",
        "sampled_one_step_risk",
        "train_expected_fo_anil",
        "train_multitask",
        "width_penalty_representation",
    ],
    "metalib.erm_vs_maml": [
        "LABELS",
        "adaptation_matrix",
        "compare_erm_maml",
        "fit_gradient_descent",
        "gain_quadratic_form",
        "isotropic_weight",
        "meta_gradient",
        "meta_hessian",
        "meta_objective",
        "post_adaptation_loss",
        "sample_gram_factor",
        "simulate_adaptation",
        "task_mixture",
        "theta_erm",
        "theta_maml",
        "train_sgd",
        "two_cluster",
        "two_cluster_mixture",
    ],
    "metalib.anil_steps": [
        "BODY_KEYS",
        "DivergenceWarning",
        "HEADS",
        "HEAD_KEYS",
        "LABELS",
        "compare_heads",
        "count_params",
        "features",
        "first_order_reference",
        "head_hessian",
        "init_params",
        "inner_loop",
        "meta_gradient",
        "meta_loss",
        "meta_smoothness",
        "sample_sinusoid_tasks",
        "stable_step_search",
        "train",
    ],
    "metalib.viz": [
        "LABELS",
        "METHOD_STYLE",
        "Panel",
        "claims_table",
        "link_max",
        "new_figure",
        "show_function",
        "show_region",
        "to_png",
    ],
    "metalib.divergence": ["BLOWUP_FACTOR", "BlowupGuard", "DivergenceWarning"],
}

#: old name -> the places where it may live now (the first that exists is fine)
MOVED_TO_VIZ = {
    "metalib.plotting.METHOD_STYLE": ["metalib.viz.METHOD_STYLE"],
    "metalib.plotting.new_axes": [
        "metalib.viz.linrep.new_axes",
        "metalib.viz.new_figure",
    ],
    "metalib.plotting.plot_trajectories": ["metalib.viz.linrep.plot_trajectories"],
    "metalib.widgets.draw_linrep": ["metalib.viz.linrep.draw_linrep"],
    # the controls now come with their panel
    "metalib.widgets.linrep_controls": ["metalib.viz.linrep.linrep_panel"],
    "metalib.overparam.plot_unlearning": [
        "metalib.viz.overparam.plot_unlearning",
        "metalib.overparam.plot_unlearning",
    ],
    "metalib.overparam.plot_width_penalty": [
        "metalib.viz.overparam.plot_width_penalty",
        "metalib.overparam.plot_width_penalty",
    ],
    "metalib.erm_vs_maml.plot_gain_heatmap": [
        "metalib.viz.erm_vs_maml.plot_gain_heatmap",
        "metalib.erm_vs_maml.plot_gain_heatmap",
    ],
    # timing belongs to benchmarks/; the chapter's cost comparison counts operations instead
    "metalib.anil_steps.time_meta_gradient": ["metalib.anil_steps.time_meta_gradient"],
}

PARTS = [
    "metalib.linrep",
    "metalib.overparam",
    "metalib.erm_vs_maml",
    "metalib.anil_steps",
]


def _pinned():
    return [(module, name) for module, names in PINNED.items() for name in names]


@pytest.mark.parametrize("module,name", _pinned(), ids=lambda x: x)
def test_pinned_name_exists_and_is_exported(module, name):
    mod = importlib.import_module(module)
    assert name in getattr(mod, "__all__", ()), f"{module}.__all__ lacks {name!r}"
    assert name in vars(mod), (
        f"{module}.{name} is not defined or re-exported by {module}"
    )


def _resolve(dotted):
    module, _, name = dotted.rpartition(".")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError:
        return None
    return getattr(mod, name, None)


@pytest.mark.parametrize("old", sorted(MOVED_TO_VIZ))
def test_moved_name_is_somewhere(old):
    places = MOVED_TO_VIZ[old]
    assert any(_resolve(place) is not None for place in places), (
        f"{old} is gone and none of {places} exists"
    )


@pytest.mark.parametrize("module", PARTS + ["metalib", "metalib.viz"])
def test_all_is_public_and_defined(module):
    mod = importlib.import_module(module)
    exported = list(mod.__all__)
    assert len(exported) == len(set(exported)), f"{module}.__all__ repeats a name"
    private = [n for n in exported if n.startswith("_")]
    assert not private, f"{module}.__all__ exports private names {private}"
    missing = [n for n in exported if n not in vars(mod)]
    assert not missing, (
        f"{module}.__all__ names {missing}, which the package does not define"
    )


def test_readers_calls_work():
    # the three calls the README and the chapters show first
    import numpy as np

    import metalib
    from metalib import linrep

    rng = np.random.default_rng(0)
    B_star = metalib.random_orthonormal(6, 2, rng)
    assert metalib.subspace_distance(B_star, B_star) < 1e-12
    assert callable(linrep.population_meta_gradient)
    assert callable(linrep.sample_meta_gradient)
