"""The finite-difference referee itself must be right, or every gradient test is void."""

import numpy as np
import pytest

from metalib import numerical_gradient, relative_error


def test_matches_known_gradient(rng):
    A = rng.standard_normal((4, 4))
    A = A + A.T
    x = rng.standard_normal(4)
    g = numerical_gradient(lambda v: 0.5 * v @ A @ v + np.sin(v).sum(), x)
    assert relative_error(g, A @ x + np.cos(x)) < 1e-8


def test_matrix_argument_and_point_unchanged(rng):
    X = rng.standard_normal((3, 2))
    X0 = X.copy()
    g = numerical_gradient(lambda M: np.sum(M**3), X)
    np.testing.assert_array_equal(X, X0)
    assert relative_error(g, 3 * X**2) < 1e-8


def test_detects_a_wrong_gradient(rng):
    x = rng.standard_normal(5)
    g = numerical_gradient(lambda v: np.sum(v**2), x)
    assert relative_error(g, 2 * x) < 1e-9
    assert relative_error(g, 2.001 * x) > 1e-4


def test_relative_error_edge_cases():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error([1.0, 0.0], [0.0, 0.0]) == pytest.approx(1.0)
