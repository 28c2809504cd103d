"""Properties of the principal-angle distance (chapter 00, Theorem thm-dist-properties)."""

import numpy as np
import pytest

from metalib import principal_angles, random_orthonormal, subspace_distance


def test_range_is_unit_interval(rng):
    B, B_star = rng.standard_normal((2, 500, 12, 3))
    dist = subspace_distance(B, B_star)
    assert dist.shape == (500,)
    assert np.all(dist >= 0) and np.all(dist <= 1)
    assert dist.max() > 0.5, "random 3-dim subspaces of R^12 should often be far apart"


def test_orthogonal_subspaces_are_at_distance_one():
    I = np.eye(6)
    assert subspace_distance(I[:, :2], I[:, 2:4]) == pytest.approx(1.0, abs=1e-15)


def test_invariant_to_invertible_change_of_basis(rng):
    B, B_star = rng.standard_normal((2, 50, 9, 4))
    G, H = rng.standard_normal((2, 50, 4, 4))
    np.testing.assert_allclose(
        subspace_distance(B @ G, B_star @ H), subspace_distance(B, B_star), atol=1e-10
    )


def test_zero_exactly_when_spans_agree(rng):
    B = rng.standard_normal((8, 3))
    G = rng.standard_normal((3, 3))
    assert subspace_distance(B, B @ G) < 1e-13
    # a small tilt out of the span gives a small non-zero distance, the sine of the tilt
    Q = random_orthonormal(8, 4, rng)
    for eps in [1e-12, 1e-6, 0.3]:
        tilted = Q[:, :3].copy()
        tilted[:, 0] = np.cos(eps) * Q[:, 0] + np.sin(eps) * Q[:, 3]
        assert subspace_distance(tilted, Q[:, :3]) == pytest.approx(
            np.sin(eps), rel=1e-6
        )


def test_symmetric_and_matches_principal_angles(rng):
    B, B_star = rng.standard_normal((2, 20, 7, 3))
    dist = subspace_distance(B, B_star)
    np.testing.assert_allclose(subspace_distance(B_star, B), dist, atol=1e-12)
    theta = principal_angles(B, B_star)
    assert np.all(np.diff(theta, axis=-1) >= -1e-12), "angles must be increasing"
    np.testing.assert_allclose(np.sin(theta[:, -1]), dist, atol=1e-10)


def test_random_orthonormal_is_orthonormal_and_batched(rng):
    U = random_orthonormal(10, 4, rng, size=(3, 2))
    assert U.shape == (3, 2, 10, 4)
    np.testing.assert_allclose(
        np.swapaxes(U, -1, -2) @ U, np.broadcast_to(np.eye(4), (3, 2, 4, 4)), atol=1e-12
    )


def test_random_orthonormal_is_uniform(rng):
    """For Haar-distributed U, E[U U^T] = (k/d) I, and U has the law of -U and of U O.

    Without the sign correction of the QR factor, every entry ``U[0, j]`` has the sign fixed by
    the factorisation (for numpy's QR, U[0, 0] < 0 in every draw); the Haar law makes each entry
    symmetric, so the mean of the first row must vanish and each sign must occur half the time.
    """
    U = random_orthonormal(5, 2, rng, size=40000)
    np.testing.assert_allclose(
        np.mean(U @ np.swapaxes(U, -1, -2), axis=0), 0.4 * np.eye(5), atol=0.01
    )
    first_row = U[:, 0, :]
    np.testing.assert_allclose(np.mean(first_row, axis=0), 0.0, atol=0.01)
    np.testing.assert_allclose(np.mean(first_row > 0, axis=0), 0.5, atol=0.01)


@pytest.mark.parametrize(
    "B, B_star, message",
    [
        (np.ones((5, 2)), np.eye(5)[:, :2], "B is rank deficient"),
        (np.eye(5)[:, :2], np.zeros((5, 2)), "B_star is rank deficient"),
        (np.ones((2, 3)), np.ones((2, 3)), "more columns than rows"),
        (np.eye(5)[:, :2], np.eye(5)[:, :3], "same \\(d, k\\) shape"),
        (np.ones(5), np.ones(5), "at least 2 dimension"),
        (np.full((4, 2), np.nan), np.eye(4)[:, :2], "NaN"),
    ],
)
def test_bad_input_is_named(B, B_star, message):
    with pytest.raises(ValueError, match=message):
        subspace_distance(B, B_star)


@pytest.mark.parametrize("d, k", [(0, 1), (3, 0), (-2, 1), (3, 4), (2.5, 1)])
def test_random_orthonormal_rejects_bad_sizes(rng, d, k):
    with pytest.raises(ValueError):
        random_orthonormal(d, k, rng)


def test_random_orthonormal_requires_a_generator():
    with pytest.raises(TypeError, match="rng"):
        random_orthonormal(3, 2, 0)
