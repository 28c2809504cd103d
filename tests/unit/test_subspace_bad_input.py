"""Bad input to every public function of metalib.subspace: a ValueError or TypeError naming the
argument (wrong shape, negative or zero size, NaN, wrong type, rank deficiency, incompatible
shapes), never numpy's error or a silent NaN. The last test checks that every callable of
``metalib.subspace.__all__`` is covered."""

import numpy as np
from bad_input import bad_input_tests

from metalib import subspace

E = np.eye(5)
FAR = np.ones((5, 2)) + E[:, :2]


def rng():
    return np.random.default_rng(0)


CASES = {
    "orthonormal_basis": [
        (lambda: subspace.orthonormal_basis(np.ones(5)), "B"),
        (lambda: subspace.orthonormal_basis(np.ones((2, 3))), "B"),
        (lambda: subspace.orthonormal_basis(np.full((4, 2), np.nan)), "B"),
        (lambda: subspace.orthonormal_basis("B"), "B"),
        (lambda: subspace.orthonormal_basis(np.ones((4, 2))), "B"),
        (lambda: subspace.orthonormal_basis(np.ones((0, 2))), "B"),
        (lambda: subspace.orthonormal_basis(FAR, name=3), "name"),
        (lambda: subspace.orthonormal_basis(np.ones((4, 2)), name="U"), "U"),
    ],
    "principal_angles": [
        (lambda: subspace.principal_angles(E[:, :2], np.eye(4)[:, :2]), "B_star"),
        (lambda: subspace.principal_angles(E[:, :2], E[:, :3]), "B_star"),
        (
            lambda: subspace.principal_angles(np.stack([FAR] * 3), np.stack([FAR] * 2)),
            "B",
        ),
        (lambda: subspace.principal_angles(np.full((5, 2), np.inf), FAR), "B"),
        (lambda: subspace.principal_angles(None, FAR), "B"),
        (lambda: subspace.principal_angles(FAR, np.zeros((5, 2))), "B_star"),
    ],
    "subspace_distance": [
        (
            lambda: subspace.subspace_distance(
                np.stack([FAR] * 3), np.stack([FAR] * 2)
            ),
            "B",
        ),
        (lambda: subspace.subspace_distance([[1, "a"]], np.eye(2)), "B"),
        (lambda: subspace.subspace_distance(FAR, np.full((5, 2), np.nan)), "B_star"),
        (lambda: subspace.subspace_distance(np.ones(5), np.ones(5)), "B"),
        (lambda: subspace.subspace_distance(np.ones((2, 3)), np.ones((2, 3))), "B"),
    ],
    "random_orthonormal": [
        (lambda: subspace.random_orthonormal(0, 1, rng()), "d"),
        (lambda: subspace.random_orthonormal(-3, 1, rng()), "d"),
        (lambda: subspace.random_orthonormal(3.0, 2, rng()), "d"),
        (lambda: subspace.random_orthonormal(np.nan, 2, rng()), "d"),
        (lambda: subspace.random_orthonormal(3, 0, rng()), "k"),
        (lambda: subspace.random_orthonormal(3, 4, rng()), "k"),
        (lambda: subspace.random_orthonormal(3, 2, 0), "rng"),
        (lambda: subspace.random_orthonormal(3, 2, rng(), size=-1), "size"),
        (lambda: subspace.random_orthonormal(3, 2, rng(), size=(2, -1)), "size"),
        (lambda: subspace.random_orthonormal(3, 2, rng(), size=(0,)), "size"),
        (lambda: subspace.random_orthonormal(3, 2, rng(), size="a"), "size"),
        (lambda: subspace.random_orthonormal(3, 2, rng(), size=(2.5,)), "size"),
    ],
}


test_bad_input_names_the_argument, test_every_callable_is_covered = bad_input_tests(
    CASES, subspace, no_warnings=True
)
