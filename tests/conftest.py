"""Shared fixtures. Graders (tests/graders) take ``impl``: here the reference solutions, which must pass.

The suite runs serially or in worker processes (pytest-xdist; ``bash scripts/env.sh test`` passes
``-n 2 --dist loadfile`` on a machine with two or more CPUs: the tests of one file, and every cell of one
notebook, run on one worker in order). What else keeps it correct and quick in workers lives here: the slowest
files scheduled first, the ``early`` preparations claimed by exactly one worker and handed to whichever worker
runs the test, and, for ``--dist loadgroup``, ``xdist_group`` marks that keep a notebook's cells and the tests
sharing a module-scoped fixture together.
"""
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
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one worker, in order (pytest-xdist "
                                       "with --dist loadgroup; serially nothing changes)")
    if config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") in ("loadfile", "loadgroup"):
        # The work queue keeps the order pytest_collection_modifyitems gives (slowest first), instead of
        # xdist's default of ordering files/groups by their number of tests (which would put the longest single
        # tests, the browser and the hub, last: a long tail on one worker).
        config.option.loadscopereorder = False


# ------------------------------------------------------------------------ running in worker processes
# Work that takes longest, started first (longest-first scheduling): with --dist loadfile a worker takes whole
# files, so the last files to start should be short ones; a long file started last is a tail one worker runs
# alone while the other has finished. Node-id prefixes, slowest first: every file that took more than ~6 s
# (its tests' setup + call + teardown summed, `--durations=0` of `bash scripts/env.sh test`; re-measure when a
# chapter's tests change); the files not named here follow in collection order. Each entry names its seconds
# of that run (2 workers, machine under other load, so ~1.5x an idle run's).
SLOW_FIRST = (
    "tests/test_browser.py",                          # 121 s: Lab + Chromium, notebooks 00 and 04
    "notebooks/01_",                                  # 119
    "notebooks/05_",                                  # 78
    "notebooks/06_",                                  # 61
    "tests/test_campaign_redesign.py",                # 49
    "tests/test_hub.py",                              # 45
    "tests/test_grading.py",                          # 42
    "tests/test_ch02_graders.py",                     # 42
    "tests/test_colab.py",                            # 40
    "notebooks/03_",                                  # 39
    "tests/test_parallel.py",                         # 37
    "notebooks/04_",                                  # 34
    "notebooks/02_",                                  # 33
    "tests/test_solubility.py",                       # 29
    "tests/test_ch05_graders.py",                     # 26
    "tests/test_diffusion.py",                        # 23
    "tests/test_oracles_optimizers.py",               # 20
    "tests/test_room.py",                             # 18
    "tests/test_ch03_graders.py",                     # 17
    "tests/test_shared_fixtures.py",                  # 17
    "tests/test_grader_noise.py",                     # 16
    "tests/test_ch04_graders.py",                     # 13
    "notebooks/",                                     # 00: 12
    "tests/test_ensembles.py",                        # 12
    "tests/test_ch01_graders.py",                     # 11
    "tests/test_rigor.py",                            # 10
    "tests/test_ch03_review.py",                      # 10
    "tests/test_cli.py",                              # 9
    "tests/test_diffusion_steps.py",                  # 7
    "tests/test_calibration.py",                      # 7
)


def _in_worker(config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """In a worker, the slowest files (``SLOW_FIRST``) move to the front of the queue. ``xdist_group`` marks for
    ``--dist loadgroup`` (``--dist loadfile``, the default of scripts/env.sh, keeps each file together anyway;
    serially they change nothing):

    * every cell of a notebook (nbval) in one group: one kernel runs them in order on one worker;
    * tests using a module- or class-scoped fixture in one group per module: the fixture is built once."""
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            item.add_marker(pytest.mark.xdist_group(f"notebook-{path.name}"))
            continue
        fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        if any(d.scope in ("module", "class") for defs in fixtures.values() for d in defs):
            item.add_marker(pytest.mark.xdist_group(f"module-{item.nodeid.split('::')[0]}"))
    if _in_worker(config):
        def rank(item):
            nodeid = item.nodeid
            return next((k for k, prefix in enumerate(SLOW_FIRST) if nodeid.startswith(prefix)), len(SLOW_FIRST))

        items.sort(key=rank)  # stable: the order inside each rank (and a notebook's cells) is kept


# ------------------------------------------------------------------------ preparations started early
# A few tests wait mostly on something outside this process: pip planning an install against the package index
# (tests/test_colab.py, tests/test_room.py). Their preparation runs in one background thread from the moment the
# session's tests are collected, overlapping the tests before them instead of adding its wait to the run; each
# such test then asserts on the result exactly as before. A test that is not selected starts nothing.
# In workers (pytest-xdist) every worker collects every test but runs only some: each preparation is claimed by
# one worker (an exclusive file in a folder all workers share), which publishes its result there (a pickle,
# written atomically); the worker that runs the test reads it. Serially nothing is written.
_EARLY: dict = {}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """(xdist controller) The folder the workers share for early preparations; removed when the session ends."""
    import tempfile

    if "shared" not in _EARLY:
        _EARLY["shared"] = Path(tempfile.mkdtemp(prefix="molpractice-early-"))
    node.workerinput["molpractice_early"] = str(_EARLY["shared"])


def _claim(shared: Path, key: str) -> bool:
    try:
        fd = os.open(shared / f"{key}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


_OUTCOMES = {"skip": pytest.skip, "xfail": pytest.xfail, "fail": pytest.fail}  # xfail before fail: a subclass


def _publish(future, path: Path) -> None:
    """Write the outcome of ``future`` to ``path`` for another worker: ("value", v), ("outcome", (kind, message))
    for pytest.skip/xfail/fail, or ("error", exception) with the preparation's traceback as a note."""
    import pickle
    import traceback
    from concurrent.futures import CancelledError

    try:
        err = future.exception()
    except CancelledError as cancelled:
        err = cancelled
    if err is None:
        payload = ("value", future.result())
    elif isinstance(err, (pytest.skip.Exception, pytest.fail.Exception)):  # pytest's outcomes do not pickle
        payload = ("outcome", (next(k for k, f in _OUTCOMES.items() if isinstance(err, f.Exception)), err.msg))
    else:  # raised again by the worker that runs the test, as it would be serially
        frames = [f for f in traceback.extract_tb(err.__traceback__) if "concurrent" not in Path(f.filename).parts]
        err.add_note(f"(prepared in worker {os.environ.get('PYTEST_XDIST_WORKER', '?')}, at:\n"
                     + "".join(traceback.format_list(frames)).rstrip() + ")")
        payload = ("error", err)
    try:
        blob = pickle.dumps(payload)
        pickle.loads(blob)
    except Exception:  # noqa: BLE001 — an outcome that does not pickle is reported as text
        blob = pickle.dumps(("error", RuntimeError(f"early preparation: {payload[1]!r}")))
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


class _Published:
    """The result another worker prepares: waits for its file (or for that worker to have died)."""

    def __init__(self, shared: Path, key: str):
        self.path, self.claim = shared / f"{key}.result", shared / f"{key}.claim"

    def result(self):
        import pickle
        import time

        while not self.path.exists():
            pid = self.claim.read_text().strip()  # empty for the instant between the claim and its write
            if pid and Path("/proc/self").exists() and not Path(f"/proc/{pid}").exists() and not self.path.exists():
                raise RuntimeError(f"the worker preparing this test's data (pid {pid}) ended without a result")
            time.sleep(0.2)
        kind, value = pickle.loads(self.path.read_bytes())
        if kind == "value":
            return value
        if kind == "outcome":
            _OUTCOMES[value[0]](value[1])
        raise value


def pytest_collection_finish(session):
    import hashlib
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    if session.config.getoption("collectonly"):
        return
    workerinput = getattr(session.config, "workerinput", {})
    shared = Path(workerinput["molpractice_early"]) if "molpractice_early" in workerinput else None
    for item in session.items:
        marker = item.get_closest_marker("early")
        if marker is None:
            continue
        key = hashlib.sha1(item.nodeid.encode()).hexdigest()[:16]
        if shared is not None and not _claim(shared, key):
            _EARLY[item.nodeid] = _Published(shared, key)
            continue
        if "pool" not in _EARLY:
            _EARLY["pool"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="early")
            _EARLY["dir"] = Path(tempfile.mkdtemp(prefix="molpractice-early-", dir=shared))
        folder = _EARLY["dir"] / key
        folder.mkdir()
        future = _EARLY["pool"].submit(marker.kwargs["prepare"], folder)
        if shared is not None:
            future.add_done_callback(lambda f, path=shared / f"{key}.result": _publish(f, path))
        _EARLY[item.nodeid] = future


def pytest_sessionfinish(session):
    import shutil

    if "pool" in _EARLY:
        # In a worker, what it claimed may be read by another worker still running: finish it unless stopping.
        stopping = bool(session.shouldstop or session.shouldfail) or not _in_worker(session.config)
        _EARLY.pop("pool").shutdown(wait=True, cancel_futures=stopping)
        if not _in_worker(session.config):
            shutil.rmtree(_EARLY.pop("dir"), ignore_errors=True)
    if "shared" in _EARLY:  # the controller, after every worker has finished
        shutil.rmtree(_EARLY.pop("shared"), ignore_errors=True)
    _EARLY.clear()


@pytest.fixture
def early(request, tmp_path):
    """The return value of the test's ``@pytest.mark.early(prepare=f)``: waited for if it was started early
    (here or, in workers, by the worker that claimed it), else computed now in ``tmp_path`` (its exceptions,
    pytest.skip included, are the test's)."""
    future = _EARLY.get(request.node.nodeid)
    if future is not None:
        return future.result()
    return request.node.get_closest_marker("early").kwargs["prepare"](tmp_path)


@pytest.fixture
def impl():
    from molpractice.implementations import Implementation

    return Implementation("solutions")
