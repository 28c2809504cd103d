"""Part IV (ji2020, ji2022): ANIL with N inner steps on a tanh network, and exact N-step MAML.

Chapters ``20_anil_beyond_linear`` and ``21_inner_steps_and_cost``. The part is split by role:

model
    Sinusoid tasks (eq. `eq-sinusoid-tasks`), the body and the two heads' parameters
    (eqs. `eq-tanh-body`, `eq-ridge-head`, `eq-mlp-head`), their checks.
autodiff
    The small reverse-mode engine: forward, backward, forward-mode and R-passes (eq. `eq-rop-pass`)
    over stacks of tanh and linear layers, with a multiply-add tally (private).
gradients
    The inner loop (eq. `eq-anil-inner-n`), meta-losses (eqs. `eq-anil-bilevel`,
    `eq-maml-objective-n`), meta-gradients of exact ANIL (eqs. `eq-anil-metagrad-w`,
    `eq-anil-metagrad-phi`, algorithm `alg-anil-backward`), FO-ANIL (eq. `eq-fo-anil-n`) and exact
    MAML (eq. `eq-maml-metagrad`), head Hessians, the meta-objective's smoothness.
cost
    Multiply-adds in closed form (eqs. `eq-madds-anil`, `eq-madds-maml`) and wall-clock timing.
training
    Outer gradient steps (eq. `eq-outer-step-n`) with the book's blow-up guard, several runs
    trained together, the stable-step search, the two-heads comparison.

Figures and panels of Part IV live in :mod:`metalib.viz.anil_steps`.
"""

from ..divergence import BLOWUP_FACTOR, DivergenceWarning
from .cost import multiply_adds, time_meta_gradient
from .gradients import (
    features,
    first_order_reference,
    head_hessian,
    inner_loop,
    meta_gradient,
    meta_loss,
    meta_smoothness,
    predict,
)
from .model import (
    BODY_KEYS,
    HEAD_KEYS,
    HEADS,
    LABELS,
    METHODS,
    Tasks,
    check_params,
    check_tasks,
    count_params,
    head_kind,
    init_params,
    sample_sinusoid_tasks,
)
from .training import Run, compare_heads, stable_step_search, train, train_runs

__all__ = [
    "HEADS",
    "BODY_KEYS",
    "HEAD_KEYS",
    "METHODS",
    "LABELS",
    "BLOWUP_FACTOR",
    "DivergenceWarning",
    "Tasks",
    "sample_sinusoid_tasks",
    "init_params",
    "head_kind",
    "check_params",
    "check_tasks",
    "count_params",
    "features",
    "predict",
    "inner_loop",
    "head_hessian",
    "meta_loss",
    "meta_gradient",
    "first_order_reference",
    "meta_smoothness",
    "multiply_adds",
    "Run",
    "train",
    "train_runs",
    "stable_step_search",
    "compare_heads",
    "time_meta_gradient",
]
