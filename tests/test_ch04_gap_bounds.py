"""plausible_gap_bounds: what a repair of one part (geometry, chemistry, both) could raise "plausible" to."""
import pytest

from molpractice.diffusion_report import format_bench_record, plausible_gap_bounds
from molpractice.plausibility import NO_GROUP, _rate


def _rates(**counts):
    n = counts.pop("n")
    return {k.replace("_", " "): _rate(v, n) for k, v in counts.items()}


def _sample(n=400, plausible=224, geometry=260, no_group=299, single=351):
    r = _rates(n=n, plausible=plausible, geometry=geometry, single_fragment=single)
    r[NO_GROUP] = _rate(no_group, n)
    return r


DATA = {"plausible": _rate(800, 802)}


def test_each_repair_is_bounded_by_the_other_parts_rate():
    table = plausible_gap_bounds(DATA, _sample())
    bound = dict(zip(table["repair"], table["plausible at most"]))
    assert bound["geometry only (every geometry check passed)"].startswith("0.748")  # no implausible group: 299/400
    assert bound["chemistry only (no implausible group)"].startswith("0.650")        # geometry: 260/400
    assert bound["geometry and chemistry"].startswith("0.877")                       # single fragment: 351/400
    verdict = dict(zip(table["repair"], table["can meet ≤ 0.15"]))
    assert verdict == {"geometry only (every geometry check passed)": "no",
                       "chemistry only (no implausible group)": "no", "geometry and chemistry": "yes"}
    gap = dict(zip(table["repair"], table["data − bound"]))
    assert gap["geometry only (every geometry check passed)"].startswith("+0.250")


def test_a_gap_whose_interval_straddles_the_target_is_not_excluded():
    # data 800/802 − 330/400 = 0.173 > 0.15, but Newcombe's lower end is below 0.15
    table = plausible_gap_bounds(DATA, _sample(no_group=330))
    assert table.iloc[0]["can meet ≤ 0.15"] == "not excluded"


def test_older_records_with_the_old_row_name_are_read():
    old = _sample()
    old["no implausible group"] = old.pop(NO_GROUP)
    assert plausible_gap_bounds(DATA, old).iloc[0]["plausible at most"].startswith("0.748")
    with pytest.raises(KeyError):
        plausible_gap_bounds(DATA, {k: v for k, v in old.items() if k != "no implausible group"})


def test_the_committed_bench_record_prints_the_bounds():
    from molpractice.diffusion_report import load_bench_record

    text = format_bench_record(load_bench_record())
    assert "Could a repair of one part close the plausible gap?" in text
    assert "geometry and chemistry" in text


def test_duplicate_line_counts_repeats_and_groups():
    from molpractice.sample_distributions import duplicate_line

    assert duplicate_line(["a", "a", "b", "c", "c", "c"]) == (
        "3 entries repeat the SMILES of an earlier entry (5 entries in 2 groups share one SMILES)")
    assert duplicate_line(["a", "b"]).startswith("0 entries repeat") and "(0 entries in 0 groups" in duplicate_line([])


def test_aromatic_ring_sizes_counts_smallest_rings():
    import torch
    from rdkit import Chem

    from molpractice.sample_distributions import _aromatic_ring_sizes

    table = {0: "O=c1cc1C", 1: "c1ccccc1", 2: "CCO", 3: None}

    def perceive(z, pos):
        s = table[int(z[0])]
        return None if s is None else Chem.MolFromSmiles(s)

    samples = [(torch.tensor([k]), torch.zeros(1, 3)) for k in table]
    out = _aromatic_ring_sizes(perceive, samples)
    assert out == {"atoms": {3: 3, 6: 6}, "with_3ring": 1, "n_valid": 3}


def test_a_record_without_the_needed_rates_says_so():
    from molpractice.diffusion_report import _bounds_text

    text = _bounds_text({"results": [{"rates": {"valid": {}}}, {"samples": "DDPM-500", "rates": {}}]})
    assert text.startswith("\n(repair bounds not printed: this record's rates lack") and "plausible" in text
    assert _bounds_text({"results": []}) == ""


def test_readings_rows_move_bond_order_readings_to_the_geometry_side():
    """Review 04n-2: bond-order readings (enol, imidic acid, C(OH)–O at a CH…) follow the geometry, so a chemistry
    repair that keeps the geometry cannot remove them, and a geometry repair can."""
    from molpractice.plausibility import GEOMETRY_NO_READING, NO_CHEMISTRY_GROUP, REPAIR_NOTE

    old = plausible_gap_bounds(DATA, _sample())
    assert len(old) == 3, "an older record without the split: the three rows only"
    r = _sample()
    r[NO_CHEMISTRY_GROUP], r[GEOMETRY_NO_READING] = _rate(340, 400), _rate(236, 400)
    table = plausible_gap_bounds(DATA, r)
    assert list(table["repair"]) == [old["repair"][0], old["repair"][1],
                                     "geometry only, readings removed with it (upper bound)",
                                     "chemistry only, excluding bond-order readings", old["repair"][2]]
    bound = dict(zip(table["repair"], table["plausible at most"]))
    assert bound["chemistry only, excluding bond-order readings"].startswith("0.590")   # 236/400 < geometry's 0.650
    assert bound["geometry only, readings removed with it (upper bound)"].startswith("0.850")
    verdict = dict(zip(table["repair"], table["can meet ≤ 0.15"]))
    assert verdict["chemistry only, excluding bond-order readings"] == "no"
    assert verdict["geometry only, readings removed with it (upper bound)"] in ("yes", "not excluded")
    assert "not independent" in REPAIR_NOTE and "bond orders read from heavy-atom distances" in REPAIR_NOTE


def test_plausibility_counts_the_split_rates_and_prints_them(monkeypatch):
    import numpy as np
    import torch
    from rdkit import Chem

    from molpractice import plausibility as PL

    smiles = {2: "OC(O)C1CCCCC1", 3: "CC(C)(O)O", 4: "CCO", 5: "COOC"}  # reading, chemistry, none, chemistry
    geometry = {2: True, 3: True, 4: False, 5: True}
    flags = {n: {k: geometry[n] for k in PL.GEOMETRY_CHECKS} for n in smiles}
    monkeypatch.setattr(PL, "geometry_checks", lambda mol, pos, check=None: dict(
        flags[len(pos)], all=geometry[len(pos)], n_aromatic_rings=0, n_double_bonds=0))
    monkeypatch.setattr(PL, "atom_stable", lambda ch, z, pos, mol=None: np.ones(len(z), bool))

    class Chapter:
        @staticmethod
        def molecule_from_geometry(z, pos):
            return Chem.MolFromSmiles(smiles[len(z)])

        @staticmethod
        def atom_stability(z, pos):
            return torch.ones(len(z), dtype=torch.bool)

    samples = [(torch.full((n,), 6), torch.zeros(n, 3)) for n in smiles]
    res = PL.plausibility(Chapter, samples)
    assert [sorted(c.values()) for c in res["rows"]["group classes"]] == [
        [PL.BOND_ORDER_READING], [PL.CHEMISTRY], [], [PL.CHEMISTRY]]
    assert res["rates"][PL.NO_CHEMISTRY_GROUP]["k"] == 2            # the reading and the clean molecule
    assert res["rates"][PL.GEOMETRY_NO_READING]["k"] == 2           # the two chemistry hits (geometry passed)
    assert res["rates"]["plausible"]["k"] == 0
    table = PL.group_class_table({"s": res})
    assert table.loc["any implausible group", "s (n=4)"].startswith("0.750") and \
        table.loc["any implausible group", "s (n=4)"].endswith("(3)")
    assert table.loc[f"only {PL.BOND_ORDER_READING} hits", "s (n=4)"].endswith("(1)")
    assert table.loc[f"at least one {PL.CHEMISTRY} hit", "s (n=4)"].endswith("(2)")
    assert table.loc[f"acyclic hemiacetal or gem-diol: {PL.BOND_ORDER_READING}", "s (n=4)"].endswith("(1)")
    assert table.loc[f"acyclic hemiacetal or gem-diol: {PL.CHEMISTRY}", "s (n=4)"].endswith("(1)")
    from molpractice.diffusion_report import repair_bounds_text

    text = repair_bounds_text({"data": {"rates": DATA}, "s": res}, "data", "s")
    assert "chemistry only, excluding bond-order readings" in text and text.endswith(PL.REPAIR_NOTE)
