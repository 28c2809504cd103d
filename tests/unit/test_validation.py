"""The shared argument checks: each returns the clean value or raises naming the argument."""

import numpy as np
import pytest

from metalib.validation import (
    as_array,
    check_choice,
    check_in_range,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_rng,
    check_same,
)


def test_check_rng_returns_the_generator():
    rng = np.random.default_rng(0)
    assert check_rng("rng", rng) is rng


@pytest.mark.parametrize("bad", [0, None, np.random.RandomState(0), "seed", 1.5])
def test_check_rng_refuses_anything_else_naming_the_argument(bad):
    with pytest.raises(TypeError, match=r"^my_rng must be a numpy\.random\.Generator"):
        check_rng("my_rng", bad)


@pytest.mark.parametrize(
    "value,low,high,integer,expected",
    [
        (0.5, 0.0, 1.0, False, 0.5),
        (0, 0, 1, False, 0.0),
        (1, 0, 1, False, 1.0),
        (3, 1, None, True, 3),
        (np.int64(3), 1, 5, True, 3),
        (-7.0, None, 0, False, -7.0),
    ],
)
def test_check_in_range_accepts_the_closed_range(value, low, high, integer, expected):
    got = check_in_range("x", value, low, high, integer=integer)
    assert got == expected
    assert type(got) is (int if integer else float)


@pytest.mark.parametrize(
    "value,low,high,integer,message",
    [
        (1.5, 0, 1, False, r"x must lie in \[0, 1\], got 1\.5"),
        (-0.1, 0, None, False, r"x must lie in \[0, inf\]"),
        (2.0, None, 1, False, r"x must lie in \[-inf, 1\]"),
        (np.nan, 0, 1, False, "x must be a finite number"),
        (np.inf, None, None, False, "x must be a finite number"),
        (True, 0, 1, False, "x must be a finite number"),
        ("0.5", 0, 1, False, "x must be a finite number"),
        (2.5, 0, 5, True, "x must be an integer"),
        (True, 0, 5, True, "x must be an integer"),
        (7, 0, 5, True, r"x must lie in \[0, 5\], got 7"),
    ],
)
def test_check_in_range_names_the_argument(value, low, high, integer, message):
    with pytest.raises(ValueError, match=message):
        check_in_range("x", value, low, high, integer=integer)


def test_size_checks():
    assert check_positive_int("n", np.int32(4)) == 4
    assert check_nonnegative_int("n", 0) == 0
    assert check_positive_float("beta", 1) == 1.0
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="^n must be a positive integer"):
            check_positive_int("n", bad)
    for bad in (0.0, -1e-3, np.nan, np.inf):
        with pytest.raises(ValueError, match="^beta must be a positive finite number"):
            check_positive_float("beta", bad)


def test_choice_same_and_array():
    assert check_choice("method", "fo_anil", ("fo_anil", "exact_anil")) == "fo_anil"
    with pytest.raises(
        ValueError, match="unknown method 'exact_maml'; expected one of"
    ):
        check_choice("method", "exact_maml", ("fo_anil", "exact_anil"))
    with pytest.raises(ValueError, match="B and B_star disagree on d: 3 != 4"):
        check_same("d", "B", 3, "B_star", 4)
    with pytest.raises(ValueError, match="^B contains NaN"):
        as_array("B", [[1.0, np.nan]], ndim=2)
    with pytest.raises(ValueError, match="^B"):
        as_array("B", [1.0, 2.0], ndim=2)
    assert as_array("B", [[1, 2]], ndim=2).dtype == float
