"""What the analogue-series data (:mod:`molpractice.families`) shows: interval coverage with real model errors,
and the leakage curve with a fixed test set.

==================================  ===========================================================
``similarity_to``                   Morgan-bit Tanimoto of every query molecule to every reference molecule.
``max_similarity``                  each reference molecule's largest Tanimoto to a query set (RDKit).
``fit_ridge``                       ridge regression on fingerprint counts (fixed alpha, not tuned).
``coverage_on_families``            i.i.d. vs cluster bootstrap coverage of a model's true test MSE.
``leakage_test_split``              fixed test set: half of each test family; its siblings stay in the pool.
``fixed_test_leakage_curve``        test RMSE vs the train–test similarity cutoff, same training size.
``sibling_similarity``              Tanimoto of every pair of molecules in the same family.
``coverage_lines``                  printable lines of the coverage study, with its finite population.
``sibling_summary``                 one printable line: quartiles and high-similarity shares of those pairs.
``fixed_curve_lines``               printable lines: the fixed test split, the training size, Holm's verdicts.
==================================  ===========================================================

The model everywhere is :func:`fit_ridge` (alpha ``RIDGE_ALPHA``, fixed before any of these runs and never
tuned: no split chose it) on Morgan count fingerprints (radius 2, 2048 bits). Run settings: :data:`SETTINGS`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .runtime import RunSettings

RIDGE_ALPHA = 3.0
TEST_FRACTION = 0.25
"""Share of the eligible families whose molecules are split between the fixed test set and the pool."""
TEST_MIN_SIZE = 4
"""Smallest family eligible for the fixed test set (half goes to test, half stays as siblings)."""

SETTINGS = RunSettings(
    full=dict(fam_test_families=(10, 30), fam_reps=200, fam_boot=400,
              leak_cutoffs=(1.0, 0.8, 0.7, 0.6, 0.5, 0.4), leak_subsamples=5, leak_boot=1000),
    fast=dict(fam_test_families=(30,), fam_reps=60, fam_boot=200,
              leak_cutoffs=(1.0, 0.6, 0.4), leak_subsamples=2, leak_boot=300),
    doc=dict(fam_test_families="families per sampled test set in the coverage study",
             fam_reps="sampled test sets per size (coverage study)", fam_boot="bootstrap replicates per interval there",
             leak_cutoffs="largest Tanimoto a training molecule may have to any test molecule (1.0: no filter)",
             leak_subsamples="random training subsets per cutoff (all of the same size)",
             leak_boot="bootstrap replicates of the paired differences in the leakage curve"),
)


def _fingerprints(smiles: Sequence[str], radius: int = 2, n_bits: int = 2048) -> list:
    from rdkit.Chem import rdFingerprintGenerator

    from .chem import _mols

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return [gen.GetFingerprint(m) for m in _mols(smiles)]


def similarity_to(query: Sequence[str], reference: Sequence[str]) -> np.ndarray:
    """(len(query), len(reference)) Morgan-bit Tanimoto similarities (radius 2, 2048 bits, RDKit)."""
    from rdkit import DataStructs

    r = _fingerprints(reference)
    return np.array([DataStructs.BulkTanimotoSimilarity(fp, r) for fp in _fingerprints(query)]).reshape(-1, len(r))


def max_similarity(query: Sequence[str], reference: Sequence[str]) -> np.ndarray:
    """(len(reference),) largest Morgan-bit Tanimoto of each reference molecule to any query molecule."""
    sim = similarity_to(query, reference)
    return sim.max(axis=0) if sim.shape[0] else np.zeros(len(reference))


def fit_ridge(X, y, alpha: float = RIDGE_ALPHA):
    """A fitted scikit-learn ``Ridge`` (deterministic)."""
    from sklearn.linear_model import Ridge

    return Ridge(alpha=alpha).fit(X, y)


def coverage_on_families(drills, data, X, test_families: Sequence[int] | None = None, reps: int | None = None,
                         n_boot: int | None = None, seed: int = 0):
    """How often i.i.d. and cluster bootstrap 95 % intervals of a model's test MSE contain its true MSE.

    A ridge model is trained once on a third of the families (seeded). The other families are the population:
    the true value is the model's MSE over all their molecules. Each repeat samples ``G`` of those families
    (without replacement) as a test set and computes both intervals of the mean squared error
    (``drills.cluster_bootstrap_ci`` with families as clusters, and with every molecule its own cluster).
    Returns:
        DataFrame with ``test families``, ``mean test molecules``, ``method``, ``coverage``, ``MC se``
        (sqrt(c(1 − c)/reps)), ``mean width`` (of the RMSE interval, target units), ``true RMSE``, ``reps``;
        ``attrs`` hold ``train_families`` and ``pool_families`` (the finite population the test families are
        drawn from without replacement — the intervals ignore that finite-population correction).
    """
    import pandas as pd

    cfg = SETTINGS.current()
    test_families = test_families or cfg.fam_test_families
    reps, n_boot = reps or cfg.fam_reps, n_boot or cfg.fam_boot
    fam = data["family"].to_numpy()
    y = data["target"].to_numpy(dtype=np.float64)
    rng = np.random.default_rng(seed)
    families = np.unique(fam)
    train_fam = rng.choice(families, len(families) // 3, replace=False)
    train = np.isin(fam, train_fam)
    sq = (fit_ridge(X[train], y[train]).predict(X) - y) ** 2
    pool_fam = np.setdiff1d(families, train_fam)
    truth = float(sq[~train].mean())
    rows = []
    for G in test_families:
        hits = {"i.i.d.": 0, "cluster": 0}
        width = {"i.i.d.": 0.0, "cluster": 0.0}
        sizes = 0
        for _ in range(reps):
            idx = np.flatnonzero(np.isin(fam, rng.choice(pool_fam, G, replace=False)))
            sizes += idx.size / reps
            s = int(rng.integers(1 << 31))
            for method, labels in (("i.i.d.", np.arange(idx.size)), ("cluster", fam[idx])):
                low, high = drills.cluster_bootstrap_ci(sq[idx], labels, n_boot=n_boot, seed=s)
                hits[method] += low <= truth <= high
                width[method] += (math.sqrt(high) - math.sqrt(max(low, 0.0))) / reps
        for method in hits:
            c = hits[method] / reps
            rows.append({"test families": G, "mean test molecules": sizes, "method": method, "coverage": c,
                         "MC se": math.sqrt(c * (1 - c) / reps), "mean width": width[method],
                         "true RMSE": math.sqrt(truth), "reps": reps})
    table = pd.DataFrame(rows)
    table.attrs.update(train_families=len(train_fam), pool_families=len(pool_fam),
                       pool_molecules=int((~train).sum()))
    return table


def leakage_test_split(data, fraction_of_families: float = TEST_FRACTION, min_size: int = TEST_MIN_SIZE,
                       seed: int = 1):
    """``(test_idx, pool_idx, test_families)``: a fixed test set for the leakage curve.

    ``fraction_of_families`` of the families with at least ``min_size`` members are test families; a random half
    of each one's molecules is the test set, the other half (their *siblings*) stays in the training pool with
    every other family. Deterministic for a given ``seed``.
    """
    fam = data["family"].to_numpy()
    rng = np.random.default_rng(seed)
    sizes = np.bincount(fam)
    candidates = np.flatnonzero(sizes >= min_size)
    test_families = np.sort(rng.choice(candidates, int(len(candidates) * fraction_of_families), replace=False))
    test = []
    for f in test_families:
        members = rng.permutation(np.flatnonzero(fam == f))
        test.extend(members[: len(members) // 2].tolist())
    test = np.sort(np.array(test, dtype=np.int64))
    return test, np.setdiff1d(np.arange(len(fam)), test), test_families


def fixed_test_leakage_curve(data, X, cutoffs: Sequence[float] | None = None, subsamples: int | None = None,
                             n_boot: int | None = None, seed: int = 0, split=None):
    """Test RMSE as training molecules similar to the (fixed) test set are allowed in, at a fixed training size,
    with a sibling control at every cutoff.

    For each cutoff c the allowed pool is every pool molecule whose largest Tanimoto to any test molecule is
    < c (c = 1.0: no filter; identical fingerprints have Tanimoto 1 and stay out only at c < 1). The *control*
    pool at c is the same pool without the test families' siblings. Every cutoff, main and control, trains on a
    random subset of the same size N — the size of the smallest of these pools (the strictest cutoff's control)
    — ``subsamples`` times (seeds 0, 1, …), so the curve shows similarity, not training-set size. Paired cluster
    bootstraps (:func:`molpractice.comparisons.paired_bootstrap_difference`, test families resampled,
    subsamples as seeds) give, as MSE differences with 95 % intervals (unadjusted): ``mse gain`` = strictest −
    this cutoff (positive: the near neighbours lower the error), with its two-sided bootstrap p-value and the
    Holm-adjusted p-value over the cutoffs other than the strictest
    (:func:`molpractice.comparisons.holm_adjusted`); ``sibling gain`` = control − main at this cutoff (what the
    siblings themselves add); ``other gain`` = strictest − control at this cutoff (what the other allowed
    molecules add; ``mse gain`` = ``sibling gain`` + ``other gain``); ``step gain`` = next stricter cutoff −
    this one (NaN at the strictest).
    Returns:
        DataFrame with ``cutoff``, ``allowed`` (pool size), ``siblings allowed`` (pool molecules from test
        families), ``n_train``, ``rmse`` (mean over subsamples), ``rmse seed sd``, ``rmse no siblings``
        (control), ``nn similarity`` (mean over test molecules of the largest Tanimoto to the training set,
        first subsample), and for each of ``mse gain``, ``sibling gain``, ``other gain``, ``step gain`` the
        difference and its ``… low``/``… high`` (``gain low``/``gain high`` for ``mse gain``), ``gain p`` and
        ``gain p Holm`` (NaN at the strictest cutoff); the table's ``attrs`` hold ``n_test``,
        ``test_families``, ``eligible_families`` (families with at least ``TEST_MIN_SIZE`` members),
        ``test_fraction``, ``test_min_size`` and ``p_resolution`` (2 / (n_boot + 1), the smallest bootstrap
        p-value).
    """
    import pandas as pd

    from .comparisons import holm_adjusted, paired_bootstrap_difference

    cfg = SETTINGS.current()
    cutoffs = sorted(cfg.leak_cutoffs if cutoffs is None else cutoffs, reverse=True)
    subsamples, n_boot = subsamples or cfg.leak_subsamples, n_boot or cfg.leak_boot
    smiles = data["smiles"].tolist()
    fam = data["family"].to_numpy()
    y = data["target"].to_numpy(dtype=np.float64)
    test, pool, test_families = split if split is not None else leakage_test_split(data)
    sim = similarity_to([smiles[i] for i in test], smiles)  # (test, all molecules)
    nn_pool = sim[:, pool].max(axis=0)
    allowed = {c: pool[nn_pool < c] if c < 1.0 else pool for c in cutoffs}
    control = {c: a[~np.isin(fam[a], test_families)] for c, a in allowed.items()}
    n_train = min(len(a) for a in list(allowed.values()) + list(control.values()))

    def run(pool_c):
        sq, rmse, nn = [], [], float("nan")
        for s in range(subsamples):
            train = np.sort(np.random.default_rng(s).choice(pool_c, n_train, replace=False))
            err = fit_ridge(X[train], y[train]).predict(X[test]) - y[test]
            sq.append(err ** 2)
            rmse.append(math.sqrt(float(np.mean(err ** 2))))
            if s == 0:
                nn = float(sim[:, train].max(axis=1).mean())
        return np.array(sq), rmse, nn

    losses, ctrl, rows = {}, {}, []
    for c in cutoffs:
        losses[c], rmse, nn = run(allowed[c])
        ctrl[c], rmse_ctrl, _ = run(control[c])
        rows.append({"cutoff": c, "allowed": len(allowed[c]),
                     "siblings allowed": int(np.isin(fam[allowed[c]], test_families).sum()),
                     "n_train": n_train, "rmse": float(np.mean(rmse)),
                     "rmse seed sd": float(np.std(rmse, ddof=1)) if subsamples > 1 else float("nan"),
                     "rmse no siblings": float(np.mean(rmse_ctrl)), "nn similarity": nn})
    strict = losses[cutoffs[-1]]
    groups = fam[test]

    def diff(better, worse, name):  # MSE(worse) − MSE(better): positive = `better` has the lower error
        d = paired_bootstrap_difference(better, worse, groups, n_boot=n_boot, seed=seed)
        low, high = ("gain low", "gain high") if name == "mse gain" else (f"{name} low", f"{name} high")
        return {name: d["diff"], low: d["low"], high: d["high"]}, d["p_value"]

    for k, (row, c) in enumerate(zip(rows, cutoffs)):
        gain, p = diff(losses[c], strict, "mse gain")
        row.update(gain)
        row["gain p"] = p if c != cutoffs[-1] else float("nan")
        row.update(diff(losses[c], ctrl[c], "sibling gain")[0])
        row.update(diff(ctrl[c], strict, "other gain")[0])
        if c != cutoffs[-1]:
            row.update(diff(losses[c], losses[cutoffs[k + 1]], "step gain")[0])
        else:
            row.update({"step gain": float("nan"), "step gain low": float("nan"), "step gain high": float("nan")})
    table = pd.DataFrame(rows)
    compared = table["cutoff"] != cutoffs[-1]
    table["gain p Holm"] = float("nan")
    table.loc[compared, "gain p Holm"] = holm_adjusted(table.loc[compared, "gain p"].to_numpy())
    table.attrs.update(n_test=len(test), test_families=len(test_families),
                       eligible_families=int((np.bincount(fam) >= TEST_MIN_SIZE).sum()),
                       test_fraction=TEST_FRACTION, test_min_size=TEST_MIN_SIZE, p_resolution=2 / (n_boot + 1),
                       strict_control=len(control[cutoffs[-1]]))
    return table


def sibling_similarity(data) -> np.ndarray:
    """Morgan-bit Tanimoto (radius 2, 2048 bits) of every unordered pair of molecules in the same family
    (all families concatenated, family order): how near-duplicate the family members really are."""
    from rdkit import DataStructs

    fam = data["family"].to_numpy()
    fps = _fingerprints(data["smiles"].tolist())
    out = []
    for f in np.unique(fam):
        members = np.flatnonzero(fam == f)
        for k, i in enumerate(members[:-1]):
            out.extend(DataStructs.BulkTanimotoSimilarity(fps[i], [fps[j] for j in members[k + 1:]]))
    return np.asarray(out, dtype=np.float64)


def sibling_summary(data, cutoffs: Sequence[float] = (0.6, 0.8)) -> str:
    """One line: how many within-family pairs, their Tanimoto quartiles and the share at or above each cutoff."""
    sims = sibling_similarity(data)
    q = np.quantile(sims, [0.25, 0.5, 0.75])
    shares = ", ".join(f"≥ {c:g}: {np.mean(sims >= c):.0%}" for c in cutoffs)
    return (f"Tanimoto between members of the same family ({sims.size} pairs): quartiles {q[0]:.2f} / {q[1]:.2f} / "
            f"{q[2]:.2f}; share of pairs {shares}")


def fixed_curve_lines(table, alpha: float = 0.05) -> list[str]:
    """Printable lines for :func:`fixed_test_leakage_curve`'s table: the test split's parameters, the training
    size, at which cutoffs the MSE gain over the strictest one is detectable (unadjusted: interval excludes 0;
    and after Holm over the compared cutoffs), each step between neighbouring cutoffs, and the sibling control:
    how much of each cutoff's gain the siblings carry and how much the other allowed molecules do."""
    a = table.attrs
    strict = table.iloc[-1]
    compared = table.iloc[:-1]
    fmt = lambda cs: ", ".join(f"{c:g}" for c in cs) or "none"  # noqa: E731
    iv = lambda r, k: f"{r[k]:+.3f} [{r[k + ' low']:+.3f}, {r[k + ' high']:+.3f}]"  # noqa: E731
    word = lambda lo, hi: "detectable" if lo > 0 or hi < 0 else "no detectable difference"  # noqa: E731
    holm_yes = compared.loc[compared["gain p Holm"] <= alpha, "cutoff"]
    holm_no = compared.loc[compared["gain p Holm"] > alpha, "cutoff"]
    lines = [f"fixed test set: {a['n_test']} molecules = half of each of {a['test_families']} families "
             f"({a['test_fraction']:.0%} of the {a['eligible_families']} families with ≥ {a['test_min_size']} "
             f"members); their other halves (siblings) stay in the training pool",
             f"every training set has {int(strict['n_train'])} molecules = the smallest pool: the strictest cutoff "
             f"{strict['cutoff']:g} without its siblings ({a.get('strict_control', int(strict['n_train']))} of "
             f"{int(strict['allowed'])} allowed)",
             f"MSE gain over the strictest cutoff: 95 % interval (unadjusted) excludes 0 at cutoffs "
             f"{fmt(compared.loc[compared['gain low'] > 0, 'cutoff'])}; Holm over the {len(compared)} compared "
             f"cutoffs at {alpha:.0%}: detectable at {fmt(holm_yes)}"
             + (f", not at {fmt(holm_no)}" if len(holm_no) else "")
             + f" (bootstrap p-values; the smallest possible is {a['p_resolution']:.3f})"]
    if "step gain" in table:
        for k, (_, r) in enumerate(compared.iterrows()):
            nxt = table.iloc[k + 1]
            lines.append(f"step {nxt['cutoff']:g} → {r['cutoff']:g}: {int(r['allowed'] - nxt['allowed'])} more "
                         f"molecules allowed ({int(r['siblings allowed'] - nxt['siblings allowed'])} of them siblings); "
                         f"MSE lower by {iv(r, 'step gain')} ({word(r['step gain low'], r['step gain high'])})")
    if "sibling gain" in table:
        for _, r in table.iterrows():
            lines.append(f"cutoff {r['cutoff']:g}: RMSE {r['rmse']:.3f}, siblings removed {r['rmse no siblings']:.3f}; "
                         f"of the MSE gain {r['mse gain']:+.3f} over the strictest, siblings "
                         f"{iv(r, 'sibling gain')} ({word(r['sibling gain low'], r['sibling gain high'])}), "
                         f"other molecules {iv(r, 'other gain')} ({word(r['other gain low'], r['other gain high'])})")
    return lines


def coverage_lines(table) -> list[str]:
    """Printable lines for :func:`coverage_on_families`: one per (test size, method) with the Monte Carlo error,
    then the population the test families were drawn from."""
    out = [f"{r['test families']} test families (~{r['mean test molecules']:.0f} molecules), {r['method']} interval: "
           f"coverage {r['coverage']:.1%} ± {r['MC se']:.1%} (MC se, {r['reps']} test sets), mean RMSE-interval "
           f"width {r['mean width']:.3f}" for _, r in table.iterrows()]
    a = table.attrs
    out.append(f"population: {a['pool_families']} families ({a['pool_molecules']} molecules) not used for training "
               f"(ridge trained on the other {a['train_families']}); test families drawn without replacement")
    return out
