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


def test_loss_scale_sums_the_variance_components():
    scale = comparisons.loss_scale()
    assert scale["mean"] == comparisons.MEAN_LOSS
    assert scale["sd"] == pytest.approx(np.sqrt(sum(v ** 2 for v in comparisons.SD.values())))
    rng = np.random.default_rng(3)
    a = np.concatenate([comparisons.simulate_losses(rng, 40, 1)[0][0] for _ in range(100)])
    assert a.mean() == pytest.approx(1.0, abs=0.05) and a.std() == pytest.approx(scale["sd"], rel=0.1)


def test_simulated_losses_have_the_stated_difference():
    rng = np.random.default_rng(2)
    a, b, fam = comparisons.simulate_losses(rng, 400, 3, delta=0.5)
    assert a.shape == b.shape == (3, fam.size)
    assert (b - a).mean() == pytest.approx(0.5, abs=0.1)


def test_error_rates_and_false_wins(impl):
    table = comparisons.comparison_error_rates(reps=30, n_boot=100, n_families=20, n_seeds=3, delta=0.5)
    assert list(table["method"]) == ["unpaired i.i.d., one trained model each", "paired cluster, one trained model each",
                                     "paired cluster, three trained models each, seeds resampled"]
    assert ((table["power"] >= 0) & (table["power"] <= 1)).all() and (table["reps"] == 30).all()
    diffs = comparisons.rate_differences(table)
    assert len(diffs) == 3 * 2 and set(diffs["quantity"]) == {"false-positive rate", "power"}
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
    assert list(sens.columns[:2]) == ["scenario", "method"] and list(sens["scenario"][::3]) == ["seed SD 0.3", "noise SD 1"]
    assert (sens["reps"] == 10).all() and len(sens) == 6
    assert comparisons.summarize_rates(sens)[0].startswith("[seed SD 0.3] unpaired i.i.d.")
    verdicts = comparisons.summarize_rates(sens.assign(**{"false-positive rate": 0.5, "fpr MC se": 0.01}), level=0.05)
    assert all(v.endswith("false-positive rate above the 5% level") for v in verdicts)
    assert comparisons.summarize_rates(sens.assign(**{"false-positive rate": 0.05}), level=0.05)[0].endswith(
        "consistent with the 5% level")
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
    assert out["rate"] == pytest.approx(out["hits"].mean())
    assert out["MC se"] == pytest.approx((out["rate"] * (1 - out["rate"]) / 60) ** 0.5)
    assert out["low"] == pytest.approx(out["rate"] - 1.96 * out["MC se"]) and out["reps"] == 60
    assert out["method"] == "paired cluster, three trained models each, seeds resampled"
    expected = "above" if out["low"] > 0.05 else "below" if out["high"] < 0.05 else "consistent with"
    assert out["verdict"] == expected
    # the same decisions as the seeds-resampled method would make on the same draws
    rng = np.random.default_rng(4)
    a, b, fam = comparisons.simulate_losses(rng, 12, 3, 0.0)
    first = comparisons.paired_bootstrap_difference(a, b, fam, 100, seed=int(rng.integers(1 << 31)))["differs"]
    assert bool(out["hits"][0]) == first
    line = comparisons.null_rate_line(out, "[x] ")
    assert line.startswith("[x] paired cluster, three trained models each, seeds resampled, alone, on 60 independent")
    assert line.endswith(f"{out['verdict']} the 5% level")
    main = {"false-positive rate": out["rate"] - 0.02, "fpr MC se": 0.01, "reps": 100}
    gap = 0.02 / np.hypot(0.01, out["MC se"])
    assert comparisons.null_rate_line(out, main=main).endswith(f"lies {gap:.1f} standard errors of the difference below it")


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
    assert len(rows) == len(report["results"]) == 2 + 3 * 2 + 1 + 3 * 2
    assert any(r["measurement"].startswith("false-positive rate at 5 %, independent null") and r["reps"] == 10
               for r in rows)
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


def test_summary_table_reads_every_result_it_names():
    from molpractice import rigor_report

    cov = pd.DataFrame({"test families": [10, 10, 30, 30], "method": ["i.i.d.", "cluster"] * 2,
                        "coverage": [0.3, 0.8, 0.33, 0.875], "MC se": [0.03, 0.03, 0.033, 0.023]})
    fixed = pd.DataFrame({"rmse": [0.44, 1.06], "rmse no siblings": [0.97, 1.06]})
    leakage = pd.DataFrame({"split": ["random", "scaffold"], "rmse": [0.87, 1.1]})
    rates = pd.DataFrame({"method": ["u", "p1", "p5"], "false-positive rate": [0.155, 0.258, 0.044],
                          "fpr MC se": [0.011, 0.014, 0.006], "power": [0.64, 0.75, 0.8],
                          "power MC se": [0.015, 0.014, 0.013]})
    wins = pd.DataFrame({"rule": ["uncorrected", "Holm", "Benjamini–Hochberg"], "P(any false win)": [0.5, 0.04, 0.17],
                         "MC se": [0.008, 0.003, 0.006], "false discovery rate": [0.12, 0.01, 0.0375],
                         "FDR MC se": [0.002, 0.001, 0.0014]})
    cal = lambda t, r: pd.DataFrame({"temperature": t, "shift": [0.0] * len(t), "rejection rate": r,  # noqa: E731
                                     "low": [x - 0.01 for x in r], "high": [x + 0.01 for x in r]})
    looks = pd.DataFrame({"monthly": [0.04, 0.42], "cumulative": [0.04, 0.17], "monthly, Bonferroni": [0.003, 0.034]})
    r = dict(slopes_51={"O(n) window": 1.0, "brute force": 2.0}, slopes_52={"O(n + E) walk": 1.1, "edge scan per node": 2.0},
             coverage=cov, fixed=fixed, leakage=leakage, rates=rates, wins=wins,
             null5={"rate": 0.0675, "MC se": 0.004, "reps": 4000}, null15={"rate": 0.101, "MC se": 0.005, "reps": 4000},
             second_run=pd.Series({"false-positive rate": 0.085, "fpr MC se": 0.014, "reps": 400}),
             size26=cal([1.0], [0.049]), sym=cal([1.0, 1.5], [0.047, 0.585]), power=cal([1.0, 1.5], [0.037, 0.76]),
             ts=pd.DataFrame({"true T": [1.5, 2.0], "deployed": [0.02, 0.355]}), k_star=28, looks=looks,
             cmp_reps=1000, cmp_delta=0.15, mt_m=20, ts_reps=200, looks_reps=20000, n_outcomes=200)
    table = rigor_report.summary_table(r).set_index("quantity")["value"]
    assert len(table) == 15
    values = list(table)
    assert values[2] == "33.0% ± 3.3% / 87.5% ± 2.3%", "the largest test-family count is reported"
    assert values[3] == "0.44 / 0.97 / 1.06"
    assert values[5] == "15.5% ± 1.1% / 25.8% ± 1.4% / 6.8% ± 0.4%", "the five-model rate comes from null5"
    assert values[7] == "8.5% ± 1.4% / 10.1% ± 0.5%"
    assert values[10] == "4.9% [3.9%, 5.9%] / 76.0% [75.0%, 77.0%]" and values[11].startswith("4.7% [")
    assert values[11].endswith("58.5% [57.5%, 59.5%]") and values[13] == "28"
    se = (0.42 * 0.58 / 20000) ** 0.5
    assert values[14] == f"42.0% ± {se:.1%} / 17.0% ± {(0.17 * 0.83 / 20000) ** 0.5:.1%} / 3.4% ± {(0.034 * 0.966 / 20000) ** 0.5:.1%}"
    assert "4000 sets" in table.index[5] and "400 test sets" in table.index[7]
