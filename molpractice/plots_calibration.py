"""Calibration figures and the data behind them. Every ``plot_*`` draws on ``ax`` (a new figure when
None), titles it, labels the axes with units and returns the ``Axes``; matplotlib loads on first use.

==============================  ==============================================================
``coverage_curve``              expected vs observed coverage of central Gaussian intervals (data).
``reliability_bins``            per-bin count, mean confidence and accuracy, bins (lo, hi] (data).
``confidence_curve``            RMSE of the k % most confident predictions (data).
``plot_calibration_curve``      observed vs expected coverage, one line per model, y = x dashed.
``plot_reliability_diagram``    accuracy vs confidence per bin, gap to the diagonal, bin counts.
``plot_confidence_curve``       RMSE vs fraction kept, with the oracle that sorts by the true error.
``plot_variance_components``    aleatoric vs epistemic variance per molecule.
``plot_binned_by_similarity``   mean of several per-molecule quantities per similarity bin.
``plot_interval_widths``        bootstrap interval widths vs number of test molecules.
``plot_rmse_vs_rmv``            RMSE vs root mean variance per σ bin (ENCE), the ideal diagonal.
``plot_validation_histories``   validation RMSE per epoch of each member, the epoch cap and best epochs.
==============================  ==============================================================

The mean absolute gap of ``coverage_curve`` is the regression ECE, and the bin-share-weighted gap of
``reliability_bins`` is the classification ECE (exercises 3.3 and 3.4 compute the same numbers).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def _axes(ax, figsize=(5.0, 4.0)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _vec(x, name):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty (n,) array, got shape {arr.shape}")
    return arr


# ------------------------------------------------------------------------------------------- data
def coverage_curve(mean, std, y, n_levels: int = 100):
    """Expected vs observed coverage of the central intervals μ ± Φ⁻¹((1 + p)/2)·σ (closed).

    Returns:
        ``(expected, observed)``, each (n_levels,): ``expected = linspace(0, 1, n_levels)``; ``observed[l]``
        is the fraction of ``y`` inside the level-``expected[l]`` interval.
    Raises:
        ValueError: for unequal lengths, a std ≤ 0, or ``n_levels`` < 2.
    """
    from scipy.stats import norm

    mean, std, y = _vec(mean, "mean"), _vec(std, "std"), _vec(y, "y")
    if not mean.size == std.size == y.size:
        raise ValueError(f"mean, std and y differ in length: {mean.size}, {std.size}, {y.size}")
    if np.any(std <= 0):
        raise ValueError("std must be > 0")
    if int(n_levels) < 2:
        raise ValueError(f"n_levels must be >= 2, got {n_levels}")
    expected = np.linspace(0.0, 1.0, int(n_levels))
    z = np.abs(y - mean) / std
    observed = (z[None, :] <= norm.ppf(0.5 + expected / 2)[:, None]).mean(axis=1)
    return expected, observed


def reliability_bins(probs, labels, n_bins: int = 15):
    """Top-label reliability data with equal-width bins (lo, hi].

    Args:
        probs: (n, C) class probabilities or (n,) P(class 1).
        labels: (n,) integer labels.
    Returns:
        A DataFrame with one row per bin: ``lo``, ``hi``, ``count``, ``confidence`` and ``accuracy`` (NaN in
        empty bins), ``share`` (count / n). ``sum(share · |accuracy − confidence|)`` over non-empty bins is
        the classification ECE.
    """
    import pandas as pd

    p = probs.detach().cpu().numpy() if hasattr(probs, "detach") else np.asarray(probs, dtype=float)
    p = np.asarray(p, dtype=float)
    if p.ndim == 1:
        p = np.stack([1 - p, p], axis=1)
    labels = np.asarray(labels).reshape(-1)
    if p.ndim != 2 or len(p) != len(labels) or len(p) == 0:
        raise ValueError(f"probs {p.shape} and labels {labels.shape} do not match")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, int(n_bins) - 1)
    rows = []
    for b in range(int(n_bins)):
        sel = which == b
        rows.append({"lo": edges[b], "hi": edges[b + 1], "count": int(sel.sum()),
                     "confidence": float(conf[sel].mean()) if sel.any() else np.nan,
                     "accuracy": float(correct[sel].mean()) if sel.any() else np.nan,
                     "share": float(sel.mean())})
    return pd.DataFrame(rows)


def binned_ece(bins) -> float:
    """The classification ECE from :func:`reliability_bins` data."""
    full = bins[bins["count"] > 0]
    return float((full["share"] * (full["accuracy"] - full["confidence"]).abs()).sum())


def confidence_curve(errors, scores, fractions: Sequence[float] | None = None):
    """RMSE of the predictions kept when only the fraction ``k`` with the lowest ``scores`` (most confident)
    is kept, for each ``k`` in ``fractions`` (default 0.1, 0.15, …, 1.0). ``scores = |errors|`` gives the
    oracle curve. A useful uncertainty gives a curve that rises with ``k`` (the most confident molecules
    have the smallest errors); a useless one stays flat near the overall RMSE (reached at ``k = 1``).

    Returns:
        ``(fractions, rmse)`` arrays.
    """
    errors, scores = _vec(errors, "errors"), _vec(scores, "scores")
    if errors.size != scores.size:
        raise ValueError(f"errors and scores differ in length: {errors.size} vs {scores.size}")
    fractions = np.round(np.arange(0.1, 1.0001, 0.05), 4) if fractions is None else np.asarray(fractions, dtype=float)
    order = np.argsort(scores, kind="stable")
    sq = errors[order] ** 2
    rmse = []
    for k in fractions:
        keep = max(1, int(round(k * errors.size)))
        rmse.append(float(np.sqrt(sq[:keep].mean())))
    return fractions, np.array(rmse)


# ------------------------------------------------------------------------------------------- figures
def plot_calibration_curve(curves: Mapping[str, tuple], ax=None, title: str = "Calibration curve (central intervals)",
                           kind: str = "interval"):
    """Observed vs expected coverage; ``curves`` maps a label to ``(expected, observed)`` (e.g. from
    :func:`coverage_curve`). Above the diagonal: under-confident; below: over-confident.
    ``kind="quantile"``: the quantile (PIT) calibration curve of Kuleshov et al. 2018 — fraction of PIT
    values ≤ p against p (``molpractice.calibration.quantile_calibration_curve``); its gap is the QCE."""
    if kind not in ("interval", "quantile"):
        raise ValueError(f"kind must be 'interval' or 'quantile', got {kind!r}")
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    for label, (expected, observed) in curves.items():
        gap = float(np.mean(np.abs(np.asarray(expected) - np.asarray(observed))))
        ax.plot(expected, observed, lw=2, label=f"{label} ({'ECE' if kind == 'interval' else 'QCE'} {gap:.3f})")
    if kind == "interval":
        ax.set_xlabel("expected coverage (confidence level)")
        ax.set_ylabel("observed coverage (fraction of molecules)")
    else:
        ax.set_xlabel("quantile level p")
        ax.set_ylabel("fraction of molecules with PIT ≤ p")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_reliability_diagram(bins, ax=None, title: str = "Reliability diagram", label: str | None = None):
    """Bars of accuracy per confidence bin (from :func:`reliability_bins`), the gap to the diagonal in
    red, each bin's count written above it."""
    ax = _axes(ax)
    full = bins[bins["count"] > 0]
    width = float((bins["hi"] - bins["lo"]).iloc[0])
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.bar(full["lo"], full["accuracy"], width=width, align="edge", alpha=0.7, edgecolor="k",
           label=label or "accuracy")
    ax.bar(full["lo"], full["confidence"] - full["accuracy"], bottom=full["accuracy"], width=width, align="edge",
           color="red", alpha=0.3, label="gap to confidence")
    for _, r in full.iterrows():
        ax.text(r["lo"] + width / 2, min(1.0, max(r["accuracy"], r["confidence"])) + 0.01, str(int(r["count"])),
                ha="center", va="bottom", fontsize=7)
    ax.set_xlabel("confidence (top-label probability)")
    ax.set_ylabel("accuracy in bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_title(f"{title} (ECE {binned_ece(bins):.3f})")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_confidence_curve(curves: Mapping[str, tuple], oracle: tuple | None = None, ax=None,
                          unit: str = "log10(mol/L)", title: str = "Confidence curve"):
    """RMSE of the most confident fraction vs that fraction; ``curves`` maps a label to ``(fractions,
    rmse)`` (from :func:`confidence_curve`); ``oracle`` is the curve that sorts by the true error."""
    ax = _axes(ax)
    for label, (fractions, rmse) in curves.items():
        ax.plot(fractions, rmse, lw=2, label=label)
    if oracle is not None:
        ax.plot(oracle[0], oracle[1], "k--", lw=1.5, label="oracle (sorted by true error)")
    ax.set_xlabel("fraction of test molecules kept (most confident first)")
    ax.set_ylabel(f"RMSE of kept molecules [{unit}]")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_variance_components(aleatoric, epistemic, ax=None, color=None, unit: str = "log10(mol/L)",
                             title: str = "Aleatoric vs epistemic variance", color_label: str = ""):
    """One point per molecule: aleatoric vs epistemic variance (log–log), optionally coloured."""
    ax = _axes(ax)
    a, e = _vec(aleatoric, "aleatoric"), _vec(epistemic, "epistemic")
    points = ax.scatter(a, np.maximum(e, 1e-6), c=color, s=14, cmap="viridis", alpha=0.8)
    if color is not None:
        ax.figure.colorbar(points, ax=ax, label=color_label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    lo = min(a.min(), max(e.min(), 1e-6))
    hi = max(a.max(), e.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel(f"aleatoric variance [({unit})²]")
    ax.set_ylabel(f"epistemic variance [({unit})²]")
    ax.set_title(title)
    return ax


def plot_binned_by_similarity(similarity, series: Mapping[str, Sequence[float]], ax=None,
                              bins: Sequence[float] = (0, 0.3, 0.4, 0.5, 0.6, 1.0001), unit: str = "log10(mol/L)",
                              title: str = "Error and uncertainty vs similarity to training"):
    """Mean of each series (e.g. |error| and predicted std) per bin of max train similarity, with counts."""
    ax = _axes(ax)
    sim = _vec(similarity, "similarity")
    edges = np.asarray(bins, dtype=float)
    centres = (edges[:-1] + np.minimum(edges[1:], 1.0)) / 2
    which = np.clip(np.digitize(sim, edges) - 1, 0, len(edges) - 2)
    counts = np.bincount(which, minlength=len(centres))
    for label, values in series.items():
        v = _vec(values, label)
        means = [v[which == b].mean() if counts[b] else np.nan for b in range(len(centres))]
        ax.plot(centres, means, "o-", lw=2, label=label)
    for c, n in zip(centres, counts):
        ax.annotate(f"n={n}", (c, 0), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7,
                    xycoords=("data", "axes fraction"))
    ax.set_xlabel("max Tanimoto similarity to the training set")
    ax.set_ylabel(f"mean per bin [{unit}]")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_interval_widths(sizes: Sequence[int], widths: Mapping[str, Sequence[float]], ax=None,
                         title: str = "How sure is the ECE? (spread of the bootstrap ECE)",
                         ylabel: str = "2.5–97.5% range of the bootstrap ECE"):
    """Spread (2.5–97.5 % range) of a bootstrap statistic vs number of test molecules, one line per quantity, with a
    1/√n guide (a spread, not an interval for the statistic's value: a bootstrap ECE is biased upward)."""
    ax = _axes(ax)
    sizes = np.asarray(sizes, dtype=float)
    for label, w in widths.items():
        ax.plot(sizes, w, "o-", lw=2, label=label)
    first = np.asarray(next(iter(widths.values())), dtype=float)
    ax.plot(sizes, first[0] * np.sqrt(sizes[0] / sizes), "k:", lw=1, label="∝ 1/√n")
    ax.set_xlabel("test molecules")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_rmse_vs_rmv(curves: Mapping[str, tuple], ax=None, unit: str = "log10(mol/L)",
                     title: str = "Error-based calibration (RMSE vs RMV per σ bin)"):
    """``curves`` maps a label to ``(rmv, rmse, ence)`` (``molpractice.calibration.ence_bins``): one point per
    σ bin, the ideal y = x dashed (Levi et al. 2022). Above the line: σ too small in that bin."""
    ax = _axes(ax)
    top = max(max(np.max(c[0]), np.max(c[1])) for c in curves.values()) * 1.1
    ax.plot([0, top], [0, top], "k--", lw=1, label="ideal (RMSE = RMV)")
    for label, (rmv, rmse, ence) in curves.items():
        ax.plot(rmv, rmse, "o-", lw=2, label=f"{label} (ENCE {ence:.3f})")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"root mean predicted variance per bin [{unit}]")
    ax.set_ylabel(f"RMSE per bin [{unit}]")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_validation_histories(histories: Sequence[Mapping], cap: int | None = None, ax=None,
                              title: str = "Validation RMSE per epoch", unit: str = "log10(mol/L)"):
    """One line per member: its validation RMSE (``history["val_rmse"]``) per epoch, a dot at its best epoch
    (``history["best_epoch"]``, 0-based) and, when given, the epoch cap as a dotted vertical line — a curve still
    falling at the cap was stopped by the cap, not by early stopping. Raises ValueError for an empty list or a
    history without ``val_rmse``."""
    if not histories:
        raise ValueError("need at least one history")
    ax = _axes(ax)
    for seed, h in enumerate(histories):
        if "val_rmse" not in h or not len(h["val_rmse"]):
            raise ValueError(f"history {seed} has no 'val_rmse' values")
        v = np.asarray(h["val_rmse"], dtype=float)
        line, = ax.plot(np.arange(1, v.size + 1), v, lw=1, label=f"seed {seed}")
        b = int(h.get("best_epoch", int(np.argmin(v))))
        ax.plot([b + 1], [v[b]], "o", color=line.get_color(), ms=4)
    if cap is not None:
        ax.axvline(cap, ls=":", color="k", lw=1, label=f"cap ({cap} epochs)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation RMSE [{unit}]")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax

