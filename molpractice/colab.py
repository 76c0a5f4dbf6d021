"""Colab support: the one setup cell every notebook starts with, the repository it fetches, and the badge.

``REPO_URL`` and ``REPO_REF`` are the only place the repository address is written: ``setup_cell_source()``
renders the cell and ``badge_markdown()`` the "Open in Colab" badge from them, and a test checks that every
notebook's first code cell and badge are exactly these. A fork or a workshop points everything at itself
with one command, ``molpractice colab-links https://github.com/OWNER/REPO --ref BRANCH`` (which rewrites the two
constants and every notebook's setup cell and badge, see :func:`rewrite_links`); a single run can also be
redirected without editing anything, by setting ``MOLPRACTICE_REPO`` / ``MOLPRACTICE_REF`` before the cell.

On Colab the cell clones the repository into ``/content/molpractice`` (``MOLPRACTICE_HOME``), then calls
:func:`install_on_colab`, which installs only what Colab lacks (:data:`COLAB_PACKAGES`) with Colab's own
PyTorch held by a constraint, and the package itself without dependencies. Both steps are safe to re-run: the
clone goes to a temporary folder renamed only when complete, and the install is marked done only when pip
succeeded. Everywhere else the cell only imports ``molpractice`` and calls ``mp.setup()``.

Then it keeps the learner's work on Google Drive (:func:`keep_work_on_drive`; ``MOLPRACTICE_DRIVE=0`` opts out):
Drive is mounted and ``exercises/`` of the clone becomes a link to ``MyDrive/molpractice/exercises``. The whole
folder is linked, not file by file: every way of saving a file there lands on Drive (Colab's editor or a tool that
saves by writing a new file and renaming it would replace a per-file link with a local file; a new helper module,
``restore-work``), and ``import exercises`` works unchanged because the folder keeps its name. See
:func:`link_exercises` for what happens to the files; without Drive the cell says plainly that work is not kept
and how to save it (``mp.save_work()``, ``molpractice restore-work``).

This module imports nothing heavy: the setup cell imports it from the fresh clone before anything is installed.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_URL = "https://github.com/molpractice/molpractice"
REPO_REF = "main"

#: What Colab lacks, with the lower bounds of pyproject.toml (a test keeps them equal).
COLAB_PACKAGES = ("rdkit>=2023.9", "datamol>=0.12", "torch-geometric>=2.5")
#: Import names of :data:`COLAB_PACKAGES`, checked before deciding that the install is done.
COLAB_MODULES = ("rdkit", "datamol", "torch_geometric")
#: Written into the checkout once the install succeeded (content: the pip commands that ran).
MARKER = ".molpractice-colab-installed"

_SETUP_CELL = '''# Setup. On Colab: fetch the curriculum (MOLPRACTICE_REPO / MOLPRACTICE_REF say where from), install
# what Colab lacks, keep Colab's own PyTorch, and keep exercises/ on Google Drive (asks to mount Drive;
# MOLPRACTICE_DRIVE=0 skips it). Elsewhere: nothing to install. Safe to re-run.
import os, shutil, subprocess, sys
if "google.colab" in sys.modules:
    home = os.environ.get("MOLPRACTICE_HOME", "/content/molpractice")
    if not os.path.isdir(os.path.join(home, ".git")):
        repo = os.environ.get("MOLPRACTICE_REPO", "{url}")
        ref = os.environ.get("MOLPRACTICE_REF", "{ref}")
        print(f"molpractice: cloning {{repo}} ({{ref}}) into {{home}}", flush=True)
        shutil.rmtree(home + ".partial", ignore_errors=True)
        r = subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", ref, repo, home + ".partial"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"molpractice setup: could not clone {{repo}} at {{ref!r}}:\\n{{r.stderr.strip()}}\\n"
                               "Fix MOLPRACTICE_REPO / MOLPRACTICE_REF (os.environ[...] = ...) and re-run this cell.")
        os.replace(home + ".partial", home)
    if home not in sys.path:
        sys.path.insert(0, home)
    from molpractice.colab import install_on_colab
    install_on_colab(home)
    os.chdir(os.path.join(home, "notebooks"))
import molpractice as mp
mp.setup();'''

_BADGE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]"
                    r"\(https://colab\.research\.google\.com/github/[^)\s]*\)")
_GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def setup_cell_source(url: str | None = None, ref: str | None = None) -> str:
    """The exact source of the first code cell of every notebook (default: :data:`REPO_URL`, :data:`REPO_REF`)."""
    return _SETUP_CELL.format(url=url or REPO_URL, ref=ref or REPO_REF)


def github_path(url: str) -> str:
    """``OWNER/REPO`` of a GitHub address.

    Raises:
        ValueError: if ``url`` is not ``https://github.com/OWNER/REPO`` (Colab opens notebooks from GitHub only).
    """
    match = _GITHUB.match(url.strip())
    if not match:
        raise ValueError(f"{url!r} is not https://github.com/OWNER/REPO: Colab badges open notebooks from GitHub "
                         f"only (another host can still be cloned: set MOLPRACTICE_REPO before the setup cell)")
    return f"{match.group(1)}/{match.group(2)}"


def badge_markdown(notebook: str, url: str | None = None, ref: str | None = None) -> str:
    """A Markdown 'Open in Colab' badge for ``notebooks/<notebook>`` at ``ref`` of ``url``."""
    path = github_path(url or REPO_URL)
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/{ref or REPO_REF}/notebooks/{notebook})")


# ------------------------------------------------------------------------------------------ install
def _installed_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def install_commands(home: str | Path, constraints: str | Path, python: str | None = None) -> list[list[str]]:
    """The pip commands :func:`install_on_colab` runs: what Colab lacks (torch held by ``constraints``), then
    the checkout itself, editable and without dependencies (so nothing it lists can replace Colab's packages)."""
    python = python or sys.executable
    return [[python, "-m", "pip", "install", "-q", "-c", str(constraints), *COLAB_PACKAGES],
            [python, "-m", "pip", "install", "-q", "-c", str(constraints), "--no-deps", "-e", str(home)]]


def torch_constraint() -> str:
    """A pip constraint that keeps the installed PyTorch exactly as it is.

    Raises:
        RuntimeError: if no PyTorch is installed (every Colab runtime has one; this cell never installs it).
    """
    version = _installed_version("torch")
    if version is None:
        raise RuntimeError("molpractice setup: this runtime has no PyTorch, and the setup cell never installs it "
                           "(Colab's own build matches its GPU). Use a standard Colab runtime, or install torch first.")
    return f"torch=={version}\n"


def _missing_modules() -> list[str]:
    importlib.invalidate_caches()
    return [m for m in COLAB_MODULES if importlib.util.find_spec(m) is None]


def _git(home: Path, *args) -> str:
    result = subprocess.run(["git", "-C", str(home), *args], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def _warn_if_other_source(home: Path) -> None:
    """Say so when MOLPRACTICE_REPO / MOLPRACTICE_REF ask for another source than the checkout already there."""
    wanted = {name: os.environ.get(name) for name in ("MOLPRACTICE_REPO", "MOLPRACTICE_REF")}
    have = {"MOLPRACTICE_REPO": _git(home, "remote", "get-url", "origin"),
            "MOLPRACTICE_REF": _git(home, "rev-parse", "--abbrev-ref", "HEAD")}
    for name, value in wanted.items():
        if value and have[name] and value.rstrip("/") != have[name].rstrip("/"):
            print(f"molpractice: {name}={value} is ignored: {home} already holds {have[name]} "
                  f"(your exercises are there). To fetch again, move that folder away and re-run this cell.")


def install_on_colab(home: str | Path, quiet: bool = False, keep_work: bool = True) -> bool:
    """What the setup cell runs on Colab: :func:`install_once`, then (``keep_work``) :func:`keep_work_on_drive`.

    Returns True if it installed now. Raises as :func:`install_once`.
    """
    installed = install_once(home, quiet=quiet)
    if keep_work:
        keep_work_on_drive(home)
    return installed


def install_once(home: str | Path, quiet: bool = False) -> bool:
    """Install what Colab lacks and the checkout at ``home``, once; return True if it installed now.

    Skipped when ``home`` holds the marker of a successful install and every module of :data:`COLAB_MODULES`
    imports. PyTorch is never installed or replaced: a constraint pins the installed version. On failure
    nothing is marked done (re-running the cell retries) and the error names the command and pip's message.

    Raises:
        RuntimeError: when there is no PyTorch, or pip failed.
    """
    home = Path(home)
    if not quiet:
        _warn_if_other_source(home)
    marker = home / MARKER
    if marker.is_file() and not _missing_modules():
        if not quiet:
            print(f"molpractice: already installed from {home} (delete {marker} to reinstall)")
        return False
    marker.unlink(missing_ok=True)
    torch_pin = torch_constraint()
    with tempfile.TemporaryDirectory(prefix="molpractice-colab-") as tmp:
        constraints = Path(tmp) / "keep-torch.txt"
        constraints.write_text(torch_pin)
        commands = install_commands(home, constraints)
        for command in commands:
            if not quiet:
                print("molpractice: pip install " + " ".join(command[command.index("install") + 1:]), flush=True)
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
                raise RuntimeError(f"molpractice setup: installing failed (exit {result.returncode}) in\n  "
                                   f"{' '.join(command)}\n{tail}\nNothing was marked installed: fix the cause "
                                   f"(network? a conflict with {torch_pin.strip()}?) and re-run this cell.")
    missing = _missing_modules()
    if missing:
        raise RuntimeError(f"molpractice setup: pip succeeded but {', '.join(missing)} does not import; "
                           f"restart the runtime (Runtime → Restart session) and re-run this cell.")
    marker.write_text(json.dumps({"torch": torch_pin.strip(), "commands": [c[3:] for c in commands]}) + "\n")
    if not quiet:
        print(f"molpractice: installed ({torch_pin.strip()} kept).")
    return True


# ------------------------------------------------------------------------------------- fork / workshop
def _set_constant(source: str, name: str, value: str) -> str:
    pattern = re.compile(rf'^{name} = "[^"\n]*"$', re.M)
    if len(pattern.findall(source)) != 1:
        raise ValueError(f"molpractice/colab.py must hold exactly one line {name} = \"...\"")
    return pattern.sub(f'{name} = "{value}"', source)


def _split_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def rewrite_notebook(path: Path, url: str, ref: str, renderer=None) -> bool:
    """Set the first code cell and every Colab badge of one notebook; return True if the file changed.

    ``renderer`` is the module whose ``setup_cell_source`` / ``badge_markdown`` render them (default: this one;
    :func:`rewrite_links` passes the target repository's own ``molpractice/colab.py``).

    Only those two things change: the file is re-read just before writing and written in nbformat's layout
    (indent 1, keys in the order read, trailing newline), so no other cell, output or metadata moves.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    cell = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
    if cell is None:
        raise ValueError(f"{path.name} has no code cell")
    changed = False
    renderer = renderer or sys.modules[__name__]
    wanted = renderer.setup_cell_source(url, ref)
    if "".join(cell["source"]) != wanted:
        cell["source"] = _split_lines(wanted)
        changed = True
    badge = renderer.badge_markdown(path.name, url, ref)
    for c in nb["cells"]:
        if c["cell_type"] != "markdown":
            continue
        source = "".join(c["source"])
        new = _BADGE.sub(lambda _m: badge, source)
        if new != source:
            c["source"] = _split_lines(new)
            changed = True
    if changed:
        out = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if path.read_text(encoding="utf-8") != text:  # someone saved it meanwhile: start again from their version
            return rewrite_notebook(path, url, ref, renderer)
        path.write_text(out, encoding="utf-8")
    return changed


def _module_from_source(source: str, filename: str):
    import types

    module = types.ModuleType("molpractice_colab_of_target")
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def rewrite_links(repo: str | Path, url: str | None = None, ref: str | None = None,
                  check: bool = False) -> list[str]:
    """Point the setup cell and badges of ``<repo>/notebooks/NN_*.ipynb`` at ``url`` / ``ref``, and write both
    into ``<repo>/molpractice/colab.py``'s ``REPO_URL`` / ``REPO_REF`` (default: keep that file's values).

    Cell and badge are rendered by ``<repo>/molpractice/colab.py`` itself, so a fork's own template is used.
    With ``check=True`` nothing is written. Returns the files that changed (or would change).

    Raises:
        ValueError: if ``url`` is not a GitHub repository address or ``ref`` is empty or has spaces or quotes.
    """
    repo = Path(repo)
    module = repo / "molpractice" / "colab.py"
    source = module.read_text(encoding="utf-8")
    current = _module_from_source(source, str(module))
    url = (url or current.REPO_URL).strip().rstrip("/")
    url = url[:-4] if url.endswith(".git") else url
    ref = (ref or current.REPO_REF).strip()
    github_path(url)
    if not ref or re.search(r"[\s\"'\\]", ref):
        raise ValueError(f"--ref must be a branch or tag name, got {ref!r}")
    changed = []
    new_source = _set_constant(_set_constant(source, "REPO_URL", url), "REPO_REF", ref)
    if new_source != source:
        changed.append(str(module.relative_to(repo)))
        if not check:
            module.write_text(new_source, encoding="utf-8")
    renderer = _module_from_source(new_source, str(module))
    for path in sorted((repo / "notebooks").glob("[0-9]*.ipynb")):
        if check:
            with tempfile.TemporaryDirectory(prefix="molpractice-links-") as tmp:
                scratch = Path(tmp) / path.name
                scratch.write_bytes(path.read_bytes())
                stale = rewrite_notebook(scratch, url, ref, renderer)
        else:
            stale = rewrite_notebook(path, url, ref, renderer)
        if stale:
            changed.append(str(path.relative_to(repo)))
    return changed


# ------------------------------------------------------------------------------- keep work on Drive
#: Where Colab mounts Google Drive (``MOLPRACTICE_DRIVE_MOUNT`` overrides it; the tests point it at a folder).
DRIVE_MOUNT = "/content/drive"
#: The folder of ``MyDrive`` that holds ``exercises/`` (``MOLPRACTICE_DRIVE=<folder>`` chooses another).
DRIVE_FOLDER = "molpractice"
#: On Drive, next to ``exercises/``: the SHA-256 of every stub placed there (to tell untouched stubs from work).
STUB_RECORD = ".molpractice-stubs.json"
#: In the clone: the curriculum's current stub of every file whose Drive copy holds your own, different code.
NEW_STUBS = ".molpractice-new-stubs"
_OFF = {"0", "false", "no", "off"}
_ON = {"", "1", "true", "yes", "on"}


def drive_folder() -> str | None:
    """The ``MyDrive`` folder chosen by ``MOLPRACTICE_DRIVE`` (unset/1: ``molpractice``; 0: None = do not use Drive).

    Raises:
        ValueError: for an absolute path or one with ``..``.
    """
    raw = os.environ.get("MOLPRACTICE_DRIVE", "1").strip()
    if raw.lower() in _OFF:
        return None
    if raw.lower() in _ON:
        return DRIVE_FOLDER
    parts = raw.replace("\\", "/").strip("/").split("/")
    if raw.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"MOLPRACTICE_DRIVE={raw!r}: use 0 (no Drive), 1 (MyDrive/{DRIVE_FOLDER}) or a folder "
                         f"inside MyDrive such as courses/ml-2027")
    return "/".join(parts)


def _curriculum_stubs(home: Path) -> dict[str, bytes] | None:
    """``{relative path: content}`` of every ``exercises/*.py`` in the checkout's commit (git HEAD), or None."""
    import io
    import tarfile

    try:
        result = subprocess.run(["git", "-C", str(home), "archive", "--format=tar", "HEAD", "--", "exercises"],
                                capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    stubs = {}
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".py") and member.name.startswith("exercises/"):
                stubs[member.name[len("exercises/"):]] = tar.extractfile(member).read()
    return stubs or None


def _local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.py"))
            if p.is_file() and not any(part == "__pycache__" or part.startswith(".")
                                       for part in p.relative_to(folder).parts)}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _free_name(path: Path) -> Path:
    k, candidate = 1, path
    while candidate.exists() or candidate.is_symlink():
        k += 1
        candidate = path.with_name(f"{path.name}-{k}")
    return candidate


def link_exercises(home: str | Path, target: str | Path) -> dict:
    """Make ``<home>/exercises`` a link to ``target`` (a folder on Drive), bringing the curriculum's stubs there.

    The curriculum's stubs are the ``exercises/`` files of the checkout's commit (git HEAD). For each:

    * not in ``target`` → copied there (a new exercise file, e.g. from an update);
    * in ``target``, same content → nothing;
    * in ``target`` and still exactly the stub placed there earlier (recorded in ``STUB_RECORD``: you never
      changed it) → replaced by the current stub;
    * in ``target`` with your own code → **never touched**; when the curriculum's stub of that file changed since
      it was placed, the new one is written to ``<home>/.molpractice-new-stubs/`` and named in the result.

    Files you created in ``target`` stay as they are. A real ``exercises/`` folder in the clone holding anything
    other than the stubs (work done before Drive was used) is moved aside to ``exercises.before-drive``, never
    deleted. Safe to re-run.

    Returns:
        ``{"target", "first": bool, "yours": [...], "new": [...], "refreshed": [...], "stub_changed": [...],
        "moved_aside": path or None}``.
    Raises:
        RuntimeError: when the checkout's stubs cannot be read (not a git checkout) or ``target`` is not a folder.
    """
    home, target = Path(home), Path(target)
    ex = home / "exercises"
    stubs = _curriculum_stubs(home)
    if stubs is None:
        raise RuntimeError(f"{home} is not a git checkout with exercises/: cannot tell the curriculum's stubs "
                           f"from your work")
    if target.exists() and not target.is_dir():
        raise RuntimeError(f"{target} exists and is not a folder; move it away and re-run this cell")
    first = not target.is_dir()
    target.mkdir(parents=True, exist_ok=True)
    record_path = target.parent / STUB_RECORD
    try:
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        record = {}
    yours = sorted(_local_files(target))
    result = {"target": str(target), "first": first, "yours": [] if first else yours, "new": [], "refreshed": [],
              "stub_changed": [], "moved_aside": None}
    for rel, data in sorted(stubs.items()):
        dest = target / rel
        if not dest.exists():
            _write_atomic(dest, data)
            result["new"].append(rel)
        else:
            current = _sha(dest.read_bytes())
            if current == _sha(data):
                pass
            elif record.get(rel) == current:
                _write_atomic(dest, data)
                result["refreshed"].append(rel)
            else:
                if record.get(rel) not in (None, _sha(data)):
                    _write_atomic(home / NEW_STUBS / rel, data)
                    result["stub_changed"].append(rel)
                continue
        record[rel] = _sha(data)
    _write_atomic(record_path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    if ex.is_symlink():
        if os.readlink(ex) == str(target):
            return result
        ex.unlink()
    elif ex.is_dir():
        local = _local_files(ex)
        if any(stubs.get(rel) != data for rel, data in local.items()):
            aside = _free_name(home / "exercises.before-drive")
            os.replace(ex, aside)
            result["moved_aside"] = str(aside)
        else:
            import shutil

            shutil.rmtree(ex)
    os.symlink(str(target), str(ex), target_is_directory=True)
    return result


def _restore_local_exercises(home: Path) -> None:
    """Without Drive: make sure ``<home>/exercises`` is a real folder (a link left from a Drive run would dangle)."""
    ex = home / "exercises"
    if ex.is_symlink() and not ex.exists():
        ex.unlink()
    if not ex.exists():
        for rel, data in (_curriculum_stubs(home) or {}).items():
            _write_atomic(ex / rel, data)


def _say_not_kept(home: Path, reason: str) -> None:
    ex = home / "exercises"
    print(f"molpractice: YOUR WORK IS NOT KEPT: {reason}.\n"
          f"  Your exercises are in {ex}, which is deleted when this runtime ends (idle, or after 12 hours).\n"
          f"  Before you stop, run mp.save_work(): it downloads one .zip of your exercises. Next time, upload it and\n"
          f"  run !molpractice restore-work FILE (or mp.restore_work(FILE)). To keep them on Google Drive instead,\n"
          f"  re-run this cell and allow access to Drive (and do not set MOLPRACTICE_DRIVE=0).", flush=True)


def keep_work_on_drive(home: str | Path) -> str:
    """On Colab: keep ``<home>/exercises`` on Google Drive; return ``"drive"``, ``"off"`` or ``"failed"``.

    ``MOLPRACTICE_DRIVE=0`` skips Drive; otherwise Drive is mounted (``google.colab.drive.mount``, which asks for
    access once per runtime) unless it already is, and :func:`link_exercises` links ``exercises/`` to
    ``MyDrive/<MOLPRACTICE_DRIVE folder, default molpractice>/exercises``. When Drive is off, declined or fails,
    nothing is linked and the cell says plainly that work is not kept and how to save it. Never raises for a
    Drive problem: the rest of the setup goes on.
    """
    home = Path(home)
    try:
        folder = drive_folder()
    except ValueError as err:
        _restore_local_exercises(home)
        _say_not_kept(home, str(err))
        return "failed"
    if folder is None:
        _restore_local_exercises(home)
        _say_not_kept(home, "MOLPRACTICE_DRIVE=0, so Google Drive is not used")
        return "off"
    mount = Path(os.environ.get("MOLPRACTICE_DRIVE_MOUNT", DRIVE_MOUNT))
    mydrive = mount / "MyDrive"
    reason = None
    if not mydrive.is_dir():
        print(f"molpractice: mounting Google Drive at {mount} to keep your exercises there (allow access in the "
              f"window that opens; MOLPRACTICE_DRIVE=0 skips this)", flush=True)
        try:
            from google.colab import drive

            drive.mount(str(mount))
        except Exception as err:  # noqa: BLE001 — declined, timed out, or no Drive: Colab raises several kinds
            reason = f"Google Drive was not mounted ({type(err).__name__}: {err})"
    if reason is None and not mydrive.is_dir():
        reason = f"Google Drive was not mounted ({mydrive} does not exist)"
    if reason is None:
        try:
            result = link_exercises(home, mydrive / folder / "exercises")
        except Exception as err:  # noqa: BLE001 — whatever Drive does, the setup goes on and says so
            reason = f"could not keep exercises/ on Drive ({type(err).__name__}: {err})"
    if reason is not None:
        _restore_local_exercises(home)
        _say_not_kept(home, reason)
        return "failed"
    shown = f"MyDrive/{folder}/exercises"
    lines = []
    if result["first"]:
        lines.append(f"molpractice: your exercises are kept on Google Drive in {shown} ({len(result['new'])} files "
                     f"copied there now). {home / 'exercises'} links to it: what you save there stays after this "
                     f"runtime ends.")
    else:
        lines.append(f"molpractice: your exercises are on Google Drive in {shown}: your {len(result['yours'])} files "
                     f"are used as they are ({home / 'exercises'} links to it).")
        if result["new"]:
            lines.append(f"  new from the curriculum: {', '.join(result['new'])}")
        if result["refreshed"]:
            lines.append(f"  stubs you had not started, updated to the curriculum's: {', '.join(result['refreshed'])}")
    for rel in result["stub_changed"]:
        lines.append(f"  the curriculum changed {rel} since you started it: yours is kept; the new stub is in "
                     f"{home / NEW_STUBS / rel}")
    if result["moved_aside"]:
        lines.append(f"  exercises/ of this runtime held changes not on Drive: moved to {result['moved_aside']} "
                     f"(nothing deleted); copy what you need into exercises/.")
    print("\n".join(lines), flush=True)
    return "drive"
