"""A workshop room: the repo2docker/Binder environment files, and ``molpractice grade-room`` over a mixed room.

- ``binder/requirements.txt`` pins every dependency of ``pyproject.toml`` (JupyterLab excepted: repo2docker's
  image brings it) to a version its specifier accepts, with the CPU build of PyTorch, and pip resolves it;
- ``binder/postBuild`` and ``binder/start`` are valid bash that repo2docker can run, and the cache warm-up they
  call works;
- ``grade-room`` over 24 generated learner copies (untouched, solved, broken, syntax error, hanging, crashing,
  empty) stays within its timeout budget and writes a CSV with one row per learner and exercise, where each
  learner's row depends on that learner's code only.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"


# ------------------------------------------------------------------------------------------ binder
def _pins() -> dict[str, Requirement]:
    pins = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            pins[req.name.lower().replace("_", "-")] = req
    return pins


def test_binder_requirements_pin_every_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]
    pins = _pins()
    for req in wanted:
        name = req.name.lower().replace("_", "-")
        if name in ("jupyterlab", "ipykernel"):  # repo2docker's image brings the server and the kernel
            continue
        assert name in pins, f"binder/requirements.txt does not pin {name}"
        spec = list(pins[name].specifier)
        assert len(spec) == 1 and spec[0].operator == "==", f"{name} must be pinned with ==, got {pins[name]}"
        assert req.specifier.contains(spec[0].version, prereleases=True), (
            f"binder pins {name}=={spec[0].version}, outside pyproject.toml's {req}")
    torch = list(pins["torch"].specifier)[0].version
    assert torch.endswith("+cpu"), "the workshop image takes the CPU build of PyTorch"
    text = (BINDER / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    assert "nbgitpuller" in pins, "nbgitpuller links need nbgitpuller in the image"
    env_sh = (REPO / "scripts" / "env.sh").read_text()
    assert f'TORCH_VERSION="{torch.split("+")[0]}"' in env_sh, "binder and scripts/env.sh pin different torch"
    assert (BINDER / "runtime.txt").read_text().strip() == f"python-{sys.version_info[0]}.{sys.version_info[1]}", (
        "binder/runtime.txt should name the Python the pins were tested on")


def _plan_binder_requirements(tmp_path):
    """pip's plan for the image's requirements, from scratch (``--ignore-installed``): ``{name: version}``.
    Started when the session's tests are collected (the ``early`` mark, tests/conftest.py): it waits on the index."""
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q",
                             "--retries", "0", "--timeout", "20", "--report", str(report),
                             "-r", str(BINDER / "requirements.txt")], capture_output=True, text=True, timeout=900,
                            env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    if result.returncode != 0 and re.search(r"connection|Network is unreachable|Temporary failure", result.stderr):
        pytest.skip(f"no package index reachable: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stderr[-3000:]
    return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
            for i in json.loads(report.read_text())["install"]}


@pytest.mark.early(prepare=_plan_binder_requirements)
def test_binder_requirements_resolve(early):
    """pip's plan for the image's requirements, from scratch (``--ignore-installed``): every pin exists and fits."""
    planned = early
    for name, req in _pins().items():
        assert planned.get(name) == list(req.specifier)[0].version, (name, planned.get(name))


def test_binder_scripts_are_what_repo2docker_runs(tmp_path):
    for name in ("postBuild", "start"):
        path = BINDER / name
        assert os.access(path, os.X_OK), f"binder/{name} must be executable"
        assert path.read_text().startswith("#!/usr/bin/env bash\n")
        check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    post = (BINDER / "postBuild").read_text()
    assert "pip install --no-cache-dir --no-deps ." in post and "-e ." not in post
    assert "binder/warm_cache.py" in post and (BINDER / "warm_cache.py").is_file()
    # start exports the warmed cache and runs the server it is given
    env = {k: v for k, v in os.environ.items() if k != "MOLPRACTICE_CACHE"}
    out = subprocess.run(["bash", str(BINDER / "start"), sys.executable, "-c",
                          "import os; print(os.environ['MOLPRACTICE_CACHE'])"],
                         capture_output=True, text=True, env=dict(env, CONDA_DIR=str(tmp_path)))
    assert out.returncode == 0 and out.stdout.strip() == f"{tmp_path}/share/molpractice/cache", out


def test_warm_cache_script_runs():
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(BINDER / "warm_cache.py")], capture_output=True, text=True,
                            env=env, cwd=REPO, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    for step in ("solubility set: 1282 molecules", "FreeSolv: 642 molecules", "QM9-like conformers", "matplotlib"):
        assert step in result.stdout, result.stdout


# ------------------------------------------------------------------------------------------- a room
TIMEOUT = 3.0


def _solution_body() -> str:
    text = (REPO / "solutions" / "ch00_start_here.py").read_text()
    block = text.split("def softmax_energy_stats", 1)[1]
    return block.split("# BEGIN SOLUTION\n", 1)[1].split("    # END SOLUTION", 1)[0]


def _stub_line(text: str) -> str:
    return next(line for line in text.splitlines(keepends=True) if 'raise NotImplementedError("Exercise 0.1' in line)


KINDS = {
    # kind: (how the learner's ch00 file is made, the status the room must report)
    "untouched": (lambda t: t, "not started"),
    "solved": (lambda t: t.replace(_stub_line(t), _solution_body()), "passed"),
    "wrong": (lambda t: t.replace(_stub_line(t), "    return energies, 0.0, 0.0\n"), "failed"),
    "raises": (lambda t: t.replace(_stub_line(t), "    raise RuntimeError('my bug')\n"), "error"),
    "syntax": (lambda t: t.replace(_stub_line(t), "    return probs,, 1\n"), "error"),
    "hangs": (lambda t: t.replace(_stub_line(t), "    while True:\n        pass\n"), "timeout"),
    "exits": (lambda t: t.replace(_stub_line(t), "    import os\n    os._exit(3)\n"), "error"),
}


def _make_room(root: Path) -> dict[str, str]:
    """24 learners: 3 of each kind in KINDS (some as whole repositories, some as bare exercises/ folders),
    and 3 empty submissions. Returns {learner: expected status}."""
    stub = (REPO / "exercises" / "ch00_start_here.py").read_text()
    expected = {}
    for kind, (make, status) in KINDS.items():
        for k in range(3):
            learner = f"{kind}{k}"
            folder = root / learner / "exercises"
            shutil.copytree(REPO / "exercises", folder, ignore=shutil.ignore_patterns("__pycache__"))
            (folder / "ch00_start_here.py").write_text(make(stub))
            expected[learner] = status
    for k in range(3):
        (root / f"empty{k}").mkdir()
        expected[f"empty{k}"] = "error"
    return expected


def test_grade_room_over_a_mixed_room_of_24(tmp_path):
    room = tmp_path / "submissions"
    expected = _make_room(room)
    assert len(expected) >= 20
    # half the learners handed in their whole copy, the other half only exercises/
    copies = [str(room / name) if i % 2 else str(room / name / "exercises") if (room / name / "exercises").is_dir()
              else str(room / name) for i, name in enumerate(sorted(expected))]
    out_csv, out_json = tmp_path / "room.csv", tmp_path / "room.json"
    hanging = sum(status == "timeout" for status in expected.values())
    budget = 120 + len(expected) * 2 + hanging * (TIMEOUT + 5)  # worker start-up, each learner, each timeout
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "molpractice", "grade-room", *copies, "--which", "0",
                             "--csv", str(out_csv), "--json", str(out_json), "--timeout", str(TIMEOUT)],
                            cwd=REPO, capture_output=True, text=True, timeout=budget + 60)
    elapsed = time.monotonic() - t0
    print(f"grade-room: {len(expected)} learners in {elapsed:.1f} s (budget {budget:.0f} s)")
    assert result.returncode == 0, result.stderr[-3000:]
    assert elapsed < budget, f"{elapsed:.0f} s > budget {budget:.0f} s"

    with out_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) >= {"learner", "exercise", "status", "points", "max_points", "message"}
    assert [(r["learner"], r["exercise"]) for r in rows] == [(name, "0.1") for name in sorted(expected)], (
        "one row per learner and exercise, in the order given")
    for r in rows:
        want = expected[r["learner"]]
        assert r["status"] == want, (r["learner"], r["status"], r["message"])
        assert float(r["points"]) == (float(r["max_points"]) if want == "passed" else 0.0) or want == "failed", r
    by = {r["learner"]: r for r in rows}
    assert "my bug" in by["raises0"]["message"] and "SyntaxError" in by["syntax1"]["message"]
    assert "stopped after" in by["hangs2"]["message"] and "died" in by["exits0"]["message"]
    assert "__init__.py" in by["empty0"]["message"]
    report = json.loads(out_json.read_text())
    assert set(report) == set(expected) - {f"empty{k}" for k in range(3)}


# ------------------------------------------------------------------------------ archives in a room
def _archive_of(exercises: Path, zip_path: Path) -> Path:
    from molpractice.work import write_archive

    return write_archive(zip_path, exercises_dir=exercises)


def test_grade_room_grades_work_archives_like_folders(tmp_path):
    """A save-work archive is a learner's copy: graded like a folder (unpacked into a temporary folder that is
    removed afterwards); a corrupt or foreign archive gets an error row and the room goes on."""
    import tempfile
    import zipfile

    room = tmp_path / "room"
    expected = _make_room(tmp_path / "folders")
    solved = _archive_of(tmp_path / "folders" / "solved0" / "exercises", room / "alice.zip")
    untouched = _archive_of(tmp_path / "folders" / "untouched0" / "exercises", room / "bob.zip")
    corrupt = room / "carol.zip"
    corrupt.write_bytes(solved.read_bytes()[:200])
    foreign = room / "dave.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("exercises/ch00_start_here.py", "X = 1\n")
    folder = tmp_path / "folders" / "wrong0"
    assert expected["wrong0"] == "failed"
    copies = [solved, corrupt, untouched, foreign, folder]
    # grade-room's temporary folders go to a folder of this test's own (TMPDIR), so that a test running next to
    # this one (another worker) cannot leave or remove one there while this one is checked. A short path in the
    # system's temporary folder, not under tmp_path: multiprocessing puts its AF_UNIX sockets in TMPDIR, and a
    # socket path may not exceed 107 characters.
    private_tmp = Path(tempfile.mkdtemp(prefix="mp-room-"))
    env = dict(os.environ, TMPDIR=str(private_tmp))
    out_csv = tmp_path / "room.csv"
    try:
        result = subprocess.run([sys.executable, "-m", "molpractice", "grade-room", *map(str, copies), "--which",
                                 "0", "--csv", str(out_csv), "--timeout", str(TIMEOUT)],
                                cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
        left = list(private_tmp.glob("molpractice-room-*"))
    finally:
        shutil.rmtree(private_tmp, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-3000:]
    with out_csv.open(newline="") as fh:
        rows = {r["learner"]: r for r in csv.DictReader(fh)}
    assert list(rows) == ["alice", "carol", "bob", "dave", "wrong0"], "one row per copy, in the order given"
    assert rows["alice"]["status"] == "passed" and float(rows["alice"]["points"]) == float(rows["alice"]["max_points"])
    assert rows["bob"]["status"] == "not started"
    assert rows["wrong0"]["status"] == "failed"
    assert rows["carol"]["status"] == "error" and "not a zip file" in rows["carol"]["message"], rows["carol"]
    assert rows["dave"]["status"] == "error" and "not a molpractice work archive" in rows["dave"]["message"]
    assert not left, f"unpacked archives left behind: {left}"
