"""When, and by how much, MAML beats ERM: linear-regression tasks of mixed hardness (collins2020).

Part III of the book. The modules, by role:

``model``
    The task model: :class:`TaskMixture` and its constructors, :func:`sample_tasks`,
    :func:`sample_gram_factor` (chapter 10's {prf:ref}`def-task-mixture`; eq. `eq-bartlett`).
``closed_forms``
    A general mixture in closed form: the adaptation matrix, the two minimizers, the post-adaptation
    loss, the exact gain (eqs. `eq-adaptation-matrix`, `eq-erm-solution`, `eq-maml-solution`,
    `eq-post-adaptation-loss`, `eq-gain-exact`; with ``tau`` samples `eq-adaptation-matrix-tau`,
    `eq-noise-floor`).
``isotropic``
    The two-cluster isotropic mixture in scalar closed form over whole parameter grids (eqs.
    `eq-iso-weight`, `eq-two-cluster-omega`, `eq-two-cluster-loss`, `eq-two-cluster-gain`,
    `eq-iso-weight-tau`).
``monte_carlo``
    Test-time adaptation simulated on sampled tasks and samples (eqs. `eq-adaptation-matrix-tau`,
    `eq-representation-step`).
``training``
    The objectives run through the inner loop, their meta-gradients, gradient descent and SGD
    meta-training (eqs. `eq-maml-objective-steps`, `eq-maml-meta-gradient`, `eq-sgd-updates`).

Chapters: ``10_easy_and_hard_tasks`` and ``11_maml_gain_samples_and_representations``. Figures and
panels live in :mod:`metalib.viz.erm_vs_maml`.

Shapes: ``J`` clusters, ``d`` dimension, ``M`` initializations or methods, ``trials`` independent
runs. Leading batch dimensions come first and broadcast.
"""

from ..divergence import DivergenceWarning
from .closed_forms import (
    Comparison,
    adaptation_matrix,
    compare_erm_maml,
    erm_objective,
    gain_quadratic_form,
    meta_hessian,
    noise_floor,
    post_adaptation_loss,
    theta_erm,
    theta_maml,
    weighted_minimizer,
)
from .isotropic import (
    TwoCluster,
    isotropic_noise_floor,
    isotropic_weight,
    sample_size_thresholds,
    two_cluster,
)
from .model import (
    LABELS,
    METHODS,
    TaskMixture,
    empirical_mixture,
    sample_gram_factor,
    sample_tasks,
    task_mixture,
    two_cluster_mixture,
)
from .monte_carlo import AdaptationSample, simulate_adaptation
from .training import (
    GDResult,
    SGDRun,
    fit_gradient_descent,
    inner_loop,
    meta_gradient,
    meta_objective,
    train_sgd,
)

__all__ = [
    "METHODS",
    "LABELS",
    "DivergenceWarning",
    "TaskMixture",
    "task_mixture",
    "empirical_mixture",
    "two_cluster_mixture",
    "adaptation_matrix",
    "noise_floor",
    "weighted_minimizer",
    "theta_erm",
    "theta_maml",
    "post_adaptation_loss",
    "erm_objective",
    "gain_quadratic_form",
    "Comparison",
    "compare_erm_maml",
    "meta_hessian",
    "inner_loop",
    "meta_objective",
    "meta_gradient",
    "GDResult",
    "fit_gradient_descent",
    "isotropic_weight",
    "isotropic_noise_floor",
    "TwoCluster",
    "two_cluster",
    "sample_size_thresholds",
    "sample_tasks",
    "sample_gram_factor",
    "AdaptationSample",
    "simulate_adaptation",
    "SGDRun",
    "train_sgd",
]
