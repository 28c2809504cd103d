"""Part I (collins2022): multi-task linear representation learning with ANIL, MAML, average loss.

Modules (every public name is re-exported here, so ``linrep.<name>`` is the way to call it):

``model``
    The data model: methods and their labels, task heads (eq. `eq-heads`), task data
    (eq. `eq-linrep-model`), the starting representation (eq. `eq-init`). Chapter 01.
``gradients``
    Losses and meta-gradients on ``(Sigma, g)`` pairs: average loss (eq. `eq-avg-grad`, chapter 01),
    ANIL (eqs. `eq-anil-inner`, `eq-fo-anil`, `eq-exact-anil`, chapter 02), MAML (eqs.
    `eq-maml-inner`, `eq-fo-maml`, `eq-exact-maml`, chapter 03).
``theory``
    The book's tangent law (eq. `eq-tan-law`, chapter 02).
``training``
    The outer loop, vectorized over trials, with the shared blow-up guard (eq. `eq-outer-step`,
    chapters 01-04).
"""

from ..divergence import BLOWUP_FACTOR, DivergenceWarning
from .gradients import (
    first_order_reference,
    population_meta_gradient,
    population_meta_loss,
    sample_meta_gradient,
    sample_meta_loss,
)
from .model import (
    LABELS,
    META_METHODS,
    METHODS,
    head_scales,
    initial_representation,
    sample_heads,
    sample_task_data,
)
from .theory import predicted_distance
from .training import Trajectory, train

__all__ = [
    "METHODS",
    "META_METHODS",
    "LABELS",
    "BLOWUP_FACTOR",
    "DivergenceWarning",
    "head_scales",
    "sample_heads",
    "sample_task_data",
    "initial_representation",
    "population_meta_loss",
    "sample_meta_loss",
    "population_meta_gradient",
    "sample_meta_gradient",
    "first_order_reference",
    "predicted_distance",
    "Trajectory",
    "train",
]
