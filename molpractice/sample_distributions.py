"""Distribution metrics of generated molecules against the training data (chapter 4, second edition).

MOSES (Polykovskiy et al. 2020) and GuacaMol (Brown et al. 2019) judge a generator by how close the
*distribution* of its samples is to the data's, not only by validity. Here, for heavy-atom 3D samples:

* per bond type (C–C, C=C, C:C aromatic, C–N, C–O, C=O, …): the bond-length distribution, its
  Wasserstein distance to the data's and the share of sample bonds outside the data's 1st–99th percentile
  range (Clopper–Pearson interval; the data itself scores 2 % by construction);
* per bond type also the W1 two random halves of the data reach, and the null of the sample W1: the 95th
  percentile of the W1 of random same-size data subsets against their complement, with a p-value (the reference a
  sample W1 is read against); W1 is hidden for types with fewer than 20 sample bonds;
* all intramolecular heavy-atom distances (the pairwise-distance histogram, valid samples or not): W1 against
  the data next to the data's half-vs-half W1;
* aromatic C:C bonds per molecule (samples vs data, bootstrap difference interval) and example SMILES with the
  ring sizes of their aromatic atoms;
* bond angles (all, and by central element);
* atom-type, heavy-atom-count and ring-size histograms: total variation distance (½ Σ|p − q|) next to the
  null distribution of the TV of random data subsets of the same size (95th percentile and a p-value);
* Murcko-scaffold uniqueness and novelty, internal diversity as MOSES's IntDiv₁ (all pairs including i = j,
  Morgan r = 2, 1024 bits) and its difference between two sets on distinct SMILES, with a bootstrap 95 % interval
  (and a permutation test next to it);
* novelty by heavy-atom count next to the held-out data's novelty (the held-out novelty is ≈ 1 by construction
  and no null for chemical space, so no difference or verdict is printed: see :func:`novelty_by_size`).

Every function takes canonical SMILES (without stereochemistry) and/or ``(z, pos)`` samples plus a
``perceive`` callable (the chapter's ``molecule_from_geometry``); nothing here trains or samples.
"""
from __future__ import annotations

import math

import numpy as np

from .plausibility import clopper_pearson

__all__ = ["bond_table", "angle_table", "bond_type_comparison", "tv_distance", "histogram_distances",
           "ring_sizes", "scaffold_metrics", "internal_diversity", "diversity_difference", "novelty_by_size",
           "pairwise_distances", "pairwise_distance_comparison", "subset_null", "aromatic_cc_counts", "aromatic_examples",
           "aromatic_summary", "nearest_neighbour_reference",
           "memorisation_line", "collapse_line"]

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


def population_note(bonds, single_fragment) -> str:
    """One line stating which samples a :func:`bond_table` covers (every valid sample, fragments included) against
    the plausibility table (single fragments only), with the aromatic C:C bonds in each. ``single_fragment``: one
    bool per sample (``plausibility(...)["rows"]["single fragment"]``)."""
    whole = np.asarray(single_fragment, dtype=bool)
    cc = bonds[bonds["type"] == "C:C"]
    return (f"populations: bond and angle tables = every valid sample, fragments included "
            f"({bonds['sample'].nunique()} samples with a bond); plausibility table = single fragments only. "
            f"Aromatic C:C bonds of the samples: {len(cc)}, {int(whole[cc['sample'].to_numpy(dtype=int)].sum())} of "
            f"them in single fragments")


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


def pooled_wasserstein(sample_values, data_values, value: str = "length", seed: int = 0) -> dict:
    """Wasserstein distance of all ``value`` entries pooled (e.g. every bond length), samples vs data, next to a
    data-vs-data reference: a random half of the data's molecules (column ``sample``) against the other half.
    Returns ``{"samples vs data": float, "data half vs half": float}``."""
    from scipy.stats import wasserstein_distance

    ids = np.unique(data_values["sample"])
    half = np.random.default_rng(seed).permutation(ids)[: len(ids) // 2]
    in_half = data_values["sample"].isin(half).to_numpy()
    ref = data_values[value].to_numpy()
    return {"samples vs data": float(wasserstein_distance(sample_values[value].to_numpy(), ref)),
            "data half vs half": float(wasserstein_distance(ref[in_half], ref[~in_half]))}


def _data_halves(data_values, seed: int):
    """Bool mask: the rows of a random half of the data's molecules (column ``sample``)."""
    ids = np.unique(data_values["sample"])
    half = np.random.default_rng(seed).permutation(ids)[: len(ids) // 2]
    return data_values["sample"].isin(half).to_numpy()


def bond_type_comparison(sample_bonds, data_bonds, column: str = "type", value: str = "length",
                         min_count: int = 20, min_samples: int = 20, seed: int = 0, n_null: int = 200):
    """Per group (bond type, or angle centre): counts, medians, Wasserstein distance sample vs data, its reference
    ``W1 data halves`` (a random half of the data's molecules against the other half, same group: the W1 two
    samples of the *same* distribution reach at the data's size; needs a ``sample`` column in ``data_bonds``) and
    the share of sample values outside the data's 1st–99th percentile range with its Clopper–Pearson 95 %
    interval. Groups with fewer than ``min_count`` data values are skipped; for groups with fewer than
    ``min_samples`` sample values the Wasserstein distance is not shown (NaN) and ``note`` says so (a W1 over a
    handful of values is noise). With a ``sample`` column in both tables, the null of the sample W1: ``n_null``
    random subsets of the data's molecules, as many as the samples with a value in the table, each against the
    rest of the data (its complement), per group; ``W1 null 95th pct`` is the W1 a same-size subset of the data
    itself exceeds 5 % of the time and ``p W1`` the share of null subsets at least as far as the samples (+1
    correction); NaN where the sample W1 is hidden, where there are not fewer sample molecules than data
    molecules, or without ids. Returns a DataFrame."""
    import pandas as pd
    from scipy.stats import wasserstein_distance

    for name, n in (("min_count", min_count), ("min_samples", min_samples)):
        if int(n) < 1:
            raise ValueError(f"{name} must be ≥ 1, got {n}")
    halves = _data_halves(data_bonds, seed) if "sample" in data_bonds else None
    null = {}
    if "sample" in data_bonds and "sample" in sample_bonds and int(n_null) > 0:
        ids = np.unique(data_bonds["sample"])
        n_s = int(sample_bonds["sample"].nunique())
        if 0 < n_s < len(ids):
            rng = np.random.default_rng(seed + 1)
            groups = {g: (v[value].to_numpy(), v["sample"].to_numpy()) for g, v in data_bonds.groupby(column)}
            for _ in range(int(n_null)):
                chosen = rng.choice(ids, n_s, replace=False)
                for g, (vals, owner) in groups.items():
                    inside = np.isin(owner, chosen)
                    if inside.any() and (~inside).any():
                        null.setdefault(g, []).append(wasserstein_distance(vals[inside], vals[~inside]))
    rows = []
    for group, ref in data_bonds.groupby(column)[value]:
        if len(ref) < min_count:
            continue
        got = sample_bonds.loc[sample_bonds[column] == group, value].to_numpy()
        lo, hi = np.percentile(ref, [1, 99])
        k = int(((got < lo) | (got > hi)).sum())
        low, high = clopper_pearson(k, len(got))
        few = len(got) < min_samples
        ref_w = np.nan
        if halves is not None:
            mask = halves[data_bonds.index.get_indexer(ref.index)]
            a, b = ref.to_numpy()[mask], ref.to_numpy()[~mask]
            ref_w = float(wasserstein_distance(a, b)) if len(a) and len(b) else np.nan
        w1 = float(wasserstein_distance(got, ref)) if len(got) and not few else np.nan
        nulls = np.asarray(null.get(group, []))
        shown = len(nulls) and w1 == w1
        rows.append({column: group, "n data": len(ref), "n samples": len(got),
                     "median data": float(np.median(ref)), "median samples": float(np.median(got)) if len(got) else np.nan,
                     "wasserstein": w1, "W1 data halves": ref_w,
                     "W1 null 95th pct": float(np.quantile(nulls, 0.95)) if shown else np.nan,
                     "p W1": float((1 + np.sum(nulls >= w1)) / (1 + len(nulls))) if shown else np.nan,
                     "outside data 1-99 %": k / len(got) if len(got) else np.nan, "low": low, "high": high,
                     "note": f"W1 hidden: < {min_samples} sample values" if few else ""})
    return pd.DataFrame(rows).sort_values("n data", ascending=False).reset_index(drop=True)


def pairwise_distances(samples):
    """Every intramolecular heavy-atom distance (all pairs i < j of each sample, bonded or not), for **every**
    sample, valid or not (the model's output, before any perception): DataFrame ``sample``, ``distance`` (Å).
    Raises ValueError naming ``samples`` when a position array is not (n, 3)."""
    import pandas as pd

    ids, dist = [], []
    for k, (z, pos) in enumerate(samples):
        x = np.asarray(pos.detach().double().cpu() if hasattr(pos, "detach") else pos, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 3 or len(x) != len(z):
            raise ValueError(f"samples[{k}]: positions must be ({len(z)}, 3), got {x.shape}")
        i, j = np.triu_indices(len(x), k=1)
        dist.append(np.linalg.norm(x[i] - x[j], axis=1))
        ids.append(np.full(len(i), k))
    return pd.DataFrame({"sample": np.concatenate(ids) if ids else np.zeros(0, int),
                         "distance": np.concatenate(dist) if dist else np.zeros(0)})


def subset_null(data_values, n_subset: int, observed: float, value: str = "distance", n_null: int = 200,
                seed: int = 1) -> dict:
    """The same-size data-subset null of a Wasserstein distance (as :func:`bond_type_comparison` computes per group):
    ``n_null`` random subsets of ``n_subset`` of the data's molecules (column ``sample``), drawn without
    replacement, each against the rest of the data (its complement, so a subset is never compared with itself).
    Returns ``{"null": array of the n_null W1, "95th pct": the W1 a same-size subset of the data itself exceeds 5 %
    of the time, "p": share of null subsets at least as far as ``observed`` (with the +1 correction), "n_null",
    "n_subset"}``. Raises ValueError unless 0 < ``n_subset`` < the data's molecule count and ``n_null`` ≥ 1."""
    from scipy.stats import wasserstein_distance

    ids = np.unique(data_values["sample"])
    if not 0 < int(n_subset) < len(ids):
        raise ValueError(f"n_subset must be in [1, {len(ids) - 1}] (the data has {len(ids)} molecules), got {n_subset}")
    if int(n_null) < 1:
        raise ValueError(f"n_null must be ≥ 1, got {n_null}")
    rng = np.random.default_rng(seed)
    vals, owner = data_values[value].to_numpy(), data_values["sample"].to_numpy()
    null = []
    for _ in range(int(n_null)):
        inside = np.isin(owner, rng.choice(ids, int(n_subset), replace=False))
        if inside.any() and (~inside).any():
            null.append(wasserstein_distance(vals[inside], vals[~inside]))
    null = np.asarray(null)
    return {"null": null, "95th pct": float(np.quantile(null, 0.95)),
            "p": float((1 + np.sum(null >= observed)) / (1 + len(null))), "n_null": len(null), "n_subset": int(n_subset)}


def pairwise_distance_comparison(samples, data_samples, seed: int = 0, n_null: int = 200) -> dict:
    """The pairwise-distance histogram comparison of the CURRICULUM: :func:`pairwise_distances` of samples and
    data, the Wasserstein distance between them, its half-vs-half reference (the data's molecules split in two
    random halves, :func:`pooled_wasserstein`) and its same-size data-subset null (:func:`subset_null`:
    ``n_null`` random subsets of as many data molecules as there are samples with ≥ 2 atoms, each against the rest
    of the data; the 95th percentile and p, as the per-type tables give; ``n_null=0`` skips it, and it is skipped
    when the samples are not fewer than the data's molecules). Returns ``{"samples": DataFrame, "data":
    DataFrame, "samples vs data": float, "data half vs half": float, "W1 null 95th pct": float or NaN, "p W1":
    float or NaN, "line": str}``."""
    s, d = pairwise_distances(samples), pairwise_distances(data_samples)
    if not len(s) or not len(d):
        raise ValueError("samples and data_samples must each hold a molecule with at least two atoms")
    w = pooled_wasserstein(s, d, value="distance", seed=seed)
    n_s, n_d = int(s["sample"].nunique()), int(d["sample"].nunique())
    null = subset_null(d, n_s, w["samples vs data"], n_null=n_null, seed=seed + 1) \
        if int(n_null) > 0 and n_s < n_d else None
    line = (f"all intramolecular heavy-atom distances ({len(s)} in {n_s} samples, valid or not; "
            f"{len(d)} in the data): W1 samples vs data {w['samples vs data']:.3f} Å; reference, data half vs half "
            f"{w['data half vs half']:.3f} Å")
    if null is not None:
        line += (f"; null, {null['n_null']} random subsets of {n_s} data molecules vs the rest: 95th percentile "
                 f"{null['95th pct']:.3f} Å, p = {null['p']:.3f}")
    return {"samples": s, "data": d, **w, "W1 null 95th pct": null["95th pct"] if null else float("nan"),
            "p W1": null["p"] if null else float("nan"), "line": line}


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


def histogram_distances(perceive, samples, data_samples, n_null: int = 500, seed: int = 0, n_boot=None):
    """TV distance of the atom-type, heavy-atom-count and ring-size histograms of the valid samples to the
    data's, next to a null: the TV of ``n_null`` random subsets of the data (as many molecules as valid
    samples, drawn without replacement) to the rest of the data (their complement, so a subset is never compared
    with molecules it contains; NaN when there are at least as many valid samples as data molecules). ``null 95th
    pct`` is the TV a same-size sample of the data itself exceeds 5 % of the time; ``p`` = share of null subsets at least as far as the samples (with
    the +1 correction). A TV above the 95th percentile is a detectable difference; below it, none is detectable
    at this sample size. (The heavy-atom counts of the samples are drawn from the data's histogram, so that
    row matches by construction: it checks only that the valid ones are not a biased subset.)
    Returns a DataFrame, one row per histogram. ``n_boot`` is accepted for compatibility and unused."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    s, d = _features(perceive, samples), _features(perceive, data_samples)
    getters = {"atom types": lambda f: [x for m in f for x in m[0]],
               "heavy-atom count (drawn from the data)": lambda f: [m[1] for m in f],
               "ring sizes (0 = acyclic)": lambda f: [x for m in f for x in (m[2] or [0])]}
    rows = []
    for name, get in getters.items():
        ref = get(d)
        value = tv_distance(get(s), ref)
        null = []
        for _ in range(n_null if len(s) < len(d) else 0):
            chosen = np.zeros(len(d), dtype=bool)
            chosen[rng.choice(len(d), len(s), replace=False)] = True
            null.append(tv_distance(get([m for m, c in zip(d, chosen) if c]),
                                    get([m for m, c in zip(d, chosen) if not c])))
        null = np.array(null)
        rows.append({"histogram": name, "TV samples vs data": value,
                     "null 95th pct": float(np.quantile(null, 0.95)) if len(null) else np.nan,
                     "p": float((1 + np.sum(null >= value)) / (1 + len(null))) if len(null) else np.nan,
                     "n valid samples": len(s)})
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


def _tanimoto_matrix(smiles, radius: int, n_bits: int):
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    fps = [gen.GetFingerprint(Chem.MolFromSmiles(x)) for x in smiles]
    return np.array([DataStructs.BulkTanimotoSimilarity(fp, fps) for fp in fps])


def _intdiv(sim) -> float:
    return float(1 - sim.mean())


def internal_diversity(smiles, n_boot: int = 200, seed: int = 0, radius: int = 2, n_bits: int = 1024) -> dict:
    """Internal diversity as MOSES computes IntDiv₁: 1 − the mean Tanimoto similarity over **all** ordered pairs
    (i, j) of ``smiles``, the diagonal i = j included (so a single molecule scores 0), Morgan radius 2, 1024 bits
    (repeats count). Returns ``{"value", "low", "high", "n"}`` with a bootstrap 95 % interval over molecules."""
    n = len(smiles)
    if n < 2:
        return {"value": float("nan"), "low": float("nan"), "high": float("nan"), "n": n}
    sim = _tanimoto_matrix(smiles, radius, n_bits)
    rng = np.random.default_rng(seed)
    boots = [_intdiv(sim[np.ix_(idx, idx)]) for idx in (rng.integers(0, n, n) for _ in range(n_boot))]
    return {"value": _intdiv(sim), "low": float(np.quantile(boots, 0.025)), "high": float(np.quantile(boots, 0.975)),
            "n": n}


def _intdiv_distinct_pairs(sim, idx) -> float:
    """IntDiv₁ of a bootstrap resample ``idx`` of distinct molecules whose pairs of copies of one molecule are
    left out of the off-diagonal mean (they would count as similarity 1 and pull IntDiv₁ down): 1 − (1/n + (n − 1)/n
    · mean similarity over ordered pairs of different molecules). Without repeats in ``idx`` it equals IntDiv₁."""
    n = len(idx)
    s = sim[np.ix_(idx, idx)]
    different = idx[:, None] != idx[None, :]
    off = s[different].mean() if different.any() else 1.0
    return float(1 - (1 / n + (n - 1) / n * off))


def diversity_difference(smiles_a, smiles_b, n_perm: int = 1000, seed: int = 0, radius: int = 2,
                         n_bits: int = 1024, distinct: bool = True, n_boot: int = 1000,
                         confidence: float = 0.95) -> dict:
    """IntDiv₁(a) − IntDiv₁(b) (as :func:`internal_diversity`) with a bootstrap interval and a permutation test.

    The primary result, fixed before looking, is the bootstrap interval (its ``verdict``); the permutation p is
    secondary. When the two disagree at the margin (an interval end at 0 and p near 0.05) read the result as
    borderline: no conclusion either way.

    With ``distinct`` (default) each list is first reduced to its distinct SMILES (repeats would lower IntDiv₁ for
    a reason that uniqueness already reports). Interval: percentile bootstrap at ``confidence``, each list resampled
    with replacement ``n_boot`` times, copies of one molecule kept out of the pair mean
    (:func:`_intdiv_distinct_pairs`); the verdict is "higher"/"lower" when the interval excludes 0, else "no
    detectable difference". Permutation test (kept next to it): the two lists are pooled and split at random into
    lists of the same sizes ``n_perm`` times; ``p`` = share of splits with a difference at least as large in
    absolute value (+1 correction). Returns ``{"difference", "low", "high", "p", "verdict", "n_a", "n_b",
    "distinct"}`` (``n_a``/``n_b`` = the sizes used)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if int(n_boot) < 1 or int(n_perm) < 1:
        raise ValueError(f"n_boot and n_perm must be ≥ 1, got n_boot={n_boot}, n_perm={n_perm}")
    a, b = list(smiles_a), list(smiles_b)
    if distinct:
        a, b = sorted(set(a)), sorted(set(b))
    if min(len(a), len(b)) < 2:
        return {"difference": float("nan"), "low": float("nan"), "high": float("nan"), "p": float("nan"),
                "verdict": "not defined (fewer than 2 molecules)", "n_a": len(a), "n_b": len(b), "distinct": distinct}
    pooled = a + b
    sim = _tanimoto_matrix(pooled, radius, n_bits)
    na = len(a)
    ia, ib = np.arange(na), np.arange(na, len(pooled))
    observed = _intdiv(sim[np.ix_(ia, ia)]) - _intdiv(sim[np.ix_(ib, ib)])
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_perm):
        perm = rng.permutation(len(pooled))
        pa, pb = perm[:na], perm[na:]
        hits += abs(_intdiv(sim[np.ix_(pa, pa)]) - _intdiv(sim[np.ix_(pb, pb)])) >= abs(observed) - 1e-12
    p = (1 + hits) / (1 + n_perm)
    boots = [_intdiv_distinct_pairs(sim, rng.choice(ia, len(ia))) - _intdiv_distinct_pairs(sim, rng.choice(ib, len(ib)))
             for _ in range(n_boot)]
    low, high = (float(q) for q in np.quantile(boots, [(1 - confidence) / 2, (1 + confidence) / 2]))
    verdict = "higher" if low > 0 else "lower" if high < 0 else "no detectable difference"
    return {"difference": observed, "low": low, "high": high, "p": float(p), "verdict": verdict, "n_a": na,
            "n_b": len(b), "distinct": distinct}


def aromatic_cc_counts(perceive, samples) -> np.ndarray:
    """Number of aromatic C:C bonds of each valid sample (samples the perception rejects are left out): int array."""
    return np.array([sum(b.GetIsAromatic() and b.GetBeginAtom().GetAtomicNum() == b.GetEndAtom().GetAtomicNum() == 6
                         for b in mol.GetBonds()) for _, mol, _ in _mols(perceive, samples)], dtype=int)


def aromatic_examples(perceive, samples, examples: int = 5) -> list[dict]:
    """Up to ``examples`` distinct valid samples with aromatic atoms (in sample order): ``smiles``, ``ring sizes``
    (sizes of the rings holding an aromatic atom, smallest first), ``smallest ring`` and ``hybridisation`` of the
    aromatic atoms (RDKit's, e.g. SP2)."""
    from rdkit import Chem

    if int(examples) < 0:
        raise ValueError(f"examples must be ≥ 0, got {examples}")
    out, seen = [], set()
    for _, mol, _ in _mols(perceive, samples):
        aromatic = {a.GetIdx() for a in mol.GetAtoms() if a.GetIsAromatic()}
        smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
        if not aromatic or smiles in seen or len(out) >= examples:
            continue
        seen.add(smiles)
        sizes = sorted(len(r) for r in mol.GetRingInfo().AtomRings() if aromatic & set(r))
        out.append({"smiles": smiles, "ring sizes": sizes, "smallest ring": sizes[0] if sizes else None,
                    "hybridisation": sorted({str(mol.GetAtomWithIdx(i).GetHybridization()) for i in aromatic})})
    return out


def _boot_mean(x, rng, n_boot):
    return np.array([x[rng.integers(0, len(x), len(x))].mean() for _ in range(n_boot)])


def aromatic_summary(perceive, samples, data_samples, n_boot: int = 1000, seed: int = 0, examples: int = 5,
                     label: str = "samples") -> list[str]:
    """Printable lines on aromatic bonds: aromatic C:C bonds per valid molecule (mean with a bootstrap 95 %
    interval over molecules) for ``samples`` and the data, their difference with its bootstrap 95 % interval and a
    verdict, the share of valid molecules with any aromatic atom (Clopper–Pearson), and a few sample SMILES with
    aromatic atoms with the sizes of their aromatic atoms' rings (:func:`aromatic_examples`)."""
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be ≥ 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    cs, cd = aromatic_cc_counts(perceive, samples), aromatic_cc_counts(perceive, data_samples)
    if not len(cs) or not len(cd):
        raise ValueError("samples and data_samples must each hold at least one valid molecule")
    bs, bd = _boot_mean(cs, rng, n_boot), _boot_mean(cd, rng, n_boot)
    diff = bs - bd
    lo, hi = np.quantile(diff, [0.025, 0.975])
    verdict = "higher" if lo > 0 else "lower" if hi < 0 else "no detectable difference"
    lines = [f"aromatic C:C bonds per valid molecule: {label} {cs.mean():.2f} [{np.quantile(bs, 0.025):.2f}, "
             f"{np.quantile(bs, 0.975):.2f}] (n = {len(cs)}), data {cd.mean():.2f} [{np.quantile(bd, 0.025):.2f}, "
             f"{np.quantile(bd, 0.975):.2f}] (n = {len(cd)}); {label} − data {cs.mean() - cd.mean():+.2f} "
             f"[{lo:+.2f}, {hi:+.2f}] ({verdict}; bootstrap 95 %)"]
    for name, c in ((label, cs), ("data", cd)):
        k = int((c > 0).sum())
        low, high = clopper_pearson(k, len(c))
        lines.append(f"{name}: valid molecules with an aromatic C:C bond {k}/{len(c)} = {k / len(c):.3f} "
                     f"[{low:.3f}, {high:.3f}]")
    ex = aromatic_examples(perceive, samples, examples)
    lines.append(f"{label} with aromatic atoms (first {len(ex)} distinct): " + ("; ".join(
        f"{e['smiles']} (aromatic atoms' rings {e['ring sizes']}, smallest {e['smallest ring']}, "
        f"{'/'.join(e['hybridisation'])})" for e in ex) or "none"))
    return lines


def _size(smiles: str) -> int:
    from rdkit import Chem

    return Chem.MolFromSmiles(smiles).GetNumHeavyAtoms()


def novelty_by_size(smiles, train_smiles, heldout_fraction: float = 0.2, seed: int = 0,
                    bins=((1, 5), (6, 6), (7, 7), (8, 8), (9, 9))):
    """Novelty by heavy-atom count, next to the data's own held-out novelty: a description, not a null, because
    the held-out entries were deduplicated with the rest (by isomeric SMILES) before the split, so a held-out
    molecule is non-novel only when its stereo-free SMILES recurs in the data — its novelty is, up to sampling, 1 −
    the data's within-bin duplicate rate (printed) — whatever a model does; and it is measured against fewer
    reference molecules than the samples are. It says what novelty a molecule *of the data* has at that size, not
    what novelty a model that does not memorise would reach.

    Samples: distinct ``smiles`` (valid single-fragment) against all ``train_smiles``. Held-out data: a random
    ``heldout_fraction`` of the training entries (as listed; their distinct SMILES) against the rest. ``data
    duplicate rate`` = share of the bin's training entries whose SMILES occurs in another entry. ``samples −
    held-out`` is the unpaired difference of the two novelty rates with Newcombe's hybrid score 95 % interval
    (``d_low``, ``d_high``; :func:`molpractice.plausibility.rate_difference`; NaN when a bin is empty) — a
    description of how far the samples are from the data's own novelty at that size, with the caveat above, not a
    memorisation test. The data are small molecules filtered from public solubility, FreeSolv and NCI sets (not
    QM9/GDB), so novelty against this few-hundred-molecule reference mostly measures how small that reference is.
    Each rate has a Clopper–Pearson 95 % interval. Returns a DataFrame, one row per bin of heavy-atom counts.
    """
    from collections import Counter

    import pandas as pd

    from .plausibility import rate_difference

    train = list(train_smiles)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(len(train), int(round(heldout_fraction * len(train))), replace=False).tolist())
    heldout = sorted({train[i] for i in held})
    rest = {train[i] for i in range(len(train)) if i not in held}
    distinct = sorted(set(smiles))
    train_set = set(train)
    counts = Counter(train)
    sizes = {x: _size(x) for x in set(train) | set(distinct)}
    rows = []
    for lo, hi in bins:
        s = [x for x in distinct if lo <= sizes[x] <= hi]
        h = [x for x in heldout if lo <= sizes[x] <= hi]
        entries = [x for x in train if lo <= sizes[x] <= hi]
        dup = sum(counts[x] > 1 for x in entries)
        ks, kh = sum(x not in train_set for x in s), sum(x not in rest for x in h)
        (sl, sh), (hl, hh) = clopper_pearson(ks, len(s)), clopper_pearson(kh, len(h))
        diff = rate_difference(ks, len(s), kh, len(h)) if s and h else {"difference": np.nan, "low": np.nan,
                                                                           "high": np.nan}
        rows.append({"heavy atoms": f"{lo}–{hi}" if lo != hi else str(lo), "n samples": len(s),
                     "novelty samples": ks / len(s) if s else np.nan, "s_low": sl, "s_high": sh,
                     "n held-out data": len(h), "novelty held-out data": kh / len(h) if h else np.nan,
                     "h_low": hl, "h_high": hh, "n data entries": len(entries),
                     "data duplicate rate": dup / len(entries) if entries else np.nan,
                     "samples − held-out": diff["difference"], "d_low": diff["low"], "d_high": diff["high"]})
    return pd.DataFrame(rows)


def nearest_neighbour_reference(smiles, train_smiles, heldout_fraction: float = 0.2, seed: int = 0,
                                threshold: float = 0.8, n_boot: int = 1000) -> "pd.DataFrame":
    """Nearest-neighbour Tanimoto similarity (Morgan r = 2, 2048 bits) of the samples next to the data's own.

    The training entries are split as in :func:`novelty_by_size` (same ``heldout_fraction`` and ``seed``): the
    held-out data's distinct SMILES against the rest are the reference — how close a new molecule from the data's
    own distribution comes to its nearest neighbour in a reference of this size. The samples' distinct ``smiles``
    are scored against the same rest (same reference size) and against all ``train_smiles``. Per row: ``n``,
    ``median`` with a percentile-bootstrap 95 % interval, the share with similarity ≥ ``threshold`` and the share
    = 1 (identical fingerprints), each with a Clopper–Pearson 95 % interval. Returns a DataFrame, one row per
    comparison."""
    import pandas as pd

    from .diffusion_metrics import nearest_train_similarity

    train = list(train_smiles)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(len(train), int(round(heldout_fraction * len(train))), replace=False).tolist())
    heldout = sorted({train[i] for i in held})
    rest = [train[i] for i in range(len(train)) if i not in held]
    distinct = sorted(set(smiles))
    boot = np.random.default_rng(seed + 1)
    rows = []
    for name, query, ref in ((f"held-out data vs the rest ({len(rest)})", heldout, rest),
                             (f"samples vs the same rest ({len(rest)})", distinct, rest),
                             (f"samples vs all training entries ({len(train)})", distinct, train)):
        sim = nearest_train_similarity(query, ref) if query else np.zeros(0)
        k_hi, k_one = int((sim >= threshold).sum()), int((sim >= 1 - 1e-9).sum())
        (hl, hh), (ol, oh) = clopper_pearson(k_hi, len(sim)), clopper_pearson(k_one, len(sim))
        meds = [np.median(boot.choice(sim, len(sim))) for _ in range(n_boot)] if len(sim) else [np.nan]
        rows.append({"comparison": name, "n": len(sim), "median": float(np.median(sim)) if len(sim) else np.nan,
                     "median low": float(np.quantile(meds, 0.025)), "median high": float(np.quantile(meds, 0.975)),
                     f"share ≥ {threshold}": k_hi / len(sim) if len(sim) else np.nan, "low": hl, "high": hh,
                     "share = 1": k_one / len(sim) if len(sim) else np.nan, "low 1": ol, "high 1": oh})
    return pd.DataFrame(rows)


def memorisation_line(reference, threshold: float = 0.8) -> str:
    """One line reading :func:`nearest_neighbour_reference`'s table: the samples' share with nearest-neighbour
    similarity ≥ ``threshold`` and = 1 against the same reference as the held-out data, next to the held-out
    data's, with Clopper–Pearson 95 % intervals, and the unpaired difference of the ≥ ``threshold`` shares
    (Newcombe 95 %)."""
    from .plausibility import rate_difference

    held, same = reference.iloc[0], reference.iloc[1]
    col = f"share ≥ {threshold}"
    if min(int(same["n"]), int(held["n"])) == 0:
        diff = "not defined: no molecule on one side"
    else:
        g = rate_difference(round(same[col] * same["n"]), int(same["n"]), round(held[col] * held["n"]), int(held["n"]))
        diff = f"{g['difference']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}], {g['verdict']}"
    return (f"nearest-neighbour similarity ≥ {threshold}: samples {same[col]:.3f} [{same['low']:.3f}, {same['high']:.3f}] "
            f"vs held-out data {held[col]:.3f} [{held['low']:.3f}, {held['high']:.3f}] (samples − held-out "
            f"{diff}); = 1: samples "
            f"{same['share = 1']:.3f} [{same['low 1']:.3f}, {same['high 1']:.3f}] vs held-out data "
            f"{held['share = 1']:.3f} [{held['low 1']:.3f}, {held['high 1']:.3f}] (same reference: the rest of the data)")


def collapse_line(uniqueness: float, diversity: dict, histograms, aromatic_per_molecule: tuple) -> str:
    """One line on mode collapse: ``uniqueness`` (share of distinct valid samples), ``diversity``
    (:func:`diversity_difference`'s dict: samples − data), the ring-size row of :func:`histogram_distances`
    (``histograms``: TV, null 95th percentile, p) and ``aromatic_per_molecule`` = (samples, data) mean aromatic C:C
    bonds per valid molecule. A borderline IntDiv result (interval touching 0, or interval and permutation test
    disagreeing) is called borderline."""
    ring = histograms.set_index("histogram").loc["ring sizes (0 = acyclic)"]
    d = diversity
    disagree = (d["verdict"] == "no detectable difference") == (d["p"] < 0.05)
    touches = min(abs(d["low"]), abs(d["high"])) < 5e-4
    div = "borderline, no conclusion either way" if disagree or touches else d["verdict"]
    return (f"uniqueness {uniqueness:.2f}; internal diversity samples − data {d['difference']:+.3f} "
            f"[{d['low']:+.3f}, {d['high']:+.3f}] (bootstrap 95 %, primary; permutation p = {d['p']:.3f}): {div}; ring "
            f"sizes differ from the data's (TV {ring['TV samples vs data']:.3f} vs the null's 95th percentile "
            f"{ring['null 95th pct']:.3f}, p = {ring['p']:.3f}; aromatic C:C per valid molecule "
            f"{aromatic_per_molecule[0]:.2f} vs {aromatic_per_molecule[1]:.2f})")
