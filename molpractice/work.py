"""A learner's work as one file: save ``exercises/`` into a zip archive, check one, and put it back.

Saving: :func:`save_work` (``mp.save_work()``, ``molpractice save-work``; on Colab it also offers the file for
download) writes the archive with :func:`write_archive`. Restoring: :func:`restore_work` (``mp.restore_work``,
``molpractice restore-work``) and :func:`restore_files`. ``molpractice grade-room`` grades an archive like a
folder (:func:`extract_for_grading`).

Layout of an archive (a plain zip, openable anywhere)::

    manifest.json            {"format": "molpractice-work", "format_version": 1,
                              "curriculum": {"package_version", "git_commit"}, "created": UTC ISO time,
                              "files": {"exercises/ch01_x.py": {"sha256", "size", "mtime"}, ...}}
    exercises/__init__.py
    exercises/ch01_x.py ...  every ``*.py`` under ``exercises/`` (``__pycache__`` and hidden folders left out)

Reading one (:func:`read_archive`) checks everything before anything is written: that it is a zip, that its
``manifest.json`` says ``molpractice-work``, that every member is ``manifest.json`` or an ``exercises/…*.py``
file listed there, with a safe relative path (no ``..``, no absolute path, no backslash, no link), the recorded
size and SHA-256. A corrupt or foreign archive raises :class:`WorkArchiveError` naming the file and the reason.

Restoring (:func:`restore_files`) never replaces a local file that is *newer* than the archive's copy unless
``force``: newer means the local file's modification time (mtime) is later than the mtime the file had when the
archive was saved (recorded in the manifest) and its content differs. A local file with the same content is left
as it is; a missing one is written; one that is still the curriculum's untouched stub (as ``make-exercises``
writes it from ``solutions/``) holds no work and is replaced, however new it is (a fresh clone's files are all
newer than any archive). Restored files get the mtime recorded in the archive (as ``tar`` and
``unzip`` do), so a later comparison is between the times of the edits themselves. Times compare clocks of two
machines when the archive came from elsewhere: Colab's clock and a laptop's are normally seconds apart.

This module imports nothing heavy, and nothing outside the standard library.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import stat
import subprocess
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

FORMAT = "molpractice-work"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Refuse archives larger than this once unpacked (exercise files are a few kB each).
MAX_TOTAL_BYTES = 50 * 2**20
MAX_FILES = 2000


class WorkArchiveError(ValueError):
    """A file that is not a readable molpractice work archive (corrupt, foreign, or unsafe)."""


# ------------------------------------------------------------------------------------------ helpers
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git_commit(repo: Path) -> str | None:
    if not (repo / ".git").exists():
        return None
    try:
        result = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def curriculum_version(repo: str | Path | None = None) -> dict:
    """``{"package_version", "git_commit"}`` of the curriculum at ``repo`` (commit None outside a git checkout)."""
    from . import __version__
    from .repository import find_repo

    try:
        commit = _git_commit(find_repo(repo))
    except FileNotFoundError:
        commit = None
    return {"package_version": __version__, "git_commit": commit}


def _exercise_files(ex_dir: Path) -> list[Path]:
    """Every ``*.py`` below ``ex_dir`` (following a linked ``ex_dir`` itself), skipping caches and hidden folders."""
    files = []
    for path in sorted(ex_dir.rglob("*.py")):
        rel = path.relative_to(ex_dir)
        if any(part == "__pycache__" or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file():
            files.append(path)
    return files


def default_archive_name(now: _dt.datetime | None = None) -> str:
    """``molpractice-work-YYYYMMDD-HHMMSS.zip`` (UTC)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return f"molpractice-work-{now:%Y%m%d-%H%M%S}.zip"


def _exercises_dir(repo, exercises_dir) -> Path:
    from .repository import find_repo

    return Path(exercises_dir) if exercises_dir is not None else find_repo(repo) / "exercises"


# --------------------------------------------------------------------------------------------- save
def save_work(path: str | Path | None = None, repo: str | Path | None = None,
              exercises_dir: str | Path | None = None, download: bool | None = None, quiet: bool = False) -> Path:
    """Save your exercises into one file (``mp.save_work()`` in a notebook); on Colab, offer it for download.

    Writes the archive (:func:`write_archive`), prints where and what, and with ``download`` (default: when
    running on Colab) hands it to ``google.colab.files.download`` so your browser keeps a copy. Put it back
    later with ``molpractice restore-work FILE`` (or ``mp.restore_work(FILE)``). Returns the archive's path.
    """
    from .runtime import in_colab

    target = write_archive(path, repo=repo, exercises_dir=exercises_dir)
    manifest, _ = read_archive(target)
    if not quiet:
        print(f"molpractice: saved your work to {target} ({describe(manifest)})")
    if download if download is not None else in_colab():
        try:
            from google.colab import files

            files.download(str(target))
        except Exception as err:  # noqa: BLE001 — Colab raises several kinds; the file is saved either way
            print(f"molpractice: could not start the download ({type(err).__name__}: {err}); the file is saved "
                  f"at {target}: download it from the Files panel (right-click → Download).")
        else:
            if not quiet:
                print("molpractice: your browser is downloading it; keep that file. Next time: upload it and run "
                      "`!molpractice restore-work FILE` (or mp.restore_work(FILE)).")
    return target


def write_archive(path: str | Path | None = None, repo: str | Path | None = None,
                  exercises_dir: str | Path | None = None) -> Path:
    """Write every exercise file of ``exercises/`` into one zip archive and return its path.

    Args:
        path: the archive to write (a folder: a default name inside it; default: the repository folder,
            named by :func:`default_archive_name`). An existing file is replaced only once the new archive is
            complete.
        repo: the curriculum repository (default: found from the current folder).
        exercises_dir: the folder to save (default ``<repo>/exercises``).
    Raises:
        FileNotFoundError: if the exercises folder does not exist or holds no ``.py`` file.
    """
    from .repository import find_repo

    ex_dir = _exercises_dir(repo, exercises_dir)
    if not ex_dir.is_dir():
        raise FileNotFoundError(f"{ex_dir} is not a folder: nothing to save")
    files = _exercise_files(ex_dir)
    if not files:
        raise FileNotFoundError(f"{ex_dir} holds no .py file: nothing to save")
    if path is None:
        target = (find_repo(repo) if exercises_dir is None else Path.cwd()) / default_archive_name()
    else:
        target = Path(path)
        if target.is_dir():
            target = target / default_archive_name()
    if target.suffix.lower() != ".zip":
        raise ValueError(f"{target}: a work archive is a .zip file (name it …zip)")
    entries, manifest_files = [], {}
    for file in files:
        data = file.read_bytes()
        name = "exercises/" + file.relative_to(ex_dir).as_posix()
        mtime = file.stat().st_mtime
        entries.append((name, data, mtime))
        manifest_files[name] = {"sha256": _sha256(data), "size": len(data), "mtime": mtime}
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "curriculum": curriculum_version(repo if exercises_dir is None else ex_dir),
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "files": manifest_files}
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
            for name, data, mtime in entries:
                stamp = _dt.datetime.fromtimestamp(max(mtime, 315532800)).timetuple()[:6]  # zip dates start in 1980
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, data)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


# --------------------------------------------------------------------------------------------- read
def _safe_name(name: str, where: str) -> str:
    """``name`` if it is a safe relative ``exercises/…py`` path, else WorkArchiveError."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise WorkArchiveError(f"{where}: member {name!r} has an absolute or Windows path; refusing the archive")
    parts = PurePosixPath(name).parts
    if any(p in ("..", ".", "") for p in name.split("/")):
        raise WorkArchiveError(f"{where}: member {name!r} leaves its folder ('..', '.' or an empty part); "
                               f"refusing the archive")
    if len(parts) < 2 or parts[0] != "exercises" or not name.endswith(".py"):
        raise WorkArchiveError(f"{where}: member {name!r} is not an exercises/….py file; this is not a molpractice "
                               f"work archive (made by `molpractice save-work`)")
    return name


def read_archive(path: str | Path) -> tuple[dict, dict[str, bytes]]:
    """Check a work archive completely and return ``(manifest, {"exercises/…py": content})``.

    Raises:
        WorkArchiveError: the file is missing, not a zip, corrupt, has no molpractice manifest, holds a file the
            manifest does not list (or lacks one it lists), a member with an unsafe path or a link, or content
            whose size or SHA-256 differs from the manifest.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise WorkArchiveError(f"{where}: no such file")
    if not zipfile.is_zipfile(path):
        raise WorkArchiveError(f"{where}: not a zip file (damaged, or not made by `molpractice save-work`)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if MANIFEST not in names:
                raise WorkArchiveError(f"{where}: no {MANIFEST}: not a molpractice work archive (made by "
                                       f"`molpractice save-work` or mp.save_work())")
            if len(infos) > MAX_FILES + 1 or sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
                raise WorkArchiveError(f"{where}: too large for a work archive ({len(infos)} members, "
                                       f"{sum(i.file_size for i in infos)} bytes unpacked)")
            if len(set(names)) != len(names):
                raise WorkArchiveError(f"{where}: a member name occurs twice; refusing the archive")
            try:
                manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise WorkArchiveError(f"{where}: {MANIFEST} is not valid JSON ({err})") from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise WorkArchiveError(f"{where}: {MANIFEST} is not a molpractice work manifest (format "
                                       f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
            if manifest.get("format_version") != FORMAT_VERSION:
                raise WorkArchiveError(f"{where}: work archive format {manifest.get('format_version')!r}; this "
                                       f"molpractice reads format {FORMAT_VERSION} (update molpractice)")
            listed = manifest.get("files")
            if not isinstance(listed, dict) or not listed:
                raise WorkArchiveError(f"{where}: {MANIFEST} lists no files")
            contents = {}
            for info in infos:
                if info.filename == MANIFEST:
                    continue
                name = _safe_name(info.filename, where)
                mode = info.external_attr >> 16
                if info.is_dir() or stat.S_ISLNK(mode) or stat.S_ISDIR(mode):
                    raise WorkArchiveError(f"{where}: member {name!r} is a link or a folder entry, not a file")
                if name not in listed:
                    raise WorkArchiveError(f"{where}: member {name!r} is not listed in {MANIFEST}")
                data = zf.read(info)  # checks the CRC
                entry = listed[name]
                if not isinstance(entry, dict) or entry.get("size") != len(data) or entry.get("sha256") != _sha256(data):
                    raise WorkArchiveError(f"{where}: {name} differs from its size/SHA-256 in {MANIFEST} (the archive "
                                           f"was changed or damaged)")
                if not isinstance(entry.get("mtime"), (int, float)):
                    raise WorkArchiveError(f"{where}: {MANIFEST} has no modification time for {name}")
                contents[name] = data
            missing = sorted(set(listed) - set(contents))
            if missing:
                raise WorkArchiveError(f"{where}: {MANIFEST} lists {', '.join(missing)}, which the archive lacks")
    except WorkArchiveError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, NotImplementedError,
            ValueError) as err:
        raise WorkArchiveError(f"{where}: the archive is damaged ({type(err).__name__}: {err})") from None
    return manifest, contents


def describe(manifest: dict) -> str:
    """One line: how many files, saved when, from which curriculum version."""
    cur = manifest.get("curriculum") or {}
    commit = (cur.get("git_commit") or "")[:10] or "no git commit"
    return (f"{len(manifest['files'])} files saved {manifest.get('created', '?')} "
            f"(molpractice {cur.get('package_version', '?')}, {commit})")


# ------------------------------------------------------------------------------------------ restore
def restore_files(path: str | Path, repo: str | Path | None = None, exercises_dir: str | Path | None = None,
                  force: bool = False) -> dict[str, list[str]]:
    """Put the files of a work archive back into ``exercises/``.

    The archive is checked completely first (:func:`read_archive`); a bad one changes nothing. Then, per file:
    missing locally → written; same content → left alone; still the curriculum's untouched stub (what
    ``make-exercises`` generates, so a fresh copy's stubs never win by being new) → replaced; newer (its mtime is
    later than the mtime recorded in the archive) → kept, unless ``force``; otherwise → replaced by the archive's
    copy. Each
    file is written to a temporary name and renamed, with the mtime recorded in the archive.

    Returns:
        ``{"restored": [...], "unchanged": [...], "kept_newer": [...]}`` (names relative to ``exercises/``).
    Raises:
        WorkArchiveError: the archive is corrupt, foreign or unsafe (nothing was written).
        FileNotFoundError: the exercises folder does not exist.
    """
    manifest, contents = read_archive(path)
    ex_dir = _exercises_dir(repo, exercises_dir)
    if not ex_dir.is_dir():
        raise FileNotFoundError(f"{ex_dir} is not a folder: restore into a copy of the curriculum")
    stubs = _current_stubs(ex_dir.parent / "solutions")
    plan = {"restored": [], "unchanged": [], "kept_newer": []}
    writes = []
    for name, data in sorted(contents.items()):
        rel = name[len("exercises/"):]
        target = ex_dir / rel
        saved_mtime = float(manifest["files"][name]["mtime"])
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise WorkArchiveError(f"{target} is a link or a folder; restore refuses to write through it")
        if target.is_file():
            local = target.read_bytes()
            if local == data:
                plan["unchanged"].append(rel)
                continue
            if target.stat().st_mtime > saved_mtime and not force and local != stubs.get(rel):
                plan["kept_newer"].append(rel)
                continue
        plan["restored"].append(rel)
        writes.append((target, data, saved_mtime))
    for target, data, mtime in writes:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix="." + target.name + ".", suffix=".partial", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.utime(partial, (mtime, mtime))
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    return plan


def _current_stubs(sol_dir: Path) -> dict[str, bytes]:
    """``{"chNN_x.py": stub}`` as ``make-exercises`` writes them from ``sol_dir`` (empty when it is missing).

    A local file equal to its stub holds no work (a fresh copy of the curriculum), whatever its mtime."""
    from .exercisegen import MarkerError, make_stub

    stubs = {}
    for path in sorted(sol_dir.glob("ch*.py")) if sol_dir.is_dir() else ():
        try:
            stubs[path.name] = make_stub(path.read_text(), filename=f"solutions/{path.name}").encode()
        except (MarkerError, OSError, UnicodeDecodeError, ValueError):
            continue
    return stubs


def extract_for_grading(path: str | Path, into: str | Path) -> Path:
    """Check an archive and write its ``exercises/`` into the (empty) folder ``into``; return that package folder.

    Raises:
        WorkArchiveError: as :func:`read_archive`, or when the archive has no ``exercises/__init__.py``.
    """
    _, contents = read_archive(path)
    if "exercises/__init__.py" not in contents:
        raise WorkArchiveError(f"{path}: holds no exercises/__init__.py, so its exercises cannot be imported")
    root = Path(into)
    for name, data in contents.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root / "exercises"


def restore_work(path: str | Path, force: bool = False, repo: str | Path | None = None,
                 exercises_dir: str | Path | None = None) -> dict[str, list[str]]:
    """``molpractice restore-work FILE`` / ``mp.restore_work(FILE)``: :func:`restore_files`, then print a summary.

    Raises:
        WorkArchiveError: the archive is corrupt, foreign or unsafe (nothing was written).
    """
    manifest, _ = read_archive(path)
    plan = restore_files(path, repo=repo, exercises_dir=exercises_dir, force=force)
    print(summary(manifest, plan, current=curriculum_version(repo) if exercises_dir is None else None))
    return plan


def summary(manifest: dict, plan: dict[str, list[str]], current: dict | None = None) -> str:
    """The lines ``restore-work`` prints."""
    lines = [f"archive: {describe(manifest)}"]
    saved = manifest.get("curriculum") or {}
    if current and saved.get("git_commit") and current.get("git_commit") \
            and saved["git_commit"] != current["git_commit"]:
        lines.append(f"note: saved from curriculum commit {saved['git_commit'][:10]}, this copy is at "
                     f"{current['git_commit'][:10]}: your files are used as they are; specs may have changed")
    for key, label in (("restored", "restored"), ("unchanged", "already the same"),
                       ("kept_newer", "kept (your file is newer than the archive's copy; --force replaces it)")):
        if plan[key]:
            lines.append(f"{label}: {', '.join(plan[key])}")
    return "\n".join(lines)

