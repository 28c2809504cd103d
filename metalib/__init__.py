"""metalib: the companion library of *Gradient-based meta-learning, executed*.

Modules
-------
subspace
    Orthonormal bases, principal angles, the subspace distance (chapter 0).
gradcheck
    Finite-difference gradients, used to check every derived update rule.
validation
    Argument checks with errors that name the argument.
"""
from .gradcheck import numerical_gradient, relative_error
from .subspace import orthonormal_basis, principal_angles, random_orthonormal, subspace_distance

__all__ = [
    "numerical_gradient",
    "orthonormal_basis",
    "principal_angles",
    "random_orthonormal",
    "relative_error",
    "subspace_distance",
]
__version__ = "0.1.0"
