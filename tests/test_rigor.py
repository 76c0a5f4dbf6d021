"""Unit tests of molpractice.rigor and molpractice.plots_statistics (small inputs, fast mode settings)."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from molpractice import plots_statistics, rigor  # noqa: E402

SMALL = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "c1ccccc1O", "c1ccccc1N", "CC(=O)O", "CCN", "CCCN", "C1CCCCC1",
         "C1CCCCC1O", "Oc1ccc(O)cc1", "CCOC(=O)C", "CCCCCC", "CCCCCCC", "c1ccncc1", "Cc1ccncc1", "CC(C)O",
         "OCC(O)CO", "NCCN", "c1ccc2ccccc2c1", "ClCCl", "ClC(Cl)Cl", "BrCCBr", "CC#N", "C=CC=C", "CC=O",
         "OC(=O)c1ccccc1", "Nc1ccccc1Cl", "CSC", "CCS", "O=C1CCCCC1", "C1CC2CCC1C2", "CC.O"]


@pytest.fixture
def drills(impl):
    return impl.ch05_drills


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("MOLPRACTICE_FAST", "1")


def test_settings_have_the_same_names_in_both_modes():
    assert set(rigor.SETTINGS.full) == set(rigor.SETTINGS.fast)
    assert set(rigor.SETTINGS.doc) == set(rigor.SETTINGS.full)
    assert rigor.SETTINGS.current("fast").power_reps < rigor.SETTINGS.current("full").power_reps
    table = rigor.settings_tables({"rigor": rigor.SETTINGS})
    value = table.loc[("rigor", "power_reps"), "full"]
    assert value == 1000 and isinstance(value, int)


def test_brute_force_versions_agree_with_the_exercises(drills):
    rng = np.random.default_rng(0)
    for _ in range(300):
        tokens = rng.choice(list("CcO()"), size=int(rng.integers(0, 20))).tolist()
        k = int(rng.integers(0, 5))
        assert rigor.brute_force_window(tokens, k) == drills.longest_window_at_most_k_distinct(tokens, k)
        n = int(rng.integers(1, 8))
        edges = [(u, v) for u in range(n) for v in range(u, n) if rng.random() < 0.3]
        mask = rng.random(n) < 0.7
        assert rigor.brute_force_is_tree(n, edges, mask.tolist()) == drills.induced_subgraph_is_tree(n, edges, mask)
        assert rigor.brute_force_is_tree(n, edges, int(sum(1 << i for i in range(n) if mask[i]))) == \
            drills.induced_subgraph_is_tree(n, edges, mask)


def test_token_stream_and_random_tree():
    assert rigor.smiles_token_stream(["CO", "N"]) == list("CO.N")
    assert len(rigor.smiles_token_stream(["CO"], 7)) == 7
    with pytest.raises(ValueError):
        rigor.smiles_token_stream([])
    n, edges, mask = rigor.random_tree_instance(50)
    assert n == 50 and len(edges) == 49 and all(0 <= p < i for i, p in edges) and all(mask)


def test_timing_table_columns_limits_and_disagreement(drills):
    table = rigor.timing_table({"fast": drills.longest_window_at_most_k_distinct, "brute": rigor.brute_force_window},
                               lambda n: (rigor.smiles_token_stream(SMALL, n), 3), (50, 100, 200), repeats=1,
                               max_n={"brute": 100})
    assert list(table.index) == [50, 100, 200]
    assert set(table.columns) == {"fast [s]", "brute [s]", "fast ×", "brute ×"}
    assert math.isnan(table.loc[200, "brute [s]"]) and table.loc[200, "fast [s]"] >= 0
    slopes = rigor.loglog_slope(table.assign(**{"brute [s]": [1.0, 4.0, np.nan], "fast [s]": [1.0, 2.0, 4.0]}))
    assert slopes == pytest.approx({"fast": 1.0, "brute": 2.0})
    with pytest.raises(ValueError, match="disagree"):
        rigor.timing_table({"a": lambda n: 1, "b": lambda n: 2}, lambda n: (n,), (1,), repeats=1)


def test_molecule_tree_checks_agree_with_rdkit(drills):
    table = rigor.molecule_tree_checks(drills, ["CCO", "c1ccccc1", "CC.O", "CC(C)(C)O", "C1CC2CCC1C2"])
    whole = table.iloc[0]
    assert whole["molecules"] == 5 and whole["agree"] == 5 and whole["trees"] == 2  # CCO, tert-butanol
    ring = table.iloc[1]
    assert ring["molecules"] == 2 and ring["agree"] == 2
    assert table["check"].str.startswith("(").all() and len(table) == 4
    whole_ring, plus = table.iloc[2], table.iloc[3]
    assert whole_ring["molecules"] == 2 and whole_ring["agree"] == 2 and whole_ring["trees"] == 0
    assert plus["molecules"] == 1 and plus["agree"] == 1 and plus["trees"] == 0  # only the bicycle has an outside atom


def test_molecule_tree_checks_catch_an_always_true_answer():
    class AlwaysTree:
        @staticmethod
        def induced_subgraph_is_tree(num_nodes, edges, mask):
            return True

    table = rigor.molecule_tree_checks(AlwaysTree, ["c1ccccc1C", "CCO"]).set_index("check")
    assert (table["agree"] < table["molecules"]).iloc[2:].all(), "the negative controls must reject 'always True'"


def test_iid_bootstrap_and_family_coverage(drills, fast):
    values = np.arange(20.0)
    low, high = rigor.iid_bootstrap_ci(values, n_boot=500, seed=1)
    assert low < values.mean() < high and (low, high) == rigor.iid_bootstrap_ci(values, n_boot=500, seed=1)
    table = rigor.family_coverage(drills, family_sizes=(1, 10), n_families=20, reps=40, n_boot=150, seed=0)
    assert list(table["method"]) == ["iid", "cluster", "iid", "cluster"]
    cov = {(r["family size"], r["method"]): r["coverage"] for _, r in table.iterrows()}
    assert cov[(10, "cluster")] > cov[(10, "iid")] + 0.2, "with near-duplicate families the i.i.d. interval undercovers"
    assert (table["coverage low"] <= table["coverage"]).all() and (table["coverage"] <= table["coverage high"]).all()


def test_error_intervals(drills):
    rng = np.random.default_rng(0)
    errors = rng.normal(size=60)
    table = rigor.error_intervals(drills, errors, {"iid": np.arange(60), "groups": np.repeat(np.arange(6), 10)},
                                  n_boot=300)
    assert list(table["grouping"]) == ["iid", "groups"] and list(table["groups"]) == [60, 6]
    assert np.allclose(table["rmse"], math.sqrt(np.mean(errors ** 2)))
    assert (table["low"] <= table["rmse"]).all() and (table["rmse"] <= table["high"]).all()


def test_tanimoto_and_butina_labels():
    sim = rigor.tanimoto_matrix(["CCO", "OCC", "c1ccccc1"])
    assert sim.shape == (3, 3) and np.allclose(np.diag(sim), 1) and sim[0, 1] == 1.0 and sim[0, 2] < 0.2
    labels = rigor.butina_labels(sim, 0.3)
    assert labels[0] == labels[1] != labels[2]


def test_leakage_curve_rows_and_columns(drills, impl, fast):
    from molpractice import chem

    y = chem.rdkit_descriptors(SMALL, names=("MolLogP",))[:, 0]
    table = rigor.leakage_curve(drills, impl.ch01_solubility_gnn, SMALL, y, thresholds=(0.4, 0.8), n_trees=5,
                                n_boot=50)
    assert list(table["split"]) == ["random", "scaffold", "butina 0.4", "butina 0.8"]
    assert (table["n_train"] + table["n_test"] <= len(SMALL)).all()
    assert (table["low"] <= table["rmse"] + 1e-12).all() and (table["rmse"] <= table["high"] + 1e-12).all()
    butina = table[table["split"].str.startswith("butina")]
    assert butina["nn within cutoff"].between(0, 1).all() and table["nn_similarity"].between(0, 1).all()
    assert table.loc[:1, "nn within cutoff"].isna().all() and table["nn ≥ 0.6"].between(0, 1).all()
    assert np.isnan(table["vs random"].iloc[0]) and table["vs random"].iloc[1:].notna().all()
    assert np.allclose(table["vs random"].iloc[1:], table["rmse"].iloc[1:] - table["rmse"].iloc[0])
    assert (table["vs random low"].iloc[1:] <= table["vs random high"].iloc[1:]).all()


def test_calibration_power_size_and_power(drills):
    table = rigor.calibration_power(drills, [(1.0, 0.0), (0.4, 0.0)], n=200, reps=100, seed=1)
    size, power = table["rejection rate"]
    assert size <= 0.15 and power >= 0.9


def test_temperature_scaling_cv_finds_a_large_temperature():
    rng = np.random.default_rng(0)
    p, y = rigor.simulate_outcomes(rng, 2000, temperature=3.0)
    out = rigor.temperature_scaling_cv(p, y, n_boot=300)
    assert out["deploy"] and 2.2 < out["T"] < 4.0 and out["gain"] > 0 and out["gain_ci"][0] > 0
    p, y = rigor.simulate_outcomes(rng, 300, temperature=1.0)
    out = rigor.temperature_scaling_cv(p, y, n_boot=300)
    assert abs(out["gain"]) < 0.02 and out["nll_after"] > 0
    table = rigor.temperature_scaling_study([1.0], n=100, reps=5, n_boot=50)
    assert list(table.columns) == ["true T", "deployed", "median fitted T", "mean NLL gain"]


def test_smallest_k_and_action_probability(drills):
    k = rigor.smallest_k_above(drills, 200, 0.10)
    assert drills.success_rate_lower_bound(k, 200) > 0.10 >= drills.success_rate_lower_bound(k - 1, 200)
    assert rigor.smallest_k_above(drills, 5, 0.9) is None
    table = rigor.action_probability(k, 200, [0.1, 0.2])
    assert table["P(act)"].iloc[0] <= 0.05 and table["P(act)"].iloc[1] > 0.9


def test_multiple_looks(drills):
    from scipy import stats

    table = rigor.multiple_looks(drills, 200, looks=6, reps=4000, seed=0)
    k = rigor.smallest_k_above(drills, 200, 0.10)
    assert table.attrs["monthly exact"] == pytest.approx(1 - (1 - stats.binom.sf(k - 1, 200, 0.10)) ** 6)
    assert abs(table["monthly"].iloc[-1] - table.attrs["monthly exact"]) < 4 * np.sqrt(0.25 / 4000)
    assert list(table.index) == list(range(1, 7))
    assert (table.diff().dropna() >= 0).all().all(), "the chance of a false alarm so far cannot decrease"
    assert table.loc[1, "monthly"] == table.loc[1, "cumulative"]
    k = rigor.smallest_k_above(drills, 200, 0.10)
    a = stats.binom.sf(k - 1, 200, 0.10)
    assert abs(table.loc[6, "monthly"] - (1 - (1 - a) ** 6)) < 0.03
    assert table.loc[6, "monthly, Bonferroni"] <= 0.05
    assert table.attrs["one look exact"] == pytest.approx(a)
    kb = rigor.smallest_k_above(drills, 200, 0.10, 1 - 0.05 / 6)
    assert table.attrs["bonferroni exact"] == pytest.approx(1 - (1 - stats.binom.sf(kb - 1, 200, 0.10)) ** 6)
    assert abs(table.loc[6, "monthly, Bonferroni"] - table.attrs["bonferroni exact"]) < 4 * np.sqrt(0.25 / 4000)


def test_temperature_gain_on_test_scores_a_given_t():
    rng = np.random.default_rng(0)
    p, y = rigor.simulate_outcomes(rng, 2000, 2.0)
    good = rigor.temperature_gain_on_test(2.0, p, y, n_boot=200)
    assert good["deploy"] and good["gain_ci"][0] > 0 and good["T"] == 2.0
    same = rigor.temperature_gain_on_test(1.0, p, y, n_boot=200)
    assert abs(same["gain"]) < 1e-12 and not same["deploy"]


def test_every_plot_is_titled_and_labelled(drills):
    import pandas as pd

    timing = pd.DataFrame({"n": [10, 20], "a [s]": [0.1, 0.2], "b [s]": [0.1, np.nan]}).set_index("n")
    coverage = pd.DataFrame({"family size": [1, 1, 10, 10], "method": ["iid", "cluster"] * 2,
                             "coverage": [0.9, 0.9, 0.5, 0.9], "coverage low": [0.8, 0.8, 0.4, 0.8],
                             "coverage high": [0.95] * 4})
    leak = pd.DataFrame({"split": ["random", "scaffold", "butina 0.4", "butina 0.6"], "threshold": [np.nan, np.nan, 0.4, 0.6],
                         "rmse": [0.9, 1.1, 1.0, 1.05], "low": [0.8, 1.0, 0.9, 0.9], "high": [1.0, 1.2, 1.1, 1.2],
                         "nn_similarity": [0.5, 0.35, 0.45, 0.35], "nn within cutoff": [np.nan, np.nan, 0.03, 0.3], "nn ≥ 0.6": [0.4, 0.1, 0.2, 0.05]})
    power = pd.DataFrame({"temperature": [0.5, 1.0, 2.0], "shift": [0.0] * 3, "rejection rate": [1.0, 0.05, 0.9],
                          "low": [0.9, 0.02, 0.8], "high": [1.0, 0.1, 0.95]})
    looks = pd.DataFrame({"monthly": [0.04, 0.08], "cumulative": [0.04, 0.07]}, index=pd.RangeIndex(1, 3, name="looks"))
    axes = [plots_statistics.plot_scaling(timing), plots_statistics.plot_coverage(coverage),
            plots_statistics.plot_leakage_curve(leak), plots_statistics.plot_separation(leak),
            plots_statistics.plot_rejection_rates(power), plots_statistics.plot_false_alarms(looks)]
    for ax in axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), ax.get_title()
    plt.close("all")


def test_leakage_and_rejection_lines_state_their_verdicts():
    import pandas as pd

    leakage = pd.DataFrame({"split": ["random", "scaffold", "butina 0.4", "butina 0.8"],
                            "threshold": [np.nan, np.nan, 0.4, 0.8], "rmse": [0.9, 1.1, 1.0, 1.4],
                            "low": [0.8, 1.0, 0.85, 1.2], "high": [1.0, 1.2, 1.1, 1.6],
                            "nn_similarity": [0.5, 0.35, 0.4, 0.3], "nn within cutoff": [np.nan, np.nan, 0.03, 0.9], "nn ≥ 0.6": [0.4, 0.1, 0.2, 0.05],
                            "vs random": [np.nan, 0.2, 0.1, 0.5], "vs random low": [np.nan, 0.05, -0.1, 0.2],
                            "vs random high": [np.nan, 0.35, 0.3, 0.8]})
    lines = rigor.leakage_lines(leakage)
    assert lines[0].startswith("random split: RMSE 0.90 [0.80, 1.00]")
    assert "minus random's +0.10 [-0.10, +0.30] (no detectable difference)" in lines[1]
    assert "(above random's)" in lines[2] and "overlap" not in " ".join(lines)
    assert lines[-1] == "RMSE detectably above random's at Butina cutoffs: 0.8; no detectable difference at: 0.4"
    below = leakage.assign(**{"vs random low": [np.nan, 0.05, -0.3, -0.4], "vs random high": [np.nan, 0.3, -0.1, 0.2]})
    assert "(below random's)" in rigor.leakage_lines(below)[1]
    power = pd.DataFrame({"temperature": [1.0, 1.5], "shift": [0.0, 0.0], "rejection rate": [0.07, 0.6],
                          "low": [0.055, 0.5], "high": [0.085, 0.7], "mean ece": [0.07, 0.09]})
    lines = rigor.rejection_lines(power)
    assert len(lines) == 3 and lines[-1] == "calibrated months: rejection rate above the 5% level"
    assert rigor.rejection_lines(power.assign(low=0.03))[-1].endswith("consistent with the 5% level")


def test_bound_coverage_is_exact_and_names_where_bounds_fail(drills):
    from scipy import stats

    table = rigor.bound_coverage(drills, 200, [0.02, 0.05, 0.5])
    assert list(table.columns) == ["true rate", "Clopper–Pearson lower", "Wald lower", "Wilson lower", "Wald upper"]
    assert (table["Clopper–Pearson lower"] >= 0.95).all(), "the exact bound keeps its coverage at every rate"
    k = np.arange(201)
    wald = k / 200 - stats.norm.ppf(0.95) * np.sqrt(k / 200 * (1 - k / 200) / 200)
    expected = stats.binom.pmf(k, 200, 0.05)[wald <= 0.05].sum()
    assert table.loc[1, "Wald lower"] == pytest.approx(expected)
    assert table.loc[1, "Wald lower"] > 0.96 and table.loc[1, "Wald upper"] < 0.9, "over- and under-coverage at 5 %"
    lines = rigor.bound_coverage_lines(table)
    assert len(lines) == 4 and lines[0].startswith("Clopper–Pearson lower: coverage") and "below 95% at true rates none" in lines[0]
    assert "below 95% at true rates 0.02, 0.05, 0.5" in lines[3]


def test_real_classifier_check_runs_the_55_questions_on_real_predictions(drills, impl):
    import pandas as pd

    from molpractice import chem

    logp = chem.rdkit_descriptors(SMALL, names=("MolLogP",))[:, 0]
    y = np.median(logp) - logp - 4.0  # a stand-in "logS": about half of the molecules above −4
    table = rigor.real_classifier_check(drills, impl.ch01_solubility_gnn, SMALL, y)
    assert list(table["split"]) == ["random", "scaffold"]
    assert {"z", "p_value", "ece", "ece low", "ece high", "T", "nll gain", "gain low", "gain high", "deploy",
            "n val"} <= set(table)
    assert (table["n val"] > 0).all() and "fitted on the validation part" in rigor.real_classifier_lines(table)[0]
    assert table["p_value"].between(0, 1).all() and (table["gain low"] <= table["gain high"]).all()
    lines = rigor.real_classifier_lines(table)
    assert len(lines) == 2 and lines[0].startswith("random split, ") and "→" in lines[0]
    fake = pd.DataFrame([dict(table.iloc[0]) | {"p_value": 0.01, "deploy": False, "gain high": -0.01}])
    assert "miscalibration detected" in rigor.real_classifier_lines(fake)[0] and "(worse)" in rigor.real_classifier_lines(fake)[0]
