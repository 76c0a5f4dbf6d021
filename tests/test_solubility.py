"""The solubility benchmark (``molpractice bench ch01``) end to end on a CSV (ESOL fixture from ../shared/data), fast mode."""
import json
import math
from pathlib import Path

import pytest

ESOL = Path(__file__).resolve().parents[2] / "shared" / "data" / "moleculenet" / "delaney-processed.csv"


@pytest.mark.skipif(not ESOL.is_file(), reason=f"ESOL fixture not found at {ESOL}")
def test_bench_ch01_on_esol_csv_fast(tmp_path, monkeypatch, capsys):
    from molpractice import solubility as bench

    monkeypatch.setenv("MOLPRACTICE_FAST", "1")
    out = tmp_path / "bench.json"
    report = bench.run_benchmark("solutions", csv=ESOL, smiles_col="smiles",
                                 target_col="measured log solubility in mols per litre", seeds=2, json_path=out)
    printed = capsys.readouterr().out
    assert "rf_counts_desc" in printed and "scaffold" in printed
    assert "made on: scaffold split, validation part" in printed
    written = json.loads(out.read_text())
    assert written["selection"]["part"] == "validation" and written["selection"]["table"]
    assert written["results"] == json.loads(json.dumps(report["results"]))
    rows = {(r["model"], r["split"]): r for r in written["results"]}
    assert set(rows) == {(m, s) for m in bench.MODELS for s in bench.SPLITS}
    for r in rows.values():
        for key in ("rmse_mean", "rmse_std", "seconds_per_model", "mae_mean", "r2_mean"):
            assert isinstance(r[key], float) and math.isfinite(r[key]), (key, r)
        assert r["n_train"] + r["n_val"] + r["n_test"] == written["n_molecules"]
    assert rows[("gnn", "random")]["n_runs"] == 2 and rows[("gnn_ensemble", "random")]["n_runs"] == 1
    # ESOL logS has a standard deviation of about 2.1: every model must beat predicting the mean, and
    # counts + descriptors must beat bits alone (logP carries most of the signal).
    for (model, split), r in rows.items():
        assert r["rmse_mean"] < 1.9 and r["r2_mean"] > 0.2, (model, split, r["rmse_mean"])
    for split in bench.SPLITS:
        assert rows[("rf_counts_desc", split)]["rmse_mean"] < rows[("rf_bits", split)]["rmse_mean"]


def test_bench_rejects_bad_arguments(tmp_path):
    from molpractice import solubility
    from molpractice.cli import main

    assert main(["bench", "ch07"]) == 2
    assert main(["bench", "ch02"]) == 2          # a chapter without a benchmark
    assert main(["bench", "ch01", "--steps", "5"]) == 2   # an option this benchmark does not take
    with pytest.raises(ValueError, match="--smiles-col"):
        solubility.run_benchmark("solutions", csv=tmp_path / "x.csv")


def test_splits_are_disjoint_and_complete():
    import numpy as np

    from molpractice import splits

    tr, va, te = splits.random_split(101)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(101))
    assert (len(tr), len(va), len(te)) == (81, 10, 10)


def test_model_selection_reads_validation_only(monkeypatch):
    """Test-part targets set to NaN: the selection still runs and scores every candidate on validation."""
    import numpy as np

    from molpractice import chem, solubility
    from molpractice.graphs import build_graphs
    from molpractice.implementations import load_chapter
    from molpractice.splits import random_split

    monkeypatch.setenv("MOLPRACTICE_FAST", "1")
    df, _ = solubility.load_data()
    df = df.iloc[:40]
    smiles, y = df["smiles"].tolist(), df["target"].to_numpy(dtype=float)
    split = random_split(len(smiles))
    y_poisoned = y.copy()
    y_poisoned[split[2]] = np.nan
    ch01 = load_chapter("ch01_solubility_gnn", "solutions")
    graphs = build_graphs(smiles, y_poisoned, ch01)
    best, table = solubility.select_gnn_settings(ch01, graphs, chem.rdkit_descriptors(smiles), split,
                                                 grid=((0.1, True), (0.2, False)), seeds=1, verbose=False,
                                                 epochs=3, patience=3)
    assert len(table) == 2 and np.isfinite(table["val RMSE (mean)"]).all()
    assert best == {"dropout": float(table.loc[table["val RMSE (mean)"].idxmin(), "dropout"]),
                    "use_descriptors": bool(table.loc[table["val RMSE (mean)"].idxmin(), "descriptor readout"])}


def test_run_settings_have_the_same_names_in_both_modes():
    from molpractice.runtime import RunSettings
    from molpractice.solubility import SETTINGS

    assert set(SETTINGS.full) == set(SETTINGS.fast) and set(SETTINGS.doc) == set(SETTINGS.full)
    assert SETTINGS.current("fast").epochs < SETTINGS.current("full").epochs
    with pytest.raises(ValueError, match="differ"):
        RunSettings(full={"a": 1}, fast={"b": 1})
