"""Shared fixtures. Graders (tests/graders) take ``impl``: here the reference solutions, which must pass."""
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    """The project's thread policy (one torch thread unless MOLPRACTICE_THREADS says otherwise), set once."""
    from molpractice.runtime import configure_threads

    configure_threads()


@pytest.fixture
def impl():
    from molpractice.implementations import Implementation

    return Implementation("solutions")
