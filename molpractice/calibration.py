"""Calibration metrics of Gaussian regression predictions and binary probabilities, their reference values
under perfect calibration, quantile (PIT) calibration, isotonic recalibration, split-conformal intervals and
paired bootstrap intervals — the measurements of chapter 3, shared by the notebook and ``bench ch03``.

Every function that needs a chapter-3 exercise receives the chapter module (``chapter3``: learner's or
reference) and never imports it. Conventions: a regression prediction is N(mean, var) per molecule,
``std = sqrt(var)``; arrays are (n,) float64.

Which calibration is which (the words matter):

* **interval calibration** (chapter 3's ``regression_ece``, uncertainty-toolbox's ``prop_type="interval"``):
  the central interval μ ± Φ⁻¹((1 + p)/2)·σ should hold a fraction p of the observations. It only looks at
  |z| = |y − μ|/σ, so it is blind to bias and skew (z and −z count the same).
* **quantile calibration** (Kuleshov et al. 2018): the PIT values u = F(y) = Φ((y − μ)/σ) should be uniform,
  i.e. P(u ≤ p) = p for every p; its error (:func:`quantile_calibration_error`) sees bias and skew.
* **error-based calibration** (Levi et al. 2022): in bins of σ, the RMSE should equal the root mean variance
  (:func:`ence_bins`).
"""
from __future__ import annotations

import math

import numpy as np

# ------------------------------------------------------------------------------------------- basics


_FALLBACK = {"n_levels": 100, "n_bins": 15, "n_boot": 2000}
_settings = None


def use_settings(current) -> None:
    """Take the defaults of ``n_levels``, ``n_bins`` and ``n_boot`` from ``current()`` (``molpractice.ensembles``
    registers its ``SETTINGS.current``, so the chapter's run settings stay in one place without an import cycle)."""
    global _settings
    _settings = current


def _default(name):
    return getattr(_settings(), name) if _settings is not None else _FALLBACK[name]


def interval_coverage(mean, std, y, level: float) -> float:
    """Fraction of ``y`` inside the central ``level`` interval μ ± Φ⁻¹((1 + level)/2)·σ."""
    from scipy.stats import norm

    mean, std, y = (np.asarray(a, dtype=float) for a in (mean, std, y))
    return float(np.mean(np.abs(y - mean) <= norm.ppf(0.5 + level / 2) * std))


def spearman(a, b) -> float:
    """Spearman rank correlation of two (n,) arrays (NaN when one is constant)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def pit(mean, std, y) -> np.ndarray:
    """Probability integral transform u_i = F_i(y_i) = Φ((y_i − μ_i)/σ_i): uniform on [0, 1] when calibrated."""
    from scipy.stats import norm

    mean, std, y = (np.asarray(a, dtype=float) for a in (mean, std, y))
    return norm.cdf((y - mean) / std)


def quantile_calibration_curve(u, n_levels: int = 100):
    """``(expected, observed)``: levels p = linspace(0, 1, n_levels) and the fraction of PIT values ≤ p."""
    u = np.asarray(u, dtype=float)
    levels = np.linspace(0.0, 1.0, int(n_levels))
    return levels, (u[None, :] <= levels[:, None]).mean(axis=1)


def quantile_calibration_error_from_pit(u, n_levels: int = 100) -> float:
    """Mean |p − fraction(u ≤ p)| over ``n_levels`` levels: uncertainty-toolbox's mean absolute calibration
    error with ``prop_type="quantile"`` (quantile calibration as defined by Kuleshov et al. 2018, who score the
    same curve with a weighted squared gap Σ_j w_j (p_j − p̂_j)² instead). Chapter 3's exercise 3.8
    (``quantile_calibration_error``) computes it from Gaussian predictions; this version takes PIT values, so
    it also scores recalibrated (isotonic) PITs."""
    expected, observed = quantile_calibration_curve(u, n_levels)
    return float(np.mean(np.abs(expected - observed)))


def interval_ece_from_pit(u, n_levels: int = 100) -> float:
    """The interval (central) calibration error from PIT values: observed coverage of level p = fraction
    with |u − ½| ≤ p/2 (equals ``regression_ece`` for u = Φ(z))."""
    u = np.asarray(u, dtype=float)
    levels = np.linspace(0.0, 1.0, int(n_levels))
    observed = (np.abs(u - 0.5)[None, :] <= levels[:, None] / 2 + 1e-12).mean(axis=1)
    return float(np.mean(np.abs(levels - observed)))


def coverage_from_pit(u, level: float) -> float:
    """Fraction of observations inside the central ``level`` interval, from PIT values."""
    return float(np.mean(np.abs(np.asarray(u, dtype=float) - 0.5) <= level / 2 + 1e-12))


def quantile_calibration_error(mean, std, y, n_levels: int = 100) -> float:
    """:func:`quantile_calibration_error_from_pit` of Gaussian predictions (the package's own copy, for tests;
    the notebook and the benchmark call ``chapter3.quantile_calibration_error``, exercise 3.8)."""
    return quantile_calibration_error_from_pit(pit(mean, std, y), n_levels)


def gaussian_metrics(chapter3, mean, var, y, n_levels: int | None = None) -> dict:
    """The regression metrics of Gaussian predictions N(mean, var) against ``y``, using ``chapter3``'s
    ``gaussian_nll``, ``regression_ece`` and ``quantile_calibration_error``: ``rmse``, ``nll``, ``ece`` (interval), ``qce`` (quantile
    calibration error), ``coverage68``, ``coverage95``, ``sharpness`` (mean predicted std) and ``spearman``
    (|error| vs predicted std)."""
    mean, var, y = (np.asarray(a, dtype=float) for a in (mean, var, y))
    std = np.sqrt(var)
    n_levels = int(n_levels or _default("n_levels"))
    return {"rmse": float(np.sqrt(np.mean((y - mean) ** 2))),
            "nll": chapter3.gaussian_nll(mean, var, y),
            "ece": chapter3.regression_ece(mean, std, y, n_levels=n_levels),
            "qce": chapter3.quantile_calibration_error(mean, std, y, n_levels=n_levels),
            "coverage68": interval_coverage(mean, std, y, 0.68),
            "coverage95": interval_coverage(mean, std, y, 0.95),
            "sharpness": float(np.mean(std)),
            "spearman": spearman(np.abs(y - mean), std)}


def exceedance_probability(mean, var, threshold: float) -> np.ndarray:
    """P(y > threshold) under N(mean, var): Φ((μ − t)/σ), the regression ensemble's class probability."""
    from scipy.stats import norm

    mean, var = np.asarray(mean, dtype=float), np.asarray(var, dtype=float)
    return norm.sf(threshold, loc=mean, scale=np.sqrt(var))


def logit(p, eps: float = 1e-12) -> np.ndarray:
    """log(p / (1 − p)) with p clipped to [eps, 1 − eps]."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def sigmoid(z) -> np.ndarray:
    from scipy.special import expit

    return expit(np.asarray(z, dtype=float))


def ensemble_probability(logits) -> np.ndarray:
    """Equal-weight ensemble of binary classifiers: the mean of the members' probabilities, from (M, n)
    logits (averaging probabilities, not logits, is the mixture's prediction)."""
    return sigmoid(np.asarray(logits, dtype=float)).mean(axis=0)


def brier_score(p, labels) -> float:
    """Mean squared difference between P(class 1) and the 0/1 label (lower is better; 0.25 = coin flip)."""
    p, labels = np.asarray(p, dtype=float), np.asarray(labels, dtype=float)
    return float(np.mean((p - labels) ** 2))


def classification_metrics(chapter3, p, labels, n_bins: int | None = None) -> dict:
    """``ece`` (chapter3's ``classification_ece``: top-label), ``brier``, ``log_loss``, ``accuracy`` of
    binary probabilities ``p`` = P(class 1)."""
    p, labels = np.asarray(p, dtype=float), np.asarray(labels, dtype=int)
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return {"ece": chapter3.classification_ece(p, labels, n_bins=int(n_bins or _default("n_bins"))),
            "brier": brier_score(p, labels),
            "log_loss": float(-np.mean(labels * np.log(q) + (1 - labels) * np.log1p(-q))),
            "accuracy": float(np.mean((p > 0.5) == (labels == 1)))}


# ------------------------------------------------------------------------------------------- bootstrap
def bootstrap_interval(statistic, arrays, n_boot: int | None = None, size: int | None = None, alpha: float = 0.05,
                       seed: int = 0):
    """Percentile bootstrap interval of ``statistic(*resampled arrays)`` over molecules.

    Args:
        statistic: function of the arrays (each indexed by molecule on axis 0) → float.
        arrays: sequence of arrays with the same first dimension n.
        size: molecules per resample (default n); a smaller ``size`` answers "how sure would I be with
            only this many test molecules?".
    Returns:
        ``(low, high, values)`` — the interval and the ``n_boot`` resampled statistics.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("all arrays need the same number of molecules")
    size = n if size is None else int(size)
    n_boot = int(n_boot or _default("n_boot"))
    rng = np.random.default_rng(seed)
    values = np.array([statistic(*(a[idx] for a in arrays)) for idx in rng.integers(0, n, size=(n_boot, size))])
    low, high = np.nanquantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high), values


def bca_interval(values, estimate: float, jackknife, alpha: float = 0.05) -> tuple[float, float]:
    """Bias-corrected and accelerated (BCa; Efron 1987) bootstrap interval from the resampled ``values``, the
    full-sample ``estimate`` and the leave-one-out ``jackknife`` values of the same statistic.

    The bias correction z₀ = Φ⁻¹(fraction of resamples below the estimate) moves the interval when the bootstrap
    distribution is not centred on the estimate (a biased statistic such as the ECE); the acceleration a (from the
    jackknife's skewness) corrects for a standard error that changes with the parameter. The fraction is clipped
    to [1/(B + 1), B/(B + 1)], so an estimate outside every resample gives the most extreme quantiles, not ±∞.
    """
    from scipy.stats import norm

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    jack = np.asarray(jackknife, dtype=float)
    jack = jack[np.isfinite(jack)]
    b = values.size
    frac = (np.sum(values < estimate) + 0.5 * np.sum(values == estimate)) / b
    z0 = norm.ppf(np.clip(frac, 1 / (b + 1), b / (b + 1)))
    d = jack.mean() - jack
    den = 6.0 * float(np.sum(d ** 2)) ** 1.5
    a = float(np.sum(d ** 3)) / den if den > 0 else 0.0
    z = norm.ppf([alpha / 2, 1 - alpha / 2])
    levels = norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    low, high = np.quantile(values, np.clip(levels, 0.0, 1.0))
    return float(low), float(high)


def jackknife_values(statistic, arrays) -> np.ndarray:
    """``statistic`` on each leave-one-molecule-out subset of ``arrays`` (for :func:`bca_interval`)."""
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    keep = np.ones(n, dtype=bool)
    out = np.empty(n)
    for i in range(n):
        keep[i] = False
        out[i] = statistic(*(a[keep] for a in arrays))
        keep[i] = True
    return out


def _verdict(lo: float, hi: float) -> str:
    return "lower" if hi < 0 else "higher" if lo > 0 else "no detectable change"


def change_summary(estimate: float, values, jackknife) -> dict:
    """A change with its **BCa** 95 % interval (``low``/``high``, the one the ``verdict`` follows), the percentile
    interval of the same resamples (``low_percentile``/``high_percentile``, ``verdict_percentile``), the bootstrap
    mean (``boot_mean``: far from the estimate = a biased statistic) and ``method_sensitive`` (the two verdicts
    differ)."""
    values = np.asarray(values, dtype=float)
    lo, hi = bca_interval(values, estimate, jackknife)
    plo, phi = (float(x) for x in np.nanquantile(values, [0.025, 0.975]))
    out = {"change": float(estimate), "low": lo, "high": hi, "verdict": _verdict(lo, hi),
           "low_percentile": plo, "high_percentile": phi, "verdict_percentile": _verdict(plo, phi),
           "boot_mean": float(np.nanmean(values)), "method": "BCa"}
    out["method_sensitive"] = out["verdict"] != out["verdict_percentile"]
    return out


def paired_change(statistic_new, statistic_old, arrays, n_boot: int | None = None, seed: int = 0) -> dict:
    """The change ``statistic_new − statistic_old`` on the same molecules and its **paired** bootstrap 95 %
    interval (both statistics on the same resample), BCa (:func:`change_summary`: also the percentile interval,
    the bootstrap mean and whether the two methods disagree). ``verdict``: "lower" / "higher" when the BCa interval
    excludes 0, else "no detectable change"."""
    diff = lambda *a: statistic_new(*a) - statistic_old(*a)  # noqa: E731
    _, _, values = bootstrap_interval(diff, arrays, n_boot=n_boot, seed=seed)
    return change_summary(float(diff(*arrays)), values, jackknife_values(diff, arrays))


def compare(a: float, b: float, lower: str = "lower", higher: str = "higher", same: str = "equal to") -> str:
    """A comparison word computed from two numbers (so a notebook's sentences follow its numbers)."""
    return lower if a < b else higher if a > b else same


# ------------------------------------------------------------------------ reference values (calibrated)
REFERENCE_METRICS = ("spearman", "nll", "ece", "qce", "coverage68", "coverage95")


def reference_values(chapter3, mean, var, y, draws: int = 1000, seed: int = 0, n_levels: int | None = None) -> dict:
    """Each metric observed vs its distribution under "the model is calibrated" (Rasmussen et al. 2023).

    Draws y* ~ N(μ, σ²) with the model's own μ and σ on the same molecules ``draws`` times and recomputes
    every metric of :data:`REFERENCE_METRICS` (with ``chapter3``'s NLL and ECE). Returns ``{metric:
    {"observed", "median", "low", "high", "fraction_below"}}`` — the reference median, its central 95 % band,
    and the fraction of calibrated draws below the observed value (near 0 or 1: the observation is outside
    what calibration gives).
    """
    mean, var, y = (np.asarray(a, dtype=float) for a in (mean, var, y))
    std = np.sqrt(var)
    n_levels = int(n_levels or _default("n_levels"))
    rng = np.random.default_rng(seed)

    def metrics(target):
        z = (target - mean) / std
        return {"spearman": spearman(np.abs(target - mean), std),
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
        low, med, high = np.quantile(values, [0.025, 0.5, 0.975])
        out[key] = {"observed": observed[key], "median": float(med), "low": float(low), "high": float(high),
                    "fraction_below": float(np.mean(values < observed[key]))}
    return out


def calibrated_pit_reference(n: int, draws: int = 1000, seed: int = 0, n_levels: int | None = None) -> dict:
    """Reference bands of the PIT-only metrics (interval ECE, QCE, coverage68/95) for ``n`` molecules under
    calibration. A calibrated model's PIT values are i.i.d. uniform whatever its μ and σ, so these bands depend on
    n alone (unlike the Spearman's and the NLL's, which need the σ's). Returns ``{metric: {"median", "low",
    "high"}}``."""
    n_levels = int(n_levels or _default("n_levels"))
    rng = np.random.default_rng(seed)
    sims = {"ece": [], "qce": [], "coverage68": [], "coverage95": []}
    for _ in range(int(draws)):
        u = rng.random(int(n))
        sims["ece"].append(interval_ece_from_pit(u, n_levels))
        sims["qce"].append(quantile_calibration_error_from_pit(u, n_levels))
        sims["coverage68"].append(coverage_from_pit(u, 0.68))
        sims["coverage95"].append(coverage_from_pit(u, 0.95))
    out = {}
    for key, values in sims.items():
        low, med, high = np.quantile(values, [0.025, 0.5, 0.975])
        out[key] = {"median": float(med), "low": float(low), "high": float(high)}
    return out


def _norm_cdf(z):
    from scipy.special import ndtr

    return ndtr(z)


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
    n_bins = int(n_bins or _default("n_bins"))
    rng = np.random.default_rng(seed)
    observed = chapter3.classification_ece(p, np.asarray(labels, dtype=int), n_bins=n_bins)
    values = np.array([chapter3.classification_ece(p, (rng.random(len(p)) < p).astype(int), n_bins=n_bins)
                       for _ in range(int(draws))])
    low, med, high = np.quantile(values, [0.025, 0.5, 0.975])
    p_ge, p_le = float(np.mean(values >= observed)), float(np.mean(values <= observed))
    return {"observed": float(observed), "median": float(med), "low": float(low), "high": float(high),
            "p_value": p_ge, "p_two_sided": min(1.0, 2 * min(p_ge, p_le)), "excess": float(observed - med)}


# ------------------------------------------------------------------------------------------- isotonic
class IsotonicCalibrator:
    """Kuleshov et al. (2018) recalibration: a monotone map R with R(F(y)) uniform on the calibration set.

    ``fit(u_cal)`` fits R by isotonic regression of the empirical CDF of the calibration PIT values on the
    values themselves (R(0) = 0, R(1) = 1 added); ``transform(u)`` = R(u) are the recalibrated PIT values;
    ``interval(mean, std, level)`` gives the recalibrated central interval [F⁻¹(R⁻¹((1 − level)/2)),
    F⁻¹(R⁻¹((1 + level)/2))]. R is piecewise linear and may be flat, so the recalibrated density (and NLL)
    is not defined everywhere: compare it with raw and variance scaling on PIT-based metrics only.
    """

    def __init__(self):
        self.model = None

    def fit(self, u_cal):
        from sklearn.isotonic import IsotonicRegression

        u = np.sort(np.asarray(u_cal, dtype=float))
        if u.size == 0:
            raise ValueError("need at least one calibration PIT value")
        ecdf = np.arange(1, u.size + 1) / u.size
        x, t = np.concatenate([[0.0], u, [1.0]]), np.concatenate([[0.0], ecdf, [1.0]])
        self.model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(x, t)
        return self

    def transform(self, u):
        if self.model is None:
            raise RuntimeError("fit the calibrator first")
        return self.model.predict(np.asarray(u, dtype=float))

    def inverse(self, q):
        """R⁻¹(q): the smallest u with R(u) ≥ q (on a grid of 20001 points)."""
        grid = np.linspace(0.0, 1.0, 20001)
        values = self.transform(grid)
        idx = np.searchsorted(values, np.asarray(q, dtype=float), side="left")
        return grid[np.clip(idx, 0, grid.size - 1)]

    def interval(self, mean, std, level: float):
        from scipy.stats import norm

        lo, hi = self.inverse([(1 - level) / 2, (1 + level) / 2])
        mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
        return mean + norm.ppf(max(lo, 1e-12)) * std, mean + norm.ppf(min(hi, 1 - 1e-12)) * std


def pit_metrics(u, width68, width95, n_levels: int = 100) -> dict:
    """PIT-based metrics shared by raw, variance-scaled and isotonic predictions: ``qce``, ``ece``
    (interval), ``coverage68``, ``coverage95`` and the mean interval widths ``width68`` / ``width95``."""
    return {"qce": quantile_calibration_error_from_pit(u, n_levels), "ece": interval_ece_from_pit(u, n_levels),
            "coverage68": coverage_from_pit(u, 0.68), "coverage95": coverage_from_pit(u, 0.95),
            "width68": float(np.mean(width68)), "width95": float(np.mean(width95))}


def recalibration_comparison(chapter3, val: dict, test: dict, n_boot: int | None = None, seed: int = 0) -> dict:
    """Raw vs variance scaling vs isotonic recalibration, both maps fitted on ``val`` and applied once to
    ``test`` (dicts with ``mean``, ``var``, ``y``).

    Returns ``{"s2", "s2_ci", "metrics": {variant: {...}}, "changes": {(variant, metric): paired_change}}``:
    s² and its bootstrap interval over validation molecules; every metric of :func:`pit_metrics` (plus
    ``nll`` where defined: raw and variance scaling) per variant; each change vs raw with its paired
    bootstrap interval over test molecules (BCa, with the percentile interval and the bootstrap mean: see
    :func:`change_summary`; the maps stay fixed: the interval is the test set's sampling error, not the fit's).
    """
    from scipy.stats import norm

    n_levels = int(_default("n_levels"))
    s2 = chapter3.fit_variance_scale(val["mean"], val["var"], val["y"])
    s2_lo, s2_hi, _ = bootstrap_interval(lambda m, v, y: chapter3.fit_variance_scale(m, v, y),
                                         (val["mean"], val["var"], val["y"]), n_boot=n_boot, seed=seed)
    iso = IsotonicCalibrator().fit(pit(val["mean"], np.sqrt(val["var"]), val["y"]))
    z68, z95 = norm.ppf(0.84), norm.ppf(0.975)
    iso_q = {lvl: norm.ppf(np.clip(iso.inverse([(1 - lvl) / 2, (1 + lvl) / 2]), 1e-12, 1 - 1e-12))
             for lvl in (0.68, 0.95)}

    def variant_metrics(name, m, v, y):
        sd = np.sqrt(v)
        if name == "raw":
            out = pit_metrics(pit(m, sd, y), 2 * z68 * sd, 2 * z95 * sd, n_levels)
            out["nll"] = chapter3.gaussian_nll(m, v, y)
        elif name == "variance_scaled":
            out = pit_metrics(pit(m, math.sqrt(s2) * sd, y), 2 * z68 * math.sqrt(s2) * sd,
                              2 * z95 * math.sqrt(s2) * sd, n_levels)
            out["nll"] = chapter3.gaussian_nll(m, s2 * v, y)
        else:
            out = pit_metrics(iso.transform(pit(m, sd, y)), np.diff(iso_q[0.68])[0] * sd,
                              np.diff(iso_q[0.95])[0] * sd, n_levels)
            out["nll"] = float("nan")
        return out

    arrays = (test["mean"], test["var"], test["y"])
    variants = ("raw", "variance_scaled", "isotonic")
    keys = ("qce", "ece", "coverage68", "coverage95", "width95", "nll")
    metrics = {v: variant_metrics(v, *arrays) for v in variants}
    rng = np.random.default_rng(seed)
    n = len(test["y"])
    boot = []  # one resample of the test molecules serves every variant: paired differences
    for idx in rng.integers(0, n, size=(int(n_boot or _default("n_boot")), n)):
        per = {v: variant_metrics(v, *(a[idx] for a in arrays)) for v in variants}
        boot.append({(v, k): per[v][k] - per["raw"][k] for v in variants[1:] for k in keys})
    jack = []  # leave-one-molecule-out values for the BCa acceleration
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        keep[i] = False
        per = {v: variant_metrics(v, *(a[keep] for a in arrays)) for v in variants}
        jack.append({(v, k): per[v][k] - per["raw"][k] for v in variants[1:] for k in keys})
        keep[i] = True
    changes = {}
    for v in variants[1:]:
        for key in keys:
            if key == "nll" and v == "isotonic":
                continue
            changes[(v, key)] = change_summary(metrics[v][key] - metrics["raw"][key], [b[(v, key)] for b in boot],
                                               [j[(v, key)] for j in jack])
    return {"s2": s2, "s2_ci": (s2_lo, s2_hi), "metrics": metrics, "changes": changes, "isotonic": iso}


def recalibration_table(comparisons: dict):
    """``{split: recalibration_comparison(...)}`` as a DataFrame: value per variant and, for the two maps, the
    paired change vs raw with its bootstrap mean and BCa interval; ``*`` marks a change whose percentile-interval
    verdict differs (method-sensitive)."""
    import pandas as pd

    rows = []
    for split, comp in comparisons.items():
        for key in ("qce", "ece", "coverage68", "coverage95", "width95", "nll"):
            row = {"split": split, "metric": key}
            for v, m in comp["metrics"].items():
                row[v] = round(m[key], 3) if math.isfinite(m[key]) else "n/a"
            for v in ("variance_scaled", "isotonic"):
                c = comp["changes"].get((v, key))
                row[f"Δ {v} [boot mean] (BCa 95% CI)"] = (
                    "n/a" if c is None else
                    f"{c['change']:+.3f} [{c['boot_mean']:+.3f}] ({c['low']:+.3f}, {c['high']:+.3f}) {c['verdict']}"
                    + (" *" if c["method_sensitive"] else ""))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["split", "metric"])


# ------------------------------------------------------------------------------------------- conformal
# split-conformal intervals live in molpractice.conformal; these names stay importable from here
from .conformal import (  # noqa: E402,F401
    binomial_band,
    clopper_pearson,
    conformal_lines,
    conformal_report,
    conformal_table,
    fisher_gap_test,
    similarity_groups,
    terciles,
)


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
