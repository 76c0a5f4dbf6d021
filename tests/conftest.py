"""Shared fixtures. Graders (tests/graders) take ``impl``: here the reference solutions, which must pass."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    """The project's thread policy (one torch thread unless MOLPRACTICE_THREADS says otherwise), set once."""
    from molpractice.runtime import configure_threads

    configure_threads()
    config.addinivalue_line("markers", "early(prepare=f): start f(folder) when the session's tests are "
                                       "collected; the test reads its return value through the `early` fixture")


# ------------------------------------------------------------------------ preparations started early
# A few tests wait mostly on something outside this process: pip planning an install against the package index
# (tests/test_colab.py, tests/test_room.py). Their preparation runs in one background thread from the moment the
# session's tests are collected, overlapping the tests before them instead of adding its wait to the run; each
# such test then asserts on the result exactly as before. A test that is not selected starts nothing.
_EARLY: dict = {}


def pytest_collection_finish(session):
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    if session.config.getoption("collectonly"):
        return
    for item in session.items:
        marker = item.get_closest_marker("early")
        if marker is None:
            continue
        if "pool" not in _EARLY:
            _EARLY["pool"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="early")
            _EARLY["dir"] = Path(tempfile.mkdtemp(prefix="molpractice-early-"))
        folder = _EARLY["dir"] / f"{len(_EARLY)}"
        folder.mkdir()
        _EARLY[item.nodeid] = _EARLY["pool"].submit(marker.kwargs["prepare"], folder)


def pytest_sessionfinish(session):
    import shutil

    if "pool" in _EARLY:
        _EARLY.pop("pool").shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(_EARLY.pop("dir"), ignore_errors=True)
    _EARLY.clear()


@pytest.fixture
def early(request, tmp_path):
    """The return value of the test's ``@pytest.mark.early(prepare=f)``: waited for if it was started early,
    else computed now in ``tmp_path`` (its exceptions, pytest.skip included, are the test's)."""
    future = _EARLY.get(request.node.nodeid)
    if future is not None:
        return future.result()
    return request.node.get_closest_marker("early").kwargs["prepare"](tmp_path)


@pytest.fixture
def impl():
    from molpractice.implementations import Implementation

    return Implementation("solutions")
