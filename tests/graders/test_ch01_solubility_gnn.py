"""Graders of chapter 1 (scaffold split, similarity, graphs, GNN): properties and independent oracles.

Each test takes ``impl`` (exercises or solutions) and runs in a few seconds on a CPU.
"""
import numpy as np
import pytest  # noqa: F401  (pytest collects these)

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


def _rdkit_scaffold(smiles):
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(smiles))


def _check_partition(parts, n):
    assert isinstance(parts, tuple) and len(parts) == 3, "return a tuple (train_idx, val_idx, test_idx)"
    for name, p in zip(("train", "val", "test"), parts):
        assert isinstance(p, np.ndarray), f"{name}_idx should be a numpy array, got {type(p).__name__}"
        assert np.issubdtype(p.dtype, np.integer), f"{name}_idx should hold integers, got dtype {p.dtype}"
    allidx = np.concatenate(parts)
    assert len(allidx) == n and sorted(allidx.tolist()) == list(range(n)), (
        "every position 0..n-1 must appear in exactly one of train/val/test (missing or repeated indices)")


# ----------------------------------------------------------------------------------------------- 1.1
@exercise("1.1", points=1)
def test_scaffold_of_benzene_derivatives(impl):
    f = impl.ch01_solubility_gnn.murcko_scaffold
    for smi in ("Cc1ccccc1", "Oc1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CCCCc1ccccc1"):
        got = f(smi)
        assert got == "c1ccccc1", f"the scaffold of {smi} is benzene 'c1ccccc1', got {got!r} — remove side chains"


@exercise("1.1", points=1)
def test_scaffold_matches_rdkit_and_acyclic_is_empty(impl):
    f = impl.ch01_solubility_gnn.murcko_scaffold
    assert f("CCCCO") == "", f"an acyclic molecule has the empty scaffold '', got {f('CCCCO')!r}"
    for smi in MOLECULES:
        want = _rdkit_scaffold(smi)
        got = f(smi)
        assert got == want, f"scaffold of {smi}: expected {want!r} (canonical SMILES), got {got!r}"


@exercise("1.1", points=1)
def test_scaffold_invalid_smiles_raises(impl):
    f = impl.ch01_solubility_gnn.murcko_scaffold
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


@exercise("1.2", points=2)
def test_scaffold_split_sizes_and_largest_first(impl):
    from rdkit import Chem

    f = impl.ch01_solubility_gnn.scaffold_split
    # 200 molecules in 40 scaffold groups of 5: sizes must come out exactly 160/20/20.
    smiles, chains = [], ["C", "CC", "CCC", "CCCC", "CCCCC"]
    for k in range(3, 11):  # 8 cycloalkanes, each with 5 side chains
        for c in chains:
            smiles.append(f"{c}C1{'C' * (k - 1)}1")
    for k in range(1, 33):  # 32 more groups: cycloalkane–linker–benzene with different linkers
        for c in chains:
            smiles.append(f"{c}c1ccc(cc1){'C' * k}C1CC1")
    assert len({Chem.CanonSmiles(s) for s in smiles}) == 200
    parts = f(smiles, fractions=(0.8, 0.1, 0.1), seed=None)
    _check_partition(parts, len(smiles))
    sizes = tuple(len(p) for p in parts)
    assert sizes == (160, 20, 20), f"with 40 groups of 5 the sizes must be exactly (160, 20, 20), got {sizes}"
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


@exercise("1.2", points=1)
def test_scaffold_split_validates_fractions(impl):
    f = impl.ch01_solubility_gnn.scaffold_split
    try:
        f(["CCO", "c1ccccc1"], fractions=(0.8, 0.3, 0.1))
    except ValueError:
        pass
    else:
        raise AssertionError("fractions that do not sum to 1 should raise ValueError")


# ----------------------------------------------------------------------------------------------- 1.3
@exercise("1.3", points=3)
def test_max_train_similarity_matches_bulk_tanimoto(impl):
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    f = impl.ch01_solubility_gnn.max_train_similarity
    train, query = MOLECULES[:18], MOLECULES[18:] + ["CCO", "CCCCCCCCCCCCO"]
    for radius, n_bits in ((2, 2048), (1, 512)):
        got = np.asarray(f(query, train, radius=radius, n_bits=n_bits))
        assert got.shape == (len(query),), f"expected shape ({len(query)},), got {got.shape}"
        gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        tfps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in train]
        want = np.array([max(DataStructs.BulkTanimotoSimilarity(gen.GetFingerprint(Chem.MolFromSmiles(q)), tfps))
                         for q in query])
        assert np.allclose(got, want, atol=1e-9), (
            f"radius={radius}, n_bits={n_bits}: similarities differ from RDKit's BulkTanimotoSimilarity max "
            f"(first mismatch at {query[int(np.argmax(np.abs(got - want)))]!r}: got "
            f"{got[int(np.argmax(np.abs(got - want)))]:.4f}, want {want[int(np.argmax(np.abs(got - want)))]:.4f})")
    same = np.asarray(f(["CCO"], train))
    assert np.isclose(same[0], 1.0), f"a query that is in the training set has similarity 1, got {same[0]}"


@exercise("1.3", points=1)
def test_max_train_similarity_range_and_errors(impl):
    f = impl.ch01_solubility_gnn.max_train_similarity
    got = np.asarray(f(MOLECULES, ["CCCCCC"]))
    assert np.all((got >= 0) & (got <= 1)), "Tanimoto similarities lie in [0, 1]"
    try:
        f(["CCO"], ["not a smiles"])
    except ValueError:
        pass
    else:
        raise AssertionError("an unparsable training SMILES should raise ValueError")


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
        assert g.edge_index.dtype == torch.long and g.x.dtype == torch.float32, (
            "edge_index must be int64 (torch.long) and x float32")
        pairs = {(int(a), int(b)) for a, b in g.edge_index.t().tolist()}
        bonds = {(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()}
        want = bonds | {(j, i) for i, j in bonds}
        assert pairs == want, f"{smi}: edges do not match RDKit's bonds in both directions"


@exercise("1.4", points=2)
def test_graph_one_hot_blocks_and_values(impl):
    import torch
    from rdkit import Chem

    m = impl.ch01_solubility_gnn
    unusual = ["[Na+].[Cl-]", "C[Sn](C)(C)C", "[Fe+3]", "[O-][N+](=O)c1ccccc1", "FS(F)(F)(F)(F)F"]  # "other" slots
    for smi in MOLECULES + unusual:
        g = m.mol_to_graph(smi, y=-1.5)
        mol = Chem.MolFromSmiles(smi)
        for name in m.ATOM_ONE_HOT_BLOCKS:
            sums = g.x[:, m.ATOM_FEATURE_BLOCKS[name]].sum(1)
            assert torch.all(sums == 1), f"{smi}: atom block {name!r} must be one-hot (sum to 1), got {sums.tolist()}"
        if g.edge_attr.shape[0]:
            sums = g.edge_attr[:, m.BOND_FEATURE_BLOCKS["bond_type"]].sum(1)
            assert torch.all(sums == 1), f"{smi}: bond type must be one-hot"
        arom = g.x[:, m.ATOM_FEATURE_BLOCKS["aromatic"]].reshape(-1).tolist()
        assert arom == [float(a.GetIsAromatic()) for a in mol.GetAtoms()], f"{smi}: aromatic flags differ from RDKit"
        ring = g.x[:, m.ATOM_FEATURE_BLOCKS["in_ring"]].reshape(-1).tolist()
        assert ring == [float(a.IsInRing()) for a in mol.GetAtoms()], f"{smi}: ring flags differ from RDKit"
        elem = g.x[:, m.ATOM_FEATURE_BLOCKS["element"]].argmax(1).tolist()
        want = [m.ELEMENTS.index(a.GetSymbol()) if a.GetSymbol() in m.ELEMENTS else len(m.ELEMENTS)
                for a in mol.GetAtoms()]
        assert elem == want, f"{smi}: element one-hot positions {elem} differ from expected {want}"
        hs = g.x[:, m.ATOM_FEATURE_BLOCKS["num_hs"]].argmax(1).tolist()
        assert hs == [min(a.GetTotalNumHs(), len(m.NUM_HS)) for a in mol.GetAtoms()], f"{smi}: H counts differ"
        assert torch.allclose(g.y, torch.tensor([-1.5])), f"y should be a (1,) float tensor holding -1.5, got {g.y}"
    g = m.mol_to_graph("c1ccccc1")
    src, dst = g.edge_index
    aromatic_col = m.BOND_FEATURE_BLOCKS["bond_type"].start + m.BOND_TYPES.index("AROMATIC")
    assert torch.all(g.edge_attr[:, aromatic_col] == 1), "benzene's bonds should be typed AROMATIC"


@exercise("1.4", points=1)
def test_graph_invalid_smiles_raises(impl):
    m = impl.ch01_solubility_gnn
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


@exercise("1.5", points=2)
def test_gnn_output_shape_and_gradients(impl):
    import torch
    from torch_geometric.data import Batch

    m = impl.ch01_solubility_gnn
    torch.manual_seed(0)
    model = m.SolubilityGNN(m.NUM_ATOM_FEATURES, m.NUM_BOND_FEATURES)
    batch = Batch.from_data_list([m.mol_to_graph(s) for s in MOLECULES[:7] + ["C"]])
    model.train()
    out = model(batch)
    assert tuple(out.shape) == (8,), f"forward(batch of 8 graphs) must return shape (8,), got {tuple(out.shape)}"
    assert torch.isfinite(out).all(), "outputs must be finite"
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads), "every parameter should receive a gradient"
    model.eval()
    with torch.no_grad():
        one = model(Batch.from_data_list([m.mol_to_graph("CCO")]))
    assert tuple(one.shape) == (1,), f"a batch of one graph must give shape (1,), got {tuple(one.shape)}"


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
        "changing the bond types did not change the output: use edge_attr in the messages (e.g. GINEConv(edge_dim=...))")
    # a few optimisation steps on 8 molecules must lower the training loss
    graphs = [m.mol_to_graph(s, y=float(i)) for i, s in enumerate(MOLECULES[:8])]
    batch = Batch.from_data_list(graphs)
    model.train()
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
    assert last < 0.5 * first, f"40 Adam steps on 8 molecules should halve the loss ({first:.3f} → {last:.3f})"
