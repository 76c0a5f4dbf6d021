"""Executing the curriculum's notebooks in place (what ``molpractice execute`` runs).

Notebooks are stored executed with the reference solutions in full mode, on a CPU, so a reader sees
real output. :func:`execute_notebook` runs one top to bottom in a fresh kernel, from ``notebooks/``, with
the chosen implementation and mode, and writes it back only when every cell ran without error.
"""
from __future__ import annotations

import os
import time
from pathlib import Path


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
    nbformat.write(nb, path)
    print(f"{path.name}: executed in {seconds / 60:.1f} min and written", flush=True)
    return seconds
