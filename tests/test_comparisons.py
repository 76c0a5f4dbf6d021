"""Unit tests of molpractice.comparisons and molpractice.rigor_report (small settings)."""
import json

import numpy as np
import pandas as pd
import pytest

from molpractice import comparisons
from molpractice.runtime import RunSettings


def test_paired_difference_cancels_what_the_models_share():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 50)) * 5
    out = comparisons.paired_bootstrap_difference(a, a + 1.0, clusters=np.repeat(["x", "y", "z", "w", "v"], 10),
                                                  n_boot=200, resample_seeds=False)
    assert out["diff"] == pytest.approx(1.0)
    assert out["low"] == pytest.approx(1.0) and out["high"] == pytest.approx(1.0) and out["differs"]
    assert out["p_value"] == pytest.approx(2 / 201)  # every replicate above 0: the smallest p the bootstrap gives
    same = comparisons.paired_bootstrap_difference(a, a, n_boot=100)
    assert same["diff"] == 0.0 and not same["differs"] and same["p_value"] == 1.0
    unpaired = comparisons.unpaired_iid_difference(a, a + 1.0, n_boot=200)
    assert unpaired["diff"] == pytest.approx(1.0) and unpaired["high"] - unpaired["low"] > 1.0


def test_paired_difference_widens_with_clusters_and_seeds():
    rng = np.random.default_rng(1)
    a, b, fam = comparisons.simulate_losses(rng, 30, 4, 0.0, sd=dict(model_family=0.5, seed=0.3))
    molecules = comparisons.paired_bootstrap_difference(a, b, None, n_boot=500, resample_seeds=False)
    clusters = comparisons.paired_bootstrap_difference(a, b, fam, n_boot=500, resample_seeds=False)
    both = comparisons.paired_bootstrap_difference(a, b, fam, n_boot=500)
    width = lambda d: d["high"] - d["low"]  # noqa: E731
    assert width(molecules) < width(clusters) < width(both)


def test_paired_difference_validates():
    with pytest.raises(ValueError):
        comparisons.paired_bootstrap_difference(np.ones(4), np.ones(5))
    with pytest.raises(ValueError):
        comparisons.paired_bootstrap_difference(np.ones(4), np.ones(4), clusters=[0, 1])
    with pytest.raises(ValueError):
        comparisons.paired_bootstrap_difference(np.array([1.0, np.nan]), np.ones(2))


def test_holm_adjusted_matches_the_step_down_rule():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    adj = comparisons.holm_adjusted(p)
    assert adj == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.5])  # 5·0.005, 4·0.01, 3·0.03, max(2·0.04, 0.09)
    assert ((adj <= 0.05) == np.array([True, False, False, True, False])).all()
    assert comparisons.holm_adjusted([]).size == 0 and comparisons.holm_adjusted([0.9, 0.9]) == pytest.approx([1, 1])


def test_loss_scale_is_the_exact_moment_of_the_squared_error():
    scale = comparisons.loss_scale()
    V = sum(comparisons.SD[k] ** 2 for k in ("family", "molecule", "model_family", "noise"))
    assert scale["mean"] == pytest.approx((1 + comparisons.SD["seed"] ** 2) * V)
    rng = np.random.default_rng(3)
    a = np.concatenate([comparisons.simulate_losses(rng, 40, 1)[0][0] for _ in range(300)])
    assert (a >= 0).all(), "losses are squared errors"
    assert a.mean() == pytest.approx(scale["mean"], rel=0.05) and a.std() == pytest.approx(scale["sd"], rel=0.1)
    assert np.mean(a > a.mean()) < 0.45, "right-skewed: fewer than half the losses above the mean"


def test_simulated_losses_have_the_stated_difference_and_target():
    rng = np.random.default_rng(2)
    a, b, fam = comparisons.simulate_losses(rng, 400, 3, delta=0.5)
    assert a.shape == b.shape == (3, fam.size) and (a >= 0).all() and (b >= 0).all()
    assert (b - a).mean() == pytest.approx(0.5, abs=0.1)
    # the fitted-model target: no seed effect -> exactly delta; with seeds, the first seeds' expected difference
    a, b, fam, target = comparisons.simulate_losses(rng, 5, 2, 0.2, sd=dict(seed=0.0), return_target=True)
    assert target == pytest.approx(0.2)
    diffs, targets = [], []
    for _ in range(200):
        a, b, fam, target = comparisons.simulate_losses(rng, 40, 1, 0.0, sd=dict(seed=0.2), return_target=True)
        diffs.append((b - a).mean())
        targets.append(target)
    slope = np.polyfit(targets, diffs, 1)[0]
    assert slope == pytest.approx(1.0, abs=0.25), "the mean loss difference tracks the fitted-model target"


def test_paired_t_is_the_paired_t_test_without_clusters_or_seeds():
    from scipy import stats

    rng = np.random.default_rng(5)
    a, b = rng.normal(1, 1, 30), rng.normal(1.3, 1, 30)
    out = comparisons.paired_t_difference(a, b)
    ref = stats.ttest_rel(b, a)
    assert out["diff"] == pytest.approx((b - a).mean()) and out["df"] == pytest.approx(29)
    assert out["p_value"] == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval()
    assert (out["low"], out["high"]) == pytest.approx((ci.low, ci.high))
    assert out["differs"] == (ref.pvalue < 0.05)


def test_paired_t_adds_seed_variance_and_validates():
    rng = np.random.default_rng(6)
    a, b, fam = comparisons.simulate_losses(rng, 30, 4, 0.0, sd=dict(seed=0.3))
    with_seeds = comparisons.paired_t_difference(a, b, fam)
    one_seed = comparisons.paired_t_difference(a[:1], b[:1], fam)
    assert with_seeds["high"] - with_seeds["low"] > one_seed["high"] - one_seed["low"]
    assert 3 <= with_seeds["df"] <= 29 + 2 * 3 and one_seed["df"] == pytest.approx(29)
    same = comparisons.paired_t_difference(a, a, fam)
    assert same["diff"] == 0.0 and not same["differs"]
    with pytest.raises(ValueError, match="2 clusters"):
        comparisons.paired_t_difference(a, b, np.zeros(a.shape[1]))
    with pytest.raises(ValueError, match="same molecules"):
        comparisons.paired_t_difference(np.ones(4), np.ones(5))


def test_error_rates_and_false_wins(impl):
    table = comparisons.comparison_error_rates(reps=30, n_boot=100, n_families=20, n_seeds=3, delta=0.5, null_reps=40)
    assert list(table["method"]) == ["unpaired i.i.d., one trained model each", "paired cluster, one trained model each",
                                     "paired cluster, three trained models each, seeds resampled",
                                     "paired cluster t (Satterthwaite df), three trained models each"]
    assert list(table["target"]) == ["fitted model"] * 2 + ["procedure"] * 2
    assert ((table["power"] >= 0) & (table["power"] <= 1)).all() and (table["reps"] == 30).all()
    assert (table["null reps"] == 40).all() and table["target coverage"].between(0, 1).all()
    assert len(table.attrs["hits"][(table["method"][0], 0.0)]) == 40
    diffs = comparisons.rate_differences(table)
    assert len(diffs) == 6 * 2 and set(diffs["quantity"]) == {"false-positive rate", "power"}
    first = diffs.iloc[0]
    hits = table.attrs["hits"]
    expected = np.mean(hits[(first["first"], 0.0)]) - np.mean(hits[(first["second"], 0.0)])
    assert first["difference"] == pytest.approx(expected)
    rates = table.set_index("method")["false-positive rate"]
    assert first["difference"] == pytest.approx(rates[first["first"]] - rates[first["second"]])
    assert (diffs["low"] <= diffs["difference"]).all() and (diffs["difference"] <= diffs["high"]).all()
    assert comparisons.summarize_differences(diffs)[0].startswith(f"{first['first']} − {first['second']}, false-pos")
    with pytest.raises(ValueError, match="comparison_error_rates"):
        comparisons.rate_differences(pd.DataFrame(table.to_dict("list")))  # no per-test-set decisions
    sens = comparisons.comparison_sensitivity({"seed SD 0.3": dict(seed=0.3), "noise SD 1": dict(noise=1.0)}, reps=10, n_boot=50, n_families=10,
                                              n_seeds=2, delta=0.5)
    assert list(sens.columns[:2]) == ["scenario", "method"] and list(sens["scenario"][::4]) == ["seed SD 0.3", "noise SD 1"]
    assert (sens["reps"] == 10).all() and (sens["null reps"] == 10).all() and len(sens) == 8
    assert comparisons.summarize_rates(sens)[0].startswith("[seed SD 0.3] unpaired i.i.d.")
    verdicts = comparisons.summarize_rates(sens.assign(**{"false-positive rate": 0.5, "fpr MC se": 0.01}), level=0.05)
    assert all(v.endswith("false-positive rate above the 5% level") for v in verdicts)
    assert comparisons.summarize_rates(sens.assign(**{"false-positive rate": 0.05}), level=0.05)[0].endswith(
        "not distinguishable from the 5% level at 10 null test sets")
    full = sens.assign(**{"target coverage": 1.0})
    assert "covered its own target (fitted model) in 20/20, ≥ 83.2% (two-sided 95 % exact) of the 20 null and power " \
           "test sets pooled" in comparisons.summarize_rates(full)[0]
    # power is compared only between tests of equal size
    fake = table.copy()
    fake.attrs["hits"] = {(m, d): ([True] * 40 if (k == 0 and d == 0.0) else [False] * 40 if d == 0.0 else [True] * 30)
                          for k, m in enumerate(table["method"]) for d in (0.0, 0.5)}
    unequal = comparisons.rate_differences(fake, pairs=[(table["method"][0], table["method"][1])])
    assert list(unequal["comparable"]) == [True, False]
    assert "not compared — unequal size" in comparisons.summarize_differences(unequal)[1]
    wins = comparisons.false_wins(impl.ch05_drills, m=10, m_true=3, effect=3.0, reps=300).set_index("rule")
    assert wins.loc["Holm", "P(any false win)"] <= wins.loc["Benjamini–Hochberg", "P(any false win)"] \
        <= wins.loc["uncorrected", "P(any false win)"]
    assert wins.loc["Holm", "power"] <= wins.loc["Benjamini–Hochberg", "power"] <= wins.loc["uncorrected", "power"]
    assert wins.loc["uncorrected", "P(any false win)"] > 0.2  # 7 nulls at 5 %: 1 − 0.95^7 ≈ 0.30
    assert comparisons.summarize_rates(table)[0].startswith("unpaired i.i.d., one trained model each: false-positive")


def test_null_rejection_rate_is_reproducible_and_matches_its_decisions():
    out = comparisons.null_rejection_rate(reps=60, n_boot=100, n_families=12, n_seeds=3, seed=4)
    again = comparisons.null_rejection_rate(reps=60, n_boot=100, n_families=12, n_seeds=3, seed=4)
    assert np.array_equal(out["hits"], again["hits"]) and out["hits"].shape == (60,)
    assert np.array_equal(out["t hits"], again["t hits"])
    assert out["rate"] == pytest.approx(out["hits"].mean()) and out["t rate"] == pytest.approx(out["t hits"].mean())
    assert out["MC se"] == pytest.approx((out["rate"] * (1 - out["rate"]) / 60) ** 0.5)
    assert out["low"] == pytest.approx(out["rate"] - 1.96 * out["MC se"]) and out["reps"] == 60
    assert out["method"] == "paired cluster, three trained models each, seeds resampled"
    assert out["t method"] == "paired cluster t (Satterthwaite df), three trained models each"
    expected = "above" if out["low"] > 0.05 else "below" if out["high"] < 0.05 else "consistent with"
    assert out["verdict"] == expected
    # the same decisions as the two five-seed methods would make on the same draws
    rng = np.random.default_rng(4)
    a, b, fam = comparisons.simulate_losses(rng, 12, 3, 0.0)
    first = comparisons.paired_bootstrap_difference(a, b, fam, 100, seed=int(rng.integers(1 << 31)))["differs"]
    assert bool(out["hits"][0]) == first
    assert bool(out["t hits"][0]) == comparisons.paired_t_difference(a, b, fam)["differs"]
    lines = comparisons.null_rate_line(out, "[x] ")
    assert lines[0].startswith("[x] paired cluster, three trained models each, seeds resampled, on 60 independent")
    assert lines[0].endswith(f"{out['verdict']} the 5% level") and lines[1].endswith(f"{out['t verdict']} the 5% level")


def test_bench_ch05_prints_one_table_and_writes_json(monkeypatch, tmp_path, capsys):
    from molpractice import family_studies, rigor_report

    monkeypatch.setattr(family_studies, "SETTINGS", RunSettings(
        full=dict(fam_test_families=(5,), fam_reps=5, fam_boot=30), fast=dict(fam_test_families=(5,), fam_reps=5,
                                                                              fam_boot=30),
        doc=dict(fam_test_families="", fam_reps="", fam_boot="")))
    cmp_small = dict(cmp_reps=10, cmp_boot=50, cmp_families=10, cmp_seeds=3, cmp_delta=0.3, cmp_sens_reps=5,
                     cmp_null_reps=10, mt_reps=50, mt_m=10, mt_true=2, mt_effect=3.0)
    monkeypatch.setattr(comparisons, "SETTINGS", RunSettings(full=cmp_small, fast=cmp_small,
                                                             doc={k: "" for k in cmp_small}))
    out = tmp_path / "bench.json"
    report = rigor_report.run_benchmark("solutions", json_path=out)
    printed = capsys.readouterr().out
    assert "coverage of 95 % RMSE intervals" in printed and "Benjamini–Hochberg" in printed
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == len(report["results"]) == 2 + 2 + 4 * 2 + 3 * 2, "coverage (2 labels × 2), 4 methods, 3 rules"
    assert all(r["reps"] == 10 for r in rows if r["measurement"].startswith("false-positive rate at 5 %"))
    assert all({"measurement", "method", "value", "mc_se", "reps"} <= set(r) for r in rows)


def test_plot_error_rates():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from molpractice import plots_statistics

    table = comparisons.comparison_error_rates(reps=10, n_boot=50, n_families=10, n_seeds=2, delta=0.3)
    ax = plots_statistics.plot_error_rates(table)
    assert ax.get_title() and len(ax.patches) == 2 * len(table)
    plt.close("all")


def _notebook_like_results():
    cov = pd.DataFrame({"label": ["with series effect"] * 4 + ["no series effect (control)"] * 2,
                        "test families": [30] * 6, "method": ["i.i.d.", "cluster", "Butina 0.4", "Butina 0.6", "i.i.d.", "cluster"],
                        "mean groups": [319, 30, 168, 45, 319, 30], "coverage": [0.33, 0.875, 0.7, 0.82, 0.35, 0.795],
                        "MC se": [0.033, 0.023, 0.032, 0.027, 0.034, 0.029]})
    cov.attrs["icc"] = {"with series effect": 0.91, "no series effect (control)": 0.69}
    fixed = pd.DataFrame({"cutoff": [1.0, 0.5, 0.4], "allowed": [2097, 1692, 1332], "siblings allowed": [275, 40, 7],
                          "mse gain": [0.94, 0.175, 0.0], "gain low": [0.46, 0.007, -0.01], "gain high": [1.5, 0.345, 0.01],
                          "gain p Holm": [0.01, 0.044, np.nan],
                          "rmse": [0.44, 0.98, 1.06], "rmse no siblings": [0.97, 0.985, 1.06],
                          "sibling gain": [0.75, 0.02, 0.0], "sibling gain low": [0.39, -0.1, -0.05],
                          "sibling gain high": [1.2, 0.11, 0.05], "sibling gain p Holm": [0.01, 0.9, 0.9],
                          "other gain": [0.19, 0.16, 0.0], "other gain low": [0.02, 0.004, -0.05],
                          "other gain high": [0.36, 0.3, 0.05], "other gain p Holm": [0.18, 0.18, 0.98],
                          "step gain": [0.02, 0.175, np.nan], "step gain low": [-0.03, 0.007, np.nan],
                          "step gain high": [0.09, 0.345, np.nan], "step gain p Holm": [0.9, 0.08, np.nan]})
    fixed.attrs["p_resolution"] = 0.002
    leakage = pd.DataFrame({"split": ["random", "scaffold"], "rmse": [0.87, 1.1]})
    rates = pd.DataFrame({"method": ["u", "p1", "b5", "t5"], "target": ["fitted model"] * 2 + ["procedure"] * 2,
                          "false-positive rate": [0.155, 0.258, 0.068, 0.045], "fpr MC se": [0.008, 0.01, 0.006, 0.005],
                          "null reps": [2000] * 4, "power": [0.64, 0.75, 0.8, 0.7], "power MC se": [0.015, 0.014, 0.013, 0.014],
                          "reps": [1000] * 4, "target coverage": [0.95, 0.92, 0.93, 0.95], "coverage MC se": [0.004] * 4})
    wins = pd.DataFrame({"rule": ["uncorrected", "Holm", "Benjamini–Hochberg"], "P(any false win)": [0.5, 0.04, 0.17],
                         "MC se": [0.008, 0.003, 0.006], "false discovery rate": [0.12, 0.01, 0.0375],
                         "FDR MC se": [0.002, 0.001, 0.0014]})
    cal = lambda t, r: pd.DataFrame({"temperature": t, "shift": [0.0] * len(t), "rejection rate": r,  # noqa: E731
                                     "low": [x - 0.01 for x in r], "high": [x + 0.01 for x in r]})
    looks = pd.DataFrame({"monthly": [0.04, 0.42], "cumulative": [0.04, 0.17], "monthly, Bonferroni": [0.003, 0.034]})
    looks.attrs["monthly exact"] = 0.413
    null15 = {"rate": 0.101, "MC se": 0.005, "reps": 2000, "verdict": "above", "t rate": 0.05, "t MC se": 0.005,
              "t verdict": "consistent with"}
    return dict(slopes_51={"O(n) window": 1.0, "brute force": 2.0}, slopes_52={"O(n + E) walk": 1.1, "edge scan per node": 2.0},
                coverage=cov, fixed=fixed, leakage=leakage, rates=rates, wins=wins, null15=null15,
                size26=cal([1.0], [0.049]), sym=cal([1.0, 1.5], [0.047, 0.585]),
                power=cal([1.0, 1.25, 1.5], [0.037, 0.33, 0.76]),
                ts=pd.DataFrame({"true T": [1.5, 2.0], "deployed": [0.02, 0.355]}), k_star=28, looks=looks,
                cmp_delta=0.15, mt_m=20, ts_reps=200, looks_reps=20000, n_outcomes=200)


def test_summary_table_reads_every_result_it_names():
    from molpractice import rigor_report

    table = rigor_report.summary_table(_notebook_like_results()).set_index("quantity")["value"]
    assert len(table) == 16
    assert len(rigor_report.summary_table(dict(_notebook_like_results(), null_main={
        "rate": 0.063, "MC se": 0.0024, "reps": 10000, "t rate": 0.04, "t MC se": 0.002}))) == 17
    values = list(table)
    assert values[2] == "33.0% ± 3.3% / 87.5% ± 2.3% / 70.0% ± 3.2% / 82.0% ± 2.7%"
    assert values[3] == "35.0% ± 3.4% / 79.5% ± 2.9%", "the control row"
    assert values[4] == "0.44 / 0.97 / 1.06"
    assert values[6] == "15.5% ± 0.8% / 25.8% ± 1.0% / 6.8% ± 0.6% / 4.5% ± 0.5%" and "2000 test sets" in table.index[6]
    assert values[8] == "10.1% ± 0.5% / 5.0% ± 0.5%"
    assert values[11] == "4.9% [3.9%, 5.9%] / 76.0% [75.0%, 77.0%]" and values[12].endswith("58.5% [57.5%, 59.5%]")
    assert values[13].startswith("2.0% [") and "(4/200)" in values[13], "an exact interval for a share of 4 events"
    assert values[14] == "28"
    assert values[15] == f"41.3% / 17.0% ± {(0.17 * 0.83 / 20000) ** 0.5:.1%} / 3.4% ± {(0.034 * 0.966 / 20000) ** 0.5:.1%}"


def test_interview_answers_follow_the_numbers():
    from molpractice import rigor_report

    r = _notebook_like_results()
    q1 = rigor_report.answer_interval_trust(r["coverage"])
    assert "33% (± 3%)" in q1 and "the gap remains" in q1 and "at Butina distance 0.4 (168 groups" in q1
    assert "likely because" in q1 and "(point estimates, no interval)" in q1 and "splits the series" not in q1
    paired = r["coverage"].copy()
    paired.attrs["hits"] = {("with series effect", 30, "i.i.d."): [0, 1] * 50, ("with series effect", 30, "cluster"): [1] * 100,
                            ("with series effect", 30, "Butina 0.4"): [0, 1] * 50, ("with series effect", 30, "Butina 0.6"): [1] * 99 + [0],
                            ("no series effect (control)", 30, "i.i.d."): [0, 1] * 50,
                            ("no series effect (control)", 30, "cluster"): [1] * 100}
    paired.attrs["icc_diff"] = {"diff": 0.22, "low": 0.1, "high": 0.3, "n_boot": 1000}
    q1p = rigor_report.answer_interval_trust(paired)
    assert "Butina distance 0.4 (168 groups per test set) covered 70% (± 3%), below the families' by +50.0 points" in q1p
    assert "Butina distance 0.6 (45 groups per test set) covered 82% (± 3%), no detectable difference from the families" in q1p
    assert "(difference +0.22 [+0.10, +0.30], families resampled)" in q1p and "families minus i.i.d., paired: +50.0" in q1p
    assert "undercovers" in q1
    no_gap = r["coverage"].copy()
    no_gap.loc[4, "coverage"] = 0.78
    assert "no detectable gap" in rigor_report.answer_interval_trust(no_gap)
    q2 = rigor_report.answer_leakage(r["fixed"], 0.7)
    assert "+0.75 [+0.39, +1.20] (detectable after Holm over the 3 cutoffs" in q2
    assert "changed the MSE by -0.17 [-0.34, -0.01] — the gain at 0.5 over the strictest cutoff, detectable after Holm " \
           "over the 2 compared cutoffs; Holm-adjusted p = 0.044, the smallest bootstrap p being 0.002: at the edge" in q2
    assert "(+0.19 [+0.02, +0.36] at c = 1; unadjusted intervals exclude 0 at 2 of 3 cutoffs) is not detectable " \
           "after Holm over the 3 cutoffs, so whether the strict filter also removes useful other-family chemistry " \
           "is unresolved" in q2 and "no evidence" not in q2
    q3 = rigor_report.answer_model_comparison(r["rates"], r["null15"], r["wins"], {"mean": 0.61, "sd": 0.87},
                                              {"seed": 0.05}, 0.15, 20)
    assert "6.8% ± 0.6% (above 5 %)" in q3 and "Use the t interval" in q3 and "more seeds" not in q3
    assert "(not comparable: their false-positive rates differ" in q3
    main = dict(r["null15"], reps=10000, rate=0.063, **{"MC se": 0.0024})
    q3m = rigor_report.answer_model_comparison(r["rates"], r["null15"], r["wins"], {"mean": 0.61, "sd": 0.87},
                                               {"seed": 0.05}, 0.15, 20, null_main=main)
    assert "on 10000 null test sets the percentile bootstrap over families and seeds had 6.3% ± 0.2% (above 5 %" in q3m
    bad = dict(r["null15"], **{"t verdict": "above"})
    assert "treat both with caution" in rigor_report.answer_model_comparison(r["rates"], bad, r["wins"], {"mean": 0.61, "sd": 0.87},
                                                                    {}, 0.15, 20)
    q4 = rigor_report.answer_calibration(r["power"], r["sym"], r["ts"], 200, 200, 28, r["looks"])
    assert "2.0% [" in q4 and "(4/200, exact)" in q4 and "easier than showing" in q4 and "41.3%" in q4
