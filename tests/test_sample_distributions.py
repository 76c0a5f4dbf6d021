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
    # review 04n-3: the band's width in Å and a physically scaled share (|d − data median| > 0.05 Å)
    assert abs(a["data 1-99 % width"][0] - 2 * 2.326 * 0.01) < 0.003
    far = "|d − data median| > 0.05"
    assert a[far][0] < 0.001 and 0.55 < b[far][0] < 0.7  # P(|N(0, 0.1)| > 0.05) = 0.617
    assert (b["far low"] <= b[far]).all() and (b[far] <= b["far high"]).all()
    assert SD.bond_type_comparison(wide, ref, far_from_median=0.2)["|d − data median| > 0.2"][0] < 0.1
    angles = SD.bond_type_comparison(same.rename(columns={"length": "angle"}), ref.rename(columns={"length": "angle"}),
                                     value="angle")
    assert "far low" not in angles and "data 1-99 % width" in angles, "0.05 is a length in Å: not applied to angles"


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
    assert lines[3].startswith("valid molecules with an aromatic C:C bond, samples − data -0.800 [")  # 0/3 − 4/5
    assert "Newcombe 95 %" in lines[3]
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


def test_ring_size_table_reads_the_direction_of_the_ring_difference():
    """Review 04q-2: the TV says the ring sizes differ; this table says which sizes, with intervals."""
    import torch
    from rdkit import Chem

    smiles = {3: "C1CC1", 6: "C1CCCCC1", 4: "CCCC"}

    class Perceive:
        def __call__(self, z, pos):
            return Chem.MolFromSmiles(smiles[len(z)])

    def s(n):
        return (torch.full((n,), 6), torch.zeros(n, 3))

    samples, data = [s(3)] * 30 + [s(4)] * 10, [s(6)] * 30 + [s(4)] * 10
    table = SD.ring_size_table(Perceive(), samples, data, sizes=(3, 6), n_boot=200)
    row = table.set_index("ring size")
    assert row.loc[3, "per molecule, samples"] == 0.75 and row.loc[3, "per molecule, data"] == 0.0
    assert row.loc[3, "verdict"] == "higher" and row.loc[6, "verdict"] == "lower"
    assert row.loc[3, "low"] <= 0.75 <= row.loc[3, "high"]
    reading = SD.ring_size_reading(table)
    assert reading.startswith("3-rings 0.75 vs 0.00 per molecule (more than the data)") and "6-rings" in reading
    same = SD.ring_size_table(Perceive(), data, data, sizes=(6,), n_boot=200)
    assert SD.ring_size_reading(same) == "no ring size detectably over- or under-produced"
