"""Where the curriculum repository is: the folder with ``solutions/``, ``exercises/`` and ``tests/graders/``.

Imports nothing from the rest of the package, so every module may use it.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


def find_repo(start: str | Path | None = None) -> Path:
    """The curriculum repository holding ``start`` (default: the current folder, then this package).

    Raises:
        FileNotFoundError: if no such folder contains ``start`` or this package.
    """
    candidates = [Path(start).resolve()] if start is not None else [Path.cwd(), PACKAGE_ROOT]
    for first in candidates:
        for folder in (first, *first.parents):
            if (folder / "solutions").is_dir() and (folder / "exercises").is_dir() \
                    and (folder / "tests" / "graders").is_dir():
                return folder
    raise FileNotFoundError(
        f"no molpractice repository (a folder with solutions/, exercises/ and tests/graders/) "
        f"contains {candidates[0]}; run the command inside your copy of the curriculum")


def load_record(path, default: str, keys, what: str = "record") -> tuple[dict, Path]:
    """A committed JSON record and its path: ``path``, or ``default`` (relative to the repository) when None.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file and the missing key(s) of ``keys``.
    """
    import json

    path = Path(path) if path is not None else find_repo() / default
    record = json.loads(path.read_text(encoding="utf-8"))
    missing = [k for k in keys if k not in record]
    if missing:
        raise ValueError(f"{path}: {what} lacks key(s) {missing}")
    return record, path
