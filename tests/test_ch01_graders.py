"""The chapter-1 graders must fail on realistic wrong implementations and pass on other correct ones.

Each variant replaces one public function (or class) of the reference module; the graders of its exercise
must reject it (AssertionError or the variant's own error), with a message that names what to fix.
"""
import numpy as np
import pytest
import torch
from torch import nn

from molpractice.mutation import GraderSuite
from solutions import ch01_solubility_gnn as ref

SUITE = GraderSuite("ch01_solubility_gnn")
graders = SUITE.graders
_impl = SUITE.implementation
_graders_of = SUITE.graders_of
_failures = SUITE.rejections  # messages of the graders that reject an implementation (empty: accepted)


# The reference solution's calls: a failure message says what property failed and what kind of fix it needs,
# never which call to write (the stepwise hints withhold that, and a first failed check() must not print it).
REFERENCE_CALLS = ("GetScaffoldForMol", "MolToSmiles", "MurckoScaffold", "BulkTanimotoSimilarity", "GetMorganGenerator",
                   "GetFingerprint", "rdFingerprintGenerator", "GetSymbol", "GetDegree", "GetTotalDegree",
                   "GetFormalCharge", "GetIsAromatic", "GetTotalNumHs", "GetHybridization", "IsInRing",
                   "GetBondType", "GetIsConjugated", "GetBeginAtomIdx", "GetEndAtomIdx", "GINEConv", "global_add_pool",
                   "global_mean_pool", "nn.Dropout", "dtype=torch.float32", "dtype=torch.long", "dtype=np.float64",
                   "torch.tensor(", "np.array(",
                   "training=self.training", "default_rng")


def _no_reference_calls(failures):
    leaked = {call: f for f in failures for call in REFERENCE_CALLS if call in f}
    assert not leaked, f"grader messages name the reference solution's calls: {leaked}"


def _accepts(impl, exercise_id):
    for grader in _graders_of(exercise_id):
        grader(impl)


def _mol(smiles):
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) else None
    if mol is None:
        raise ValueError(f"cannot parse {smiles!r}")
    return mol


# ----------------------------------------------------------------------------------------------- 1.1
def scaffold_returns_input(smiles):
    from rdkit import Chem

    return Chem.MolToSmiles(_mol(smiles))


def scaffold_generic(smiles):  # all atoms carbon, all bonds single: a different scaffold definition
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return Chem.MolToSmiles(MurckoScaffold.MakeScaffoldGeneric(MurckoScaffold.GetScaffoldForMol(_mol(smiles))))


def scaffold_acyclic_is_itself(smiles):
    got = ref.murcko_scaffold(smiles)
    return got or smiles


def scaffold_no_error(smiles):
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    mol = Chem.MolFromSmiles(smiles)
    return "" if mol is None else Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol))


def scaffold_returns_none(smiles):
    _mol(smiles)
    return None


def scaffold_rings_only(smiles):  # ring atoms only: linkers (and exocyclic double bonds) dropped
    from rdkit import Chem

    mol = _mol(smiles)
    rw = Chem.RWMol(mol)
    for idx in sorted((a.GetIdx() for a in mol.GetAtoms() if not a.IsInRing()), reverse=True):
        rw.RemoveAtom(idx)
    return Chem.MolToSmiles(rw)


def scaffold_non_canonical(smiles):  # the scaffold in the input's atom order
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(_mol(smiles)), canonical=False)


SCAFFOLD_WRONG = {scaffold_returns_input: "remove the side chains", scaffold_generic: "keep the ring's elements",
                  scaffold_acyclic_is_itself: "empty scaffold", scaffold_no_error: "should raise ValueError",
                  scaffold_returns_none: None, scaffold_rings_only: "linker", scaffold_non_canonical: "canonical"}


@pytest.mark.parametrize("wrong", list(SCAFFOLD_WRONG), ids=lambda f: f.__name__)
def test_scaffold_graders_reject(wrong):
    failures = _failures(_impl(murcko_scaffold=wrong), "1.1")
    assert failures, f"graders of 1.1 accepted {wrong.__name__}"
    _no_reference_calls(failures)
    if SCAFFOLD_WRONG[wrong]:
        assert any(SCAFFOLD_WRONG[wrong] in f for f in failures), failures


def scaffold_via_murcko_smiles(smiles):
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(mol=_mol(smiles))


def test_scaffold_graders_accept_murcko_scaffold_smiles():
    _accepts(_impl(murcko_scaffold=scaffold_via_murcko_smiles), "1.1")


# ----------------------------------------------------------------------------------------------- 1.2
def _split(mistake=None):
    def scaffold_split(smiles, fractions=(0.8, 0.1, 0.1), seed=None):
        fractions = tuple(float(f) for f in fractions)
        if mistake == "no_negative_check":
            if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6:
                raise ValueError("bad fractions")
        elif len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError("bad fractions")
        smiles = list(smiles)
        n = len(smiles)
        if mistake == "returns_none":
            return None
        if mistake == "per_molecule_random":
            perm = np.random.default_rng(seed).permutation(n)
            a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
            return tuple(np.sort(p) for p in (perm[:a], perm[a:b], perm[b:]))
        groups = {}
        for i, s in enumerate(smiles):
            try:
                key = ref.murcko_scaffold(s)
            except ValueError:
                if mistake != "invalid_as_empty":
                    raise
                key = ""
            groups.setdefault(key, []).append(i)
        if mistake == "cut_sorted_list":  # molecules ordered by group, then cut at fixed positions: leaks
            flat = [i for g in sorted(groups.values(), key=len, reverse=True) for i in g]
            a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
            return tuple(np.array(sorted(p), dtype=np.int64) for p in (flat[:a], flat[a:b], flat[b:]))
        if mistake == "ties_reversed" and seed is None:
            ordered = sorted(groups.values(), key=len)[::-1]
        elif seed is None or mistake == "ignores_seed":
            ordered = sorted(groups.values(), key=len, reverse=(mistake != "smallest_first"))
        else:
            values = list(groups.values())
            ordered = [values[i] for i in np.random.default_rng(seed).permutation(len(values))]
        caps = [f * n for f in fractions]
        parts = ([], [], [])
        slack = -0.5 if mistake == "strict_less" else 0.0  # sizes are integers: "< cap" is "<= cap - 0.5"
        for g in ordered:
            if len(parts[0]) + len(g) <= caps[0] + slack:
                parts[0].extend(g)
            elif len(parts[0]) + len(parts[1]) + len(g) <= caps[0] + caps[1] + slack:
                parts[1].extend(g)
            else:
                parts[2].extend(g)
        out = [np.array(sorted(p), dtype=np.int32 if mistake == "int32" else np.int64) for p in parts]
        if mistake == "val_test_swapped" and seed is None:
            out[1], out[2] = out[2], out[1]
        if mistake == "unsorted":
            out = [p[::-1].copy() for p in out]
        return tuple(out)

    scaffold_split.__name__ = f"split_{mistake}"
    return scaffold_split


# mistake -> words the rejection must contain (None: a crash or a bare shape error is enough)
SPLIT_WRONG = {"val_test_swapped": "swapped", "smallest_first": "largest", "per_molecule_random": "split whole groups",
               "ignores_seed": "different seeds", "unsorted": "sorted", "returns_none": None,
               "ties_reversed": "first appearance", "shuffle_all_groups": "larger than half the test size",
               "strict_less": "≤", "cut_sorted_list": "split whole groups", "no_negative_check": "negative",
               "invalid_as_empty": "C1CC(", "int32": "int64"}


@pytest.mark.parametrize("mistake", list(SPLIT_WRONG))
def test_split_graders_reject(mistake):
    # "shuffle_all_groups" is the variant's plain seeded branch: every group shuffled, no big groups first
    failures = _failures(_impl(scaffold_split=_split(mistake)), "1.2")
    assert failures, f"graders of 1.2 accepted {mistake}"
    _no_reference_calls(failures)
    if SPLIT_WRONG[mistake]:
        assert any(SPLIT_WRONG[mistake] in f for f in failures), failures


def split_with_argsort(smiles, fractions=(0.8, 0.1, 0.1), seed=None):
    """Correct, written differently: scaffolds as an array, groups ordered with a stable argsort."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError("bad fractions")
    smiles = list(smiles)
    n = len(smiles)
    keys = [ref.murcko_scaffold(s) for s in smiles]
    uniq = list(dict.fromkeys(keys))
    members = [[i for i, k in enumerate(keys) if k == u] for u in uniq]
    limits = np.cumsum(np.array(fractions) * n)
    assign = np.full(n, 2)
    used = np.zeros(3)
    if seed is None:
        order = np.argsort([-len(m) for m in members], kind="stable")
        for gi in order:
            g = members[gi]
            for part in (0, 1):
                if used[: part + 1].sum() + len(g) <= limits[part] + 1e-9:
                    assign[g] = part
                    used[part] += len(g)
                    break
            else:
                used[2] += len(g)
    else:
        rng = np.random.default_rng(seed)
        big = [g for g in members if len(g) > fractions[2] * n / 2]
        small = [g for g in members if len(g) <= fractions[2] * n / 2]
        for g in [big[i] for i in rng.permutation(len(big))] + [small[i] for i in rng.permutation(len(small))]:
            for part in range(3):
                if used[part] + len(g) <= fractions[part] * n:
                    assign[g] = part
                    used[part] += len(g)
                    break
            else:
                used[2] += len(g)
    return tuple(np.flatnonzero(assign == k).astype(np.int64) for k in range(3))


def test_sizes_grader_input_is_200_distinct_molecules_in_40_groups_of_5():
    """The input of the exact-sizes grader (checked here once, not in every check)."""
    from collections import Counter

    from rdkit import Chem

    smiles = graders._forty_groups_of_five()
    assert len({Chem.CanonSmiles(s) for s in smiles}) == len(smiles) == 200
    assert sorted(Counter(graders._rdkit_scaffold(s) for s in smiles).values()) == [5] * 40


def test_split_graders_accept_an_argsort_variant():
    _accepts(_impl(scaffold_split=split_with_argsort), "1.2")


# ----------------------------------------------------------------------------------------------- 1.3
def _similarity(mistake=None):
    def max_train_similarity(query_smiles, train_smiles, radius=2, n_bits=2048):
        from rdkit import DataStructs
        from rdkit.Chem import rdFingerprintGenerator

        if len(list(train_smiles)) == 0:
            raise ValueError("empty")
        if mistake == "ignores_options":
            radius, n_bits = 2, 2048
        gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        train = [gen.GetFingerprint(_mol(s)) for s in train_smiles]
        sim = DataStructs.BulkDiceSimilarity if mistake == "dice" else DataStructs.BulkTanimotoSimilarity
        rows = []
        for q in query_smiles:
            try:
                fp = gen.GetFingerprint(_mol(q))
            except ValueError:
                if mistake != "unparsable_query_is_zero":
                    raise
                rows.append([0.0])
                continue
            rows.append(sim(fp, train + [fp] if mistake == "includes_query_itself" else train))
        if mistake == "mean":
            return np.array([np.mean(r) for r in rows])
        if mistake == "returns_none":
            return None
        if mistake == "returns_list":
            return [max(r) for r in rows]
        return np.array([max(r) for r in rows], dtype=np.float32 if mistake == "float32" else np.float64)

    max_train_similarity.__name__ = f"similarity_{mistake}"
    return max_train_similarity


SIMILARITY_WRONG = {"mean": "maximum over train", "dice": "Tanimoto", "ignores_options": "radius=1",
                    "returns_none": None, "includes_query_itself": "not with itself",
                    "returns_list": "float64 numpy array", "float32": "float64",
                    "unparsable_query_is_zero": "query SMILES ('C1CC(')"}


@pytest.mark.parametrize("mistake", list(SIMILARITY_WRONG))
def test_similarity_graders_reject(mistake):
    failures = _failures(_impl(max_train_similarity=_similarity(mistake)), "1.3")
    assert failures, f"graders of 1.3 accepted {mistake}"
    _no_reference_calls(failures)
    if SIMILARITY_WRONG[mistake]:
        assert any(SIMILARITY_WRONG[mistake] in f for f in failures), failures


def similarity_with_numpy_bits(query_smiles, train_smiles, radius=2, n_bits=2048):
    """Correct, written differently: fingerprints as numpy bit matrices, |a∧b| / |a∨b| by matrix algebra."""
    from rdkit.Chem import rdFingerprintGenerator

    if isinstance(query_smiles, str) or isinstance(train_smiles, str) or len(list(train_smiles)) == 0:
        raise ValueError("need non-empty sequences")
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    q = np.array([gen.GetFingerprintAsNumPy(_mol(s)) for s in query_smiles], dtype=np.int64).reshape(-1, n_bits)
    t = np.array([gen.GetFingerprintAsNumPy(_mol(s)) for s in train_smiles], dtype=np.int64)
    inter = q @ t.T
    union = q.sum(1)[:, None] + t.sum(1)[None, :] - inter
    return (inter / np.maximum(union, 1)).max(axis=1).astype(np.float64)


def test_similarity_graders_accept_numpy_bits():
    _accepts(_impl(max_train_similarity=similarity_with_numpy_bits), "1.3")


# ----------------------------------------------------------------------------------------------- 1.4
def _graph(mistake=None):
    def mol_to_graph(smiles, y=None):
        from torch_geometric.data import Data

        mol = _mol(smiles)
        if mistake == "returns_none":
            return None
        oh = ref._one_hot
        rows = []
        for a in mol.GetAtoms():
            hyb = a.GetHybridization() if mistake == "hybridization_enum" else str(a.GetHybridization())
            deg = a.GetTotalDegree() if mistake == "total_degree" else a.GetDegree()
            charge = 0 if mistake == "charge_ignored" else a.GetFormalCharge()
            rows.append(oh(a.GetSymbol(), ref.ELEMENTS) + oh(deg, ref.DEGREES) + oh(charge, ref.FORMAL_CHARGES)
                        + [float(a.GetIsAromatic())] + oh(a.GetTotalNumHs(), ref.NUM_HS)
                        + oh(hyb, ref.HYBRIDIZATIONS) + [float(a.IsInRing())])
        src, dst, feats = [], [], []
        for b in mol.GetBonds():
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            flags = [float(b.GetIsConjugated()), float(b.IsInRing())]
            if mistake == "bond_flags_swapped":
                flags = flags[::-1]
            f = oh(str(b.GetBondType()), ref.BOND_TYPES) + flags
            src += [i, j]
            dst += [j, i]
            feats += [f, f]
        if mistake == "edge_attr_misaligned":  # edges interleaved, but attributes listed as all bonds twice
            feats = feats[0::2] + feats[1::2]
        if mistake == "one_direction":
            src, dst, feats = src[0::2], dst[0::2], feats[0::2]
        data = Data(x=torch.tensor(rows, dtype=torch.float32).reshape(-1, ref.NUM_ATOM_FEATURES),
                    edge_index=torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
                    edge_attr=torch.tensor(feats, dtype=torch.float64 if mistake == "edge_attr_float64"
                                           else torch.float32).reshape(-1, ref.NUM_BOND_FEATURES))
        if mistake != "no_smiles":
            data.smiles = smiles
        if mistake == "y_default_zero" and y is None:
            y = 0.0
        if y is not None:
            data.y = torch.tensor([float(y)], dtype=torch.float64 if mistake == "y_float64" else torch.float32)
        return data

    mol_to_graph.__name__ = f"graph_{mistake}"
    return mol_to_graph


GRAPH_HINTS = {"hybridization_enum": "hybridization", "total_degree": "hydrogens not counted", "charge_ignored":
               "formal_charge", "edge_attr_misaligned": "column k of", "bond_flags_swapped": "conjugated",
               "one_direction": "both directions", "edge_attr_float64": "float32", "y_float64": "float32",
               "no_smiles": "data.smiles", "y_default_zero": "without y"}


@pytest.mark.parametrize("mistake", ["hybridization_enum", "total_degree", "charge_ignored", "edge_attr_misaligned",
                                     "bond_flags_swapped", "returns_none", "one_direction", "edge_attr_float64",
                                     "y_float64", "no_smiles", "y_default_zero"])
def test_graph_graders_reject(mistake):
    failures = _failures(_impl(mol_to_graph=_graph(mistake)), "1.4")
    assert failures, f"graders of 1.4 accepted {mistake}"
    _no_reference_calls(failures)
    if mistake in GRAPH_HINTS:
        assert any(GRAPH_HINTS[mistake] in f for f in failures), failures


def graph_blocks_then_reverse(smiles, y=None):
    """Correct, written differently: features by numpy indexing; edges all forward, then all reversed."""
    from torch_geometric.data import Data

    mol = _mol(smiles)
    blocks = ref.ATOM_FEATURE_BLOCKS
    x = np.zeros((mol.GetNumAtoms(), ref.NUM_ATOM_FEATURES), dtype=np.float32)

    def put(row, name, value, choices):
        x[row, blocks[name].start + (choices.index(value) if value in choices else len(choices))] = 1

    for a in mol.GetAtoms():
        k = a.GetIdx()
        put(k, "element", a.GetSymbol(), ref.ELEMENTS)
        put(k, "degree", a.GetDegree(), ref.DEGREES)
        put(k, "formal_charge", a.GetFormalCharge(), ref.FORMAL_CHARGES)
        put(k, "num_hs", a.GetTotalNumHs(), ref.NUM_HS)
        put(k, "hybridization", a.GetHybridization().name, ref.HYBRIDIZATIONS)
        x[k, blocks["aromatic"].start] = a.GetIsAromatic()
        x[k, blocks["in_ring"].start] = a.IsInRing()
    bonds = list(mol.GetBonds())
    fwd = np.array([[b.GetBeginAtomIdx() for b in bonds], [b.GetEndAtomIdx() for b in bonds]], dtype=np.int64)
    attr = np.zeros((len(bonds), ref.NUM_BOND_FEATURES), dtype=np.float32)
    for r, b in enumerate(bonds):
        t = b.GetBondType().name
        attr[r, ref.BOND_TYPES.index(t) if t in ref.BOND_TYPES else len(ref.BOND_TYPES)] = 1
        attr[r, ref.BOND_FEATURE_BLOCKS["conjugated"].start] = b.GetIsConjugated()
        attr[r, ref.BOND_FEATURE_BLOCKS["in_ring"].start] = b.IsInRing()
    data = Data(x=torch.from_numpy(x), edge_index=torch.from_numpy(np.concatenate([fwd, fwd[::-1]], axis=1).copy()),
                edge_attr=torch.from_numpy(np.concatenate([attr, attr])), smiles=smiles)
    if y is not None:
        data.y = torch.tensor([y], dtype=torch.float32)
    return data


def test_graph_graders_accept_forward_then_reverse_edges():
    _accepts(_impl(mol_to_graph=graph_blocks_then_reverse), "1.4")


# ----------------------------------------------------------------------------------------------- 1.5
class _GNN(ref.SolubilityGNN):
    """The reference model with one switchable mistake."""

    mistake = None

    def __init__(self, num_atom_features=ref.NUM_ATOM_FEATURES, num_bond_features=ref.NUM_BOND_FEATURES,
                 hidden=128, num_layers=4, dropout=0.2, num_descriptors=0, out_dim=1):
        if self.mistake == "ignores_num_descriptors":
            num_descriptors = 0
        if self.mistake == "ignores_out_dim":
            out_dim = 1
        super().__init__(num_atom_features, num_bond_features, hidden, num_layers, dropout, num_descriptors, out_dim)
        if self.mistake == "unused_layer":  # built but never called in forward: it gets no gradient
            self.extra = nn.Linear(hidden, hidden)

    def forward(self, data):
        from torch_geometric.nn import global_add_pool, global_mean_pool

        batch = data.batch if getattr(data, "batch", None) is not None else \
            torch.zeros(data.x.shape[0], dtype=torch.long)
        g = int(data.batch.max() if self.mistake == "uses_data_batch" else batch.max()) + 1
        h = self.embed(data.x)
        for conv, norm in zip(self.convs, self.norms):
            if self.mistake == "no_message_passing":
                h = h + torch.relu(norm(conv.nn(h)))
                continue
            attr = torch.zeros_like(data.edge_attr) if self.mistake == "ignores_edge_attr" else data.edge_attr
            h = h + torch.relu(norm(conv(h, data.edge_index, attr)))
        if self.mistake == "first_atom_readout":
            first = torch.cat([torch.tensor([0]), torch.bincount(batch, minlength=g).cumsum(0)[:-1]])
            pooled = [h[first], h[first]]
        elif self.mistake == "pools_whole_batch":
            pooled = [h.sum(0, keepdim=True), h.mean(0, keepdim=True)]
        else:
            pooled = [global_add_pool(h, batch, size=g), global_mean_pool(h, batch, size=g)]
        if self.num_descriptors:
            pooled.append(data.descriptors.reshape(g, -1))
        features = torch.cat(pooled, 1)
        if self.mistake == "dropout_in_eval":  # functional dropout without training=self.training
            features = torch.nn.functional.dropout(features, 0.2, training=True)
        if self.mistake == "ignores_dropout":  # a fixed probability whatever `dropout` says
            features = torch.nn.functional.dropout(features, 0.2, training=self.training)
        out = self.head(features)
        return out.squeeze(-1) if self.out_dim == 1 else out


GNN_WRONG = {"ignores_num_descriptors": "descriptors", "ignores_out_dim": "out_dim", "ignores_edge_attr": "edge_attr",
             "no_message_passing": "edge_index", "first_atom_readout": "permutation-invariant",
             "uses_data_batch": "single Data without batch", "pools_whole_batch": "pool the nodes of each graph",
             "dropout_in_eval": "eval()", "ignores_dropout": "`dropout` argument",
             "unused_layer": "every parameter should receive a gradient"}


@pytest.mark.parametrize("mistake", list(GNN_WRONG))
def test_gnn_graders_reject(mistake):
    cls = type(f"GNN_{mistake}", (_GNN,), {"mistake": mistake})
    failures = _failures(_impl(SolubilityGNN=cls), "1.5")
    assert failures, f"graders of 1.5 accepted {mistake}"
    _no_reference_calls(failures)
    assert any(GNN_WRONG[mistake] in f for f in failures), failures


class HandWrittenMPNN(nn.Module):
    """Correct, written differently: edge-conditioned messages with index_add_, sum pooling only."""

    def __init__(self, num_atom_features=ref.NUM_ATOM_FEATURES, num_bond_features=ref.NUM_BOND_FEATURES,
                 hidden=128, num_layers=4, dropout=0.2, num_descriptors=0, out_dim=1):
        super().__init__()
        self.num_descriptors, self.out_dim = num_descriptors, out_dim
        self.embed = nn.Linear(num_atom_features, hidden)
        self.edge = nn.ModuleList(nn.Linear(num_bond_features, hidden) for _ in range(num_layers))
        self.update = nn.ModuleList(nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh())
                                    for _ in range(num_layers))
        self.head = nn.Sequential(nn.Linear(hidden + num_descriptors, hidden), nn.Tanh(), nn.Dropout(dropout),
                                  nn.Linear(hidden, out_dim))

    def forward(self, data):
        n = data.x.shape[0]
        batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros(n, dtype=torch.long)
        g = int(batch.max()) + 1
        src, dst = data.edge_index
        h = torch.tanh(self.embed(data.x))
        for edge, update in zip(self.edge, self.update):
            msg = h[src] * torch.sigmoid(edge(data.edge_attr))
            agg = torch.zeros_like(h).index_add_(0, dst, msg)
            h = h + update(torch.cat([h, agg], 1))
        pooled = torch.zeros(g, h.shape[1]).index_add_(0, batch, h)
        if self.num_descriptors:
            pooled = torch.cat([pooled, data.descriptors.reshape(g, -1)], 1)
        out = self.head(pooled)
        return out[:, 0] if self.out_dim == 1 else out


def test_gnn_graders_accept_a_hand_written_mpnn():
    _accepts(_impl(SolubilityGNN=HandWrittenMPNN), "1.5")
