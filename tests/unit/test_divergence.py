"""The one guard for runs that blow up: threshold, record of where each run stopped, warning."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from metalib.divergence import BLOWUP_FACTOR, BlowupGuard, DivergenceWarning


def test_threshold_is_relative_to_one_plus_the_start():
    guard = BlowupGuard(np.array([0.0, 1.0, -3.0]))
    np.testing.assert_allclose(guard.limit, BLOWUP_FACTOR * np.array([1.0, 2.0, 4.0]))
    below = guard.limit * (1 - 1e-9)
    assert guard.check(1, below).all()
    running = guard.check(2, guard.limit * (1 + 1e-9))
    assert not running.any()
    np.testing.assert_array_equal(guard.stopped_at, [2, 2, 2])


def test_records_the_first_stop_only_and_never_restarts():
    guard = BlowupGuard(np.ones((2, 3)))
    sizes = np.ones((2, 3))
    sizes[0, 1] = np.nan
    guard.check(4, sizes)
    sizes[1, 2] = np.inf
    guard.check(7, sizes)
    guard.check(9, np.ones((2, 3)))  # finite again: a stopped run stays stopped
    np.testing.assert_array_equal(guard.stopped_at, [[-1, 4, -1], [-1, -1, 7]])
    np.testing.assert_array_equal(
        guard.running, [[True, False, True], [True, True, False]]
    )
    assert guard.any_stopped


def test_extra_verdict_stops_a_run():
    guard = BlowupGuard(np.zeros(2))
    guard.check(3, np.zeros(2), finite=np.array([True, False]))
    np.testing.assert_array_equal(guard.stopped_at, [-1, 3])


def test_no_warning_when_nothing_stopped():
    guard = BlowupGuard(np.zeros(3))
    guard.check(1, np.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert guard.warn("FO-MAML", "lower beta") is None
    assert not guard.any_stopped


def test_warning_says_how_many_where_and_what_to_lower():
    guard = BlowupGuard(np.zeros(4))
    guard.check(12, np.array([0.0, np.inf, 0.0, np.nan]))
    with pytest.warns(DivergenceWarning) as record:
        message = guard.warn("FO-MAML", "lower beta (the outer step size, now 0.1)")
    assert len(record) == 1
    text = str(record[0].message)
    assert text == message
    assert "FO-MAML blew up in 2 of 4 run(s)" in text
    assert "[12, 12]" in text
    assert "lower beta (the outer step size, now 0.1)" in text


def test_the_same_warning_is_shown_every_time():
    # Python's default filter shows a warning once per call site; a reader who repeats a setting
    # that blows up must be told again. Run in a fresh interpreter with the default filters.
    code = (
        "import numpy as np\n"
        "from metalib.divergence import BlowupGuard\n"
        "for _ in range(3):\n"
        "    g = BlowupGuard(np.zeros(1)); g.check(5, np.array([np.inf]))\n"
        "    g.warn('Exact MAML', 'lower beta')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Exact MAML blew up in 1 of 1 run(s)") == 3, done.stderr
