"""The basics of chapter 3's calibration metrics: the run-settings defaults (``use_settings``), interval
coverage, Spearman, and the PIT (probability integral transform) with the calibration errors computed from it.

Split out of :mod:`molpractice.calibration` (which re-exports every name) so that
:mod:`molpractice.calibration_reference` can use them without importing ``calibration`` back.
Conventions: a regression prediction is N(mean, var) per molecule, ``std = sqrt(var)``; arrays are (n,) float64.
"""
from __future__ import annotations

import numpy as np

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
    """Probability integral transform u_i = F_i(y_i) = Φ((y_i − μ_i)/σ_i): uniform on [0, 1] when calibrated.

    Φ is ``scipy.special.ndtr``, the function ``scipy.stats.norm.cdf`` evaluates (same values bit for bit, without
    its per-call argument checks: the bootstraps call this thousands of times)."""
    from scipy.special import ndtr

    mean, std, y = (np.asarray(a, dtype=float) for a in (mean, std, y))
    return ndtr((y - mean) / std)


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
