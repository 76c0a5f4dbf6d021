"""Shared fixtures. Graders (tests/graders) take ``impl``: here the reference solutions, which must pass."""
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def impl():
    from molpractice.implementations import Implementation

    return Implementation("solutions")
