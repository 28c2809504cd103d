"""Shared fixtures for the unit tests."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded generator for each test: tests are deterministic and independent."""
    return np.random.default_rng(20260123)
