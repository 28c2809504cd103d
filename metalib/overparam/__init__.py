"""Part II (yuksel2023): first-order ANIL with a representation wider than the truth.

Infinite tasks, finite inner samples: the expected FO-ANIL update in closed form, the deterministic
recursion it defines, its fixed point, the unlearning of the leftover width, the multi-task learner
it is contrasted with, and the one-step risk on a new task. Chapters 05 and 06 teach it.

Modules (each docstring maps the chapters' equations to functions):

========== ======================================================================================
moments    the Gaussian moment identity, the split of ``B``, the expected FO-ANIL update, the frozen
           objective, the expected ANIL loss (eqs. `eq-op-moment` to `eq-op-anil-loss`)
sampled    sampled FO-ANIL directions and their Monte-Carlo average (the referee of the closed form)
risk       the one-step excess risk on a new task, its best step and the oracle preconditioner
multitask  the multi-task learner's objective and directions, finite and infinite tasks
theory     the fixed point, the inner-noise strength ``nu``, the ``t^{-1/2}`` law, the frozen-kernel
           floor, FO-ANIL's limit plus leftover width
training   the infinite-task recursions of FO-ANIL and of the multi-task learner
finite_tasks FO-ANIL and the multi-task learner on a fixed set of T tasks (chapter 07)
========== ======================================================================================

Figures and panels are in :mod:`metalib.viz.overparam`.
"""

from . import finite_tasks
from .finite_tasks import *  # noqa: F403  (its __all__ is added below)
from .moments import (
    expected_anil_loss,
    expected_fo_anil_update,
    frozen_objective,
    sample_covariance_moment,
    split_representation,
)
from .multitask import (
    expected_multitask_objective,
    expected_multitask_update,
    multitask_gradients,
    multitask_objective,
)
from .risk import (
    best_one_step_size,
    one_step_excess_risk,
    optimal_head_preconditioner,
    oracle_one_step_risk,
    sampled_one_step_risk,
)
from .sampled import fo_anil_task_updates, sampled_fo_anil_update
from .theory import (
    fixed_point_gram,
    frozen_kernel_floor,
    inner_noise,
    unlearning_law,
    width_penalty_representation,
)
from .training import OverparamTrajectory, train_expected_fo_anil, train_multitask

__all__ = [
    # moments
    "sample_covariance_moment",
    "split_representation",
    "expected_fo_anil_update",
    "frozen_objective",
    "expected_anil_loss",
    # sampled
    "fo_anil_task_updates",
    "sampled_fo_anil_update",
    # risk
    "optimal_head_preconditioner",
    "one_step_excess_risk",
    "best_one_step_size",
    "oracle_one_step_risk",
    "sampled_one_step_risk",
    # multitask
    "multitask_objective",
    "multitask_gradients",
    "expected_multitask_objective",
    "expected_multitask_update",
    # theory
    "fixed_point_gram",
    "inner_noise",
    "unlearning_law",
    "frozen_kernel_floor",
    "width_penalty_representation",
    # training
    "OverparamTrajectory",
    "train_expected_fo_anil",
    "train_multitask",
]
__all__ += finite_tasks.__all__
