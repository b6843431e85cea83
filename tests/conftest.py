"""Fixtures shared by the tests (the generators they use are in ``helpers.py``)."""

from __future__ import annotations

import pytest

from helpers import random_cluster, random_periodic


@pytest.fixture
def periodic_frames():
    return [random_periodic(s) for s in range(3)]


@pytest.fixture
def cluster_frames():
    return [random_cluster(s) for s in range(3)]
