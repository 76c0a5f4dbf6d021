"""Distribution metrics of generated molecules against the training data (chapter 4, second edition).

MOSES (Polykovskiy et al. 2020) and GuacaMol (Brown et al. 2019) judge a generator by how close the
*distribution* of its samples is to the data's, not only by validity. Here, for heavy-atom 3D samples:

* per bond type (C–C, C=C, C:C aromatic, C–N, C–O, C=O, …): the bond-length distribution, its
  Wasserstein distance to the data's and the share of sample bonds outside the data's 1st–99th percentile
  range (Clopper–Pearson interval; the data itself scores 2 % by construction);
* bond angles (all, and by central element);
* atom-type, heavy-atom-count and ring-size histograms: total variation distance (½ Σ|p − q|) with a
  bootstrap interval over sample molecules, next to the TV of a random subset of the data of the same size
  (a finite sample is never at TV 0);
* Murcko-scaffold uniqueness and novelty, internal diversity (mean pairwise Tanimoto distance, MOSES IntDiv₁);
* novelty by heavy-atom count next to a null baseline: the novelty of a held-out part of the data against
  the rest (small molecules are rarely novel in any sample).

Every function takes canonical SMILES (without stereochemistry) and/or ``(z, pos)`` samples plus a
``perceive`` callable (the chapter's ``molecule_from_geometry``); nothing here trains or samples.
"""
from __future__ import annotations

import math

import numpy as np

from .plausibility import clopper_pearson

__all__ = ["bond_table", "angle_table", "bond_type_comparison", "tv_distance", "histogram_distances",
           "ring_sizes", "scaffold_metrics", "internal_diversity", "novelty_by_size"]

_ORDER = {1.0: "–", 1.5: ":", 2.0: "=", 3.0: "#"}


def _mols(perceive, samples):
    from .diffusion_model import rdkit_quiet

    with rdkit_quiet():
        for k, (z, pos) in enumerate(samples):
            mol = perceive(z, pos)
            if mol is not None:
                yield k, mol, pos.detach().double().cpu().numpy()


def bond_table(perceive, samples):
    """One row per perceived bond of every valid sample: ``sample``, ``type`` (e.g. "C–C", "C:C", "C=O";
    elements sorted C, N, O, F), ``length`` (Å). Returns a DataFrame."""
    import pandas as pd

    rows = []
    for k, mol, pos in _mols(perceive, samples):
        for b in mol.GetBonds():
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            a, c = sorted((mol.GetAtomWithIdx(i).GetSymbol(), mol.GetAtomWithIdx(j).GetSymbol()),
                          key="CNOF".index)
            rows.append({"sample": k, "type": f"{a}{_ORDER[b.GetBondTypeAsDouble()]}{c}",
                         "length": float(np.linalg.norm(pos[i] - pos[j]))})
    return pd.DataFrame(rows, columns=["sample", "type", "length"])


def angle_table(perceive, samples):
    """One row per bond angle (two bonds sharing an atom) of every valid sample: ``sample``, ``centre``
    (element of the shared atom), ``angle`` (degrees). Returns a DataFrame."""
    import pandas as pd

    rows = []
    for k, mol, pos in _mols(perceive, samples):
        for atom in mol.GetAtoms():
            c = atom.GetIdx()
            nb = [a.GetIdx() for a in atom.GetNeighbors()]
            for x in range(len(nb)):
                for y in range(x + 1, len(nb)):
                    u, v = pos[nb[x]] - pos[c], pos[nb[y]] - pos[c]
                    cos = float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
                    rows.append({"sample": k, "centre": atom.GetSymbol(),
                                 "angle": math.degrees(math.acos(max(-1.0, min(1.0, cos))))})
    return pd.DataFrame(rows, columns=["sample", "centre", "angle"])


def bond_type_comparison(sample_bonds, data_bonds, column: str = "type", value: str = "length",
                         min_count: int = 20):
    """Per group (bond type, or angle centre): counts, medians, Wasserstein distance sample vs data and the
    share of sample values outside the data's 1st–99th percentile range with its Clopper–Pearson 95 %
    interval. Groups with fewer than ``min_count`` data values are skipped. Returns a DataFrame."""
    import pandas as pd
    from scipy.stats import wasserstein_distance

    rows = []
    for group, ref in data_bonds.groupby(column)[value]:
        if len(ref) < min_count:
            continue
        got = sample_bonds.loc[sample_bonds[column] == group, value].to_numpy()
        lo, hi = np.percentile(ref, [1, 99])
        k = int(((got < lo) | (got > hi)).sum())
        low, high = clopper_pearson(k, len(got))
        rows.append({column: group, "n data": len(ref), "n samples": len(got),
                     "median data": float(np.median(ref)), "median samples": float(np.median(got)) if len(got) else np.nan,
                     "wasserstein": float(wasserstein_distance(got, ref)) if len(got) else np.nan,
                     "outside data 1-99 %": k / len(got) if len(got) else np.nan, "low": low, "high": high})
    return pd.DataFrame(rows).sort_values("n data", ascending=False).reset_index(drop=True)


def tv_distance(a, b) -> float:
    """Total variation distance ½ Σ|p − q| between the empirical distributions of two lists of labels."""
    from collections import Counter

    ca, cb = Counter(a), Counter(b)
    na, nb = sum(ca.values()), sum(cb.values())
    if not na or not nb:
        return float("nan")
    return 0.5 * sum(abs(ca[k] / na - cb[k] / nb) for k in set(ca) | set(cb))


def ring_sizes(mol) -> list[int]:
    """Sizes of the smallest set of smallest rings of ``mol`` (empty for an acyclic molecule)."""
    return [len(r) for r in mol.GetRingInfo().AtomRings()]


def _features(perceive, samples):
    """Per valid sample: (atom symbols, heavy-atom count, ring sizes)."""
    out = []
    for _, mol, _ in _mols(perceive, samples):
        out.append(([a.GetSymbol() for a in mol.GetAtoms()], mol.GetNumAtoms(), ring_sizes(mol)))
    return out


def histogram_distances(perceive, samples, data_samples, n_boot: int = 500, seed: int = 0):
    """TV distance of the atom-type, heavy-atom-count and ring-size histograms of the valid samples to the
    data's, with a bootstrap 95 % interval (resampling sample molecules) and the TV of a random subset of
    the data of the same size (the finite-sample floor). Returns a DataFrame, one row per histogram."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    s, d = _features(perceive, samples), _features(perceive, data_samples)
    getters = {"atom types": lambda f: [x for m in f for x in m[0]],
               "heavy-atom count": lambda f: [m[1] for m in f],
               "ring sizes (0 = acyclic)": lambda f: [x for m in f for x in (m[2] or [0])]}
    rows = []
    for name, get in getters.items():
        ref = get(d)
        value = tv_distance(get(s), ref)
        boots = [tv_distance(get([s[i] for i in rng.integers(0, len(s), len(s))]), ref) for _ in range(n_boot)]
        floor = [tv_distance(get([d[i] for i in rng.choice(len(d), len(s), replace=False)]), ref)
                 for _ in range(50)]
        rows.append({"histogram": name, "TV samples vs data": value, "low": float(np.quantile(boots, 0.025)),
                     "high": float(np.quantile(boots, 0.975)),
                     "TV data subset of the same size (mean)": float(np.mean(floor))})
    return pd.DataFrame(rows)


def _scaffold(smiles: str) -> str:
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(smiles), includeChirality=False)


def scaffold_metrics(smiles, train_smiles) -> dict:
    """Murcko-scaffold metrics of valid single-fragment SMILES (one per sample; repeats kept).

    Returns a dict of rate dicts (``rate``, ``k``, ``n``, ``low``, ``high``, Clopper–Pearson 95 %):
    ``acyclic`` (share of molecules with no ring, i.e. an empty scaffold), ``scaffold uniqueness``
    (distinct non-empty scaffolds / molecules with a ring), ``scaffold novelty`` (distinct non-empty
    scaffolds not among the training scaffolds / distinct non-empty scaffolds).
    """
    train = {_scaffold(s) for s in train_smiles} - {""}
    scaffolds = [_scaffold(s) for s in smiles]
    ringed = [x for x in scaffolds if x]
    distinct = set(ringed)

    def rate(k, n):
        low, high = clopper_pearson(k, n)
        return {"rate": k / n if n else float("nan"), "k": k, "n": n, "low": low, "high": high}

    return {"acyclic": rate(len(scaffolds) - len(ringed), len(scaffolds)),
            "scaffold uniqueness": rate(len(distinct), len(ringed)),
            "scaffold novelty": rate(len(distinct - train), len(distinct))}


def internal_diversity(smiles, n_boot: int = 200, seed: int = 0, radius: int = 2, n_bits: int = 2048) -> dict:
    """MOSES IntDiv₁: mean Tanimoto distance (1 − similarity, Morgan radius 2) over all pairs of distinct
    positions in ``smiles`` (repeats count, as in MOSES). Returns ``{"value", "low", "high", "n"}`` with a
    bootstrap 95 % interval over molecules."""
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]
    n = len(fps)
    if n < 2:
        return {"value": float("nan"), "low": float("nan"), "high": float("nan"), "n": n}
    sim = np.array([DataStructs.BulkTanimotoSimilarity(fp, fps) for fp in fps])
    dist = 1 - sim
    off = ~np.eye(n, dtype=bool)
    value = float(dist[off].mean())
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        sub = dist[np.ix_(idx, idx)]
        mask = idx[:, None] != idx[None, :]
        boots.append(float(sub[mask].mean()) if mask.any() else float("nan"))
    return {"value": value, "low": float(np.nanquantile(boots, 0.025)), "high": float(np.nanquantile(boots, 0.975)),
            "n": n}


def _size(smiles: str) -> int:
    from rdkit import Chem

    return Chem.MolFromSmiles(smiles).GetNumHeavyAtoms()


def novelty_by_size(smiles, train_smiles, heldout_fraction: float = 0.2, seed: int = 0,
                    bins=((1, 5), (6, 6), (7, 7), (8, 8), (9, 9))):
    """Novelty by heavy-atom count, next to the data's own null baseline.

    Samples: distinct ``smiles`` (valid single-fragment) against all ``train_smiles``. Null baseline: a
    random ``heldout_fraction`` of the training entries (duplicates kept, as listed) against the rest. In a
    data set that lists distinct molecules this baseline is ≈ 1 by construction; it says how novel the data
    is against itself, not how large chemical space is at each size. Each rate has a Clopper–Pearson 95 %
    interval. Returns a DataFrame, one row per bin of heavy-atom counts.
    """
    import pandas as pd

    train = list(train_smiles)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(len(train), int(round(heldout_fraction * len(train))), replace=False).tolist())
    heldout = sorted({train[i] for i in held})
    rest = {train[i] for i in range(len(train)) if i not in held}
    distinct = sorted(set(smiles))
    train_set = set(train)
    rows = []
    for lo, hi in bins:
        s = [x for x in distinct if lo <= _size(x) <= hi]
        h = [x for x in heldout if lo <= _size(x) <= hi]
        ks, kh = sum(x not in train_set for x in s), sum(x not in rest for x in h)
        (sl, sh), (hl, hh) = clopper_pearson(ks, len(s)), clopper_pearson(kh, len(h))
        rows.append({"heavy atoms": f"{lo}–{hi}" if lo != hi else str(lo), "n samples": len(s),
                     "novelty samples": ks / len(s) if s else np.nan, "s_low": sl, "s_high": sh,
                     "n held-out data": len(h), "novelty held-out data": kh / len(h) if h else np.nan,
                     "h_low": hl, "h_high": hh})
    return pd.DataFrame(rows)
