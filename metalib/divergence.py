"""Runs that blow up: one policy for every training loop of the book.

A step size that is too large makes an iteration grow without bound. Every training loop in
:mod:`metalib` watches a *size* of each run (a parameter norm, or a loss) through a
:class:`BlowupGuard`:

* a run is **stopped** at the first checked iteration where its size is not finite or exceeds
  ``BLOWUP_FACTOR * (1 + size at the start)``;
* the guard **records** the iteration where each run stopped (``stopped_at``, ``-1`` for runs that
  did not stop), so that figures can mark the place and never draw a NaN curve;
* at the end the loop calls :meth:`BlowupGuard.warn`, which emits one :class:`DivergenceWarning`
  naming how many runs stopped, where, and which step size to lower.

:class:`DivergenceWarning` is always shown, not only the first time a message appears (Python's
default filter shows a repeated warning once per location), so a reader who repeats a setting
that blows up is told so again.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["BLOWUP_FACTOR", "DivergenceWarning", "BlowupGuard"]

#: a run stops when its size exceeds this multiple of ``1 + its starting size`` (or is not finite)
BLOWUP_FACTOR = 1e6


class DivergenceWarning(UserWarning):
    """A training run blew up and was stopped; the message says where and which step to lower."""


# shown every time, not once per call site: a reader who repeats a diverging setting is told again
warnings.filterwarnings("always", category=DivergenceWarning)


class BlowupGuard:
    """Watch a batch of runs and stop those that blow up.

    Parameters
    ----------
    start_size : float or array_like
        The size of each run at the start (any batch shape, for example ``(methods, trials)``).
        The threshold is ``BLOWUP_FACTOR * (1 + start_size)``.

    Attributes
    ----------
    running : ndarray of bool
        Which runs are still going (same shape as ``start_size``).
    stopped_at : ndarray of int
        The iteration at which each run was stopped, ``-1`` if it was not.
    limit : ndarray of float
        The threshold of each run.

    Examples
    --------
    >>> guard = BlowupGuard(np.array([1.0, 1.0]))
    >>> guard.check(5, np.array([3.0, np.inf]))
    array([ True, False])
    >>> guard.stopped_at
    array([-1,  5])
    """

    def __init__(self, start_size):
        start = np.asarray(start_size, dtype=float)
        self.limit = BLOWUP_FACTOR * (1.0 + np.abs(start))
        self.running = np.ones(start.shape, dtype=bool)
        self.stopped_at = np.full(start.shape, -1)

    def check(self, t, size, finite=None):
        """Stop the runs whose ``size`` at iteration ``t`` is not finite or above the threshold.

        Parameters
        ----------
        t : int
            The iteration just computed; recorded in ``stopped_at`` for the runs it stops.
        size : array_like
            The watched size of each run, shape of ``start_size``.
        finite : array_like of bool, optional
            Extra per-run verdict (for example "every parameter is finite");
            ``False`` stops the run.

        Returns
        -------
        ndarray of bool
            ``running`` after the check: ``True`` for runs that may take the new iterate.
        """
        size = np.asarray(size, dtype=float)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(size) & (size < self.limit)
        if finite is not None:
            ok &= np.asarray(finite, dtype=bool)
        newly = self.running & ~ok
        self.stopped_at[newly] = t
        self.running &= ok
        return self.running

    @property
    def any_stopped(self):
        """True when at least one run was stopped."""
        return bool((self.stopped_at >= 0).any())

    def warn(self, what, advice, stacklevel=3):
        """Emit one :class:`DivergenceWarning` if any run stopped.

        Parameters
        ----------
        what : str
            Names the runs, for example ``"Exact MAML"``.
        advice : str
            What to lower, for example ``"lower beta (the outer step size, now 0.5)"``.
        stacklevel : int
            Passed to :func:`warnings.warn` (3 points at the caller of the training function).

        Returns
        -------
        str or None
            The message, or ``None`` when no run stopped.
        """
        bad = np.flatnonzero(self.stopped_at.reshape(-1) >= 0)
        if bad.size == 0:
            return None
        where = self.stopped_at.reshape(-1)[bad].tolist()
        message = (
            f"{what} blew up in {bad.size} of {self.stopped_at.size} run(s), at iteration(s) "
            f"{where}; those runs were stopped there. To fix it, {advice}."
        )
        warnings.warn(message, DivergenceWarning, stacklevel=stacklevel)
        return message
