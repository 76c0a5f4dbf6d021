"""Comparing models honestly: paired cluster bootstrap with seed variance, its error rates against the naive
unpaired i.i.d. interval, and false "wins" among many comparisons (uncorrected, Holm, Benjamini–Hochberg).

==================================  ===========================================================
``paired_bootstrap_difference``     B − A in mean loss on the same molecules: families and seeds resampled.
``holm_adjusted``                   Holm-adjusted p-values (family-wise error over several comparisons).
``unpaired_iid_difference``         the naive interval: one seed each, molecules resampled independently.
``paired_t_difference``             the same difference with a cluster t interval, seed variance added (Satterthwaite df).
``simulate_losses``                 per-molecule squared errors of two models with family, seed and noise effects.
``comparison_error_rates``          false-positive rate (true difference 0) and power, with Monte Carlo error.
``null_rejection_rate``             the five-seed methods' false-positive rates alone, many independent null test sets.
``null_rate_line``                  its printable lines (rate ± MC se and verdict per method).
``rate_differences``                paired Monte Carlo intervals of method differences (same simulated test sets).
``summarize_differences``           printable lines of those intervals.
``comparison_sensitivity``          the same rates under other variance components (sensitivity rows).
``loss_scale``                      mean and SD of one molecule's simulated loss (the scale of ``delta``), exact.
``false_wins``                      false "wins" among m comparisons: uncorrected, Holm and BH.
==================================  ===========================================================

The simulation (:func:`simulate_losses`) is documented, not fitted. The *error* of molecule i (family g) under
model M and training seed s is ``err = (1 + c_{M,s}) · (f_g + e_i + h_{g,M} + eps_{M,s,i}) + [M = B]·x_i`` and its
loss is the squared error ``err²`` (non-negative and right-skewed, like real squared errors). ``f_g`` is a
family's difficulty and ``e_i`` a molecule's, shared by both models; ``h_{g,M}`` how model M handles that series
(correlated within a family: resample families); ``c_{M,s}`` the seed-to-seed change of the model's error scale
(resample seeds); ``eps`` per-molecule, per-seed noise; ``x_i`` ~ N(0, ``delta``) an extra independent error of
model B only, so B's expected loss is higher by exactly ``delta`` (0 under H0). Because the loss is a square, what
the models share does not cancel in the paired difference: (s + u_B)² − (s + u_A)² = (u_B − u_A)(2s + u_A + u_B)
grows with the shared part s — a hard molecule is hard for both, and its loss *difference* is noisier too.

The null hypothesis of every comparison here is about *training procedures*: "H0: procedure B has the same
expected loss as A, averaged over training seeds and families". Two single fitted models differ even under that
null: their expected losses differ by ``((1 + c_{B,1})² − (1 + c_{A,1})²)·V`` (V the variance of the bracket), the
*fitted-model target* that a one-seed interval estimates; it cannot see seed variance. Run settings:
:data:`SETTINGS`.
"""
from __future__ import annotations

import math

import numpy as np

from .runtime import RunSettings

MEAN_SIZE = 8
"""Mean family size of the simulated test sets (geometric sizes)."""

SETTINGS = RunSettings(
    full=dict(cmp_reps=1000, cmp_boot=1000, cmp_families=40, cmp_seeds=5, cmp_delta=0.15,
              cmp_sens_reps=400, cmp_null_reps=2000, cmp_null_main=10000, mt_reps=4000, mt_m=20, mt_true=5,
              mt_effect=3.0),
    fast=dict(cmp_reps=200, cmp_boot=400, cmp_families=40, cmp_seeds=5, cmp_delta=0.15,
              cmp_sens_reps=100, cmp_null_reps=300, cmp_null_main=1000, mt_reps=1000, mt_m=20, mt_true=5,
              mt_effect=3.0),
    doc=dict(cmp_reps="simulated test sets per condition (null and true difference)",
             cmp_boot="bootstrap replicates per interval there",
             cmp_families=f"families per simulated test set (geometric sizes, mean {MEAN_SIZE})",
             cmp_seeds="training seeds per model in the paired comparison",
             cmp_delta="true difference in expected loss (squared error) for the power rows",
             cmp_sens_reps="simulated test sets per condition in each sensitivity scenario",
             cmp_null_reps="independent null test sets per method (false-positive rates of the main table)",
             cmp_null_main="null test sets of the five-model methods alone, main components (cheap: no training)",
             mt_reps="simulated experiments of m comparisons", mt_m="comparisons per experiment (m)",
             mt_true="comparisons with a real effect", mt_effect="their z shift (mean of z under the effect)"),
)

# the simulation's variance components (SDs; the seed SD is relative: the error scale 1 + c) — module docstring
SD = dict(family=0.5, molecule=0.5, model_family=0.15, seed=0.05, noise=0.3)
SENSITIVITY = {"seed SD 0.15": dict(seed=0.15), "family and molecule SD 1.5": dict(family=1.5, molecule=1.5)}
"""Scenarios for :func:`comparison_sensitivity` (each overrides part of :data:`SD`)."""


def _bracket_variance(sd: dict) -> float:
    return sum(sd[k] ** 2 for k in ("family", "molecule", "model_family", "noise"))


def loss_scale(sd: dict | None = None) -> dict:
    """``{"mean": …, "sd": …}``: exact mean and SD of one molecule's loss (squared error) under one model and a
    random seed, with the components of :data:`SD` (``sd`` overriding some): err = (1 + c)·Z, Z ~ N(0, V), so
    E[err²] = (1 + σ_c²)·V and E[err⁴] = 3V²·(1 + 6σ_c² + 3σ_c⁴) — the scale to read ``delta`` against."""
    sd = {**SD, **(sd or {})}
    V, c2 = _bracket_variance(sd), sd["seed"] ** 2
    mean = (1 + c2) * V
    return {"mean": mean, "sd": math.sqrt(3 * V * V * (1 + 6 * c2 + 3 * c2 * c2) - mean * mean)}


def _codes(clusters, n: int) -> np.ndarray:
    if clusters is None:
        return np.arange(n)
    labels = list(clusters.tolist() if isinstance(clusters, np.ndarray) else clusters)
    if len(labels) != n:
        raise ValueError(f"clusters has {len(labels)} labels for {n} molecules")
    index: dict = {}
    return np.array([index.setdefault(lab, len(index)) for lab in labels], dtype=np.int64)


def _as_seeds(loss, name: str) -> np.ndarray:
    loss = np.asarray(loss, dtype=np.float64)
    if loss.ndim == 1:
        loss = loss[None]
    if loss.ndim != 2 or loss.shape[1] == 0 or not np.isfinite(loss).all():
        raise ValueError(f"{name} must be finite, shape (n,) or (seeds, n), got shape {loss.shape}")
    return loss


def paired_bootstrap_difference(loss_a, loss_b, clusters=None, n_boot: int = 2000, alpha: float = 0.05,
                                seed: int = 0, resample_seeds: bool = True) -> dict:
    """Paired percentile bootstrap of mean loss(B) − mean loss(A) on the same molecules.

    Each replicate draws G clusters (families) with replacement — both models see the same draw, so what the
    molecules share cancels — and, with ``resample_seeds``, each model's training seeds with replacement, so
    seed-to-seed variance enters the interval. The statistic is the mean over drawn seeds and drawn
    molecules.

    Args:
        loss_a, loss_b: (n,) or (seeds, n) per-molecule losses (e.g. squared errors) of models A and B on the
            same n molecules; rows are training seeds.
        clusters: (n,) family labels (None: every molecule its own cluster).
    Returns:
        dict with ``diff`` (B − A, positive = B worse), ``low``, ``high``, ``differs`` (the interval
        excludes 0) and ``p_value`` (two-sided bootstrap p-value of "no difference":
        min(1, 2·min(1 + #replicates ≤ 0, 1 + #replicates ≥ 0) / (n_boot + 1)); its resolution is
        2 / (n_boot + 1)).
    """
    A, B = _as_seeds(loss_a, "loss_a"), _as_seeds(loss_b, "loss_b")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"loss_a and loss_b must score the same molecules, got {A.shape[1]} and {B.shape[1]}")
    codes = _codes(clusters, A.shape[1])
    G = int(codes.max()) + 1
    sizes = np.bincount(codes, minlength=G).astype(np.float64)
    sum_a = np.stack([np.bincount(codes, weights=a, minlength=G) for a in A])  # (seeds, G)
    sum_b = np.stack([np.bincount(codes, weights=b, minlength=G) for b in B])
    rng = np.random.default_rng(seed)
    w = rng.multinomial(G, np.full(G, 1.0 / G), size=n_boot).astype(np.float64)  # cluster draw counts

    def seed_weights(S):
        if resample_seeds and S > 1:
            return rng.multinomial(S, np.full(S, 1.0 / S), size=n_boot) / S
        return np.full((n_boot, S), 1.0 / S)

    fam_diff = seed_weights(B.shape[0]) @ sum_b - seed_weights(A.shape[0]) @ sum_a  # (n_boot, G)
    reps = (fam_diff * w).sum(axis=1) / (w @ sizes)
    low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    tail = min(int((reps <= 0).sum()), int((reps >= 0).sum()))
    return {"diff": float(B.mean() - A.mean()), "low": float(low), "high": float(high),
            "differs": bool(low > 0 or high < 0), "p_value": min(1.0, 2 * (1 + tail) / (n_boot + 1))}


def holm_adjusted(p_values) -> np.ndarray:
    """Holm (1979) adjusted p-values, in input order: reject hypothesis i at family-wise level α iff
    adjusted[i] ≤ α (used by the leakage curve's cutoffs; exercise 5.7 asks for the decisions themselves)."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    if p.size == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (p.size - np.arange(p.size)) * p[order])
    out = np.empty_like(p)
    out[order] = np.maximum.accumulate(scaled)
    return out


def unpaired_iid_difference(loss_a, loss_b, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> dict:
    """The naive interval: each model's first seed only, molecules resampled independently for A and for B
    (as if the two test sets were unrelated and every molecule independent). Same keys as
    :func:`paired_bootstrap_difference`."""
    a, b = _as_seeds(loss_a, "loss_a")[0], _as_seeds(loss_b, "loss_b")[0]
    rng = np.random.default_rng(seed)
    ma = a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1)
    mb = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
    low, high = np.quantile(mb - ma, [alpha / 2, 1 - alpha / 2])
    return {"diff": float(b.mean() - a.mean()), "low": float(low), "high": float(high),
            "differs": bool(low > 0 or high < 0)}


def simulate_losses(rng, n_families: int, n_seeds: int, delta: float = 0.0, sd: dict | None = None,
                    mean_size: int = MEAN_SIZE, return_target: bool = False):
    """``(loss_a, loss_b, families)``: (n_seeds, n) squared errors of models A and B on one simulated test set of
    ``n_families`` families (geometric sizes, mean ``mean_size``); see the module docstring. With
    ``return_target`` a fourth item: the fitted-model target, the difference in expected loss (B − A) of the two
    first-seed models, ``((1 + c_{B,1})² − (1 + c_{A,1})²)·V + delta``."""
    sd = {**SD, **(sd or {})}
    sizes = rng.geometric(1.0 / mean_size, size=n_families)
    families = np.repeat(np.arange(n_families), sizes)
    n = families.size
    shared = rng.normal(0, sd["family"], n_families)[families] + rng.normal(0, sd["molecule"], n)
    out, scales = [], []
    for extra in (0.0, delta):
        h = rng.normal(0, sd["model_family"], n_families)[families]
        scale = 1.0 + rng.normal(0, sd["seed"], size=(n_seeds, 1))
        err = scale * (shared + h + rng.normal(0, sd["noise"], size=(n_seeds, n)))
        if extra > 0:
            err = err + rng.normal(0, math.sqrt(extra), size=n)
        out.append(err ** 2)
        scales.append(float(scale[0, 0]))
    if return_target:
        target = (scales[1] ** 2 - scales[0] ** 2) * _bracket_variance(sd) + delta
        return out[0], out[1], families, target
    return out[0], out[1], families


def paired_t_difference(loss_a, loss_b, clusters=None, alpha: float = 0.05) -> dict:
    """Paired cluster t interval of mean loss(B) − mean loss(A) on the same molecules, seed variance included.

    With seed-averaged per-molecule differences d_i, family sums D_g and sizes n_g (G families, N molecules):
    diff = ΣD_g/N; the family part of its variance is the ratio-estimator (linearised) G/(G − 1)·Σ(D_g − diff·n_g)²/N²;
    the seed part is var(per-seed mean loss of B)/S_B + the same for A (0 with one seed: then it is the
    fitted-model question). The interval is diff ± t·SE with Satterthwaite degrees of freedom
    SE⁴ / (v_fam²/(G − 1) + v_B²/(S_B − 1) + v_A²/(S_A − 1)) — between the smallest and the sum of those df.
    Returns:
        dict with ``diff``, ``low``, ``high``, ``differs``, ``p_value`` (two-sided t) and ``df``.
    """
    from scipy import special

    A, B = _as_seeds(loss_a, "loss_a"), _as_seeds(loss_b, "loss_b")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"loss_a and loss_b must score the same molecules, got {A.shape[1]} and {B.shape[1]}")
    codes = _codes(clusters, A.shape[1])
    G, N = int(codes.max()) + 1, A.shape[1]
    if G < 2:
        raise ValueError("paired_t_difference needs at least 2 clusters")
    d = B.mean(axis=0) - A.mean(axis=0)
    D, sizes = np.bincount(codes, weights=d, minlength=G), np.bincount(codes, minlength=G)
    diff = float(D.sum() / N)
    parts = [(G / (G - 1) * float(((D - diff * sizes) ** 2).sum()) / N ** 2, G - 1)]
    for X in (A, B):
        if X.shape[0] > 1:
            parts.append((float(X.mean(axis=1).var(ddof=1)) / X.shape[0], X.shape[0] - 1))
    var = sum(v for v, _ in parts)
    se = math.sqrt(var)
    if se == 0.0:
        return {"diff": diff, "low": diff, "high": diff, "differs": diff != 0.0, "p_value": float(diff == 0.0),
                "df": float("inf")}
    df = var ** 2 / sum(v ** 2 / k for v, k in parts if v > 0)
    q = float(special.stdtrit(df, 1 - alpha / 2))
    low, high = diff - q * se, diff + q * se
    return {"diff": diff, "low": low, "high": high, "differs": bool(low > 0 or high < 0),
            "p_value": float(2 * special.stdtr(df, -abs(diff) / se)), "df": float(df)}


def _rate(hits: int, reps: int) -> tuple[float, float]:
    p = hits / reps
    return p, math.sqrt(p * (1 - p) / reps)


def _methods(n_boot: int, n_seeds: int) -> dict:
    """The compared methods: name -> (run(a, b, families, seed) -> result dict, target kind)."""
    many = _count_word(n_seeds)
    return {
        "unpaired i.i.d., one trained model each":
            (lambda a, b, fam, s: unpaired_iid_difference(a[:1], b[:1], n_boot, seed=s), "fitted"),
        "paired cluster, one trained model each":
            (lambda a, b, fam, s: paired_bootstrap_difference(a[:1], b[:1], fam, n_boot, seed=s), "fitted"),
        f"paired cluster, {many} trained models each, seeds resampled":
            (lambda a, b, fam, s: paired_bootstrap_difference(a, b, fam, n_boot, seed=s), "procedure"),
        f"paired cluster t (Satterthwaite df), {many} trained models each":
            (lambda a, b, fam, s: paired_t_difference(a, b, fam), "procedure"),
    }


def comparison_error_rates(reps: int | None = None, n_boot: int | None = None, n_families: int | None = None,
                           n_seeds: int | None = None, delta: float | None = None, seed: int = 0,
                           sd: dict | None = None, null_reps: int | None = None):
    """How often each comparison calls a difference, under the null (true difference 0: the false-positive
    rate, on ``null_reps`` test sets, default ``cmp_null_reps``) and with a true difference ``delta`` (power, on
    ``reps`` test sets, default ``cmp_reps``), at the 5 % level, and how often each interval covers its own target.

    Methods (all on the same simulated test sets): ``unpaired i.i.d., one trained model each``
    (:func:`unpaired_iid_difference`) and ``paired cluster, one trained model each`` (families resampled) — one
    fitted model per arm, so they estimate the *fitted-model target* (:func:`simulate_losses`), not the procedure
    difference, and cannot see seed variance; ``paired cluster, N trained models each, seeds resampled``
    (percentile bootstrap over families and ``n_seeds`` seeds per model) and ``paired cluster t (Satterthwaite
    df), N trained models each`` (:func:`paired_t_difference`) — the procedure question (target ``delta``). N
    models per arm is N times the training, and their mean is also a better estimator.
    Returns:
        DataFrame with ``method``, ``target`` (``fitted model`` or ``procedure``), ``false-positive rate``, ``fpr
        MC se``, ``null reps``, ``power``, ``power MC se``, ``reps``, ``target coverage`` (share of null and
        power test sets whose interval contains the method's own target) with ``coverage MC se``, and ``true
        difference``; ``attrs["hits"]`` holds the per-test-set decisions ``{(method, true difference): bool list}``
        for :func:`rate_differences`. Monte Carlo standard errors are sqrt(p(1 − p)/reps); every test set is an
        independent draw (fresh families, effects, seeds, noise and bootstrap seed).
    """
    import pandas as pd

    cfg = SETTINGS.current()
    reps, n_boot = reps or cfg.cmp_reps, n_boot or cfg.cmp_boot
    null_reps = null_reps or cfg.cmp_null_reps
    n_families, n_seeds = n_families or cfg.cmp_families, n_seeds or cfg.cmp_seeds
    delta = cfg.cmp_delta if delta is None else delta
    rng = np.random.default_rng(seed)
    methods = _methods(n_boot, n_seeds)
    hits = {(name, d): np.zeros(k, dtype=bool) for name in methods for d, k in ((0.0, null_reps), (delta, reps))}
    covered = {name: 0 for name in methods}
    for d, k in ((0.0, null_reps), (delta, reps)):
        for i in range(k):
            a, b, fam, fitted = simulate_losses(rng, n_families, n_seeds, d, sd, return_target=True)
            s = int(rng.integers(1 << 31))
            for name, (run, kind) in methods.items():
                out = run(a, b, fam, s)
                hits[(name, d)][i] = out["differs"]
                target = fitted if kind == "fitted" else d
                covered[name] += out["low"] <= target <= out["high"]
    rows = []
    for name, (_, kind) in methods.items():
        fpr, fpr_se = _rate(int(hits[(name, 0.0)].sum()), null_reps)
        power, power_se = _rate(int(hits[(name, delta)].sum()), reps)
        cov, cov_se = _rate(covered[name], null_reps + reps)
        rows.append({"method": name, "target": "fitted model" if kind == "fitted" else "procedure",
                     "false-positive rate": fpr, "fpr MC se": fpr_se, "null reps": null_reps, "power": power,
                     "power MC se": power_se, "reps": reps, "target coverage": cov, "coverage MC se": cov_se,
                     "true difference": delta})
    table = pd.DataFrame(rows)
    table.attrs["hits"] = {key: v.tolist() for key, v in hits.items()}  # lists: pandas compares attrs
    return table


def null_rejection_rate(reps: int | None = None, n_boot: int | None = None, n_families: int | None = None,
                        n_seeds: int | None = None, seed: int = 10, sd: dict | None = None,
                        level: float = 0.05) -> dict:
    """False-positive rate of the paired cluster bootstrap with ``n_seeds`` models each (seeds resampled) alone,
    under H0 (true difference 0), on ``reps`` test sets (default ``cmp_null_reps``), and on the same test sets
    that of the cluster t interval with seed variance (:func:`paired_t_difference`).

    Every test set is an independent draw (fresh families, effects, seeds and noise, and a fresh bootstrap
    seed, all from one generator seeded with ``seed``), so the Monte Carlo standard error is
    sqrt(p(1 − p)/reps).
    Returns:
        dict with ``method``, ``rate``, ``MC se``, ``low``/``high`` (rate ± 1.96 se), ``reps``, ``verdict``
        (``"above"``, ``"below"`` or ``"consistent with"`` ``level``) and ``hits`` ((reps,) bool decisions) for
        the bootstrap; ``t method``, ``t rate``, ``t MC se``, ``t verdict`` and ``t hits`` for the t interval.
    """
    cfg = SETTINGS.current()
    reps, n_boot = reps or cfg.cmp_null_reps, n_boot or cfg.cmp_boot
    n_families, n_seeds = n_families or cfg.cmp_families, n_seeds or cfg.cmp_seeds
    rng = np.random.default_rng(seed)
    hits, t_hits = np.zeros(reps, dtype=bool), np.zeros(reps, dtype=bool)
    for i in range(reps):
        a, b, fam = simulate_losses(rng, n_families, n_seeds, 0.0, sd)
        hits[i] = paired_bootstrap_difference(a, b, fam, n_boot, seed=int(rng.integers(1 << 31)))["differs"]
        t_hits[i] = paired_t_difference(a, b, fam)["differs"]

    def verdict(rate, se):
        low, high = rate - 1.96 * se, rate + 1.96 * se
        return low, high, "above" if low > level else "below" if high < level else "consistent with"

    rate, se = _rate(int(hits.sum()), reps)
    low, high, word = verdict(rate, se)
    t_rate, t_se = _rate(int(t_hits.sum()), reps)
    many = _count_word(n_seeds)
    return {"method": f"paired cluster, {many} trained models each, seeds resampled", "rate": rate,
            "MC se": se, "low": low, "high": high, "reps": reps, "verdict": word, "hits": hits,
            "t method": f"paired cluster t (Satterthwaite df), {many} trained models each", "t rate": t_rate,
            "t MC se": t_se, "t verdict": verdict(t_rate, t_se)[2], "t hits": t_hits}


def null_rate_line(out: dict, prefix: str = "") -> list[str]:
    """Printable lines for :func:`null_rejection_rate`'s result: each method's rate ± MC se and its verdict."""
    return [f"{prefix}{out[m]}, on {out['reps']} independent null test sets: false-positive rate "
            f"{out[r]:.1%} ± {out[se]:.1%}, {out[v]} the 5% level"
            for m, r, se, v in (("method", "rate", "MC se", "verdict"), ("t method", "t rate", "t MC se", "t verdict"))]


def _count_word(n: int) -> str:
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
    return words.get(int(n), str(int(n)))


def rate_differences(table, pairs=None, z: float = 1.96):
    """Paired Monte Carlo intervals of the difference in false-positive rate and in power between two methods.

    Every method of :func:`comparison_error_rates` ran on the same simulated test sets, so the difference of
    two rates is the mean of per-test-set differences of decisions; its standard error is their SD / sqrt(reps)
    (paired: what the test sets share cancels). ``pairs``: ``[(method 1, method 2), …]`` (default: every
    pair in table order).
    Power is comparable only between tests of equal size: a power row's ``comparable`` is False when the two
    false-positive rates differ detectably (their interval excludes 0).
    Returns:
        DataFrame with ``first``, ``second``, ``quantity`` (``false-positive rate`` or ``power``), ``difference``
        (first − second), ``MC se``, ``low`` and ``high`` (difference ± z·se), ``comparable``.
    """
    import itertools

    import pandas as pd

    hits = table.attrs.get("hits")
    if not hits:
        raise ValueError("the table has no per-test-set decisions (attrs['hits']): pass the output of "
                         "comparison_error_rates")
    methods = list(table["method"])
    delta = float(table["true difference"].iloc[0])
    pairs = list(itertools.combinations(methods, 2)) if pairs is None else pairs
    rows = []
    for first, second in pairs:
        equal_size = True
        for quantity, d in (("false-positive rate", 0.0), ("power", delta)):
            diff = np.asarray(hits[(first, d)], dtype=float) - np.asarray(hits[(second, d)], dtype=float)
            se = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else float("nan")
            low, high = float(diff.mean() - z * se), float(diff.mean() + z * se)
            rows.append({"first": first, "second": second, "quantity": quantity, "difference": float(diff.mean()),
                         "MC se": se, "low": low, "high": high, "comparable": equal_size})
            if quantity == "false-positive rate":
                equal_size = bool(low <= 0 <= high)
    return pd.DataFrame(rows)


def comparison_sensitivity(scenarios: dict | None = None, reps: int | None = None, seed: int = 1, **kwargs):
    """:func:`comparison_error_rates` under other variance components: one block of rows per scenario
    (``{name: sd overrides}``, default :data:`SENSITIVITY`), ``reps`` test sets per condition, null and power
    (default ``cmp_sens_reps``). Returns the concatenated tables with a ``scenario`` column first."""
    import pandas as pd

    scenarios = SENSITIVITY if scenarios is None else scenarios
    reps = reps or SETTINGS.current().cmp_sens_reps
    tables = []
    for name, sd in scenarios.items():
        table = comparison_error_rates(reps=reps, seed=seed, sd=sd, null_reps=reps, **kwargs).assign(scenario=name)
        table.attrs.clear()  # per-test-set decisions are per scenario; not kept in the concatenation
        tables.append(table)
    out = pd.concat(tables, ignore_index=True)
    return out[["scenario"] + [c for c in out.columns if c != "scenario"]]


def false_wins(drills, m: int | None = None, m_true: int | None = None, effect: float | None = None,
               reps: int | None = None, alpha: float = 0.05, seed: int = 0):
    """False "wins" when m candidates (models, thresholds) are each compared with a baseline at level ``alpha``.

    Each experiment has ``m_true`` real improvements (z ~ N(``effect``, 1)) and m − ``m_true`` candidates no
    better than the baseline (z ~ N(0, 1)); p-values are one-sided, P(Z >= z). Decisions: every p <= α
    (uncorrected), ``drills.holm_bh_decisions`` with Holm and with BH.
    Returns:
        DataFrame with ``rule``, ``P(any false win)`` and its ``MC se``, ``mean false wins``, ``false discovery
        rate`` (mean share of wins that are false, 0 when there are none) and its ``MC se``, ``power`` (mean
        share of real improvements found) and ``reps``.
    """
    import pandas as pd
    from scipy import stats

    cfg = SETTINGS.current()
    m, m_true = m or cfg.mt_m, cfg.mt_true if m_true is None else m_true
    effect, reps = cfg.mt_effect if effect is None else effect, reps or cfg.mt_reps
    rng = np.random.default_rng(seed)
    is_null = np.arange(m) >= m_true
    rules = {"uncorrected": lambda p: p <= alpha,
             "Holm": lambda p: np.asarray(drills.holm_bh_decisions(p, alpha, "holm"), dtype=bool),
             "Benjamini–Hochberg": lambda p: np.asarray(drills.holm_bh_decisions(p, alpha, "bh"), dtype=bool)}
    any_false = {r: 0 for r in rules}
    n_false = {r: [] for r in rules}
    fdp = {r: [] for r in rules}
    found = {r: [] for r in rules}
    for _ in range(reps):
        z = rng.normal(size=m) + np.where(is_null, 0.0, effect)
        p = stats.norm.sf(z)
        for r, rule in rules.items():
            wins = rule(p)
            false = int((wins & is_null).sum())
            any_false[r] += false > 0
            n_false[r].append(false)
            fdp[r].append(false / max(int(wins.sum()), 1))
            found[r].append((wins & ~is_null).sum() / max(m_true, 1))
    rows = []
    for r in rules:
        fwer, fwer_se = _rate(any_false[r], reps)
        rows.append({"rule": r, "P(any false win)": fwer, "MC se": fwer_se, "mean false wins": float(np.mean(n_false[r])),
                     "false discovery rate": float(np.mean(fdp[r])),
                     "FDR MC se": float(np.std(fdp[r]) / math.sqrt(reps)), "power": float(np.mean(found[r])),
                     "reps": reps})
    return pd.DataFrame(rows)


def summarize_rates(table, level: float | None = None) -> list[str]:
    """``"method: false-positive rate 4.9 % ± 0.7 % (4000 null test sets), power 81 % ± 1.2 % (…), its interval
    covered its own target in …"`` lines from :func:`comparison_error_rates` or :func:`comparison_sensitivity`
    (± = 1 MC se; a ``scenario`` column, if any, prefixes each line). With ``level``, each line also says whether
    the false-positive rate's 95 % Monte Carlo interval (rate ± 1.96 se) lies above, below or around ``level``."""
    out = []
    for _, r in table.iterrows():
        prefix = f"[{r['scenario']}] " if "scenario" in r.index else ""
        null_reps = int(r["null reps"]) if "null reps" in r.index else int(r["reps"])
        line = (f"{prefix}{r['method']}: false-positive rate {r['false-positive rate']:.1%} ± {r['fpr MC se']:.1%} "
                f"({null_reps} null test sets), power {r['power']:.1%} ± {r['power MC se']:.1%} (true difference "
                f"{r['true difference']:g}, {int(r['reps'])} test sets)")
        if "target coverage" in r.index:
            pooled = null_reps + int(r["reps"])
            k = int(round(r["target coverage"] * pooled))
            if k in (0, pooled):  # a ± of 0 is no uncertainty: the exact two-sided 95 % bound instead
                bound = (0.025 ** (1 / pooled))
                cov = f"{k}/{pooled}, " + (f"≥ {bound:.1%}" if k else f"≤ {1 - bound:.1%}") + " (two-sided 95 % exact)"
            else:
                cov = f"{r['target coverage']:.1%} ± {r['coverage MC se']:.1%}"
            line += (f"; its 95 % interval covered its own target ({r['target']}) in {cov} of the {pooled} null and "
                     "power test sets pooled")
        if level is not None:
            low, high = (r["false-positive rate"] + k * 1.96 * r["fpr MC se"] for k in (-1, 1))
            where = ("above the" if low > level else "below the" if high < level else
                     "not distinguishable from the")
            line += f"; false-positive rate {where} {level:.0%} level" + (
                f" at {null_reps} null test sets" if where.startswith("not") else "")
        out.append(line)
    return out


def summarize_differences(diffs) -> list[str]:
    """``"first − second, quantity: +x.x points [low, high]"`` lines from :func:`rate_differences` (95 % paired
    Monte Carlo intervals, in percentage points); a power row of two tests of unequal size says it is not compared."""
    return [f"{r['first']} − {r['second']}, {r['quantity']}: "
            + (f"{100 * r['difference']:+.1f} points [{100 * r['low']:+.1f}, {100 * r['high']:+.1f}]"
               if r.get("comparable", True) else "not compared — unequal size (their false-positive rates differ), "
               "and a test that rejects more under H0 also 'finds' more")
            for _, r in diffs.iterrows()]
