"""Novelty, scaffolds, diversity and memorisation of generated molecules against the training data (chapter 4,
second edition); the distributions of bonds, angles, distances and histograms are in
:mod:`molpractice.sample_distributions`, which re-exports every name here.

* Murcko-scaffold uniqueness and novelty, internal diversity as MOSES's IntDiv₁ (all pairs including i = j,
  Morgan r = 2, 1024 bits) and its difference between two sets on distinct SMILES, with a bootstrap 95 % interval
  (and a permutation test next to it);
* novelty by heavy-atom count of the samples next to the held-out data's novelty, both against the same rest of
  the data, with the unpaired difference per bin (the held-out novelty is ≈ 1 − the data's duplicate rate by
  construction and no null for chemical space, so the table prints no verdict: see :func:`novelty_by_size`);
* nearest-neighbour Tanimoto similarity of the samples next to the held-out data's against the same reference
  (:func:`nearest_neighbour_reference`, :func:`memorisation_line`: a description against the data's duplicate
  rate, not a memorisation test), and a one-line mode-collapse reading (:func:`collapse_line`).

The memorisation null (training vs held-out molecules hit by the training-length curve's models, by size), the
identical-neighbour share by size and the scaffold reference (held-out data vs the rest) are in
:mod:`molpractice.sample_memorisation`.

Every function takes canonical SMILES (without stereochemistry) or the tables of the functions above; nothing here
trains or samples.
"""
from __future__ import annotations

import numpy as np

from .plausibility import clopper_pearson

__all__ = ["scaffold_metrics", "internal_diversity", "diversity_difference", "novelty_by_size",
           "nearest_neighbour_reference", "memorisation_line", "collapse_line"]


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


def _jackknife_intdiv(sim) -> tuple[float, float]:
    """IntDiv₁ of the similarity matrix ``sim`` (n × n, n ≥ 2) and its delete-one jackknife standard error:
    leaving molecule i out removes its row and column, so the sum of the remaining (n − 1)² entries is
    S − 2·rowsum_i + sim_ii, and SE² = (n − 1)/n · Σ_i (θ₍₋ᵢ₎ − mean θ₍₋ᵢ₎)²."""
    n = len(sim)
    total, rows = float(sim.sum()), sim.sum(axis=1)
    loo = 1.0 - (total - 2.0 * rows + np.diag(sim)) / (n - 1) ** 2
    return 1.0 - total / n ** 2, float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))


def internal_diversity(smiles, radius: int = 2, n_bits: int = 1024) -> dict:
    """Internal diversity as MOSES computes IntDiv₁: 1 − the mean Tanimoto similarity over **all** ordered pairs
    (i, j) of ``smiles``, the diagonal i = j included (so a single molecule scores 0), Morgan radius 2, 1024 bits
    (repeats count). Returns ``{"value", "low", "high", "se", "n"}``: a normal 95 % interval from the delete-one
    jackknife standard error over molecules (Efron & Stein 1981; IntDiv₁ is a smooth function of a V-statistic, for
    which the jackknife variance is consistent). What it covers: the IntDiv₁ that sets of this size drawn from the
    same source score on average — the diagonal's share is 1/n, so the statistic's expectation depends on n, and sets
    are compared at equal sizes. (A simulation on the chapter's training molecules, independent draws of 100–400,
    gave coverage close to 95 % for that expectation; for the IntDiv₁ of the whole source it falls short.) A
    bootstrap over molecules is not used: a resample repeats molecules, every repeat adds pairs of similarity 1, so
    bootstrap values sit below the estimate. Fewer than 2 molecules: NaN."""
    n = len(smiles)
    if n < 2:
        return {"value": float("nan"), "low": float("nan"), "high": float("nan"), "se": float("nan"), "n": n}
    value, se = _jackknife_intdiv(_tanimoto_matrix(smiles, radius, n_bits))
    return {"value": value, "low": value - 1.959964 * se, "high": value + 1.959964 * se, "se": se, "n": n}


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
    secondary. When the two disagree, the primary verdict stands and the permutation p is reported next to it
    (:func:`collapse_line` prints both).

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


def _size(smiles: str) -> int:
    from rdkit import Chem

    return Chem.MolFromSmiles(smiles).GetNumHeavyAtoms()


def novelty_by_size(smiles, train_smiles, heldout_fraction: float = 0.2, seed: int = 0,
                    bins=((1, 5), (6, 6), (7, 7), (8, 8), (9, 9))):
    """Novelty by heavy-atom count, next to the data's own held-out novelty: a description, not a null, because
    the held-out entries were deduplicated with the rest (by isomeric SMILES) before the split, so a held-out
    molecule is non-novel only when its stereo-free SMILES recurs in the data — its novelty is, up to sampling, 1 −
    the data's within-bin duplicate rate (printed) — whatever a model does. It says what novelty a molecule *of the
    data* has at that size, not what novelty a model that does not memorise would reach.

    The training entries (as listed) are split at random: ``heldout_fraction`` of them held out, the rest the
    reference (the split of :func:`nearest_neighbour_reference` and
    :func:`molpractice.sample_memorisation.scaffold_reference`). Both sides face the **same reference**, the rest:
    the samples' distinct ``smiles`` (valid single-fragment) and the held-out entries' distinct SMILES, each counted
    novel when absent from the rest (a sample equal to a held-out molecule only is novel here, as a held-out
    molecule is; against all entries the samples would face more reference molecules than the held-out part does,
    which lowers their novelty for the reference's sake alone). ``data duplicate rate`` = share of the bin's
    training entries whose SMILES occurs in another entry. ``samples − held-out`` is the unpaired difference of the
    two novelty rates with Newcombe's hybrid score 95 % interval (``d_low``, ``d_high``;
    :func:`molpractice.plausibility.rate_difference`; NaN when a bin is empty) — a description of how far the
    samples are from the data's own novelty at that size, with the caveat above, not a memorisation test. Each
    bin's interval is a 95 % interval on its own, **uncorrected over the bins** (with the default five bins, one of
    them may exclude 0 by chance alone; a family-wise, Bonferroni reading would widen each to 1 − 0.05/5). The data are small molecules
    filtered from public solubility, FreeSolv and NCI sets (not QM9/GDB), so novelty against this few-hundred-molecule
    reference mostly measures how small that reference is. Each rate has a Clopper–Pearson 95 % interval. Returns a
    DataFrame, one row per bin of heavy-atom counts.
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
    counts = Counter(train)
    sizes = {x: _size(x) for x in set(train) | set(distinct)}
    rows = []
    for lo, hi in bins:
        s = [x for x in distinct if lo <= sizes[x] <= hi]
        h = [x for x in heldout if lo <= sizes[x] <= hi]
        entries = [x for x in train if lo <= sizes[x] <= hi]
        dup = sum(counts[x] > 1 for x in entries)
        ks, kh = sum(x not in rest for x in s), sum(x not in rest for x in h)
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
    """One line reading :func:`nearest_neighbour_reference`'s table against the memorisation criterion: the
    samples' share with nearest-neighbour similarity ≥ ``threshold`` (near-copies) and = 1 (identical
    fingerprints) against the same reference as the held-out data, next to the held-out data's, with
    Clopper–Pearson 95 % intervals, the unpaired difference samples − held-out of each share (Newcombe 95 %), and
    a verdict that says only what this reference can show: whether the samples repeat training molecules more
    often than the data repeats itself. The held-out part was deduplicated with the rest before the split, so its
    shares measure the data's duplicate rate; a model that learned the distribution and memorised nothing also
    exceeds them (few small molecules exist). It is no memorisation test: that is
    :func:`molpractice.sample_memorisation.memorisation_test` (training vs held-out molecules of one size)."""
    from .plausibility import rate_difference

    held, same = reference.iloc[0], reference.iloc[1]
    defined = min(int(same["n"]), int(held["n"])) > 0
    parts, above = [], []
    for label, col, lo, hi in ((f"≥ {threshold}", f"share ≥ {threshold}", "low", "high"),
                               ("= 1", "share = 1", "low 1", "high 1")):
        if not defined:
            diff = "not defined: no molecule on one side"
        else:
            g = rate_difference(round(same[col] * same["n"]), int(same["n"]), round(held[col] * held["n"]),
                                int(held["n"]))
            diff = f"{g['difference']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}], {g['verdict']}"
            if g["low"] > 0:
                above.append(label)
        parts.append(f"{label}: samples {same[col]:.3f} [{same[lo]:.3f}, {same[hi]:.3f}] vs held-out data "
                     f"{held[col]:.3f} [{held[lo]:.3f}, {held[hi]:.3f}] (samples − held-out {diff})")
    verdict = ("not defined" if not defined else
               f"detectably above the held-out data's share for {' and '.join(above)}: the samples repeat training "
               "molecules more often than the data repeats itself — a deduplicated held-out reference cannot tell "
               "memorisation from the small chemical space" if above else "no share detectably above the held-out "
               "data's at this sample size (which does not show that the samples repeat training molecules no more "
               "often than the data repeats itself) — a deduplicated held-out reference cannot tell memorisation from "
               "the small chemical space")
    return (f"nearest-neighbour similarity {'; '.join(parts)} (same reference: the rest of the data); verdict: "
            f"{verdict}")


def collapse_line(uniqueness: float, diversity: dict, histograms, aromatic_per_molecule: tuple,
                  intdiv: float | None = None) -> str:
    """One line on mode collapse: ``uniqueness`` (share of distinct valid samples), ``diversity``
    (:func:`diversity_difference`'s dict: samples − data), the ring-size row of
    :func:`molpractice.sample_distributions.histogram_distances`
    (``histograms``: TV, null 95th percentile, p) and ``aromatic_per_molecule`` = (samples, data) mean aromatic C:C
    bonds per valid molecule. The IntDiv verdict is the primary bootstrap interval's; when the interval touches 0 or
    the secondary permutation test disagrees with it, the line says so next to that one verdict. The line ends with a reading generated from the same values: collapse onto
    a few molecules (uniqueness below 0.90) or not, the diversity difference as a share of the samples' IntDiv₁
    (``intdiv``, when given) and whether the ring-size mix differs (p < 0.05)."""
    ring = histograms.set_index("histogram").loc["ring sizes (0 = acyclic)"]
    d = diversity
    disagree = (d["verdict"] == "no detectable difference") == (d["p"] < 0.05)
    touches = min(abs(d["low"]), abs(d["high"])) < 5e-4
    div = d["verdict"]
    if disagree or touches:   # one label: the primary verdict, with the secondary test next to it
        div = (f"{d['verdict']} by the primary bootstrap interval"
               + (f" (its end touches 0)" if touches else "")
               + (f"; the secondary permutation test gives p = {d['p']:.3f}, uncorrected" if disagree else ""))
    ring_differs = ring["p"] < 0.05
    reading = ["no collapse onto a few molecules (uniqueness ≥ 0.90)" if uniqueness >= 0.90 else
               "uniqueness below 0.90: some samples repeat — look for collapse"]
    if d["verdict"] in ("lower", "higher") and not (disagree or touches):
        share = f" ({abs(d['difference']) / intdiv:.1%} of the samples' IntDiv₁ {intdiv:.3f})" if intdiv else ""
        reading.append(f"internal diversity detectably {d['verdict']}, by {abs(d['difference']):.3f}{share}")
    else:
        reading.append(f"internal diversity: {div}")
    reading.append("the ring-size mix differs from the data's" if ring_differs else
                   "no detectable difference in ring sizes")
    return (f"uniqueness {uniqueness:.2f}; internal diversity samples − data {d['difference']:+.3f} "
            f"[{d['low']:+.3f}, {d['high']:+.3f}] (bootstrap 95 %, primary; permutation p = {d['p']:.3f}): {div}; ring "
            f"sizes {'differ from' if ring_differs else 'show no detectable difference to'} the data's (TV "
            f"{ring['TV samples vs data']:.3f} vs the null's 95th percentile "
            f"{ring['null 95th pct']:.3f}, p = {ring['p']:.3f}; aromatic C:C per valid molecule "
            f"{aromatic_per_molecule[0]:.2f} vs {aromatic_per_molecule[1]:.2f}). Reading: " + "; ".join(reading))
