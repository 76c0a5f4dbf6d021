"""Warm ``check()`` time per exercise: a table exercise → warm seconds (median of N), wall and CPU, with the load average.

A learner's second and later ``mp.check("N.M")`` in a session run on a warm worker (see
``molpractice.grading_pool``); this script measures exactly that: ``grade(N.M)`` in one process once the
worker pool is warm (one untimed run per exercise first), then ``--repeats`` timed runs. Columns (medians):

* ``warm s``: wall time of the whole ``grade()`` call (``max``: the slowest repeat);
* ``graders s`` / ``graders cpu s``: wall and CPU time of the graders themselves inside the worker;
* ``check cpu s``: CPU time of the whole check — the worker process from its fork (importing the learner's
  package and the graders, running them) plus this process's own share of ``grade()``.

CPU times hardly move with the machine's load, wall times do: on a shared machine judge by CPU (the load
average is printed before and after, to say how much the wall times can be trusted). A worker that does not
report its CPU time (an older checkout) shows ``-``.

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

    repo = find_repo(args.repo)
    ids = select_exercises(grader_table(repo / "tests" / "graders"), args.which)
    import molpractice

    print(f"repo {repo} (molpractice from {Path(molpractice.__file__).parent}), impl {args.impl}, "
          f"worker {grading_pool.worker_kind()}, load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"{'exercise':>8}  {'warm s':>6}  {'max':>5}  {'graders s':>9}  {'graders cpu s':>13}  {'check cpu s':>11}  "
          "status")
    grading_pool.warm_up()
    worst = worst_cpu = 0.0
    for ex_id in ids:
        grading.grade(ex_id, implementation=args.impl, repo=repo)  # untimed: (re)starts the pool for this chapter
        walls, graders_wall, graders_cpu, check_cpu, row = [], [], [], [], None
        for _ in range(max(1, args.repeats)):
            seen = []
            t0, c0 = time.perf_counter(), time.process_time()
            row = grading.grade(ex_id, implementation=args.impl, repo=repo, progress=seen.append)["exercises"][0]
            walls.append(time.perf_counter() - t0)
            parent_cpu = time.process_time() - c0
            graders_wall.append(row["seconds"] or 0.0)
            if seen and seen[-1].get("worker_cpu_seconds") is not None:
                graders_cpu.append(seen[-1]["cpu_seconds"])
                check_cpu.append(seen[-1]["worker_cpu_seconds"] + parent_cpu)
        median = statistics.median(walls)
        worst = max(worst, median)
        cpu = statistics.median(check_cpu) if check_cpu else None
        worst_cpu = max(worst_cpu, cpu or 0.0)
        print(f"{ex_id:>8}  {median:6.2f}  {max(walls):5.2f}  {statistics.median(graders_wall):9.2f}  "
              f"{_fmt(statistics.median(graders_cpu) if graders_cpu else None):>13}  {_fmt(cpu):>11}  {row['status']}",
              flush=True)
    print(f"slowest warm median {worst:.2f} s wall, {worst_cpu:.2f} s CPU; "
          f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    return 0


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
