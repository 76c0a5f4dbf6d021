"""What a *perfectly calibrated* model scores (chapter 3): reference values of every calibration metric on the same
molecules and σ's (Rasmussen et al. 2023), the PIT-only bands that depend on n alone, the calibrated-reference
distribution of a *change* of a binned calibration error, the fixed-forecast consistency-resampling null of the
classification ECE (after Bröcker & Smith 2007) and error-based calibration (ENCE, Levi et al. 2022) with its band.

Everything is re-exported by :mod:`molpractice.calibration`; functions that need a chapter-3 exercise receive the
chapter module (``chapter3``) and never import it.
"""
from __future__ import annotations

import math

import numpy as np

from . import calibration_pit as _pit


# ------------------------------------------------------------------------ reference values (calibrated)
EDGE_SE = 2.0  # an observation within this many Monte Carlo SEs of a band end is "at the edge": no call


def quantile_mc_se(values, q: float) -> float:
    """Monte Carlo standard error of the ``q`` quantile of ``values`` (independent draws), from the binomial
    distribution of the number of draws below it: the order statistics ⌊Bq ∓ 1.96·√(Bq(1 − q))⌋ bracket the true
    quantile with about 95 % probability, so SE ≈ (their distance) / (2 · 1.96)."""
    v = np.sort(np.asarray(values, dtype=float))
    b = v.size
    if b < 2:
        return float("nan")
    k = 1.959963984540054 * math.sqrt(b * q * (1 - q))
    lo, hi = int(max(0, math.floor(b * q - k))), int(min(b - 1, math.ceil(b * q + k)))
    return float((v[hi] - v[lo]) / (2 * 1.959963984540054))


def band_summary(values) -> dict:
    """``{"median", "low", "high", "low_se", "high_se"}``: the central 95 % band of ``values`` (calibrated draws)
    and the Monte Carlo SE of each end (:func:`quantile_mc_se`)."""
    values = np.asarray(values, dtype=float)
    low, med, high = np.quantile(values, [0.025, 0.5, 0.975])
    return {"median": float(med), "low": float(low), "high": float(high),
            "low_se": quantile_mc_se(values, 0.025), "high_se": quantile_mc_se(values, 0.975)}


REFERENCE_METRICS = ("spearman", "nll", "ece", "qce", "coverage68", "coverage95")


def reference_values(chapter3, mean, var, y, draws: int = 1000, seed: int = 0, n_levels: int | None = None) -> dict:
    """Each metric observed vs its distribution under "the model is calibrated" (Rasmussen et al. 2023).

    Draws y* ~ N(μ, σ²) with the model's own μ and σ on the same molecules ``draws`` times and recomputes
    every metric of :data:`REFERENCE_METRICS` (with ``chapter3``'s NLL and ECE). Returns ``{metric:
    {"observed", "median", "low", "high", "low_se", "high_se", "fraction_below"}}`` — the reference median, its
    central 95 % band, the Monte Carlo SE of each band end,
    and the fraction of calibrated draws below the observed value (near 0 or 1: the observation is outside
    what calibration gives).
    """
    mean, var, y = (np.asarray(a, dtype=float) for a in (mean, var, y))
    std = np.sqrt(var)
    n_levels = int(n_levels or _pit._default("n_levels"))
    rng = np.random.default_rng(seed)

    def metrics(target):
        z = (target - mean) / std
        return {"spearman": _pit.spearman(np.abs(target - mean), std),
                "nll": chapter3.gaussian_nll(mean, var, target),
                "ece": chapter3.regression_ece(mean, std, target, n_levels=n_levels),
                "qce": chapter3.quantile_calibration_error(mean, std, target, n_levels=n_levels),
                "coverage68": float(np.mean(np.abs(z) <= 0.994457883209753)),
                "coverage95": float(np.mean(np.abs(z) <= 1.959963984540054))}

    observed = metrics(y)
    sims = [metrics(mean + std * rng.standard_normal(len(y))) for _ in range(int(draws))]
    out = {}
    for key in REFERENCE_METRICS:
        values = np.array([s[key] for s in sims])
        out[key] = {"observed": observed[key], **band_summary(values),
                    "fraction_below": float(np.mean(values < observed[key]))}
    return out


def calibrated_pit_reference(n: int, draws: int = 1000, seed: int = 0, n_levels: int | None = None) -> dict:
    """Reference bands of the PIT-only metrics (interval ECE, QCE, coverage68/95) for ``n`` molecules under
    calibration. A calibrated model's PIT values are i.i.d. uniform whatever its μ and σ, so these bands depend on
    n alone (unlike the Spearman's and the NLL's, which need the σ's). Returns ``{metric: {"median", "low",
    "high", "low_se", "high_se"}}`` (:func:`band_summary`)."""
    n_levels = int(n_levels or _pit._default("n_levels"))
    rng = np.random.default_rng(seed)
    sims = {"ece": [], "qce": [], "coverage68": [], "coverage95": []}
    for _ in range(int(draws)):
        u = rng.random(int(n))
        sims["ece"].append(_pit.interval_ece_from_pit(u, n_levels))
        sims["qce"].append(_pit.quantile_calibration_error_from_pit(u, n_levels))
        sims["coverage68"].append(_pit.coverage_from_pit(u, 0.68))
        sims["coverage95"].append(_pit.coverage_from_pit(u, 0.95))
    return {key: band_summary(values) for key, values in sims.items()}



def reference_table(refs: dict):
    """``{split: reference_values(...)}`` as a DataFrame (split × metric)."""
    import pandas as pd

    rows = []
    for split, ref in refs.items():
        for key, r in ref.items():
            inside = r["low"] <= r["observed"] <= r["high"]
            rows.append({"split": split, "metric": key, "observed": round(r["observed"], 3),
                         "calibrated median": round(r["median"], 3),
                         "calibrated 95% band": f"{r['low']:.3f} to {r['high']:.3f}",
                         "inside band": inside})
    return pd.DataFrame(rows).set_index(["split", "metric"])


def ece_null(chapter3, p, labels, draws: int = 1000, seed: int = 0, n_bins: int | None = None) -> dict:
    """A fixed-forecast variant of Bröcker & Smith's (2007) consistency resampling, for chapter 3's top-label
    classification ECE. Bröcker & Smith also resample the forecasts with replacement; here the probabilities
    stay the observed ones (the question is "what would *these* forecasts score if they were calibrated?").

    Labels are redrawn as y* ~ Bernoulli(p) (the probabilities taken at their word), and the ECE recomputed:
    its distribution is what a *perfectly calibrated* model scores at this n and with these probabilities —
    the ECE's upward bias included. Returns ``{"observed", "median", "low", "high", "p_value"}`` (p-value:
    fraction of calibrated draws with an ECE ≥ the observed one), ``"p_two_sided"`` (2 × the smaller tail, at
    most 1: an ECE far *below* the draws also rejects the null) and ``"excess"`` = observed − median.
    """
    p = np.asarray(p, dtype=float)
    n_bins = int(n_bins or _pit._default("n_bins"))
    rng = np.random.default_rng(seed)
    observed = chapter3.classification_ece(p, np.asarray(labels, dtype=int), n_bins=n_bins)
    values = np.array([chapter3.classification_ece(p, (rng.random(len(p)) < p).astype(int), n_bins=n_bins)
                       for _ in range(int(draws))])
    low, med, high = np.quantile(values, [0.025, 0.5, 0.975])
    p_ge, p_le = float(np.mean(values >= observed)), float(np.mean(values <= observed))
    return {"observed": float(observed), "median": float(med), "low": float(low), "high": float(high),
            "p_value": p_ge, "p_two_sided": min(1.0, 2 * min(p_ge, p_le)), "excess": float(observed - med)}



def reference_change(statistic_new, statistic_old, draw, observed: float, draws: int = 1000, seed: int = 0) -> dict:
    """Where a change "new − old" of a calibration statistic falls against its distribution when the **old**
    predictions are calibrated: ``draw(rng)`` returns one set of labels drawn from the old predictions themselves
    (y* ~ N(μ, σ²) for a regression, y* ~ Bernoulli(p̂) for probabilities), both statistics are recomputed on it.

    This is the yardstick for changes of binned calibration errors (ECE, QCE), for which no bootstrap interval —
    percentile or BCa — is reliable near perfect calibration: they are absolute values of step functions, and at
    calibration |·| sits at its kink. Returns ``{"change": observed, "median", "low", "high"`` (central 95 %),
    ``"low_se", "high_se"`` (Monte Carlo SE of the ends), ``"fraction_below", "where"}`` with ``where`` = "inside"
    / "below" / "above" the band, or "at the edge of" it within :data:`EDGE_SE` Monte Carlo SEs of an end (no call).
    """
    rng = np.random.default_rng(seed)
    values = np.empty(int(draws))
    for i in range(int(draws)):
        y = draw(rng)
        values[i] = statistic_new(y) - statistic_old(y)
    band = band_summary(values)
    pos = band_position({"observed": observed, **band})
    where = {"in": "inside", "at the edge": "at the edge of"}.get(pos, pos)
    return {"change": float(observed), **band, "fraction_below": float(np.mean(values < observed)), "where": where,
            "kind": "reference"}


def gaussian_draw(mean, std):
    """``draw(rng)`` for :func:`reference_change`: y* ~ N(mean, std²) on the same molecules."""
    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    return lambda rng: mean + std * rng.standard_normal(mean.size)



# ------------------------------------------------------------------------------------------- ENCE
def ence_bins(std, y, mean, n_bins: int = 8):
    """Error-based calibration (Levi et al. 2022): molecules sorted by σ into ``n_bins`` equal-count bins;
    per bin the root mean variance RMV and the RMSE. Returns ``(rmv, rmse, ence)`` with
    ENCE = mean_b |RMV_b − RMSE_b| / RMV_b (0 when calibrated, up to sampling noise)."""
    std, y, mean = (np.asarray(a, dtype=float) for a in (std, y, mean))
    order = np.argsort(std, kind="stable")
    parts = np.array_split(order, int(n_bins))
    rmv = np.array([math.sqrt(np.mean(std[p] ** 2)) for p in parts])
    rmse = np.array([math.sqrt(np.mean((y[p] - mean[p]) ** 2)) for p in parts])
    return rmv, rmse, float(np.mean(np.abs(rmv - rmse) / rmv))



def ence_reference(std, mean, n_bins: int = 8, draws: int = 1000, seed: int = 0):
    """ENCE's distribution under calibration (y* ~ N(μ, σ²)): ``(median, low, high)``."""
    rng = np.random.default_rng(seed)
    std, mean = np.asarray(std, dtype=float), np.asarray(mean, dtype=float)
    vals = [ence_bins(std, mean + std * rng.standard_normal(len(std)), mean, n_bins)[2] for _ in range(int(draws))]
    low, med, high = np.quantile(vals, [0.025, 0.5, 0.975])
    return float(med), float(low), float(high)


def configuration_table(configurations: dict):
    """``{split: configuration_references(...)}`` as a DataFrame (split × configuration; one column per metric):
    each cell "observed [low, high] in/above/below" against that configuration's calibrated band, "n/a" where the
    reference does not apply (see :func:`molpractice.uncertainty_report.configuration_references`)."""
    import pandas as pd

    rows = []
    for split, confs in configurations.items():
        for name, ref in confs.items():
            row = {"split": split, "configuration": name}
            for key in REFERENCE_METRICS:
                r = ref.get(key)
                row[key] = "n/a" if r is None else (f"{r['observed']:.3f} [{r['low']:.3f}, {r['high']:.3f}] "
                                                   + band_position(r))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["split", "configuration"])


def band_position(r: dict) -> str:
    """"in" / "above" / "below" for ``{"observed", "low", "high"}``; "at the edge" when the observation lies within
    :data:`EDGE_SE` Monte Carlo SEs (``low_se`` / ``high_se``, when given) of a band end — a borderline call either
    way, counted neither as in nor as outside."""
    x = r["observed"]
    for end, se in (("low", "low_se"), ("high", "high_se")):
        s = r.get(se)
        if s is not None and math.isfinite(s) and abs(x - r[end]) <= EDGE_SE * s:
            return "at the edge"
    return "in" if r["low"] <= x <= r["high"] else "above" if x > r["high"] else "below"


def outside_lines(configurations: dict) -> list[str]:
    """Per split: which (configuration, metric) pairs lie outside their calibrated band, counted over all checks
    (no multiplicity adjustment: with many 95 % bands about 1 in 20 true-null checks falls outside by chance).
    Checks "at the edge" (within :data:`EDGE_SE` Monte Carlo SEs of a band end) are listed apart and not counted."""
    lines = []
    for split, confs in configurations.items():
        checks = [(name, key, band_position(r)) for name, ref in confs.items() for key, r in ref.items()]
        out = [f"{name} {key} ({pos})" for name, key, pos in checks if pos in ("above", "below")]
        edge = [f"{name} {key}" for name, key, pos in checks if pos == "at the edge"]
        lines.append(f"{split:>8}: {len(out)} of {len(checks)} checks outside their calibrated band"
                     + (f": {', '.join(out)}" if out else "") + " (unadjusted for multiplicity)"
                     + (f"; at the edge (within {EDGE_SE:g} Monte Carlo SE of a band end, no call, not counted): "
                        f"{', '.join(edge)}" if edge else ""))
    return lines
