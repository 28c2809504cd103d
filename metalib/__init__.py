"""metalib: the companion library of *Gradient-based meta-learning, executed*.

Modules
-------
subspace
    Orthonormal bases, principal angles, the subspace distance (chapter 0).
linrep
    Multi-task linear representation learning: data model, ANIL/MAML/average-loss meta-gradients,
    vectorized training (Part I).
overparam
    First-order ANIL with a representation wider than the truth: expected dynamics, unlearning,
    one-step adaptation (Part II).
erm_vs_maml
    ERM versus MAML on tasks of mixed hardness: closed forms, gain, Monte Carlo, SGD (Part III).
anil_steps
    ANIL and MAML through N inner steps on a small tanh network: exact meta-gradients, costs (Part IV).
plotting, widgets
    Shared figures and the interactive panels.
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
