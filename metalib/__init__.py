"""metalib: the companion library of *Gradient-based meta-learning, executed*.

Layout (every part has the same shape; its public names are re-exported by its package)
------------------------------------------------------------------------------------------
subspace
    Orthonormal bases, principal angles, the subspace distance (chapter 0).
linrep, overparam, erm_vs_maml, anil_steps
    Parts I-IV, one package each, split by role: the data model, the gradients and closed forms,
    the theory's predictions, the training loops.
divergence
    The one guard for runs that blow up: threshold, warning, record of where a run stopped.
validation, linalg, gradcheck
    Argument checks that name the argument; small array helpers; finite-difference gradients.
viz
    The presentation layer, the only one that imports matplotlib or ipywidgets: one style,
    one way to build a panel, claims tables, code listings, and each part's figures.
"""

from .gradcheck import numerical_gradient, relative_error
from .subspace import (
    orthonormal_basis,
    principal_angles,
    random_orthonormal,
    subspace_distance,
)

__all__ = [
    "numerical_gradient",
    "orthonormal_basis",
    "principal_angles",
    "random_orthonormal",
    "relative_error",
    "subspace_distance",
]
__version__ = "0.1.0"
