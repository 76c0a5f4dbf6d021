"""Unit tests of molpractice.calibration (reference values, PIT, isotonic, conformal, ENCE, ECE null)."""
import math

import numpy as np
import pytest
from scipy import stats

from molpractice import calibration as C
from solutions import ch03_uncertainty as ch03


def _data(n, seed=0, scale=1.0, bias=0.0):
    rng = np.random.default_rng(seed)
    mean, std = rng.normal(0, 2, n), rng.uniform(0.3, 1.5, n)
    return mean, std, mean + bias + scale * std * rng.standard_normal(n)


def test_pit_based_metrics_match_the_gaussian_ones():
    mean, std, y = _data(300, 1, scale=1.4, bias=0.2)
    u = C.pit(mean, std, y)
    assert np.allclose(u, stats.norm.cdf(y, mean, std))
    assert C.interval_ece_from_pit(u) == pytest.approx(ch03.regression_ece(mean, std, y), abs=1e-12)
    for level in (0.68, 0.95):
        assert C.coverage_from_pit(u, level) == pytest.approx(C.interval_coverage(mean, std, y, level))
    m = C.gaussian_metrics(ch03, mean, std**2, y, n_levels=100)
    assert m["qce"] == pytest.approx(C.quantile_calibration_error(mean, std, y))


def test_quantile_calibration_sees_bias_that_the_interval_ece_cannot():
    mean, std, y = _data(4000, 2)
    z = (y - mean) / std
    mirrored = mean - z * std  # same |z|: the interval ECE cannot tell these apart
    assert ch03.regression_ece(mean, std, mirrored) == pytest.approx(ch03.regression_ece(mean, std, y))
    biased = mean + np.abs(z) * std  # every observation above its mean: |z| calibrated, PIT not
    assert ch03.regression_ece(mean, std, biased) < 0.03
    assert C.quantile_calibration_error(mean, std, biased) > 0.2
    assert C.quantile_calibration_error(mean, std, y) < 0.03


def test_reference_values_contain_a_calibrated_model_and_reject_an_overconfident_one():
    mean, std, y = _data(200, 3)
    ref = C.reference_values(ch03, mean, std**2, y, draws=200)
    assert set(ref) == set(C.REFERENCE_METRICS)
    for key, r in ref.items():
        assert r["low"] <= r["median"] <= r["high"], key
    assert sum(r["low"] <= r["observed"] <= r["high"] for r in ref.values()) >= 5
    over = C.reference_values(ch03, mean, (std / 3) ** 2, y, draws=200)
    assert over["coverage95"]["observed"] < over["coverage95"]["low"]
    assert over["nll"]["observed"] > over["nll"]["high"]
    assert isinstance(C.reference_table({"toy": ref}), __import__("pandas").DataFrame)


def test_isotonic_calibrator_uniformises_the_calibration_pit_and_gives_intervals():
    mean, std, y = _data(2000, 4, scale=1.6)
    iso = C.IsotonicCalibrator().fit(C.pit(mean[:1000], std[:1000], y[:1000]))
    before = C.quantile_calibration_error(mean[1000:], std[1000:], y[1000:])
    after = C.quantile_calibration_error_from_pit(iso.transform(C.pit(mean[1000:], std[1000:], y[1000:])))
    assert after < before / 3
    lo, hi = iso.interval(mean[1000:], std[1000:], 0.9)
    assert np.all(lo < hi)
    assert abs(np.mean((y[1000:] >= lo) & (y[1000:] <= hi)) - 0.9) < 0.04
    with pytest.raises(RuntimeError):
        C.IsotonicCalibrator().transform([0.5])


def test_recalibration_comparison_reads_each_change_the_way_its_statistic_allows():
    mean, std, y = _data(400, 5, scale=1.5)
    val = {"mean": mean[:200], "var": std[:200] ** 2, "y": y[:200]}
    test = {"mean": mean[200:], "var": std[200:] ** 2, "y": y[200:]}
    out = C.recalibration_comparison(ch03, val, test, n_boot=100, draws=200)
    assert out["s2_ci"][0] <= out["s2"] <= out["s2_ci"][1] and out["s2"] > 1.5
    assert set(out["metrics"]) == {"raw", "variance_scaled", "isotonic"}
    assert math.isnan(out["metrics"]["isotonic"]["nll"]) and ("isotonic", "nll") not in out["changes"]
    assert "width68" in out["metrics"]["raw"] and ("isotonic", "width68") in out["changes"]
    c = out["changes"][("variance_scaled", "coverage95")]  # s² > 1: nested, wider intervals only gain molecules
    assert c["kind"] == "coverage" and c["nested"] and c["lost"] == 0 and c["gained"] > 0 and c["p_mcnemar"] is None
    assert out["changes"][("variance_scaled", "width95")]["kind"] == "fixed"
    e = out["changes"][("variance_scaled", "ece")]  # the raw σ is 1.5× too small: the map lowers the ECE beyond
    assert e["kind"] == "reference" and e["change"] < 0 and e["where"] == "below"  # what a calibrated σ allows
    nll = out["changes"][("variance_scaled", "nll")]
    assert nll["kind"] == "paired" and nll["change"] < 0 and nll["low"] <= nll["change"] <= nll["high"]
    table = C.recalibration_table({"toy": out})
    assert len(table) == 7 and "calibrated-reference band" in table.loc[("toy", "ece"), "Δ variance_scaled"]
    assert "sign fixed" in table.loc[("toy", "width95"), "Δ isotonic"]


def test_reference_change_is_centred_for_a_calibrated_model_and_flags_a_real_fix():
    rng = np.random.default_rng(11)
    m, s = rng.normal(size=300), rng.uniform(0.3, 1.5, 300)
    ece = lambda k: (lambda yy: C.interval_ece_from_pit(C.pit(m, k * s, yy)))  # noqa: E731
    calibrated = m + s * rng.standard_normal(300)
    obs = ece(1.3)(calibrated) - ece(1.0)(calibrated)
    r = C.reference_change(ece(1.3), ece(1.0), C.gaussian_draw(m, s), obs, draws=300)
    assert r["where"] == "inside" and r["low"] <= r["median"] <= r["high"] and r["median"] > 0
    wide = m + 1.3 * s * rng.standard_normal(300)  # σ 1.3× too small: scaling by 1.3 is a real fix
    r = C.reference_change(ece(1.3), ece(1.0), C.gaussian_draw(m, s), ece(1.3)(wide) - ece(1.0)(wide), draws=300)
    assert r["where"] == "below"


def test_coverage_change_counts_molecules_and_tests_only_crossing_intervals():
    old = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    new = np.array([1, 0, 1, 1, 1, 1], dtype=bool)
    c = C.coverage_change(old, new, nested=False)
    assert (c["gained"], c["lost"]) == (3, 1) and c["change"] == pytest.approx(2 / 6)
    assert c["p_mcnemar"] == pytest.approx(0.625)  # binomial test of 1 of 4 discordant molecules at ½
    assert C.coverage_change(old, old | new, nested=True)["p_mcnemar"] is None


def test_conformal_report_covers_and_mondrian_fixes_a_shifted_group():
    rng = np.random.default_rng(6)
    n = 3000
    mean, std = np.zeros(n), np.ones(n)
    groups = rng.integers(0, 3, n)
    y = rng.standard_normal(n) * np.where(groups == 0, 2.0, 1.0)  # group 0: σ too small by 2×
    cal, test = slice(0, 1500), slice(1500, n)
    r = C.conformal_report(ch03, {"mean": mean[cal], "std": std[cal], "y": y[cal]},
                           {"mean": mean[test], "std": std[test], "y": y[test]}, 0.1, groups[cal], groups[test])
    assert r["band"][0] <= r["coverage"] <= r["band"][1]
    assert r["groups"][0]["coverage"] < 0.85 and r["groups"][0]["coverage_mondrian"] > 0.87
    assert r["gap_mondrian"] < r["gap"] and r["groups"][0]["width_mondrian"] > r["groups"][0]["width"]
    assert r["coverage_ci"][0] <= r["coverage"] <= r["coverage_ci"][1]
    c = r["gap_change"]  # the paired interval of the gap change sees the repair; Fisher sees the drop
    assert c["change"] == pytest.approx(r["gap_mondrian"] - r["gap"]) and c["high"] < 0 and c["verdict"] == "lower"
    assert r["least_vs_most"]["p_value"] < 1e-6 and 0.02 < r["least_vs_most"]["detectable_gap"] < 0.05
    assert len(C.conformal_table({("toy", 0.1): r})) == 1
    lines = C.conformal_lines({("toy", 0.1): r})
    assert "Fisher exact p = 0.00" in lines[0] and "critical difference" in lines[0] and "T1" in lines[-2]
    assert "'the remedy narrows the gap' met" in lines[-1] and "biased upward" in lines[-1]
    assert "80% power needs" in lines[0] and "signed T1 − T3" in lines[0] and "point estimates only" in lines[-2]
    assert r["t1_minus_t3"] == pytest.approx(r["groups"][0]["coverage"] - r["groups"][max(r["groups"])]["coverage"])


def test_fisher_gap_test_and_power_at_chapter_3_sizes():
    f = C.fisher_gap_test(np.ones(43, bool), np.r_[np.ones(38), np.zeros(5)].astype(bool), 0.9)
    assert f["n"] == (43, 43) and f["p_value"] > 0.05
    assert f["detectable_gap"] == pytest.approx(1.959964 * math.sqrt(0.09 * 2 / 43), rel=1e-5)  # ≈ 0.127
    assert C.fisher_gap_test(np.ones(200, bool), np.zeros(200, bool), 0.9)["p_value"] < 1e-10


def test_similarity_groups_take_edges_from_validation_and_count_ties():
    sim_val = np.r_[np.linspace(0.1, 0.9, 30), [0.5, 0.5]]
    sim_test = np.array([0.05, 0.2, 0.5, 0.95, 0.5])
    g_val, g_test, edges, ties = C.similarity_groups(sim_val, sim_test)
    assert np.allclose(edges, np.quantile(sim_val, [1 / 3, 2 / 3]))
    assert np.bincount(g_val).tolist() in ([10, 11, 11], [11, 10, 11], [10, 10, 12], [11, 11, 10], [10, 12, 10])
    assert g_test[0] == 0 and g_test[3] == 2
    assert ties["test"] == int(np.isin(sim_test, edges).sum()) and ties["val"] >= 0


def test_binomial_band_and_terciles():
    lo, hi = C.binomial_band(128, 0.9)
    assert 0.83 < lo < 0.9 < hi < 0.96
    g = C.terciles(np.arange(30.0))
    assert np.bincount(g).tolist() == [10, 10, 10] and g[0] == 0 and g[-1] == 2
    assert C.terciles([0.1, 0.5, 0.9], edges=[0.5, 0.8]).tolist() == [0, 1, 2]  # an edge value goes up


def test_ence_is_small_when_calibrated_and_large_when_not():
    mean, std, y = _data(4000, 7)
    rmv, rmse, ence = C.ence_bins(std, y, mean)
    assert len(rmv) == 8 and np.all(np.diff(rmv) > 0) and ence < 0.08
    assert C.ence_bins(std / 2, y, mean)[2] > 0.8
    med, lo, hi = C.ence_reference(std, mean, draws=50)
    assert lo <= med <= hi


def test_ece_null_measures_the_bias_of_a_calibrated_model():
    rng = np.random.default_rng(8)
    p = rng.uniform(0, 1, 128)
    labels = (rng.random(128) < p).astype(int)
    null = C.ece_null(ch03, p, labels, draws=200)
    assert null["low"] <= null["median"] <= null["high"] and null["median"] > 0.02  # biased upwards at n = 128
    assert null["p_value"] > 0.05
    wrong = C.ece_null(ch03, p, (p < 0.5).astype(int), draws=200)
    assert wrong["p_value"] < 0.01 and wrong["observed"] > wrong["high"]


def test_paired_change_verdicts():
    x = np.linspace(0, 1, 100)
    same = C.paired_change(lambda a: float(np.mean(a)), lambda a: float(np.mean(a)), (x,), n_boot=50)
    assert same["verdict"] == "no detectable change" and same["change"] == 0
    up = C.paired_change(lambda a: float(np.mean(a)) + 1, lambda a: float(np.mean(a)), (x,), n_boot=50)
    assert up["verdict"] == "higher"


def test_defaults_come_from_the_chapter_settings(monkeypatch):
    from molpractice import ensembles

    monkeypatch.setenv("MOLPRACTICE_FAST", "1")
    assert C._default("n_boot") == ensembles.SETTINGS.current().n_boot == 200
    monkeypatch.setenv("MOLPRACTICE_FAST", "0")
    assert C._default("n_boot") == ensembles.SETTINGS.current().n_boot == 2000


def test_quantile_calibration_comes_from_the_chapter_module():
    """gaussian_metrics and reference_values score the QCE with the chapter's (learner's) exercise 3.8."""
    import types

    mean, std, y = _data(100, 9, bias=0.3)
    fake = types.SimpleNamespace(**{k: getattr(ch03, k) for k in ("gaussian_nll", "regression_ece")},
                                 quantile_calibration_error=lambda *a, **k: 0.123)
    assert C.gaussian_metrics(fake, mean, std**2, y)["qce"] == 0.123
    assert C.reference_values(fake, mean, std**2, y, draws=5)["qce"]["observed"] == 0.123
    assert C.gaussian_metrics(ch03, mean, std**2, y)["qce"] == pytest.approx(C.quantile_calibration_error(mean, std, y))


def test_verdict_lines_follow_the_numbers():
    from molpractice import calibration_verdicts as V

    rng = np.random.default_rng(4)
    pred = {}
    for name, scale in (("scaffold", 1.0), ("random", 0.7)):
        mm = rng.normal(size=(3, 60)); mv = rng.uniform(0.2, 1.0, (3, 60))
        mean, alea, epi = ch03.ensemble_moments(mm, mv)
        y = mean + scale * np.sqrt(alea + epi) * rng.standard_normal(60)
        pred[name] = dict(members_mean=mm, members_var=mv, mean=mean, alea=alea, epi=epi, var=alea + epi, y=y,
                          err=np.abs(y - mean))
    d = V.z2_decomposition(pred["scaffold"])
    assert d["var_ratio"] > 1 and d["mean_averaged"] < d["members"] and d["ensemble"] < d["mean_averaged"]
    lines = V.epistemic_share_lines(pred, {k: rng.uniform(size=60) for k in pred}, n_boot=50)
    assert len(lines) == 3 and "two split setups" in lines[-1]
    refs = {k: C.reference_values(ch03, p["mean"], p["var"], p["y"], draws=50) for k, p in pred.items()}
    ev = [dict(beta=0.5, select_on="rmse", n=1019, spearman=-0.003, spearman_folds=[-0.08, 0.18, 0.09, -0.20])]
    sp = V.spearman_lines(refs, pred, ev, {"beta": 0.5, "select_on": "rmse"}, n_boot=50)
    assert "as well as" not in " ".join(sp) and "bootstrap 95% CI" in sp[0] and "folds" in sp[-2] and "out of fold" in sp[-1]
    rec = V.recipe_spearman_lines(ev)
    assert "SD 0.17" in rec[0] and "SD/√4 = 0.09" in rec[0]
    assert "rough fold-level SE (4 folds, 3 df" in rec[-1] and "Bengio & Grandvalet 2004" in rec[-1]
    assert "honest" not in rec[-1] and "t = 3.18" in rec[-1]
    assert len(V.pit_lines(pred)) == 2 and len(V.z2_lines(pred)) == 2
    ens = {k: types_ns(seconds=[10.0, 61.8]) for k in ("a",)}
    assert "NOT met by the slowest" in V.training_time_line(ens) and "met on average" in V.training_time_line(ens)
    assert "wall time" in V.training_time_line(ens)  # no CPU times: the line says it judged wall time
    busy = {"a": types_ns(seconds=[90.0, 98.6], cpu_seconds=[33.0, 36.0])}  # a loaded machine: wall ≫ CPU
    line = V.training_time_line(busy)
    assert "36.0 (a seed 1)" in line and "met by the slowest model — on CPU time" in line and "189 s" in line
    assert "slowest 98.6 s (NOT met)" in line  # wall time is judged too, load included


def types_ns(**kw):
    import types

    return types.SimpleNamespace(**kw)


# ------------------------------------------------------------------------------------------- review 03e
def test_newcombe_paired_interval_contains_the_change_and_flips_with_the_roles():
    lo, hi = C.newcombe_paired_interval(100, 11, 0, 17)
    assert lo < 11 / 128 < hi and lo > 0  # 11 gained, none lost: the change is detectably positive
    nlo, nhi = C.newcombe_paired_interval(100, 0, 11, 17)
    assert (nlo, nhi) == pytest.approx((-hi, -lo))
    lo0, hi0 = C.newcombe_paired_interval(120, 0, 0, 8)
    assert lo0 < 0 < hi0 and -1 <= lo0 and hi0 <= 1  # nothing changed: not degenerate, contains 0
    # large n: close to the Wald interval of paired proportions
    a, b, c, d = 4000, 300, 200, 500
    n = a + b + c + d
    delta = (b - c) / n
    se = math.sqrt((b + c) / n - delta ** 2) / math.sqrt(n)
    assert C.newcombe_paired_interval(a, b, c, d) == pytest.approx((delta - 1.96 * se, delta + 1.96 * se), abs=0.002)
    with pytest.raises(ValueError, match="non-negative"):
        C.newcombe_paired_interval(-1, 0, 0, 1)
    ch = C.coverage_change([True] * 10 + [False] * 5, [True] * 15, nested=True)
    assert ch["gained"] == 5 and ch["low"] > 0 and "Newcombe" in ch["interval"]


def test_band_ends_carry_monte_carlo_se_and_edge_calls_are_not_counted():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(4000)
    from molpractice.calibration_reference import quantile_mc_se

    se = quantile_mc_se(v, 0.975)
    # binomial order-statistic SE of the 97.5 % quantile of N(0, 1): sqrt(q(1-q)/B) / φ(1.96)
    assert se == pytest.approx(math.sqrt(0.975 * 0.025 / 4000) / stats.norm.pdf(1.96), rel=0.25)
    band = C.calibrated_pit_reference(128, draws=1000)["ece"]
    assert band["high_se"] > 0 and band["low_se"] > 0
    assert C.band_position({"observed": band["high"] + band["high_se"], **band}) == "at the edge"
    assert C.band_position({"observed": band["high"] + 10 * band["high_se"] + 0.01, **band}) == "above"
    confs = {"s": {"m": {"ece": {"observed": band["high"], **band}, "qce": {"observed": 0.5, **band}}}}
    line = C.outside_lines(confs)[0]
    assert "1 of 2 checks outside" in line and "at the edge" in line and "m ece" in line.split("at the edge")[1]


def test_recalibration_changes_carry_paired_intervals_flagged_where_unreliable():
    rng = np.random.default_rng(5)
    n = 128
    m, v = rng.normal(size=n), rng.uniform(0.2, 1.0, n)
    val = {"mean": m, "var": v, "y": m + 0.6 * np.sqrt(v) * rng.standard_normal(n)}
    test = {"mean": m, "var": v, "y": m + 0.6 * np.sqrt(v) * rng.standard_normal(n)}  # under-confident raw σ
    rc = C.recalibration_comparison(ch03, val, test, n_boot=200, draws=100)
    pe = rc["changes"][("variance_scaled", "ece")]["paired"]
    assert pe["reliable"] and pe["raw_position"] == "above" and pe["low"] <= pe["high"]
    w = rc["changes"][("variance_scaled", "width95")]
    assert w["low"] <= w["change"] <= w["high"] and w["high"] < 0  # s² < 1 narrows every interval
    cov = rc["changes"][("variance_scaled", "coverage95")]
    assert cov["low"] <= cov["change"] <= cov["high"]
    calibrated = {"mean": m, "var": v, "y": m + np.sqrt(v) * rng.standard_normal(n)}
    rc2 = C.recalibration_comparison(ch03, calibrated, calibrated, n_boot=100, draws=100)
    assert not rc2["changes"][("isotonic", "qce")]["paired"]["reliable"]
    assert "unreliable" in C.describe_change(rc2["changes"][("isotonic", "qce")])
