"""Figures for the 3D-symmetry chapter. Each function draws one idea on ``ax`` (a new figure if None)
and returns the axes; matplotlib is imported on first use."""
from __future__ import annotations

import math

ZERO_FLOOR = 1e-18   # every figure here draws an exact zero at this height on its log axis (below every non-zero
                     # float64 error of the chapter) and counts such points in its legend


def _axes(ax, size=(5.5, 3.6)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _positive(values, floor):
    import numpy as np

    v = np.asarray(values, dtype=float)
    return np.maximum(v, floor)


def plot_rotation_angle_density(angles, ax=None, bins=30):
    """Histogram of rotation angles θ (radians) against the Haar density (1 − cos θ)/π on [0, π].

    Args:
        angles: 1-D array of rotation angles in radians, θ = arccos((tr R − 1)/2).
    """
    import numpy as np

    ax = _axes(ax)
    ax.hist(np.asarray(angles), bins=bins, range=(0, math.pi), density=True, alpha=0.6,
            label=f"{len(angles)} sampled rotations")
    t = np.linspace(0, math.pi, 200)
    ax.plot(t, (1 - np.cos(t)) / math.pi, "k-", lw=2, label="Haar density (1 − cos θ)/π")
    ax.plot(t, np.full_like(t, 1 / math.pi), "k:", label="uniform angle (wrong)")
    ax.set_xlabel("rotation angle θ (rad)")
    ax.set_ylabel("probability density (1/rad)")
    ax.set_title("Rotation angles of random rotations")
    ax.legend(fontsize=8)
    return ax


def plot_error_vs_rotation_angle(angles_deg, errors: dict, ax=None, floor=ZERO_FLOOR, tolerance=None):
    """Relative invariance/equivariance error (log scale) against the rotation angle, one line per model.

    Args:
        angles_deg: 1-D array of rotation angles in degrees.
        errors: ``{label: 1-D array of relative errors}`` (same length as ``angles_deg``).
        floor: zeros are drawn at this value (log axis); a series with zeros says how many in its legend label.
        tolerance: optional ``{label: value}`` drawn as horizontal dashed lines.
    """
    import numpy as np

    ax = _axes(ax)
    for label, err in errors.items():
        zeros = int((np.asarray(err) == 0).sum())
        if zeros:
            label = f"{label} ({zeros} exactly 0, drawn at {floor:.0e})"
        ax.semilogy(angles_deg, _positive(err, floor), marker="o", ms=3, label=label)
    for label, value in (tolerance or {}).items():
        ax.axhline(value, ls="--", color="grey", lw=1)
        ax.text(angles_deg[0], value * 1.5, label, fontsize=7, color="grey")
    ax.set_xlabel("rotation angle about a fixed axis (degrees)")
    ax.set_ylabel("relative error (dimensionless)")
    ax.set_title("Symmetry error vs rotation angle")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))   # below the axes: the lines fill them
    return ax


def plot_error_histograms(errors: dict, ax=None, tolerances: dict | None = None, floor=ZERO_FLOOR, bins=40,
                          ylabel="count"):
    """Histograms of relative errors on a log-x axis (e.g. float32 vs float64), with tolerance lines.

    Args:
        errors: ``{label: 1-D array of relative errors}``.
        tolerances: ``{label: value}`` drawn as vertical dashed lines.
        ylabel: what one count is (e.g. "molecules (max of 4 trials each)").
        floor: exact zeros are drawn at this value (log axis); a series with zeros says how many in its
            legend label ("3 exactly 0, drawn at 1e-18").
    """
    import numpy as np

    ax = _axes(ax)
    all_err = np.concatenate([_positive(e, floor) for e in errors.values()])
    lo = math.floor(math.log10(all_err.min())) - 0.5
    hi = math.ceil(math.log10(max(all_err.max(), *(tolerances or {1: floor}).values()))) + 0.5
    edges = np.logspace(lo, hi, bins)
    for label, err in errors.items():
        zeros = int((np.asarray(err) == 0).sum())
        if zeros:
            label = f"{label} ({zeros} exactly 0, drawn at {floor:.0e})"
        ax.hist(_positive(err, floor), bins=edges, alpha=0.6, label=label)
    for label, value in (tolerances or {}).items():
        ax.axvline(value, ls="--", color="k", lw=1)
        ax.text(value, ax.get_ylim()[1] * 0.9, " " + label, fontsize=7, rotation=90, va="top")
    ax.set_xscale("log")
    ax.set_xlabel("relative error (dimensionless)")
    ax.set_ylabel(ylabel)
    ax.set_title("Rounding-level symmetry errors by precision")
    ax.legend(fontsize=8)
    return ax


def plot_predictions_under_rotation(angles_deg, predictions: dict, target=None, ax=None,
                                    quantity="radius of gyration", unit="Å"):
    """Model predictions for one molecule rotated step by step about a fixed axis.

    Args:
        angles_deg: 1-D array of rotation angles in degrees.
        predictions: ``{label: 1-D array of predictions}``.
        target: the true (rotation-invariant) value, drawn as a black line.
    """
    ax = _axes(ax)
    for label, pred in predictions.items():
        ax.plot(angles_deg, pred, marker="o", ms=3, label=label)
    if target is not None:
        ax.axhline(float(target), color="k", lw=1.5, label="true value")
    ax.set_xlabel("rotation angle about a fixed axis (degrees)")
    ax.set_ylabel(f"predicted {quantity} ({unit})")
    ax.set_title("Predictions for one rotating molecule")
    ax.legend(fontsize=8)
    return ax


def plot_validation_vs_rotated_error(histories: dict, ax=None, unit="Å"):
    """Per-epoch validation MAE in the data's own frame (solid) and on the rotated validation set
    (dashed), one colour per model.

    Args:
        histories: ``{label: {"val": [...], "val_rotated": [...]}}`` (one value per epoch).
    """
    ax = _axes(ax)
    colours = iter(["C0", "C1", "C2", "C3", "C4", "C5"])
    for label, h in histories.items():
        c = next(colours)
        epochs = range(1, len(h["val"]) + 1)
        ax.plot(epochs, h["val"], color=c, ls="-", label=f"{label}: validation")
        ax.plot(epochs, h["val_rotated"], color=c, ls="--", label=f"{label}: rotated validation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"mean absolute error ({unit})")
    ax.set_title("Validation MAE (solid) and the same molecules rotated (dashed)")
    ax.legend(fontsize=7)
    return ax


def plot_rotation_inconsistency(histories: dict, ax=None, unit="Å", floor=ZERO_FLOOR):
    """Per-epoch rotation inconsistency, mean |f(R·x) − f(x)| over validation molecules (log scale), one
    line per model; exact zeros are drawn at ``floor`` and counted in the model's legend label.

    Args:
        histories: ``{label: {"inconsistency": [...]}}`` (one value per epoch).
    """
    ax = _axes(ax)
    for k, (label, h) in enumerate(histories.items()):
        values = h["inconsistency"]
        zeros = sum(1 for v in values if v == 0)
        if zeros:
            label = f"{label} ({zeros} epochs exactly 0, drawn at {floor:.0e})"
        ax.plot(range(1, len(values) + 1), _positive(values, floor), f"C{k}-o", ms=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"mean |f(R·x) − f(x)| ({unit})")
    ax.set_title("Rotation inconsistency on validation molecules")
    ax.legend(fontsize=8)
    return ax


def plot_precision_panels(errors: dict, tolerances: dict, panels=(("distance", "Distance model: invariance error"),
                                                                   ("EGNN", "EGNN: equivariance error")),
                          ylabel="molecules (max of 4 trials each)"):
    """One :func:`plot_error_histograms` panel per ``(substring of the errors' labels, title)`` in ``panels``."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
    for ax, (which, title) in zip(axes[0], panels):
        plot_error_histograms({k: v for k, v in errors.items() if which in k}, ax=ax, tolerances=tolerances,
                              ylabel=ylabel)
        ax.set_title(title)
    fig.tight_layout()
    return fig
