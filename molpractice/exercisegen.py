"""Generate learner stubs (``exercises/``) from reference solutions (``solutions/``).

In ``solutions/chNN_<topic>.py`` the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` (inside a
function or method body) are what the learner writes. Each block becomes one
``raise NotImplementedError("Exercise N.M: ...")`` at the same indentation; everything else (imports,
signatures, docstrings with hints, argument validation) is copied unchanged.

The exercise id of a block comes from the module docstring's list::

    Exercises
    ---------
    1.1 murcko_scaffold
    1.5 SolubilityGNN

matched against the enclosing function, or for a method against its class.
"""
from __future__ import annotations

import re
from pathlib import Path

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STUB_MARKER = 'raise NotImplementedError("Exercise '  # how every generated stub starts
HEADER = ("# Generated from solutions/{name} by `molpractice make-exercises` — write your code in place of "
          "each `raise NotImplementedError`.\n")
_DEF = re.compile(r"^(\s*)(?:async\s+)?(def|class)\s+([A-Za-z_]\w*)")
_LIST_ROW = re.compile(r"^\s*(\d+\.\d+)\s+([A-Za-z_]\w*)\s*$")


class MarkerError(ValueError):
    """Unbalanced or misplaced solution markers; the message names the file and line."""


def exercise_ids(source: str) -> dict[str, str]:
    """Map function/class name → exercise id, from the module docstring's ``Exercises`` section."""
    match = re.search(r'^\s*(?:"""|\'\'\')(.*?)(?:"""|\'\'\')', source, re.S)
    ids, in_section = {}, False
    for line in (match.group(1) if match else "").splitlines():
        if line.strip() == "Exercises":
            in_section = True
            continue
        if in_section:
            row = _LIST_ROW.match(line)
            if row:
                ids[row.group(2)] = row.group(1)
            elif line.strip() and not set(line.strip()) <= {"-"}:
                break
    return ids


def _enclosing(lines: list[str], index: int, indent: int) -> list[str]:
    """Names of the defs/classes that enclose line ``index`` (innermost first)."""
    names, limit = [], indent
    for line in reversed(lines[:index]):
        m = _DEF.match(line)
        if m and len(m.group(1)) < limit:
            names.append(m.group(3))
            limit = len(m.group(1))
            if limit == 0:
                break
    return names


def make_stub(source: str, filename: str = "<solution>") -> str:
    """Return the exercise stub text for one solution module's ``source``.

    Raises:
        MarkerError: on a BEGIN without END, END without BEGIN, nested BEGIN, a marker outside any
            function, mismatched indentation, or a block whose function is not in the Exercises list.
    """
    ids = exercise_ids(source)
    lines = source.splitlines(keepends=True)
    out, open_at, blocks = [], None, 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        where = f"{filename}:{i + 1}"
        if stripped == BEGIN:
            if open_at is not None:
                raise MarkerError(f"{where}: '{BEGIN}' inside the block opened at line {open_at + 1}")
            open_at = i
            indent = len(line) - len(line.lstrip())
            enclosing = _enclosing(lines, i, indent)
            if not enclosing:
                raise MarkerError(f"{where}: '{BEGIN}' must be inside a function body")
            exercise = next((ids[n] for n in enclosing if n in ids), None)
            if exercise is None:
                raise MarkerError(f"{where}: the block in {'.'.join(reversed(enclosing))} belongs to no exercise; "
                                  f"list it in the module docstring's 'Exercises' section (known: {ids or 'none'})")
            label = ".".join(reversed(enclosing))
            out.append(" " * indent + STUB_MARKER + f'{exercise}: implement {label} '
                                      f'(see its docstring), then run mp.check(\\"{exercise}\\")")\n')
            blocks += 1
        elif stripped == END:
            if open_at is None:
                raise MarkerError(f"{where}: '{END}' without a matching '{BEGIN}'")
            if len(line) - len(line.lstrip()) != len(lines[open_at]) - len(lines[open_at].lstrip()):
                raise MarkerError(f"{where}: '{END}' is not indented like its '{BEGIN}' (line {open_at + 1})")
            open_at = None
        elif open_at is None:
            out.append(line)
        elif stripped.startswith(("# BEGIN", "# END")):
            raise MarkerError(f"{where}: unknown marker {stripped!r}; use '{BEGIN}' / '{END}'")
    if open_at is not None:
        raise MarkerError(f"{filename}:{open_at + 1}: '{BEGIN}' is never closed by '{END}'")
    if blocks == 0 and ids:
        raise MarkerError(f"{filename}: lists exercises {sorted(set(ids.values()))} but has no '{BEGIN}' block")
    text = "".join(out)
    return HEADER.format(name=Path(filename).name) + text


def _stub_count(text: str) -> int:
    return text.count(STUB_MARKER)


def make_exercises(repo: Path, check: bool = False, force: bool = False) -> list[str]:
    """Write ``exercises/chNN_*.py`` for every ``solutions/chNN_*.py`` (``check``: only compare).

    A file that holds fewer stubs than it would get looks like a learner's work; it is not overwritten
    unless ``force`` is true.

    Returns:
        The file names that were (or, with ``check``, would be) rewritten or removed.
    Raises:
        FileExistsError: when a file with learner code would be overwritten and ``force`` is false.
    """
    sol_dir, ex_dir = Path(repo) / "solutions", Path(repo) / "exercises"
    changed = []
    wanted = {}
    for path in sorted(sol_dir.glob("ch*.py")):
        wanted[path.name] = make_stub(path.read_text(), filename=f"solutions/{path.name}")
    for name, text in wanted.items():
        target = ex_dir / name
        if not target.exists() or target.read_text() != text:
            if not check and not force and target.exists() and _stub_count(target.read_text()) < _stub_count(text):
                raise FileExistsError(f"{target} contains code written in place of a stub; refusing to overwrite "
                                      f"it (use --force to replace it with fresh stubs)")
            changed.append(name)
            if not check:
                target.write_text(text)
    for stale in sorted(ex_dir.glob("ch*.py")):
        if stale.name not in wanted:
            changed.append(stale.name)
            if not check:
                stale.unlink()
    return changed
