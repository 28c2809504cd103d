"""Transitional package: the part's code is being split by role (see the module docstring of _unsplit)."""

from . import _unsplit
from ._unsplit import *  # noqa: F401,F403
from ._unsplit import __all__  # noqa: F401


def __getattr__(name):
    return getattr(_unsplit, name)
