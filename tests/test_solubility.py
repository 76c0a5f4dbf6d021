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
    assert written["selection"]["cpu_seconds"] > 0 and written["selection"]["fits"] == 2   # fast grid, 1 seed
    assert "val_predictions" not in written["selection"] and "Not selected here" in printed
    assert written["results"] == json.loads(json.dumps(report["results"]))
    rows = {(r["model"], r["split"]): r for r in written["results"]}
    assert set(rows) == {(m, s) for m in bench.MODELS for s in bench.SPLITS}
    for r in rows.values():
        keys = ("rmse_mean", "seconds_per_model", "mae_mean", "r2_mean") + (() if r["n_runs"] == 1 else ("rmse_std",))
        for key in keys:
            assert isinstance(r[key], float) and math.isfinite(r[key]), (key, r)
        assert r["n_train"] + r["n_val"] + r["n_test"] == written["n_molecules"]
        assert r["rmse_test_low"] < r["rmse_mean"] < r["rmse_test_high"], r
    ens = rows[("gnn_ensemble", "scaffold")]
    assert ens["rmse_std"] is None and ens["n_members"] == 2       # a spread of one run is undefined, not 0
    assert ens["seconds_total"] >= ens["seconds_per_model"] > 0
    assert ens["cpu_seconds_total"] >= ens["cpu_seconds_per_model"] > 0
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
    # the kept validation predictions reproduce each candidate's recorded validation RMSE
    y_val, preds = table.attrs["y_val"], table.attrs["val_predictions"]
    assert np.allclose(y_val, y[split[1]]) and len(preds) == 2 and preds[0].shape == (1, len(split[1]))
    for row, p in zip(table.itertuples(), preds):
        assert abs(np.sqrt(np.mean((p[0] - y_val) ** 2)) - row[3]) < 2e-3


def test_run_settings_have_the_same_names_in_both_modes():
    from molpractice.runtime import RunSettings
    from molpractice.solubility import SETTINGS

    assert set(SETTINGS.full) == set(SETTINGS.fast) and set(SETTINGS.doc) == set(SETTINGS.full)
    assert SETTINGS.current("fast").epochs < SETTINGS.current("full").epochs
    with pytest.raises(ValueError, match="differ"):
        RunSettings(full={"a": 1}, fast={"b": 1})


# ------------------------------------------------------------------ comparing models, duplicates, tables
def _toy(seed=1, n=128):
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng, rng.normal(size=n)


def test_paired_bootstrap_identical_models_tie_exactly():
    import numpy as np

    from molpractice.solubility import paired_bootstrap_rmse

    rng, y = _toy()
    a = y + rng.normal(0, 0.8, (3, y.size))
    out = paired_bootstrap_rmse(y, a[0], a[0].copy(), n_boot=300)       # one run each: only molecules vary
    assert out["diff"] == 0 and out["low"] == 0 and out["high"] == 0 and out["verdict"] == "no detectable difference"
    assert set(out) == {"diff", "low", "high", "p_a_better", "n_boot", "level", "n", "verdict"}
    assert out["n"] == y.size and out["n_boot"] == 300 and np.isclose(out["level"], 0.95)
    runs = paired_bootstrap_rmse(y, a, a.copy(), n_boot=300)            # seeds resampled per model: a spread
    assert runs["diff"] == 0 and runs["low"] < 0 < runs["high"] and runs["verdict"] == "no detectable difference"


def test_paired_bootstrap_sees_a_small_consistent_gain_that_shared_noise_hides():
    """Both models share a large per-molecule error; b adds a little more. Unpaired intervals overlap,
    the paired difference is clearly negative (a better), and swapping the models flips the sign."""
    import numpy as np

    from molpractice.solubility import paired_bootstrap_rmse

    rng, y = _toy()
    shared = rng.normal(0, 0.8, y.size)
    a = y + shared + rng.normal(0, 0.05, (5, y.size))
    b = y + 1.1 * shared + rng.normal(0, 0.05, (5, y.size))           # 10 % larger error on every molecule
    out = paired_bootstrap_rmse(y, a, b, n_boot=500, seed=3)
    assert out["verdict"] == "a better" and out["high"] < 0 and out["p_a_better"] > 0.975
    assert out["low"] <= out["diff"] <= out["high"]
    swapped = paired_bootstrap_rmse(y, b, a, n_boot=500, seed=3)
    assert swapped["verdict"] == "b better" and np.isclose(swapped["diff"], -out["diff"])
    assert paired_bootstrap_rmse(y, a, b, n_boot=500, seed=3) == out          # seeded: reproducible
    one = paired_bootstrap_rmse(y, a[0], b[0], n_boot=200)                      # (n,) inputs are one run
    assert np.isclose(one["diff"], np.sqrt(np.mean((a[0] - y) ** 2)) - np.sqrt(np.mean((b[0] - y) ** 2)))


def test_paired_bootstrap_rejects_bad_inputs():
    import numpy as np

    from molpractice.solubility import paired_bootstrap_rmse

    _, y = _toy(n=10)
    with pytest.raises(ValueError, match="pred_b"):
        paired_bootstrap_rmse(y, y, y[:9])
    with pytest.raises(ValueError, match="non-finite"):
        paired_bootstrap_rmse(y, np.full(10, np.nan), y)
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap_rmse(y, y, y, n_boot=0)


def test_peer_comparison_prints_no_verdict():
    from molpractice.solubility import PEER_CHEMPROP, peer_comparison

    line = peer_comparison(0.792)
    assert f"{0.792 - PEER_CHEMPROP['single_rmse_mean']:+.3f}" in line and "no test" in line
    assert not any(w in line for w in ("lower", "better", "tie"))
    from molpractice.solubility import peer_report

    text = peer_report(0.792, 0.767)
    assert line in text and f"{0.767 - PEER_CHEMPROP['ensemble_rmse']:+.3f}" in text and PEER_CHEMPROP["source"] in text
    assert text.count("no claim either way") == 2

def test_duplicates_of_the_embedded_set_are_reviewed_by_name():
    from molpractice import chem, data
    from molpractice.solubility import REPEATED_RECORD, STEREO, WRONG_SMILES, review_duplicates

    raw = data.load_solubility()
    _, dup = chem.merge_duplicates(raw)
    table = review_duplicates(raw, dup)
    assert len(table) == len(dup) == 8
    assert table["kind"].value_counts().to_dict() == {STEREO: 4, WRONG_SMILES: 3, REPEATED_RECORD: 1}
    copied = table[table.kind == REPEATED_RECORD].iloc[0]
    assert "kasugamycin" in copied["names"].lower() and copied["range"] == 0
    stereo = table[table.kind == STEREO]
    assert (stereo["corrected"] == stereo["merged"]).all()
    pentanol = table[table.names.str.contains("2,4-dimethyl")].iloc[0]
    assert pentanol["corrected"] == -0.85 and abs(pentanol["merged"] - (-1.035)) < 1e-9
    with pytest.raises(ValueError, match="endrin"):
        review_duplicates(raw, dup, review={})


def test_results_table_shows_no_spread_for_one_run_and_per_model_seconds():
    from molpractice.solubility import results_table

    base = dict(split="scaffold", mae_mean=0.6, r2_mean=0.8, n_train=8, n_val=1, n_test=1)
    rows = [dict(base, model="gnn", rmse_mean=0.8, rmse_std=0.03, mae_std=0.02, r2_std=0.01, n_runs=5,
                 seconds_per_model=20.0, cpu_seconds_per_model=15.0),
            dict(base, model="gnn_ensemble", rmse_mean=0.75, rmse_std=None, mae_std=None, r2_std=None, n_runs=1,
                 seconds_per_model=20.0, n_members=5, seconds_total=100.0, cpu_seconds_per_model=15.0,
                 cpu_seconds_total=75.0)]
    t = results_table(rows)
    ens, single = t.loc[("scaffold", "gnn_ensemble")], t.loc[("scaffold", "gnn")]
    assert ens["RMSE"] == "0.750 ± —" and single["RMSE"] == "0.800 ± 0.030"
    assert ens["models/run"] == 5 and ens["wall s/model"] == 20.0 and ens["CPU s/run"] == 75.0
    assert single["CPU s/run"] == 15.0 and single["CPU s/model"] == 15.0
    assert single["RMSE 95% test"] == "—"
    rows[0].update(rmse_test_low=0.7, rmse_test_high=0.9)
    assert results_table(rows).loc[("scaffold", "gnn"), "RMSE 95% test"] == "0.700–0.900"


def test_error_by_similarity_has_intervals_and_rank_correlation():
    import numpy as np

    from molpractice.solubility import bootstrap_mean_ci, error_by_similarity

    sim = np.linspace(0.05, 0.95, 60)
    table = error_by_similarity(sim, {"m": 1 - sim}, n_boot=200)
    bins = table[table.bin != "Spearman rho"]
    assert bins["n"].sum() == 60 and (bins["low"] <= bins["MAE"]).all() and (bins["MAE"] <= bins["high"]).all()
    rho = table[table.bin == "Spearman rho"].iloc[0]
    assert np.isclose(rho["MAE"], -1) and rho["high"] < 0
    assert bootstrap_mean_ci([2.0]) == (2.0, 2.0, 2.0) and np.isnan(bootstrap_mean_ci([])[0])
    with pytest.raises(ValueError, match="errors for"):
        error_by_similarity(sim, {"m": sim[:5]})


def test_bootstrap_rmse_difference_unpaired():
    import numpy as np
    from molpractice.solubility import bootstrap_rmse_difference

    rng = np.random.default_rng(0)
    ya, yb = rng.normal(size=200), rng.normal(size=150)
    good = ya + 0.1 * rng.normal(size=(3, 200))
    bad = yb + 1.0 * rng.normal(size=(3, 150))
    out = bootstrap_rmse_difference(ya, good, yb, bad, n_boot=300, seed=1)
    assert out["verdict"] == "a better" and out["low"] <= out["diff"] <= out["high"] < 0
    assert (out["n_a"], out["n_b"], out["n_boot"]) == (200, 150, 300)
    same = bootstrap_rmse_difference(ya, good[0], ya, good[0], n_boot=300, seed=1)
    assert same["diff"] == 0 and same["verdict"] == "no detectable difference"
    assert bootstrap_rmse_difference(ya, good, yb, bad, n_boot=50, seed=3) == \
        bootstrap_rmse_difference(ya, good, yb, bad, n_boot=50, seed=3)
    with pytest.raises(ValueError, match="pred_b"):
        bootstrap_rmse_difference(ya, good, yb, bad[:, :10])
    with pytest.raises(ValueError):
        bootstrap_rmse_difference(ya, good, yb, bad, n_boot=0)


def test_bootstrap_rmse_difference_joint_resampling_of_shared_molecules():
    import numpy as np
    from molpractice.solubility import bootstrap_rmse_difference

    rng = np.random.default_rng(0)
    y = rng.normal(size=120)
    pred = y + 0.3 * rng.normal(size=120)
    ids_a, ids_b = np.arange(0, 80), np.arange(40, 120)       # 40 molecules in both sets
    a, b = bootstrap_rmse_difference(y[ids_a], pred[ids_a], y[ids_b], pred[ids_b], n_boot=400, seed=2,
                                     ids_a=ids_a, ids_b=ids_b), None
    assert a["joint"] and a["n_shared"] == 40 and a["low"] <= a["diff"] <= a["high"]
    # the same molecules and predictions on both sides: every joint replicate is exactly 0
    same = bootstrap_rmse_difference(y, pred, y, pred, n_boot=100, seed=0, ids_a=np.arange(120), ids_b=np.arange(120))
    assert same["low"] == same["high"] == 0 and same["n_shared"] == 120
    indep = bootstrap_rmse_difference(y, pred, y, pred, n_boot=100, seed=0)
    assert indep["high"] - indep["low"] > 0 and not indep["joint"] and indep["n_shared"] is None
    # sharing makes the two RMSEs move together: narrower than the independent resampling
    ind = bootstrap_rmse_difference(y[ids_a], pred[ids_a], y[ids_b], pred[ids_b], n_boot=400, seed=2)
    assert a["high"] - a["low"] < ind["high"] - ind["low"]
    with pytest.raises(ValueError, match="both"):
        bootstrap_rmse_difference(y, pred, y, pred, ids_a=np.arange(120))
    with pytest.raises(ValueError, match="unique"):
        bootstrap_rmse_difference(y, pred, y, pred, ids_a=np.zeros(120), ids_b=np.arange(120))


def test_bootstrap_rmse_interval_covers_test_sampling():
    import numpy as np
    from molpractice.solubility import bootstrap_rmse_interval
    from molpractice.training import rmse

    rng = np.random.default_rng(0)
    y = rng.normal(size=100)
    runs = y + 0.5 * rng.normal(size=(3, 100))
    ci = bootstrap_rmse_interval(y, runs, n_boot=500, seed=0)
    assert np.isclose(ci["rmse"], np.mean([rmse(y, r) for r in runs]))
    assert ci["low"] < ci["rmse"] < ci["high"] and ci["sd"] > 0 and ci["n"] == 100
    assert bootstrap_rmse_interval(y, runs, n_boot=50, seed=1) == bootstrap_rmse_interval(y, runs, n_boot=50, seed=1)
    perfect = bootstrap_rmse_interval(y, y, n_boot=20)
    assert perfect["low"] == perfect["high"] == 0
    with pytest.raises(ValueError):
        bootstrap_rmse_interval(y, runs[:, :10])
    with pytest.raises(ValueError):
        bootstrap_rmse_interval(y, runs, n_boot=1)


def test_schedule_gaps_compare_every_recorded_schedule_with_the_chosen_one():
    from molpractice.solubility import SCHEDULE_CHECK, schedule_gaps

    rows = dict(SCHEDULE_CHECK["rows"])
    gaps = schedule_gaps()
    assert [g[0] for g in gaps] == ["60 epochs, patience 25 (before)", "30 epochs, patience 15",
                                    "24 epochs, patience 10"]
    for label, d in gaps:
        assert abs(d - (rows[label] - rows[SCHEDULE_CHECK["chosen"]])) < 1e-12


def test_sd_interval_chi_square():
    import numpy as np
    from scipy.stats import chi2
    from molpractice.solubility import sd_interval

    low, high = sd_interval(0.034, 5)
    assert low < 0.034 < high
    assert np.isclose(low, 0.034 * np.sqrt(4 / chi2.ppf(0.975, 4)))
    assert np.isclose(high, 0.034 * np.sqrt(4 / chi2.ppf(0.025, 4)))
    assert sd_interval(0.0, 3) == (0.0, 0.0)
    wide, narrow = sd_interval(1.0, 5), sd_interval(1.0, 50)
    assert wide[1] - wide[0] > narrow[1] - narrow[0]
    with pytest.raises(ValueError):
        sd_interval(1.0, 1)


def test_spearman_interval_fisher_z():
    import numpy as np
    from molpractice.solubility import spearman_interval

    low, high = spearman_interval(0.0, 128)
    assert np.isclose(low, -high) and 0.15 < high < 0.2
    low, high = spearman_interval(0.5, 100)
    assert low < 0.5 < high and (high - 0.5) < (0.5 - low)   # skewed towards 0 by the z transform
    assert spearman_interval(0.5, 1000)[0] > low
    for bad in [(0.2, 3), (1.0, 50), (-1.0, 50)]:
        with pytest.raises(ValueError):
            spearman_interval(*bad)


def test_rmse_shift_bound_holds_and_is_tight():
    import numpy as np
    from molpractice.solubility import rmse_shift_bound
    from molpractice.training import rmse

    rng = np.random.default_rng(0)
    y, pred = rng.normal(size=50), rng.normal(size=50)
    d = np.zeros(50)
    d[:3] = [0.3, -0.18, 0.05]
    bound = rmse_shift_bound(d[:3], 50)
    assert np.isclose(bound, np.sqrt((d ** 2).sum() / 50))
    assert abs(rmse(y + d, pred) - rmse(y, pred)) <= bound + 1e-12
    assert np.isclose(abs(rmse(pred + d, pred) - rmse(pred, pred)), bound)   # equality: perfect predictions
    assert rmse_shift_bound([], 10) == 0.0
    with pytest.raises(ValueError):
        rmse_shift_bound([0.1, 0.2], 1)
    with pytest.raises(ValueError):
        rmse_shift_bound([np.nan], 5)


def test_selection_comparisons_pair_the_validation_choice():
    import numpy as np
    from molpractice.solubility import selection_comparisons

    rng = np.random.default_rng(0)
    y = rng.normal(size=150)
    good, close, bad = (y + s * rng.normal(size=(2, 150)) for s in (0.3, 0.3, 1.0))
    rows = [{"dropout": d, "descriptor readout": r, "val RMSE (mean)": float(np.sqrt(((p - y) ** 2).mean(1)).mean())}
            for (d, r), p in [((0.1, True), good), ((0.2, True), close), ((0.1, False), bad)]]
    sel = {"table": rows, "val_predictions": [good, close, bad], "y_val": y}
    out = selection_comparisons(sel, n_boot=300)
    best = int(np.argmin([r["val RMSE (mean)"] for r in rows]))
    assert best in (0, 1) and len(out) == 2 and out["other"].iloc[-1] == "dropout 0.1, descriptors False"
    assert out["verdict"].tolist() == ["no detectable difference", "chosen lower"]
    assert (out["low"] <= out["diff"]).all() and (out["diff"] <= out["high"]).all()
    assert not out.attrs["resolved"] and out.attrs["n_val"] == 150
    assert selection_comparisons(dict(sel, table=[rows[0], rows[2]], val_predictions=[good, bad]),
                                 n_boot=300).attrs["resolved"]
    with pytest.raises(ValueError, match="no validation predictions"):
        selection_comparisons({"table": [], "val_predictions": [], "y_val": None})


def test_schedule_check_text_and_machine_description():
    from molpractice.solubility import SCHEDULE_CHECK, machine_description, schedule_check_text

    text = schedule_check_text()
    for name, val in SCHEDULE_CHECK["rows"]:
        assert name in text and f"{val:.3f}" in text
    assert "-0.009" in text and "every longer schedule has the lower recorded mean" in text and "no interval" in text
    assert "cores" in machine_description()
