"""Unit tests of molpractice.families and molpractice.family_studies (small subsets, fast settings)."""
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Crippen

from molpractice import chem, families, family_studies


@pytest.fixture(scope="module")
def small():
    return families.family_data(n_families=30)


def test_family_data_is_deterministic_valid_and_documented(small):
    again = families.family_data(n_families=30)
    assert small.equals(again)
    assert list(small.columns) == ["smiles", "family", "core", "crippen_logp", "series_effect", "target"]
    assert small["smiles"].is_unique
    assert sorted(small["family"].unique()) == list(range(small["family"].nunique()))
    for smi, logp in zip(small["smiles"][:40], small["crippen_logp"][:40]):
        mol = Chem.MolFromSmiles(smi)
        assert mol is not None and abs(Crippen.MolLogP(mol) - logp) < 1e-9
    per_family = small.groupby("family")["series_effect"].nunique()
    assert (per_family == 1).all(), "the series effect is shared by every member of a family"
    noise = small["target"] - small["crippen_logp"] - small["series_effect"]
    assert abs(noise.std() - families.NOISE_SD) < 0.05
    assert small.groupby("family").size().max() > 5, "families with several analogues"
    assert not families.family_data(n_families=30, seed=1).equals(small)


def test_family_data_disk_cache_gives_the_built_frame_exactly(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path))
    families._family_data.cache_clear()
    try:
        built = families.family_data(n_families=3, seed=3)       # built, and written to the cache
        (path,) = tmp_path.glob("families_*.npz")
        families._family_data.cache_clear()
        read = families.family_data(n_families=3, seed=3)        # read from it: same values, dtypes, index
        pd.testing.assert_frame_equal(read, built, check_exact=True)
    finally:
        families._family_data.cache_clear()
    smiles = ["c1ccccc1", "c1ccncc1"]
    key = families._cache_path(3, 3, smiles)
    assert len({key, families._cache_path(4, 3, smiles), families._cache_path(3, 4, smiles),
                families._cache_path(3, 3, smiles[:1])}) == 4, "every input is in the key"
    path.write_bytes(path.read_bytes()[:100])
    assert families._read_cache(path) is None, "a truncated file must be rebuilt, not trusted"


def test_enumerate_analogues_keeps_the_core_and_is_distinct():
    rng = np.random.default_rng(0)
    out = families.enumerate_analogues("c1ccncc1", 20, rng)
    assert out[0] == Chem.MolToSmiles(Chem.MolFromSmiles("c1ccncc1"))
    assert len(out) == 20 and len(set(out)) == 20
    core = Chem.MolFromSmiles("c1ccncc1")
    assert all(Chem.MolFromSmiles(s).HasSubstructMatch(core) for s in out)


def test_family_size_table_counts_every_molecule(small):
    table = families.family_size_table(small["family"])
    assert table["molecules"].sum() == len(small)
    assert table["families"].sum() == small["family"].nunique()


def test_max_similarity_and_leakage_split(small):
    smi = small["smiles"].tolist()[:20]
    assert np.allclose(family_studies.max_similarity(smi, smi), 1.0)
    test, pool, test_families = family_studies.leakage_test_split(small)
    assert np.array_equal(np.sort(np.concatenate([test, pool])), np.arange(len(small)))
    fam = small["family"].to_numpy()
    assert set(fam[test]) == set(test_families.tolist())
    assert np.isin(fam[pool], test_families).any(), "siblings of test molecules stay in the pool"


def test_fixed_test_leakage_curve_has_one_training_size(small, impl):
    X = chem.morgan_fingerprints(small["smiles"].tolist(), counts=True)
    table = family_studies.fixed_test_leakage_curve(small, X, cutoffs=(1.0, 0.5), subsamples=2, n_boot=50)
    assert table["n_train"].nunique() == 1
    assert table["cutoff"].tolist() == [1.0, 0.5]
    assert table["allowed"].iloc[0] >= table["allowed"].iloc[1]
    assert table["siblings allowed"].iloc[0] >= table["siblings allowed"].iloc[1]
    last = table.iloc[-1]
    assert last["mse gain"] == 0.0 and last["gain low"] <= 0.0 <= last["gain high"]  # strictest vs itself
    assert table.attrs["n_test"] > 0 and table.attrs["test_min_size"] == family_studies.TEST_MIN_SIZE
    assert table.attrs["eligible_families"] >= table.attrs["test_families"]
    assert np.isnan(last["gain p"]) and np.isnan(last["gain p Holm"])
    lines = family_studies.fixed_curve_lines(table)
    assert len(lines) == 3 + 1 + 2 + 1, "split, size, Holm; one step; one sibling-control line per cutoff; step verdicts"
    assert f"{table.attrs['n_test']} molecules" in lines[0] and "Holm over the 1 compared" in lines[2]
    assert lines[3].startswith("step 0.5 → 1: ") and lines[4].startswith("cutoff 1: RMSE")
    assert "after Holm" in lines[3] and "[Holm over the 2 cutoffs, per share]" in lines[4]
    assert lines[-1].startswith("steps with a detectable change after Holm: ")
    # Holm within each family of statements: adjusted >= raw, and the shares over every cutoff
    for k in ("step gain", "sibling gain", "other gain"):
        raw, adj = table[f"{k} p"].dropna(), table[f"{k} p Holm"].dropna()
        assert len(raw) == len(adj) and (adj.to_numpy() >= raw.to_numpy() - 1e-12).all()
    assert table["sibling gain p Holm"].notna().all() and "rmse subsample sd" in table
    # the sibling control: gain over the strictest = siblings' share + the other molecules' share (exact)
    assert np.allclose(table["mse gain"], table["sibling gain"] + table["other gain"])
    assert table["step gain"].iloc[0] == pytest.approx(table["mse gain"].iloc[0])  # two cutoffs: one step
    # ... which is the same contrast as the gain over the strictest: counted once, with the gains' verdict
    assert table.attrs["step_family"] == 0 and table["step gain p Holm"].iloc[0] == table["gain p Holm"].iloc[0]
    assert "= the gain at 1 over the strictest (the same contrast, counted once)" in lines[3]
    assert np.isnan(last["step gain"]) and table["rmse no siblings"].notna().all()
    for k in ("sibling gain", "other gain"):
        assert (table[f"{k} low"] <= table[k] + 1e-12).all() and (table[k] <= table[f"{k} high"] + 1e-12).all()
    assert table.attrs["strict_control"] >= table["n_train"].iloc[0]
    first = table.iloc[0]
    assert 0 < first["gain p"] <= first["gain p Holm"] <= 1  # one comparison: Holm multiplies by 1
    sim = family_studies.similarity_to(small["smiles"].tolist(), small["smiles"].tolist())
    cov = family_studies.coverage_on_families(impl.ch05_drills, small, X, test_families=(5,), reps=10, n_boot=50,
                                              similarity=sim, butina_cutoffs=(0.4,))
    main = cov[cov["label"] == "with series effect"].set_index("method")
    ctrl = cov[cov["label"] == "no series effect (control)"].set_index("method")
    assert list(main.index) == ["i.i.d.", "cluster", "Butina 0.4"] and list(ctrl.index) == ["i.i.d.", "cluster"]
    assert ((cov["coverage"] >= 0) & (cov["coverage"] <= 1)).all()
    assert main.loc["cluster", "mean width"] >= main.loc["i.i.d.", "mean width"]
    assert main.loc["cluster", "mean groups"] == 5 and main.loc["i.i.d.", "mean groups"] == main.loc["i.i.d.", "mean test molecules"]
    assert 5 <= main.loc["Butina 0.4", "mean groups"] <= main.loc["i.i.d.", "mean groups"]
    assert ctrl.loc["cluster", "true RMSE"] != main.loc["cluster", "true RMSE"], "the control has its own label and model"
    assert cov.attrs["pool_families"] + cov.attrs["train_families"] == small["family"].nunique()
    assert set(cov.attrs["icc"]) == {"with series effect", "no series effect (control)"} and 5 in cov.attrs["s"]
    lines = family_studies.coverage_lines(cov)
    assert len(lines) == len(cov) + 1 + 2 + 1, "one per row, the population, one design-effect line per label, ρ gap"
    d = cov.attrs["icc_diff"]
    assert d["low"] <= d["high"] and lines[-1].startswith("intra-family correlation with − without the series effect")
    rho = cov.attrs["icc"]
    assert d["diff"] == pytest.approx(rho["with series effect"] - rho["no series effect (control)"])
    # paired coverage differences: every grouping scored on the same test sets
    diffs = family_studies.coverage_differences(cov)
    assert set(diffs["second"]) == {"i.i.d.", "Butina 0.4"} and (diffs["reps"] == 10).all()
    hits = cov.attrs["hits"]
    for _, r in diffs.iterrows():
        h1 = np.asarray(hits[(r["label"], 5, "cluster")]); h2 = np.asarray(hits[(r["label"], 5, r["second"])])
        assert r["difference"] == pytest.approx(h1.mean() - h2.mean()) and r["low"] <= r["difference"] <= r["high"]
    for (lab, G, method), h in hits.items():
        row = cov[(cov["label"] == lab) & (cov["method"] == method)].iloc[0]
        assert row["coverage"] == pytest.approx(np.mean(h))
    assert lines[len(cov)].startswith(f"population: {cov.attrs['pool_families']} families")
    fpc = np.sqrt(1 - 5 / cov.attrs["pool_families"])
    assert f"{fpc:.2f} at 5 families" in lines[len(cov)] and "predicted width ratio" in lines[-2]
    verdicts = family_studies.coverage_verdict_lines(cov)
    assert len(verdicts) == 2 and "families minus i.i.d.:" in verdicts[0] and "families minus Butina 0.4:" in verdicts[0]
    assert "paired over the same 10 test sets" in verdicts[0]
    plain = family_studies.coverage_on_families(impl.ch05_drills, small, X, test_families=(5,), reps=4, n_boot=20,
                                                control=False)
    assert set(plain["method"]) == {"i.i.d.", "cluster"} and set(plain["label"]) == {"with series effect"}


def test_intraclass_correlation():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(50), 6)
    assert family_studies.intraclass_correlation(np.repeat(rng.normal(size=50), 6) + 1e-9 * rng.normal(size=300),
                                                 labels) == pytest.approx(1.0, abs=1e-6)
    assert abs(family_studies.intraclass_correlation(rng.normal(size=300), labels)) < 0.1
    mixed = np.repeat(rng.normal(size=50), 6) + rng.normal(size=300)  # between var 1, within var 1: rho = 0.5
    assert family_studies.intraclass_correlation(mixed, labels) == pytest.approx(0.5, abs=0.2)


def test_construction_lines_state_the_constructed_parts(small):
    lines = families.construction_lines(small)
    assert f"SD {families.SERIES_SD}" in lines[0] and "not measured" in lines[0]
    assert f"{small['family'].nunique()} families" in lines[2] and "bare core" in lines[2]


def test_sibling_similarity_counts_every_pair_within_families(small):
    sims = family_studies.sibling_similarity(small)
    sizes = small.groupby("family").size().to_numpy()
    assert sims.size == int((sizes * (sizes - 1) // 2).sum())
    assert ((sims >= 0) & (sims <= 1)).all()
    one = small[small["family"] == small["family"].iloc[0]]
    expected = family_studies.similarity_to(one["smiles"].tolist(), one["smiles"].tolist())
    assert np.allclose(np.sort(family_studies.sibling_similarity(one)),
                       np.sort(expected[np.triu_indices(len(one), 1)]))
    assert family_studies.sibling_summary(small).startswith(f"Tanimoto between members of the same family ({sims.size} pairs)")


def test_size_summary_and_plots(small):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from molpractice import plots_statistics

    groupings = {"families": small["family"], "singletons": np.arange(len(small))}
    table = families.size_summary(groupings)
    assert table.loc["singletons", "groups"] == len(small) and table.loc["singletons", "median group size"] == 1
    sizes = small.groupby("family").size()
    assert table.loc["families", "median group size"] == sizes.median()
    assert table.loc["families", "group size of the median molecule"] == np.median(np.repeat(sizes, sizes))
    assert table.loc["families", "largest"] == small.groupby("family").size().max()
    ax = plots_statistics.plot_family_sizes(groupings)
    assert ax.get_title() and ax.get_xlabel() and len(ax.get_lines()) == 2
    plt.close("all")
    curve = family_studies.fixed_test_leakage_curve(small, chem.morgan_fingerprints(small["smiles"].tolist(),
                                                                                     counts=True),
                                                    cutoffs=(1.0, 0.6), subsamples=2, n_boot=30)
    ax = plots_statistics.plot_fixed_leakage_curve(curve)
    assert ax.get_ylabel().startswith("test RMSE")
    plt.close("all")


def test_core_check_line_words_its_interval():
    import pandas as pd

    row = {"n_train": 100, "sibling gain": 0.04, "sibling gain low": 0.02, "sibling gain high": 0.07}
    line = family_studies.core_check_line(pd.DataFrame([row]))
    assert line.endswith("lower by +0.040 [+0.020, +0.070]") and "100 training molecules" in line
    flat = family_studies.core_check_line(pd.DataFrame([dict(row, **{"sibling gain low": -0.01})]))
    assert flat.endswith("(no detectable difference)")
