"""Figures, each named after what it shows. Every function draws on ``ax`` (a new figure when None),
titles it, labels the axes with units and returns the ``Axes``. Matplotlib is imported on first use and
no global style is changed.

=============================  =============================================================
``plot_parity``                predicted vs measured, one colour per model/series, y = x line.
``plot_similarity_histograms`` distributions of nearest-neighbour train similarity per test set.
``plot_error_by_similarity``   mean absolute error per similarity bin, with counts.
``plot_scaffold_group_sizes``  how many molecules each Bemis–Murcko scaffold holds.
``plot_training_curves``       validation RMSE per epoch, best epoch marked.
=============================  =============================================================
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def _axes(ax, figsize=(5.0, 4.0)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _as_series(values, default_label: str) -> dict[str, np.ndarray]:
    if isinstance(values, Mapping):
        return {str(k): np.asarray(v, dtype=float).reshape(-1) for k, v in values.items()}
    return {default_label: np.asarray(values, dtype=float).reshape(-1)}


def plot_parity(y_true, y_pred, ax=None, title: str = "Predicted vs measured", unit: str = "log10(mol/L)"):
    """Parity plot.

    Args:
        y_true: (n,) measured values.
        y_pred: (n,) predictions, or a dict label → (n,) predictions (several series on one plot).
        unit: unit of the target, written on both axes.
    Returns:
        The ``Axes``; each legend entry shows the series' RMSE.
    Raises:
        ValueError: if a prediction series does not have the length of ``y_true``.
    """
    ax = _axes(ax)
    y_true = np.asarray(y_true, dtype=float).reshape(-1)
    series = _as_series(y_pred, "model")
    lo, hi = float(np.min(y_true)), float(np.max(y_true))
    for label, pred in series.items():
        if pred.shape != y_true.shape:
            raise ValueError(f"series {label!r} has {pred.size} predictions for {y_true.size} targets")
        err = float(np.sqrt(np.mean((pred - y_true) ** 2)))
        ax.scatter(y_true, pred, s=12, alpha=0.6, label=f"{label} (RMSE {err:.2f})")
        lo, hi = min(lo, float(pred.min())), max(hi, float(pred.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="black", lw=1, ls="--", label="y = x")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(f"measured [{unit}]")
    ax.set_ylabel(f"predicted [{unit}]")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_similarity_histograms(similarities: Mapping[str, Sequence[float]], ax=None, bins: int = 20,
                               title: str = "Nearest-neighbour similarity of test to train"):
    """Overlaid histograms (as fractions of each set) of max Tanimoto similarity to the training set.

    Args:
        similarities: label (e.g. ``"random split"``) → (m,) similarities in [0, 1].
    """
    ax = _axes(ax)
    edges = np.linspace(0, 1, bins + 1)
    for label, sims in _as_series(similarities, "test").items():
        weights = np.full(sims.shape, 1.0 / max(len(sims), 1))
        ax.hist(sims, bins=edges, weights=weights, alpha=0.5,
                label=f"{label} (median {np.median(sims):.2f}, n={len(sims)})")
    ax.set_xlabel("max Tanimoto similarity to training set (Morgan r=2, 2048 bits) [0–1]")
    ax.set_ylabel("fraction of test molecules")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_error_by_similarity(similarity, abs_errors, ax=None, bins: Sequence[float] = (0, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0001),
                             unit: str = "log10(mol/L)", title: str = "Test error vs similarity to training set",
                             n_boot: int = 0, seed: int = 0):
    """Mean absolute error per bin of nearest-neighbour similarity (bars), with the molecule count per bin.

    Args:
        similarity: (m,) max train similarity of each test molecule.
        abs_errors: (m,) absolute errors, or a dict label → (m,) (side-by-side bars).
        bins: bin edges in [0, 1] (the last edge slightly above 1 so similarity 1 is included).
        n_boot: if > 0, draw each bar's 95 % bootstrap interval over the bin's molecules (seeded by ``seed``).
    Returns:
        The ``Axes``. Empty bins are left blank.
    """
    from .solubility import bootstrap_mean_ci

    ax = _axes(ax, figsize=(6.0, 4.0))
    sim = np.asarray(similarity, dtype=float).reshape(-1)
    series = _as_series(abs_errors, "model")
    edges = np.asarray(bins, dtype=float)
    which = np.digitize(sim, edges) - 1
    counts = np.array([(which == b).sum() for b in range(len(edges) - 1)])
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(edges) - 1)
    for k, (label, err) in enumerate(series.items()):
        if err.shape != sim.shape:
            raise ValueError(f"series {label!r} has {err.size} errors for {sim.size} similarities")
        means = np.array([err[which == b].mean() if counts[b] else np.nan for b in range(len(edges) - 1)])
        yerr = None
        if n_boot > 0:
            ci = np.array([bootstrap_mean_ci(err[which == b], n_boot, seed)[1:] for b in range(len(edges) - 1)])
            yerr = np.abs(ci.T - means)
        ax.bar(x + (k - (len(series) - 1) / 2) * width, means, width=width, label=label, yerr=yerr, capsize=2)
    top = ax.get_ylim()[1]
    for b, c in enumerate(counts):
        ax.text(x[b], top * 0.97, f"n={c}", ha="center", va="top", fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{edges[b]:.1f}–{min(edges[b + 1], 1.0):.1f}" for b in range(len(edges) - 1)])
    ax.set_xlabel("max Tanimoto similarity to training set [0–1]")
    ax.set_ylabel(f"mean absolute error [{unit}]")
    ax.set_title(title)
    if len(series) > 1:  # below the axes, so no bar or interval is covered
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(series), frameon=False)
    return ax


def plot_scaffold_group_sizes(group_sizes: Sequence[int], ax=None, title: str = "Molecules per Bemis–Murcko scaffold"):
    """Rank plot (log scale) of scaffold group sizes, largest first.

    Args:
        group_sizes: number of molecules in each scaffold group (any order).
    """
    ax = _axes(ax)
    sizes = np.sort(np.asarray(group_sizes, dtype=int))[::-1]
    if sizes.size == 0:
        raise ValueError("no scaffold groups to plot")
    ax.bar(np.arange(1, sizes.size + 1), sizes, width=1.0)
    ax.set_yscale("log")
    ax.set_xlabel("scaffold rank (largest group first)")
    ax.set_ylabel("molecules in group [count, log scale]")
    singletons = int((sizes == 1).sum())
    ax.set_title(f"{title}\n{sizes.size} scaffolds, {singletons} singletons, largest {sizes[0]}")
    return ax


def plot_training_curves(histories: Mapping[str, dict] | dict, ax=None, unit: str = "log10(mol/L)",
                         title: str = "Validation RMSE during training"):
    """Validation RMSE per epoch for one or several ``train_regressor`` histories; best epochs marked."""
    ax = _axes(ax)
    if "val_rmse" in histories:
        histories = {"model": histories}
    for label, hist in histories.items():
        curve = np.asarray(hist["val_rmse"], dtype=float)
        line, = ax.plot(np.arange(1, curve.size + 1), curve, lw=1, label=label)
        best = int(hist.get("best_epoch", int(np.argmin(curve))))
        ax.plot(best + 1, curve[best], "o", color=line.get_color(), ms=4)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation RMSE [{unit}]")
    ax.set_title(title)
    if len(histories) > 1:
        ax.legend(fontsize=7, ncol=2)
    return ax
