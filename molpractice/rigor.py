"""Research-rigor measurements: timing tables, bootstrap coverage and the leakage curve; calibration-test power,
temperature-scaling decisions and success-rate thresholds are in :mod:`molpractice.rigor_calibration`
(re-exported here).

Every function that runs exercise code receives the chapter module it uses (``mp.load_chapter(...)``):
``drills`` provides ``longest_window_at_most_k_distinct``, ``induced_subgraph_is_tree``,
``cluster_bootstrap_ci``, ``similarity_cluster_split``, ``calibration_test`` and
``success_rate_lower_bound`` (chapter 5); ``chapter1`` provides ``murcko_scaffold`` and ``scaffold_split``.
The run settings live in :data:`SETTINGS` (``SETTINGS.current()`` for the active mode).

==================================  ===========================================================
``smiles_token_stream``             SMILES characters of many molecules as one token stream.
``brute_force_window``              the O(n²) longest-window answer (all windows, no early stop).
``brute_force_is_tree``             induced-tree test that scans every edge per visited node, O(m·|E|).
``loglog_slope``                    least-squares slope of log time vs log n per implementation (1: O(n), 2: O(n²)).
``random_tree_instance``            a random tree on n nodes (edges, all nodes selected).
``settings_tables``                 run settings of several modules in one table, values as given (ints stay ints).
``timing_table``                    seconds per input size for several implementations, with 4× ratios.
``molecule_tree_checks``            induced-tree answers on RDKit molecular graphs vs RDKit's ring perception.
``iid_bootstrap_ci``                percentile bootstrap of the mean that resamples single values.
``family_coverage``                 coverage of i.i.d. vs cluster intervals with near-duplicate families.
``error_intervals``                 RMSE intervals of per-molecule errors under several groupings.
``tanimoto_matrix``                 all-pairs Morgan Tanimoto similarity (RDKit).
``butina_labels``                   Butina cluster label of every molecule.
``leakage_curve``                   test RMSE of a random forest vs the Butina threshold, plus random/scaffold.
``leakage_lines``                   printable lines of the leakage curve: each Butina split against random.
(calibration, lower bounds)         in :mod:`molpractice.rigor_calibration`, every public name re-exported here.
==================================  ===========================================================
"""
from __future__ import annotations

import gc
import math
import time
from typing import Callable, Mapping, Sequence

import numpy as np

from .rigor_settings import SETTINGS  # noqa: F401  (the run settings; one object, re-exported here)

NEAR_TANIMOTO = 0.6
"""One near-neighbour criterion for every split of the leakage curve (column ``nn ≥ 0.6``)."""

# --------------------------------------------------------------------------------------- coding drills


def smiles_token_stream(smiles: Sequence[str], n: int | None = None) -> list[str]:
    """The characters of ``smiles`` joined by ``"."`` into one stream, repeated/cut to ``n`` tokens."""
    text = ".".join(smiles)
    if not text:
        raise ValueError("no SMILES given")
    if n is None:
        return list(text)
    reps = -(-n // len(text))
    return list((text * reps)[:n])


def brute_force_window(tokens, k: int) -> int:
    """Longest window with at most ``k`` distinct tokens by checking every window: O(n²) time, no early stop."""
    tokens = list(tokens)
    best = 0
    for i in range(len(tokens)):
        seen = set()
        for j in range(i, len(tokens)):
            seen.add(tokens[j])
            if len(seen) <= k:
                best = max(best, j - i + 1)
    return best


def brute_force_is_tree(num_nodes: int, edges, mask) -> bool:
    """Induced-subgraph tree test that finds neighbours by scanning the whole edge list: O(m·|E|).

    ``mask`` is a sequence of bools (or an int bitmask); semantics as exercise 5.2.
    """
    if isinstance(mask, (int, np.integer)):
        selected = [bool((int(mask) >> i) & 1) for i in range(num_nodes)]
    else:
        selected = [bool(s) for s in mask]
    nodes = [i for i in range(num_nodes) if selected[i]]
    if not nodes:
        return False
    induced = [(u, v) for u, v in edges if selected[u] and selected[v]]
    if any(u == v for u, v in induced):
        return False
    if len({(min(u, v), max(u, v)) for u, v in induced}) != len(nodes) - 1:
        return False
    visited, frontier = {nodes[0]}, [nodes[0]]
    while frontier:
        node = frontier.pop()
        for u, v in induced:  # the whole edge list, for every visited node
            other = v if u == node else u if v == node else None
            if other is not None and other not in visited:
                visited.add(other)
                frontier.append(other)
    return len(visited) == len(nodes)


def random_tree_instance(n: int, seed: int = 0):
    """``(n, edges, mask)``: a random recursive tree (node i attached to a random earlier node), all selected."""
    rng = np.random.default_rng(seed)
    parent = (rng.random(n) * np.arange(n)).astype(np.int64)
    return n, [(i, int(parent[i])) for i in range(1, n)], [True] * n


def timing_table(functions: Mapping[str, Callable], make_args: Callable[[int], tuple], sizes: Sequence[int],
                 repeats: int = 3, max_n: Mapping[str, int] | None = None):
    """CPU seconds of this thread (fastest of ``repeats``, garbage collector paused) of every function on inputs of
    each size.

    Args:
        functions: name → callable; each is called as ``func(*make_args(n))``.
        make_args: builds the arguments for size n (not timed).
        sizes: input sizes, increasing.
        max_n: name → the largest size that function is timed on (larger: NaN), for slow brute force.
    Returns:
        DataFrame indexed by ``n`` with one ``<name> [s]`` column per function and one ``<name> ×`` column:
        time(n) / time(previous n) — about 2 per doubling for O(n), 4 for O(n²).
    Raises:
        ValueError: if two functions disagree on the same input (a timing table of wrong answers is useless).
    """
    import pandas as pd

    max_n = dict(max_n or {})
    rows = []
    for n in sizes:
        args = make_args(n)
        row, answers = {"n": n}, {}
        for name, func in functions.items():
            if n > max_n.get(name, math.inf):
                row[f"{name} [s]"] = float("nan")
                continue
            best = math.inf
            for _ in range(repeats):
                gc.collect()
                gc.disable()  # as timeit does: a collection triggered mid-run is not the algorithm's cost
                try:
                    t0 = time.thread_time()  # CPU time of this thread: other processes do not count
                    answers[name] = func(*args)
                    best = min(best, time.thread_time() - t0)
                finally:
                    gc.enable()
            row[f"{name} [s]"] = best
        if len({repr(bool(a)) if isinstance(a, (bool, np.bool_)) else repr(a) for a in answers.values()}) > 1:
            raise ValueError(f"n = {n}: the implementations disagree: {answers}")
        rows.append(row)
    table = pd.DataFrame(rows).set_index("n")
    for name in functions:
        col = table[f"{name} [s]"]
        table[f"{name} ×"] = col / col.shift(1)
    return table


def loglog_slope(table) -> dict:
    """Least-squares slope of log(seconds) against log(n) for every ``<name> [s]`` column of
    :func:`timing_table` (NaN with fewer than two timed sizes). Single doubling ratios are noisy on a shared
    machine; a slope over the whole range is not: about 1 for O(n), 2 for O(n²)."""
    n = np.log(np.asarray(table.index, dtype=float))
    out = {}
    for col in [c for c in table.columns if c.endswith(" [s]")]:
        t = table[col].to_numpy(dtype=float)
        ok = np.isfinite(t) & (t > 0)
        out[col[:-4]] = float(np.polyfit(n[ok], np.log(t[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")
    return out


def molecule_tree_checks(drills, smiles: Sequence[str]):
    """Exercise 5.2 on RDKit heavy-atom graphs.

    For every molecule: (a) all atoms selected — a tree exactly when RDKit's ring perception finds no ring and
    there is one fragment (the only check whose expected answer comes from RDKit's ring perception). For
    molecules with a ring, RDKit only *picks* the atoms of its first ring and the expected answer comes from
    counting bonds (a connected selection of m atoms is a tree iff m − 1 bonds join them): (b) the ring minus
    one atom — a path, hence a tree, unless a bond outside that ring joins two of them (a bridged cage);
    (c) the whole ring and (d) the ring plus one atom bonded to it — connected and containing the ring's cycle,
    so never trees (the negative controls: a function that always answers True fails them).
    Returns:
        DataFrame with one row per check: ``check``, ``molecules``, ``agree`` (count), ``trees`` (count).
    """
    import pandas as pd
    from rdkit import Chem

    names = {"whole": "(a) whole molecule (tree ⇔ RDKit: no ring, one fragment)",
             "minus": "(b) first ring minus one atom (tree ⇔ m − 1 bonds inside)",
             "ring": "(c) whole first ring (never a tree: m bonds inside)",
             "plus": "(d) first ring plus one bonded atom (never a tree: ≥ m bonds inside)"}
    counts = {k: [0, 0, 0] for k in names}

    def record(key, n, edges, keep, want):
        got = bool(drills.induced_subgraph_is_tree(n, edges, sum(1 << i for i in keep)))
        counts[key][0] += 1
        counts[key][1] += got == want
        counts[key][2] += got

    for smi in smiles:
        mol = Chem.MolFromSmiles(smi)
        n = mol.GetNumAtoms()
        edges = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
        record("whole", n, edges, range(n), mol.GetRingInfo().NumRings() == 0 and len(Chem.GetMolFrags(mol)) == 1)
        rings = mol.GetRingInfo().AtomRings()
        if not rings:
            continue
        ring = set(rings[0])
        outside = sorted({v for u, v in edges if u in ring and v not in ring}
                         | {u for u, v in edges if v in ring and u not in ring})
        selections = {"minus": set(rings[0][1:]), "ring": ring}
        if outside:
            selections["plus"] = ring | {outside[0]}
        for key, keep in selections.items():  # each selection is connected by construction
            inside = sum(u in keep and v in keep for u, v in edges)
            record(key, n, edges, keep, inside == len(keep) - 1)
    return pd.DataFrame([{"check": names[k], "molecules": c[0], "agree": c[1], "trees": c[2]}
                         for k, c in counts.items()])


# --------------------------------------------------------------------------------------- bootstrap


def iid_bootstrap_ci(values, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean that resamples single values (vectorised)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def settings_tables(settings: Mapping[str, object]):
    """One DataFrame of several :class:`~molpractice.runtime.RunSettings` (``{module name: SETTINGS}``): rows
    (module, setting), columns ``full``, ``fast``, ``meaning``; values keep their type (1000, not 1000.0)."""
    import pandas as pd

    frames = {}
    for name, s in settings.items():
        frames[name] = pd.DataFrame({"full": pd.Series(s.full, dtype=object),
                                     "fast": pd.Series({k: s.fast.get(k) for k in s.full}, dtype=object),
                                     "meaning": pd.Series({k: s.doc.get(k, "") for k in s.full}, dtype=object)})
    return pd.concat(frames)


def simulate_families(rng, n_families: int, family_size: int, between_sd: float = 1.0, within_sd: float = 0.3):
    """``(values, labels)``: ``n_families`` families of ``family_size`` near-duplicates, true mean 0.

    A family shares one effect ~ N(0, between_sd²); its members differ by N(0, within_sd²) noise — like
    per-molecule errors of an analogue series.
    """
    labels = np.repeat(np.arange(n_families), family_size)
    effect = rng.normal(0.0, between_sd, size=n_families)
    return effect[labels] + rng.normal(0.0, within_sd, size=labels.size), labels


def family_coverage(drills, family_sizes: Sequence[int] = (1, 3, 10), n_families: int = 40,
                    reps: int = 300, n_boot: int = 500, alpha: float = 0.05, seed: int = 0):
    """Coverage of the true mean by i.i.d. and cluster bootstrap intervals, per family size (a simulation of
    ``n_families`` equal families of near-duplicates; the notebook uses the analogue-series data instead).

    Returns:
        DataFrame with ``family size``, ``values``, ``method`` (``iid`` / ``cluster``), ``coverage`` (fraction
        of ``reps`` intervals containing 0), ``coverage low``/``high`` (95 % Clopper–Pearson interval of
        that fraction) and ``mean width``.
    """
    import pandas as pd
    from scipy import stats

    rng = np.random.default_rng(seed)
    rows = []
    for size in family_sizes:
        hits = {"iid": 0, "cluster": 0}
        widths = {"iid": 0.0, "cluster": 0.0}
        for _ in range(reps):
            values, labels = simulate_families(rng, n_families, size)
            s = int(rng.integers(1 << 31))
            for method, (low, high) in (("iid", iid_bootstrap_ci(values, n_boot, alpha, s)),
                                        ("cluster", drills.cluster_bootstrap_ci(values, labels, n_boot=n_boot,
                                                                                alpha=alpha, seed=s))):
                hits[method] += low <= 0.0 <= high
                widths[method] += (high - low) / reps
        for method in ("iid", "cluster"):
            ci = stats.binomtest(hits[method], reps).proportion_ci(method="exact")
            rows.append({"family size": size, "values": size * n_families, "method": method,
                         "coverage": hits[method] / reps, "coverage low": ci.low, "coverage high": ci.high,
                         "mean width": widths[method]})
    return pd.DataFrame(rows)


def error_intervals(drills, errors, groupings: Mapping[str, Sequence], n_boot: int | None = None, seed: int = 0):
    """RMSE of ``errors`` with a cluster-bootstrap interval for each grouping.

    The interval is computed on squared errors (statistic: mean) and square-rooted — exact for percentile
    intervals, since the square root is increasing.

    Args:
        errors: (n,) prediction errors.
        groupings: name → (n,) cluster labels; use ``np.arange(n)`` for the i.i.d. bootstrap.
    Returns:
        DataFrame with ``grouping``, ``groups``, ``rmse``, ``low``, ``high``, ``width``.
    """
    import pandas as pd

    n_boot = n_boot or SETTINGS.current().ci_boot
    sq = np.asarray(errors, dtype=np.float64) ** 2
    rows = []
    for name, labels in groupings.items():
        low, high = drills.cluster_bootstrap_ci(sq, labels, n_boot=n_boot, seed=seed)
        rows.append({"grouping": name, "groups": len(set(np.asarray(labels).tolist())), "rmse": math.sqrt(sq.mean()),
                     "low": math.sqrt(low), "high": math.sqrt(high), "width": math.sqrt(high) - math.sqrt(low)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------- leakage curve


def tanimoto_matrix(smiles: Sequence[str], radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """(n, n) Tanimoto similarity of Morgan bit fingerprints (RDKit), ones on the diagonal."""
    from rdkit import DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    from .chem import _mols

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    fps = [gen.GetFingerprint(m) for m in _mols(smiles)]
    return np.array([DataStructs.BulkTanimotoSimilarity(fp, fps) for fp in fps], dtype=np.float64)


def butina_labels(similarity: np.ndarray, threshold: float) -> np.ndarray:
    """Butina cluster number of every molecule (RDKit ``Butina.ClusterData`` on 1 − ``similarity``)."""
    from rdkit.ML.Cluster import Butina

    n = similarity.shape[0]
    labels = np.empty(n, dtype=np.int64)
    for k, cluster in enumerate(Butina.ClusterData(1.0 - similarity, n, threshold, isDistData=True)):
        labels[list(cluster)] = k
    return labels


def leakage_curve(drills, chapter1, smiles: Sequence[str], targets, thresholds: Sequence[float] | None = None,
                  n_trees: int | None = None, n_boot: int | None = None, seed: int = 0, similarity=None):
    """Test RMSE of a random forest on Morgan counts as the Butina split gets stricter, with random and scaffold
    splits for reference.

    Each row trains ``molpractice.solubility.fit_random_forest`` (seed ``seed``) on the train part (validation
    part unused) and scores the test part. The RMSE interval is a cluster bootstrap over near-duplicate
    groups (Butina clusters at ``SETTINGS.ci_threshold``) of the test molecules.

    Returns:
        DataFrame with ``split``, ``threshold`` (NaN for random/scaffold), ``n_train``, ``n_test``, ``rmse``,
        ``low``, ``high``, ``nn_similarity`` (mean over test molecules of the largest Tanimoto to train) and
        ``nn within cutoff`` (fraction of test molecules with a train molecule within the row's own Butina
        distance cutoff: Butina is not closed under similarity; NaN for random/scaffold — at a large cutoff this
        counts background similarity, not near-duplicates), ``nn ≥ 0.6`` (one criterion for every row: fraction
        of test molecules with a train molecule at Tanimoto ≥ ``NEAR_TANIMOTO``), and ``vs random`` (RMSE − the random split's)
        with its 95 % percentile interval ``vs random low``/``high`` (NaN on the random row): every split has a
        different test set, so each replicate resamples the two test sets independently, each by its own
        near-duplicate groups (conservative when the two sets share molecules, whose errors correlate).
    """
    import pandas as pd

    from . import chem, solubility, splits

    cfg = SETTINGS.current()
    thresholds = cfg.leakage_thresholds if thresholds is None else thresholds
    n_trees, n_boot = n_trees or cfg.rf_trees, n_boot or cfg.ci_boot
    smiles = list(smiles)
    y = np.asarray(targets, dtype=np.float64)
    X = chem.morgan_fingerprints(smiles, counts=True)
    sim = tanimoto_matrix(smiles) if similarity is None else similarity
    groups = butina_labels(sim, cfg.ci_threshold)
    parts = dict(splits.make_splits(smiles, chapter1))
    parts.update({f"butina {t:g}": drills.similarity_cluster_split(smiles, t) for t in thresholds})
    rows, boot = [], {}
    for k, (name, (train, _, test)) in enumerate(parts.items()):
        model = solubility.fit_random_forest(X[train], y[train], seed, n_estimators=n_trees)
        err = model.predict(X[test]) - y[test]
        boot[name] = np.sqrt(_cluster_mse_replicates(err ** 2, groups[test], n_boot, seed + 1000 * (k + 1)))
        low, high = drills.cluster_bootstrap_ci(err ** 2, groups[test], n_boot=n_boot, seed=seed)
        nn = sim[np.ix_(test, train)].max(axis=1)
        threshold = float(name.split()[1]) if name.startswith("butina") else float("nan")
        rows.append({"split": name, "threshold": threshold, "n_train": len(train), "n_test": len(test),
                     "rmse": float(np.sqrt(np.mean(err ** 2))), "low": math.sqrt(low), "high": math.sqrt(high),
                     "nn_similarity": float(nn.mean()),
                     "nn within cutoff": float(np.mean(1.0 - nn <= threshold)) if threshold == threshold
                     else float("nan"), "nn ≥ 0.6": float(np.mean(nn >= NEAR_TANIMOTO))})
    rnd_rmse = next(r["rmse"] for r in rows if r["split"] == "random")
    for row in rows:
        diff = boot[row["split"]] - boot["random"]
        low, high = np.quantile(diff, [0.025, 0.975]) if row["split"] != "random" else (np.nan, np.nan)
        row.update({"vs random": row["rmse"] - rnd_rmse if row["split"] != "random" else float("nan"),
                    "vs random low": float(low), "vs random high": float(high)})
    return pd.DataFrame(rows)


def _cluster_mse_replicates(sq, labels, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot,) cluster-bootstrap replicates of the mean of ``sq`` (whole groups of ``labels`` resampled)."""
    codes = np.unique(np.asarray(labels), return_inverse=True)[1].ravel()
    G = int(codes.max()) + 1
    sums, sizes = np.bincount(codes, weights=sq, minlength=G), np.bincount(codes, minlength=G).astype(float)
    w = np.random.default_rng(seed).multinomial(G, np.full(G, 1.0 / G), size=n_boot).astype(np.float64)
    return (w @ sums) / (w @ sizes)

def leakage_lines(leakage) -> list[str]:
    """Printable lines for :func:`leakage_curve`: the random and scaffold splits, then each Butina split with
    its interval and its RMSE difference from the random split with that difference's 95 % interval (the two
    test sets resampled independently): "above/below random's" only when that interval excludes 0, otherwise
    "no detectable difference"; a last line lists the cutoffs of each verdict."""
    lk = leakage.set_index("split")
    rnd, scf = lk.loc["random"], lk.loc["scaffold"]
    out = [f"random split: RMSE {rnd.rmse:.2f} [{rnd.low:.2f}, {rnd.high:.2f}], test-to-train Tanimoto "
           f"{rnd.nn_similarity:.2f}; scaffold split: RMSE {scf.rmse:.2f}, Tanimoto {scf.nn_similarity:.2f}"]
    verdicts = {}
    for _, r in leakage[leakage["split"].str.startswith("butina")].iterrows():
        lo, hi = r["vs random low"], r["vs random high"]
        verdict = "above random's" if lo > 0 else "below random's" if hi < 0 else "no detectable difference"
        out.append(f"Butina {r.threshold:.1f}: RMSE {r.rmse:.2f} [{r.low:.2f}, {r.high:.2f}]; minus random's "
                   f"{r['vs random']:+.2f} [{lo:+.2f}, {hi:+.2f}] ({verdict}), test-to-train Tanimoto "
                   f"{r.nn_similarity:.2f}, test molecules with a train neighbour within the split's own cutoff "
                   f"{r['nn within cutoff']:.0%}"
                   + (f", at Tanimoto ≥ {NEAR_TANIMOTO:g} {r['nn ≥ 0.6']:.0%}" if "nn ≥ 0.6" in r.index else ""))
        verdicts.setdefault(verdict, []).append(f"{r.threshold:g}")
    out.append("RMSE detectably above random's at Butina cutoffs: " + (", ".join(verdicts.get("above random's", []))
               or "none") + "; no detectable difference at: " + (", ".join(verdicts.get("no detectable difference", []))
                                                                  or "none"))
    return out


# calibration and lower bounds live in rigor_calibration (split by responsibility); re-exported here
from .rigor_calibration import (  # noqa: E402,F401
    LOGISTIC_C, SOLUBLE_LOGS, action_probability, bound_coverage, bound_coverage_lines, calibration_power,
    fit_temperature_to_probabilities, multiple_looks, real_classifier_check, real_classifier_lines, rejection_lines,
    simulate_outcomes, smallest_k_above, temperature_gain_on_test, temperature_scaling_cv, temperature_scaling_study)
