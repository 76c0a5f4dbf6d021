"""Warm ``check()`` time per exercise: a table exercise → warm seconds (median of N), with the load average.

A learner's second and later ``mp.check("N.M")`` in a session run on a warm worker (see
``molpractice.grading_pool``); this script measures exactly that: ``grade(N.M)`` in one process once the
worker pool is warm (one untimed run per exercise first), then ``--repeats`` timed runs. ``graders s`` is the
time the graders themselves took inside the worker. ``graders cpu s`` is the CPU time of the same graders run in
this process on a freshly loaded grader module (median of the repeats): unlike wall times it hardly moves
with the machine's load. The load average is printed before and after, because on a shared machine it says
how much the wall times can be trusted.

    .venv/bin/python scripts/check_times.py                 # every exercise, reference solutions
    .venv/bin/python scripts/check_times.py 5 --repeats 5   # one chapter
    PYTHONPATH=/tmp/before .venv/bin/python scripts/check_times.py --repo /tmp/before   # another checkout

Unlike ``molpractice grade-bench`` it skips the cold (new-interpreter) runs, so a whole table takes a minute.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", default=None, help="chapter or exercise (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--impl", default="solutions")
    parser.add_argument("--repo", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")

    from molpractice import grading, grading_pool
    from molpractice.graders import grader_table, select_exercises
    from molpractice.repository import find_repo

    from molpractice.runtime import configure_threads

    configure_threads()  # the workers' thread policy, for the in-process CPU column
    repo = find_repo(args.repo)
    ids = select_exercises(grader_table(repo / "tests" / "graders"), args.which)
    import molpractice

    print(f"repo {repo} (molpractice from {Path(molpractice.__file__).parent}), impl {args.impl}, "
          f"worker {grading_pool.worker_kind()}, load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"{'exercise':>8}  {'warm s (median)':>15}  {'warm s (max)':>12}  {'graders s':>9}  {'graders cpu s':>13}  status")
    grading_pool.warm_up()
    worst = 0.0
    for ex_id in ids:
        grading.grade(ex_id, implementation=args.impl, repo=repo)  # untimed: (re)starts the pool for this chapter
        times, row = [], None
        for _ in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            row = grading.grade(ex_id, implementation=args.impl, repo=repo)["exercises"][0]
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        worst = max(worst, median)
        cpu = statistics.median(_grader_cpu(repo, args.impl, ex_id) for _ in range(max(1, args.repeats)))
        print(f"{ex_id:>8}  {median:15.2f}  {max(times):12.2f}  {(row['seconds'] or 0):9.2f}  {cpu:13.2f}  "
              f"{row['status']}", flush=True)
    print(f"slowest warm median {worst:.2f} s; load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    return 0


_LOADED = 0


def _grader_cpu(repo: Path, impl_name: str, ex_id: str) -> float:
    """CPU seconds of ``ex_id``'s graders in this process, on a freshly executed copy of their grader module."""
    global _LOADED
    import importlib.util
    import sys

    from molpractice.graders import _chapter_of_file
    from molpractice.implementations import Implementation

    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    chapter = int(ex_id.split(".")[0])
    path = next(p for p in sorted((repo / "tests" / "graders").glob("test_ch*.py")) if _chapter_of_file(p) == chapter)
    _LOADED += 1
    spec = importlib.util.spec_from_file_location(f"check_times_graders_{_LOADED}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graders = [f for f in vars(module).values() if getattr(f, "molpractice_exercise", (None,))[0] == ex_id]
    impl = Implementation(impl_name)
    t0 = time.process_time()
    for grader in graders:
        grader(impl)
    return time.process_time() - t0


if __name__ == "__main__":
    raise SystemExit(main())
