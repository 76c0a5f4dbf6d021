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
    assert written["selection"]["part"] == "validation" and written["selection"]["table"]
    written = json.loads(out.read_text())
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
