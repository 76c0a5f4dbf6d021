"""Grading: graders declared in ``tests/graders``, run in a separate process with a per-exercise timeout.

A grader is a pytest test that takes the implementation as its parameter::

    @exercise("0.1", points=2)
    def test_softmax_sums_to_one(impl):
        probs, _, _ = impl.ch00_start_here.softmax_energy_stats(...)
        assert ..., "message that tells the learner what to fix"

pytest runs every grader against ``solutions`` (they must pass). ``grade()`` runs them against a
learner's ``exercises`` in a worker process, so learner code that raises, never returns, or does not even
parse gets a verdict and never crashes the grader. An exercise's points are the sum of its graders'
points; its status is one of ``passed``, ``failed``, ``not started``, ``error``, ``timeout``.

Inside the worker (see :mod:`molpractice.grading_pool` for how workers start warm):

* the learner's package is imported afresh; while ``exercises`` are graded, ``import solutions`` fails
  with a message saying the reference is not available (:func:`molpractice.grading_worker.block_reference`);
* the learner's public functions are wrapped: a function that changes an array/tensor argument in place
  fails with a message saying so, and when a grader cannot use what a function returned (e.g. numpy where a
  tensor is expected) the verdict is ``failed`` and names the function and what it returned;
* messages are clipped to :data:`MESSAGE_LIMIT` characters (learner text can be megabytes);
* the heap loaded before grading (libraries, graders, the learner's package) is frozen out of the garbage
  collector's reach (``gc.freeze``), so graders that allocate much do not pay for collections over it;
* the worker is killed after its last verdict or at a timeout, so threads or processes left behind by
  learner code never keep ``grade`` waiting.

Writing graders: compute the oracle before calling the learner's function, on a copy of the inputs; compare
float64 results with ``rtol=0`` and an explicit ``atol`` (the default ``rtol`` hides precision); call the
function with a valid input first in graders of argument validation, so a stub that returns ``None`` earns
nothing; keep each exercise's graders under a second or two on one CPU thread.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from .chapters import EXERCISE_ID
from .graders import (_chapter_of_file, compiled_graders, exercise, grader_table,  # noqa: F401 (exercise: for graders)
                      select_exercises)
from .grading_worker import clip
from .repository import find_repo




def _max_points(graders, ex_id):
    return sum(g.points for g in graders if g.exercise == ex_id)


def grade(which: str | None = None, implementation: str = "exercises", timeout: float = 60.0,
          repo: str | Path | None = None, package_dir: str | Path | None = None,
          startup_timeout: float = 300.0, progress=None, block_reference: bool | None = None,
          worker: str | None = None) -> dict:
    """Grade exercises and return the report of the contract.

    Args:
        which: chapter or exercise selector (see :func:`select_exercises`); None = all.
        implementation: ``"exercises"`` or ``"solutions"``.
        timeout: seconds one exercise may run before it is stopped (status ``timeout``).
        repo: the curriculum repository whose graders are used (default: found from the cwd).
        package_dir: the package folder to grade (default ``<repo>/<implementation>``); an instructor points this
            at a learner's copy of ``exercises/``.
        progress: optional callable ``progress(result_dict)`` called after every exercise.
        block_reference: make ``import solutions`` fail inside the worker (default: when grading
            ``exercises``), so learner code cannot score with the reference.
        worker: ``"forkserver"`` (default: warm workers, fast from the second check of a session on) or
            ``"subprocess"`` (a new interpreter); ``MOLPRACTICE_GRADE_WORKER`` overrides it.
    Returns:
        ``{"total", "max", "implementation", "package_dir", "exercises": [{"id", "status", "points", "max_points", "message",
        "seconds"}]}``.

    Every exercise is graded in a worker process (see :mod:`molpractice.grading_pool`) that is killed once
    it has given its verdicts or when an exercise exceeds ``timeout``.
    """
    repo = find_repo(repo)
    graders_dir = repo / "tests" / "graders"
    package_dir = Path(package_dir) if package_dir is not None else repo / implementation
    if not (package_dir / "__init__.py").is_file():
        raise FileNotFoundError(f"{package_dir} is not an implementation package (no __init__.py)")
    if block_reference is None:
        block_reference = implementation == "exercises"
    graders = grader_table(graders_dir)
    ids = select_exercises(graders, which)
    results: dict[str, dict] = {}
    remaining = list(ids)
    while remaining:
        for r in _run_worker(remaining, implementation, package_dir, graders_dir, repo, timeout, startup_timeout,
                             block_reference, worker):
            r["max_points"] = _max_points(graders, r["id"])
            r["message"] = clip(r.get("message", ""))
            results[r["id"]] = r
            if progress:
                progress(r)
        remaining = [i for i in ids if i not in results]
    rows = [results[i] for i in ids]
    for r in rows:
        r.setdefault("seconds", None)
    return {"implementation": implementation, "package_dir": str(package_dir), "total": sum(r["points"] for r in rows),
            "max": sum(r["max_points"] for r in rows),
            "exercises": [{k: r[k] for k in ("id", "status", "points", "max_points", "message", "seconds")}
                          for r in rows]}


def _log_tail(path: str) -> str:
    try:
        with open(path, errors="replace") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4000))
            return fh.read().strip()
    except OSError:
        return ""


def _run_worker(ids, implementation, package_dir, graders_dir, repo, timeout, startup_timeout, block_reference=False,
                worker_kind=None):
    """Start one worker for ``ids``; yield results until it finishes, times out, or dies.

    The worker is always killed at the end (after its last verdict, a timeout, or a crash), so learner
    code that leaves threads or processes behind cannot keep ``grade`` waiting.
    """
    from . import grading_pool

    fd, log_path = tempfile.mkstemp(prefix="molpractice-grade-", suffix=".log")
    os.close(fd)
    job = {"ids": ids, "implementation": implementation, "impl_dir": str(package_dir), "graders_dir": str(graders_dir),
           "repo": str(repo), "log": log_path, "block_reference": bool(block_reference)}
    chapters = {int(i.split(".")[0]) for i in ids}
    sources = [p.read_text(errors="replace") for folder in (Path(graders_dir), Path(repo) / "solutions")
               for p in sorted(folder.glob("*ch*.py")) if _chapter_of_file(Path("test_" + p.name[p.name.index("ch"):]))
               in chapters]
    if grading_pool.worker_kind(worker_kind) == "forkserver":  # compiled here once per edit, not in every worker
        job["compiled"] = compiled_graders(graders_dir, chapters)
    worker = grading_pool.start(job, repo, {"MPLBACKEND": os.environ.get("MPLBACKEND", "Agg")}, worker_kind,
                                preload=grading_pool.modules_for(sources))
    current, deadline = None, time.monotonic() + startup_timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if not worker.conn.poll(max(left, 0)):  # timed out
                worker.kill()
                if current is None:
                    raise RuntimeError(f"the grading worker did not start within {startup_timeout:.0f} s")
                yield {"id": current, "status": "timeout", "points": 0.0, "seconds": timeout,
                       "message": f"stopped after {timeout:g} s — an infinite loop, or far too slow?"}
                return
            try:
                event = worker.conn.recv()
            except (EOFError, OSError):  # worker exited
                worker.wait(5)
                code = worker.exitcode()
                tail = _log_tail(log_path)
                if current is None:
                    raise RuntimeError(f"the grading worker failed before grading (exit {code}):\n"
                                       f"{clip(tail[-1500:], 1500)}")
                last = tail.splitlines()[-1] if tail else "no message"
                yield {"id": current, "status": "error", "points": 0.0, "seconds": None,
                       "message": f"the grading process died (exit code {code}): {clip(last, 300)}"}
                return
            kind = event.pop("event")
            if kind == "start":
                current, deadline = event["id"], time.monotonic() + timeout
            elif kind == "result":
                current = None
                deadline = time.monotonic() + timeout
                yield event
            elif kind == "done":
                return
    finally:
        worker.close()  # kills it if it is still running (e.g. a non-daemon thread of the learner's)
        try:
            os.unlink(log_path)
        except OSError:
            pass


# ------------------------------------------------------------------------------------- benchmark
def benchmark_checks(which: str | None = None, implementation: str = "solutions", repeats: int = 3, repo=None,
                     timeout: float = 60.0, out=print) -> list[dict]:
    """Time one check per exercise, cold and warm, and print a table (``molpractice grade-bench``).

    * cold: ``python -m molpractice grade N.M`` in a new process, wall time — the first check of a session
      (interpreter start, imports, and the worker);
    * warm: ``grade("N.M")`` in this process once its warm workers are running (see
      :mod:`molpractice.grading_pool`), the median and the maximum of ``repeats`` runs — every later check;
    * graders: the seconds the graders themselves took inside the worker.

    Returns one dict per exercise with those numbers.
    """
    import statistics
    import subprocess

    from . import grading_pool

    repo = find_repo(repo)
    ids = select_exercises(grader_table(repo / "tests" / "graders"), which)
    out(f"check times per exercise ({implementation}, worker: {grading_pool.worker_kind()}, "
        f"MOLPRACTICE_THREADS={os.environ.get('MOLPRACTICE_THREADS', '1')})")
    out(f"{'exercise':>8}  {'cold s':>7}  {'warm s (median)':>15}  {'warm s (max)':>12}  {'graders s':>9}  status")
    grading_pool.warm_up()
    rows = []
    for ex_id in ids:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "molpractice", "grade", ex_id, "--impl", implementation,
                               "--timeout", str(timeout), "--repo", str(repo)],
                              cwd=str(repo), capture_output=True, text=True)
        cold = time.perf_counter() - t0
        grade(ex_id, implementation=implementation, timeout=timeout, repo=repo)  # the first warm run also warms the OS caches
        warm, row = [], None
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            row = grade(ex_id, implementation=implementation, timeout=timeout, repo=repo)["exercises"][0]
            warm.append(time.perf_counter() - t0)
        result = {"id": ex_id, "cold_seconds": round(cold, 2), "warm_seconds": round(statistics.median(warm), 2),
                  "warm_max_seconds": round(max(warm), 2), "grader_seconds": row["seconds"],
                  "status": row["status"] if proc.returncode == 0 else f"{row['status']} (cold run exit "
                                                                           f"{proc.returncode})"}
        rows.append(result)
        out(f"{ex_id:>8}  {cold:7.2f}  {result['warm_seconds']:15.2f}  {result['warm_max_seconds']:12.2f}  "
            f"{(row['seconds'] or 0):9.2f}  {result['status']}")
    return rows


# ------------------------------------------------------------------------------------- reporting
_ICON = {"passed": "✅", "failed": "❌", "not started": "⬜", "error": "💥", "timeout": "⏱"}


def format_row(r: dict) -> str:
    text = f"{_ICON[r['status']]} {r['id']:>5}  {r['status']:<11} {r['points']:g}/{r['max_points']:g}"
    if r["status"] != "passed" and r["message"]:
        text += f"  — {r['message']}"
    return text


def format_report(report: dict) -> str:
    lines = [format_row(r) for r in report["exercises"]]
    lines.append(f"Total: {report['total']:g} / {report['max']:g} points ({report['implementation']})")
    return "\n".join(lines)


def check(exercise_id: str, timeout: float = 60.0) -> None:
    """Grade one exercise from a notebook and print a one-line verdict.

    Uses the implementation chosen by ``MOLPRACTICE_IMPL`` (``mp.use("solutions")`` switches), and the
    current files on disk, so save your edits to ``exercises/`` first. The first check of a session starts
    the warm workers (a few seconds); later checks take under a second each on the 2-core test machine
    (``molpractice grade-bench N`` measures yours). Returns nothing (so a notebook
    cell shows only the verdict); :func:`grade` returns the full report.
    """
    from .runtime import implementation_name

    if not EXERCISE_ID.match(str(exercise_id)):
        raise ValueError(f"check() takes one exercise id like '1.2', got {exercise_id!r}")
    report = grade(str(exercise_id), implementation=implementation_name(), timeout=timeout)
    row = report["exercises"][0]
    print(format_row(row) + f"  [{report['implementation']}]")
