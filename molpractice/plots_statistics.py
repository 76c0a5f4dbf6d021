"""Figures of research-rigor measurements, each named after what it shows. Every function draws on ``ax`` (a new
figure when None), titles it, labels the axes with units and returns the ``Axes``.

==========================  ==================================================================
``plot_scaling``            seconds vs input size (log–log) per implementation, O(n) and O(n²) guides.
``plot_coverage``           coverage of nominal 95 % intervals per family size and method.
``plot_leakage_curve``      test RMSE vs Butina threshold with intervals; random and scaffold splits.
``plot_separation``         test-to-train similarity and cross-part neighbours vs Butina threshold.
``plot_rejection_rates``    rejection rate of a calibration test vs the true temperature.
``plot_false_alarms``       chance of at least one false alarm vs number of looks, per decision rule.
``plot_family_sizes``       share of molecules by the size of the group they sit in, per grouping.
``plot_fixed_leakage_curve``  test RMSE vs train–test similarity cutoff (fixed test set), siblings allowed.
``plot_error_rates``        false-positive rate and power per model-comparison method, with MC error.
==========================  ==================================================================
"""
from __future__ import annotations

import numpy as np


def _yerr(y, low, high):
    """Error-bar lengths; clipped at 0 because a percentile interval need not contain the point estimate."""
    return np.clip(np.vstack([y - np.asarray(low, dtype=float), np.asarray(high, dtype=float) - y]), 0, None)


def _plain_log_ticks(ax, values):
    """Log-scaled x axis labelled at ``values`` in plain numbers (not powers of ten)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_xticks(sorted(set(float(v) for v in values)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _axes(ax, figsize=(5.2, 3.8)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_scaling(table, ax=None, title: str = "Run time vs input size"):
    """Log–log run time per implementation from :func:`molpractice.rigor.timing_table`.

    Dashed guides through each curve's first point show slopes 1 (O(n)) and 2 (O(n²)).
    """
    ax = _axes(ax)
    n = np.asarray(table.index, dtype=float)
    for col in [c for c in table.columns if c.endswith("[s]")]:
        t = table[col].to_numpy(dtype=float)
        ok = np.isfinite(t) & (t > 0)
        if not ok.any():
            continue
        line, = ax.loglog(n[ok], t[ok], "o-", label=col.replace(" [s]", ""))
        n0, t0 = n[ok][0], t[ok][0]
        ax.loglog(n[ok], t0 * (n[ok] / n0), ls=":", color=line.get_color(), lw=1)
        ax.loglog(n[ok], t0 * (n[ok] / n0) ** 2, ls="--", color=line.get_color(), lw=1)
    ax.plot([], [], ls=":", color="gray", label="slope 1 (O(n))")
    ax.plot([], [], ls="--", color="gray", label="slope 2 (O(n²))")
    ax.set_xlabel("input size n")
    ax.set_ylabel("CPU time (s)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_coverage(df, ax=None, nominal: float = 0.95, title: str = "Coverage with near-duplicate families"):
    """Coverage (with its Clopper–Pearson interval) vs family size, one series per method
    (:func:`molpractice.rigor.family_coverage`)."""
    ax = _axes(ax)
    for k, (method, rows) in enumerate(df.groupby("method", sort=False)):
        x = rows["family size"].to_numpy(dtype=float) * (1 + 0.04 * (k - 0.5))
        y = rows["coverage"].to_numpy()
        err = _yerr(y, rows["coverage low"], rows["coverage high"])
        ax.errorbar(x, y, yerr=err, fmt="o-", capsize=3, label=f"{method} bootstrap")
    ax.axhline(nominal, color="black", ls="--", lw=1, label=f"nominal {nominal:.0%}")
    _plain_log_ticks(ax, df["family size"])
    ax.set_xlabel("molecules per family (near-duplicates)")
    ax.set_ylabel("fraction of intervals containing the truth")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_leakage_curve(df, ax=None, unit: str = "log10(mol/L)", title: str = "Leakage curve"):
    """Test RMSE (cluster-bootstrap interval) vs Butina threshold; random and scaffold splits as bands
    (:func:`molpractice.rigor.leakage_curve`)."""
    ax = _axes(ax)
    butina = df[df["split"].str.startswith("butina")]
    y = butina["rmse"].to_numpy()
    err = _yerr(y, butina["low"], butina["high"])
    ax.errorbar(butina["threshold"], y, yerr=err, fmt="o-", capsize=3, label="Butina cluster split")
    for (_, row), color in zip(df[~df["split"].str.startswith("butina")].iterrows(), ("tab:green", "tab:red")):
        ax.axhline(row["rmse"], color=color, lw=1.2, label=f"{row['split']} split")
        ax.axhspan(row["low"], row["high"], color=color, alpha=0.12)
    ax.set_xlabel("Butina distance cutoff (1 − Tanimoto)")
    ax.set_ylabel(f"test RMSE ({unit})")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_separation(df, ax=None, title: str = "How separated is the test set?"):
    """Mean nearest-train Tanimoto of test molecules and the fraction of test molecules with a train neighbour
    within the cutoff, vs Butina threshold (:func:`molpractice.rigor.leakage_curve`)."""
    ax = _axes(ax)
    butina = df[df["split"].str.startswith("butina")]
    ax.plot(butina["threshold"], butina["nn_similarity"], "o-", label="mean nearest-train Tanimoto")
    ax.plot(butina["threshold"], butina["nn within cutoff"], "s--",
            label="test molecules with a train neighbour\nwithin the split's own cutoff")
    if "nn ≥ 0.6" in butina:
        ax.plot(butina["threshold"], butina["nn ≥ 0.6"], "d-.", label="test molecules with a train neighbour\nat Tanimoto ≥ 0.6")
    for (_, row), color in zip(df[~df["split"].str.startswith("butina")].iterrows(), ("tab:green", "tab:red")):
        ax.axhline(row["nn_similarity"], color=color, lw=1, ls=":", label=f"{row['split']}: nearest-train Tanimoto")
    ax.set_xlabel("Butina distance cutoff (1 − Tanimoto)")
    ax.set_ylabel("similarity / fraction (unitless)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def plot_rejection_rates(df, ax=None, level: float = 0.05, title: str = "Power of the calibration test"):
    """Rejection rate (Clopper–Pearson interval) vs true temperature for rows with zero shift
    (:func:`molpractice.rigor.calibration_power`)."""
    ax = _axes(ax)
    rows = df[df["shift"] == 0].sort_values("temperature")
    y = rows["rejection rate"].to_numpy()
    err = _yerr(y, rows["low"], rows["high"])
    ax.errorbar(rows["temperature"], y, yerr=err, fmt="o-", capsize=3, label="rejection rate")
    ax.axhline(level, color="black", ls="--", lw=1, label=f"level {level:g}")
    ax.axvline(1.0, color="gray", ls=":", lw=1)
    _plain_log_ticks(ax, rows["temperature"])
    ax.text(0.02, 0.5, "← under-confident", transform=ax.transAxes, fontsize=8, color="gray")
    ax.text(0.98, 0.5, "over-confident →", transform=ax.transAxes, fontsize=8, color="gray", ha="right")
    ax.set_xlabel("true temperature T (true logit = logit(p̂) / T)")
    ax.set_ylabel("fraction of months rejected")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_false_alarms(table, ax=None, level: float = 0.05, title: str = "False alarms with repeated looks"):
    """P(at least one false alarm) vs number of looks, one line per rule (:func:`molpractice.rigor.multiple_looks`)."""
    ax = _axes(ax)
    for rule in table.columns:
        ax.plot(table.index, table[rule], "o-", ms=3, label=rule)
    ax.axhline(level, color="black", ls="--", lw=1, label=f"{level:g}")
    ax.set_xlabel("monthly looks")
    ax.set_ylabel("P(at least one false alarm)")
    ax.set_ylim(0, max(0.1, float(np.nanmax(table.to_numpy())) * 1.1))
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_family_sizes(groupings, ax=None, title: str = "How clustered is each data set?"):
    """Cumulative share of molecules that sit in a group of at most s molecules, vs s (log scale), one line per
    grouping (``{name: (n,) group labels}``). A set without families jumps to 1 at s = 1."""
    import pandas as pd

    ax = _axes(ax)
    for name, labels in groupings.items():
        sizes = pd.Series(list(labels)).value_counts().to_numpy()
        s = np.sort(np.repeat(sizes, sizes))  # one entry per molecule: the size of its group
        ax.step(s, np.arange(1, s.size + 1) / s.size, where="post", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("group size s (molecules, log scale)")
    ax.set_ylabel("share of molecules in groups of size ≤ s")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_fixed_leakage_curve(df, ax=None, unit: str = "log units", title: str = "Leakage with a fixed test set"):
    """Test RMSE (± SD over training subsets) vs the largest Tanimoto a training molecule may have to the
    test set, the sibling control's RMSE if the table has it, and the number of test-family siblings allowed on
    a second axis
    (:func:`molpractice.family_studies.fixed_test_leakage_curve`)."""
    ax = _axes(ax)
    sd = df["rmse subsample sd"].fillna(0).to_numpy()
    ax.errorbar(df["cutoff"], df["rmse"], yerr=sd, fmt="o-", capsize=3, label="test RMSE (± SD over training subsets)")
    if "rmse no siblings" in df:
        ax.plot(df["cutoff"], df["rmse no siblings"], "^:", color="tab:red",
                label="control: test-family siblings removed")
    ax.set_xlabel("cutoff: training molecules have Tanimoto < cutoff to every test molecule")
    ax.set_ylabel(f"test RMSE ({unit})")
    twin = ax.twinx()
    twin.plot(df["cutoff"], df["siblings allowed"], "s--", color="tab:gray", label="siblings allowed in the pool")
    twin.set_ylabel("test-family siblings allowed (molecules)")
    ax.invert_xaxis()
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="center left")
    ax.set_title(title)
    return ax


def plot_error_rates(df, ax=None, level: float = 0.05, title: str = "Is B better than A? Error rates"):
    """False-positive rate (true difference 0) and power per method, bars with ±1.96 Monte Carlo SE
    (:func:`molpractice.comparisons.comparison_error_rates`)."""
    ax = _axes(ax, figsize=(2.0 + 1.7 * len(df), 3.8))
    x = np.arange(len(df))
    for k, (col, se, label) in enumerate((("false-positive rate", "fpr MC se", "false-positive rate (no difference)"),
                                          ("power", "power MC se", "power (true difference)"))):
        ax.bar(x + (k - 0.5) * 0.38, df[col], width=0.38, yerr=1.96 * df[se], capsize=3, label=label)
    ax.axhline(level, color="black", ls="--", lw=1, label=f"level {level:g}")
    ax.set_xticks(x)
    import textwrap

    ax.set_xticklabels(["\n".join(textwrap.wrap(m, 24)) for m in df["method"]], fontsize=8)
    ax.set_ylabel("share of simulated test sets")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax
