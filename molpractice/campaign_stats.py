"""The chapter-6 campaign's interval arithmetic: the mean and t-interval over seeds (:func:`mean_interval`), its
verdict text (:func:`verdict`), the t-test behind it (:func:`t_p_value`) and Holm families (review 06h finding 5):
one family with Holm's correction (:func:`holm_table`, reusing chapter 5's
:func:`molpractice.comparisons.holm_adjusted`), the families the notebook prints (Results 2's paired table:
:func:`results2_family`; the drift table: :func:`drift_family`; the redesign's comparisons: :func:`redesign_family`,
read by :func:`redesign_lines`) and a text with both verdicts (:func:`holm_word`).
Every name is re-exported by :mod:`molpractice.campaign`."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


def mean_interval(values, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean and its t-interval over seeds (nan interval for a single seed)."""
    from scipy import stats

    x = np.asarray(values, float)
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(1 - alpha / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def verdict(m, lo, hi) -> str:
    """``"+0.012 [-0.01, +0.03] (no detectable difference)"``-style text of a paired difference."""
    word = "higher" if lo > 0 else "lower" if hi < 0 else "no detectable difference"
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}] ({word})"


def t_p_value(values) -> float:
    """Two-sided p-value of the one-sample t-test of mean 0 over seeds — the test behind :func:`mean_interval`'s
    interval (the interval excludes 0 exactly when p < 0.05). NaN for fewer than 2 values; 0 or 1 when every value
    is the same (non-zero or zero)."""
    from scipy import stats

    x = np.asarray(values, float)
    if len(x) < 2:
        return float("nan")
    sd = float(x.std(ddof=1))
    if sd == 0.0:
        return 0.0 if float(x.mean()) != 0.0 else 1.0
    t = float(x.mean()) / (sd / math.sqrt(len(x)))
    return float(2 * stats.t.sf(abs(t), len(x) - 1))


def holm_table(rows, alpha: float = 0.05) -> pd.DataFrame:
    """One family of comparisons with Holm's correction (Holm 1979; :func:`molpractice.comparisons.holm_adjusted`,
    chapter 5's). ``rows``: dicts with ``comparison`` (the index), ``difference``, ``lo``, ``hi`` (the unadjusted
    95 % interval) and ``p`` (its two-sided p-value). Returns, per comparison, ``verdict`` (unadjusted, from the
    interval), ``p``, ``p (Holm)`` and ``verdict (Holm)`` (higher/lower when the Holm-adjusted p is below
    ``alpha``, else no detectable difference). A row without a p-value (NaN: fewer than 2 seeds, a missing run)
    is left out of the family and its Holm verdict says "not tested (no p-value)"."""
    from .comparisons import holm_adjusted

    rows = list(rows)
    if not rows:
        raise ValueError("holm_table needs at least one comparison")
    p = np.array([float(r["p"]) for r in rows])
    adjusted = np.full(len(p), np.nan)
    ok = ~np.isnan(p)  # a comparison without a p-value (fewer than 2 seeds, a missing run) is left out of the family
    adjusted[ok] = holm_adjusted(p[ok])
    out = pd.DataFrame({"verdict": [verdict(r["difference"], r["lo"], r["hi"]) for r in rows], "p": p,
                        "p (Holm)": adjusted,
                        "verdict (Holm)": [("higher" if r["difference"] > 0 else "lower") if q < alpha else
                                           "no detectable difference" if q == q else "not tested (no p-value)"
                                           for r, q in zip(rows, adjusted)]},
                       index=pd.Index([r["comparison"] for r in rows], name="comparison"))
    return out


def paired_row(table, label: str, metric: str, a: tuple, b: tuple) -> dict:
    """A :func:`holm_table` row: (``a[0]`` proxy, ``a[1]`` method) − (``b[0]``, ``b[1]``) of ``metric`` per seed
    (``metric`` "gap" = proxy_top10 − true_top10)."""
    if metric == "gap":
        table = table.assign(gap=table.proxy_top10 - table.true_top10)
    ga = table[(table.proxy == a[0]) & (table.method == a[1])].set_index("seed")[metric]
    rb = table[(table.proxy == b[0]) & (table.method == b[1])].set_index("seed")[metric]
    d = (ga - rb.reindex(ga.index)).to_numpy()
    m, lo, hi = mean_interval(d)
    return dict(comparison=label, difference=m, lo=lo, hi=hi, p=t_p_value(d))


def results2_family(table) -> pd.DataFrame:
    """The paired comparisons of the optimisation study (Results 2) as one Holm family (:func:`holm_table`): GA −
    random proposals and GA − random screening on the bug-free proxy (proxy top-10, true top-10, AUC), GA − each
    baseline on the buggy proxy (true top-10: what the hacked GA ships against them), each method buggy − bug-free
    (true top-10), and the difference of the top 10's proxy − true gaps, GA − each baseline (bug-free): 13 rows."""
    bf, bg, ga = "bug-free", "buggy", "graph GA"
    rows = [paired_row(table, f"{metric}: GA − {base} (bug-free)", metric, (bf, ga), (bf, base))
            for metric in ("proxy_top10", "true_top10", "auc_top10") for base in ("random proposals", "random screening")]
    rows += [paired_row(table, f"true_top10: GA − {base} (buggy)", "true_top10", (bg, ga), (bg, base))
             for base in ("random proposals", "random screening")]
    rows += [paired_row(table, f"true_top10: {m} on the buggy − on the bug-free proxy", "true_top10", (bg, m), (bf, m))
             for m in (ga, "random screening", "random proposals")]
    rows += [paired_row(table, f"proxy − true gap of the top 10: GA − {base} (bug-free)", "gap", (bf, ga), (bf, base))
             for base in ("random screening", "random proposals")]
    return holm_table(rows)


def drift_family(changes: pd.DataFrame, a: str = "buggy", b: str = "bug-free") -> pd.DataFrame:
    """The drift table (first 3 → last 3 full batches of the GA runs; ``changes`` from
    :func:`molpractice.detection.drift_changes`) as one Holm family: per signal, the mean change in ``a`` runs,
    in ``b`` runs and the paired difference ``a`` − ``b`` over the same seeds (12 comparisons)."""
    rows = []
    for col in ("diversity", "library_similarity", "rank_agreement", "heavy_atoms"):
        ca = changes[changes.proxy == a].set_index("seed")[f"{col}_change"]
        cb = changes[changes.proxy == b].set_index("seed")[f"{col}_change"].reindex(ca.index)
        for name, x in ((a, ca), (b, cb), (f"{a} − {b}", ca - cb)):
            m, lo, hi = mean_interval(x.to_numpy())
            rows.append(dict(comparison=f"{col}: change in {name}" if name != f"{a} − {b}" else f"{col}: {name}",
                             difference=m, lo=lo, hi=hi, p=t_p_value(x.to_numpy())))
    return holm_table(rows)


REDESIGN_METRICS = ("true_top10", "heavy_atoms_top10", "sa_top10")
REDESIGN_PAIRS = ((("redesigned", "graph GA"), ("buggy", "graph GA"), "redesigned − hacked GA"),
                  (("redesigned", "graph GA"), ("bug-free", "graph GA"), "redesigned − bug-free GA"),
                  (("redesigned + SA", "graph GA"), ("buggy", "graph GA"), "redesigned + SA − hacked GA"),
                  (("redesigned + SA", "graph GA"), ("redesigned", "graph GA"), "redesigned + SA − redesign without SA"))


def redesign_family(table) -> pd.DataFrame:
    """The redesign's paired comparisons as one Holm family (:func:`holm_table`; review 06m finding 1: they are read
    together): for true top-10, heavy atoms and SA of the shipped top 10, redesigned − hacked GA, redesigned −
    bug-free GA and, when the ``table`` has the "redesigned + SA" runs, redesigned + SA − hacked GA and − the
    redesign without SA (12 comparisons; 6 without the SA runs; a metric the table lacks is left out). Index
    ``"<metric>: <pair>"``."""
    present = set(table.proxy)
    rows = [paired_row(table, f"{metric}: {label}", metric, a, b) for a, b, label in REDESIGN_PAIRS
            if a[0] in present and b[0] in present for metric in REDESIGN_METRICS if metric in table]
    if not rows:
        raise ValueError("table has no 'redesigned' runs (optimisation_study runs the redesign)")
    return holm_table(rows)


def redesign_lines(family: pd.DataFrame) -> list[str]:
    """One line per metric of :func:`redesign_family`: each pair's unadjusted verdict with Holm's over the family."""
    out = []
    for metric in REDESIGN_METRICS:
        parts = [f"{label} {holm_word(family, f'{metric}: {label}')}" for _, _, label in REDESIGN_PAIRS
                 if f"{metric}: {label}" in family.index]
        if parts:
            out.append(f"{metric:>17}: " + "; ".join(parts))
    return out


def holm_word(family: pd.DataFrame, comparison: str) -> str:
    """``"+0.050 [+0.007, +0.093] (higher; Holm: no detectable difference)"``: a :func:`holm_table` row's unadjusted
    verdict with its Holm verdict."""
    row = family.loc[comparison]
    return f"{row['verdict'][:-1]}; Holm: {row['verdict (Holm)']})"
