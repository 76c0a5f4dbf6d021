"""The test suite on a learner's clone: tests that read fixtures from ``../shared/data`` skip, naming the file.

A learner clones the repository on its own, so there is no ``../shared`` next to it. Here the tests that use
such a fixture are found from their source, then run in a copy of the repository placed where
``../shared`` does not exist (and once more with ``MOLPRACTICE_SHARED_DATA`` pointing at an empty folder):
they must be reported as skipped with a reason that names the missing file, never as errors or failures.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The inner runs select test functions of tests/ only: nbval (whose nbformat import alone costs ~1.5 CPU-s, a
# URI grammar compiled by jsonschema) and xdist have nothing to do there.
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:nbval", "-p", "no:xdist", "-q", "-rs"]


def _names_in(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def shared_fixture_tests() -> dict[str, list[str]]:
    """``{test file: [test names]}`` of the tests whose code (or decorators) reaches ``../shared``.

    A module-level name is "shared" when its assignment mentions the string ``"shared"``; a helper function
    is when its body uses a shared name; a test is when it (or its decorators) uses either.
    """
    found = {}
    for path in sorted((REPO / "tests").glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        source = path.read_text()
        tree = ast.parse(source)
        shared = set()
        for node in tree.body:
            if isinstance(node, ast.Assign) and '"shared"' in ast.get_source_segment(source, node):
                shared |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("test") and _names_in(node) & shared:
                shared.add(node.name)
        tests = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                 and node.name.startswith("test") and _names_in(node) & shared]
        if tests:
            found[path.name] = tests
    return found


def _pytest(cwd: Path, node_ids: list[str], **env) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, MOLPRACTICE_FAST="1", MOLPRACTICE_IMPL="solutions", MPLBACKEND="Agg", **env)
    return subprocess.run([*PYTEST, *node_ids], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=600)


def _assert_all_skipped_naming_files(result, node_ids):
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    summary = out.strip().splitlines()[-1]
    assert re.search(rf"\b{len(node_ids)} skipped\b", summary) and "passed" not in summary, summary
    assert "error" not in summary and "failed" not in summary, summary
    reasons = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert len(reasons) == len(node_ids), out[-3000:]
    for line in reasons:
        assert re.search(r"[\w-]+\.csv", line), f"the skip reason does not name the missing file: {line}"


def test_the_fixture_tests_are_found():
    found = shared_fixture_tests()
    assert "test_load_csv_on_public_files_with_known_bad_rows" in found.get("test_data.py", []), found
    assert "test_bench_ch01_on_esol_csv_fast" in found.get("test_solubility.py", []), found


def test_fixture_tests_skip_on_a_clone_without_shared(tmp_path):
    clone = tmp_path / "learner" / "molpractice"
    for part in ("molpractice", "tests", "exercises", "solutions"):
        shutil.copytree(REPO / part, clone / part, ignore=shutil.ignore_patterns("__pycache__", "cache"))
    shutil.copy2(REPO / "pyproject.toml", clone / "pyproject.toml")
    assert not (clone.parent / "shared").exists()
    node_ids = [f"tests/{file}::{name}" for file, names in shared_fixture_tests().items() for name in names]
    env = {k: v for k, v in os.environ.items() if k != "MOLPRACTICE_SHARED_DATA"}
    result = subprocess.run([*PYTEST, *node_ids], cwd=clone, capture_output=True, text=True, timeout=600,
                            env=dict(env, MOLPRACTICE_FAST="1", MOLPRACTICE_IMPL="solutions", MPLBACKEND="Agg"))
    _assert_all_skipped_naming_files(result, node_ids)
    assert "delaney-processed.csv" in result.stdout


def test_shared_data_override_hides_the_fixtures(tmp_path):
    node_ids = [f"tests/test_data.py::{name}" for name in shared_fixture_tests()["test_data.py"]]
    result = _pytest(REPO, node_ids, MOLPRACTICE_SHARED_DATA=str(tmp_path / "empty"))
    _assert_all_skipped_naming_files(result, node_ids)
    assert str(tmp_path / "empty") in result.stdout
