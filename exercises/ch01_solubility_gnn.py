# Generated from solutions/ch01_solubility_gnn.py by `molpractice make-exercises` — write your code in place of each `raise NotImplementedError`.
"""Chapter 1 — scaffold split, leakage diagnostics and a message-passing GNN for aqueous solubility.

Exercises
---------
1.1 murcko_scaffold
1.2 scaffold_split
1.3 max_train_similarity
1.4 mol_to_graph
1.5 SolubilityGNN

Public names besides the exercises (fixed, not for the learner to write):

* ``ELEMENTS``, ``DEGREES``, ``FORMAL_CHARGES``, ``NUM_HS``, ``HYBRIDIZATIONS``, ``BOND_TYPES`` — the
  vocabularies of the one-hot features (each one-hot block has a final "other" slot).
* ``ATOM_FEATURE_BLOCKS`` / ``BOND_FEATURE_BLOCKS`` — name → ``slice`` of the feature columns;
  ``NUM_ATOM_FEATURES`` / ``NUM_BOND_FEATURES`` — their widths.
* ``SolubilityGNN(num_atom_features=NUM_ATOM_FEATURES, num_bond_features=NUM_BOND_FEATURES, hidden=128,
  num_layers=4, dropout=0.2, num_descriptors=0, out_dim=1)`` — a message-passing regressor with
  optional global descriptors concatenated to the pooled vector (read from ``data.descriptors``, shape
  (num_graphs, num_descriptors)) and an MLP head; the reference uses PyG's GINE layers (a modified form of Hu et al. 2020) with
  residual connections and sum + mean pooling. ``forward(data)`` returns (num_graphs,) (or
  (num_graphs, out_dim) when ``out_dim > 1``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

# ---------------------------------------------------------------------------- feature vocabularies
ELEMENTS = ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se")  # + "other"
DEGREES = (0, 1, 2, 3, 4, 5)  # + "other"
FORMAL_CHARGES = (-1, 0, 1)  # + "other"
NUM_HS = (0, 1, 2, 3, 4)  # + "other"
HYBRIDIZATIONS = ("SP", "SP2", "SP3", "SP3D", "SP3D2")  # + "other" (e.g. S, UNSPECIFIED)
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")  # + "other"


def _blocks(widths: Sequence[tuple[str, int]]) -> dict[str, slice]:
    out, start = {}, 0
    for name, width in widths:
        out[name] = slice(start, start + width)
        start += width
    return out


#: Column slices of the atom feature matrix ``x``; the one-hot blocks each sum to exactly one per atom.
ATOM_FEATURE_BLOCKS = _blocks([
    ("element", len(ELEMENTS) + 1),
    ("degree", len(DEGREES) + 1),
    ("formal_charge", len(FORMAL_CHARGES) + 1),
    ("aromatic", 1),
    ("num_hs", len(NUM_HS) + 1),
    ("hybridization", len(HYBRIDIZATIONS) + 1),
    ("in_ring", 1),
])
#: Column slices of ``edge_attr``; ``bond_type`` is one-hot.
BOND_FEATURE_BLOCKS = _blocks([("bond_type", len(BOND_TYPES) + 1), ("conjugated", 1), ("in_ring", 1)])
ATOM_ONE_HOT_BLOCKS = ("element", "degree", "formal_charge", "num_hs", "hybridization")
NUM_ATOM_FEATURES = max(s.stop for s in ATOM_FEATURE_BLOCKS.values())
NUM_BOND_FEATURES = max(s.stop for s in BOND_FEATURE_BLOCKS.values())


def _parse(smiles: str):
    """RDKit molecule from ``smiles``; ``ValueError`` naming the string when it does not parse."""
    from rdkit import Chem, RDLogger

    if not isinstance(smiles, str):
        raise ValueError(f"expected a SMILES string, got {type(smiles).__name__}: {smiles!r}")
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    return mol


# --------------------------------------------------------------------------------------- 1.1
def murcko_scaffold(smiles: str) -> str:
    """Bemis–Murcko scaffold of a molecule, as canonical SMILES.

    The scaffold keeps ring systems and the linkers between them and removes every side chain
    (Bemis & Murcko 1996), **as implemented in RDKit** (``MurckoScaffold.GetScaffoldForMol``), which
    also keeps atoms double-bonded to ring and linker atoms (e.g. cyclohexanone → ``O=C1CCCCC1``); other
    implementations (e.g. the "generic framework") do not. Acyclic molecules have the empty scaffold ``""``.

    Args:
        smiles: one SMILES string.
    Returns:
        Canonical SMILES of the scaffold (``""`` when the molecule has no ring).
    Raises:
        ValueError: naming ``smiles`` if RDKit cannot parse it.

    Hint:
        1. Idea: you do not need to cut side chains yourself — RDKit implements this definition.
        2. Approach: find where RDKit keeps its scaffold code, and think about which of its outputs
           (a molecule or a string) gives you control over canonicalisation.
        3. Tricky detail: RDKit does not raise on a bad SMILES — it returns ``None`` (the given
           ``_parse`` turns that into the ``ValueError``). For an acyclic molecule the scaffold is an
           empty molecule, whose SMILES is already ``""``.
    """
    mol = _parse(smiles)
    raise NotImplementedError("Exercise 1.1: implement murcko_scaffold (see its docstring), then run mp.check(\"1.1\")")


# --------------------------------------------------------------------------------------- 1.2
def scaffold_split(smiles: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                   seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split molecules into train/validation/test so that no scaffold appears in two parts.

    Args:
        smiles: n SMILES strings.
        fractions: (train, val, test) fractions, each >= 0, summing to 1.
        seed: ``None`` → deterministic: scaffold groups sorted by size, largest first (ties: first
            appearance), each goes to train while it fits in ``train_fraction * n``, else to val while
            train + val fits in ``(train + val fraction) * n``, else to test, so the rarest scaffolds
            land in test.
            An ``int`` → randomised, balanced variant (as in Chemprop v1's ``scaffold_balanced``, with the
            threshold half the test size only): groups larger than half the test
            size (``test_fraction * n / 2``) are placed first, in random order, then the rest in random
            order; each goes to the first part (train, val, test) that still has room, otherwise to
            test. Different seeds give different splits; the same seed gives the same split.
    Returns:
        ``(train_idx, val_idx, test_idx)``: sorted ``int64`` numpy arrays of positions into ``smiles``
        (an empty part too); together they contain every position exactly once, and no scaffold
        appears in two parts. "Fits" means ≤: a part may be filled exactly to its capacity.
    Raises:
        ValueError: for bad fractions (not three numbers, a negative one, or a sum other than 1), or
            (naming it) a SMILES RDKit cannot parse.

    Hints:
        1. Idea: the unit you place is a scaffold *group*, never a molecule, so no scaffold can leak.
        2. Approach: map each scaffold to the list of positions that have it (first-appearance
           order), order the groups by the rule for the ``seed`` case, then place them one by one.
        3. Tricky details: for ties keep first appearance — sort by size with a stable sort, and do
           not reverse an ascending sort (that reverses the ties too). Draw the random orders from one
           NumPy generator made from ``seed``. ``np.array`` of an empty list is float64: give the
           dtype explicitly.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    if isinstance(smiles, str):
        raise ValueError("scaffold_split takes a sequence of SMILES, got a single string")
    smiles = list(smiles)
    raise NotImplementedError("Exercise 1.2: implement scaffold_split (see its docstring), then run mp.check(\"1.2\")")


# --------------------------------------------------------------------------------------- 1.3
def max_train_similarity(query_smiles: Sequence[str], train_smiles: Sequence[str], radius: int = 2,
                         n_bits: int = 2048) -> np.ndarray:
    """Nearest-neighbour Tanimoto similarity of each query molecule to a training set.

    With Morgan bit fingerprints :math:`a, b`, Tanimoto similarity is
    :math:`|a \\cap b| / |a \\cup b|` in [0, 1]; this returns, for each query, the maximum over the
    training molecules.

    Args:
        query_smiles: m SMILES strings (e.g. the test set).
        train_smiles: k >= 1 SMILES strings (the training set).
        radius, n_bits: Morgan fingerprint radius and length.
    Returns:
        (m,) ``float64`` numpy array in [0, 1] (shape (0,) when there is no query).
    Raises:
        ValueError: if ``train_smiles`` is empty, or (naming it) a query or training SMILES RDKit
            cannot parse.

    Hint:
        1. Idea: fingerprint every molecule once, then each query needs one row of similarities.
        2. Approach: look for RDKit's Morgan fingerprint machinery and for a way to compare one
           fingerprint with many at once, rather than writing a Python double loop.
        3. Tricky detail: compare each query with the training molecules only (never with itself or
           the other queries), and honour ``radius`` and ``n_bits``.
    """
    if isinstance(query_smiles, str) or isinstance(train_smiles, str):
        raise ValueError("pass sequences of SMILES, not single strings")
    query_smiles, train_smiles = list(query_smiles), list(train_smiles)
    if len(train_smiles) == 0:
        raise ValueError("train_smiles is empty: a nearest neighbour needs at least one training molecule")
    raise NotImplementedError("Exercise 1.3: implement max_train_similarity (see its docstring), then run mp.check(\"1.3\")")


# --------------------------------------------------------------------------------------- 1.4
def _one_hot(value, choices) -> list[float]:
    """One-hot of ``value`` over ``choices`` plus a final "other" slot (always exactly one 1)."""
    vec = [0.0] * (len(choices) + 1)
    vec[choices.index(value) if value in choices else len(choices)] = 1.0
    return vec


def mol_to_graph(smiles: str, y: float | None = None):
    """A molecule as a PyTorch Geometric graph: atoms are nodes, bonds are edges in both directions.

    Args:
        smiles: one SMILES string (hydrogens stay implicit: they are counted in ``num_hs``).
        y: optional target (e.g. logS in log10 mol/L); stored as ``data.y`` of shape (1,), float32.
    Returns:
        ``torch_geometric.data.Data`` with
          * ``x``: (num_atoms, NUM_ATOM_FEATURES) float32 — blocks in ``ATOM_FEATURE_BLOCKS`` order:
            one-hot element (``ELEMENTS`` + other), one-hot degree (``DEGREES`` + other; degree = number
            of explicit heavy-atom neighbours, hydrogens excluded), one-hot formal
            charge (``FORMAL_CHARGES`` + other), aromatic (0/1), one-hot total H count (``NUM_HS`` +
            other), one-hot hybridisation (``HYBRIDIZATIONS`` + other), in a ring (0/1);
          * ``edge_index``: (2, 2 * num_bonds) int64 — bond i-j appears as i→j and j→i;
          * ``edge_attr``: (2 * num_bonds, NUM_BOND_FEATURES) float32 — one-hot bond type
            (``BOND_TYPES`` + other), conjugated (0/1), in a ring (0/1); row k describes column k of
            ``edge_index``;
          * ``smiles``: the input string; ``y`` only if given (no ``y`` attribute, or ``None``, otherwise).
        A molecule without bonds gets ``edge_index`` of shape (2, 0) and ``edge_attr`` (0, NUM_BOND_FEATURES).
    Raises:
        ValueError: naming ``smiles`` if RDKit cannot parse it.

    Hints:
        1. Idea: one feature row per atom and one per *directed* edge, each built from RDKit's own
           per-atom and per-bond properties.
        2. Approach: loop over the atoms and concatenate one block per feature (the given
           ``_one_hot`` adds the "other" slot); loop over the bonds and append each bond twice, once
           per direction, with its features twice.
        3. Tricky details: degree counts heavy-atom neighbours only (not the "total" degree with
           hydrogens); hybridisation and bond type must be compared as strings (``str(...)`` of
           RDKit's enum); keep row k of ``edge_attr`` paired with column k of ``edge_index``; reshape
           so that bond-free molecules still get (2, 0) and (0, NUM_BOND_FEATURES).
    """
    mol = _parse(smiles)
    raise NotImplementedError("Exercise 1.4: implement mol_to_graph (see its docstring), then run mp.check(\"1.4\")")


# --------------------------------------------------------------------------------------- 1.5
class SolubilityGNN(nn.Module):
    """Message-passing regressor: GINE layers → sum+mean pooling (+ descriptors) → MLP → one number.

    Required (checked): the constructor arguments are honoured (``hidden``, ``num_layers``,
    ``dropout`` in the head — active in ``train()``, off in ``eval()`` —, ``num_descriptors``,
    ``out_dim``), messages pass along ``edge_index`` and depend on ``edge_attr``, the output does not
    depend on the atom order, and a single graph without ``batch`` works; outputs are finite; every
    parameter receives a gradient from a training forward/backward pass (no unused layers); and the
    model learns: with ``hidden=32, num_layers=2``, 40 Adam steps (lr 3e-3, train mode) on one batch of 8
    molecules with standardised targets at least halve the training MSE. The layer types below are
    the reference design, not a requirement. Node update of layer l (PyTorch Geometric's ``GINEConv``, a
    modified form of Hu et al. 2020's edge-aware GIN), with this chapter's BN and residual connection:

    .. math:: h_v^{l+1} = h_v^l + \\mathrm{ReLU}\\Big(\\mathrm{BN}\\big(\\mathrm{MLP}\\big((1+\\epsilon) h_v^l
              + \\sum_{u \\in N(v)} \\mathrm{ReLU}(h_u^l + W e_{uv})\\big)\\big)\\Big)

    Args:
        num_atom_features, num_bond_features: input widths (``NUM_ATOM_FEATURES``, ``NUM_BOND_FEATURES``).
        hidden: width of node states and of the head.
        num_layers: message-passing rounds (each widens the receptive field by one bond).
        dropout: dropout probability in the head.
        num_descriptors: number of global descriptors read from ``data.descriptors`` (num_graphs, d)
            and concatenated to the pooled vector; 0 = graph only.
        out_dim: 1 for a plain regressor; 2 for a mean-variance head (chapter 3).
    Forward:
        ``data``: a ``torch_geometric`` ``Batch`` (or single ``Data``) with ``x``, ``edge_index``,
        ``edge_attr``, ``batch`` (optional for a single graph). Returns (num_graphs,) when
        ``out_dim == 1``, else (num_graphs, out_dim). The output does not depend on the atom order.

    Hints:
        1. Idea: embed atoms to ``hidden`` channels, let several message-passing rounds mix
           neighbours (bond features included), pool the nodes of each graph into one vector, and
           regress from that vector.
        2. Approach: PyTorch Geometric has a GIN layer variant that accepts edge features, and
           per-graph pooling functions that take the ``batch`` vector; keep the layers in
           ``nn.ModuleList``s so their parameters are registered.
        3. Tricky details: use the ``batch`` and ``num_graphs`` computed for you at the top of
           ``forward`` (``data.batch`` is None for a single graph); put dropout in the head as a
           module so ``eval()`` turns it off; squeeze the last dimension only when ``out_dim == 1``.
    """

    def __init__(self, num_atom_features: int = NUM_ATOM_FEATURES, num_bond_features: int = NUM_BOND_FEATURES,
                 hidden: int = 128, num_layers: int = 4, dropout: float = 0.2, num_descriptors: int = 0,
                 out_dim: int = 1):
        super().__init__()
        if hidden <= 0 or num_layers <= 0 or out_dim <= 0 or num_descriptors < 0:
            raise ValueError(f"need hidden, num_layers, out_dim > 0 and num_descriptors >= 0; got hidden={hidden}, "
                             f"num_layers={num_layers}, out_dim={out_dim}, num_descriptors={num_descriptors}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_descriptors, self.out_dim = num_descriptors, out_dim
        raise NotImplementedError("Exercise 1.5: implement SolubilityGNN.__init__ (see its docstring), then run mp.check(\"1.5\")")

    def forward(self, data) -> torch.Tensor:
        """(num_graphs,) predictions (or (num_graphs, out_dim)); see the class docstring."""
        batch = data.batch if getattr(data, "batch", None) is not None else \
            torch.zeros(data.x.shape[0], dtype=torch.long, device=data.x.device)
        num_graphs = int(data.num_graphs) if hasattr(data, "num_graphs") else int(batch.max()) + 1
        raise NotImplementedError("Exercise 1.5: implement SolubilityGNN.forward (see its docstring), then run mp.check(\"1.5\")")
