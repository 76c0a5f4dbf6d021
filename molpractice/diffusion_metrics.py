"""Sample metrics of chapter 4: validity / connectivity / uniqueness / novelty with intervals, bond-perception
recovery on the data, the naive distance-table rule, bond-length and pair-distance samples, memorisation.
Importable from :mod:`molpractice.diffusion`.
"""
from __future__ import annotations

import math

import torch

from .diffusion_model import ELEMENTS, SYMBOLS, rdkit_quiet

__all__ = ['metrics', 'metrics_table', 'bond_recovery', 'EDM_SINGLE', 'EDM_DOUBLE', 'EDM_TRIPLE',
           'naive_molecule_from_geometry', 'bond_lengths', 'pairwise_distances', 'atom_type_frequencies',
           'wasserstein', 'nearest_train_similarity']

def metrics(chapter, samples, train_smiles, n_boot: int | None = None, seed: int = 0) -> dict:
    """``chapter.sample_metrics`` plus Clopper–Pearson 95 % intervals of its four rates (the chapter uses
    Clopper–Pearson for every rate, so the same count gets the same interval in every table; a percentile
    bootstrap would collapse to a point at 0 or 1).

    Denominators: validity and connected over all samples, uniqueness over the valid single-fragment samples
    (distinct / total: an approximation — repeats are not independent Bernoulli draws), novelty over the
    distinct SMILES. ``train_smiles`` must be canonical without stereochemistry (as :func:`molecule_data`
    gives). ``n_boot`` and ``seed`` are accepted for compatibility and unused. Returns the metrics dict with an
    extra ``"ci"``: ``{name: (low, high)}`` and ``"k"``: ``{name: (successes, trials)}``.
    """
    from .plausibility import clopper_pearson

    with rdkit_quiet():
        out = chapter.sample_metrics(samples, train_smiles)
    train = set(train_smiles)
    distinct = {s for s in out["smiles"] if s is not None and "." not in s}
    counts = {"validity": (out["n_valid"], out["n_samples"]), "connected": (out["n_connected"], out["n_samples"]),
              "uniqueness": (out["n_unique"], out["n_connected"]),
              "novelty": (len(distinct - train), len(distinct))}
    out["k"] = counts
    out["ci"] = {k: clopper_pearson(int(a), int(b)) for k, (a, b) in counts.items()}
    return out


def metrics_table(results: dict):
    """``{label: metrics dict (from :func:`metrics`)}`` → a DataFrame of the four fractions with their intervals."""
    import pandas as pd

    rows = []
    for label, m in results.items():
        row = {"samples": label, "n": m["n_samples"]}
        for k in ("validity", "connected", "uniqueness", "novelty"):
            lo, hi = m["ci"][k]
            row[k] = f"{m[k]:.3f}" + ("" if math.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]")
        rows.append(row)
    return pd.DataFrame(rows).set_index("samples")


def bond_recovery(perceive, data) -> dict:
    """Fraction of training molecules whose own geometry ``perceive`` turns back into their SMILES.

    Returns ``{"recovered": fraction, "n": len(data), "failures": [(smiles, got), ...]}``.
    """
    from rdkit import Chem

    failures = []
    with rdkit_quiet():
        for d in data:
            mol = perceive(d["z"], d["pos"])
            got = None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)
            if got != d["smiles"]:
                failures.append((d["smiles"], got))
    return {"recovered": 1 - len(failures) / len(data), "n": len(data), "failures": failures}


# EDM's reference bond lengths (Å) between heavy atoms, used by the naive rule below.
EDM_SINGLE = {(6, 6): 1.54, (6, 7): 1.47, (6, 8): 1.43, (6, 9): 1.35, (7, 7): 1.45, (7, 8): 1.40,
              (7, 9): 1.36, (8, 8): 1.48, (8, 9): 1.42, (9, 9): 1.42}


EDM_DOUBLE = {(6, 6): 1.34, (6, 7): 1.29, (6, 8): 1.20, (7, 7): 1.25, (7, 8): 1.21, (8, 8): 1.21}


EDM_TRIPLE = {(6, 6): 1.20, (6, 7): 1.16, (6, 8): 1.13, (7, 7): 1.10}


def naive_molecule_from_geometry(atomic_numbers, pos):
    """The naive distance-table rule with EDM's margins (Hoogeboom et al. 2022): order 1 if d < l₁ + 0.10 Å,
    2 if d < l₂ + 0.05 Å, 3 if d < l₃ + 0.03 Å, with no valence-aware choice of bond orders.
    Returns a sanitized Mol or None. The notebook shows it on the data to explain why the metric needs more."""
    from rdkit import Chem

    single, double, triple = EDM_SINGLE, EDM_DOUBLE, EDM_TRIPLE

    z = [int(a) for a in atomic_numbers]
    d = torch.cdist(pos.double(), pos.double())
    rw = Chem.RWMol()
    for a in z:
        rw.AddAtom(Chem.Atom(a))
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for i in range(len(z)):
        for j in range(i + 1, len(z)):
            key, x = (min(z[i], z[j]), max(z[i], z[j])), float(d[i, j])
            if x < single[key] + 0.10:
                order = 1
                if key in double and x < double[key] + 0.05:
                    order = 3 if key in triple and x < triple[key] + 0.03 else 2
                rw.AddBond(i, j, kinds[order])
    mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 — RDKit raises several types
        return None
    return mol


def bond_lengths(perceive, samples):
    """Lengths (Å, numpy) of the bonds ``perceive`` finds in every valid sample."""
    import numpy as np

    out = []
    with rdkit_quiet():
        for z, pos in samples:
            mol = perceive(z, pos)
            if mol is None:
                continue
            for b in mol.GetBonds():
                i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
                out.append(float((pos[i] - pos[j]).norm()))
    return np.array(out)


def pairwise_distances(samples):
    """Every intra-molecule heavy-atom distance (Å, numpy) of a list of ``(z, pos)``."""
    import numpy as np

    out = []
    for _, pos in samples:
        d = torch.cdist(pos.double(), pos.double())
        iu = torch.triu_indices(len(pos), len(pos), 1)
        out.append(d[iu[0], iu[1]].numpy())
    return np.concatenate(out) if out else np.zeros(0)


def atom_type_frequencies(samples) -> dict:
    """``{"C": share, "N": …}`` over all atoms of the samples."""

    z = torch.cat([s[0] for s in samples])
    return {SYMBOLS[e]: float((z == e).float().mean()) for e in ELEMENTS}


def wasserstein(a, b) -> float:
    """1-D Wasserstein (earth mover's) distance between two samples of numbers (scipy)."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(a, b))


def nearest_train_similarity(smiles, train_smiles, radius: int = 2, n_bits: int = 2048):
    """For each (valid) SMILES, the largest Morgan-fingerprint Tanimoto similarity to the training set."""
    import numpy as np
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    train_fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in train_smiles]
    out = []
    for s in smiles:
        fp = gen.GetFingerprint(Chem.MolFromSmiles(s))
        out.append(max(DataStructs.BulkTanimotoSimilarity(fp, train_fps)))
    return np.array(out)
