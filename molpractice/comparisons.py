"""Comparing models honestly: paired cluster bootstrap with seed variance, its error rates against the naive
unpaired i.i.d. interval, and false "wins" among many comparisons (uncorrected, Holm, Benjamini–Hochberg).

==================================  ===========================================================
``paired_bootstrap_difference``     B − A in mean loss on the same molecules: families and seeds resampled.
``unpaired_iid_difference``         the naive interval: one seed each, molecules resampled independently.
``simulate_losses``                 per-molecule losses of two models with family, seed and noise effects.
``comparison_error_rates``          false-positive rate (true difference 0) and power, with Monte Carlo error.
``false_wins``                      false "wins" among m comparisons: uncorrected, Holm and BH.
==================================  ===========================================================

The simulation (:func:`simulate_losses`) is documented, not fitted: the loss of molecule i (family g) under
model M and training seed s is ``mu + f_g + e_i + h_{g,M} + c_{M,s} + eps + delta·[M = B]`` — ``f_g`` a
family's difficulty and ``e_i`` a molecule's (shared by both models: pairing cancels them), ``h_{g,M}`` how
model M handles that series (correlated within a family: resample families), ``c_{M,s}`` the seed-to-seed
shift of the model's mean loss (resample seeds), ``eps`` per-molecule noise. The true difference in expected
loss is ``delta``. Run settings: :data:`SETTINGS`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .runtime import RunSettings

SETTINGS = RunSettings(
    full=dict(cmp_reps=1000, cmp_boot=1000, cmp_families=40, cmp_seeds=5, cmp_delta=0.15,
              mt_reps=4000, mt_m=20, mt_true=5, mt_effect=3.0),
    fast=dict(cmp_reps=200, cmp_boot=400, cmp_families=40, cmp_seeds=5, cmp_delta=0.15,
              mt_reps=1000, mt_m=20, mt_true=5, mt_effect=3.0),
    doc=dict(cmp_reps="simulated test sets per condition (null and true difference)",
             cmp_boot="bootstrap replicates per interval there",
             cmp_families="families per simulated test set (mean size MEAN_SIZE)",
             cmp_seeds="training seeds per model in the paired comparison",
             cmp_delta="true difference in expected loss for the power rows",
             mt_reps="simulated experiments of m comparisons", mt_m="comparisons per experiment (m)",
             mt_true="comparisons with a real effect", mt_effect="their z shift (mean of z under the effect)"),
)

# the simulation's variance components (SDs, loss units) — see the module docstring
SD = dict(family=0.5, molecule=0.5, model_family=0.15, seed=0.05, noise=0.3)
MEAN_SIZE = 8
"""Mean family size of the simulated test sets (geometric sizes)."""


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
        dict with ``diff`` (B − A, positive = B worse), ``low``, ``high`` and ``differs`` (the interval
        excludes 0).
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
    return {"diff": float(B.mean() - A.mean()), "low": float(low), "high": float(high),
            "differs": bool(low > 0 or high < 0)}


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
        out.append(1.0 + shared + h + c + rng.normal(0, sd["noise"], size=(n_seeds, n)) + shift)
    return out[0], out[1], families


def _rate(hits: int, reps: int) -> tuple[float, float]:
    p = hits / reps
    return p, math.sqrt(p * (1 - p) / reps)


def comparison_error_rates(reps: int | None = None, n_boot: int | None = None, n_families: int | None = None,
                           n_seeds: int | None = None, delta: float | None = None, seed: int = 0,
                           sd: dict | None = None):
    """How often each comparison calls a difference, under the null (true difference 0: the false-positive
    rate) and with a true difference ``delta`` (power), at the 5 % level.

    Methods: ``unpaired i.i.d., 1 seed`` (:func:`unpaired_iid_difference`); ``paired cluster, 1 seed`` (families
    resampled, seed variance ignored); ``paired cluster + seeds`` (families and ``n_seeds`` seeds per model).
    Returns:
        DataFrame with ``method``, ``false-positive rate``, ``fpr MC se``, ``power``, ``power MC se`` (Monte
        Carlo standard errors sqrt(p(1 − p)/reps)), ``reps`` and ``true difference``.
    """
    import pandas as pd

    cfg = SETTINGS.current()
    reps, n_boot = reps or cfg.cmp_reps, n_boot or cfg.cmp_boot
    n_families, n_seeds = n_families or cfg.cmp_families, n_seeds or cfg.cmp_seeds
    delta = cfg.cmp_delta if delta is None else delta
    rng = np.random.default_rng(seed)
    methods = {
        "unpaired i.i.d., 1 seed": lambda a, b, fam, s: unpaired_iid_difference(a[:1], b[:1], n_boot, seed=s),
        "paired cluster, 1 seed": lambda a, b, fam, s: paired_bootstrap_difference(a[:1], b[:1], fam, n_boot, seed=s),
        f"paired cluster + {n_seeds} seeds": lambda a, b, fam, s: paired_bootstrap_difference(a, b, fam, n_boot,
                                                                                              seed=s),
    }
    hits = {(name, d): 0 for name in methods for d in (0.0, delta)}
    for d in (0.0, delta):
        for _ in range(reps):
            a, b, fam = simulate_losses(rng, n_families, n_seeds, d, sd)
            s = int(rng.integers(1 << 31))
            for name, run in methods.items():
                hits[(name, d)] += run(a, b, fam, s)["differs"]
    rows = []
    for name in methods:
        fpr, fpr_se = _rate(hits[(name, 0.0)], reps)
        power, power_se = _rate(hits[(name, delta)], reps)
        rows.append({"method": name, "false-positive rate": fpr, "fpr MC se": fpr_se, "power": power,
                     "power MC se": power_se, "reps": reps, "true difference": delta})
    return pd.DataFrame(rows)


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


def summarize_rates(table, columns: Sequence[str] = ("false-positive rate", "power")) -> list[str]:
    """``"method: fpr 4.9 % ± 0.7, power 81 % ± 1.2"`` lines from :func:`comparison_error_rates` (± = 1 MC se)."""
    out = []
    for _, r in table.iterrows():
        out.append(f"{r['method']}: false-positive rate {r['false-positive rate']:.1%} ± {r['fpr MC se']:.1%}, "
                   f"power {r['power']:.1%} ± {r['power MC se']:.1%} (true difference {r['true difference']:g})")
    return out
