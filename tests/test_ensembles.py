"""Unit tests of molpractice.ensembles and molpractice.plots_calibration on tiny data (seconds, one thread)."""
import json
import types

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from molpractice import calibration as C
from molpractice import ensembles as E
from molpractice import uncertainty_report as R
from molpractice import plots_calibration as P
from solutions import ch01_solubility_gnn as ch01
from solutions import ch03_uncertainty as ch03

matplotlib.use("Agg")
TINY = dict(epochs=2, patience=2, hidden=16, num_layers=1, batch_size=16)


@pytest.fixture(scope="module")
def tiny_df():
    from molpractice.solubility import load_data

    df, _ = load_data()
    return df.iloc[::16].reset_index(drop=True)  # ~80 molecules across the whole logS range


@pytest.fixture(scope="module")
def tiny_data(tiny_df):
    return E.prepare_splits(ch01, tiny_df)


# ------------------------------------------------------------------------------------------- data
def test_prepare_splits_partitions_and_standardises(tiny_data, tiny_df):
    for name, d in tiny_data.items():
        idx = np.concatenate([d.index[p] for p in ("train", "val", "test")])
        assert sorted(idx.tolist()) == list(range(len(tiny_df))), f"{name}: not a partition"
        assert len(d.graphs["train"]) == len(d.y["train"]) == len(d.smiles["train"])
        desc = torch.cat([g.descriptors for g in d.graphs["train"]]).double()
        assert torch.allclose(desc.mean(0), torch.zeros(desc.shape[1], dtype=torch.float64), atol=1e-5)
        assert np.allclose(d.y["test"], tiny_df["target"].to_numpy()[d.index["test"]])


def test_prepare_splits_rejects_unknown_split(tiny_df):
    with pytest.raises(ValueError, match="unknown split"):
        E.prepare_splits(ch01, tiny_df, splits=("cluster",))


def test_labels_above():
    assert E.labels_above([-5.0, -4.0, -3.9], -4.0).tolist() == [0, 0, 1]


# ------------------------------------------------------------------------------------------- models
@pytest.mark.parametrize("head", ["gaussian", "mse", "classifier"])
def test_fit_ensemble_each_head_predicts_member_outputs(tiny_data, head):
    d = tiny_data["scaffold"]
    ens = E.fit_ensemble(ch01, d, head, members=2, verbose=False, **TINY)
    assert len(ens.models) == len(ens.histories) == len(ens.seconds) == 2
    out = ens.predict(d.graphs["test"])
    n = len(d.graphs["test"])
    if head == "gaussian":
        means, variances = out
        assert means.shape == variances.shape == (2, n) and np.all(variances > 0)
    else:
        assert out.shape == (2, n) and np.all(np.isfinite(out))
    assert not np.allclose(out[0] if head != "gaussian" else out[0][0], out[1] if head != "gaussian" else out[0][1]), \
        "members with different seeds must differ"


def test_fit_member_rejects_unknown_head_and_setting(tiny_data):
    with pytest.raises(ValueError, match="head"):
        E.fit_member(ch01, tiny_data["scaffold"], 0, head="poisson")
    with pytest.raises(ValueError, match="unknown setting"):
        E.fit_member(ch01, tiny_data["scaffold"], 0, head="mse", epoch=3)


def test_fit_selection_ensembles_gives_both_criteria_from_one_run(tiny_data):
    d = tiny_data["scaffold"]
    tiny = {**TINY, "epochs": 6, "patience": 2, "lr": 3e-3}
    both = E.fit_selection_ensembles(ch01, d, members=2, verbose=False, **tiny)
    assert list(both) == list(E.CRITERIA)
    for crit, ens in both.items():
        assert ens.head == "gaussian" and len(ens.models) == 2
        for h in ens.histories:
            assert h["select_on"] == crit and "kept" not in h
            key = "val_rmse" if crit == "rmse" else "val_nll"
            assert h[f"best_{key}"] == pytest.approx(min(h[key][: h["epochs_run"]]))
    chosen = E.SETTINGS.current().select_on
    plain = E.fit_ensemble(ch01, d, "gaussian", members=2, verbose=False, **tiny)
    assert np.allclose(both[chosen].predict(d.graphs["val"])[0], plain.predict(d.graphs["val"])[0]), \
        "the chosen criterion's ensemble must equal fit_ensemble's"


def test_choose_recipe_follows_the_rule():
    base = dict(n=100, nll=1.2, ece_recal=0.05, coverage95_recal=0.95, spearman=0.0, spearman_folds=[0.0],
                mean_best_epoch=10.0)
    rows = [{**base, "beta": 0.0, "select_on": "rmse", "rmse": 0.70, "nll_recal": 1.20},
            {**base, "beta": 0.5, "select_on": "rmse", "rmse": 0.72, "nll_recal": 1.10},
            {**base, "beta": 0.5, "select_on": "nll", "rmse": 0.74, "nll_recal": 1.00}]  # too inaccurate
    chosen, reason = E.choose_recipe(rows)
    assert (chosen["beta"], chosen["select_on"]) == (0.5, "rmse") and "0.700" in reason
    rows[2]["rmse"] = 0.73  # now within 0.03 of the best: its lower NLL wins
    assert E.choose_recipe(rows)[0]["select_on"] == "nll"
    assert len(R.recipe_table(rows)) == 3


def test_settings_recipe_is_what_the_rule_gives_on_the_recorded_cross_validation():
    chosen, reason = E.choose_recipe(E.RECIPE_EVIDENCE)
    for mode in (E.SETTINGS.full, E.SETTINGS.fast):  # CI runs the same code path as full mode
        assert (mode["beta"], mode["select_on"]) == (chosen["beta"], chosen["select_on"]), reason
    assert {(r["beta"], r["select_on"]) for r in E.RECIPE_EVIDENCE} == {(b, c) for b in (0.0, 0.5) for c in E.CRITERIA}
    assert "RECIPE_RULE" in E.SETTINGS.doc["select_on"] and "RECIPE_RULE" in E.SETTINGS.doc["beta"]
    assert "test part is not touched" in E.RECIPE_RULE


def test_scaffold_folds_partition_without_sharing_a_scaffold(tiny_df):
    smiles = tiny_df["smiles"].tolist()
    folds = E.scaffold_folds(smiles, ch01, 3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(smiles)))
    scaffolds = [{ch01.murcko_scaffold(smiles[i]) for i in f} for f in folds]
    assert not (scaffolds[0] & scaffolds[1] or scaffolds[0] & scaffolds[2] or scaffolds[1] & scaffolds[2])
    with pytest.raises(ValueError, match="folds"):
        E.scaffold_folds(smiles, ch01, 1)
    with pytest.raises(ValueError, match="scaffolds"):
        E.scaffold_folds(["CCO", "CCCO", "CCN"], ch01, 2)  # all acyclic: one scaffold


def test_cross_validate_recipes_scores_only_the_training_part(tiny_df, monkeypatch):
    scored = []
    real = E.gaussian_metrics
    monkeypatch.setattr(E, "gaussian_metrics", lambda c3, m, v, y, **k: scored.append(np.asarray(y)) or real(c3, m, v, y, **k))
    rows = E.cross_validate_recipes(ch01, ch03, tiny_df, betas=(0.0, 0.5), folds=2, members=2, verbose=False,
                                    **{**TINY, "epochs": 3})
    assert {(r["beta"], r["select_on"]) for r in rows} == {(b, c) for b in (0.0, 0.5) for c in E.CRITERIA}
    from molpractice.splits import make_splits

    tr, va, te = make_splits(tiny_df["smiles"].tolist(), ch01)["scaffold"]
    y = tiny_df["target"].to_numpy()
    for r in rows:
        assert r["n"] == len(tr) and len(r["spearman_folds"]) == 2
        assert all(np.isfinite(r[k]) for k in ("rmse", "nll", "nll_recal", "ece_recal"))
    for ys in scored:  # pooled out-of-fold targets: exactly the training part's, never the test part's
        assert sorted(ys.tolist()) == sorted(y[tr].tolist())


def test_train_classifier_needs_both_classes(tiny_data):
    d = tiny_data["scaffold"]
    model = E._build_model(ch01, d.graphs["train"], dict(E._settings(TINY)), out_dim=1)
    with pytest.raises(ValueError, match="one side"):
        E.train_classifier(model, d.graphs["train"], d.graphs["val"], threshold=100.0, epochs=1, lr=1e-3,
                           batch_size=16, patience=1)


def test_mc_dropout_samples_differ_and_model_returns_to_eval(tiny_data):
    d = tiny_data["scaffold"]
    model, _ = E.fit_member(ch01, d, 0, head="gaussian", dropout=0.5, **TINY)
    from molpractice.training import predict

    before = predict(model, d.graphs["test"])[0]
    means, variances = E.mc_dropout_predict(model, d.graphs["test"], passes=4, seed=0)
    assert means.shape == variances.shape == (4, len(d.graphs["test"]))
    assert not np.allclose(means[0], means[1]), "dropout was not active during the passes"
    again, _ = E.mc_dropout_predict(model, d.graphs["test"], passes=4, seed=0)
    assert np.allclose(means, again), "the same seed must give the same passes"
    assert not model.training and "eval" not in vars(model)
    assert np.allclose(predict(model, d.graphs["test"])[0], before), "the model changed after MC dropout"
    with pytest.raises(ValueError):
        E.mc_dropout_predict(model, d.graphs["test"], passes=0)


def test_evaluate_split_classification_and_targets(tiny_data):
    d = tiny_data["scaffold"]
    gauss = E.fit_ensemble(ch01, d, "gaussian", members=2, verbose=False, **TINY)
    mse = E.fit_ensemble(ch01, d, "mse", members=2, verbose=False, **TINY)
    result = R.evaluate_split(ch03, d, gauss, mse, mc_passes=3)
    models = [r["model"] for r in result["rows"]]
    assert models == ["gaussian_single", "gaussian_ensemble", "gaussian_ensemble_recalibrated", "mc_dropout",
                      "mse_ensemble_spread"]
    for r in result["rows"]:
        for key in R.METRICS:
            assert np.isfinite(r[f"{key}_mean"]), (r["model"], key)
    rec = result["rows"][2]
    assert rec["variance_scale"] == pytest.approx(result["s2"]) and rec["rmse_mean"] == result["rows"][1]["rmse_mean"]
    threshold = float(np.median(d.y["train"]))
    cls = E.fit_ensemble(ch01, d, "classifier", members=1, verbose=False, threshold=threshold, **TINY)
    rows = R.evaluate_classification(ch03, d, result["predictions"], cls, threshold=threshold, n_boot=50)
    assert [(r["model"], r["variant"]) for r in rows] == [
        ("regression_ensemble", "raw"), ("regression_ensemble", "temperature_scaled"),
        ("classifier_ensemble", "raw"), ("classifier_ensemble", "temperature_scaled")]
    for r in rows:
        assert r["ece_ci_low"] <= r["ece_ci_high"] and 0 <= r["ece"] <= 1 and r["temperature"] > 0
        assert r["ece_ci_low"] <= r["ece_boot_mean"] <= r["ece_ci_high"]
    checks = R.target_checks(result["rows"], rows)
    assert {"ensemble_nll_below_single", "seconds_per_model", "ensemble_rmse_vs_mse_ensemble"} <= set(checks)
    assert not {"recalibrated_ece", "spearman_total_std"} & set(checks), "withdrawn targets (issue #17)"
    assert all(isinstance(c["met"], (bool, np.bool_)) for c in checks.values())
    assert isinstance(R.results_table(result["rows"]), pd.DataFrame)
    assert isinstance(R.classification_table(rows), pd.DataFrame)


def test_run_benchmark_on_a_small_csv(tmp_path, tiny_df, monkeypatch, capsys):
    monkeypatch.setenv("MOLPRACTICE_FAST", "1")
    csv = tmp_path / "tiny.csv"
    tiny_df[["smiles", "target"]].rename(columns={"smiles": "SMILES", "target": "logS"}).to_csv(csv, index=False)
    out = tmp_path / "bench.json"
    report = R.run_benchmark("solutions", csv=str(csv), smiles_col="SMILES", target_col="logS", seeds=1,
                             json_path=str(out))
    saved = json.loads(out.read_text())
    assert saved["chapter"] == "ch03" and saved["members"] == 1 and saved["mode"] == "fast"
    assert {(r["split"], r["model"]) for r in saved["results"]} >= {("scaffold", "gaussian_ensemble"),
                                                                    ("random", "gaussian_ensemble_recalibrated")}
    for r in saved["results"]:
        assert {"rmse_mean", "nll_mean", "ece_mean", "coverage68_mean", "coverage95_mean", "sharpness_mean",
                "spearman_mean", "seconds_per_model"} <= set(r)
    assert report["targets"].keys() == saved["targets"].keys()
    printed = capsys.readouterr().out
    assert "validation" in printed and "gaussian_ensemble" in printed
    with pytest.raises(ValueError):
        R.run_benchmark("solutions", seeds=0)


def test_bench_recipes_prints_the_rule_table_and_verdict(tmp_path, tiny_df, monkeypatch, capsys):
    """``bench ch03 --recipes``: the cross-validation itself is tested above; here its report (the recorded
    rows stand in for a 20-minute run)."""
    calls = []
    monkeypatch.setattr(E, "cross_validate_recipes", lambda *a, **k: calls.append(k) or E.RECIPE_EVIDENCE)
    csv = tmp_path / "tiny.csv"
    tiny_df[["smiles", "target"]].to_csv(csv, index=False)
    out = tmp_path / "recipes.json"
    report = R.run_benchmark("solutions", csv=str(csv), smiles_col="smiles", target_col="target", recipes=True,
                             json_path=str(out))
    assert calls and report["settings_agree"] and json.loads(out.read_text())["chosen"] == report["chosen"]
    printed = capsys.readouterr().out
    assert "test part is not touched" in printed and "the same recipe" in printed and "spearman per fold" in printed


def test_bench_recipes_flag_is_refused_by_other_chapters():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "molpractice", "bench", "ch01", "--recipes"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "does not take --recipes" in result.stderr


# ------------------------------------------------------------------------------------------- metrics
def test_gaussian_metrics_on_calibrated_synthetic_data():
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=4000), rng.uniform(0.2, 2.0, 4000)
    y = mean + std * rng.standard_normal(4000)
    m = E.gaussian_metrics(ch03, mean, std**2, y)
    assert m["ece"] < 0.02 and abs(m["coverage68"] - 0.68) < 0.02 and abs(m["coverage95"] - 0.95) < 0.01
    assert m["sharpness"] == pytest.approx(std.mean())
    assert m["spearman"] > 0.3  # heteroscedastic: larger std, larger errors
    assert m["nll"] == pytest.approx(-stats.norm.logpdf(y, mean, std).mean())


def test_probabilities_and_scores():
    p = E.exceedance_probability(np.array([-4.0, -3.0]), np.array([1.0, 4.0]), -4.0)
    assert p == pytest.approx([0.5, stats.norm.cdf(0.5)])
    z = np.array([-30.0, -1.0, 0.0, 2.0])
    assert E.logit(E.sigmoid(z[1:])) == pytest.approx(z[1:])
    assert E.ensemble_probability(np.array([[0.0, 10.0], [0.0, -10.0]])) == pytest.approx([0.5, 0.5])
    assert E.brier_score([1.0, 0.0, 0.5], [1, 0, 1]) == pytest.approx(0.25 / 3)
    m = E.classification_metrics(ch03, np.array([0.9, 0.2, 0.6]), np.array([1, 0, 0]), n_bins=5)
    assert m["accuracy"] == pytest.approx(2 / 3) and m["ece"] == pytest.approx(ch03.classification_ece(
        np.array([0.9, 0.2, 0.6]), np.array([1, 0, 0]), n_bins=5))
    assert np.isnan(E.spearman([1, 1, 1], [1, 2, 3]))
    assert E.compare(0.1, 0.2) == "lower" and E.compare(0.3, 0.2) == "higher" and E.compare(1, 1) == "equal to"


def test_bootstrap_interval_is_reproducible_and_shrinks():
    x = np.random.default_rng(1).normal(size=500)
    lo, hi, values = E.bootstrap_interval(np.mean, (x,), n_boot=300, seed=3)
    assert (lo, hi) == E.bootstrap_interval(np.mean, (x,), n_boot=300, seed=3)[:2]
    assert lo < x.mean() < hi and len(values) == 300
    lo50, hi50, _ = E.bootstrap_interval(np.mean, (x,), n_boot=300, size=50, seed=3)
    assert hi50 - lo50 > 2 * (hi - lo)
    with pytest.raises(ValueError):
        E.bootstrap_interval(np.mean, (x, x[:10]))


# ------------------------------------------------------------------------------------------- plots data
def test_coverage_curve_gap_is_regression_ece():
    rng = np.random.default_rng(2)
    mean, std = rng.normal(size=300), rng.uniform(0.5, 1.5, 300)
    y = mean + 1.4 * std * rng.standard_normal(300)
    expected, observed = P.coverage_curve(mean, std, y, n_levels=50)
    assert expected[0] == 0 and expected[-1] == 1 and observed[-1] == 1
    assert np.all(np.diff(observed) >= 0)
    assert np.mean(np.abs(expected - observed)) == pytest.approx(ch03.regression_ece(mean, std, y, n_levels=50))
    with pytest.raises(ValueError):
        P.coverage_curve(mean, -std, y)


def test_reliability_bins_reproduce_classification_ece():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(400, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 3, 400)
    bins = P.reliability_bins(probs, labels, n_bins=10)
    assert bins["count"].sum() == 400 and len(bins) == 10
    assert P.binned_ece(bins) == pytest.approx(ch03.classification_ece(probs, labels, n_bins=10))
    binary = P.reliability_bins(np.array([1.0, 0.25, 0.75]), np.array([1, 0, 0]), n_bins=4)
    assert binary["count"].tolist() == [0, 0, 2, 1]  # 0.75 and 1 − 0.25 in (0.5, 0.75]; 1.0 in the last bin


def test_confidence_curve_oracle_is_best_and_ends_at_rmse():
    rng = np.random.default_rng(4)
    err = rng.normal(size=200)
    fractions, oracle = P.confidence_curve(err, np.abs(err))
    _, random_order = P.confidence_curve(err, rng.random(200))
    assert fractions[-1] == pytest.approx(1.0)
    assert oracle[-1] == pytest.approx(np.sqrt(np.mean(err**2))) == pytest.approx(random_order[-1])
    assert np.all(np.diff(oracle) >= -1e-12) and np.all(oracle <= random_order + 1e-12)


def test_plots_return_labelled_axes():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(5)
    mean, std = rng.normal(size=60), rng.uniform(0.5, 1.0, 60)
    y = mean + std * rng.standard_normal(60)
    axes = [P.plot_calibration_curve({"model": P.coverage_curve(mean, std, y)}),
            P.plot_reliability_diagram(P.reliability_bins(rng.random(60), rng.integers(0, 2, 60))),
            P.plot_confidence_curve({"std": P.confidence_curve(y - mean, std)}, oracle=P.confidence_curve(y - mean, np.abs(y - mean))),
            P.plot_variance_components(std**2, (std / 3) ** 2, color=rng.random(60), color_label="similarity"),
            P.plot_binned_by_similarity(rng.random(60), {"|error|": np.abs(y - mean), "std": std}),
            P.plot_interval_widths([50, 100, 128], {"ECE": [0.2, 0.14, 0.12]}),
            P.plot_rmse_vs_rmv({"model": C.ence_bins(std, y, mean)})]
    quantile = P.plot_calibration_curve({"model": C.quantile_calibration_curve(C.pit(mean, std, y))}, kind="quantile")
    assert "PIT" in quantile.get_ylabel() and "QCE" in quantile.get_legend().get_texts()[1].get_text()
    for ax in axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    with pytest.raises(ValueError):
        P.plot_calibration_curve({}, kind="pit")
    plt.close("all")


def test_ensemble_vs_members_and_calibration_suite():
    rng = np.random.default_rng(6)
    n = 128
    members_mean = rng.normal(size=(3, n))
    members_var = rng.uniform(0.2, 1.0, (3, n))
    mean, alea, epi = ch03.ensemble_moments(members_mean, members_var)
    y = mean + np.sqrt(alea + epi) * rng.standard_normal(n)
    pred = {"mean": mean, "var": alea + epi, "members_mean": members_mean, "members_var": members_var, "y": y}
    out = R.ensemble_vs_members(ch03, pred, n_boot=50)
    assert set(out) == {"nll", "rmse", "ece"}
    single_nll = np.mean([ch03.gaussian_nll(m, v, y) for m, v in zip(members_mean, members_var)])
    assert out["nll"]["change"] == pytest.approx(ch03.gaussian_nll(mean, alea + epi, y) - single_nll)
    assert all(c["low"] <= c["high"] for k, c in out.items() if k != "ece")
    assert out["ece"]["kind"] == "size" and "low" not in out["ece"]  # no interval for a binned error's change

    split = types.SimpleNamespace(y={"val": y[:64], "test": y[64:]})  # what calibration_suite reads of a SplitData

    preds = {"val_mean": mean[:64], "val_var": (alea + epi)[:64], "mean": mean[64:], "aleatoric": alea[64:],
             "epistemic": epi[64:], "members_mean": members_mean[:, 64:], "members_var": members_var[:, 64:]}
    sim = rng.random(n)
    suite = R.calibration_suite(ch03, split, preds, sim[:64], sim[64:], draws=50, n_boot=50)
    assert set(suite) >= {"reference", "recalibration", "conformal", "ence", "configurations", "draws"}
    confs = suite["configurations"]
    assert {"gaussian_ensemble", "gaussian_ensemble_recalibrated", "isotonic", "member 0", "member 2"} <= set(confs)
    assert "mc_dropout" not in confs and "nll" not in confs["isotonic"] and "spearman" not in confs["member 0"]
    table = C.configuration_table({"toy": confs})
    assert table.loc[("toy", "isotonic"), "nll"] == "n/a" and "[" in table.loc[("toy", "member 1"), "ece"]
    assert "unadjusted for multiplicity" in C.outside_lines({"toy": confs})[0]
    assert set(suite["conformal"]) == {0.1, 0.32}
    groups = suite["conformal"][0.1]["groups"]
    assert sorted(groups) == [0, 1, 2] and sum(g["n_test"] for g in groups.values()) == 64
