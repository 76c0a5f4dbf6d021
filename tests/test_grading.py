"""The grader: contract JSON, stubs → not started, and a verdict (never a crash) for broken learner code."""
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from molpractice.graders import load_graders, select_exercises
from molpractice.grading import format_report, grade

REPO = Path(__file__).resolve().parents[1]


def _learner_copy(tmp_path, replacement=None, whole_file=None):
    """A copy of exercises/ where softmax_energy_stats's stub line is replaced (or the file rewritten)."""
    copy = tmp_path / "learner" / "exercises"
    shutil.copytree(REPO / "exercises", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "ch00_start_here.py"
    if whole_file is not None:
        target.write_text(whole_file)
    elif replacement is not None:
        lines = target.read_text().splitlines(keepends=True)
        i = next(k for k, line in enumerate(lines) if "raise NotImplementedError(\"Exercise" in line)
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        lines[i] = "".join(indent + row + "\n" for row in replacement.splitlines())
        target.write_text("".join(lines))
    return copy


def _grade_cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "molpractice", "grade", *args], cwd=cwd,
                          capture_output=True, text=True)


def test_every_exercise_has_graders_and_positive_points():
    graders = load_graders(REPO / "tests" / "graders")
    ids = select_exercises(graders, None)
    assert "0.1" in ids
    assert select_exercises(graders, "ch00") == ["0.1"] == select_exercises(graders, "0")
    with pytest.raises(ValueError, match="known exercises"):
        select_exercises(graders, "9.9")


def test_solutions_score_full_marks_with_contract_json(tmp_path):
    out = tmp_path / "r.json"
    result = _grade_cli("--impl", "solutions", "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["total"] == report["max"] > 0, format_report(report)
    for row in report["exercises"]:
        assert set(row) >= {"id", "status", "points", "max_points", "message"}
        assert row["status"] == "passed" and row["points"] == row["max_points"], row


def test_fresh_stubs_are_all_not_started(tmp_path):
    out = tmp_path / "r.json"
    result = _grade_cli("--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["total"] == 0
    assert {r["status"] for r in report["exercises"]} == {"not started"}, format_report(report)
    assert all("Exercise" in r["message"] for r in report["exercises"])


@pytest.mark.parametrize("replacement, status, words", [
    ("while True:\n    pass", "timeout", "stopped after"),
    ("raise KeyError('oops')", "error", "KeyError"),
    ("return energies, 0.0, 0.0", "failed", "probabilities differ"),
    ("import os\nos._exit(3)", "error", "died"),
])
def test_broken_learner_code_gets_a_verdict(tmp_path, replacement, status, words):
    copy = _learner_copy(tmp_path, replacement)
    t0 = time.monotonic()
    report = grade("0.1", implementation="exercises", timeout=4, package_dir=copy)
    assert time.monotonic() - t0 < 60
    row = report["exercises"][0]
    assert row["status"] == status and words in row["message"], row
    assert row["points"] == 0 or status == "failed"


def test_syntax_error_gets_a_verdict_naming_the_line(tmp_path):
    copy = _learner_copy(tmp_path, "return probs,, 1")
    row = grade("0.1", implementation="exercises", timeout=10, package_dir=copy)["exercises"][0]
    assert row["status"] == "error" and "SyntaxError" in row["message"] and "line" in row["message"], row


def test_timeout_does_not_stop_the_other_exercises(tmp_path):
    copy = _learner_copy(tmp_path, "while True:\n    pass")
    report = grade(None, implementation="exercises", timeout=3, package_dir=copy)
    statuses = {r["id"]: r["status"] for r in report["exercises"]}
    assert statuses["0.1"] == "timeout"
    assert len(statuses) == len(select_exercises(load_graders(REPO / "tests" / "graders"), None))


def test_cli_timeout_flag_and_exit_code_zero_whatever_the_score(tmp_path):
    learner = tmp_path / "learner"
    shutil.copytree(REPO, learner, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "notebooks", "data"))
    target = learner / "exercises" / "ch00_start_here.py"
    target.write_text(target.read_text().replace('raise NotImplementedError("Exercise 0.1', 'while True: pass  # ("', 1))
    t0 = time.monotonic()
    result = _grade_cli("0.1", "--timeout", "3", cwd=learner)
    assert result.returncode == 0, result.stderr
    assert "timeout" in result.stdout and time.monotonic() - t0 < 60


def test_cli_unknown_exercise_exits_nonzero_with_message():
    result = _grade_cli("7.7")
    assert result.returncode == 2 and "known exercises" in result.stderr


def test_grade_room_writes_one_csv_for_several_learners(tmp_path):
    body = (REPO / "solutions" / "ch00_start_here.py").read_text()
    code = body.split("# BEGIN SOLUTION\n", 1)[1].split("    # END SOLUTION", 1)[0]
    good = tmp_path / "carol"
    shutil.copytree(_learner_copy(tmp_path / "c", "\n".join(line[4:] for line in code.splitlines())), good / "exercises")
    cheat = tmp_path / "alice"
    shutil.copytree(_learner_copy(tmp_path / "a", "import solutions.ch00_start_here as s\n"
                                                   "return s.softmax_energy_stats(energies, temperature)"),
                    cheat / "exercises")
    bad = tmp_path / "bob"
    shutil.copytree(_learner_copy(tmp_path / "b", "raise RuntimeError('bob broke it')"), bad / "exercises")
    out_csv, out_json = tmp_path / "room.csv", tmp_path / "room.json"
    result = subprocess.run([sys.executable, "-m", "molpractice", "grade-room", str(good), str(cheat), str(bad),
                             "--which", "0", "--csv", str(out_csv), "--json", str(out_json), "--timeout", "10"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import csv

    rows = list(csv.DictReader(out_csv.open()))
    by_learner = {r["learner"]: r for r in rows}
    assert by_learner["carol"]["status"] == "passed", by_learner["carol"]
    # the reference package is not importable from learner code while grading
    assert by_learner["alice"]["status"] == "error" and float(by_learner["alice"]["points"]) == 0, by_learner["alice"]
    assert "not available while grading" in by_learner["alice"]["message"], by_learner["alice"]
    assert by_learner["bob"]["status"] == "error" and "bob broke it" in by_learner["bob"]["message"]
    assert set(json.loads(out_json.read_text())) == {"alice", "bob", "carol"}


def _replace_stub(copy, module, name, replacement):
    """In a copy of exercises/, replace the stub of function ``name`` (its ``raise`` line) by ``replacement``."""
    target = copy / f"{module}.py"
    lines = target.read_text().splitlines(keepends=True)
    i = next(k for k, line in enumerate(lines) if f"implement {name} " in line and "NotImplementedError" in line)
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    lines[i] = "".join(indent + row + "\n" for row in replacement.splitlines())
    target.write_text("".join(lines))


def test_return_none_stubs_score_zero(tmp_path):
    """Every stub's raise replaced by `return None` (validation outside the blocks still runs): no points."""
    copy = tmp_path / "learner" / "exercises"
    shutil.copytree(REPO / "exercises", copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.glob("ch0[0-2]_*.py"):
        text = path.read_text()
        lines = [line[: len(line) - len(line.lstrip())] + "return None\n"
                 if line.lstrip().startswith('raise NotImplementedError("Exercise') else line
                 for line in text.splitlines(keepends=True)]
        path.write_text("".join(lines))
    for chapter in ("0", "1", "2"):
        report = grade(chapter, implementation="exercises", timeout=30, package_dir=copy)
        scored = [r for r in report["exercises"] if r["points"]]
        assert report["total"] == 0, format_report(report)
        assert not scored and all(r["status"] in ("failed", "error") for r in report["exercises"]), \
            format_report(report)


def test_a_lingering_non_daemon_thread_does_not_hang_grading(tmp_path):
    copy = _learner_copy(tmp_path, "import threading, time\n"
                                   "threading.Thread(target=time.sleep, args=(600,), daemon=False).start()\n"
                                   "return None")
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, "-c", "import sys; from molpractice.grading import grade; "
                             f"r = grade('0.1', implementation='exercises', timeout=20, package_dir={str(copy)!r}); "
                             "print(r['exercises'][0]['status'])"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "failed" and time.monotonic() - t0 < 100


def test_long_messages_are_truncated(tmp_path):
    copy = _learner_copy(tmp_path, "raise ValueError('x' * 2_000_000)")
    row = grade("0.1", implementation="exercises", timeout=20, package_dir=copy)["exercises"][0]
    assert row["status"] == "error" and len(row["message"]) < 1200 and "characters cut" in row["message"], \
        row["message"][:300]


def test_worker_freezes_the_preloaded_heap_and_reports_cpu_time(tmp_path):
    """Graders run with the preloaded heap frozen (no full collection walks torch/RDKit again and again), and
    the worker reports the graders' CPU time and its own (``scripts/check_times.py`` reads them)."""
    copy = _learner_copy(tmp_path, "import gc\nraise KeyError(f'frozen={gc.get_freeze_count()}')")
    seen = []
    row = grade("0.1", implementation="exercises", timeout=20, package_dir=copy, progress=seen.append)["exercises"][0]
    frozen = re.search(r"frozen=(\d+)", row["message"])
    assert row["status"] == "error" and frozen and int(frozen.group(1)) > 10_000, row
    assert 0 <= seen[0]["cpu_seconds"] <= seen[0]["worker_cpu_seconds"], seen
    assert "cpu_seconds" not in row  # the report's rows keep their documented keys


def test_in_place_mutation_of_an_input_is_reported(tmp_path):
    copy = _learner_copy(tmp_path, "energies -= energies.min()\n"
                                   "logp = -energies / temperature - np.log(np.exp(-energies / temperature).sum())\n"
                                   "p = np.exp(logp)\n"
                                   "return p, float(p @ energies), float(-(p @ logp))")
    row = grade("0.1", implementation="exercises", timeout=20, package_dir=copy)["exercises"][0]
    assert row["status"] == "failed" and "in place" in row["message"], row


def test_an_unusable_return_value_is_named(tmp_path):
    copy = tmp_path / "learner" / "exercises"
    shutil.copytree(REPO / "exercises", copy, ignore=shutil.ignore_patterns("__pycache__"))
    _replace_stub(copy, "ch01_solubility_gnn", "mol_to_graph", "return {'x': None}")
    row = grade("1.4", implementation="exercises", timeout=30, package_dir=copy)["exercises"][0]
    assert row["status"] == "failed" and "mol_to_graph returned dict" in row["message"], row


def test_subprocess_workers_give_the_same_verdicts(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLPRACTICE_GRADE_WORKER", "subprocess")
    copy = _learner_copy(tmp_path, "import threading, time\n"
                                   "threading.Thread(target=time.sleep, args=(600,), daemon=False).start()\n"
                                   "raise KeyError('oops')")
    t0 = time.monotonic()
    row = grade("0.1", implementation="exercises", timeout=20, package_dir=copy)["exercises"][0]
    assert row["status"] == "error" and "KeyError" in row["message"] and time.monotonic() - t0 < 100, row


def test_solutions_are_importable_when_grading_the_reference():
    report = grade("0", implementation="solutions", timeout=30)
    assert report["total"] == report["max"] > 0, format_report(report)


def test_check_prints_a_verdict(capsys, monkeypatch):
    import molpractice as mp

    monkeypatch.setenv("MOLPRACTICE_IMPL", "solutions")
    assert mp.check("0.1") is None
    out = capsys.readouterr().out
    assert "passed" in out and "[solutions]" in out
    with pytest.raises(ValueError, match="one exercise id"):
        mp.check("ch00")


def test_endless_printing_is_capped_and_stopped(tmp_path):
    copy = _learner_copy(tmp_path, "while True:\n    print('x' * 1000)")
    row = grade("0.1", implementation="exercises", timeout=3, package_dir=copy)["exercises"][0]
    assert row["status"] == "timeout", row


def test_recording_wraps_learner_classes_and_functions():
    """Inside the worker, graders see learner functions/classes that record what they returned and refuse
    in-place changes of their tensor/array arguments."""
    import types

    import numpy as np
    import torch

    from molpractice.grading_worker import _Recorder, _RecordingModule

    module = types.ModuleType("exercises.fake")

    class Shift(torch.nn.Module):
        def forward(self, pos, in_place=False):
            return pos.add_(1.0) if in_place else (pos + 1.0).numpy()

    def center(x):
        x -= x.mean()
        return x

    Shift.__module__ = center.__module__ = "exercises.fake"
    module.Shift, module.center = Shift, center
    recorder = _Recorder()
    wrapped = _RecordingModule(module, recorder)
    layer = wrapped.Shift()
    assert isinstance(layer, Shift)
    layer(torch.zeros(3))
    assert recorder.last == ("Shift.forward", "numpy.ndarray of shape (3,) and dtype float32")
    with pytest.raises(AssertionError, match="Shift.forward changed its argument `pos` in place"):
        layer(torch.zeros(3), True)
    with pytest.raises(AssertionError, match="center changed its argument `x` in place"):
        wrapped.center(np.arange(3.0))


def test_grade_bench_prints_cold_and_warm_times(tmp_path):
    """The benchmark command runs and reports both numbers (their values depend on the machine: not asserted)."""
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "-m", "molpractice", "grade-bench", "0.1", "--repeats", "1",
                             "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "cold s" in result.stdout and "warm s" in result.stdout
    row = json.loads(out.read_text())["results"][0]
    assert row["id"] == "0.1" and row["status"] == "passed" and row["cold_seconds"] > 0 and row["warm_seconds"] > 0
