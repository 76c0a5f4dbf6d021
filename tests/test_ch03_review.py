"""Unit tests of the review additions to chapter 3's package code: the variance-scale direction with intervals,
the paired z² steps and the members' starting z², the width ratio (no verdict), the Spearman reconciliation (the
test band is not the CV yardstick), BCa paired changes, the out-of-fold calibration bands, the similarity
verdicts, chapter 1's stored ensemble RMSE and the conformal gap-change bootstrap that refits the quantiles."""
import json
import types

import numpy as np
import pytest

from molpractice import calibration as C
from molpractice import calibration_verdicts as V
from molpractice import plots_calibration as PC
from molpractice import uncertainty_report as R
from solutions import ch03_uncertainty as ch03


def test_mean_z2_direction_names_a_direction_only_when_the_intervals_exclude_1():
    rng = np.random.default_rng(0)
    opposite = V.mean_z2_direction(1.6 * rng.standard_normal(2000), 0.6 * rng.standard_normal(2000), n_boot=200)
    assert opposite["direction"].startswith("opposite directions (validation above 1, test below 1)")
    assert opposite["diff"][2] < 0 and "differ detectably" in opposite["line"]
    same = V.mean_z2_direction(0.6 * rng.standard_normal(2000), 0.7 * rng.standard_normal(2000), n_boot=200)
    assert same["direction"].startswith("same direction: both parts detectably under-confident (both intervals "
                                        "below 1)") and "transfers" not in same["direction"]
    alike = V.mean_z2_direction(0.7 * rng.standard_normal(300), 0.7 * rng.standard_normal(300), n_boot=200)
    assert "cannot show that the scale fails to transfer" in alike["line"]
    small = V.mean_z2_direction(1.1 * rng.standard_normal(40), 0.95 * rng.standard_normal(40), n_boot=200)
    assert small["direction"].startswith("no detectable direction")
    for part in ("val", "test"):
        value, lo, hi = small[part]
        assert lo <= value <= hi
    assert "no detectable difference between validation and test" in small["line"]


def _pred(seed=0, n=80, scale=1.0):
    rng = np.random.default_rng(seed)
    mm, mv = rng.normal(size=(4, n)), rng.uniform(0.2, 1.0, (4, n))
    mean, alea, epi = ch03.ensemble_moments(mm, mv)
    y = mean + scale * np.sqrt(alea + epi) * rng.standard_normal(n)
    return dict(members_mean=mm, members_var=mv, mean=mean, alea=alea, epi=epi, var=alea + epi, y=y,
                err=np.abs(y - mean))


def test_z2_steps_hold_molecule_by_molecule_and_get_no_interval():
    for seed in range(5):  # joint convexity of x²/v: both steps lower z² for every molecule, whatever the data
        p = _pred(seed=seed, scale=0.5 + seed)
        pm = V.z2_per_molecule(p)
        assert pm["i"] == pm["ii"] == pm["n"] == 80
    d = V.z2_decomposition(p)
    assert d["mean_averaged"] <= d["members"] and d["ensemble"] <= d["mean_averaged"]
    line = V.z2_lines({"toy": p}, n_boot=50)[0]
    assert "paired 95% CI" not in line and "by construction" in line and "80 of 80 molecules" in line
    assert "95% CI" in line.split("→")[0]  # the members' start keeps its interval against 1


def test_width_ratio_line_compares_with_one_over_root_n_without_a_verdict():
    sizes = [50, 100, 128]
    good = V.width_ratio_line(sizes, [0.1 / np.sqrt(n) for n in sizes])
    assert "measured 1.60, 1/√n predicts 1.60 (+0%" in good and "without a verdict" in good
    assert "consistent" not in good and "(-38%" in V.width_ratio_line(sizes, [0.05, 0.05, 0.05])
    assert "± 0.12 (Monte Carlo SE)" in V.width_ratio_line(sizes, [0.1, 0.08, 0.06], se=0.12)


def test_spearman_reconciliation_follows_the_numbers():
    sp = {"observed": 0.17, "median": 0.15, "low": -0.02, "high": 0.32}
    above = V.spearman_reconciliation(sp, (0.01, 0.33), -0.003, 128, cv_n=1019, cv_folds=[-0.08, 0.18, 0.09, -0.2])
    assert "contains both" not in above and "marginal evidence" in above and "n = 128" in above
    assert "n = 1019 pooled over 4 fold ensembles" in above and "folds -0.08, +0.18, +0.09, -0.20" in above
    assert "own calibrated band was not computed" in above and "not its yardstick" in above
    assert "calibrated median" not in above and "no claim that σ ranks the errors" in above
    none = V.spearman_reconciliation(sp, (-0.05, 0.33), -0.003, 128)
    assert "not detectably different from 0" in none and "no claim that σ ranks" in none


def test_similarity_relation_lines_give_a_verdict_per_interval():
    p = _pred(n=200)
    sim = -p["err"] + 0.01 * np.random.default_rng(1).standard_normal(200)  # error falls as similarity rises
    rel = V.similarity_relations({"toy": p}, {"toy": sim}, n_boot=100)
    line = V.similarity_relation_lines(rel)[0]
    assert "|error| -" in line and "falls as similarity rises" in line.split(";")[0] and "aleatoric σ" in line
    fake = {"s": {"|error|": (0, -0.1, 0.1, "no detectable relation"),
                  "total σ": (-0.2, -0.4, -0.06, "falls as similarity rises"),
                  "aleatoric σ": (-0.2, -0.4, -0.05, "falls as similarity rises"),
                  "epistemic σ": (-0.07, -0.25, 0.13, "no detectable relation")}}
    concl = V.similarity_conclusion(fake)[0]
    assert "epistemic part (members' disagreement) shows no detectable relation" in concl
    assert "aleatoric part shows the same relation as the total" in concl and "comes from" not in concl
    fake["s"]["epistemic share"] = 0.11
    fake["s"]["aleatoric − epistemic"] = (-0.15, -0.4, 0.1, "no detectable difference")
    concl = V.similarity_conclusion(fake)[0]
    assert "~11.0% of the variance" in concl and "(~89% of the variance)" in concl and "by construction" in concl
    assert "paired: -0.15, 95% CI -0.40 to +0.10 → no detectable difference" in concl
    assert "aleatoric − epistemic (paired" in line
    fake["s"].pop("aleatoric − epistemic")
    fake["s"]["aleatoric σ"] = (-0.1, -0.3, 0.02, "no detectable relation")
    assert "not attributable to one part" in V.similarity_conclusion(fake)[0]


def _notebook(tmp_path, text):
    nb = {"cells": [{"cell_type": "code", "source": "", "outputs": [{"output_type": "stream", "name": "stdout",
                                                                      "text": text}]}]}
    path = tmp_path / "01_toy.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_chapter1_ensemble_rmse_reads_the_stored_outputs(tmp_path):
    path = _notebook(tmp_path, "molpractice | device: cpu | mode: full | implementation: solutions\n"
                               "  random: RMSE(ensemble) 0.513 vs mean RMSE of its 5 members 0.539: gain -0.025\n"
                               "scaffold: RMSE(ensemble) 0.755 vs mean RMSE of its 5 members 0.816: gain -0.061\n")
    got = R.chapter1_ensemble_rmse(path)
    assert got["scaffold"] == {"ensemble_rmse": 0.755, "members": 5, "members_mean_rmse": 0.816}
    assert got["random"]["ensemble_rmse"] == 0.513 and got["source"] == "01_toy.ipynb" and got["mode"] == "full"
    with pytest.raises(ValueError, match="01_toy.ipynb"):
        R.chapter1_ensemble_rmse(_notebook(tmp_path, "nothing here\n"))
    stored = R.chapter1_ensemble_rmse()  # the repository's executed chapter-1 notebook holds both splits
    assert {"scaffold", "random"} <= set(stored)
    rows = [{"split": "scaffold", "model": "gaussian_ensemble", "rmse_mean": 0.777},
            {"split": "random", "model": "gaussian_ensemble", "rmse_mean": 0.600}]
    lines = R.mse_ensemble_lines(rows, got, mode="full")
    assert "difference +0.022 → |difference| ≤ 0.03 as a point estimate only (one run each)" in lines[0] + lines[1]
    assert "difference +0.087 → |difference| > 0.03 as a point estimate only" in lines[0] + lines[1]
    assert not any("met" in x.split("→")[1][:40] for x in lines)
    low = R.mse_ensemble_lines([{"split": "scaffold", "model": "gaussian_ensemble", "rmse_mean": 0.700}], got, mode="full")
    assert "|difference| > 0.03" in low[0]  # two-sided: far below is not "within" either
    assert all("no interval computed" in x for x in lines)
    fast = R.mse_ensemble_lines(rows, got, mode="fast")
    assert all("not comparable (chapter 1 stored in full mode, this run in fast mode)" in x for x in fast)


def test_mondrian_gap_interval_refits_the_quantiles_on_resampled_calibration_sets():
    rng = np.random.default_rng(3)
    n_cal, n_test, n_boot = 90, 90, 30
    mean, std = np.zeros(n_cal + n_test), np.ones(n_cal + n_test)
    groups = np.arange(n_cal + n_test) % 3
    y = rng.standard_normal(n_cal + n_test)
    calls = []
    fake = types.SimpleNamespace(conformal_quantile=lambda s, a: calls.append(len(s)) or ch03.conformal_quantile(s, a))
    cal, test = slice(0, n_cal), slice(n_cal, None)
    r = C.conformal_report(fake, {"mean": mean[cal], "std": std[cal], "y": y[cal]},
                           {"mean": mean[test], "std": std[test], "y": y[test]}, 0.1, groups[cal], groups[test],
                           n_boot=n_boot)
    assert len(calls) == 4 + 4 * n_boot  # marginal + 3 terciles, once for the estimate and once per resample
    assert r["gap_change"]["low"] <= r["gap_change"]["high"] and "refitted" in r["gap_change"]["resamples"]
    line = C.conformal_lines({("toy", 0.1): r})[0]
    assert "exact 95% CI" in line and "normal-approximation critical difference" in line and "q refitted" in line


def test_recalibration_summary_and_ece_null_verdicts_follow_the_numbers():
    nd = {"change": 0.01, "low": -0.01, "high": 0.02, "verdict": "no detectable change", "kind": "paired"}
    below = {"change": -0.05, "low": -0.02, "high": 0.01, "where": "below", "kind": "reference"}
    inside = {"change": 0.01, "low": -0.02, "high": 0.03, "where": "inside", "kind": "reference"}
    cov = {"change": 0.023, "gained": 3, "lost": 0, "nested": True, "p_mcnemar": None, "kind": "coverage"}
    recal = {"toy": {"changes": {("variance_scaled", "ece"): below, ("variance_scaled", "nll"): nd,
                                 ("variance_scaled", "coverage68"): cov, ("isotonic", "ece"): inside,
                                 ("isotonic", "width95"): {"change": 0.19, "kind": "fixed"}}}}
    line = V.recalibration_summary_lines(recal)[0]
    assert "ece -0.050 below its calibrated-reference band" in line and "nll +0.010 (no detectable change" in line
    assert "coverage68 +0.023 (+3/−0 molecules; sign fixed by nested intervals)" in line
    assert "isotonic: ece +0.010 inside its calibrated-reference band" in line and "width95 +0.190 (fixed" in line
    assert "higher" not in line and "the map lowered the error more" in line  # no bootstrap verdict words
    rose = {"change": 0.002, "low": 0.005, "high": 0.047, "where": "below", "kind": "reference",
            "paired": {"low": -0.01, "high": 0.02, "verdict": "no detectable change", "raw_position": "in",
                       "reliable": False}}
    line = V.recalibration_summary_lines({"toy": {"changes": {("isotonic", "qce"): rose}}})[0]
    assert "rose by +0.002 (no improvement)" in line and "not that the map helped" in line and "lowered" not in line
    assert "unreliable (raw qce in its calibrated band" in line
    rose["paired"].update(reliable=True, raw_position="above", verdict="higher")
    assert "→ higher" in V.recalibration_summary_lines({"toy": {"changes": {("isotonic", "qce"): rose}}})[0]
    edge = {**inside, "where": "at the edge of"}
    assert "no call" in V.recalibration_summary_lines({"toy": {"changes": {("isotonic", "ece"): edge}}})[0]
    assert V.ece_null_verdict(0.02, 0.03, 0.09).startswith("below the calibrated band")
    below = V.ece_null_verdict(0.02, 0.03, 0.09, 0.002)
    assert "two-sided p = 0.002" in below and "not a valid yardstick" in below and "rejected" in below
    assert "not independent draws" not in below and "clustered molecules would do the opposite" in below
    assert V.ece_null_verdict(0.10, 0.03, 0.09).startswith("above the calibrated band")
    assert V.ece_null_verdict(0.05, 0.03, 0.09).startswith("inside the calibrated band")


def test_bca_interval_matches_scipy_and_corrects_a_biased_statistic():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(5)
    x = rng.exponential(size=150)
    stat = lambda a: float(np.mean(a))  # noqa: E731
    lo, hi, values = C.bootstrap_interval(stat, (x,), n_boot=4000, seed=1)
    bca = C.bca_interval(values, stat(x), C.jackknife_values(stat, (x,)))
    ref = bootstrap((x,), np.mean, method="BCa", n_resamples=4000, random_state=2).confidence_interval
    assert bca[0] == pytest.approx(ref.low, abs=0.03) and bca[1] == pytest.approx(ref.high, abs=0.03)
    # an estimate below every resample: the bias correction shifts the interval down, it does not blow up
    shifted = C.bca_interval(values + 1.0, stat(x), C.jackknife_values(stat, (x,)))
    assert np.isfinite(shifted).all() and shifted[0] <= np.quantile(values + 1.0, 0.01)


def test_paired_change_reports_bca_percentile_boot_mean_and_method_sensitivity():
    rng = np.random.default_rng(6)
    m, y = rng.normal(size=128), rng.normal(size=128)
    s = np.full(128, 1.0)
    ece = lambda k: (lambda a, b: ch03.regression_ece(a, k * s[: len(a)], b))  # noqa: E731
    c = C.paired_change(ece(1.2), ece(1.0), (m, y), n_boot=300)
    keys = {"change", "low", "high", "verdict", "low_percentile", "high_percentile", "verdict_percentile",
            "boot_mean", "method_sensitive", "method"}
    assert keys <= set(c) and c["method"] == "BCa"
    assert c["method_sensitive"] == (c["verdict"] != c["verdict_percentile"])
    assert c["low"] <= c["high"] and c["low_percentile"] <= c["high_percentile"]


def test_calibrated_pit_reference_depends_on_n_only_and_matches_reference_values():
    ref = C.calibrated_pit_reference(128, draws=600)
    rng = np.random.default_rng(7)
    m, v = rng.normal(size=128), rng.uniform(0.1, 2.0, 128)
    full = C.reference_values(ch03, m, v, m + np.sqrt(v) * rng.standard_normal(128), draws=600)
    for key in ("ece", "qce", "coverage95"):
        assert ref[key]["median"] == pytest.approx(full[key]["median"], abs=0.006)
    big = C.calibrated_pit_reference(1019, draws=300)
    assert big["ece"]["high"] < ref["ece"]["high"] / 2


def test_cv_calibration_lines_read_out_of_fold_numbers_against_their_own_band():
    ev = [dict(beta=0.5, select_on="rmse", n=1019, ece_recal=0.080, coverage95_recal=0.965, spearman=-0.003,
               spearman_folds=[-0.08, 0.18, 0.09, -0.2]),
          dict(beta=0.0, select_on="rmse", n=1019, ece_recal=0.012, coverage95_recal=0.950, spearman=0.0,
               spearman_folds=[0.0, 0.0, 0.0, 0.0])]
    lines = V.cv_calibration_lines(ev, {"beta": 0.5, "select_on": "rmse"}, draws=200)
    assert "ece 0.080" in lines[0] and ": above)" in lines[0] and lines[0].endswith("← chosen")
    assert "ece 0.012" in lines[1] and ": inside)" in lines[1] and "chosen" not in lines[1]
    test_ref = {"ece": {"observed": 0.018, "median": 0.025, "low": 0.013, "high": 0.059}}
    s = V.cv_calibration_summary(ev, {"beta": 0.5, "select_on": "rmse"}, test_ref, 128, draws=1000)
    assert "detectable miscalibration out of fold" in s and "at the upper edge of its band" in s and "inside its band" in s
    assert "983 of 1019 molecules, exact binomial p 0.031" in s and "not robust to scaffold clustering" in s
    assert "n = 128" in s and "n = 1019" in s


def test_z2_lines_give_the_members_start_an_interval_and_a_verdict_against_1():
    line = V.z2_lines({"toy": _pred(scale=1.6, n=300)}, n_boot=100)[0]
    assert "over-confident (interval above 1)" in line
    rng = np.random.default_rng(9)
    mu = rng.normal(size=300)
    mm = mu + 0.01 * rng.standard_normal((4, 300))  # members agree; each announces variance 4, errors have variance 1
    mv = np.full((4, 300), 4.0)
    mean, alea, epi = ch03.ensemble_moments(mm, mv)
    y = mu + rng.standard_normal(300)
    p = dict(members_mean=mm, members_var=mv, mean=mean, alea=alea, epi=epi, var=alea + epi, y=y, err=np.abs(y - mean))
    assert "under-confident (interval below 1)" in V.z2_lines({"toy": p}, n_boot=100)[0]


def test_recalibration_summary_states_which_signs_the_maps_fix():
    w = {"change": 0.235, "kind": "fixed"}
    line = V.recalibration_summary_lines({"toy": {"s2": 1.16, "changes": {("variance_scaled", "width95"): w}}})[0]
    assert "s² = 1.16: variance scaling widens every interval" in line and "isotonic widths" in line


def test_samples_needed_lines_scale_with_one_over_root_n_and_check_it():
    lines = V.samples_needed_lines(128, effects=(0.05, 0.02), draws=300)
    assert lines[0].startswith("regression ECE at n = 128") and "recomputed at n =" in lines[1]
    n05, n02 = (int(x.split("n ≈ ")[1].split(" ")[0]) for x in lines[1:3])
    assert n02 == pytest.approx(n05 * (0.05 / 0.02) ** 2, rel=0.01)
    assert "95% coverage off by 0.05: n ≈ 73" in lines[3]


def test_ece_null_reports_a_two_sided_p():
    rng = np.random.default_rng(8)
    p = rng.uniform(0.05, 0.95, 200)
    out = C.ece_null(ch03, p, (rng.random(200) < p).astype(int), draws=200)
    assert 0 <= out["p_two_sided"] <= 1
    assert out["p_two_sided"] == pytest.approx(min(1.0, 2 * min(out["p_value"], 1 - out["p_value"])), abs=0.02)


def _configurations(n=128, seed=3):
    rng = np.random.default_rng(seed)
    m, v = rng.normal(size=n), rng.uniform(0.2, 1.0, n)
    y = m + np.sqrt(v) * rng.standard_normal(n)
    mm = m + 0.1 * rng.standard_normal((3, n))
    preds = {"mean": m, "aleatoric": 0.9 * v, "epistemic": 0.1 * v, "members_mean": mm,
             "members_var": np.tile(v, (3, 1)), "mc_mean": m, "mc_var": v}
    val = {"mean": m, "var": v, "y": m + np.sqrt(v) * rng.standard_normal(n)}
    recal = C.recalibration_comparison(ch03, val, {"mean": m, "var": v, "y": y}, n_boot=50, draws=100)
    return R.configuration_references(ch03, preds, y, recal, draws=100), recal, y


def test_configuration_references_cover_every_reported_configuration():
    confs, recal, y = _configurations()
    assert {"gaussian_ensemble", "gaussian_ensemble_recalibrated", "mc_dropout", "isotonic", "member 0"} <= set(confs)
    assert set(confs["mc_dropout"]) == set(C.REFERENCE_METRICS)
    assert set(confs["isotonic"]) == {"ece", "qce", "coverage68", "coverage95"}
    for ref in confs.values():
        for r in ref.values():
            assert r["low"] <= r["high"] and C.band_position(r) in ("in", "above", "below", "at the edge")


def test_ensemble_vs_members_lines_read_the_ece_change_as_a_size_against_each_band():
    confs, _, _ = _configurations()
    changes = {"nll": {"change": -0.1, "low": -0.2, "high": -0.05, "verdict": "lower", "kind": "paired"},
               "ece": {"change": 0.01, "kind": "size"}}
    lines = V.ensemble_vs_members_lines("toy", changes, confs)
    assert "paired 95% CI -0.200 to -0.050) → lower" in lines[0]
    assert "size only" in lines[1] and "of 3 in" in lines[1] and "CI" not in lines[1]


def test_q1_answer_starts_from_the_out_of_fold_evidence_and_compares_like_with_like():
    confs, recal, y = _configurations()
    conformal = {"q": 1.6, "n_cal": 127, "coverage": 0.9, "coverage_ci": (0.84, 0.95)}
    row = dict(beta=0.5, select_on="rmse", n=1019, ece_recal=0.080, coverage95_recal=0.965, spearman=-0.003,
               spearman_folds=[-0.08, 0.18, 0.09, -0.20])
    q = V.q1_answer({}, confs, recal, conformal, row, len(y), draws=1000)
    assert q.startswith("Q1. Start from the larger evidence") and "detectably miscalibrated by its ECE" in q
    assert "983 of 1019, exact binomial p 0.031" in q and "at the upper edge" in q and "not robust to scaffold clustering" in q
    assert "not evaluated in this notebook" in q and "scaffold-grouped folds" in q
    assert "raw out-of-fold ECE and coverage were not stored" in q and "variance-scaled ECE" in q
    assert "gives no reason" not in q and ("cannot tell whether a rescale is needed" in q or "wants a rescale" in q)
    assert "Benjamini & Yekutieli 2005" in q and "Bao et al. 2024" in q and "conformal selection (Jin & Candès" in q
    assert "BCa" not in q


def test_recipe_rule_and_evidence_disclose_their_history():
    from molpractice import ensembles as E

    assert "Fixed before the cross-validation numbers were computed" in E.RECIPE_RULE
    assert "before any number was computed" not in E.RECIPE_RULE and "two earlier recipes" in E.RECIPE_RULE
    prov = E.RECIPE_EVIDENCE_PROVENANCE
    assert prov["commit"] == "a0a501d" and "not re-run since" in prov["rerun"] and prov["folds"] == E.RECIPE_FOLDS
    assert "raw ECE" in prov["stored"] and "6d297f0" in prov["history"] and "486b29f" in prov["history"]
    assert all(set(r) >= {"ece_recal", "coverage95_recal"} and "ece" not in r for r in E.RECIPE_EVIDENCE)
    assert "assay" not in E.SETTINGS.doc["threshold"] and "AqSolDB" in E.SETTINGS.doc["threshold"]


# ------------------------------------------------------------------------------------------- review 03e
def _split(name, tr, va, te):
    from molpractice.ensembles import SplitData

    idx = {"train": np.asarray(tr), "val": np.asarray(va), "test": np.asarray(te)}
    return SplitData(name, idx, {}, {}, {})


def test_split_overlap_counts_where_the_random_test_molecules_lie():
    from molpractice import ensembles as E

    data = {"random": _split("random", [0, 1, 2, 3], [4, 5], [6, 7, 8, 9]),
            "scaffold": _split("scaffold", [6, 7, 0, 1], [8, 2], [9, 3, 4, 5])}
    o = E.split_overlap(data)
    assert (o["n"], o["train"], o["val"], o["test"]) == (4, 2, 1, 1) and o["outside"].tolist() == [9]
    line = E.overlap_line(data)
    assert "2 in the scaffold training part" in line and "1 in the scaffold validation part" in line
    with pytest.raises(ValueError, match="'scaffold' not in data"):
        E.split_overlap({"random": data["random"]})
    assert set(E.SETTINGS_ORIGIN) and "not chosen on validation" in " ".join(E.SETTINGS_ORIGIN.values())
    assert "015f829" in E.RECIPE_EVIDENCE_PROVENANCE["rerun"] and "64a141a" in E.RECIPE_EVIDENCE_PROVENANCE["rerun"]


def test_training_cap_lines_say_whether_the_cap_set_the_training_length():
    import types

    flat = {"val_rmse": [1.0, 0.8] + [0.7] * 8, "best_epoch": 2}
    falling = {"val_rmse": list(np.linspace(1.0, 0.5, 10)), "best_epoch": 9}
    stopped = {"val_rmse": [1.0, 0.6, 0.7, 0.7, 0.8], "best_epoch": 1}
    ens = {"toy": types.SimpleNamespace(histories=[flat, falling, stopped])}
    line = V.training_cap_lines(ens, epochs=10, last=5)[0]
    assert "epochs run [10, 10, 5] (cap 10)" in line and "2 of 3 members ran to the cap" in line
    assert "0.000 (seed 0)" in line and "0.167 (seed 1)" in line and "in epochs 8–10" in line  # last shortened to cap // 3
    assert "the cap, not early stopping" in line
    ens = {"toy": types.SimpleNamespace(histories=[stopped])}
    assert "early stopping, not the cap" in V.training_cap_lines(ens, epochs=10, last=5)[0]
    import matplotlib

    matplotlib.use("Agg")
    ax = PC.plot_validation_histories([flat, falling], cap=10)
    assert ax.get_xlabel() == "epoch" and len(ax.lines) == 5
    with pytest.raises(ValueError, match="no 'val_rmse'"):
        PC.plot_validation_histories([{"best_epoch": 0}])


def _class_rows(ll_verdict="no detectable change", ece=0.062):
    raw = {"model": "classifier_ensemble", "variant": "raw", "temperature": 0.9, "temperature_ci": (0.54, 1.21),
           "ece": ece, "ece_val": 0.060, "ece_null_median": 0.061, "ece_null_low": 0.036, "ece_null_high": 0.098,
           "ece_null_p": 0.48, "ece_null_p_two_sided": 0.97, "ece_boot_mean": 0.075}
    ll = {"change": -0.002, "low": -0.01, "high": 0.006, "verdict": ll_verdict}
    br = {"change": 0.0003, "low": -0.002, "high": 0.003, "verdict": "no detectable change"}
    sc = {**raw, "variant": "temperature_scaled", "ece_val": 0.066, "ece": 0.057, "ece_boot_mean": 0.070,
          "ece_change_vs_raw": {"change": -0.005, "low": -0.026, "high": 0.024, "where": "inside"},
          "log_loss_change_vs_raw": ll, "brier_change_vs_raw": br}
    return [raw, sc]


def test_q3_and_temperature_lines_rest_on_the_paired_smooth_scores():
    raw, sc = _class_rows()
    q = V.q3_answer(raw, sc)
    assert "log loss -0.0020 (95% CI -0.0100 to +0.0060: no detectable change)" in q
    assert "no reason to ship T" in q and "inside the band" in q
    raw, sc = _class_rows("lower")
    assert "T detectably improved log loss on test: ship it" in V.q3_answer(raw, sc)
    raw, sc = _class_rows(ece=0.02)  # raw ECE below its null band: the change has no valid reference
    q = V.q3_answer(raw, sc)
    assert "no valid reference" in q and "inside the band" not in q
    lines = V.temperature_lines([raw, sc])
    assert "no valid reference" in lines[0] and "log loss -0.0020" in lines[0] and "percentile bootstrap" in lines[0]
    bias = V.ece_bias_lines(_class_rows())
    assert bias[0] == "classifier_ensemble raw: bootstrap mean 0.075 − ECE 0.062 = +0.013"


def test_time_line_says_what_was_measured_when_the_card_records_the_wall_time():
    import dataclasses

    from molpractice import chapters

    c = chapters.find_chapter(3)
    line = chapters.time_line(dataclasses.replace(c, minutes_full=6.8, minutes_fast=0.5, wall_full=25.6, workers=1))
    assert "~6.8 min in full mode" in line and "~25.6 min of elapsed wall time with 1 worker process " in line
    assert "about the wall time on an idle machine" not in line
    two = chapters.time_line(dataclasses.replace(c, wall_full=4.0, workers=2, wall_load=None))
    assert "2 worker processes" in two
    old = chapters.time_line(dataclasses.replace(c, wall_full=None, workers=None))
    assert "about the wall time on an idle machine" in old
    assert "on a machine shared with other work" in two
    idle = chapters.time_line(dataclasses.replace(c, wall_full=3.6, workers=2, wall_load="an otherwise idle machine"))
    assert "~3.6 min of elapsed wall time" in idle and "on an otherwise idle machine" in idle
