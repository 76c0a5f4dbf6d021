"""Executing the curriculum's notebooks in place (what ``molpractice execute`` runs).

Notebooks are stored executed with the reference solutions in full mode, on a CPU, so a reader sees
real output. :func:`execute_notebook` runs one top to bottom in a fresh kernel, from ``notebooks/``, with
the chosen implementation and mode, and writes it back only when every cell ran without error.

Progress bars: in a kernel ``tqdm.auto`` draws an ipywidgets bar. Its output keeps the text it had when it
was *displayed* (``0%``) as its ``text/plain``, and every later update goes only to the widget's state, which
the executor saves in the notebook's metadata. A reader without live widgets (GitHub, nbviewer, a notebook
opened before its kernel starts, ``nbconvert --to markdown``) therefore saw every bar at 0 %.
:func:`complete_progress_bars` rewrites that text from the saved final state, and :func:`execute_notebook`
calls it before writing, so stored bars show where they ended (``15/15``, or where early stopping stopped).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

# a cell that only shows an exercise's spec: its output is the docstring rendered by chapters.spec_markdown
SPEC_CELL = re.compile(r"""^\s*mp\.show_spec\(\s*["'](\d+\.\d+)["']\s*\)\s*;?\s*$""")


def notebook_path(which, repo=None) -> Path:
    """The notebook named by ``which``: a path, or a chapter (``3``, ``"03"``, ``"ch03"``)."""
    from .chapters import chapter_number, find_chapter
    from .repository import find_repo

    path = Path(str(which))
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise FileNotFoundError(f"no notebook {path}")
        return path.resolve()
    if chapter_number(which) is None:
        raise ValueError(f"{which!r} is neither a notebook path nor a chapter number")
    return find_repo(repo) / "notebooks" / find_chapter(which, repo).notebook


def execute_notebook(which, fast: bool = False, implementation: str = "solutions", timeout: float | None = None,
                     repo=None) -> float:
    """Run a notebook top to bottom in a fresh kernel and store its outputs in place.

    Args:
        which: notebook path or chapter number.
        fast: ``MOLPRACTICE_FAST=1`` (outputs of a fast run are for a quick look, not for committing).
        implementation: ``"solutions"`` (what is committed) or ``"exercises"``.
        timeout: seconds per cell (None: no limit).
    Returns:
        Wall time in seconds.
    Raises:
        RuntimeError: naming the cell that failed; the file is left unchanged then.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = notebook_path(which, repo)
    nb = nbformat.read(path, as_version=4)
    env = {"MOLPRACTICE_IMPL": implementation, "MOLPRACTICE_FAST": "1" if fast else "0", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    start = time.perf_counter()
    print(f"executing {path.name} ({'fast' if fast else 'full'} mode, {implementation}) …", flush=True)
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    except CellExecutionError as err:
        raise RuntimeError(f"{path.name}: a cell failed; the notebook was not rewritten:\n{str(err)[:3000]}") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    complete_progress_bars(nb)
    nbformat.write(nb, path)
    print(f"{path.name}: executed in {seconds / 60:.1f} min and written", flush=True)
    return seconds


def _widget_state(nb) -> dict:
    widgets = (nb.get("metadata") or {}).get("widgets") or {}
    return (widgets.get("application/vnd.jupyter.widget-state+json") or {}).get("state") or {}


def progress_bar_text(state: dict, model_id: str) -> str | None:
    """The text of a tqdm notebook bar (an HBox of HTML, a progress bar, HTML) from saved widget state, as
    tqdm prints it (``training: 100%|██████████| 15/15 [00:03<00:00, …]``); None for any other widget."""
    import html

    from tqdm.std import Bar

    def model(ref):
        ref = ref[len("IPY_MODEL_"):] if isinstance(ref, str) and ref.startswith("IPY_MODEL_") else ref
        entry = state.get(ref) or {}
        return entry.get("model_name"), entry.get("state") or {}

    name, box = model(model_id)
    children = box.get("children") or []
    if name != "HBoxModel" or len(children) != 3:
        return None
    kinds = [model(c) for c in children]
    if [k for k, _ in kinds] != ["HTMLModel", kinds[1][0], "HTMLModel"] or kinds[1][0] not in (
            "FloatProgressModel", "IntProgressModel"):
        return None
    (_, left), (_, bar), (_, right) = kinds

    def text(value):
        return html.unescape(value or "").replace("\u2007", " ")

    value, top = float(bar.get("value") or 0), float(bar.get("max") or 0)
    if top <= 0:
        return (text(left.get("value")) + " " + text(right.get("value"))).strip()
    drawn = format(Bar(min(max(value / top, 0.0), 1.0), default_len=10, charset=Bar.UTF), "")
    return f"{text(left.get('value'))}|{drawn}|{text(right.get('value'))}"


def complete_progress_bars(nb) -> int:
    """Set the ``text/plain`` of every stored tqdm widget output to the bar's final state (from the widget
    state saved in the notebook's metadata); return how many outputs changed. Other outputs are untouched."""
    state = _widget_state(nb)
    changed = 0
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data") or {}
            view = data.get("application/vnd.jupyter.widget-view+json")
            if not view:
                continue
            text = progress_bar_text(state, view.get("model_id", ""))
            if text is not None and text != "".join(data.get("text/plain", "")):
                data["text/plain"] = text
                changed += 1
    return changed


def _spec_cells(nb):
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "code":
            match = SPEC_CELL.match("".join(cell.get("source", "")))
            if match:
                yield index, cell, match.group(1)


def _spec_markdown(cell) -> str | None:
    for output in cell.get("outputs", []):
        text = (output.get("data") or {}).get("text/markdown")
        if text is not None:
            return "".join(text)
    return None


def stale_specs(nb, repo=None) -> list[tuple[int, str]]:
    """``(cell index, exercise id)`` of every ``mp.show_spec("N.M")`` cell whose stored output is not the
    exercise's current docstring (the spec changed after the notebook was executed)."""
    from .chapters import spec_markdown

    return [(index, exercise) for index, cell, exercise in _spec_cells(nb)
            if _spec_markdown(cell) != spec_markdown(exercise, repo)]


def refresh_specs(which, repo=None) -> list[str]:
    """Rewrite the stored output of every stale ``mp.show_spec("N.M")`` cell with the current docstring, exactly
    as ``show_spec`` displays it in a kernel (Markdown), without re-running the notebook: the output of such a
    cell depends on nothing but the docstring. Execution counts and every other output are kept. Returns the
    exercise ids refreshed (the file is written only when there are some)."""
    import nbformat

    from .chapters import spec_markdown

    path = notebook_path(which, repo)
    nb = nbformat.read(path, as_version=4)
    stale = dict(stale_specs(nb, repo))
    for index, cell, exercise in _spec_cells(nb):
        if index in stale:
            cell["outputs"] = [nbformat.v4.new_output(
                "display_data", data={"text/markdown": spec_markdown(exercise, repo),
                                      "text/plain": "<IPython.core.display.Markdown object>"})]
    if stale:
        nbformat.write(nb, path)
    return list(stale.values())
