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
* Murcko-scaffold uniqueness and novelty, internal diversity (MOSES's IntDiv₁) and its difference between two
  sets, novelty by heavy-atom count, the nearest-neighbour memorisation reference and the mode-collapse line live
  in :mod:`molpractice.sample_novelty` and are re-exported here (``sample_distributions.scaffold_metrics`` …).

Every function takes canonical SMILES (without stereochemistry) and/or ``(z, pos)`` samples plus a
``perceive`` callable (the chapter's ``molecule_from_geometry``); nothing here trains or samples.
"""
from __future__ import annotations

import math

import numpy as np

from .plausibility import clopper_pearson, rate_difference
from .sample_novelty import (collapse_line, diversity_difference, internal_diversity, memorisation_line,  # noqa: F401
                             nearest_neighbour_reference, novelty_by_size, scaffold_metrics)

__all__ = ["bond_table", "angle_table", "bond_type_comparison", "tv_distance", "histogram_distances",
           "ring_sizes", "scaffold_metrics", "internal_diversity", "diversity_difference", "novelty_by_size",
           "pairwise_distances", "pairwise_distance_comparison", "subset_null", "aromatic_cc_counts", "aromatic_examples",
           "aromatic_summary", "nearest_neighbour_reference", "ring_size_table", "ring_size_reading",
           "memorisation_line", "collapse_line", "duplicate_line"]  # the novelty/scaffold/diversity names live in sample_novelty

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
                         min_count: int = 20, min_samples: int = 20, seed: int = 0, n_null: int = 200,
                         far_from_median: float | None = None):
    """Per group (bond type, or angle centre): counts, medians, Wasserstein distance sample vs data, its reference
    ``W1 data halves`` (a random half of the data's molecules against the other half, same group: the W1 two
    samples of the *same* distribution reach at the data's size; needs a ``sample`` column in ``data_bonds``) and
    the share of sample values outside the data's 1st–99th percentile range with its Clopper–Pearson 95 %
    interval; ``data 1-99 % width`` is that band's width (in the value's unit: Å for bond lengths — narrow for
    MMFF-minimised data, so the share outside it measures the distance from a force-field minimum, not physical
    implausibility), and the physically scaled share ``|d − data median| > far_from_median`` (default 0.05, in
    the same unit; only for ``value="length"`` unless given) of sample values further than that from the data's median, with its Clopper–Pearson 95 %
    interval in ``far low`` / ``far high``. Groups with fewer than ``min_count`` data values are skipped; for groups with fewer than
    ``min_samples`` sample values the Wasserstein distance is not shown (NaN) and ``note`` says so (a W1 over a
    handful of values is noise). With a ``sample`` column in both tables, the null of the sample W1: ``n_null``
    random subsets of the data's molecules, as many as the samples with a value in the table, each against the
    rest of the data (its complement), per group; ``W1 null 95th pct`` is the W1 a same-size subset of the data
    itself exceeds 5 % of the time and ``p W1`` the share of null subsets at least as far as the samples (+1
    correction); NaN where the sample W1 is hidden, where there are not fewer sample molecules than data
    molecules, or without ids. Returns a DataFrame."""
    import pandas as pd
    from scipy.stats import wasserstein_distance

    if far_from_median is None and value == "length":
        far_from_median = 0.05  # Å
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
        if far_from_median is not None:
            far = int((np.abs(got - np.median(ref)) > far_from_median).sum())
            far_low, far_high = clopper_pearson(far, len(got))
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
                     "data 1-99 % width": float(hi - lo),
                     "note": f"W1 hidden: < {min_samples} sample values" if few else ""})
        if far_from_median is not None:
            rows[-1].update({f"|d − data median| > {far_from_median:g}": far / len(got) if len(got) else np.nan,
                             "far low": far_low, "far high": far_high})
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


def ring_size_table(perceive, samples, data_samples, sizes=(3, 4, 5, 6, 7), n_boot: int = 1000, seed: int = 0):
    """Which ring sizes the samples over- or under-produce: rings of each size per valid molecule (smallest set of
    smallest rings, :func:`ring_sizes`) for the samples and the data, each with a percentile bootstrap 95 % interval
    over molecules, and samples − data with the interval of the difference (independent bootstraps of the two
    sets) and its verdict ("higher" / "lower" when that interval excludes 0, else "no detectable difference").
    The direction behind the ring-size TV of :func:`histogram_distances`. Returns a DataFrame, one row per size."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    sets = {k: [f[2] for f in _features(perceive, v)] for k, v in (("samples", samples), ("data", data_samples))}
    if not sets["samples"] or not sets["data"]:
        raise ValueError("need at least one valid sample and one valid data molecule")
    rows = []
    for size in sizes:
        x, y = (np.array([r.count(size) for r in sets[k]], dtype=float) for k in ("samples", "data"))
        bx, by = _boot_mean(x, rng, n_boot), _boot_mean(y, rng, n_boot)
        d_lo, d_hi = np.percentile(bx - by, [2.5, 97.5])
        rows.append({"ring size": size, "per molecule, samples": x.mean(), "s_low": np.percentile(bx, 2.5),
                     "s_high": np.percentile(bx, 97.5), "per molecule, data": y.mean(), "d_low": np.percentile(by, 2.5),
                     "d_high": np.percentile(by, 97.5), "samples − data": x.mean() - y.mean(), "low": d_lo, "high": d_hi,
                     "verdict": "higher" if d_lo > 0 else "lower" if d_hi < 0 else "no detectable difference"})
    return pd.DataFrame(rows)


def ring_size_reading(table) -> str:
    """One clause from :func:`ring_size_table`: the sizes the samples make more and fewer of, per valid molecule."""
    def part(word, rows):
        return ", ".join(f"{int(r['ring size'])}-rings {r['per molecule, samples']:.2f} vs {r['per molecule, data']:.2f} "
                         f"per molecule" for _, r in rows.iterrows()) + f" ({word})" if len(rows) else ""
    over, under = table[table.verdict == "higher"], table[table.verdict == "lower"]
    parts = [p for p in (part("more than the data", over), part("fewer than the data", under)) if p]
    return "; ".join(parts) if parts else "no ring size detectably over- or under-produced"


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
    verdict, the share of valid molecules with any aromatic C:C bond (Clopper–Pearson) and its unpaired difference
    samples − data (Newcombe 95 %, :func:`molpractice.plausibility.rate_difference`), and a few sample SMILES with
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
    g = rate_difference(int((cs > 0).sum()), len(cs), int((cd > 0).sum()), len(cd))
    lines.append(f"valid molecules with an aromatic C:C bond, {label} − data {g['difference']:+.3f} "
                 f"[{g['low']:+.3f}, {g['high']:+.3f}] ({g['verdict']}; unpaired, Newcombe 95 %)")
    sizes = _aromatic_ring_sizes(perceive, samples)
    lines.append(f"{label}: aromatic atoms by the size of their smallest ring " + (", ".join(
        f"{k}-ring {v}" for k, v in sorted(sizes["atoms"].items())) or "none") + f"; valid molecules with an aromatic "
        f"atom in a 3-ring {sizes['with_3ring']} of {sizes['n_valid']}")
    ex = aromatic_examples(perceive, samples, examples)
    lines.append(f"{label} with aromatic atoms (first {len(ex)} distinct): " + ("; ".join(
        f"{e['smiles']} (aromatic atoms' rings {e['ring sizes']}, smallest {e['smallest ring']}, "
        f"{'/'.join(e['hybridisation'])})" for e in ex) or "none"))
    return lines


def _aromatic_ring_sizes(perceive, samples) -> dict:
    """Counts over the valid molecules of ``samples``: ``atoms`` = {smallest ring size: aromatic atoms},
    ``with_3ring`` = molecules with an aromatic atom whose smallest ring has 3 atoms, ``n_valid``."""
    from collections import Counter

    atoms, with3, n = Counter(), 0, 0
    for _, mol, _ in _mols(perceive, samples):
        n += 1
        ri = mol.GetRingInfo()
        sizes = [min((len(r) for r in ri.AtomRings() if a.GetIdx() in r), default=0)
                 for a in mol.GetAtoms() if a.GetIsAromatic()]
        atoms.update(sizes)
        with3 += 3 in sizes
    return {"atoms": dict(atoms), "with_3ring": with3, "n_valid": n}


def duplicate_line(smiles) -> str:
    """One line on repeated SMILES in a list (e.g. the training set's stereo-free canonical SMILES): how many
    entries repeat the SMILES of an earlier entry (``len − distinct``), and how many entries sit in groups that
    share one SMILES, in how many groups."""
    from collections import Counter

    smiles = list(smiles)
    groups = [n for n in Counter(smiles).values() if n > 1]
    return (f"{len(smiles) - len(set(smiles))} entries repeat the SMILES of an earlier entry ({sum(groups)} entries "
            f"in {len(groups)} groups share one SMILES)")
