"""Graders of chapter 1 (scaffold split, similarity, graphs, GNN): properties and independent oracles.

Each test takes ``impl`` (exercises or solutions) and runs in a few seconds on a CPU.
"""
import functools

import numpy as np

from molpractice.grading import exercise

# A small, chemically varied set: acyclic, benzene derivatives, heterocycles, fused rings, charges.
MOLECULES = [
    "CCO", "CCCCCC", "CC(C)O", "CCN(CC)CC", "OC(=O)CCC(=O)O",
    "c1ccccc1", "Cc1ccccc1", "Oc1ccccc1", "Clc1ccccc1Cl", "CC(=O)Oc1ccccc1C(=O)O", "Nc1ccc(O)cc1",
    "c1ccncc1", "Cc1ccncc1", "Oc1ccncc1",
    "c1ccc2ccccc2c1", "Cc1ccc2ccccc2c1",
    "C1CCCCC1", "OC1CCCCC1", "CC1CCCCC1",
    "c1ccc(cc1)-c1ccccc1", "Clc1ccc(cc1)-c1ccccc1",
    "O=C1CCCCC1", "c1ccoc1", "Cc1ccoc1", "c1ccsc1", "C[N+](C)(C)C", "CC(=O)[O-]",
    "c1ccc2[nH]ccc2c1", "Cc1c[nH]c2ccccc12", "O=C(O)c1ccccn1",
]


@functools.lru_cache(maxsize=None)  # the oracle of a fixed string: graders ask for the same SMILES many times
def _rdkit_scaffold(smiles):
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(smiles))


def _check_partition(parts, n):
    assert isinstance(parts, tuple) and len(parts) == 3, "return a tuple (train_idx, val_idx, test_idx)"
    for name, p in zip(("train", "val", "test"), parts):
        assert isinstance(p, np.ndarray), f"{name}_idx should be a numpy array, got {type(p).__name__}"
        assert p.dtype == np.int64, (
            f"{name}_idx should be an int64 array, got dtype {p.dtype} — give the dtype explicitly "
            "(np.array of an empty list is float64)")
        assert p.ndim == 1 and np.all(np.diff(p) > 0), f"{name}_idx should be sorted ascending (sort each part)"
    allidx = np.concatenate(parts)
    assert len(allidx) == n and sorted(allidx.tolist()) == list(range(n)), (
        "every position 0..n-1 must appear in exactly one of train/val/test (missing or repeated indices)")


# ----------------------------------------------------------------------------------------------- 1.1
@exercise("1.1", points=1)
def test_scaffold_of_benzene_derivatives(impl):
    f = impl.ch01_solubility_gnn.murcko_scaffold
    for smi in ("Cc1ccccc1", "Oc1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CCCCc1ccccc1"):
        got = f(smi)
        assert got == "c1ccccc1", (
            f"the scaffold of {smi} is benzene 'c1ccccc1', got {got!r} — remove the side chains but keep the ring's "
            "elements and bond orders: RDKit's scaffold module does exactly this and gives back a molecule, which "
            "you then write as canonical SMILES")


@exercise("1.1", points=1)
def test_scaffold_matches_rdkit_and_acyclic_is_empty(impl):
    f = impl.ch01_solubility_gnn.murcko_scaffold
    assert f("CCCCO") == "", f"an acyclic molecule has the empty scaffold '', got {f('CCCCO')!r}"
    for smi in MOLECULES:
        want = _rdkit_scaffold(smi)
        got = f(smi)
        assert got == want, f"scaffold of {smi}: expected {want!r} (canonical SMILES), got {got!r}"


@exercise("1.1", points=1)
def test_scaffold_keeps_linkers_and_is_canonical(impl):
    f = impl.ch01_solubility_gnn.murcko_scaffold
    # ring systems joined by linkers: the linker atoms (and exocyclic double bonds on them) stay
    for smi in ("c1ccccc1CCc1ccccc1", "c1ccc(cc1)OCCOc1ccncc1", "O=C(NCc1ccccc1)C1CCCCC1"):
        want, got = _rdkit_scaffold(smi), f(smi)
        assert got == want, (
            f"scaffold of {smi}: expected {want!r}, got {got!r} — a Murcko scaffold keeps every ring system AND the "
            "linker atoms between them (with their exocyclic double bonds); remove only the side chains")
    # the same molecule written with different atom orders must give the same string
    for a, b in (("O=C(O)c1ccccn1", "n1ccccc1C(=O)O"), ("Cc1ccc(cc1)-c1ccccn1", "n1ccccc1-c1ccc(C)cc1")):
        fa, fb = f(a), f(b)
        assert fa == fb, (
            f"{a!r} and {b!r} are the same molecule but gave scaffolds {fa!r} and {fb!r}: write the scaffold as "
            "canonical SMILES (RDKit's default), not in the input's atom order")


@exercise("1.1", points=1)
def test_scaffold_invalid_smiles_raises(impl):
    f = impl.ch01_solubility_gnn.murcko_scaffold
    got = f("CCc1ccccc1")  # a valid input first: validation alone earns nothing
    assert got == "c1ccccc1", f"the scaffold of ethylbenzene is 'c1ccccc1', got {got!r}"
    try:
        f("C1CC(")
    except ValueError as err:
        assert "C1CC(" in str(err), f"the ValueError should name the SMILES; message was {str(err)!r}"
    else:
        raise AssertionError("murcko_scaffold('C1CC(') should raise ValueError (RDKit returns None for it)")


# ----------------------------------------------------------------------------------------------- 1.2
@exercise("1.2", points=2)
def test_scaffold_split_partition_and_disjoint_scaffolds(impl):
    f = impl.ch01_solubility_gnn.scaffold_split
    smiles = MOLECULES * 2 + ["CCCC", "CCCCO"]
    for seed in (None, 0, 1):
        parts = f(smiles, seed=seed)
        _check_partition(parts, len(smiles))
        scaffold_sets = [{_rdkit_scaffold(smiles[i]) for i in p} for p in parts]
        for a, b, names in ((0, 1, "train/val"), (0, 2, "train/test"), (1, 2, "val/test")):
            shared = scaffold_sets[a] & scaffold_sets[b]
            assert not shared, f"seed={seed}: scaffolds {sorted(shared)} appear in both {names} — split whole groups"


def _forty_groups_of_five():
    """200 distinct molecules in 40 scaffold groups of 5 (tests/test_ch01_graders.py checks both counts)."""
    smiles, chains = [], ["C", "CC", "CCC", "CCCC", "CCCCC"]
    for k in range(3, 11):  # 8 cycloalkanes, each with 5 side chains
        for c in chains:
            smiles.append(f"{c}C1{'C' * (k - 1)}1")
    for k in range(1, 33):  # 32 more groups: cycloalkane–linker–benzene with different linkers
        for c in chains:
            smiles.append(f"{c}c1ccc(cc1){'C' * k}C1CC1")
    return smiles


@exercise("1.2", points=1)
def test_scaffold_split_sizes_and_largest_first(impl):
    f = impl.ch01_solubility_gnn.scaffold_split
    # 200 molecules in 40 scaffold groups of 5: sizes must come out exactly 160/20/20.
    smiles = _forty_groups_of_five()
    parts = f(smiles, fractions=(0.8, 0.1, 0.1), seed=None)
    _check_partition(parts, len(smiles))
    sizes = tuple(len(p) for p in parts)
    assert sizes == (160, 20, 20), (
        f"with 40 groups of 5 the sizes must be exactly (160, 20, 20), got {sizes} — a group fits when the part's "
        "size plus the group's size is ≤ the capacity (≤, not <: a part may be filled exactly)")
    # Largest groups first: a big group (60 molecules) must land in train.
    big = ["c1ccccc1"] + [f"{'C' * k}c1ccccc1" for k in range(1, 60)]
    smiles2 = [f"CC{'C' * k}O" for k in range(30)] + big + [f"O{'C' * k}C1CCNCC1" for k in range(10)]
    tr, va, te = f(smiles2, fractions=(0.7, 0.15, 0.15), seed=None)
    _check_partition((tr, va, te), len(smiles2))
    assert set(range(30, 90)) <= set(tr.tolist()), (
        "seed=None: the largest scaffold group (benzene, 60 molecules) should be placed in train first")


@exercise("1.2", points=2)
def test_scaffold_split_seeded_is_deterministic_and_varies(impl):
    f = impl.ch01_solubility_gnn.scaffold_split
    # 60 groups of 3 molecules (each a cycloalkyl-linker-cycloalkyl pattern with 3 side chains)
    smiles = []
    for a in range(3, 9):
        for k in range(1, 11):
            for c in ("C", "CC", "O"):
                smiles.append(f"{c}C1{'C' * (a - 1)}1{'C' * k}C1CC1")
    a1, a2 = f(smiles, seed=1), f(smiles, seed=1)
    for x, y in zip(a1, a2):
        assert np.array_equal(np.sort(x), np.sort(y)), "the same seed must give the same split"
    b = f(smiles, seed=2)
    assert any(not np.array_equal(np.sort(x), np.sort(y)) for x, y in zip(a1, b)), (
        "different seeds should give different splits (shuffle the scaffold groups with the seed)")
    d1, d2 = f(smiles, seed=None), f(smiles, seed=None)
    assert all(np.array_equal(np.sort(x), np.sort(y)) for x, y in zip(d1, d2)), "seed=None must be deterministic"
    for parts in (a1, b):
        _check_partition(parts, len(smiles))
        sizes = [len(p) for p in parts]
        assert abs(sizes[0] - 0.8 * len(smiles)) <= 6 and abs(sizes[2] - 0.1 * len(smiles)) <= 6, (
            f"sizes {sizes} are far from the fractions (0.8, 0.1, 0.1) of {len(smiles)}")


def _documented_split(groups, n, fractions):
    """Oracle of the seed=None rule: groups largest first, train while it fits, then val, then test."""
    train_cap, val_cap = fractions[0] * n, fractions[1] * n
    parts = ([], [], [])
    for group in sorted(groups, key=len, reverse=True):
        if len(parts[0]) + len(group) <= train_cap:
            parts[0].extend(group)
        elif len(parts[0]) + len(parts[1]) + len(group) <= train_cap + val_cap:
            parts[1].extend(group)
        else:
            parts[2].extend(group)
    return tuple(sorted(p) for p in parts)


@exercise("1.2", points=1)
def test_scaffold_split_deterministic_roles_rare_scaffolds_in_test(impl):
    f = impl.ch01_solubility_gnn.scaffold_split
    # 9 scaffold groups (cycloalkanes C3..C11) of sizes 40, 20, 15, 10, 5, 4, 3, 2, 1, in shuffled order
    sizes = [40, 20, 15, 10, 5, 4, 3, 2, 1]
    smiles, groups_by_ring = [], {}
    for ring, size in zip(range(3, 12), sizes):
        for k in range(size):
            groups_by_ring.setdefault(ring, []).append(f"{'C' * (k + 1)}C1{'C' * (ring - 1)}1")
    flat = [(ring, smi) for ring, members in groups_by_ring.items() for smi in members]
    order = np.random.default_rng(7).permutation(len(flat))
    smiles = [flat[i][1] for i in order]
    groups = {}
    for pos, i in enumerate(order):
        groups.setdefault(flat[i][0], []).append(pos)
    want = _documented_split(list(groups.values()), len(smiles), (0.8, 0.1, 0.1))
    parts = f(smiles, fractions=(0.8, 0.1, 0.1), seed=None)
    _check_partition(parts, len(smiles))
    got = tuple(sorted(p.tolist()) for p in parts)
    if got != want:
        if got[1] == want[2] and got[2] == want[1]:
            raise AssertionError(
                "seed=None: validation and test are swapped — the test part must hold the rarest scaffold groups "
                "(the groups placed last): a group goes to train while it fits, else to val while train + val "
                "fits, else to test")
        sizes_got = tuple(len(p) for p in got)
        raise AssertionError(
            f"seed=None with groups of sizes {sizes} and fractions (0.8, 0.1, 0.1): sizes {sizes_got}, expected "
            f"{tuple(len(p) for p in want)} — sort the groups largest first (ties: first appearance); each goes "
            "to train while it fits in 0.8·n, else to val while train + val fits in 0.9·n, else to test")


@exercise("1.2", points=1)
def test_scaffold_split_ties_keep_first_appearance(impl):
    f = impl.ch01_solubility_gnn.scaffold_split
    # groups A (benzenes), B (cyclohexanes), C (pyridines) of 3 molecules each, first seen in that order, + 1 acyclic
    smiles = ["Cc1ccccc1", "C1CCCCC1", "Oc1ccccc1", "c1ccncc1", "CC1CCCCC1", "Cc1ccncc1", "CCc1ccccc1",
              "OC1CCCCC1", "Oc1ccncc1", "CCO"]
    a, b, c = [0, 2, 6], [1, 4, 7], [3, 5, 8]
    tr, va, te = f(smiles, fractions=(0.3, 0.3, 0.4), seed=None)
    got = (sorted(tr.tolist()), sorted(va.tolist()), sorted(te.tolist()))
    want = (a, b, sorted(c + [9]))
    assert got == want, (
        f"seed=None with three groups of 3 (first seen in the order benzene, cyclohexane, pyridine) and fractions "
        f"(0.3, 0.3, 0.4): got {got}, expected {want} — groups of equal size keep their order of first appearance "
        "(a stable sort, largest first; reversing an ascending sort also reverses the ties)")


def _big_and_singleton_groups():
    """200 molecules: three scaffold groups of 15 (aromatic rings with side chains) + 155 one-molecule groups."""
    big = [[f"{'C' * k}c1ccccc1" if k else "c1ccccc1" for k in range(15)],
           [f"{'C' * (k + 1)}c1ccncc1" for k in range(14)] + ["c1ccncc1"],
           [f"{'C' * (k + 1)}c1ccc2ccccc2c1" for k in range(14)] + ["c1ccc2ccccc2c1"]]
    singles = [f"C1{'C' * (a - 1)}1{'C' * k}C1{'C' * (b - 1)}1"
               for a in range(3, 9) for b in range(a, 9) for k in range(1, 11)][:155]
    smiles = singles[:40] + big[0] + singles[40:90] + big[1] + singles[90:] + big[2]
    members = [[smiles.index(s) for s in group] for group in big]
    return smiles, members


@exercise("1.2", points=1)
def test_scaffold_split_seeded_places_big_groups_first(impl):
    f = impl.ch01_solubility_gnn.scaffold_split
    smiles, big = _big_and_singleton_groups()
    for seed in range(10):
        parts = f(smiles, fractions=(0.8, 0.1, 0.1), seed=seed)
        _check_partition(parts, len(smiles))
        train = set(parts[0].tolist())
        for group in big:
            assert set(group) <= train, (
                f"seed={seed}: a scaffold group of 15 molecules (more than half the test size, 10) did not land in "
                "train — with an int seed, place the groups larger than half the test size first (in random order), "
                "then the others (in random order); each goes to the first part with room")


@exercise("1.2", points=1)
def test_scaffold_split_validates_fractions_and_smiles(impl):
    f = impl.ch01_solubility_gnn.scaffold_split
    parts = f(["CCO", "c1ccccc1", "Cc1ccccc1"], fractions=(0.5, 0.5, 0.0))  # valid input first
    _check_partition(parts, 3)
    for bad, why in (((0.8, 0.3, 0.1), "do not sum to 1"), ((1.1, -0.1, 0.0), "contain a negative fraction"),
                     ((0.5, 0.5), "are not three numbers")):
        try:
            f(["CCO", "c1ccccc1"], fractions=bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"fractions={bad} {why}: scaffold_split should raise ValueError")
    for seed in (None, 0):
        try:
            f(["CCO", "C1CC(", "c1ccccc1"], seed=seed)
        except ValueError as err:
            assert "C1CC(" in str(err), (
                f"the ValueError for an unparsable SMILES should name it ('C1CC('); message was {str(err)!r}")
        else:
            raise AssertionError(
                f"seed={seed}: scaffold_split(['CCO', 'C1CC(', 'c1ccccc1']) should raise ValueError naming 'C1CC(' "
                "— never give an unparsable molecule an empty scaffold or drop it")


# ----------------------------------------------------------------------------------------------- 1.3
@exercise("1.3", points=3)
def test_max_train_similarity_matches_bulk_tanimoto(impl):
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    f = impl.ch01_solubility_gnn.max_train_similarity
    train, query = MOLECULES[:18], MOLECULES[18:] + ["CCO", "CCCCCCCCCCCCO"]
    for radius, n_bits in ((2, 2048), (1, 512)):
        gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        tfps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in train]
        want = np.array([max(DataStructs.BulkTanimotoSimilarity(gen.GetFingerprint(Chem.MolFromSmiles(q)), tfps))
                         for q in query])  # the oracle first
        got = f(query, train, radius=radius, n_bits=n_bits)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64, (
            f"return a float64 numpy array, got {type(got).__name__}"
            + (f" of dtype {got.dtype}" if hasattr(got, "dtype") else "") + " — set the array's dtype explicitly")
        assert got.shape == (len(query),), f"expected shape ({len(query)},), got {got.shape}"
        if np.all(np.abs(got - 1.0) < 1e-12) and not np.all(np.abs(want - 1.0) < 1e-12):
            raise AssertionError(
                "every similarity is 1: compare each query with the training molecules only — not with itself (or a "
                "pool that contains the query)")
        worst = int(np.argmax(np.abs(got - want)))
        assert np.allclose(got, want, rtol=0, atol=1e-9), (
            f"radius={radius}, n_bits={n_bits}: similarities differ from RDKit's Tanimoto similarities (maximum over train) "
            f"(first mismatch at {query[worst]!r}: got {got[worst]:.4f}, want {want[worst]:.4f}) — Tanimoto "
            "|a∩b| / |a∪b| of Morgan bit fingerprints with the given radius and n_bits, maximum over train")
    same = np.asarray(f(["CCO"], train))
    assert abs(same[0] - 1.0) < 1e-12, f"a query that is in the training set has similarity 1, got {same[0]}"


@exercise("1.3", points=1)
def test_max_train_similarity_range_and_errors(impl):
    f = impl.ch01_solubility_gnn.max_train_similarity
    got = np.asarray(f(MOLECULES, ["CCCCCC"]))
    assert np.all((got >= 0) & (got <= 1)), "Tanimoto similarities lie in [0, 1]"
    none = f([], ["CCO", "c1ccccc1"])
    assert isinstance(none, np.ndarray) and none.shape == (0,) and none.dtype == np.float64, (
        f"no query molecules must give an empty float64 array of shape (0,), got {none!r}")
    for query, train, where in ((["CCO"], ["CCC", "C1CC("], "training"), (["CCO", "C1CC("], ["CCC"], "query")):
        try:
            f(query, train)
        except ValueError as err:
            assert "C1CC(" in str(err), (
                f"the ValueError for an unparsable {where} SMILES should name it ('C1CC('); message was {str(err)!r}")
        else:
            raise AssertionError(f"an unparsable {where} SMILES ('C1CC(') should raise ValueError naming it — never "
                                 "skip it or give it similarity 0")
    try:
        f(["CCO"], [])
    except ValueError:
        pass
    else:
        raise AssertionError("an empty training set should raise ValueError (a nearest neighbour needs one molecule)")


# ----------------------------------------------------------------------------------------------- 1.4
@exercise("1.4", points=2)
def test_graph_counts_match_rdkit(impl):
    import torch
    from rdkit import Chem

    m = impl.ch01_solubility_gnn
    for smi in MOLECULES + ["C", "[Na+].[Cl-]"]:
        g = m.mol_to_graph(smi)
        mol = Chem.MolFromSmiles(smi)
        n, e = mol.GetNumAtoms(), mol.GetNumBonds()
        assert tuple(g.x.shape) == (n, m.NUM_ATOM_FEATURES), (
            f"{smi}: x should be ({n}, {m.NUM_ATOM_FEATURES}) (one row per heavy atom), got {tuple(g.x.shape)}")
        assert tuple(g.edge_index.shape) == (2, 2 * e), (
            f"{smi}: edge_index should be (2, {2 * e}) — every bond in both directions; got {tuple(g.edge_index.shape)}")
        assert tuple(g.edge_attr.shape) == (2 * e, m.NUM_BOND_FEATURES), (
            f"{smi}: edge_attr should be ({2 * e}, {m.NUM_BOND_FEATURES}), got {tuple(g.edge_attr.shape)}")
        assert g.edge_index.dtype == torch.long and g.x.dtype == torch.float32 and g.edge_attr.dtype == torch.float32, (
            f"{smi}: edge_index must be int64 (torch.long), x and edge_attr float32; got {g.edge_index.dtype}, "
            f"{g.x.dtype}, {g.edge_attr.dtype} — set each tensor's dtype explicitly when you build it")
        assert getattr(g, "smiles", None) == smi, (
            f"data.smiles should be the input string {smi!r}, got {getattr(g, 'smiles', None)!r}")
        assert getattr(g, "y", None) is None, (
            f"{smi}: mol_to_graph(smiles) without y must not set data.y (got {g.y!r}) — set it only when y is given")
        pairs = {(int(a), int(b)) for a, b in g.edge_index.t().tolist()}
        bonds = {(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()}
        want = bonds | {(j, i) for i, j in bonds}
        assert pairs == want, f"{smi}: edges do not match RDKit's bonds in both directions"


# Molecules that between them have every feature value the graders look at: charged N and O, sp/sp2/sp3 and
# "other" hybridisation, aromatic and non-aromatic rings, chains, conjugated bonds outside rings, double and
# triple bonds, degree 0..4 and 6, 0..4 hydrogens, and elements outside the vocabulary.
FEATURE_MOLECULES = [
    "C[N+](C)(C)C", "CC(=O)[O-]", "[O-][N+](=O)c1ccccc1", "CC#N", "C#C", "C=CC=C", "C=CC(=O)O", "CC(=O)OC",
    "C1CCCCC1", "c1ccccc1O", "c1ccncc1", "c1cc[nH]c1", "C1=CCCCC1", "CC(C)(C)C", "C", "[NH4+]",
    "FS(F)(F)(F)(F)F", "C[Sn](C)(C)C", "[Na+].[Cl-]", "OC(=O)CC(=O)O", "N#CC=CC#N", "CS(=O)(=O)N",
]


def _expected_atom_blocks(m, atom):
    """Block name → the index that must be 1 (one-hot blocks) or the 0/1 flag, from RDKit directly."""
    def idx(value, choices):
        return choices.index(value) if value in choices else len(choices)

    return {"element": idx(atom.GetSymbol(), m.ELEMENTS), "degree": idx(atom.GetDegree(), m.DEGREES),
            "formal_charge": idx(atom.GetFormalCharge(), m.FORMAL_CHARGES), "aromatic": int(atom.GetIsAromatic()),
            "num_hs": idx(atom.GetTotalNumHs(), m.NUM_HS),
            "hybridization": idx(str(atom.GetHybridization()), m.HYBRIDIZATIONS), "in_ring": int(atom.IsInRing())}


# What each feature block must encode: the property, never the RDKit call (the hints leave that to the learner).
_ATOM_HINTS = {"element": "the atom's element symbol", "degree": "the number of bonded heavy-atom neighbours "
               "(hydrogens not counted, so not the total degree)", "formal_charge": "the atom's formal charge",
               "aromatic": "whether the atom is aromatic", "num_hs": "the total number of hydrogens on the atom "
               "(implicit and explicit)", "hybridization": "the hybridization's name as a string, matched against "
               "the names in HYBRIDIZATIONS (RDKit's enum value never equals a string)",
               "in_ring": "whether the atom is in a ring"}
_BOND_HINTS = {"bond_type": "the bond type's name as a string, matched against BOND_TYPES", "conjugated":
               "whether the bond is conjugated", "in_ring": "whether the bond is in a ring"}


def _block_value(row, block):
    """The index of the 1 in a one-hot block, or the flag of a width-1 block; None if not one-hot."""
    values = row[block].tolist()
    if len(values) == 1:
        return int(values[0]) if values[0] in (0.0, 1.0) else None
    return values.index(1.0) if sorted(values) == [0.0] * (len(values) - 1) + [1.0] else None


def _labels(m, name):
    return {"element": m.ELEMENTS, "degree": m.DEGREES, "formal_charge": m.FORMAL_CHARGES, "num_hs": m.NUM_HS,
            "hybridization": m.HYBRIDIZATIONS, "bond_type": m.BOND_TYPES}.get(name)


def _show(m, name, index):
    labels = _labels(m, name)
    if labels is None or index is None:
        return repr(index)
    return repr(labels[index]) if index < len(labels) else "'other'"


@exercise("1.4", points=1)
def test_graph_atom_features_match_rdkit_per_atom(impl):
    import torch
    from rdkit import Chem

    m = impl.ch01_solubility_gnn
    for smi in FEATURE_MOLECULES + MOLECULES:
        mol = Chem.MolFromSmiles(smi)
        want = [_expected_atom_blocks(m, a) for a in mol.GetAtoms()]  # oracle first
        g = m.mol_to_graph(smi, y=-1.5)
        assert tuple(g.x.shape) == (mol.GetNumAtoms(), m.NUM_ATOM_FEATURES), (
            f"{smi}: x should be ({mol.GetNumAtoms()}, {m.NUM_ATOM_FEATURES}), got {tuple(g.x.shape)}")
        for i, atom in enumerate(mol.GetAtoms()):
            for name, block in m.ATOM_FEATURE_BLOCKS.items():
                got = _block_value(g.x[i], block)
                if got != want[i][name]:
                    raise AssertionError(
                        f"{smi}, atom {i} ({atom.GetSymbol()}, charge {atom.GetFormalCharge():+d}, "
                        f"{atom.GetHybridization()}): feature block {name!r} gives {_show(m, name, got)}, RDKit says "
                        f"{_show(m, name, want[i][name])} — encode {_ATOM_HINTS[name]}"
                        + (" (each one-hot block has exactly one 1)" if got is None else ""))
        assert g.y.shape == (1,) and g.y.dtype == torch.float32 and float(g.y) == -1.5, (
            f"y should be a (1,) float32 tensor holding -1.5, got {g.y!r} — set its dtype explicitly")


@exercise("1.4", points=1)
def test_graph_bond_features_match_rdkit_per_edge(impl):
    from rdkit import Chem

    m = impl.ch01_solubility_gnn
    for smi in FEATURE_MOLECULES + MOLECULES:
        mol = Chem.MolFromSmiles(smi)
        want = {}
        for b in mol.GetBonds():
            flags = {"bond_type": (m.BOND_TYPES.index(str(b.GetBondType())) if str(b.GetBondType()) in m.BOND_TYPES
                                   else len(m.BOND_TYPES)),
                     "conjugated": int(b.GetIsConjugated()), "in_ring": int(b.IsInRing())}
            want[(b.GetBeginAtomIdx(), b.GetEndAtomIdx())] = want[(b.GetEndAtomIdx(), b.GetBeginAtomIdx())] = flags
        g = m.mol_to_graph(smi)
        assert g.edge_attr.shape[0] == g.edge_index.shape[1], (
            f"{smi}: edge_attr has {g.edge_attr.shape[0]} rows for {g.edge_index.shape[1]} edges — one row per column "
            "of edge_index")
        for k, (i, j) in enumerate(g.edge_index.t().tolist()):
            assert (i, j) in want, f"{smi}: edge {i}→{j} (column {k} of edge_index) is not a bond in RDKit"
            for name, block in m.BOND_FEATURE_BLOCKS.items():
                got = _block_value(g.edge_attr[k], block)
                if got != want[(i, j)][name]:
                    raise AssertionError(
                        f"{smi}: row {k} of edge_attr (edge {i}→{j}) has {name!r} = {_show(m, name, got)}, RDKit says "
                        f"{_show(m, name, want[(i, j)][name])} for bond {i}-{j} — row k must describe column k of "
                        f"edge_index (append the features once per direction); encode {_BOND_HINTS[name]}")


@exercise("1.4", points=1)
def test_graph_invalid_smiles_raises(impl):
    m = impl.ch01_solubility_gnn
    g = m.mol_to_graph("CCO")  # a valid input first: validation alone earns nothing
    assert tuple(g.x.shape) == (3, m.NUM_ATOM_FEATURES), f"mol_to_graph('CCO').x should have 3 rows, got {g.x.shape}"
    for bad in ("C1CC", "c1cccc1", "CC(C)(C)(C)(C)C"):
        try:
            m.mol_to_graph(bad)
        except ValueError as err:
            assert bad in str(err), f"the ValueError should name the SMILES {bad!r}; message was {str(err)!r}"
        else:
            raise AssertionError(f"mol_to_graph({bad!r}) should raise ValueError: RDKit cannot parse it")


# ----------------------------------------------------------------------------------------------- 1.5
def _permuted_smiles_graphs(m, smiles, seed):
    from rdkit import Chem

    rng = np.random.default_rng(seed)
    mol = Chem.MolFromSmiles(smiles)
    order = rng.permutation(mol.GetNumAtoms()).tolist()
    shuffled = Chem.RenumberAtoms(mol, order)
    return m.mol_to_graph(Chem.MolToSmiles(mol, canonical=False)), m.mol_to_graph(
        Chem.MolToSmiles(shuffled, canonical=False))


@exercise("1.5", points=1)
def test_gnn_output_shape_and_gradients(impl):
    import torch
    from torch_geometric.data import Batch

    m = impl.ch01_solubility_gnn
    torch.manual_seed(0)
    model = m.SolubilityGNN(m.NUM_ATOM_FEATURES, m.NUM_BOND_FEATURES)
    batch = Batch.from_data_list([m.mol_to_graph(s) for s in MOLECULES[:7] + ["C"]])
    model.train()
    out = model(batch)
    assert tuple(out.shape) == (8,), (
        f"forward(batch of 8 graphs) must return shape (8,), got {tuple(out.shape)} — pool the nodes of each graph "
        "separately (per-graph pooling with the batch vector), then squeeze the last dimension when out_dim == 1")
    assert torch.isfinite(out).all(), (
        "outputs must be finite (NaN or inf found) — look for a division by zero or an uninitialised tensor")
    out.sum().backward()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    unused = [n for n, p in named if p.grad is None]
    assert named and not unused, (
        f"every parameter should receive a gradient; none reached {unused[:4]} — a layer created in __init__ "
        "but not used in forward (or an output detached from the graph) gets none: use it or do not create it")
    model.eval()
    with torch.no_grad():
        one = model(Batch.from_data_list([m.mol_to_graph("CCO")]))
        assert tuple(one.shape) == (1,), f"a batch of one graph must give shape (1,), got {tuple(one.shape)}"
        try:
            single = model(m.mol_to_graph("CCO"))  # a Data without `batch`
        except NotImplementedError:  # a stub: 'not started', not a failure
            raise
        except (AttributeError, TypeError, RuntimeError, IndexError) as err:
            raise AssertionError(
                f"forward(a single Data without batch) failed ({type(err).__name__}: {err}) — use the `batch` "
                "and `num_graphs` computed at the top of forward (data.batch is None for a single graph)") from None
    assert tuple(single.shape) == (1,) and torch.allclose(single, one, atol=1e-6), (
        f"forward(a single Data without batch) gave {single.tolist()}, the same graph in a Batch {one.tolist()} "
        "— every node of a single graph belongs to graph 0")


@exercise("1.5", points=1)
def test_gnn_dropout_in_train_only(impl):
    import torch
    from torch_geometric.data import Batch

    m = impl.ch01_solubility_gnn
    batch = Batch.from_data_list([m.mol_to_graph(s) for s in MOLECULES[:6]])
    torch.manual_seed(0)
    model = m.SolubilityGNN(hidden=32, num_layers=2, dropout=0.5)
    with torch.no_grad():
        model.eval()
        e1, e2 = model(batch), model(batch)
        assert torch.equal(e1, e2), (
            "in eval() two forward passes differ: dropout must be off in evaluation — make it follow the model's "
            "train()/eval() mode (a dropout layer registered as a submodule does)")
        model.train()
        t1, t2 = model(batch), model(batch)
        assert not torch.allclose(t1, t2), (
            "SolubilityGNN(dropout=0.5) in train(): two forward passes are identical — apply dropout (probability "
            "`dropout`) in the head")
        torch.manual_seed(0)
        plain = m.SolubilityGNN(hidden=32, num_layers=2, dropout=0.0).train()
        assert torch.equal(plain(batch), plain(batch)), (
            "SolubilityGNN(dropout=0.0) in train() is random: use the `dropout` argument, not a fixed probability")


@exercise("1.5", points=2)
def test_gnn_invariant_to_atom_order(impl):
    import torch
    from torch_geometric.data import Batch

    m = impl.ch01_solubility_gnn
    torch.manual_seed(1)
    model = m.SolubilityGNN(m.NUM_ATOM_FEATURES, m.NUM_BOND_FEATURES).eval()
    pairs = [_permuted_smiles_graphs(m, s, i) for i, s in enumerate(
        ["CC(=O)Oc1ccccc1C(=O)O", "Clc1ccc(cc1)-c1ccccc1", "Cc1c[nH]c2ccccc12", "CCN(CC)CC"])]
    assert any(not torch.equal(a.x, b.x) for a, b in pairs), "test setup: the permutations had no effect"
    with torch.no_grad():
        ya = model(Batch.from_data_list([a for a, _ in pairs]))
        yb = model(Batch.from_data_list([b for _, b in pairs]))
    assert torch.allclose(ya, yb, atol=1e-4, rtol=1e-4), (
        f"renumbering the atoms changed the predictions ({ya.tolist()} vs {yb.tolist()}): pool over nodes "
        "with a permutation-invariant operation (sum/mean) and do not use atom positions in the tensor")


@exercise("1.5", points=1)
def test_gnn_uses_bonds_and_learns(impl):
    import torch
    from torch_geometric.data import Batch

    m = impl.ch01_solubility_gnn
    torch.manual_seed(0)
    model = m.SolubilityGNN(m.NUM_ATOM_FEATURES, m.NUM_BOND_FEATURES).eval()
    # the same atoms without their bonds, or with every bond made single, must change the output
    g = m.mol_to_graph("CC(=O)Oc1ccccc1C(=O)O")
    no_edges = g.clone()
    no_edges.edge_index = g.edge_index[:, :0]
    no_edges.edge_attr = g.edge_attr[:0]
    single = g.clone()
    single.edge_attr = torch.zeros_like(g.edge_attr)
    single.edge_attr[:, m.BOND_FEATURE_BLOCKS["bond_type"].start + m.BOND_TYPES.index("SINGLE")] = 1.0
    with torch.no_grad():
        out = model(Batch.from_data_list([g, no_edges, single]))
    assert not torch.allclose(out[0], out[1]), "removing every bond did not change the output: pass messages along edge_index"
    assert not torch.allclose(out[0], out[2]), (
        "changing the bond types did not change the output: use edge_attr in the messages (a message-passing layer "
        "that also reads edge features)")
    # a few optimisation steps on 8 molecules must lower the training loss
    graphs = [m.mol_to_graph(s, y=float(i)) for i, s in enumerate(MOLECULES[:8])]
    batch = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    model = m.SolubilityGNN(m.NUM_ATOM_FEATURES, m.NUM_BOND_FEATURES, hidden=32, num_layers=2).train()  # small: fast
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    target = batch.y.reshape(-1)
    target = (target - target.mean()) / target.std()
    first = None
    for _ in range(40):
        loss = torch.mean((model(batch) - target) ** 2)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = float(loss.detach())
    assert last < 0.5 * first, (
        f"40 Adam steps (lr 3e-3) on 8 molecules should at least halve the training MSE ({first:.3f} → {last:.3f}) — "
        "check that every layer is registered as a submodule, that nothing is detached, and that the head reads "
        "the pooled graph vector")


@exercise("1.5", points=1)
def test_gnn_options_descriptors_out_dim_and_size(impl):
    import torch
    from torch_geometric.data import Batch

    m = impl.ch01_solubility_gnn
    graphs = [m.mol_to_graph(s) for s in ("CCO", "c1ccccc1O", "CC(=O)[O-]")]
    batch = Batch.from_data_list(graphs)
    # out_dim=2 (chapter 3's mean-variance head) with defaults otherwise
    torch.manual_seed(0)
    two = m.SolubilityGNN(m.NUM_ATOM_FEATURES, m.NUM_BOND_FEATURES, hidden=32, num_layers=2, out_dim=2).eval()
    with torch.no_grad():
        out = two(batch)
    assert tuple(out.shape) == (3, 2), (
        f"SolubilityGNN(out_dim=2) on 3 graphs must return shape (3, 2), got {tuple(out.shape)} — the last "
        "layer of the head must have out_dim outputs (squeeze only when out_dim == 1)")
    # num_descriptors=4: data.descriptors (num_graphs, 4) is concatenated to the pooled vector
    torch.manual_seed(0)
    model = m.SolubilityGNN(m.NUM_ATOM_FEATURES, m.NUM_BOND_FEATURES, hidden=32, num_layers=2,
                            num_descriptors=4).eval()
    gen = torch.Generator().manual_seed(0)
    desc = torch.randn(3, 4, generator=gen)
    batch.descriptors = desc
    with torch.no_grad():
        y0 = model(batch)
        batch.descriptors = desc + torch.tensor([[3.0, -2.0, 1.0, 0.5]])
        y1 = model(batch)
    assert tuple(y0.shape) == (3,), f"with num_descriptors=4 the output must still be (3,), got {tuple(y0.shape)}"
    assert not torch.allclose(y0, y1), (
        "SolubilityGNN(num_descriptors=4) ignores data.descriptors: concatenate them (shape (num_graphs, 4)) to "
        "the pooled graph vector before the head")
    # hidden and num_layers are honoured: a bigger model has more parameters
    small = sum(p.numel() for p in m.SolubilityGNN(hidden=16, num_layers=1).parameters())
    deeper = sum(p.numel() for p in m.SolubilityGNN(hidden=16, num_layers=3).parameters())
    wider = sum(p.numel() for p in m.SolubilityGNN(hidden=48, num_layers=1).parameters())
    assert deeper > small and wider > small, (
        f"parameter counts {small} (hidden=16, 1 layer), {deeper} (3 layers), {wider} (hidden=48): build "
        "num_layers message-passing layers of width hidden")
