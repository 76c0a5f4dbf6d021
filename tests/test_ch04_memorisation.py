"""Tests of molpractice.sample_memorisation: the memorisation null (training vs held-out hit rates by size), the
identical-neighbour share by size, and the scaffold reference (held-out data vs the rest).

Oracles: a synthetic "sampler" that copies training molecules must be called memorising; one that draws training
and held-out molecules alike must not; a sampler that hits every small molecule and no large one, with the small
molecules mostly in training, must not be called memorising once sizes are matched (the crude difference would).
"""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from rdkit import Chem

from molpractice import sample_memorisation as M
from molpractice.sample_novelty import nearest_neighbour_reference, novelty_by_size


def _canon(s):
    return Chem.MolToSmiles(Chem.MolFromSmiles(s), isomericSmiles=False)


def _chains(per_size=24):
    """Distinct acyclic C/N/O chains, up to ``per_size`` per heavy-atom count 1..9 (deterministic)."""
    out = []
    for k in range(1, 10):
        seen = []
        for atoms in itertools.product("CNO", repeat=k):
            s = _canon("".join(atoms))
            if s not in seen:
                seen.append(s)
            if len(seen) == per_size:
                break
        out += seen
    return out


POOL = _chains()
RINGS = [_canon(c + s) for c, s in itertools.product(
    ["C1CC1", "C1CCC1", "C1CCCC1", "C1CCCCC1", "c1ccccc1", "c1ccncc1", "C1CCOC1", "C1CCNCC1"],
    ["", "C", "O", "N", "CC", "CO", "F"])]


def _split(pool, fraction=0.2, seed=0):
    rng = np.random.default_rng(seed)
    held = set(rng.choice(len(pool), int(round(fraction * len(pool))), replace=False).tolist())
    return [s for i, s in enumerate(pool) if i not in held], [s for i, s in enumerate(pool) if i in held]


def test_copying_sampler_is_memorising():
    train, held = _split(POOL)
    samples = list(np.random.default_rng(1).choice(train, 300))
    hits = M.hit_table(samples, train, held)
    test = M.memorisation_test(hits, n_boot=500, n_perm=500)
    assert hits["table"]["hits held-out"].sum() == 0
    assert test["verdict"] == "memorisation" and test["low"] > 0 and test["p"] < 0.01
    line = M.memorisation_verdict_line(test)
    assert "memorisation: the model reproduces training molecules" in line
    # the upper end is read as approximate, with the held-out strata's sizes and how many have no hit (here: all)
    counts = test["strata_counts"]
    assert len(counts) == len(test["strata"]) and sum(c[2] for c in counts) == test["n_heldout"]
    assert sum(c[1] for c in counts) == test["hits_train"] and sum(c[3] for c in counts) == test["hits_heldout"] == 0
    held = sorted(c[2] for c in counts)
    assert (f"the bootstrap interval's upper end is {test['high']:+.3f}; with held-out strata of {held[0]}–{held[-1]} "
            f"molecules, {len(counts)} of them with no hit, that end is itself uncertain") in line
    assert "excludes" not in line


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sampler_drawing_train_and_heldout_alike_is_not_memorising(seed):
    train, held = _split(POOL)
    samples = list(np.random.default_rng(seed).choice(train + held, 120))
    test = M.memorisation_test(M.hit_table(samples, train, held), n_boot=500, n_perm=500)
    assert test["verdict"] == "no detectable difference", test
    assert test["low"] <= 0 <= test["high"]
    line = M.memorisation_verdict_line(test, "m")
    assert "no evidence of memorisation" in line and f"upper end is {test['high']:+.3f}" in line
    empty = sum(c[3] == 0 for c in test["strata_counts"])
    assert (f", {empty} of them with no hit" in line) == (empty > 0)
    # a test dict without the per-stratum counts (older callers) still gives a line, without the sizes
    old = {k: v for k, v in test.items() if k != "strata_counts"}
    assert M.memorisation_verdict_line(old).endswith("with held-out strata, that end is itself uncertain")


def test_size_matching_removes_a_size_confounded_difference():
    sizes = {s: Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in POOL}
    small, large = [s for s in POOL if sizes[s] <= 6], [s for s in POOL if sizes[s] >= 8]
    train = small[: int(0.9 * len(small))] + large[: int(0.1 * len(large))]
    held = small[int(0.9 * len(small)):] + large[int(0.1 * len(large)):]
    hits = M.hit_table(small, train, held)      # every small molecule, no large one
    mol = hits["molecules"]
    crude = mol[mol.part == "train"].hit.mean() - mol[mol.part == "held-out"].hit.mean()
    assert crude > 0.3  # an unstratified comparison would call this memorisation
    test = M.memorisation_test(hits, n_boot=300, n_perm=300)
    assert test["difference"] == pytest.approx(0.0) and test["verdict"] == "no detectable difference"


def test_hit_table_counts_and_properties():
    train, held = _split(POOL)
    held = held + [train[0]]   # a held-out SMILES also in training: seen, dropped
    samples = [train[1], train[1], held[0], None, "C.O", "CCCCCCCCCCCC"]   # repeats, invalid, 2 fragments, 12 atoms
    hits = M.hit_table(samples, train, held)
    t = hits["table"]
    assert hits["dropped_heldout"] == 1 and hits["n_samples"] == 4 and hits["n_distinct_samples"] == 3
    assert t["hits train"].sum() == 1 and t["hits held-out"].sum() == 1
    assert t["n train"].sum() + t["n held-out"].sum() + hits["outside_bins"] == len(set(train)) + len(held) - 1
    assert set(hits["molecules"].columns) >= {"smiles", "heavy atoms", "bin", "part", "hit"}
    fp = M.hit_table(samples, train, held, match="fingerprint")
    assert (fp["table"]["hits train"] >= t["hits train"]).all()   # identical SMILES ⇒ Tanimoto 1
    assert "train − held-out [Newcombe 95 %]" in M.format_hit_table(hits)


def test_input_errors_name_the_bad_value():
    train, held = _split(POOL)
    with pytest.raises(ValueError, match="'jaccard'"):
        M.hit_table(train[:3], train, held, match="jaccard")
    with pytest.raises(TypeError, match="list of SMILES"):
        M.hit_table("CCO", train, held)
    with pytest.raises(ValueError, match="C1CC"):
        M.hit_table(["C1CC"], train, held)
    with pytest.raises(ValueError, match=r"train_smiles\[1\]"):
        M.hit_table(["CCO"], ["CCO", ""], held)
    with pytest.raises(ValueError, match="no valid single-fragment"):
        M.hit_table([None, "C.O"], train, held)
    with pytest.raises(ValueError, match="overlaps"):
        M.hit_table(["CCO"], train, held, bins=((1, 6), (6, 9)))
    hits = M.hit_table(["CCO"], train, held)
    with pytest.raises(ValueError, match="1.5"):
        M.memorisation_test(hits, confidence=1.5)
    with pytest.raises(ValueError, match="n_boot=0"):
        M.memorisation_test(hits, n_boot=0)
    with pytest.raises(ValueError, match="both training and held-out"):
        M.memorisation_test(M.hit_table(["CCO"], POOL[:5], POOL[-5:]))   # sizes 1–2 vs 9: no shared bin
    with pytest.raises(ValueError, match="'molecules'"):
        M.memorisation_test({"table": None})


def test_identical_share_by_size_oracle():
    train = POOL[::2]
    copies, novel = train[::4], POOL[1::8]          # spread over every size
    samples = copies + copies + novel + [None, "C.O"]
    table = M.identical_share_by_size(samples, train)
    total = table.set_index("heavy atoms").loc["all"]
    assert total["n"] == len(copies) + len(novel) and total["k same SMILES"] == len(copies)
    assert (table["k = 1"] >= table["k same SMILES"]).all()
    assert table.iloc[:-1]["n"].sum() == total["n"] and (table["n"] > 0).all()
    assert ((table["low"] <= table["share = 1"]) & (table["share = 1"] <= table["high"])).all()
    empty = M.identical_share_by_size(copies, train, bins=((1, 2), (10, 12)))
    assert empty.iloc[1]["n"] == 0 and np.isnan(empty.iloc[1]["share = 1"])
    nothing = M.identical_share_by_size([None, "C.O"], train)     # a tiny fast-mode model: no valid sample
    assert (nothing["n"] == 0).all() and nothing["share = 1"].isna().all()
    with pytest.raises(ValueError, match="train_smiles is empty"):
        M.identical_share_by_size(copies, [])


def test_scaffold_reference_oracles_and_split():
    train = RINGS + POOL
    held, rest = M._heldout_split(train, 0.2, 0)
    same = M.scaffold_reference(held, train)    # the held-out entries as "samples": identical rates
    for row in same["rows"].values():
        assert row["difference"] == pytest.approx(0.0) and row["verdict"] == "no detectable difference"
    assert same["reduced"] is None
    novel = [_canon(s) for s in ["C1CCCCCCC1", "C1CCCCCCC1C", "c1ccc2ccccc2c1", "C1CC2CCC1C2", "C1CCCCCC1"]] * 8
    ref = M.scaffold_reference(novel, train)
    assert ref["rows"]["scaffold novelty"]["samples"][0] == 4 and ref["rows"]["scaffold novelty"]["verdict"] == "higher"
    uniq = next(k for k in ref["rows"] if k.startswith("scaffold uniqueness"))
    assert ref["rows"][uniq]["samples"][1] == ref["rows"][uniq]["heldout"][1] == ref["m_equal"]
    assert ref["rows"]["acyclic"]["verdict"] == "lower"
    # the split is novelty_by_size's / nearest_neighbour_reference's
    nn = nearest_neighbour_reference(POOL[:3], train, n_boot=5)
    assert f"({ref['n_rest']})" in nn["comparison"].iloc[0]
    by = novelty_by_size(POOL[:3], train)
    sizes = {s: Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in set(held)}
    assert by["n held-out data"].sum() == len({s for s in held if 1 <= sizes[s] <= 9})
    assert "equal numbers of ringed molecules" in M.format_scaffold_reference(ref)
    with pytest.raises(ValueError, match="heldout_fraction must"):
        M.scaffold_reference(novel, train, heldout_fraction=1.0)
    acyclic = M.scaffold_reference(["CCO", None], train)         # no ringed sample: rows not defined, no error
    assert acyclic["m_equal"] == 0 and acyclic["rows"]["scaffold novelty"]["verdict"].startswith("not defined")
    assert acyclic["rows"]["acyclic"]["samples"] == (1, 1) and np.isnan(acyclic["novelty_vs_all"])
    assert "not defined" in M.format_scaffold_reference(acyclic)
    with pytest.raises(ValueError, match="C1CC"):
        M.scaffold_reference(["C1CC"], train)


def test_curve_memorisation_from_a_record(tmp_path):
    data = [{"smiles": s} for s in POOL]
    from molpractice.diffusion_curve import validation_split

    train, _ = validation_split(data)
    record = {"command": "x", "commit": "abc", "created": "now",
              "models": [{"key": [10, 10, 0.99], "digest": "d", "n": 200,
                          "smiles": list(np.random.default_rng(0).choice([d["smiles"] for d in train], 200))}]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    out = M.curve_memorisation(data, M.load_samples_record(path), n_boot=200, n_perm=200)
    res = out["models"]["curve model 10 steps, EMA 0.99"]
    assert res["test"]["verdict"] == "memorisation"
    assert f"trained on {len(train)} molecules" in out["text"] and "not the notebook's model" in out["text"]
    other = dict(record, models=[dict(record["models"][0], train_hash="0123456789")])
    with pytest.raises(ValueError, match="another split"):
        M.curve_memorisation(data, other)
    bad = dict(record, models=[dict(record["models"][0], n=3)])
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="expected n = 3"):
        M.load_samples_record(path)
    path.write_text(json.dumps({"command": "x"}))
    with pytest.raises(ValueError, match="lacks key"):
        M.load_samples_record(path)


def test_committed_samples_record():
    record = M.load_samples_record()
    keys = {tuple(m["key"]) for m in record["models"]}
    assert keys == {(5600, 5600, 0.99), (4500, 4500, 0.99)}
    for m in record["models"]:
        assert m["n"] == 400 and m["matches_sample_report"] is True and m["train_hash"]
        assert sum(1 for s in m["smiles"] if s and "." not in s) > 300
