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
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .chapters import EXERCISE_ID, chapter_number
from .implementations import Implementation, import_package_from
from .repository import find_repo


@dataclasses.dataclass
class Grader:
    exercise: str
    points: float
    func: object
    module: str

    @property
    def name(self):
        return self.func.__name__


def exercise(exercise_id: str, points: float = 1.0):
    """Mark a test function as a grader of exercise ``exercise_id`` (``"N.M"``) worth ``points``."""
    if not EXERCISE_ID.match(str(exercise_id)):
        raise ValueError(f"exercise id must look like '1.2', got {exercise_id!r}")
    if points <= 0:
        raise ValueError(f"points must be positive, got {points}")

    def mark(func):
        func.molpractice_exercise = (str(exercise_id), float(points))
        return func

    return mark


def _id_key(exercise_id: str):
    major, minor = exercise_id.split(".")
    return int(major), int(minor)


def load_graders(graders_dir: Path) -> list[Grader]:
    """Import every ``test_ch*.py`` under ``graders_dir`` and return its graders, sorted by exercise."""
    graders = []
    for path in sorted(Path(graders_dir).glob("test_ch*.py")):
        module_name = f"molpractice_graders.{path.stem}"
        if module_name not in sys.modules:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        module = sys.modules[module_name]
        for obj in vars(module).values():
            mark = getattr(obj, "molpractice_exercise", None)
            if mark and callable(obj):
                graders.append(Grader(mark[0], mark[1], obj, module_name))
    graders.sort(key=lambda g: (_id_key(g.exercise), g.func.__code__.co_firstlineno))
    return graders


def select_exercises(graders: list[Grader], which: str | None) -> list[str]:
    """Exercise ids matched by ``which``: None (all), a chapter (``1``, ``01``, ``ch01``,
    ``ch01_solubility_gnn``) or one exercise (``1.2``).

    Raises:
        ValueError: if nothing matches, listing what exists.
    """
    ids = sorted({g.exercise for g in graders}, key=_id_key)
    if which is None or which == "all":
        return ids
    text = str(which).strip().lower()
    if EXERCISE_ID.match(text):
        chosen = [i for i in ids if i == text]
    else:
        number = chapter_number(text)
        chosen = [i for i in ids if number is not None and int(i.split(".")[0]) == number]
    if not chosen:
        raise ValueError(f"no exercise matches {which!r}; known exercises: {', '.join(ids)}")
    return chosen


# ----------------------------------------------------------------------------------------- worker
def _learner_frame(tb_exc: traceback.TracebackException, impl_dir: str) -> str:
    """The deepest traceback line inside the learner's package, as 'file:line in func'."""
    where = ""
    for frame in tb_exc.stack:
        if frame.filename.startswith(impl_dir):
            where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
    return where


def _run_one(graders: list[Grader], impl: Implementation, impl_dir: str) -> dict:
    """Run the graders of one exercise in this process and summarise them."""
    points, problems = 0.0, []  # problems: (status, message) per grader that did not pass
    for g in graders:
        try:
            g.func(impl)
            points += g.points
            continue
        except NotImplementedError as err:
            problems.append(("not started", str(err) or f"{g.name}: raises NotImplementedError"))
        except AssertionError as err:
            problems.append(("failed", f"{g.name}: {(str(err) or 'an assertion failed').strip()}"))
        except SyntaxError as err:
            problems.append(("error", f"SyntaxError in {Path(err.filename or '?').name} line {err.lineno}: {err.msg}"))
        except BaseException as err:  # learner code may raise anything, even SystemExit
            where = _learner_frame(traceback.TracebackException.from_exception(err), impl_dir)
            problems.append(("error", f"{g.name}: {type(err).__name__}: {err}" + (f" (at {where})" if where else "")))
    if not problems:
        return {"status": "passed", "points": points, "message": ""}
    kinds = {kind for kind, _ in problems}
    if "not started" in kinds:
        points = 0.0  # graders that pass on a stub (e.g. argument validation) earn nothing yet
    status = "error" if "error" in kinds else "failed" if "failed" in kinds else "not started"
    message = next(msg for kind, msg in problems if kind == status)
    return {"status": status, "points": points, "message": message}


def _worker(job: dict, out_fd: int) -> None:
    """Grade ``job["ids"]`` one after another, writing a JSON line per event to ``out_fd``."""
    out = os.fdopen(out_fd, "w", buffering=1)

    def emit(**event):
        out.write(json.dumps(event) + "\n")
        out.flush()

    impl_dir = str(Path(job["impl_dir"]).resolve())
    import_package_from(job["impl"], Path(impl_dir))
    graders = load_graders(Path(job["graders_dir"]))
    impl = Implementation(job["impl"])
    emit(event="ready")
    for ex_id in job["ids"]:
        emit(event="start", id=ex_id)
        mine = [g for g in graders if g.exercise == ex_id]
        t0 = time.perf_counter()
        result = _run_one(mine, impl, impl_dir)
        emit(event="result", id=ex_id, seconds=round(time.perf_counter() - t0, 3), **result)
    emit(event="done")


# ----------------------------------------------------------------------------------------- runner
def _max_points(graders, ex_id):
    return sum(g.points for g in graders if g.exercise == ex_id)


def grade(which: str | None = None, impl: str = "exercises", timeout: float = 60.0,
          repo: str | Path | None = None, impl_dir: str | Path | None = None,
          startup_timeout: float = 300.0, progress=None) -> dict:
    """Grade exercises and return the report of the contract.

    Args:
        which: chapter or exercise selector (see :func:`select_exercises`); None = all.
        impl: ``"exercises"`` or ``"solutions"``.
        timeout: seconds one exercise may run before it is stopped (status ``timeout``).
        repo: the curriculum repository whose graders are used (default: found from the cwd).
        impl_dir: the package folder to grade (default ``<repo>/<impl>``); an instructor points this
            at a learner's copy of ``exercises/``.
        progress: optional callable ``progress(result_dict)`` called after every exercise.
    Returns:
        ``{"total", "max", "impl", "exercises": [{"id", "status", "points", "max_points", "message",
        "seconds"}]}``.
    """
    repo = find_repo(repo)
    graders_dir = repo / "tests" / "graders"
    impl_dir = Path(impl_dir) if impl_dir is not None else repo / impl
    if not (impl_dir / "__init__.py").is_file():
        raise FileNotFoundError(f"{impl_dir} is not an implementation package (no __init__.py)")
    graders = load_graders(graders_dir)
    ids = select_exercises(graders, which)
    results: dict[str, dict] = {}
    remaining = list(ids)
    while remaining:
        for r in _run_worker(remaining, impl, impl_dir, graders_dir, repo, timeout, startup_timeout):
            r["max_points"] = _max_points(graders, r["id"])
            results[r["id"]] = r
            if progress:
                progress(r)
        remaining = [i for i in ids if i not in results]
    rows = [results[i] for i in ids]
    for r in rows:
        r.setdefault("seconds", None)
    return {"impl": impl, "impl_dir": str(impl_dir), "total": sum(r["points"] for r in rows),
            "max": sum(r["max_points"] for r in rows),
            "exercises": [{k: r[k] for k in ("id", "status", "points", "max_points", "message", "seconds")}
                          for r in rows]}


def _run_worker(ids, impl, impl_dir, graders_dir, repo, timeout, startup_timeout):
    """Start one worker for ``ids``; yield results until it finishes, times out, or dies."""
    read_fd, write_fd = os.pipe()
    job = {"ids": ids, "impl": impl, "impl_dir": str(impl_dir), "graders_dir": str(graders_dir)}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(repo)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.setdefault("MPLBACKEND", "Agg")
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import json,sys; from molpractice.grading import _worker; "
                               "_worker(json.loads(sys.argv[1]), int(sys.argv[2]))", json.dumps(job), str(write_fd)],
        pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(repo), env=env)
    os.close(write_fd)
    reader = os.fdopen(read_fd, "r")
    current, deadline = None, time.monotonic() + startup_timeout
    buffer = ""
    try:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([reader], [], [], max(left, 0))
            if not ready:  # timed out
                proc.kill()
                proc.wait()
                if current is None:
                    raise RuntimeError(f"the grading worker did not start within {startup_timeout:.0f} s")
                yield {"id": current, "status": "timeout", "points": 0.0, "seconds": timeout,
                       "message": f"stopped after {timeout:g} s — an infinite loop, or far too slow?"}
                return
            chunk = os.read(reader.fileno(), 65536).decode()
            if not chunk:  # worker exited
                proc.wait()
                log.seek(0)
                tail = log.read()[-1500:].strip()
                if current is None:
                    raise RuntimeError(f"the grading worker failed before grading (exit {proc.returncode}):\n{tail}")
                yield {"id": current, "status": "error", "points": 0.0, "seconds": None,
                       "message": f"the grading process died (exit code {proc.returncode}): "
                                  f"{tail.splitlines()[-1] if tail else 'no message'}"}
                return
            buffer += chunk
            while "\n" in buffer:
                line, buffer = buffer.split("\n", 1)
                event = json.loads(line)
                kind = event.pop("event")
                if kind == "start":
                    current, deadline = event["id"], time.monotonic() + timeout
                elif kind == "result":
                    current = None
                    deadline = time.monotonic() + timeout
                    yield event
                elif kind == "done":
                    proc.wait()
                    return
    finally:
        reader.close()
        log.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------- reporting
_ICON = {"passed": "✅", "failed": "❌", "not started": "⬜", "error": "💥", "timeout": "⏱"}


def format_row(r: dict) -> str:
    text = f"{_ICON[r['status']]} {r['id']:>5}  {r['status']:<11} {r['points']:g}/{r['max_points']:g}"
    if r["status"] != "passed" and r["message"]:
        text += f"  — {r['message']}"
    return text


def format_report(report: dict) -> str:
    lines = [format_row(r) for r in report["exercises"]]
    lines.append(f"Total: {report['total']:g} / {report['max']:g} points ({report['impl']})")
    return "\n".join(lines)


def check(exercise_id: str, timeout: float = 60.0) -> None:
    """Grade one exercise from a notebook and print a one-line verdict.

    Uses the implementation chosen by ``MOLPRACTICE_IMPL`` (``mp.use("solutions")`` switches), and the
    current files on disk, so save your edits to ``exercises/`` first. Returns nothing (so a notebook
    cell shows only the verdict); :func:`grade` returns the full report.
    """
    from .runtime import implementation_name

    if not EXERCISE_ID.match(str(exercise_id)):
        raise ValueError(f"check() takes one exercise id like '1.2', got {exercise_id!r}")
    report = grade(str(exercise_id), impl=implementation_name(), timeout=timeout)
    row = report["exercises"][0]
    print(format_row(row) + f"  [{report['impl']}]")
