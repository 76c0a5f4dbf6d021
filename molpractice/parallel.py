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


def run_jobs(fn: Callable, jobs: Iterable[tuple], workers: int) -> Iterator:
    """Yield ``fn(*job)`` for every job, in the order of ``jobs``.

    Args:
        fn: a module-level function (workers import it by name).
        jobs: argument tuples; they and the results must be picklable when ``workers > 1``.
        workers: processes to use; ``<= 1`` (or a single job) runs every job here, one after another.
    Yields:
        each job's result as soon as it and every earlier job are done (so a caller can print progress).
    Raises:
        whatever a job raises (re-raised here, with the worker's traceback attached as its cause).
    """
    jobs = list(jobs)
    if int(workers) <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield fn(*job)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(int(workers), len(jobs)), mp_context=context,
                             initializer=_start_worker) as pool:
        futures = [pool.submit(_run_pickled, fn, pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
                   for job in jobs]
        try:
            for future in futures:
                yield pickle.loads(future.result())
        finally:
            for future in futures:
                future.cancel()
