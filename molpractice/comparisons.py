"""Comparing models honestly: paired cluster bootstrap with seed variance, its error rates against the naive
unpaired i.i.d. interval, and false "wins" among many comparisons (uncorrected, Holm, Benjamini–Hochberg).

==================================  ===========================================================
``paired_bootstrap_difference``     B − A in mean loss on the same molecules: families and seeds resampled.
``holm_adjusted``                   Holm-adjusted p-values (family-wise error over several comparisons).
``unpaired_iid_difference``         the naive interval: one seed each, molecules resampled independently.
``simulate_losses``                 per-molecule losses of two models with family, seed and noise effects.
``comparison_error_rates``          false-positive rate (true difference 0) and power, with Monte Carlo error.
``null_rejection_rate``             the seeds-resampled method's false-positive rate alone, many more test sets.
``null_rate_line``                  its printable line (and its distance from a main-run rate).
``rate_differences``                paired Monte Carlo intervals of method differences (same simulated test sets).
``summarize_differences``           printable lines of those intervals.
``comparison_sensitivity``          the same rates under other variance components (sensitivity rows).
``loss_scale``                      mean and SD of one molecule's simulated loss (the scale of ``delta``).
``false_wins``                      false "wins" among m comparisons: uncorrected, Holm and BH.
==================================  ===========================================================

The simulation (:func:`simulate_losses`) is documented, not fitted: the loss of molecule i (family g) under
model M and training seed s is ``mu + f_g + e_i + h_{g,M} + c_{M,s} + eps + delta·[M = B]`` — ``f_g`` a
family's difficulty and ``e_i`` a molecule's (shared by both models: pairing cancels them), ``h_{g,M}`` how
model M handles that series (correlated within a family: resample families), ``c_{M,s}`` the seed-to-seed
shift of the model's mean loss (resample seeds), ``eps`` per-molecule noise. The true difference in expected
loss is ``delta``.

The null hypothesis of every comparison here is about *training procedures*: "H0: procedure B has the same
expected loss as A, averaged over training seeds and families". Two single fitted models differ by
``c_{B,s} − c_{A,s}`` even under that null; an interval from one seed per model answers a different question
(do these two fitted models differ?) and cannot see seed variance. Run settings: :data:`SETTINGS`.
"""
from __future__ import annotations

import math

import numpy as np

from .runtime import RunSettings

MEAN_SIZE = 8
"""Mean family size of the simulated test sets (geometric sizes)."""
MEAN_LOSS = 1.0
"""Mean per-molecule loss of model A in the simulation (``mu``)."""

SETTINGS = RunSettings(
    full=dict(cmp_reps=1000, cmp_boot=1000, cmp_families=40, cmp_seeds=5, cmp_delta=0.15,
              cmp_sens_reps=400, cmp_null_reps=4000, mt_reps=4000, mt_m=20, mt_true=5, mt_effect=3.0),
    fast=dict(cmp_reps=200, cmp_boot=400, cmp_families=40, cmp_seeds=5, cmp_delta=0.15,
              cmp_sens_reps=100, cmp_null_reps=500, mt_reps=1000, mt_m=20, mt_true=5, mt_effect=3.0),
    doc=dict(cmp_reps="simulated test sets per condition (null and true difference)",
             cmp_boot="bootstrap replicates per interval there",
             cmp_families=f"families per simulated test set (geometric sizes, mean {MEAN_SIZE})",
             cmp_seeds="training seeds per model in the paired comparison",
             cmp_delta=f"true difference in expected loss for the power rows (mean loss {MEAN_LOSS:g})",
             cmp_sens_reps="simulated test sets per condition in each sensitivity scenario",
             cmp_null_reps="independent null test sets for the seeds-resampled method's false-positive rate",
             mt_reps="simulated experiments of m comparisons", mt_m="comparisons per experiment (m)",
             mt_true="comparisons with a real effect", mt_effect="their z shift (mean of z under the effect)"),
)

# the simulation's variance components (SDs, loss units) — see the module docstring
SD = dict(family=0.5, molecule=0.5, model_family=0.15, seed=0.05, noise=0.3)
SENSITIVITY = {"default components, another simulation seed": {}, "seed SD 0.15": dict(seed=0.15),
               "family and molecule SD 1.5": dict(family=1.5, molecule=1.5)}
"""Scenarios for :func:`comparison_sensitivity` (each overrides part of :data:`SD`; the first repeats the default
components with another simulation seed, the reference for the others: every scenario uses the same draws)."""


def loss_scale(sd: dict | None = None) -> dict:
    """``{"mean": MEAN_LOSS, "sd": …}``: mean and SD of one molecule's loss under one model and seed (all
    variance components of :data:`SD`, with ``sd`` overriding some) — the scale to read ``delta`` against."""
    sd = {**SD, **(sd or {})}
    return {"mean": MEAN_LOSS, "sd": math.sqrt(sum(v ** 2 for v in sd.values()))}


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
                    mean_size: int = MEAN_SIZE):
    """``(loss_a, loss_b, families)``: (n_seeds, n) losses of models A and B on one simulated test set of
    ``n_families`` families (geometric sizes, mean ``mean_size``); see the module docstring."""
    sd = {**SD, **(sd or {})}
    sizes = rng.geometric(1.0 / mean_size, size=n_families)
    families = np.repeat(np.arange(n_families), sizes)
    n = families.size
    shared = rng.normal(0, sd["family"], n_families)[families] + rng.normal(0, sd["molecule"], n)
    out = []
    for shift in (0.0, delta):
        h = rng.normal(0, sd["model_family"], n_families)[families]
        c = rng.normal(0, sd["seed"], size=(n_seeds, 1))
        out.append(MEAN_LOSS + shared + h + c + rng.normal(0, sd["noise"], size=(n_seeds, n)) + shift)
    return out[0], out[1], families


def _rate(hits: int, reps: int) -> tuple[float, float]:
    p = hits / reps
    return p, math.sqrt(p * (1 - p) / reps)


def comparison_error_rates(reps: int | None = None, n_boot: int | None = None, n_families: int | None = None,
                           n_seeds: int | None = None, delta: float | None = None, seed: int = 0,
                           sd: dict | None = None):
    """How often each comparison calls a difference, under the null (true difference 0: the false-positive
    rate) and with a true difference ``delta`` (power), at the 5 % level.

    Methods (all on the same simulated test sets): ``unpaired i.i.d., one trained model each``
    (:func:`unpaired_iid_difference`); ``paired cluster, one trained model each`` (families resampled; it
    answers "do these two fitted models differ?", not the procedure question, so seed variance is not in it);
    ``paired cluster, N trained models each, seeds resampled`` (families and ``n_seeds`` seeds per model: N
    times the training, and the mean of N models is also a better estimator).
    Returns:
        DataFrame with ``method``, ``false-positive rate``, ``fpr MC se``, ``power``, ``power MC se`` (Monte
        Carlo standard errors sqrt(p(1 − p)/reps)), ``reps`` and ``true difference``; ``attrs["hits"]`` holds
        the per-test-set decisions ``{(method, true difference): (reps,) bool}`` for :func:`rate_differences`.
    """
    import pandas as pd

    cfg = SETTINGS.current()
    reps, n_boot = reps or cfg.cmp_reps, n_boot or cfg.cmp_boot
    n_families, n_seeds = n_families or cfg.cmp_families, n_seeds or cfg.cmp_seeds
    delta = cfg.cmp_delta if delta is None else delta
    rng = np.random.default_rng(seed)
    methods = {
        "unpaired i.i.d., one trained model each":
            lambda a, b, fam, s: unpaired_iid_difference(a[:1], b[:1], n_boot, seed=s),
        "paired cluster, one trained model each":
            lambda a, b, fam, s: paired_bootstrap_difference(a[:1], b[:1], fam, n_boot, seed=s),
        f"paired cluster, {_count_word(n_seeds)} trained models each, seeds resampled":
            lambda a, b, fam, s: paired_bootstrap_difference(a, b, fam, n_boot, seed=s),
    }
    hits = {(name, d): np.zeros(reps, dtype=bool) for name in methods for d in (0.0, delta)}
    for d in (0.0, delta):
        for i in range(reps):
            a, b, fam = simulate_losses(rng, n_families, n_seeds, d, sd)
            s = int(rng.integers(1 << 31))
            for name, run in methods.items():
                hits[(name, d)][i] = run(a, b, fam, s)["differs"]
    rows = []
    for name in methods:
        fpr, fpr_se = _rate(int(hits[(name, 0.0)].sum()), reps)
        power, power_se = _rate(int(hits[(name, delta)].sum()), reps)
        rows.append({"method": name, "false-positive rate": fpr, "fpr MC se": fpr_se, "power": power,
                     "power MC se": power_se, "reps": reps, "true difference": delta})
    table = pd.DataFrame(rows)
    table.attrs["hits"] = {key: v.tolist() for key, v in hits.items()}  # lists: pandas compares attrs
    return table


def null_rejection_rate(reps: int | None = None, n_boot: int | None = None, n_families: int | None = None,
                        n_seeds: int | None = None, seed: int = 10, sd: dict | None = None,
                        level: float = 0.05) -> dict:
    """False-positive rate of the paired cluster bootstrap with ``n_seeds`` models each (seeds resampled) alone,
    under H0 (true difference 0), on ``reps`` test sets (default ``cmp_null_reps``: more than
    :func:`comparison_error_rates` can afford for every method).

    Every test set is an independent draw (fresh families, effects, seeds and noise, and a fresh bootstrap
    seed, all from one generator seeded with ``seed``), so the Monte Carlo standard error is
    sqrt(p(1 − p)/reps).
    Returns:
        dict with ``method``, ``rate``, ``MC se``, ``low``/``high`` (rate ± 1.96 se), ``reps``, ``verdict``
        (``"above"``, ``"below"`` or ``"consistent with"`` ``level``) and ``hits`` ((reps,) bool decisions).
    """
    cfg = SETTINGS.current()
    reps, n_boot = reps or cfg.cmp_null_reps, n_boot or cfg.cmp_boot
    n_families, n_seeds = n_families or cfg.cmp_families, n_seeds or cfg.cmp_seeds
    rng = np.random.default_rng(seed)
    hits = np.zeros(reps, dtype=bool)
    for i in range(reps):
        a, b, fam = simulate_losses(rng, n_families, n_seeds, 0.0, sd)
        hits[i] = paired_bootstrap_difference(a, b, fam, n_boot, seed=int(rng.integers(1 << 31)))["differs"]
    rate, se = _rate(int(hits.sum()), reps)
    low, high = rate - 1.96 * se, rate + 1.96 * se
    verdict = "above" if low > level else "below" if high < level else "consistent with"
    return {"method": f"paired cluster, {_count_word(n_seeds)} trained models each, seeds resampled", "rate": rate,
            "MC se": se, "low": low, "high": high, "reps": reps, "verdict": verdict, "hits": hits}


def null_rate_line(out: dict, prefix: str = "", main=None) -> str:
    """One printable line for :func:`null_rejection_rate`'s result (rate ± MC se, verdict). With ``main`` (a row
    of :func:`comparison_error_rates` for the same method), also how many standard errors of the difference the
    main run's false-positive rate lies from this one."""
    line = (f"{prefix}{out['method']}, alone, on {out['reps']} independent null test sets: false-positive rate "
            f"{out['rate']:.1%} ± {out['MC se']:.1%}, {out['verdict']} the 5% level")
    if main is not None:
        gap = (main["false-positive rate"] - out["rate"]) / math.hypot(main["fpr MC se"], out["MC se"])
        line += (f"; the main run's {main['false-positive rate']:.1%} ({int(main['reps'])} test sets) lies "
                 f"{abs(gap):.1f} standard errors of the difference {'below' if gap < 0 else 'above'} it")
    return line


def _count_word(n: int) -> str:
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
    return words.get(int(n), str(int(n)))


def rate_differences(table, pairs=None, z: float = 1.96):
    """Paired Monte Carlo intervals of the difference in false-positive rate and in power between two methods.

    Every method of :func:`comparison_error_rates` ran on the same simulated test sets, so the difference of
    two rates is the mean of per-test-set differences of decisions; its standard error is their SD / sqrt(reps)
    (paired: what the test sets share cancels). ``pairs``: ``[(method 1, method 2), …]`` (default: every
    pair in table order).
    Returns:
        DataFrame with ``first``, ``second``, ``quantity`` (``false-positive rate`` or ``power``), ``difference``
        (first − second), ``MC se``, ``low`` and ``high`` (difference ± z·se).
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
        for quantity, d in (("false-positive rate", 0.0), ("power", delta)):
            diff = np.asarray(hits[(first, d)], dtype=float) - np.asarray(hits[(second, d)], dtype=float)
            se = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else float("nan")
            rows.append({"first": first, "second": second, "quantity": quantity, "difference": float(diff.mean()),
                         "MC se": se, "low": float(diff.mean() - z * se), "high": float(diff.mean() + z * se)})
    return pd.DataFrame(rows)


def comparison_sensitivity(scenarios: dict | None = None, reps: int | None = None, seed: int = 1, **kwargs):
    """:func:`comparison_error_rates` under other variance components: one block of rows per scenario
    (``{name: sd overrides}``, default :data:`SENSITIVITY`), ``reps`` test sets per condition (default
    ``cmp_sens_reps``). Returns the concatenated tables with a ``scenario`` column first."""
    import pandas as pd

    scenarios = SENSITIVITY if scenarios is None else scenarios
    reps = reps or SETTINGS.current().cmp_sens_reps
    tables = []
    for name, sd in scenarios.items():
        table = comparison_error_rates(reps=reps, seed=seed, sd=sd, **kwargs).assign(scenario=name)
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
    """``"method: false-positive rate 4.9 % ± 0.7 %, power 81 % ± 1.2 %"`` lines from
    :func:`comparison_error_rates` or :func:`comparison_sensitivity` (± = 1 MC se; a ``scenario`` column, if
    any, prefixes each line). With ``level``, each line also says whether the false-positive rate's 95 % Monte
    Carlo interval (rate ± 1.96 se) lies above, below or around ``level``."""
    out = []
    for _, r in table.iterrows():
        prefix = f"[{r['scenario']}] " if "scenario" in r.index else ""
        line = (f"{prefix}{r['method']}: false-positive rate {r['false-positive rate']:.1%} ± {r['fpr MC se']:.1%}, "
                f"power {r['power']:.1%} ± {r['power MC se']:.1%} (true difference {r['true difference']:g})")
        if level is not None:
            low, high = (r["false-positive rate"] + k * 1.96 * r["fpr MC se"] for k in (-1, 1))
            where = "above" if low > level else "below" if high < level else "consistent with"
            line += f"; false-positive rate {where} the {level:.0%} level"
        out.append(line)
    return out


def summarize_differences(diffs) -> list[str]:
    """``"first − second, quantity: +x.x points [low, high]"`` lines from :func:`rate_differences` (95 % paired
    Monte Carlo intervals, in percentage points)."""
    return [f"{r['first']} − {r['second']}, {r['quantity']}: {100 * r['difference']:+.1f} points "
            f"[{100 * r['low']:+.1f}, {100 * r['high']:+.1f}]" for _, r in diffs.iterrows()]
