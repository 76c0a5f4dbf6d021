"""The stub generator: markers → NotImplementedError naming the exercise; clear errors; repo in sync."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from molpractice.exercisegen import MarkerError, exercise_ids, make_stub

REPO = Path(__file__).resolve().parents[1]

SOURCE = '''"""Chapter 9.

Exercises
---------
9.1 double
9.2 Doubler
"""


def double(x):
    """Twice x. Hint: add it to itself."""
    if x is None:
        raise ValueError("x is None")
    # BEGIN SOLUTION
    y = x + x
    return y
    # END SOLUTION


class Doubler:
    def __init__(self, k):
        # BEGIN SOLUTION
        self.k = k
        # END SOLUTION

    def __call__(self, x):
        # BEGIN SOLUTION
        return self.k * x
        # END SOLUTION


def _helper():
    return 1
'''


def _load(text, tmp_path):
    path = tmp_path / "stub.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("stub", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ids_from_docstring():
    assert exercise_ids(SOURCE) == {"double": "9.1", "Doubler": "9.2"}


def test_stub_keeps_signature_docstring_validation_and_raises(tmp_path):
    stub = make_stub(SOURCE, "solutions/ch09.py")
    assert "x + x" not in stub and "self.k = k" not in stub and "BEGIN SOLUTION" not in stub
    module = _load(stub, tmp_path)
    assert module.double.__doc__ == "Twice x. Hint: add it to itself."
    with pytest.raises(ValueError, match="x is None"):
        module.double(None)
    with pytest.raises(NotImplementedError, match=r"Exercise 9\.1: implement double"):
        module.double(2)
    with pytest.raises(NotImplementedError, match=r"Exercise 9\.2: implement Doubler\.__init__"):
        module.Doubler(3)
    assert module._helper() == 1


@pytest.mark.parametrize("broken, message", [
    (SOURCE.replace("    # END SOLUTION\n\n\nclass", "\n\nclass", 1), r"ch09\.py:\d+: .*'# BEGIN SOLUTION'"),
    (SOURCE.replace("        # BEGIN SOLUTION\n        self.k", "        self.k", 1), r"without a matching"),
    (SOURCE.replace("9.2 Doubler\n", ""), r"belongs to no exercise"),
    (SOURCE.replace("    # END SOLUTION\n\n\nclass", "      # END SOLUTION\n\n\nclass", 1), r"not indented like"),
    ('"""X.\n\nExercises\n---------\n9.1 f\n"""\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n', r"inside a function"),
])
def test_unbalanced_or_misplaced_markers_name_the_line(broken, message):
    with pytest.raises(MarkerError, match=message):
        make_stub(broken, "solutions/ch09.py")


def test_repository_exercises_are_in_sync_with_solutions():
    result = subprocess.run([sys.executable, "-m", "molpractice", "make-exercises", "--check"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_check_detects_a_hand_edited_stub(tmp_path):
    import shutil

    for name in ("solutions", "exercises", "tests/graders"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    target = next((tmp_path / "exercises").glob("ch00_*.py"))
    target.write_text(target.read_text() + "\n# edited by hand\n")
    cmd = [sys.executable, "-m", "molpractice", "make-exercises", "--check", "--repo", str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 1 and target.name in result.stderr
    subprocess.run(cmd[:-3] + ["--repo", str(tmp_path)], check=True, capture_output=True)
    assert subprocess.run(cmd, capture_output=True).returncode == 0


def test_refuses_to_overwrite_learner_code_without_force(tmp_path):
    import shutil

    for name in ("solutions", "exercises", "tests/graders"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "exercises" / "ch00_start_here.py"
    target.write_text(target.read_text().replace('raise NotImplementedError("Exercise 0.1', 'return ("mine"  # ', 1))
    cmd = [sys.executable, "-m", "molpractice", "make-exercises", "--repo", str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 2 and "refusing to overwrite" in result.stderr and "mine" in target.read_text()
    subprocess.run(cmd + ["--force"], check=True, capture_output=True)
    assert "mine" not in target.read_text()
