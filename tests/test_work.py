"""A learner's work as one file (``molpractice save-work`` / ``restore-work``, ``mp.save_work()``), offline.

- save → restore round trip: every exercise file back, byte for byte, with its modification time;
- restore never replaces a file edited after the archive's copy was saved (mtime later, content different) unless
  ``--force``; files with the same content are left alone; missing files are written; a fresh copy's untouched
  stubs are replaced although they are newer;
- a corrupt, truncated, foreign, tampered or path-traversing archive is refused with a message naming the file and
  the reason, and nothing is written.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from molpractice import work

REPO = Path(__file__).resolve().parents[1]


def _copy(tmp_path: Path, name: str = "copy") -> Path:
    """A minimal curriculum copy (what find_repo recognises) with this repository's exercises/."""
    root = tmp_path / name
    shutil.copytree(REPO / "exercises", root / "exercises", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "solutions", root / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tests" / "graders").mkdir(parents=True)
    return root


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "molpractice", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _set_mtime(path: Path, t: float) -> None:
    os.utime(path, (t, t))


def test_save_restore_round_trip(tmp_path):
    src = _copy(tmp_path, "laptop")
    (src / "exercises" / "ch00_start_here.py").write_text("# my work\n")
    (src / "exercises" / "helpers").mkdir()
    (src / "exercises" / "helpers" / "mine.py").write_text("X = 1\n")
    (src / "exercises" / "__pycache__").mkdir(exist_ok=True)
    (src / "exercises" / "__pycache__" / "junk.cpython-311.pyc").write_bytes(b"\0")
    _set_mtime(src / "exercises" / "ch00_start_here.py", 1_700_000_000.5)
    archive = work.save_work(tmp_path / "hand-in.zip", repo=src, download=False, quiet=True)
    manifest, contents = work.read_archive(archive)
    assert manifest["format"] == work.FORMAT and manifest["curriculum"]["package_version"]
    assert set(contents) == {"exercises/" + n for n in _tree(src / "exercises") if "__pycache__" not in n}
    assert manifest["files"]["exercises/ch00_start_here.py"]["mtime"] == 1_700_000_000.5

    dst = _copy(tmp_path, "colab")  # a fresh copy: its stubs are newer than the archive, yet hold no work
    assert (dst / "exercises" / "ch00_start_here.py").stat().st_mtime > 1_700_000_000.5
    plan = work.restore_files(archive, repo=dst)
    assert plan["restored"] == ["ch00_start_here.py", "helpers/mine.py"] and plan["kept_newer"] == []
    assert len(plan["unchanged"]) == len(contents) - 2
    want = {k: v for k, v in _tree(src / "exercises").items() if "__pycache__" not in k}
    assert _tree(dst / "exercises") == want
    assert (dst / "exercises" / "ch00_start_here.py").stat().st_mtime == 1_700_000_000.5
    again = work.restore_files(archive, repo=dst)
    assert again["restored"] == [] and len(again["unchanged"]) == len(contents)


def test_restore_keeps_newer_files_unless_forced(tmp_path):
    root = _copy(tmp_path)
    ex = root / "exercises"
    saved_at = 1_700_000_000.0
    (ex / "ch00_start_here.py").write_text("# saved version\n")
    (ex / "ch01_solubility_gnn.py").write_text("# saved ch01\n")
    for p in ex.glob("*.py"):
        _set_mtime(p, saved_at)
    archive = work.write_archive(tmp_path / "w.zip", repo=root)
    # afterwards: ch00 edited later (newer), ch01 replaced by an older file, ch02 deleted
    (ex / "ch00_start_here.py").write_text("# edited after saving\n")
    _set_mtime(ex / "ch00_start_here.py", saved_at + 60)
    (ex / "ch01_solubility_gnn.py").write_text("# an older copy\n")
    _set_mtime(ex / "ch01_solubility_gnn.py", saved_at - 60)
    ch02 = (ex / "ch02_equivariance.py").read_bytes()
    (ex / "ch02_equivariance.py").unlink()
    result = _cli("restore-work", str(archive), cwd=root)
    assert result.returncode == 0, result.stderr
    assert "kept (your file is newer than the archive's copy; --force replaces it): ch00_start_here.py" in result.stdout
    assert "restored: ch01_solubility_gnn.py, ch02_equivariance.py" in result.stdout
    assert (ex / "ch00_start_here.py").read_text() == "# edited after saving\n"
    assert (ex / "ch01_solubility_gnn.py").read_text() == "# saved ch01\n"
    assert (ex / "ch02_equivariance.py").read_bytes() == ch02
    forced = _cli("restore-work", str(archive), "--force", cwd=root)
    assert forced.returncode == 0 and "restored: ch00_start_here.py" in forced.stdout, forced.stdout
    assert (ex / "ch00_start_here.py").read_text() == "# saved version\n"


def test_cli_save_work_default_name_and_folder(tmp_path):
    root = _copy(tmp_path)
    result = _cli("save-work", cwd=root)
    assert result.returncode == 0, result.stderr
    made = list(root.glob("molpractice-work-*.zip"))
    assert len(made) == 1 and f"saved your work to {made[0]}" in result.stdout
    out = tmp_path / "out"
    out.mkdir()
    assert _cli("save-work", str(out), cwd=root).returncode == 0 and len(list(out.glob("*.zip"))) == 1
    refused = _cli("save-work", str(tmp_path / "w.tar"), cwd=root)
    assert refused.returncode == 2 and ".zip" in refused.stderr
    empty = _copy(tmp_path, "empty")
    shutil.rmtree(empty / "exercises")
    (empty / "exercises").mkdir()
    nothing = _cli("save-work", cwd=empty)
    assert nothing.returncode == 2 and "no .py file" in nothing.stderr


# ------------------------------------------------------------------------------------------ bad input
def _good(tmp_path) -> Path:
    return work.write_archive(tmp_path / "good.zip", repo=_copy(tmp_path, "src"))


def _rewrite(src: Path, dst: Path, members: dict[str, bytes | None], manifest_edit=None) -> Path:
    """Copy an archive with some members replaced (None removes one), optionally editing the manifest."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == work.MANIFEST and manifest_edit:
                manifest = json.loads(data)
                manifest_edit(manifest)
                data = json.dumps(manifest).encode()
            if info.filename in members:
                data = members.pop(info.filename)
                if data is None:
                    continue
            zout.writestr(info.filename, data)
        for name, data in members.items():
            zout.writestr(name, data)
    return dst


def _bad_archives(tmp_path) -> dict[str, tuple[Path, str]]:
    good = _good(tmp_path)
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(raw[: len(raw) // 2])
    flipped = bytearray(raw)
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("exercises/ch00_start_here.py")
    flipped[info.header_offset + 30 + len(info.filename) + 5] ^= 0xFF  # inside the compressed data
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(flipped))
    text = tmp_path / "notes.zip"
    text.write_text("not a zip at all\n")
    foreign = tmp_path / "photos.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("holiday.jpg", b"\xff\xd8")
    other_manifest = tmp_path / "other.zip"
    with zipfile.ZipFile(other_manifest, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "something-else"}))
    sha = lambda m: m["files"].update({"exercises/../../evil.py": {"sha256": "0", "size": 1, "mtime": 0}})  # noqa: E731
    return {
        "truncated": (truncated, "not a zip file|damaged"),
        "damaged": (damaged, "damaged|differs from its size/SHA-256"),
        "not a zip": (text, "not a zip file"),
        "foreign": (foreign, "no manifest.json: not a molpractice work archive"),
        "other manifest": (other_manifest, "not a molpractice work manifest"),
        "tampered": (_rewrite(good, tmp_path / "tampered.zip", {"exercises/ch00_start_here.py": b"import os\n"}),
                     "ch00_start_here.py differs from its size/SHA-256"),
        "unlisted": (_rewrite(good, tmp_path / "unlisted.zip", {"exercises/extra.py": b"X = 1\n"}),
                     "'exercises/extra.py' is not listed"),
        "missing": (_rewrite(good, tmp_path / "missing.zip", {"exercises/ch00_start_here.py": None}),
                    "which the archive lacks"),
        "traversal": (_rewrite(good, tmp_path / "traversal.zip", {"exercises/../../evil.py": b"X"}, sha),
                      "leaves its folder"),
        "absolute": (_rewrite(good, tmp_path / "absolute.zip", {"/etc/evil.py": b"X"}), "absolute"),
        "outside exercises": (_rewrite(good, tmp_path / "outside.zip", {"molpractice/grading.py": b"X"}),
                              "is not an exercises/….py file"),
        "newer format": (_rewrite(good, tmp_path / "v9.zip", {}, lambda m: m.update(format_version=9)),
                         "format 9"),
    }


def test_bad_archives_are_refused_and_change_nothing(tmp_path):
    root = _copy(tmp_path, "target")
    (root / "exercises" / "ch00_start_here.py").write_text("# my work, older than everything\n")
    _set_mtime(root / "exercises" / "ch00_start_here.py", 1_000_000_000)
    before = _tree(root)
    for label, (path, message) in _bad_archives(tmp_path).items():
        with pytest.raises(work.WorkArchiveError, match=message) as caught:
            work.restore_files(path, repo=root, force=True)
        assert str(path) in str(caught.value), label
        assert _tree(root) == before, f"{label}: something was written"
    assert not (tmp_path / "evil.py").exists()
    cli = _cli("restore-work", str(tmp_path / "photos.zip"), "--force", cwd=root)
    assert cli.returncode == 2 and "not a molpractice work archive" in cli.stderr and "Nothing was changed" in cli.stderr
    assert _tree(root) == before
    missing = _cli("restore-work", str(tmp_path / "nope.zip"), cwd=root)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_mp_save_work_is_lazy_and_offers_download_only_on_colab(tmp_path, monkeypatch, capsys):
    import molpractice as mp

    assert mp.save_work is work.save_work and mp.restore_work is work.restore_work
    root = _copy(tmp_path)
    monkeypatch.chdir(root)
    path = mp.save_work()
    assert path.parent == root and "saved your work to" in capsys.readouterr().out
    offered = []
    import types

    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    files = types.ModuleType("google.colab.files")
    files.download = offered.append
    colab.files, google.colab = files, colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.files", files)
    second = mp.save_work(tmp_path / "second.zip")
    assert offered == [str(second)] and "downloading" in capsys.readouterr().out
    files.download = lambda p: (_ for _ in ()).throw(RuntimeError("popup blocked"))
    mp.save_work(tmp_path / "third.zip")
    out = capsys.readouterr().out
    assert "could not start the download (RuntimeError: popup blocked)" in out and "third.zip" in out
    assert (tmp_path / "third.zip").is_file()


def test_import_has_no_side_effects():
    code = ("import sys, molpractice; "
            "assert 'molpractice.work' not in sys.modules and 'google' not in sys.modules; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
