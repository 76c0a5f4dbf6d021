"""What the analogue-series data (:mod:`molpractice.families`) shows: interval coverage with real model errors,
and the leakage curve with a fixed test set.

==================================  ===========================================================
``similarity_to``                   Morgan-bit Tanimoto of every query molecule to every reference molecule.
``max_similarity``                  each reference molecule's largest Tanimoto to a query set (RDKit).
``fit_ridge``                       ridge regression on fingerprint counts (fixed alpha, not tuned).
``intraclass_correlation``          one-way ANOVA intra-cluster correlation (unequal cluster sizes).
``coverage_on_families``            i.i.d. vs family vs Butina-cluster bootstrap coverage of a model's true test MSE.
``leakage_test_split``              fixed test set: half of each test family; its siblings stay in the pool.
``fixed_test_leakage_curve``        test RMSE vs the train–test similarity cutoff, same training size.
``sibling_similarity``              Tanimoto of every pair of molecules in the same family.
``coverage_lines``                  printable lines of the coverage study: finite population, design effect.
``coverage_verdict_lines``          which groupings cover below 95 %, and paired coverage gaps between groupings.
``coverage_differences``            paired coverage differences families − i.i.d. / − Butina (same test sets).
``icc_difference``                  ρ(a) − ρ(b) on the same molecules, with a cluster-bootstrap interval.
``sibling_summary``                 one printable line: quartiles and high-similarity shares of those pairs.
``core_check_line``                 the sibling gain of a fixed-test run on the control label, as one line.
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


def intraclass_correlation(values, clusters) -> float:
    """One-way ANOVA estimate of the intra-cluster correlation of ``values`` (unequal sizes:
    n0 = (N − Σn_g²/N)/(G − 1)); can be slightly negative when clusters do not matter."""
    codes = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
    v = np.asarray(values, dtype=np.float64)
    G, N = int(codes.max()) + 1, v.size
    sizes = np.bincount(codes, minlength=G).astype(np.float64)
    means = np.bincount(codes, weights=v, minlength=G) / sizes
    msb = float((sizes * (means - v.mean()) ** 2).sum() / (G - 1))
    msw = float(((v - means[codes]) ** 2).sum() / (N - G))
    n0 = (N - (sizes ** 2).sum() / N) / (G - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw)


def coverage_on_families(drills, data, X, test_families: Sequence[int] | None = None, reps: int | None = None,
                         n_boot: int | None = None, seed: int = 0, similarity=None,
                         butina_cutoffs: Sequence[float] = (0.4, 0.6), control: bool = True):
    """How often i.i.d. and cluster bootstrap 95 % intervals of a model's test MSE contain its true MSE.

    A ridge model is trained once on a third of the families (seeded). The other families are the population:
    the true value is the model's MSE over all their molecules. Each repeat samples ``G`` of those families
    (without replacement) as a test set and computes the intervals of the mean squared error with
    ``drills.cluster_bootstrap_ci`` under several groupings of the same test set: every molecule its own cluster
    (``i.i.d.``), the families (``cluster``) and, when ``similarity`` ((n, n) Tanimoto of ``data``) is given,
    Butina clusters of the test molecules at each distance cutoff in ``butina_cutoffs`` (``Butina 0.4``, …:
    what a practitioner without family labels would use). With ``control`` and a ``series_effect`` column, the
    same test sets are also scored with a second ridge trained on the label *without* the series effect
    (``target − series_effect``: Crippen logP + noise), i.i.d. and cluster intervals only — the control that
    shows how much of the gap the constructed series effect makes.
    Returns:
        DataFrame with ``label`` (``"with series effect"`` / ``"no series effect (control)"``), ``test
        families``, ``mean test molecules``, ``method``, ``mean groups`` (clusters per test set), ``coverage``,
        ``MC se`` (sqrt(c(1 − c)/reps)), ``mean width`` (of the RMSE interval, target units), ``mean MSE width``,
        ``true RMSE``, ``reps``; ``attrs`` hold ``train_families``, ``pool_families`` and ``pool_molecules``
        (the finite population the test families are drawn from without replacement — the intervals ignore that
        finite-population correction), ``icc`` (``{label: intra-family correlation of the squared errors over
        the population}``), ``icc_diff`` (with the control: ``{"diff", "low", "high", "n_boot"}``, ρ with the
        series effect − ρ without, paired on the same molecules, percentile interval over families of the
        population resampled — :func:`icc_difference`), ``s`` (``{G: mean Σn_g²/n of the test sets}``, the
        design effect's cluster size) and ``hits`` (``{(label, G, method): per-test-set 0/1 list}``, the same
        test sets for every grouping: :func:`coverage_differences` pairs them).
    """
    import pandas as pd

    from .rigor import butina_labels

    cfg = SETTINGS.current()
    test_families = test_families or cfg.fam_test_families
    reps, n_boot = reps or cfg.fam_reps, n_boot or cfg.fam_boot
    fam = data["family"].to_numpy()
    labels_y = {"with series effect": data["target"].to_numpy(dtype=np.float64)}
    if control and "series_effect" in data:
        labels_y["no series effect (control)"] = labels_y["with series effect"] - data["series_effect"].to_numpy()
    rng = np.random.default_rng(seed)
    families = np.unique(fam)
    train_fam = rng.choice(families, len(families) // 3, replace=False)
    train = np.isin(fam, train_fam)
    sq = {lab: (fit_ridge(X[train], y[train]).predict(X) - y) ** 2 for lab, y in labels_y.items()}
    pool_fam = np.setdiff1d(families, train_fam)
    truth = {lab: float(v[~train].mean()) for lab, v in sq.items()}
    cutoffs = list(butina_cutoffs) if similarity is not None else []
    rows, s_mean, all_hits = [], {}, {}
    for G in test_families:
        keys = [(lab, m) for lab in sq for m in ("i.i.d.", "cluster")]
        keys[2:2] = [("with series effect", f"Butina {c:g}") for c in cutoffs]
        width, mse_width, groups = ({k: 0.0 for k in keys} for _ in range(3))
        hits = {k: np.zeros(reps, dtype=bool) for k in keys}
        sizes, s_sum = 0.0, 0.0
        for i in range(reps):
            idx = np.flatnonzero(np.isin(fam, rng.choice(pool_fam, G, replace=False)))
            sizes += idx.size / reps
            s_sum += float((np.bincount(fam[idx]) ** 2).sum() / idx.size) / reps
            s = int(rng.integers(1 << 31))
            grouping = {"i.i.d.": np.arange(idx.size), "cluster": fam[idx]}
            for c in cutoffs:
                grouping[f"Butina {c:g}"] = butina_labels(similarity[np.ix_(idx, idx)], c)
            for lab, method in keys:
                low, high = drills.cluster_bootstrap_ci(sq[lab][idx], grouping[method], n_boot=n_boot, seed=s)
                hits[(lab, method)][i] = low <= truth[lab] <= high
                width[(lab, method)] += (math.sqrt(high) - math.sqrt(max(low, 0.0))) / reps
                mse_width[(lab, method)] += (high - low) / reps
                groups[(lab, method)] += len(np.unique(grouping[method])) / reps
        s_mean[G] = s_sum
        for lab, method in keys:
            all_hits[(lab, G, method)] = hits[(lab, method)].astype(int).tolist()
            c = float(hits[(lab, method)].mean())
            rows.append({"label": lab, "test families": G, "mean test molecules": sizes, "method": method,
                         "mean groups": groups[(lab, method)], "coverage": c, "MC se": math.sqrt(c * (1 - c) / reps),
                         "mean width": width[(lab, method)], "mean MSE width": mse_width[(lab, method)],
                         "true RMSE": math.sqrt(truth[lab]), "reps": reps})
    table = pd.DataFrame(rows)
    table.attrs.update(train_families=len(train_fam), pool_families=len(pool_fam),
                       pool_molecules=int((~train).sum()), s=s_mean, hits=all_hits,
                       icc={lab: intraclass_correlation(v[~train], fam[~train]) for lab, v in sq.items()})
    if len(sq) == 2:
        table.attrs["icc_diff"] = icc_difference(*(v[~train] for v in sq.values()), fam[~train], seed=seed)
    return table


def icc_difference(values_a, values_b, clusters, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> dict:
    """ρ(values_a) − ρ(values_b) (:func:`intraclass_correlation`) on the same molecules, with a percentile
    interval from resampling whole clusters (both sets of values on the same draw; a cluster drawn twice counts
    as two clusters). Returns ``{"diff", "low", "high", "n_boot"}``."""
    a, b = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    codes = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
    G = int(codes.max()) + 1
    members = [np.flatnonzero(codes == g) for g in range(G)]
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for r in range(n_boot):
        drawn = rng.integers(0, G, size=G)
        idx = np.concatenate([members[g] for g in drawn])
        new = np.repeat(np.arange(G), [members[g].size for g in drawn])
        reps[r] = intraclass_correlation(a[idx], new) - intraclass_correlation(b[idx], new)
    low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return {"diff": intraclass_correlation(a, codes) - intraclass_correlation(b, codes), "low": float(low),
            "high": float(high), "n_boot": n_boot}


def coverage_differences(table, z: float = 1.96):
    """Paired coverage differences between groupings of :func:`coverage_on_families` (every grouping ran on the
    same test sets): families − i.i.d. per label and test size, and families − each Butina grouping. The
    difference is the mean of per-test-set differences of hit indicators, its standard error their SD /
    sqrt(reps) (paired: what the test sets share cancels).
    Returns:
        DataFrame with ``label``, ``test families``, ``first`` (``cluster``), ``second``, ``difference``
        (coverage first − second), ``MC se``, ``low``, ``high`` (difference ± z·se), ``reps``.
    """
    import pandas as pd

    hits = table.attrs.get("hits")
    if not hits:
        raise ValueError("the table has no per-test-set hits (attrs['hits']): pass coverage_on_families' output")
    rows = []
    for (lab, G, method), h in hits.items():
        if method == "cluster" or (lab, G, "cluster") not in hits:
            continue
        d = np.asarray(hits[(lab, G, "cluster")], dtype=float) - np.asarray(h, dtype=float)
        se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else float("nan")
        rows.append({"label": lab, "test families": G, "first": "cluster", "second": method,
                     "difference": float(d.mean()), "MC se": se, "low": float(d.mean() - z * se),
                     "high": float(d.mean() + z * se), "reps": d.size})
    return pd.DataFrame(rows)


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
        families), ``n_train``, ``rmse`` (mean over subsamples), ``rmse subsample sd`` (SD over the random
        training subsets: ridge itself is deterministic), ``rmse no siblings``
        (control), ``nn similarity`` (mean over test molecules of the largest Tanimoto to the training set,
        first subsample), and for each of ``mse gain``, ``sibling gain``, ``other gain``, ``step gain`` the
        difference and its unadjusted 95 % interval ``… low``/``… high`` (``gain low``/``gain high`` for
        ``mse gain``), its two-sided bootstrap p-value (``gain p``, ``sibling gain p``, ``other gain p``,
        ``step gain p``) and Holm-adjusted p-value within its family of statements (``gain p Holm`` and ``step
        gain p Holm`` over the compared cutoffs, NaN at the strictest — the step next to the strictest cutoff is
        the same contrast as that cutoff's ``mse gain``, so it is counted once: its ``step gain p Holm`` is that
        ``gain p Holm``, and the steps' Holm family holds only the other steps; ``sibling gain p Holm`` and
        ``other gain p Holm`` over every cutoff); the table's ``attrs`` hold ``n_test``, ``step_family`` (the
        number of steps in the steps' Holm family),
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
                     "rmse subsample sd": float(np.std(rmse, ddof=1)) if subsamples > 1 else float("nan"),
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
        for name, (better, worse) in (("sibling gain", (losses[c], ctrl[c])), ("other gain", (ctrl[c], strict))):
            part, p_part = diff(better, worse, name)
            row.update(part)
            row[f"{name} p"] = p_part
        if c != cutoffs[-1]:
            step, p_step = diff(losses[c], losses[cutoffs[k + 1]], "step gain")
            row.update(step)
            row["step gain p"] = p_step
        else:
            row.update({"step gain": float("nan"), "step gain low": float("nan"), "step gain high": float("nan"),
                        "step gain p": float("nan")})
    table = pd.DataFrame(rows)
    compared = table["cutoff"] != cutoffs[-1]
    table["gain p Holm"] = float("nan")
    table.loc[compared, "gain p Holm"] = holm_adjusted(table.loc[compared, "gain p"].to_numpy())
    # the step next to the strictest cutoff IS that cutoff's gain over the strictest (same contrast, same draws):
    # it is counted once, in the gains' family, and the steps' family holds the other steps
    table["step gain p Holm"] = float("nan")
    steps = np.flatnonzero(compared.to_numpy())[:-1]
    if len(steps):
        table.loc[steps, "step gain p Holm"] = holm_adjusted(table.loc[steps, "step gain p"].to_numpy())
    if compared.any():
        last = np.flatnonzero(compared.to_numpy())[-1]
        table.loc[last, "step gain p Holm"] = table.loc[last, "gain p Holm"]
    for name in ("sibling gain", "other gain"):  # every cutoff's share is a statement: Holm over all cutoffs
        table[f"{name} p Holm"] = holm_adjusted(table[f"{name} p"].to_numpy())
    table.attrs.update(n_test=len(test), test_families=len(test_families),
                       eligible_families=int((np.bincount(fam) >= TEST_MIN_SIZE).sum()),
                       test_fraction=TEST_FRACTION, test_min_size=TEST_MIN_SIZE, p_resolution=2 / (n_boot + 1),
                       step_family=len(steps),
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


def _holm_word(p_holm: float, alpha: float) -> str:
    return "detectable after Holm" if p_holm <= alpha else "no detectable difference after Holm"


def fixed_curve_lines(table, alpha: float = 0.05) -> list[str]:
    """Printable lines for :func:`fixed_test_leakage_curve`'s table: the test split's parameters, the training
    size, at which cutoffs the MSE gain over the strictest one is detectable after Holm over the compared cutoffs
    (and where only the unadjusted interval excludes 0), each step between neighbouring cutoffs, and the
    sibling control: how much of each cutoff's gain the siblings carry and how much the other allowed molecules
    do. Every verdict is Holm-adjusted within its family of statements (the gains over the strictest cutoff; the
    steps; the siblings' shares; the other molecules' shares) and every interval is labelled unadjusted; a last
    line lists the steps with and without a detectable change after Holm. The step next to the strictest cutoff
    is that cutoff's gain over the strictest (one contrast): its line says so and carries the gains' verdict."""
    a = table.attrs
    strict = table.iloc[-1]
    compared = table.iloc[:-1]
    fmt = lambda cs: ", ".join(f"{c:g}" for c in cs) or "none"  # noqa: E731
    iv = lambda r, k: f"{r[k]:+.3f} [{r[k + ' low']:+.3f}, {r[k + ' high']:+.3f}]"  # noqa: E731
    holm_yes = compared.loc[compared["gain p Holm"] <= alpha, "cutoff"]
    holm_no = compared.loc[compared["gain p Holm"] > alpha, "cutoff"]
    lines = [f"fixed test set: {a['n_test']} molecules = half of each of {a['test_families']} families "
             f"({a['test_fraction']:.0%} of the {a['eligible_families']} families with ≥ {a['test_min_size']} "
             f"members); their other halves (siblings) stay in the training pool",
             f"every training set has {int(strict['n_train'])} molecules = the smallest pool: the strictest cutoff "
             f"{strict['cutoff']:g} without its siblings ({a.get('strict_control', int(strict['n_train']))} of "
             f"{int(strict['allowed'])} allowed)",
             f"MSE gain over the strictest cutoff, Holm over the {len(compared)} compared cutoffs at {alpha:.0%}: "
             f"detectable at {fmt(holm_yes)}" + (f", not at {fmt(holm_no)}" if len(holm_no) else "")
             + f" (unadjusted 95 % intervals exclude 0 at {fmt(compared.loc[compared['gain low'] > 0, 'cutoff'])}; "
             f"bootstrap p-values, the smallest possible is {a['p_resolution']:.3f}). Below: [unadjusted 95 % "
             "interval], verdict after Holm within each family of statements"]
    steps_yes, steps_no = [], []
    if "step gain" in table:
        n_steps = a.get("step_family", len(compared) - 1)
        for k, (_, r) in enumerate(compared.iterrows()):
            nxt = table.iloc[k + 1]
            name = f"{nxt['cutoff']:g} → {r['cutoff']:g}"
            (steps_yes if r["step gain p Holm"] <= alpha else steps_no).append(name)
            head = (f"step {name}: {int(r['allowed'] - nxt['allowed'])} more molecules allowed "
                    f"({int(r['siblings allowed'] - nxt['siblings allowed'])} of them siblings); ")
            if k == len(compared) - 1:  # the same contrast as this cutoff's gain over the strictest: counted once
                lines.append(head + f"= the gain at {r['cutoff']:g} over the strictest (the same contrast, counted "
                             f"once): MSE lower by {iv(r, 'step gain')} ({_holm_word(r['gain p Holm'], alpha)} over "
                             f"the {len(compared)} compared cutoffs, Holm-adjusted p = {r['gain p Holm']:.3f})")
            else:
                lines.append(head + f"MSE lower by {iv(r, 'step gain')} ({_holm_word(r['step gain p Holm'], alpha)} "
                             f"over {n_steps} steps)")
    if "sibling gain" in table:
        for _, r in table.iterrows():
            lines.append(f"cutoff {r['cutoff']:g}: RMSE {r['rmse']:.3f}, siblings removed {r['rmse no siblings']:.3f}; "
                         f"of the MSE gain {r['mse gain']:+.3f} over the strictest, siblings "
                         f"{iv(r, 'sibling gain')} ({_holm_word(r['sibling gain p Holm'], alpha)}), "
                         f"other molecules {iv(r, 'other gain')} ({_holm_word(r['other gain p Holm'], alpha)}) "
                         f"[Holm over the {len(table)} cutoffs, per share]")
    if "step gain" in table:
        lines.append(f"steps with a detectable change after Holm: {', '.join(steps_yes) or 'none'}; "
                     f"no detectable change after Holm: {', '.join(steps_no) or 'none'}")
    return lines


def core_check_line(table) -> str:
    """One printable line from :func:`fixed_test_leakage_curve` run on the control label (no series effect): the
    least strict cutoff's ``sibling gain`` — the test MSE with half of each test family in training minus with
    none, same training size — with its paired interval and "no detectable difference" when it contains 0."""
    r = table.iloc[0]
    return (f"control label (no series effect), same test set, {int(r['n_train'])} training molecules: with half of "
            f"each test family in training instead of none, the test MSE is lower by {r['sibling gain']:+.3f} "
            f"[{r['sibling gain low']:+.3f}, {r['sibling gain high']:+.3f}]"
            + ("" if r["sibling gain low"] > 0 or r["sibling gain high"] < 0 else " (no detectable difference)"))


def coverage_lines(table) -> list[str]:
    """Printable lines for :func:`coverage_on_families`: one per (label, test size, method) with the Monte Carlo
    error; then the population the test families were drawn from with the finite-population factor
    sqrt(1 − G/population) per test size; then, per label and test size, the design effect: the intra-family
    correlation ρ of the squared errors, s = Σn_g²/n and the predicted width ratio sqrt(1 + (s − 1)ρ) next to the
    observed ratio of mean MSE-interval widths (cluster / i.i.d.) and their quotient; last, with the control, the
    paired interval of ρ(with) − ρ(without) (``attrs["icc_diff"]``)."""
    a = table.attrs
    label = "label" in table
    out = [f"{('[' + r['label'] + '] ') if label else ''}{r['test families']} test families "
           f"(~{r['mean test molecules']:.0f} molecules), {r['method']} interval"
           + (f" ({r['mean groups']:.0f} groups)" if r["method"].startswith("Butina") else "")
           + f": coverage {r['coverage']:.1%} ± {r['MC se']:.1%} (MC se, {r['reps']} test sets), mean RMSE-interval "
           f"width {r['mean width']:.3f}" for _, r in table.iterrows()]
    fpc = ", ".join(f"{math.sqrt(1 - G / a['pool_families']):.2f} at {G} families"
                    for G in sorted(table["test families"].unique()))
    out.append(f"population: {a['pool_families']} families ({a['pool_molecules']} molecules) not used for training "
               f"(ridge trained on the other {a['train_families']}); test families drawn without replacement: the "
               f"finite-population factor sqrt(1 − G/{a['pool_families']}) is {fpc} — a correct interval would be "
               f"that much narrower than one that ignores it")
    for lab, rho in a.get("icc", {}).items():
        for G, s in a.get("s", {}).items():
            t = table[(table["test families"] == G) & ((table["label"] == lab) if label else True)]
            t = t.set_index("method")["mean MSE width"]
            if not {"i.i.d.", "cluster"} <= set(t.index):
                continue
            pred, obs = math.sqrt(max(1 + (s - 1) * rho, 0.0)), t["cluster"] / t["i.i.d."]
            out.append(f"design effect [{lab}, {G} families]: intra-family correlation of squared errors ρ = "
                       f"{rho:.2f} (whole population), s = Σn_g²/n = {s:.1f} (sampled test sets) → predicted width "
                       f"ratio sqrt(1 + (s − 1)ρ) = {pred:.2f}; observed (cluster / i.i.d. MSE-interval width) "
                       f"{obs:.2f} = {obs / pred:.2f} × predicted")
    d = a.get("icc_diff")
    if d:
        out.append(f"intra-family correlation with − without the series effect: {d['diff']:+.2f} [{d['low']:+.2f}, "
                   f"{d['high']:+.2f}] (paired on the same molecules; families of the population resampled, "
                   f"{d['n_boot']} replicates)")
    return out


def _diff_words(r) -> str:
    iv = f"{100 * r['difference']:+.1f} points [{100 * r['low']:+.1f}, {100 * r['high']:+.1f}]"
    return iv if r["low"] > 0 or r["high"] < 0 else f"no detectable difference ({iv})"


def coverage_verdict_lines(table, level: float = 0.95) -> list[str]:
    """Verdicts for :func:`coverage_on_families`, one line per (label, test size): which groupings' coverage lies
    below ``level`` (coverage + 1.96 MC se < level) and which are consistent with it, then the paired coverage
    differences families − i.i.d. and families − each Butina grouping (:func:`coverage_differences`: 95 % Monte
    Carlo intervals over the same test sets), each worded by its own interval ("no detectable difference" when
    it contains 0)."""
    out = []
    diffs = coverage_differences(table) if table.attrs.get("hits") else None
    label = table["label"] if "label" in table else None
    keys = table[["label", "test families"]].drop_duplicates() if label is not None else \
        table[["test families"]].drop_duplicates().assign(label="")
    for _, k in keys.iterrows():
        t = table[(table["test families"] == k["test families"])
                  & ((table["label"] == k["label"]) if label is not None else True)].set_index("method")
        below = [m for m, r in t.iterrows() if r["coverage"] + 1.96 * r["MC se"] < level]
        fine = [m for m in t.index if m not in below]
        line = (f"{('[' + k['label'] + '] ') if k['label'] else ''}{k['test families']} test families: coverage "
                f"below {level:.0%} for {', '.join(below) or 'none'}; consistent with {level:.0%} for "
                f"{', '.join(fine) or 'none'}")
        if diffs is not None and len(diffs):
            d = diffs[(diffs["test families"] == k["test families"])
                      & ((diffs["label"] == k["label"]) if label is not None else True)]
            parts = [f"families minus {r['second']}: {_diff_words(r)}" for _, r in d.iterrows()]
            if parts:
                line += f"; paired over the same {int(d['reps'].iloc[0])} test sets: " + "; ".join(parts)
        out.append(line)
    return out
