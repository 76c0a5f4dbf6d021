"""Figures for diffusion sampling diagnostics. Each function draws one idea on ``ax`` (a new figure if
None) and returns the axes; matplotlib is imported on first use."""
from __future__ import annotations


def _axes(ax, size=(5.5, 3.6)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_schedule_and_snr(alpha_bar, linear_alpha_bar, linear_label: str):
    """Two panels: :func:`plot_schedule` of the cosine ``alpha_bar``, and log SNR(t) of the cosine schedule next to
    ``linear_alpha_bar`` (a linear-β schedule's ᾱ, labelled ``linear_label``). Both are (T + 1,) with ᾱ_0 = 1 first.
    Returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    plot_schedule(alpha_bar, ax=axes[0])
    for ab, label in ((alpha_bar, "cosine"), (linear_alpha_bar, linear_label)):
        ab = np.asarray(ab, dtype=float)
        axes[1].plot(np.log(ab[1:] / (1 - ab[1:])), label=label)
    axes[1].set(xlabel="diffusion step t", ylabel="log SNR", title="log SNR: cosine vs linear schedule")
    axes[1].legend()
    fig.tight_layout()
    return fig


def plot_schedule(alpha_bar, ax=None):
    """ᾱ_t and log SNR(t) = log(ᾱ_t/(1 − ᾱ_t)) against t (two y-axes)."""
    import numpy as np

    ax = _axes(ax)
    ab = np.asarray(alpha_bar, dtype=float)
    t = np.arange(len(ab))
    ax.plot(t, ab, color="C0", label="ᾱ_t")
    ax.set_xlabel("diffusion step t")
    ax.set_ylabel("ᾱ_t (signal fraction)", color="C0")
    twin = ax.twinx()
    twin.plot(t[1:], np.log(ab[1:] / (1 - ab[1:])), color="C1", label="log SNR")
    twin.set_ylabel("log SNR = log(ᾱ/(1 − ᾱ))", color="C1")
    ax.set_title("Cosine schedule: signal fraction and log SNR")
    return ax


def plot_forward_moments(t, empirical, closed_form, ax=None, label="variance"):
    """Empirical moment of q(x_t | x_0) (markers) against the closed form (line), per t."""
    ax = _axes(ax)
    ax.plot(t, closed_form, "k-", lw=1.5, label=f"closed form {label}")
    ax.plot(t, empirical, "o", ms=4, label=f"empirical {label}")
    ax.set_xlabel("diffusion step t")
    ax.set_ylabel(label)
    ax.set_title(f"Forward process: {label} of x_t given x_0")
    ax.legend(fontsize=8)
    return ax


def plot_toy_samples(samples: dict, data=None, ax=None, limit=3.0):
    """Scatter of 2D samples, one panel per sampler (``samples`` = {label: Tensor[n, 2]}), data in grey."""
    import matplotlib.pyplot as plt
    import numpy as np

    labels = list(samples)
    if ax is None:
        _, ax = plt.subplots(1, len(labels), figsize=(3.2 * len(labels), 3.2), squeeze=False)
        ax = ax[0]
    for a, label in zip(ax, labels):
        if data is not None:
            d = np.asarray(data)
            a.scatter(d[:, 0], d[:, 1], s=2, color="0.75", label="data")
        x = np.asarray(samples[label], dtype=float)
        x = x[np.isfinite(x).all(axis=1)]
        a.scatter(np.clip(x[:, 0], -limit, limit), np.clip(x[:, 1], -limit, limit), s=2, color="C3", label="samples")
        a.set_xlim(-limit, limit)
        a.set_ylim(-limit, limit)
        a.set_aspect("equal")
        a.set_title(label, fontsize=9)
        a.set_xlabel("x₁")
    ax[0].set_ylabel("x₂")
    ax[0].legend(fontsize=7, loc="lower left")
    return ax


def plot_quality_vs_steps(rows, x="steps", y="connected", hue="sampler", ax=None, ylabel=None, title=None):
    """Quality against the number of sampling steps (log x-axis), one line per sampler family.

    ``rows``: a DataFrame (or list of dicts) with columns ``x``, ``y``, ``hue`` and optional ``y_low``/``y_high``.
    """
    import pandas as pd

    ax = _axes(ax)
    df = pd.DataFrame(rows)
    for name, g in df.groupby(hue):
        g = g.sort_values(x)
        ax.plot(g[x], g[y], marker="o", label=name)
        if "y_low" in g and "y_high" in g:
            ax.fill_between(g[x], g["y_low"], g["y_high"], alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("sampling steps (log scale)")
    ax.set_ylabel(ylabel or y)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or f"{y} vs sampling steps")
    ax.legend(fontsize=8)
    return ax


def plot_distance_histograms(sample_values, data_values, ax=None, bins=60, xlabel="distance (Å)", title=None,
                             value_range=None):
    """Density histograms of a distance (bond lengths, pairwise distances) in samples vs data."""
    import numpy as np

    ax = _axes(ax)
    both = np.concatenate([np.asarray(data_values), np.asarray(sample_values)])
    value_range = value_range or (float(both.min()) if len(both) else 0, float(both.max()) if len(both) else 1)
    ax.hist(data_values, bins=bins, range=value_range, density=True, alpha=0.5, label=f"data ({len(data_values)})")
    ax.hist(sample_values, bins=bins, range=value_range, density=True, histtype="step", lw=1.5,
            label=f"samples ({len(sample_values)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density (1/Å)")
    ax.set_title(title or "Samples vs data")
    ax.legend(fontsize=8)
    return ax


def plot_type_frequencies(sample_freq: dict, data_freq: dict, ax=None):
    """Bar chart of atom-type shares (C, N, O, F) in samples vs data."""
    import numpy as np

    ax = _axes(ax, (4.5, 3.2))
    keys = list(data_freq)
    x = np.arange(len(keys))
    ax.bar(x - 0.2, [data_freq[k] for k in keys], 0.4, label="data")
    ax.bar(x + 0.2, [sample_freq.get(k, 0.0) for k in keys], 0.4, label="samples")
    ax.set_xticks(x, keys)
    ax.set_ylabel("share of heavy atoms")
    ax.set_title("Atom types: samples vs data")
    ax.legend(fontsize=8)
    return ax


def plot_similarity_to_train(similarities, ax=None, bins=20):
    """Histogram of each sample's nearest-neighbour Tanimoto similarity to the training set."""
    import numpy as np

    ax = _axes(ax)
    s = np.asarray(similarities, dtype=float)
    ax.hist(s, bins=bins, range=(0, 1), alpha=0.7)
    ax.axvline(1.0, color="k", ls=":", lw=1)
    ax.set_xlabel("max Tanimoto similarity to a training molecule (Morgan r=2)")
    ax.set_ylabel("samples")
    ax.set_title(f"Memorisation check: {np.mean(s >= 0.999):.0%} identical to a training molecule" if len(s) else
                 "Memorisation check")
    return ax


def plot_trajectories(trajectory, sizes, ax=None, max_panels=6, type_symbols=("C", "N", "O", "F"), limit=4.5):
    """Snapshots of a few molecules along the reverse process, one row per molecule: positions projected on
    x–y (Å), coloured by the current most likely type. ``trajectory`` = list of ``(t, pos, h)`` and ``sizes`` =
    atoms per molecule (from ``sample_molecules(trajectory=k)``: ``extra["trajectory"]``,
    ``extra["trajectory_sizes"]``)."""
    import matplotlib.pyplot as plt
    import numpy as np

    idx = np.unique(np.linspace(0, len(trajectory) - 1, max_panels).round().astype(int))
    if ax is None:
        _, ax = plt.subplots(len(sizes), len(idx), figsize=(2.0 * len(idx), 2.0 * len(sizes)), squeeze=False)
    colours = ["0.3", "C0", "C3", "C2"]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for row, (a0, a1) in enumerate(zip(bounds[:-1], bounds[1:])):
        for col, k in enumerate(idx):
            t, pos, h = trajectory[k]
            p, types = np.asarray(pos)[a0:a1], np.asarray(h)[a0:a1].argmax(axis=1)
            a = ax[row][col]
            a.scatter(p[:, 0], p[:, 1], c=[colours[c] for c in types], s=22)
            a.set_xlim(-limit, limit)
            a.set_ylim(-limit, limit)
            a.set_aspect("equal")
            a.set_xticks([])
            a.set_yticks([])
            if row == 0:
                a.set_title(f"t = {t}", fontsize=9)
        ax[row][0].set_ylabel(f"molecule {row + 1}\n(x–y, ±{limit:g} Å)", fontsize=8)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=s) for c, s in zip(colours, type_symbols)]
    ax[0][-1].legend(handles=handles, fontsize=7, loc="upper right")
    return ax


def plot_com_drift(drifts: dict, ax=None):
    """Largest |centre of mass| (Å, log scale) after each sampling step, one line per setting."""
    import numpy as np

    ax = _axes(ax)
    for label, d in drifts.items():
        ax.semilogy(np.arange(1, len(d) + 1), np.maximum(np.asarray(d), 1e-12), label=label)
    ax.set_xlabel("sampling step (from x_T)")
    ax.set_ylabel("max |centre of mass| (Å)")
    ax.set_title("Centre-of-mass drift along the trajectory")
    ax.legend(fontsize=8)
    return ax


def plot_loss(losses, ax=None, window=20, every=1):
    """Training loss (moving average over ``window`` points) against the step (``every`` steps per point)."""
    import numpy as np

    ax = _axes(ax)
    y = np.asarray(losses, dtype=float)
    if len(y) >= window:
        y = np.convolve(y, np.ones(window) / window, mode="valid")
    ax.plot(np.arange(len(y)) * every, y)
    ax.set_xlabel("training step")
    ax.set_ylabel("ε-prediction MSE (moving average)")
    ax.set_title("Denoiser training loss")
    return ax


def plot_bond_types(sample_bonds, data_bonds, types, bins=40, value="length", column="type", xlabel="bond length (Å)",
                    ncols=4):
    """Small multiples: per bond type (or angle centre), the data's and the samples' distributions, with the
    data's 1st–99th percentile range shaded. ``*_bonds`` are DataFrames from
    :func:`molpractice.sample_distributions.bond_table` (or ``angle_table``). Returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    nrows = -(-len(types) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.5 * nrows), squeeze=False)
    for ax, kind in zip(axes.flat, types):
        ref = data_bonds.loc[data_bonds[column] == kind, value].to_numpy()
        got = sample_bonds.loc[sample_bonds[column] == kind, value].to_numpy()
        lo, hi = np.percentile(ref, [1, 99])
        span = (min(ref.min(), got.min() if len(got) else ref.min()), max(ref.max(), got.max() if len(got) else ref.max()))
        ax.axvspan(lo, hi, color="0.9", zorder=0)
        ax.hist(ref, bins=bins, range=span, density=True, alpha=0.6, label=f"data ({len(ref)})")
        if len(got):
            ax.hist(got, bins=bins, range=span, density=True, histtype="step", lw=1.5, label=f"samples ({len(got)})")
        ax.set_title(kind, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(types):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_novelty_by_size(table, ax=None):
    """Novelty by heavy-atom count: samples next to the held-out data, both against the rest of the data (the
    held-out novelty is ≈ 1 by construction for a deduplicated reference, so not a null baseline), with 95 %
    intervals (a DataFrame from :func:`molpractice.sample_distributions.novelty_by_size`)."""
    import numpy as np

    ax = _axes(ax)
    x = np.arange(len(table))
    for shift, col, lo, hi, label in ((-0.1, "novelty samples", "s_low", "s_high", "samples vs the rest"),
                                     (0.1, "novelty held-out data", "h_low", "h_high", "held-out data vs the rest")):
        y = table[col].to_numpy(dtype=float)
        err = np.vstack([y - table[lo].to_numpy(dtype=float), table[hi].to_numpy(dtype=float) - y])
        ax.errorbar(x + shift, y, yerr=err, fmt="o", capsize=3, label=label)
    ax.set_xticks(x, table["heavy atoms"])
    ax.set(xlabel="heavy atoms per molecule", ylabel="novelty (share not in the reference set)", ylim=(-0.02, 1.02),
           title="Novelty by size (held-out data: a description, not a null; 95 % CP)")
    ax.legend(fontsize=8)
    return ax
