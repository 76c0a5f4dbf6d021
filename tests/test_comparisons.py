"""Unit tests of molpractice.comparisons and molpractice.rigor_report (small settings)."""
import json

import numpy as np
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
    same = comparisons.paired_bootstrap_difference(a, a, n_boot=100)
    assert same["diff"] == 0.0 and not same["differs"]
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


def test_simulated_losses_have_the_stated_difference():
    rng = np.random.default_rng(2)
    a, b, fam = comparisons.simulate_losses(rng, 400, 3, delta=0.5)
    assert a.shape == b.shape == (3, fam.size)
    assert (b - a).mean() == pytest.approx(0.5, abs=0.1)


def test_error_rates_and_false_wins(impl):
    table = comparisons.comparison_error_rates(reps=30, n_boot=100, n_families=20, n_seeds=3, delta=0.5)
    assert list(table["method"]) == ["unpaired i.i.d., 1 seed", "paired cluster, 1 seed", "paired cluster + 3 seeds"]
    assert ((table["power"] >= 0) & (table["power"] <= 1)).all() and (table["reps"] == 30).all()
    wins = comparisons.false_wins(impl.ch05_drills, m=10, m_true=3, effect=3.0, reps=300).set_index("rule")
    assert wins.loc["Holm", "P(any false win)"] <= wins.loc["Benjamini–Hochberg", "P(any false win)"] \
        <= wins.loc["uncorrected", "P(any false win)"]
    assert wins.loc["Holm", "power"] <= wins.loc["Benjamini–Hochberg", "power"] <= wins.loc["uncorrected", "power"]
    assert wins.loc["uncorrected", "P(any false win)"] > 0.2  # 7 nulls at 5 %: 1 − 0.95^7 ≈ 0.30
    assert comparisons.summarize_rates(table)[0].startswith("unpaired i.i.d., 1 seed: false-positive rate")


def test_bench_ch05_prints_one_table_and_writes_json(monkeypatch, tmp_path, capsys):
    from molpractice import family_studies, rigor_report

    monkeypatch.setattr(family_studies, "SETTINGS", RunSettings(
        full=dict(fam_test_families=(5,), fam_reps=5, fam_boot=30), fast=dict(fam_test_families=(5,), fam_reps=5,
                                                                              fam_boot=30),
        doc=dict(fam_test_families="", fam_reps="", fam_boot="")))
    cmp_small = dict(cmp_reps=10, cmp_boot=50, cmp_families=10, cmp_seeds=3, cmp_delta=0.3, mt_reps=50, mt_m=10,
                     mt_true=2, mt_effect=3.0)
    monkeypatch.setattr(comparisons, "SETTINGS", RunSettings(full=cmp_small, fast=cmp_small,
                                                             doc={k: "" for k in cmp_small}))
    out = tmp_path / "bench.json"
    report = rigor_report.run_benchmark("solutions", json_path=out)
    printed = capsys.readouterr().out
    assert "coverage of 95 % RMSE intervals" in printed and "Benjamini–Hochberg" in printed
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == len(report["results"]) == 2 + 3 * 2 + 3 * 2
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
