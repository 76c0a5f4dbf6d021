"""molpractice.sample_distributions on small hand-made inputs."""
import math

import numpy as np
import pytest
import torch

from molpractice import sample_distributions as SD
from embedded3d import embedded as _embedded
from solutions import ch04_diffusion as ch


def test_bond_and_angle_tables_name_types_and_measure():
    samples = [_embedded("CC=O"), _embedded("c1ccccc1"), _embedded("CC#N")]
    bonds = SD.bond_table(ch.molecule_from_geometry, samples)
    assert set(bonds["type"]) == {"C–C", "C=O", "C:C", "C#N"}
    assert bonds.loc[bonds["type"] == "C:C", "length"].between(1.37, 1.41).all()
    assert bonds.loc[bonds["type"] == "C#N", "length"].between(1.12, 1.18).all()
    angles = SD.angle_table(ch.molecule_from_geometry, samples)
    ring = angles[(angles["sample"] == 1)]
    assert len(ring) == 6 and ring["angle"].between(118, 122).all()
    nitrile = angles[(angles["sample"] == 2)]
    assert len(nitrile) == 1 and nitrile["angle"].iloc[0] > 175
    cmp = SD.bond_type_comparison(bonds, bonds, min_count=1, min_samples=1)
    assert (cmp["wasserstein"] == 0).all()
    assert ((cmp["low"] <= cmp["outside data 1-99 %"]) & (cmp["outside data 1-99 %"] <= cmp["high"])).all()
    import pandas as pd

    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"type": "C–C", "length": rng.normal(1.53, 0.01, 5000)})
    same = pd.DataFrame({"type": "C–C", "length": rng.normal(1.53, 0.01, 2000)})
    wide = pd.DataFrame({"type": "C–C", "length": rng.normal(1.53, 0.10, 2000)})
    a, b = SD.bond_type_comparison(same, ref), SD.bond_type_comparison(wide, ref)
    assert abs(a["outside data 1-99 %"][0] - 0.02) < 0.01 and b["outside data 1-99 %"][0] > 0.7
    assert a["wasserstein"][0] < 0.002 < b["wasserstein"][0]


def test_tv_distance_and_histograms():
    assert SD.tv_distance(["a", "a", "b"], ["a", "a", "b"]) == 0
    assert SD.tv_distance(["a"], ["b"]) == 1
    assert SD.tv_distance(["a", "b"], ["a", "a"]) == pytest.approx(0.5)
    assert math.isnan(SD.tv_distance([], ["a"]))
    data = [_embedded(s) for s in ("CCO", "CCN", "CCC", "c1ccccc1", "C1CC1", "CC(C)O")]
    table = SD.histogram_distances(ch.molecule_from_geometry, data[:3], data, n_null=50)
    assert list(table["histogram"]) == ["atom types", "heavy-atom count (drawn from the data)", "ring sizes (0 = acyclic)"]
    assert ((table["p"] > 0) & (table["p"] <= 1)).all() and (table["n valid samples"] == 3).all()
    same = SD.histogram_distances(ch.molecule_from_geometry, data[:3], data[:3] * 2, n_null=20)
    assert (same["TV samples vs data"] == 0).all() and (same["p"] == 1).all()
    # the null compares a subset with its complement: the first three of six distinct molecules vs the rest
    # of the data is a real difference (a subset vs the whole data would share half its molecules)
    assert (table["null 95th pct"] > 0).all()
    whole = SD.histogram_distances(ch.molecule_from_geometry, data, data, n_null=20)
    assert (whole["TV samples vs data"] == 0).all() and whole["p"].isna().all() and whole["null 95th pct"].isna().all()


def test_scaffolds_diversity_and_novelty_by_size():
    m = SD.scaffold_metrics(["c1ccccc1C", "c1ccccc1CC", "C1CC1O", "CCO"], ["c1ccccc1O", "CC"])
    assert m["acyclic"]["k"] == 1 and m["acyclic"]["n"] == 4
    assert m["scaffold uniqueness"]["rate"] == pytest.approx(2 / 3)
    assert m["scaffold novelty"]["rate"] == pytest.approx(1 / 2)        # benzene is a training scaffold
    div = SD.internal_diversity(["CCO", "CCO"], n_boot=10)
    assert div["value"] == 0.0
    div = SD.internal_diversity(["CCO", "c1ccccc1", "CC(=O)N"], n_boot=10)
    assert 0.4 < div["value"] <= 2 / 3 and div["n"] == 3      # MOSES: the diagonal (similarity 1) is included
    diff = SD.diversity_difference(["CCO", "c1ccccc1", "CC(=O)N", "CCCl"], ["CCO", "CCO", "CCO", "CCN"], n_perm=50)
    assert diff["difference"] > 0 and 0 < diff["p"] <= 1 and diff["n_a"] == 4
    train = ["C", "CC", "CCO", "CCCO", "CCCCO", "CCCCCO", "CCCCCCO", "CCCCCCCO", "CCCCCCCCO", "OCCCCCCCCO"]
    table = SD.novelty_by_size(["CCO", "CCCCCCCCO", "OCC(C)CCCCC"], train, heldout_fraction=0.3, seed=0)
    assert list(table["heavy atoms"]) == ["1–5", "6", "7", "8", "9"]
    row9 = table[table["heavy atoms"] == "9"].iloc[0]
    assert row9["n samples"] == 2 and row9["novelty samples"] == 0.5
    assert table["n held-out data"].sum() <= 3  # 3 held out; a 10-atom molecule falls outside the bins
    assert np.isnan(table.loc[table["n samples"] == 0, "novelty samples"]).all()
    assert "verdict" not in table, "a description, not a test: no verdict"
    # review 04g-7: the data's duplicate rate within each bin and the unpaired Newcombe difference per bin
    dup_train = train + ["CCO", "CCCCCCCCO"]          # two repeated entries (a stereo-free duplicate in the data)
    t2 = SD.novelty_by_size(["CCO", "CCCCCCCCO", "OCC(C)CCCCC"], dup_train, heldout_fraction=0.3, seed=0)
    r15 = t2[t2["heavy atoms"] == "1–5"].iloc[0]
    assert r15["n data entries"] == 6 and r15["data duplicate rate"] == pytest.approx(2 / 6)   # CCO twice
    assert table["data duplicate rate"].fillna(0).eq(0).all()
    from molpractice.plausibility import rate_difference

    for _, r in t2.iterrows():
        if r["n samples"] and r["n held-out data"]:
            ks = round(r["novelty samples"] * r["n samples"])
            kh = round(r["novelty held-out data"] * r["n held-out data"])
            ref = rate_difference(ks, r["n samples"], kh, r["n held-out data"])
            assert (r["samples − held-out"], r["d_low"], r["d_high"]) == pytest.approx((ref["difference"], ref["low"], ref["high"]))
            assert r["d_low"] <= r["samples − held-out"] <= r["d_high"]
        else:
            assert np.isnan(r["samples − held-out"]) and np.isnan(r["d_low"])
    doc = SD.novelty_by_size.__doc__
    assert "a description, not a null, because" in doc and "not the null baseline" not in doc


def test_pooled_wasserstein_reference_splits_data_by_molecule():
    import pandas as pd

    data = pd.DataFrame({"sample": [0, 0, 1, 1, 2, 2, 3, 3], "length": [1.0, 1.5] * 4})
    same = SD.pooled_wasserstein(data, data)
    assert same == {"samples vs data": 0.0, "data half vs half": 0.0}
    shifted = SD.pooled_wasserstein(data.assign(length=data["length"] + 0.1), data)
    assert shifted["samples vs data"] == pytest.approx(0.1)


def test_population_note_counts_aromatic_bonds_in_single_fragments():
    import pandas as pd

    bonds = pd.DataFrame({"sample": [0, 0, 2, 3], "type": ["C:C", "C–C", "C:C", "C:C"], "length": [1.4] * 4})
    note = SD.population_note(bonds, [True, False, False, True])
    assert "(3 samples with a bond)" in note and "Aromatic C:C bonds of the samples: 3, 2 of them in single fragments" in note


def test_bond_type_comparison_reference_column_and_hidden_w1():
    import pandas as pd

    rng = np.random.default_rng(1)
    data = pd.DataFrame({"sample": np.repeat(np.arange(200), 5), "type": "C–C", "length": rng.normal(1.53, 0.01, 1000)})
    data_d = pd.DataFrame({"sample": np.arange(50), "type": "C=O", "length": rng.normal(1.21, 0.01, 50)})
    data = pd.concat([data, data_d], ignore_index=True)
    samples = pd.DataFrame({"type": ["C–C"] * 30 + ["C=O"] * 5, "length": rng.normal(1.53, 0.01, 35)})
    table = SD.bond_type_comparison(samples, data).set_index("type")
    # the reference: two halves of the same distribution, ≈ 0.01 · sqrt(2/π) · small → far below 0.01
    assert 0 < table.loc["C–C", "W1 data halves"] < 0.004
    ids = data["sample"].unique()
    half = np.random.default_rng(0).permutation(ids)[: len(ids) // 2]
    cc = data[data["type"] == "C–C"]
    from scipy.stats import wasserstein_distance

    want = wasserstein_distance(cc.loc[cc["sample"].isin(half), "length"], cc.loc[~cc["sample"].isin(half), "length"])
    assert table.loc["C–C", "W1 data halves"] == pytest.approx(want), "halves split the data by molecule"
    assert not np.isnan(table.loc["C–C", "wasserstein"]) and table.loc["C–C", "note"] == ""
    assert np.isnan(table.loc["C=O", "wasserstein"]) and "< 20 sample values" in table.loc["C=O", "note"]
    assert not np.isnan(SD.bond_type_comparison(samples, data, min_samples=5).set_index("type").loc["C=O", "wasserstein"])
    no_ids = SD.bond_type_comparison(samples, data.drop(columns="sample"))
    assert no_ids["W1 data halves"].isna().all()
    with pytest.raises(ValueError, match="min_samples"):
        SD.bond_type_comparison(samples, data, min_samples=0)


def test_pairwise_distances_every_pair_of_every_sample():
    square = (torch.tensor([6, 6, 6]), torch.tensor([[0.0, 0, 0], [3.0, 0, 0], [0.0, 4.0, 0]]))
    far = (torch.tensor([6, 8]), torch.tensor([[0.0, 0, 0], [0.0, 0, 9.0]]))  # invalid as a molecule: still counted
    d = SD.pairwise_distances([square, far, (torch.tensor([6]), torch.zeros(1, 3))])
    assert sorted(d["distance"].round(6)) == [3.0, 4.0, 5.0, 9.0] and list(d["sample"]) == [0, 0, 0, 1]
    with pytest.raises(ValueError, match=r"samples\[0\]"):
        SD.pairwise_distances([(torch.tensor([6, 6]), torch.zeros(3, 3))])
    data = [_embedded(s) for s in ("CCO", "CCN", "CCC", "c1ccccc1", "CC(C)O", "CCCC")]
    same = SD.pairwise_distance_comparison(data, data)
    assert same["samples vs data"] == 0 and same["data half vs half"] > 0 and "W1 samples vs data 0.000" in same["line"]
    stretched = SD.pairwise_distance_comparison([(z, 1.1 * p) for z, p in data], data)
    d_all = SD.pairwise_distances(data)["distance"]
    assert stretched["samples vs data"] == pytest.approx(0.1 * d_all.mean()), "W1 of a 10 % stretch = 0.1 · mean"
    with pytest.raises(ValueError, match="data_samples"):
        SD.pairwise_distance_comparison(data, [(torch.tensor([6]), torch.zeros(1, 3))])


def test_pairwise_distance_w1_has_a_same_size_subset_null():
    """Review 04g-5: the pooled pairwise-distance W1 gets the per-type tables' same-size data-subset null."""
    gen = torch.Generator().manual_seed(0)
    data = [(torch.full((n,), 6), torch.randn(n, 3, generator=gen) * 1.3) for n in [3, 4, 5, 6] * 10]
    d = SD.pairwise_distances(data)
    subset = data[:8]
    res = SD.pairwise_distance_comparison(subset, data, n_null=50)
    null = SD.subset_null(d, 8, res["samples vs data"], n_null=50, seed=1)
    assert res["W1 null 95th pct"] == pytest.approx(null["95th pct"]) and res["p W1"] == pytest.approx(null["p"])
    assert null["n_null"] == 50 and null["n_subset"] == 8 and len(null["null"]) == 50
    assert "null, 50 random subsets of 8 data molecules vs the rest: 95th percentile" in res["line"]
    far = SD.pairwise_distance_comparison([(z, 1.5 * p) for z, p in subset], data, n_null=50)
    assert far["p W1"] == pytest.approx(1 / 51) and far["samples vs data"] > far["W1 null 95th pct"]
    assert SD.subset_null(d, 8, 0.0, n_null=20)["p"] == 1.0, "every null W1 is ≥ 0"
    assert np.isnan(SD.pairwise_distance_comparison(data, data)["p W1"]), "no null when samples ≥ data"
    assert np.isnan(SD.pairwise_distance_comparison(subset, data, n_null=0)["W1 null 95th pct"])
    for bad in (0, 40):
        with pytest.raises(ValueError, match="n_subset"):
            SD.subset_null(d, bad, 0.1)
    with pytest.raises(ValueError, match="n_null"):
        SD.subset_null(d, 8, 0.1, n_null=0)


def test_diversity_difference_interval_on_distinct_smiles():
    diverse = ["CCO", "c1ccccc1", "CC(=O)N", "CCCl", "C1CCNCC1", "OC(=O)c1ccccc1", "CC#N", "FC(F)F"]
    similar = ["CCO", "CCCO", "CCCCO", "CCCCCO", "CCCCCCO", "CC(C)O", "CC(C)CO", "OCCO"]
    d = SD.diversity_difference(diverse, similar, n_perm=100, n_boot=300)
    assert d["difference"] > 0 and d["low"] <= d["difference"] <= d["high"] and d["distinct"]
    assert d["low"] > 0 and d["verdict"] == "higher", d
    same = SD.diversity_difference(diverse, list(reversed(diverse)), n_perm=50, n_boot=200)
    assert same["difference"] == pytest.approx(0) and same["verdict"] == "no detectable difference"
    repeats = SD.diversity_difference(diverse + ["CCO"] * 8, diverse, n_perm=20, n_boot=50)
    assert repeats["n_a"] == len(diverse) and repeats["difference"] == pytest.approx(0), "repeats dropped"
    kept = SD.diversity_difference(diverse + ["CCO"] * 8, diverse, n_perm=20, n_boot=50, distinct=False)
    assert kept["n_a"] == 16 and kept["difference"] < 0
    # no repeats in a resample → the distinct-pair IntDiv equals MOSES IntDiv₁
    sim = SD._tanimoto_matrix(diverse, 2, 1024)
    assert SD._intdiv_distinct_pairs(sim, np.arange(8)) == pytest.approx(SD.internal_diversity(diverse, n_boot=1)["value"])
    assert SD._intdiv_distinct_pairs(sim, np.array([0, 0, 1])) == pytest.approx(1 - (1 / 3 + 2 / 3 * sim[0, 1]))
    with pytest.raises(ValueError, match="confidence"):
        SD.diversity_difference(diverse, similar, confidence=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        SD.diversity_difference(diverse, similar, n_boot=0)
    assert SD.diversity_difference(["CCO", "CCO"], similar)["verdict"].startswith("not defined")


def test_aromatic_counts_examples_and_summary():
    samples = [_embedded(s) for s in ("c1ccccc1", "Cc1ccccc1", "c1ccncc1", "CCO", "c1cc[nH]c1")]
    counts = SD.aromatic_cc_counts(ch.molecule_from_geometry, samples)
    assert counts.tolist() == [6, 6, 4, 0, 3]
    ex = SD.aromatic_examples(ch.molecule_from_geometry, samples, examples=10)
    assert [e["smallest ring"] for e in ex] == [6, 6, 6, 5] and ex[3]["ring sizes"] == [5]
    assert all(e["hybridisation"] == ["SP2"] for e in ex)
    assert len(SD.aromatic_examples(ch.molecule_from_geometry, samples, examples=2)) == 2
    lines = SD.aromatic_summary(ch.molecule_from_geometry, samples[3:4] * 3, samples, n_boot=200)
    assert lines[0].startswith("aromatic C:C bonds per valid molecule: samples 0.00 [0.00, 0.00] (n = 3), data 3.80")
    assert "(lower; bootstrap 95 %)" in lines[0]
    assert lines[1].startswith("samples: valid molecules with an aromatic C:C bond 0/3 = 0.000")
    assert lines[-1].endswith("none")
    same = SD.aromatic_summary(ch.molecule_from_geometry, samples, samples, n_boot=200)
    assert "+0.00" in same[0] and "no detectable difference" in same[0]
    with pytest.raises(ValueError, match="data_samples"):
        SD.aromatic_summary(ch.molecule_from_geometry, samples, [], n_boot=10)
    with pytest.raises(ValueError, match="n_boot"):
        SD.aromatic_summary(ch.molecule_from_geometry, samples, samples, n_boot=0)


def test_bond_type_w1_null_is_subset_vs_complement_of_the_data():
    import pandas as pd

    rng = np.random.default_rng(2)
    data = pd.DataFrame({"sample": np.repeat(np.arange(300), 4), "type": "C–C", "length": rng.normal(1.53, 0.01, 1200)})
    same = pd.DataFrame({"sample": np.repeat(np.arange(40), 4), "type": "C–C", "length": rng.normal(1.53, 0.01, 160)})
    shifted = same.assign(length=same["length"] + 0.05)
    a = SD.bond_type_comparison(same, data, n_null=100).set_index("type").loc["C–C"]
    b = SD.bond_type_comparison(shifted, data, n_null=100).set_index("type").loc["C–C"]
    assert 0 < a["W1 null 95th pct"] < 0.01 and a["W1 null 95th pct"] == b["W1 null 95th pct"], "null from data only"
    assert a["p W1"] > 0.05 and b["p W1"] == pytest.approx(1 / 101), "a 0.05 Å shift is far outside the null"
    assert b["wasserstein"] > b["W1 null 95th pct"]
    no_ids = SD.bond_type_comparison(same.drop(columns="sample"), data)
    assert no_ids["W1 null 95th pct"].isna().all() and no_ids["p W1"].isna().all()


def test_nearest_neighbour_reference_rows_and_shares():
    train = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "Cc1ccccc1", "CCN", "CCCN", "CC(=O)O", "CCC(=O)O", "OCCO"]
    table = SD.nearest_neighbour_reference(["CCO", "CCO", "FC(F)F"], train, heldout_fraction=0.3, n_boot=50)
    assert table["comparison"].str.startswith(("held-out data", "samples vs the same rest", "samples vs all")).all()
    assert list(table["n"]) == [3, 2, 2], "distinct SMILES only"
    full = table.iloc[2]
    assert full["share = 1"] == 0.5 and full["share ≥ 0.8"] == 0.5, "CCO is in the training set, CHF3 is not"
    assert full["low"] <= 0.5 <= full["high"] and full["median low"] <= full["median"] <= full["median high"]


def test_memorisation_and_collapse_lines():
    import pandas as pd

    ref = pd.DataFrame([{"comparison": "held", "n": 100, "median": 0.4, "share ≥ 0.8": 0.05, "low": 0.016,
                         "high": 0.113, "share = 1": 0.0, "low 1": 0.0, "high 1": 0.036},
                        {"comparison": "same", "n": 50, "median": 0.5, "share ≥ 0.8": 0.2, "low": 0.1, "high": 0.337,
                         "share = 1": 0.1, "low 1": 0.033, "high 1": 0.218}])
    line = SD.memorisation_line(ref)
    assert "samples 0.200 [0.100, 0.337] vs held-out data 0.050" in line and "samples − held-out +0.150" in line
    hist = pd.DataFrame([{"histogram": "ring sizes (0 = acyclic)", "TV samples vs data": 0.259, "null 95th pct": 0.092,
                          "p": 0.002}])
    dd = {"difference": -0.010, "low": -0.020, "high": 0.0, "p": 0.042, "verdict": "no detectable difference"}
    text = SD.collapse_line(0.98, dd, hist, (0.09, 1.2))
    assert "borderline, no conclusion either way" in text and "TV 0.259 vs the null's 95th percentile 0.092" in text
    clear = SD.collapse_line(0.98, dict(dd, high=-0.005, p=0.01, verdict="lower"), hist, (0.09, 1.2))
    assert ": lower; ring" in clear


def test_memorisation_line_without_samples():
    import pandas as pd

    nan = float("nan")
    ref = pd.DataFrame([{"n": 10, "share ≥ 0.8": 0.1, "low": 0.0, "high": 0.4, "share = 1": 0.0, "low 1": 0.0,
                         "high 1": 0.3},
                        {"n": 0, "share ≥ 0.8": nan, "low": nan, "high": nan, "share = 1": nan, "low 1": nan,
                         "high 1": nan}])
    assert "not defined: no molecule on one side" in SD.memorisation_line(ref)
