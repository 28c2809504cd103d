"""Transitional package: the part's code is being split by role (see the module docstring of _unsplit)."""

from . import _unsplit
from ._unsplit import *  # noqa: F401,F403
from ._unsplit import __all__  # noqa: F401


def __getattr__(name):
    return getattr(_unsplit, name)

# finite task sets (chapter 07): re-exported so that chapters call overparam.<name>
from .finite_tasks import (  # noqa: E402
    FiniteTasks,
    FiniteTrajectory,
    finite_fo_anil_update,
    finite_residual_matrix,
    gaussian_start,
    sample_finite_tasks,
    train_finite_fo_anil,
    train_finite_multitask,
)

__all__ = [
    *__all__,
    "FiniteTasks",
    "FiniteTrajectory",
    "sample_finite_tasks",
    "finite_fo_anil_update",
    "finite_residual_matrix",
    "train_finite_fo_anil",
    "train_finite_multitask",
    "gaussian_start",
]
