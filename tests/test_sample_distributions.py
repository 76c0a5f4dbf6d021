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
    cmp = SD.bond_type_comparison(bonds, bonds, min_count=1)
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
    assert not {"difference", "d_low", "d_high", "verdict"} & set(table.columns), \
        "no verdict against a held-out baseline that is ≈ 1 by construction (deduplicated reference)"


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
