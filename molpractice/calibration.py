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

# The basics live in molpractice.calibration_pit (so calibration_reference can use them without a cycle).
from .calibration_pit import (  # noqa: F401
    _FALLBACK,
    _default,
    coverage_from_pit,
    interval_coverage,
    interval_ece_from_pit,
    pit,
    quantile_calibration_curve,
    quantile_calibration_error_from_pit,
    spearman,
    use_settings,
)


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
    distribution is not centred on the estimate; the acceleration a (from the jackknife's skewness) corrects for a
    standard error that changes with the parameter. The fraction is clipped to [1/(B + 1), B/(B + 1)], so an
    estimate outside every resample gives the most extreme quantiles, not ±∞. BCa's accuracy assumes a smooth
    statistic (a mean, an NLL, an RMSE); for a binned calibration error (ECE, QCE) or a coverage near perfect
    calibration — non-smooth, discrete, at the kink of |·| — neither BCa nor the percentile interval is reliable:
    the bootstrap is inconsistent where the statistic is a non-differentiable function of the data's distribution
    (Andrews 2000, Econometrica 68, 399; Fang & Santos 2019, Rev. Econ. Stud. 86, 377). The problem is local to an
    error near 0: away from it (raw error outside its calibrated band) the paired BCa interval is used; near it,
    read such changes with :func:`reference_change` instead.
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


def _norm_cdf(z):
    from scipy.special import ndtr

    return ndtr(z)


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


def newcombe_paired_interval(both: int, new_only: int, old_only: int, neither: int,
                             level: float = 0.95) -> tuple[float, float]:
    """Score interval for the difference of two **paired** proportions p_new − p_old (Newcombe 1998, method 10:
    Wilson score limits of each proportion combined with the φ correlation of the 2×2 table). ``both`` = covered by
    both intervals, ``new_only`` = gained, ``old_only`` = lost, ``neither``. Stays inside [−1, 1] and is not
    degenerate when no molecule changed. Raises ValueError for negative counts or an empty table."""
    from scipy.stats import norm

    a, b, c, d = (int(x) for x in (both, new_only, old_only, neither))
    if min(a, b, c, d) < 0 or a + b + c + d == 0:
        raise ValueError(f"counts must be non-negative with a positive total, got {(a, b, c, d)}")
    n, z = a + b + c + d, float(norm.ppf(0.5 + level / 2))

    def wilson(k):
        p = k / n
        centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return p, centre - half, centre + half

    p1, l1, u1 = wilson(a + b)
    p2, l2, u2 = wilson(a + c)
    den = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(den) if den > 0 else 0.0
    delta = p1 - p2
    lo = delta - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    hi = delta + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, lo), min(1.0, hi)


def coverage_change(covered_old, covered_new, nested: bool) -> dict:
    """A change of interval coverage on the same molecules, by counting: ``gained`` (covered only by the new
    interval), ``lost`` (only by the old). With ``nested`` intervals (one contains the other for every molecule)
    the sign is fixed by construction, so no test is made; otherwise the exact McNemar p-value of the discordant
    molecules (a binomial test at ½). Always: ``low`` / ``high``, Newcombe's paired score interval of the change
    (:func:`newcombe_paired_interval`) — with nested intervals it bounds the *size* of a change whose sign is fixed."""
    from scipy.stats import binomtest

    old, new = np.asarray(covered_old, dtype=bool), np.asarray(covered_new, dtype=bool)
    gained, lost = int(np.sum(new & ~old)), int(np.sum(old & ~new))
    p = None if nested or gained + lost == 0 else float(binomtest(min(gained, lost), gained + lost, 0.5).pvalue)
    lo, hi = newcombe_paired_interval(int(np.sum(new & old)), gained, lost, int(np.sum(~new & ~old)))
    return {"change": float(new.mean() - old.mean()), "gained": gained, "lost": lost, "nested": bool(nested),
            "p_mcnemar": p, "low": lo, "high": hi, "interval": "Newcombe paired score", "kind": "coverage"}


def recalibration_comparison(chapter3, val: dict, test: dict, n_boot: int | None = None, seed: int = 0,
                             draws: int = 1000) -> dict:
    """Raw vs variance scaling vs isotonic recalibration, both maps fitted on ``val`` and applied once to
    ``test`` (dicts with ``mean``, ``var``, ``y``).

    Returns ``{"s2", "s2_ci", "metrics": {variant: {...}}, "changes": {(variant, metric): {...}}, "isotonic",
    "nested"}``: s² and its bootstrap interval over validation molecules; every metric of :func:`pit_metrics`
    (plus ``nll`` where defined: raw and variance scaling) per variant; and each change vs raw, read the way its
    statistic allows (``kind``):

    * ``nll`` (a smooth proper score): paired bootstrap interval over test molecules (:func:`paired_change`;
      the map stays fixed, so the interval is the test set's sampling error, not the fit's);
    * ``ece``, ``qce`` (binned, non-smooth): :func:`reference_change` — the change a calibrated raw model would
      show under the same map (y* ~ N(μ, σ²) with the raw μ, σ; ``draws`` draws) — and, under ``"paired"``, the
      paired BCa interval of the change over test molecules with ``reliable``: True only where the raw statistic
      lies outside its calibrated band (away from 0, where |·| has its kink; Andrews 2000, Fang & Santos 2019), so
      the interval is used for a verdict only there;
    * ``coverage68``, ``coverage95``: :func:`coverage_change` (molecules gained / lost; nested intervals fix the
      sign — variance scaling always, isotonic when its interval contains or sits inside the raw one — and
      Newcombe's paired score interval of the change);
    * ``width68``, ``width95``: a fixed multiple of σ for both maps, so the sign is fixed by construction (``kind``
      "fixed"); ``low``/``high``: paired BCa interval of the mean width change over test molecules (its size
      varies with the test σ's).
    """
    from scipy.stats import norm

    n_levels = int(_default("n_levels"))
    s2 = chapter3.fit_variance_scale(val["mean"], val["var"], val["y"])
    s2_lo, s2_hi, _ = bootstrap_interval(lambda m, v, y: chapter3.fit_variance_scale(m, v, y),
                                         (val["mean"], val["var"], val["y"]), n_boot=n_boot, seed=seed)
    iso = IsotonicCalibrator().fit(pit(val["mean"], np.sqrt(val["var"]), val["y"]))
    z = {0.68: norm.ppf(0.84), 0.95: norm.ppf(0.975)}
    iso_q = {lvl: norm.ppf(np.clip(iso.inverse([(1 - lvl) / 2, (1 + lvl) / 2]), 1e-12, 1 - 1e-12)) for lvl in z}
    m, v, y = (np.asarray(test[k], dtype=float) for k in ("mean", "var", "y"))
    sd, root = np.sqrt(v), math.sqrt(s2)
    pits = {"raw": lambda yy: pit(m, sd, yy), "variance_scaled": lambda yy: pit(m, root * sd, yy),
            "isotonic": lambda yy: iso.transform(pit(m, sd, yy))}
    bounds = {"raw": {lvl: (-z[lvl], z[lvl]) for lvl in z}, "variance_scaled": {lvl: (-root * z[lvl], root * z[lvl])
                                                                              for lvl in z},
              "isotonic": {lvl: tuple(iso_q[lvl]) for lvl in z}}
    metrics = {}
    for name, f in pits.items():
        b = bounds[name]
        metrics[name] = pit_metrics(f(y), (b[0.68][1] - b[0.68][0]) * sd, (b[0.95][1] - b[0.95][0]) * sd, n_levels)
        metrics[name]["nll"] = (chapter3.gaussian_nll(m, v, y) if name == "raw" else
                                chapter3.gaussian_nll(m, s2 * v, y) if name == "variance_scaled" else float("nan"))
    changes, nested = {}, {}
    draw = gaussian_draw(m, sd)
    pit_stat = {"ece": interval_ece_from_pit, "qce": quantile_calibration_error_from_pit}
    raw_band = calibrated_pit_reference(len(y), draws=max(int(draws), 5000))
    pit_of = {"raw": lambda mm, ss, yy: pit(mm, ss, yy), "variance_scaled": lambda mm, ss, yy: pit(mm, root * ss, yy),
              "isotonic": lambda mm, ss, yy: iso.transform(pit(mm, ss, yy))}
    for k, variant in enumerate(("variance_scaled", "isotonic")):
        for key, fn in pit_stat.items():
            new = lambda yy, f=pits[variant], fn=fn: fn(f(yy), n_levels)  # noqa: E731
            old = lambda yy, fn=fn: fn(pits["raw"](yy), n_levels)  # noqa: E731
            changes[(variant, key)] = reference_change(new, old, draw, metrics[variant][key] - metrics["raw"][key],
                                                       draws=draws, seed=seed + k)
            raw_pos = band_position({"observed": metrics["raw"][key], **raw_band[key]})
            paired = paired_change(lambda mm, ss, yy, f=pit_of[variant], fn=fn: fn(f(mm, ss, yy), n_levels),
                                   lambda mm, ss, yy, fn=fn: fn(pit(mm, ss, yy), n_levels), (m, sd, y),
                                   n_boot=n_boot, seed=seed)
            changes[(variant, key)]["paired"] = {
                **{x: paired[x] for x in ("low", "high", "verdict", "method")},
                "raw_position": raw_pos, "reliable": raw_pos in ("above", "below")}
        for lvl in z:
            lo, hi = bounds[variant][lvl]
            nested[(variant, lvl)] = bool((lo >= -z[lvl] and hi <= z[lvl]) or (lo <= -z[lvl] and hi >= z[lvl]))
            zz = (y - m) / sd
            changes[(variant, f"coverage{round(100 * lvl)}")] = coverage_change(
                np.abs(zz) <= z[lvl], (zz >= lo) & (zz <= hi), nested[(variant, lvl)])
            key = f"width{round(100 * lvl)}"
            w_old, w_new = 2 * z[lvl] * sd, (hi - lo) * sd
            wc = paired_change(lambda a, b: float(np.mean(a)), lambda a, b: float(np.mean(b)), (w_new, w_old),
                               n_boot=n_boot, seed=seed)
            changes[(variant, key)] = {"change": metrics[variant][key] - metrics["raw"][key], "kind": "fixed",
                                       "low": wc["low"], "high": wc["high"]}
    nll = lambda a, b, c: chapter3.gaussian_nll(a, s2 * b, c)  # noqa: E731
    changes[("variance_scaled", "nll")] = {**paired_change(nll, chapter3.gaussian_nll, (m, v, y), n_boot=n_boot,
                                                           seed=seed), "kind": "paired"}
    return {"s2": s2, "s2_ci": (s2_lo, s2_hi), "metrics": metrics, "changes": changes, "isotonic": iso,
            "nested": nested, "draws": int(draws)}


RECALIBRATION_KEYS = ("qce", "ece", "coverage68", "coverage95", "width68", "width95", "nll")


def describe_change(c: dict | None) -> str:
    """One table cell for a :func:`recalibration_comparison` change, read the way its kind allows."""
    if c is None:
        return "n/a"
    kind = c.get("kind", "paired")
    if kind == "reference":
        out = f"{c['change']:+.3f}; calibrated-reference band ({c['low']:+.3f}, {c['high']:+.3f}): {c['where']}"
        if "paired" in c:
            pp = c["paired"]
            out += (f"; paired BCa ({pp['low']:+.3f}, {pp['high']:+.3f})"
                    + ("" if pp["reliable"] else " unreliable: raw inside its band"))
        return out
    if kind == "coverage":
        tail = ("nested: sign fixed" if c["nested"] else
                "no discordant molecule" if c["p_mcnemar"] is None else f"McNemar p = {c['p_mcnemar']:.2f}")
        ci = f"; Newcombe ({c['low']:+.3f}, {c['high']:+.3f})" if "low" in c else ""
        return f"{c['change']:+.3f} (+{c['gained']}/−{c['lost']} molecules; {tail}{ci})"
    if kind == "fixed":
        ci = f"; BCa ({c['low']:+.3f}, {c['high']:+.3f})" if "low" in c else ""
        return f"{c['change']:+.3f} (fixed multiple of σ: sign fixed{ci})"
    return f"{c['change']:+.3f} (paired 95% CI {c['low']:+.3f}, {c['high']:+.3f}) {c['verdict']}"


def recalibration_table(comparisons: dict):
    """``{split: recalibration_comparison(...)}`` as a DataFrame: value per variant and, for the two maps, the
    change vs raw read the way its statistic allows (:func:`describe_change`)."""
    import pandas as pd

    rows = []
    for split, comp in comparisons.items():
        for key in RECALIBRATION_KEYS:
            row = {"split": split, "metric": key}
            for v, mm in comp["metrics"].items():
                row[v] = round(mm[key], 3) if math.isfinite(mm[key]) else "n/a"
            for v in ("variance_scaled", "isotonic"):
                row[f"Δ {v}"] = describe_change(comp["changes"].get((v, key)))
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


# reference values under perfect calibration live in molpractice.calibration_reference; importable from here
from .calibration_reference import (  # noqa: E402,F401
    REFERENCE_METRICS,
    band_position,
    calibrated_pit_reference,
    configuration_table,
    ece_null,
    ence_bins,
    ence_reference,
    gaussian_draw,
    outside_lines,
    reference_change,
    reference_table,
    reference_values,
)
