"""The chapter registry, read from the chapters' own files (nothing here is a hand-kept list).

A chapter is ``notebooks/NN_<topic>.ipynb`` whose metadata holds a card (``metadata["molpractice"]``:
``chapter``, ``module``, ``summary``, ``minutes`` {``cpu_full``, ``cpu_fast``: CPU time, user + sys, of a full
and a fast run; with one torch thread that is the wall time of an idle machine and does not grow with load},
``machine``, optional
``benchmark``), plus ``solutions/<module>.py`` whose docstring lists its exercises (``N.M name``). The
title is the notebook's first heading. From these :func:`chapters` builds the registry, and
:func:`write_tables` regenerates the chapter tables of ``README.md`` and ``notebooks/00_start_here.ipynb``
between the markers ``<!-- chapters:begin -->`` and ``<!-- chapters:end -->``.

:func:`show_spec` renders an exercise's docstring — the one spec — in a notebook.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import re
from pathlib import Path

EXERCISE_ID = re.compile(r"^\d+\.\d+$")
_CHAPTER = re.compile(r"^(?:ch)?0*(\d+)(?:_\w*)?$")
BEGIN_TABLE, END_TABLE = "<!-- chapters:begin -->", "<!-- chapters:end -->"


def chapter_number(text) -> int | None:
    """The chapter number named by ``text`` (``3``, ``"03"``, ``"ch03"``, ``"ch03_uncertainty"``), or None."""
    m = _CHAPTER.match(str(text).strip().lower())
    return int(m.group(1)) if m else None


@dataclasses.dataclass(frozen=True)
class Chapter:
    """One chapter as its files describe it."""

    number: int
    title: str
    notebook: str          # file name inside notebooks/
    module: str            # chapter module name, e.g. "ch01_solubility_gnn"
    summary: str
    exercises: tuple       # ((id, name), …) in id order
    minutes_full: float | None
    minutes_fast: float | None
    machine: str
    benchmark: str | None  # module with run_benchmark(...), e.g. "molpractice.solubility"
    wall_full: float | None = None  # elapsed wall minutes of the full run, when measured with worker processes
    workers: int | None = None      # worker processes of that run (its notebook prints the count)
    wall_load: str | None = None    # the machine's load during that run, as measured (e.g. "an otherwise idle machine")
    workers_task: str | None = None  # what the workers do (default "training the ensemble members", chapter 3's)

    @property
    def exercise_range(self) -> str:
        ids = sorted({i for i, _ in self.exercises}, key=lambda i: tuple(map(int, i.split("."))))
        if not ids:
            return "—"
        return ids[0] if len(ids) == 1 else f"{ids[0]}–{ids[-1]}"


def _title(nb: dict, path: Path) -> str:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError(f"{path}: no '# NN · Title' heading in any markdown cell")


def chapters(repo: str | Path | None = None) -> list[Chapter]:
    """Every chapter of the repository, in chapter order.

    Raises:
        ValueError: naming the notebook whose card is missing or incomplete.
    """
    from .exercisegen import exercise_ids
    from .repository import find_repo

    repo = find_repo(repo)
    out = []
    for path in sorted((repo / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text())
        card = nb.get("metadata", {}).get("molpractice")
        if not card:
            raise ValueError(f"{path.name}: no chapter card in its metadata (metadata['molpractice']; see "
                             f"CONTRIBUTING.md)")
        missing = {"chapter", "module", "summary", "minutes"} - set(card)
        if missing:
            raise ValueError(f"{path.name}: chapter card lacks {sorted(missing)}")
        solution = repo / "solutions" / f"{card['module']}.py"
        if not solution.is_file():
            raise ValueError(f"{path.name}: its card names module {card['module']!r} but {solution} does not exist")
        ids = exercise_ids(solution.read_text())
        exercises = tuple(sorted(((i, n) for n, i in ids.items()), key=lambda p: tuple(map(int, p[0].split(".")))))
        minutes = card["minutes"]
        out.append(Chapter(int(card["chapter"]), _title(nb, path), path.name, card["module"], card["summary"],
                           exercises, minutes.get("cpu_full"), minutes.get("cpu_fast"),
                           card.get("machine", "2-core CPU"), card.get("benchmark"), minutes.get("wall_full"),
                           minutes.get("workers"), minutes.get("wall_load"), minutes.get("workers_task")))
    numbers = [c.number for c in out]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"two notebooks claim the same chapter number: {numbers}")
    return out


def find_chapter(which, repo=None) -> Chapter:
    """The chapter named by ``which`` (``3``, ``"ch03"``, …). Raises ValueError listing the known ones."""
    number = chapter_number(which)
    known = chapters(repo)
    for c in known:
        if c.number == number:
            return c
    raise ValueError(f"no chapter {which!r}; known: {', '.join(f'ch{c.number:02d}' for c in known)}")


def _minutes(value) -> str:
    if value is None:
        return "—"
    return f"~{value:g} min" if value >= 1 else f"~{round(value * 60):d} s"


def table_markdown(repo=None) -> str:
    """The chapter table (Markdown) shown in README.md and the start-here notebook."""
    rows = ["| notebook | what you practise | exercises | full run (CPU time) | fast run (CPU time) |",
            "|---|---|---|---|---|"]
    for c in chapters(repo):
        rows.append(f"| `{Path(c.notebook).stem}` | {c.summary} | {c.exercise_range} | {_minutes(c.minutes_full)} "
                    f"| {_minutes(c.minutes_fast)} |")
    machine = {c.machine for c in chapters(repo)}
    rows.append("")
    parallel = [c for c in chapters(repo) if c.workers and c.workers > 1 and c.wall_full is not None]
    wall = "".join(f" Chapter {c.number} uses {c.workers} worker processes "
                   f"({c.workers_task or 'training the ensemble members'}): its full run took "
                   f"{_minutes(c.wall_full)} of elapsed wall time (its Time line says under what load)." for c in parallel)
    rows.append(f"Times are CPU time (user + sys, child processes included) measured on a {', '.join(sorted(machine))} "
                f"(full: reference solutions, full mode; fast: the CI run); for a chapter that runs one process at a "
                f"time with one torch thread, an idle machine's wall time is about the same and a busy one's longer."
                f"{wall} Generated by `molpractice chapters --write` from the notebooks' chapter cards.")
    return "\n".join(rows)


def _replace_between(text: str, new: str, where: str) -> str:
    if BEGIN_TABLE not in text or END_TABLE not in text:
        raise ValueError(f"{where}: markers {BEGIN_TABLE} … {END_TABLE} not found")
    head, rest = text.split(BEGIN_TABLE, 1)
    _, tail = rest.split(END_TABLE, 1)
    return f"{head}{BEGIN_TABLE}\n{new}\n{END_TABLE}{tail}"


def time_line(chapter: Chapter) -> str:
    """The "**Time:**" paragraph of a chapter notebook's first cell, from its card's measured minutes. A card that
    records the full run's elapsed wall time with worker processes (``wall_full``, ``workers``) gets that instead of
    "about the wall time on an idle machine" (with several workers the wall time is shorter than the CPU time), and
    the load it was measured under (``wall_load``; default "a machine shared with other work")."""
    if chapter.wall_full is not None and chapter.workers:
        return (f"**Time:** {_minutes(chapter.minutes_full)} in full mode, {_minutes(chapter.minutes_fast)} in fast "
                f"mode (`MOLPRACTICE_FAST=1`): CPU time (user + sys, all processes) measured on a {chapter.machine} with "
                f"the reference solutions; the measured full run took {_minutes(chapter.wall_full)} of elapsed wall time "
                f"with {chapter.workers} worker process{'es' if chapter.workers != 1 else ''} "
                f"{chapter.workers_task or 'training the ensemble members'} (the notebook prints the count), on {chapter.wall_load or 'a machine shared with other work'} (generated from the "
                f"chapter card by `molpractice chapters --write`).")
    return (f"**Time:** {_minutes(chapter.minutes_full)} in full mode, {_minutes(chapter.minutes_fast)} in fast mode "
            f"(`MOLPRACTICE_FAST=1`): CPU time (user + sys) measured on a {chapter.machine} with the reference "
            f"solutions — about the wall time on an idle machine, longer on a busy one (generated from the chapter "
            f"card by `molpractice chapters --write`).")


def _with_time_line(text: str, line: str, where: str) -> str:
    """``text`` with its "**Time:**" paragraph (up to the next blank line) replaced by ``line``."""
    match = re.search(r"^\*\*Time:\*\*.*?(?=\n\s*\n|\Z)", text, re.S | re.M)
    if not match:
        raise ValueError(f"{where}: the first cell has no '**Time:**' paragraph")
    return text[:match.start()] + line + text[match.end():]


def write_tables(repo=None, check: bool = False) -> list[str]:
    """Regenerate the chapter tables and every notebook's Time line; with ``check``, only report which
    files are stale.

    Returns:
        The relative paths that were (or would be) rewritten.
    """
    from .repository import find_repo

    repo = find_repo(repo)
    table = table_markdown(repo)
    stale = []
    readme = repo / "README.md"
    text = readme.read_text()
    new = _replace_between(text, table, "README.md")
    if new != text:
        stale.append("README.md")
        if not check:
            readme.write_text(new)
    import nbformat

    start = repo / "notebooks" / "00_start_here.ipynb"
    nb = nbformat.read(start, as_version=4)
    changed = False
    for cell in nb["cells"]:
        src = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown" and BEGIN_TABLE in src:
            new_src = _replace_between(src, table, start.name)
            if new_src != src:
                cell["source"] = new_src
                changed = True
    if not any(BEGIN_TABLE in "".join(c.get("source", "")) for c in nb["cells"]):
        raise ValueError(f"{start.name}: no markdown cell holds the markers {BEGIN_TABLE} … {END_TABLE}")
    if changed:
        stale.append("notebooks/00_start_here.ipynb")
        if not check:
            nbformat.write(nb, start)
    for chapter in chapters(repo):
        path = repo / "notebooks" / chapter.notebook
        book = nbformat.read(path, as_version=4)
        first = book.cells[0]
        new_first = _with_time_line(first.source, time_line(chapter), chapter.notebook)
        if new_first != first.source:
            rel = f"notebooks/{chapter.notebook}"
            if rel not in stale:
                stale.append(rel)
            if not check:
                # the start-here notebook may have been rewritten above: edit the file as it is now
                book = nbformat.read(path, as_version=4)
                book.cells[0].source = _with_time_line(book.cells[0].source, time_line(chapter), chapter.notebook)
                nbformat.write(book, path)
    return stale


# ------------------------------------------------------------------------------------------ specs
class _Named:
    """A default value shown by name in a signature (``np.mean`` instead of ``<function mean at 0x…>``)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _readable_signature(sig: inspect.Signature) -> inspect.Signature:
    """``sig`` with every function/class default replaced by its dotted name (numpy as ``np.``)."""
    params = []
    for p in sig.parameters.values():
        d = p.default
        if p.default is not p.empty and callable(d) and hasattr(d, "__qualname__"):
            module = getattr(d, "__module__", None) or ""
            root = module.split(".")[0]
            prefix = {"numpy": "np.", "builtins": ""}.get(root, f"{module}." if module else "")
            p = p.replace(default=_Named(prefix + d.__qualname__))
        params.append(p)
    return sig.replace(parameters=params)


def spec_of(exercise_id: str, repo=None) -> list[tuple[str, str, str]]:
    """``[(name, signature, docstring), …]`` of the functions/classes of exercise ``exercise_id``, read from
    the reference solution (the stubs carry the same text).

    Raises:
        ValueError: for an unknown exercise id.
    """
    import importlib

    from .implementations import ensure_importable

    if not EXERCISE_ID.match(str(exercise_id)):
        raise ValueError(f"an exercise id looks like '1.2', got {exercise_id!r}")
    number = int(str(exercise_id).split(".")[0])
    chapter = find_chapter(number, repo)
    ensure_importable(repo)
    module = importlib.import_module(f"solutions.{chapter.module}")
    names = [n for i, n in chapter.exercises if i == str(exercise_id)]
    if not names:
        raise ValueError(f"no exercise {exercise_id} in {chapter.module}; it has "
                         f"{', '.join(i for i, _ in chapter.exercises)}")
    out = []
    for name in names:
        obj = getattr(module, name)
        try:
            sig = str(_readable_signature(inspect.signature(obj)))  # np.mean, not <function mean at 0x…>
        except (TypeError, ValueError):
            sig = "(…)"
        out.append((name, sig, inspect.getdoc(obj) or ""))
    return out


def spec_markdown(exercise_id: str, repo=None) -> str:
    """The spec of an exercise as Markdown: the signature in a code block, then the docstring."""
    parts = []
    for name, sig, doc in spec_of(exercise_id, repo):
        kind = "class" if sig.startswith("(") and name[:1].isupper() else "def"
        parts.append(f"**Exercise {exercise_id} — `{name}`**\n\n```python\n{kind} {name}{sig}\n```\n\n"
                     f"```text\n{doc}\n```")
    return "\n\n".join(parts)


def show_spec(exercise_id: str) -> None:
    """Display the spec of exercise ``exercise_id`` (its docstring) — rendered Markdown in a notebook,
    plain text elsewhere. The docstring is the single spec: the notebook never restates it."""
    text = spec_markdown(exercise_id)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display

        if get_ipython() is not None:
            display(Markdown(text))
            return
    except ImportError:
        pass
    print(text)
