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
