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
