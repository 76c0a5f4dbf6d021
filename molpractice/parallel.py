"""Independent CPU jobs (ensemble members) in worker processes, results in submission order.

Training five ensemble members is five independent jobs. With one torch thread per process (the
runtime's thread policy), two worker processes on a 2-core machine finish them in about half the wall
time of one process, with the same numbers: every job seeds itself, so a member trained in a worker
equals the member trained here bit for bit (``tests/test_parallel.py`` checks it).

How many workers: :func:`molpractice.runtime.worker_count` (``MOLPRACTICE_WORKERS``; default the
machine's CPUs, at most 2; 1 — no workers, everything here — on a GPU or in fast mode).

Workers are *spawned* (a fresh interpreter, never ``fork``: forking a process whose torch thread pool is
running can hang). A worker re-imports the chapter module by name (:func:`chapter_reference`), so it runs
the code on disk: a function redefined only inside a notebook is not seen — such a module is trained here,
without workers. A *script* that trains with workers needs Python's ``if __name__ == "__main__":`` guard around
its work (spawned workers import the script's top level); notebooks and the ``molpractice`` commands need nothing.
"""
from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator

from .runtime import IMPLEMENTATIONS


def chapter_reference(chapter) -> tuple | None:
    """``(implementation name, module name, fallback)`` to re-import ``chapter`` in a worker with
    :func:`molpractice.implementations.load_chapter`, or ``None`` when it is not a chapter module of
    ``exercises``/``solutions`` (a module built in a notebook): then jobs must run in this process."""
    from .implementations import _FallbackModule

    fallback = isinstance(chapter, _FallbackModule)
    module_object = chapter._learner if fallback else chapter
    package, _, module = str(getattr(module_object, "__name__", "")).partition(".")
    if package not in IMPLEMENTATIONS or not module or "." in module:
        return None
    return package, module, fallback


_CHAPTERS: dict = {}


def load_reference(ref: tuple):
    """The chapter module named by :func:`chapter_reference` (imported once per worker)."""
    if ref not in _CHAPTERS:
        from .implementations import load_chapter

        package, module, fallback = ref
        _CHAPTERS[ref] = load_chapter(module, package, fallback=fallback)
    return _CHAPTERS[ref]


def _run_pickled(fn: Callable, payload: bytes) -> bytes:
    """Run ``fn(*pickle.loads(payload))`` and return its result pickled.

    Jobs and results cross the process boundary as plain ``bytes``: multiprocessing's own pickler would send
    every torch tensor as a shared-memory file descriptor (torch registers that reduction), and a split's
    thousand molecular graphs exhaust the open-file limit (``BrokenProcessPool``)."""
    return pickle.dumps(fn(*pickle.loads(payload)), protocol=pickle.HIGHEST_PROTOCOL)


def _start_worker():
    from .runtime import configure_threads

    configure_threads()


def run_jobs(fn: Callable, jobs: Iterable[tuple], workers: int, costs: Iterable[float] | None = None) -> Iterator:
    """Yield ``fn(*job)`` for every job, in the order of ``jobs``.

    Args:
        fn: a module-level function (workers import it by name).
        jobs: argument tuples; they and the results must be picklable when ``workers > 1``.
        workers: processes to use; ``<= 1`` (or a single job) runs every job here, one after another.
        costs: optional estimated cost of each job (any unit). With workers, the jobs *start* longest first
            (ties in the order of ``jobs``), so the last ones to start are short and the workers finish
            together; results still come back in the order of ``jobs``. Here (one process) the order is
            ``jobs``' own. Jobs that seed themselves give the same results in any order.
    Yields:
        each job's result as soon as it and every earlier job are done (so a caller can print progress).
    Raises:
        whatever a job raises (re-raised here, with the worker's traceback attached as its cause);
        ValueError when ``costs`` does not give one number per job.
    """
    jobs = list(jobs)
    start_order = longest_first(costs, len(jobs)) if costs is not None else list(range(len(jobs)))
    if int(workers) <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield fn(*job)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(int(workers), len(jobs)), mp_context=context,
                             initializer=_start_worker) as pool:
        futures = {}
        for k in start_order:  # the pool starts jobs in submission order
            futures[k] = pool.submit(_run_pickled, fn, pickle.dumps(jobs[k], protocol=pickle.HIGHEST_PROTOCOL))
        try:
            for k in range(len(jobs)):
                yield pickle.loads(futures[k].result())
        finally:
            for future in futures.values():
                future.cancel()


def longest_first(costs: Iterable[float], n: int) -> list[int]:
    """Positions ``0..n-1`` sorted by decreasing ``costs`` (ties keep their order): the start order of
    :func:`run_jobs` (longest processing time first, Graham 1969). Raises ValueError unless there are ``n``
    finite costs."""
    costs = [float(c) for c in costs]
    if len(costs) != n:
        raise ValueError(f"costs must give one number per job: {len(costs)} costs for {n} jobs")
    bad = [k for k, c in enumerate(costs) if c != c or c in (float("inf"), float("-inf"))]
    if bad:
        raise ValueError(f"cost of job {bad[0]} is not finite: {costs[bad[0]]}")
    return sorted(range(n), key=lambda k: -costs[k])
