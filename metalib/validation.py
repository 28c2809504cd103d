"""Input checks shared by every public function of :mod:`metalib`.

Each check raises an error whose message names the offending argument and says
what was expected, so that a reader who passes a wrong shape or a negative size
learns which argument to fix instead of meeting a NaN three calls later.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_array",
    "check_positive_int",
    "check_nonnegative_int",
    "check_positive_float",
    "check_nonnegative_float",
    "check_choice",
    "check_same",
    "check_rng",
    "check_in_range",
]


def as_array(name, value, ndim=None, min_ndim=None, finite=True):
    """Convert ``value`` to a float array and check its number of dimensions.

    Parameters
    ----------
    name : str
        Argument name, used in error messages.
    value : array_like
        The argument.
    ndim : int, optional
        Exact number of dimensions required.
    min_ndim : int, optional
        Minimum number of dimensions (leading batch dimensions allowed).
    finite : bool
        Reject NaN or infinite entries.

    Returns
    -------
    numpy.ndarray of float
    """
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be an array of real numbers, got {type(value).__name__}"
        ) from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}"
        )
    if 0 in arr.shape:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if finite and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite entries")
    return arr


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value):
    """Return ``value`` as ``int`` if it is an integer >= 1, else raise naming ``name``."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_nonnegative_int(name, value):
    """Return ``value`` as ``int`` if it is an integer >= 0, else raise naming ``name``."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_positive_float(name, value):
    """Return ``value`` as ``float`` if it is a finite number > 0, else raise naming ``name``."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_nonnegative_float(name, value):
    """Return ``value`` as ``float`` if it is a finite number >= 0, else raise naming ``name``."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not np.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; expected one of {listed}")
    return value


def check_same(what, name_a, a, name_b, b):
    """Raise unless ``a == b``; ``what`` says which size is compared (for example "d")."""
    if a != b:
        raise ValueError(f"{name_a} and {name_b} disagree on {what}: {a} != {b}")


def check_rng(name, value):
    """Return ``value`` if it is a :class:`numpy.random.Generator`, else raise naming ``name``.

    Randomness in :mod:`metalib` comes only through an explicit generator, so that a reader who
    passes ``np.random.default_rng(seed)`` gets reproducible draws; an integer seed is refused
    with a hint instead of being silently turned into a generator.
    """
    if not isinstance(value, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (for example np.random.default_rng(0)), "
            f"got {type(value).__name__}"
        )
    return value


def check_in_range(name, value, low=None, high=None, integer=False):
    """Return ``value`` if ``low <= value <= high`` (bounds optional), else raise naming ``name``.

    With ``integer=True`` the value must also be an integer (not a bool).
    """
    if integer:
        if not _is_int(value):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    else:
        if (
            not isinstance(value, numbers.Real)
            or isinstance(value, bool)
            or not np.isfinite(value)
        ):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        value = float(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value!r}")
    return value
