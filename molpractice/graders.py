"""Declaring and finding graders: the ``@exercise`` mark, reading ``tests/graders`` and choosing exercises.

A grader is a pytest test in ``tests/graders/test_chNN_<topic>.py`` that takes the implementation as
``impl`` and is marked with ``@exercise("N.M", points=…)`` (importable as ``molpractice.grading.exercise``).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

from .chapters import EXERCISE_ID, chapter_number


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


def _chapter_of_file(path: Path):
    digits = path.stem[len("test_ch"):len("test_ch") + 2]
    return int(digits) if digits.isdigit() else None


def load_graders(graders_dir: Path, chapters=None, compiled: dict | None = None) -> list[Grader]:
    """Import every ``test_ch*.py`` under ``graders_dir`` (only chapters in ``chapters``, if given) and return
    its graders, sorted by exercise.

    ``compiled``: optional ``{path: marshalled code}`` from :func:`compiled_graders` (the parent compiled them
    once per edit); a file whose entry is missing or stale is compiled here as usual.
    """
    graders = []
    for path in sorted(Path(graders_dir).glob("test_ch*.py")):
        if chapters is not None and _chapter_of_file(path) not in chapters:
            continue
        module_name = f"molpractice_graders.{path.stem}"
        if module_name not in sys.modules:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            code = _code_from(compiled, path)
            if code is None:
                spec.loader.exec_module(module)
            else:
                exec(code, vars(module))
        module = sys.modules[module_name]
        for obj in vars(module).values():
            mark = getattr(obj, "molpractice_exercise", None)
            if mark and callable(obj):
                graders.append(Grader(mark[0], mark[1], obj, module_name))
    graders.sort(key=lambda g: (_id_key(g.exercise), g.func.__code__.co_firstlineno))
    return graders


def _stamp(path: Path):
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


_COMPILED: dict = {}  # path -> (stamp, marshalled code)
_TABLES: dict = {}  # path -> (stamp, rows or None when the file must be imported)


def compiled_graders(graders_dir: Path, chapters=None) -> dict:
    """``{path: marshalled code}`` of the grader files of ``chapters``, compiled once per edit of a file (a
    notebook's later checks skip compiling ~1000-line grader files in every worker)."""
    import marshal

    out = {}
    for path in sorted(Path(graders_dir).glob("test_ch*.py")):
        if chapters is not None and _chapter_of_file(path) not in chapters:
            continue
        stamp = _stamp(path)
        cached = _COMPILED.get(str(path))
        if cached is None or cached[0] != stamp:
            code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
            cached = _COMPILED[str(path)] = (stamp, marshal.dumps(code))
        out[str(path)] = (cached[0], cached[1])
    return out


def _code_from(compiled, path: Path):
    """The code object for ``path`` from ``compiled`` when it is there and the file has not changed since."""
    import marshal

    entry = (compiled or {}).get(str(path))
    if entry is None or tuple(entry[0]) != _stamp(path):
        return None
    return marshal.loads(entry[1])


@dataclasses.dataclass
class GraderInfo:
    """A grader as read from its source without importing it: enough to list exercises and their points."""
    exercise: str
    points: float
    name: str
    module: str


def grader_table(graders_dir: Path) -> list[GraderInfo]:
    """The graders under ``graders_dir``, read statically (no import: the parent process of ``grade`` does not
    need torch); a file whose ``@exercise(...)`` arguments are not literals is imported instead. Each file's
    rows are kept until the file changes (every ``check`` reads this table)."""
    table = []
    for path in sorted(Path(graders_dir).glob("test_ch*.py")):
        stamp = _stamp(path)
        cached = _TABLES.get(str(path))
        if cached is None or cached[0] != stamp:
            cached = _TABLES[str(path)] = (stamp, _static_rows(path))
        rows = cached[1]
        if rows is None:
            table += [GraderInfo(g.exercise, g.points, g.name, path.stem)
                      for g in load_graders(graders_dir, {_chapter_of_file(path)}) if g.module.endswith(path.stem)]
        else:
            table += rows
    table.sort(key=lambda g: _id_key(g.exercise))
    return table


def _static_rows(path: Path):
    """The ``@exercise`` rows of a grader file's top-level functions in source order, or None when an
    ``@exercise(...)`` argument is not a literal (the file must be imported)."""
    import ast

    rows = []
    for node in ast.parse(path.read_text(), filename=str(path)).body:  # graders are module-level functions
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for dec in node.decorator_list:
            func = getattr(dec, "func", None)
            if (getattr(func, "id", None) or getattr(func, "attr", None)) != "exercise":
                continue
            try:
                args = [ast.literal_eval(a) for a in dec.args]
                kwargs = {k.arg: ast.literal_eval(k.value) for k in dec.keywords}
                ex_id, points = (args + [kwargs.get("exercise_id")])[0], (args[1:] + [kwargs.get("points", 1.0)])[0]
                if not EXERCISE_ID.match(str(ex_id)):
                    raise ValueError(ex_id)
                rows.append((node.lineno, GraderInfo(str(ex_id), float(points), node.name, path.stem)))
            except (ValueError, TypeError, IndexError):
                return None
    return [info for _, info in sorted(rows, key=lambda r: r[0])]


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
