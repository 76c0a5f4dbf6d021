"""Static checks of the stored notebooks, and proof that nbval's checked outputs can fail.

nbval itself re-runs every notebook (the README test command passes ``--nbval-lax``).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from molpractice.colab import badge_markdown, rewrite_links, setup_cell_source
from molpractice.notebooks import stale_specs

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"


def _code_cells(path):
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_start_here_exists():
    assert (REPO / "notebooks" / "00_start_here.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_shared_setup_cell(path):
    assert "".join(_code_cells(path)[0]["source"]) == setup_cell_source(), (
        f"{path.name}: the first code cell must be molpractice.colab.setup_cell_source()")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[0].isdigit()], ids=lambda p: p.name)
def test_colab_badge_points_at_this_notebook_of_the_configured_repository(path):
    text = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    assert badge_markdown(path.name) in text, f"{path.name}: the Colab badge is missing or stale"
    assert text.count("colab.research.google.com/github/") == 1, f"{path.name}: one Colab badge, no stale copies"


def test_colab_links_are_in_sync():
    """What `molpractice colab-links --check` checks: no notebook needs rewriting for the configured REPO_URL/REF."""
    assert rewrite_links(REPO, check=True) == [], "run `molpractice colab-links`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_executed_in_order_without_errors(path):
    cells = _code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{path.name}: some code cells were never executed"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: not executed top to bottom in one run"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name}: stored error output {errors[0].get('ename')}"
    checked = [c for c in cells if "".join(c["source"]).lstrip().startswith(CHECK)]
    assert checked and all(c["outputs"] for c in checked), f"{path.name}: needs checked cells with outputs"
    stored = "".join("".join(o["text"]) for c in cells for o in c["outputs"] if o["output_type"] == "stream")
    assert "[solutions]" in stored or "not started" not in stored, f"{path.name}: executed without the reference"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_specs_are_the_current_docstrings(path):
    """A spec cell's stored output is what ``mp.show_spec`` shows today (nbval does not compare it)."""
    stale = stale_specs(json.loads(path.read_text()))
    assert not stale, (f"{path.name}: the stored spec of {', '.join(e for _, e in stale)} is not the current "
                       f"docstring; run `molpractice execute {path.name[:2]} --specs-only` (or re-execute it)")


def _code_cell(n: int, source: str, stored: str) -> dict:
    return {"cell_type": "code", "execution_count": n, "id": f"cell{n}", "metadata": {}, "source": source,
            "outputs": [{"name": "stdout", "output_type": "stream", "text": stored}]}


def test_nbval_fails_when_a_checked_output_is_tampered(tmp_path):
    """nbval run as the README's command runs it (``--nbval-lax``) compares a cell marked like the chapters' checked
    cells and fails on a tampered stored output, passes an intact one, and leaves unmarked cells unchecked. A tiny
    notebook (the start notebook's metadata, so the same kernel) proves it: what is proven is nbval's behaviour on
    a checked output, not a chapter's content (nbval runs every real notebook in the suite)."""
    nb = json.loads((REPO / "notebooks" / "00_start_here.ipynb").read_text())
    nb["cells"] = [
        _code_cell(1, f"{CHECK}\nprint('checked and unchanged')", "checked and unchanged\n"),
        _code_cell(2, "print('printed now', 2)", "stored earlier 1\n"),  # not marked: --nbval-lax does not compare
        _code_cell(3, f"{CHECK}\nprint('all required packages import:', True)",
                   "all required packages import: False\ntampered\n"),
    ]
    tampered = tmp_path / "tampered.ipynb"
    tampered.write_text(json.dumps(nb))
    env = dict(os.environ, MOLPRACTICE_FAST="1", MOLPRACTICE_IMPL="solutions", MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-v",
                             str(tampered)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode != 0, "nbval passed a notebook whose checked output was tampered with"
    assert "tampered" in result.stdout, result.stdout[-2000:]
    outcomes = dict(re.findall(r"::Cell (\d+) (PASSED|FAILED|ERROR|SKIPPED)", result.stdout))
    assert outcomes == {"0": "PASSED", "1": "PASSED", "2": "FAILED"}, result.stdout[-2000:]
