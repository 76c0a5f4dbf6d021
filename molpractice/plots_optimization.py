"""Figures of optimisation under an imperfect oracle: estimator distributions, the clipping trade-off,
top-10 curves over the call budget, the audit signals of reward hacking, and the guidance sweep."""
from __future__ import annotations

import numpy as np

from . import oracles

_COLOURS = {"graph GA": "tab:red", "random proposals": "tab:blue", "random screening": "tab:gray"}
_STYLES = {"buggy": "-", "bug-free": "--", "redesigned": ":", "redesigned + SA": "-."}


def plot_estimator_distributions(estimates, true_value, columns=("IPS", "SNIPS", "DR", "IPS clip 10"), ax=None):
    """Histogram of each estimator over the simulated logs, with the true value V(π)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    lo, hi = np.quantile(estimates[list(columns)].to_numpy(), [0.002, 0.998])
    bins = np.linspace(lo, hi, 50)
    for name in columns:
        ax.hist(estimates[name], bins=bins, histtype="step", lw=1.6, label=name)
    ax.axvline(true_value, color="k", lw=1.5, label="true V(π)")
    ax.set(xlabel="estimated hit rate of the new policy", ylabel="simulated logs",
           title=f"Off-policy estimates over {len(estimates)} logs")
    ax.legend(fontsize=8)
    return ax


def plot_clipping_tradeoff(summary, ax=None):
    """Bias², variance and MSE of IPS against the clip level (unclipped = IPS at the right)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5.5, 3.6))[1]
    names = [n for n in summary.index if n.startswith("IPS clip")] + ["IPS"]
    labels = [n.replace("IPS clip ", "") for n in names[:-1]] + ["none"]
    x = np.arange(len(names))
    bias2 = summary.loc[names, "bias"].to_numpy() ** 2
    var = summary.loc[names, "sd"].to_numpy() ** 2
    ax.bar(x - 0.2, bias2, 0.4, label="bias²")
    ax.bar(x + 0.2, var, 0.4, label="variance")
    ax.plot(x, summary.loc[names, "rmse"].to_numpy() ** 2, "ko-", label="MSE")
    ax.set_xticks(x, labels)
    ax.set(xlabel="weight clip M", ylabel="squared error (hit rate²)", title="Clipped IPS: bias–variance trade-off")
    ax.legend(fontsize=8)
    return ax


def plot_top10_curves(runs, budget, score="proxy", ax=None):
    """Top-10 mean against calls for every run (one line per seed), PMO's curve. ``score``: "proxy" or
    "true" (the true score of the current top 10 — hindsight the optimiser never had).

    The top 10 is ranked by the run's ``objective`` (``(smiles, proxy) -> value``, as stored by
    :func:`molpractice.campaign.run_once`) when it has one — for a redesigned run its final, corrected
    objective, applied to the whole history (before the switch too) — so that the curve ends at what the run
    ships; on the "proxy" panel such a run shows that objective's top-10 mean. Runs without an objective are
    ranked by the raw oracle value."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3.8))[1]
    seen = set()
    for r in runs:
        objective = r.get("objective")
        if score == "proxy" and objective is None:
            curve = oracles.top_k_curve([v for _, v in r["history"]])
            x = np.arange(1, len(curve) + 1)
        else:
            curve = top10_curve(r["history"], step=25, objective=objective, value="objective" if score == "proxy" else "true")
            x = np.arange(25, 25 * len(curve) + 1, 25)[:len(curve)]
        key = (r["proxy"], r["method"])
        label = f"{r['method']}, {r['proxy']}" + (" (ranked by its corrected objective)" if r["proxy"].startswith("redesigned") else "")
        ax.plot(x, curve, _STYLES[r["proxy"]], color=_COLOURS[r["method"]], lw=1.2, alpha=0.8,
                label=label if key not in seen else None)
        seen.add(key)
    ax.axvline(budget / 2, color="k", lw=0.6, ls=":")
    ax.set(xlabel="proxy calls", ylabel=f"top-10 mean ({score} score)", title=f"Top-10 {score} score over the budget")
    ax.legend(fontsize=7)
    return ax


def top10_curve(history, step: int = 25, objective=None, value: str = "true"):
    """Every ``step`` calls, the 10 best molecules so far by ``objective(smiles, proxy)`` (default: the proxy)
    and their mean ``value``: "true" (true score) or "objective" (the ranking objective itself)."""
    if value not in ("true", "objective"):
        raise ValueError(f"value must be 'true' or 'objective', got {value!r}")
    rank = objective or (lambda s, v: v)
    out, cache = [], {}
    for t in range(step, len(history) + 1, step):
        top = sorted(history[:t], key=lambda x: -rank(*x))[:10]
        if value == "true":
            out.append(np.mean([cache.setdefault(s, oracles.true_score(s)) for s, _ in top]))
        else:
            out.append(np.mean([rank(s, v) for s, v in top]))
    return np.array(out)


def true_of_top10_curve(history, step: int = 25, objective=None):
    """Every ``step`` calls, the mean true score of the 10 best molecules so far (by ``objective``, default
    the proxy)."""
    return top10_curve(history, step=step, objective=objective, value="true")


def plot_audit_signals(runs, budget, axes=None):
    """The audit's signals per batch for the GA runs: gap z-score (the alarm), rank agreement, diversity,
    similarity to the library, heavy atoms per molecule."""
    import matplotlib.pyplot as plt

    names = [("gap_z", "gap z (proxy − true vs library)"), ("rank_agreement", "Spearman proxy vs true"),
             ("diversity", "batch diversity"), ("library_similarity", "similarity to library"),
             ("heavy_atoms", "heavy atoms per molecule")]
    if axes is None:
        _, axes = plt.subplots(1, len(names), figsize=(16, 3.2))
    from .optimizers import ALARM_Z

    seen = set()
    for r in runs:
        if r["method"] != "graph GA":
            continue
        a = r["audit"]
        for ax, (col, title) in zip(axes, names):
            ax.plot(a["calls"], a[col], _STYLES[r["proxy"]], color={"buggy": "tab:red", "bug-free": "tab:green",
                                                                     "redesigned": "tab:purple", "redesigned + SA": "tab:brown"}[r["proxy"]],
                    lw=1.1, label=r["proxy"] if r["proxy"] not in seen else None)
            ax.set(title=title, xlabel="proxy calls")
        seen.add(r["proxy"])
    axes[0].axhline(ALARM_Z, color="k", lw=0.8, ls="--")
    for ax in axes:
        ax.axvline(budget / 2, color="k", lw=0.6, ls=":")
    axes[0].legend(fontsize=7)
    return axes


def plot_guidance_sweep(sweep, axes=None):
    """Property shift (share of label-1 samples, over all and over the valid connected ones) and validity,
    connectivity, diversity, scaffold diversity and the plausible rate (each when the sweep has it) against the
    guidance scale w, with the sweep's 95 % intervals (Clopper–Pearson for the rates and shares, bootstrap for the
    diversities); the training molecules' share and diversities (``sweep.attrs``) as horizontal reference lines."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    w = sweep["w"].to_numpy()
    for ax, cols in ((axes[0], ("label_share", "label_share_valid")), (axes[1], ("validity", "connected", "diversity", "scaffold_diversity",
                                                                                      "plausible"))):
        for c in cols:
            if c not in sweep:
                continue
            y = sweep[c].to_numpy()
            err = np.vstack([y - sweep[f"{c}_lo"].to_numpy(), sweep[f"{c}_hi"].to_numpy() - y])
            ax.errorbar(w, y, yerr=np.clip(np.nan_to_num(err), 0, None), marker="o", capsize=3,
                        label={"label_share": "all samples", "label_share_valid": "valid connected samples"}.get(c, c))
        ax.set(xlabel="guidance scale w (−1 = unconditional)", ylim=(0, 1.02))
        ax.legend(fontsize=8)
    axes[0].axhline(sweep.attrs.get("train_label_share", np.nan), color="k", lw=0.8, ls=":",
                    label="training share")
    ref = sweep.attrs.get("train_diversity") or {}
    for i, c in enumerate(("diversity", "scaffold_diversity")):
        if c in sweep and c in ref:
            axes[1].axhline(ref[c], color=f"C{2 + i}", lw=0.8, ls=":")  # the training molecules' own, in the line's colour
    axes[0].set(ylabel="share of samples with label 1", title="Property shift")
    axes[1].set(ylabel="fraction", title="Validity, connectivity, diversity, plausibility\n(dotted: training molecules)")
    return axes
