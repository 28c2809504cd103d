"""What every part's bad-input test shares: run a bad call, check that the error names the argument,
and check that the cases cover every public callable of the part."""

from __future__ import annotations

import re
import warnings

import pytest


def case_params(cases):
    """``(name, i)`` for every case of ``cases`` (a dict of callable name to a list of cases)."""
    return [(name, i) for name, calls in cases.items() for i in range(len(calls))]


def check_names_argument(call, argument, whole_word=False, no_warnings=False):
    """``call()`` raises ValueError or TypeError whose message names ``argument``.

    ``whole_word``: the name must stand as a word ("k" is not found in "k_width").
    ``no_warnings``: a numpy warning on the way to the error fails the check.
    """
    with warnings.catch_warnings():
        if no_warnings:
            warnings.simplefilter("error")
        with pytest.raises((ValueError, TypeError)) as info:
            call()
    message = str(info.value)
    if whole_word:
        assert re.search(rf"(?<!\w){re.escape(argument)}(?!\w)(?!' )", message), (
            argument,
            message,
        )
    else:
        assert argument in message, (argument, message)


def public_callables(module, exclude=()):
    """The callables of ``module.__all__``, warnings classes and ``exclude`` left out."""

    def is_warning(obj):
        return isinstance(obj, type) and issubclass(obj, Warning)

    return {
        name
        for name in module.__all__
        if callable(getattr(module, name))
        and not is_warning(getattr(module, name))
        and name not in set(exclude)
    }


def bad_input_tests(cases, module, exclude=(), **options):
    """The two tests of a part's bad-input file, to bind at its top level:

    ``test_bad_input_names_the_argument`` (one test per case; ``options`` go to
    :func:`check_names_argument`) and ``test_every_callable_is_covered`` (the cases name exactly
    the callables of ``module.__all__``, ``exclude`` left out).
    """
    params = case_params(cases)

    @pytest.mark.parametrize("name, i", params, ids=[f"{n}-{i}" for n, i in params])
    def test_bad_input_names_the_argument(name, i):
        call, argument = cases[name][i]
        check_names_argument(call, argument, **options)

    def test_every_callable_is_covered():
        callables = public_callables(module, exclude=exclude)
        assert callables == set(cases), sorted(callables ^ set(cases))

    return test_bad_input_names_the_argument, test_every_callable_is_covered
