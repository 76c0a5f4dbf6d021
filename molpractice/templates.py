"""The skeleton of a new chapter notebook (``molpractice new-notebook``), after ../shared/STYLE.md.

:func:`notebook_skeleton` builds the notebook CONTRIBUTING.md describes — title, badge, goals, time, the
shared setup cell, Background, one section per exercise listed in the solution module's docstring (spec
cell, hint, use, checked ``mp.check``), Results, Diagnostics, Interview angle, Going further, References —
with the chapter card in its metadata. The author fills the prose and code, then executes it.
"""
from __future__ import annotations

from pathlib import Path


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": text}


def notebook_skeleton(number: int, module: str, title: str, exercises, summary: str = "(one line: what you practise)"):
    """An unexecuted ``nbformat`` v4 notebook for chapter ``number``.

    Args:
        number: chapter number (0–99); module: chapter module name, e.g. ``"ch06_active_learning"``;
        title: title without the number; exercises: ``[(id, name), …]`` from the solution docstring.
    """
    import nbformat

    from .colab import badge_markdown, setup_cell_source

    name = f"{number:02d}_{module.split('_', 1)[1]}.ipynb"
    cells = [
        _md(f"# {number:02d} · {title}\n\n**Aim:** (one line)\n\n{badge_markdown(name)}\n\n## You will learn\n- …\n- …\n- …\n\n"
            f"**Time:** see the chapter table in `00_start_here` (measured; filled in by the chapter card).\n"),
        _code(setup_cell_source()),
        _code(f'ch = mp.load_chapter("{module}")\n'),
        _md("## Background\n\nThe maths the exercises implement, in LaTeX, with a citation for each equation.\n"),
    ]
    for ex, func in exercises:
        cells += [_md(f"## Exercise {ex} — `{func}`\n\nWhy this matters here (the spec and its stepped hints are the "
                          "docstring shown below: one source, so they cannot drift apart).\n"),
                  _code(f'mp.show_spec("{ex}")'),
                  _code(f"# use ch.{func} on this chapter's data\n"),
                  _code(f'# NBVAL_CHECK_OUTPUT\nmp.check("{ex}")')]
    cells += [_md("## Results\n\nA table and a figure per idea; one sentence under each figure.\n"),
              _md("## Diagnostics\n\nWhat can go wrong and the check that shows it — run, not described.\n"),
              _md("## Interview angle\n\n2–4 questions, answered with this notebook's numbers (printed below).\n"),
              _md("## Going further\n\n- …\n"),
              _md("## References\n\n- …\n")]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.from_dict(c) for c in cells]
    for cell in nb.cells:
        cell.setdefault("id", nbformat.corpus.words.generate_corpus_id())
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["molpractice"] = {"chapter": number, "module": module, "summary": summary,
                                  "minutes": {"cpu_full": None, "cpu_fast": None}, "machine": "2-core CPU"}
    return nb, name


def write_notebook_skeleton(module: str, title: str, repo=None) -> Path:
    """Write ``notebooks/NN_<topic>.ipynb`` for the existing ``solutions/<module>.py``; never overwrites.

    Raises:
        FileNotFoundError: if the solution module does not exist; FileExistsError: if the notebook does.
    """
    import nbformat

    from .chapters import chapter_number
    from .exercisegen import exercise_ids
    from .repository import find_repo

    repo = find_repo(repo)
    solution = repo / "solutions" / f"{module}.py"
    if not solution.is_file():
        raise FileNotFoundError(f"write {solution} first: the notebook's exercise sections come from its docstring")
    number = chapter_number(module)
    if number is None:
        raise ValueError(f"module {module!r} must be named chNN_<topic>")
    ids = exercise_ids(solution.read_text())
    exercises = sorted(((i, n) for n, i in ids.items()), key=lambda p: tuple(map(int, p[0].split("."))))
    nb, name = notebook_skeleton(number, module, title, exercises)
    path = repo / "notebooks" / name
    if path.exists():
        raise FileExistsError(f"{path} exists; not overwritten")
    nbformat.write(nb, path)
    return path
