"""Stored progress bars show where they ended, not 0 %.

``tqdm.auto`` in a kernel draws an ipywidgets bar whose output keeps the text it had when displayed (0 %); the
updates live in the widget state the executor saves. ``molpractice execute`` rewrites that text from the
final state (:func:`molpractice.notebooks.complete_progress_bars`). Checked on a small notebook executed for
real in a fresh kernel by :func:`molpractice.notebooks.execute_notebook`.
"""
import json

import nbformat
import pytest

from molpractice.notebooks import complete_progress_bars, execute_notebook

CELL = """from tqdm.auto import tqdm
bar = tqdm(total=15, desc="training", leave=False)
for epoch in range(15):
    bar.update(1)
    bar.set_postfix(val_rmse="0.859")
bar.close()
for _ in tqdm(range(7), desc="featurising"):
    pass
print("done")"""


def _bar_texts(nb):
    return ["".join(o["data"]["text/plain"]) for c in nb["cells"] if c["cell_type"] == "code"
            for o in c["outputs"] if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]


def test_executed_notebook_stores_completed_bars(tmp_path):
    pytest.importorskip("ipywidgets")
    path = tmp_path / "bars.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    execute_notebook(path, fast=True, implementation="solutions", timeout=300)
    stored = json.loads(path.read_text())
    texts = _bar_texts(stored)
    assert len(texts) == 2, stored["cells"][0]["outputs"]
    assert texts[0].startswith("training: 100%|██████████| 15/15") and "val_rmse=0.859" in texts[0], texts
    assert texts[1].startswith("featurising: 100%|██████████| 7/7"), texts
    assert not any(" 0%|" in t for t in texts)
    assert complete_progress_bars(stored) == 0, "already complete: nothing left to rewrite"


def _state(value, top, left="epochs:  40%", right="\u20072/5\u2007[00:01<00:01]"):
    def m(name, **state):
        return {"model_name": name, "state": state}

    return {"box": m("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
            "l": m("HTMLModel", value=left), "p": m("FloatProgressModel", value=value, max=top),
            "r": m("HTMLModel", value=right), "other": m("IntSliderModel", value=3)}


def _nb(state, model_ids):
    outputs = [{"output_type": "display_data", "metadata": {},
                "data": {"application/vnd.jupyter.widget-view+json": {"model_id": mid, "version_major": 2},
                         "text/plain": "stale 0%"}} for mid in model_ids]
    return {"cells": [{"cell_type": "code", "outputs": outputs, "source": ""}],
            "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}}}


def test_bars_stopped_early_show_where_they_stopped_and_other_widgets_are_kept():
    nb = _nb(_state(2, 5, right="\u20072/5\u2007[00:01&lt;00:01]"), ["box", "other", "missing"])
    assert complete_progress_bars(nb) == 1
    texts = [o["data"]["text/plain"] for o in nb["cells"][0]["outputs"]]
    assert texts[0] == "epochs:  40%|████      | 2/5 [00:01<00:01]"
    assert texts[1:] == ["stale 0%", "stale 0%"], "only tqdm bars with saved state change"
    assert complete_progress_bars({"cells": [], "metadata": {}}) == 0


# ------------------------------------------------------------------ every stored notebook (issue 24)
import re  # noqa: E402
from pathlib import Path  # noqa: E402

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
_PERCENT = re.compile(r"(\d{1,3})%\|")
_COUNT = re.compile(r"\|\s*(\d+)/(\d+)\s")


def stored_progress_problems(nb) -> list[str]:
    """Progress bars of a stored notebook that did not end at 100 % or ended red (tqdm's "danger" style)."""
    problems = []
    for k, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            texts = [out.get("text", "")] + [out.get("data", {}).get("text/plain", "")]
            for text in ("".join(t) if isinstance(t, list) else t for t in texts):
                for line in re.split(r"[\r\n]", text):
                    pct = [int(p) for p in _PERCENT.findall(line)]
                    counts = [(int(a), int(b)) for a, b in _COUNT.findall(line)]
                    if any(p < 100 for p in pct) or any(a < b for a, b in counts):
                        problems.append(f"cell {k}: progress text below 100 %: {line.strip()[:80]!r}")
    state = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model_id, model in state.get("state", {}).items():
        if model.get("state", {}).get("bar_style") == "danger":
            problems.append(f"widget {model_id}: a red (danger) progress bar — a loop stopped before its total")
    return problems


def test_the_problem_finder_sees_fallbacks_and_red_bars():
    bad = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"text/plain": "ETKDG + MMFF:   0%|          | 0/802 [00:00<?, ?it/s]"}},
        {"output_type": "stream", "name": "stderr", "text": "training:  55%|#####5    | 3324/6000 [07:30<06:02]\n"}]}],
        "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {
            "p": {"model_name": "FloatProgressModel", "state": {"bar_style": "danger", "value": 3324, "max": 6000}}}}}}}
    problems = stored_progress_problems(bad)
    assert len(problems) == 3 and "0/802" in problems[0] and "danger" in problems[2], problems
    good = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"text/plain": "training: 100%|##########| 15/15 [00:01<00:00]"}}]}],
        "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {
            "p": {"model_name": "FloatProgressModel", "state": {"bar_style": "success"}}}}}}}
    assert stored_progress_problems(good) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_notebooks_hold_no_unfinished_or_red_progress_bars(path):
    problems = stored_progress_problems(json.loads(path.read_text()))
    assert not problems, (f"{path.name}: {problems[:5]} — a bar must end at 100 % (a loop of fixed length), and "
                          "`molpractice execute` stores its final text; re-execute the notebook")
