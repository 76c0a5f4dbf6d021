"""The chapter-6 optimisation campaign: every optimiser on the buggy and the bug-free proxy, the redesign
that continues the hacked run after its alarm, and the numbers the notebook and ``molpractice bench ch06``
report (summaries over seeds, paired differences — also against the diffusion samplers at equal calls —, the
audit's cost, the late-onset runs). The targets table and ``molpractice bench ch06`` are in
:mod:`molpractice.campaign_report`.

Seeds: the GA's settings were tuned on seeds 0-1 and the alarm's thresholds fixed while looking at seeds
0-4, so the reported runs use fresh seeds starting at ``cfg.first_seed`` (5 in both modes).

The redesign (:func:`redesign_objective`) uses only what the audit saw up to the alarm: it regresses the
audited gap (proxy − true) on each descriptor of :data:`PANEL` (none of them chosen by the bug's author
alone: size, heteroatoms, halogens, rings, polarity, lipophilicity), keeps the one with the largest |t|, and
subtracts its fitted slope from the proxy. The redesigned run is the hacked run itself, continued after its
alarm with the calls it has left, so it spends the same proxy budget; its true calls differ (the audit of the
top-10 entrants of the corrected ranking; the notebook prints them per run).

:func:`optimisation_study` runs each seed's runs as one job (:func:`molpractice.parallel.run_jobs`, workers from
:func:`molpractice.runtime.worker_count`); every run seeds itself, so 1 and 2 workers give identical runs.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from . import oracles
from .campaign_stats import (drift_family, holm_table, holm_word, mean_interval, paired_row,  # noqa: F401 (re-exported)
                             redesign_family, redesign_lines, results2_family, t_p_value, verdict)
from .optimizers import METHODS, Auditor, SETTINGS, graph_ga, library, random_proposals, random_screening


def _descriptors():
    from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

    return {
        "heavy atoms": oracles.heavy_atom_count,
        "halogens": oracles.halogen_count,
        "nitrogens": lambda m: sum(a.GetAtomicNum() == 7 for a in m.GetAtoms()),
        "oxygens": lambda m: sum(a.GetAtomicNum() == 8 for a in m.GetAtoms()),
        "sulfurs": lambda m: sum(a.GetAtomicNum() == 16 for a in m.GetAtoms()),
        "rings": lambda m: rdMolDescriptors.CalcNumRings(m),
        "aromatic rings": lambda m: rdMolDescriptors.CalcNumAromaticRings(m),
        "rotatable bonds": lambda m: Lipinski.NumRotatableBonds(m),
        "H-bond donors": lambda m: Lipinski.NumHDonors(m),
        "H-bond acceptors": lambda m: Lipinski.NumHAcceptors(m),
        "logP": lambda m: Crippen.MolLogP(m),
        "TPSA": lambda m: rdMolDescriptors.CalcTPSA(m),
        "molecular weight": lambda m: Descriptors.MolWt(m),
    }


PANEL = ("heavy atoms", "halogens", "nitrogens", "oxygens", "sulfurs", "rings", "aromatic rings", "rotatable bonds",
         "H-bond donors", "H-bond acceptors", "logP", "TPSA", "molecular weight")


def descriptor(name: str, smiles: str) -> float:
    """One descriptor of :data:`PANEL` for ``smiles``."""
    return float(_descriptors()[name](oracles.mol_from_smiles(smiles)))


def feature_panel(audited: pd.DataFrame, until_calls: int | None = None) -> pd.DataFrame:
    """Univariate least-squares fits of the audited gap (proxy − true) on each descriptor of :data:`PANEL`,
    from the audit rows up to ``until_calls``: slope, its standard error and t, sorted by |t| (largest first)."""
    rows = audited if until_calls is None else audited[audited["calls"] <= until_calls]
    y = (rows["proxy"] - rows["true"]).to_numpy()
    out = []
    for name in PANEL:
        x = np.array([descriptor(name, s) for s in rows["smiles"]], float)
        if len(x) < 4 or np.ptp(x) == 0:
            out.append(dict(feature=name, slope=0.0, se=float("nan"), t=0.0))
            continue
        slope, icpt = np.polyfit(x, y, 1)
        resid = y - (slope * x + icpt)
        se = math.sqrt(resid @ resid / (len(x) - 2) / ((x - x.mean()) @ (x - x.mean())))
        out.append(dict(feature=name, slope=float(slope), se=se, t=float(slope / se) if se > 0 else float("inf")))
    table = pd.DataFrame(out)
    return table.reindex(table["t"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def feature_slope(audited: pd.DataFrame, until_calls: int | None = None, feature: str = "heavy atoms") -> float:
    """Least-squares slope of the audited gap on one descriptor (default: the heavy-atom count, the size the proxy's
    bug rewards)."""
    panel = feature_panel(audited, until_calls)
    return float(panel.set_index("feature").loc[feature, "slope"])


def sa_penalty(sa_oracle, sa_max: float, weight: float):
    """``smiles -> weight · max(0, SA − sa_max)``, the SA score taken from ``sa_oracle`` (a
    :class:`~molpractice.oracles.BudgetedOracle` of :func:`~molpractice.oracles.sa_score`: every molecule's SA costs
    one call of its budget, repeats are free)."""
    if not float(weight) >= 0:
        raise ValueError(f"weight must be >= 0, got {weight!r}")
    if not np.isfinite(float(sa_max)):
        raise ValueError(f"sa_max must be finite, got {sa_max!r}")
    return _SAPenalty(sa_oracle, float(sa_max), float(weight))


class _SAPenalty:
    """``smiles -> weight · max(0, SA − sa_max)`` (a class, not a closure: run dicts holding it are picklable)."""

    def __init__(self, sa_oracle, sa_max: float, weight: float):
        self.sa_oracle, self.sa_max, self.weight = sa_oracle, sa_max, weight

    def __call__(self, s: str) -> float:
        return self.weight * max(0.0, float(self.sa_oracle([s])[0]) - self.sa_max)


class _CorrectedObjective:
    """``(smiles, proxy) -> proxy − slope · descriptor(feature, smiles) [− penalty(smiles)]`` (picklable)."""

    def __init__(self, feature: str, slope: float, penalty=None):
        self.feature, self.slope, self.penalty = feature, slope, penalty

    def __call__(self, s: str, v: float) -> float:
        out = v - self.slope * descriptor(self.feature, s)
        return out if self.penalty is None else out - self.penalty(s)


def redesign_objective(auditor: Auditor, record: dict, penalty=None):
    """At the alarm: pick the panel descriptor that best explains the audited gap, and return the GA
    objective ``(smiles, proxy) -> proxy − slope · descriptor`` (minus ``penalty(smiles)`` when given, e.g.
    :func:`sa_penalty`); the choice goes into ``record``."""
    panel = feature_panel(pd.DataFrame(auditor.audited))
    best = panel.iloc[0]
    record.update(feature=best["feature"], slope=float(best["slope"]), panel=panel)
    feature, slope = str(best["feature"]), float(best["slope"])
    return _CorrectedObjective(feature, slope, penalty)


def library_counts(smiles=None) -> dict:
    """What :func:`molpractice.optimizers.library` keeps of the solubility set, step by step (the same order of
    tests): ``total`` rows, ``duplicates`` (a SMILES seen before), ``multi_fragment`` (contains "."),
    ``filtered`` (fails :func:`~molpractice.optimizers.acceptable`: not sanitisable, outside 5–40 heavy atoms, a
    ring above 7 atoms, a charge or radical) and ``kept``; ``smiles`` defaults to the solubility set."""
    from .data import load_solubility
    from .optimizers import acceptable

    smiles = list(load_solubility()["smiles"]) if smiles is None else list(smiles)
    seen, out = set(), dict(total=len(smiles), duplicates=0, multi_fragment=0, filtered=0, kept=0)
    for s in smiles:
        if s in seen:
            out["duplicates"] += 1
            continue
        if "." in s:
            out["multi_fragment"] += 1
            continue
        seen.add(s)
        out["kept" if acceptable(oracles.mol_from_smiles(s)) else "filtered"] += 1
    return out


def library_text(counts: dict) -> str:
    """``"1189 of 1282 molecules (… duplicates, … multi-fragment, … outside the GA's filter)"``."""
    return (f"{counts['kept']} of {counts['total']} molecules ({counts['duplicates']} duplicates, {counts['multi_fragment']} "
            f"multi-fragment, {counts['filtered']} outside the GA's filter)")


def run_once(method: str, score, lib, cfg, seed: int, audit: bool = True, redesign: bool = False,
             sa: bool = False) -> dict:
    """One optimisation run under ``cfg.budget`` proxy calls; ``method`` is one of :data:`METHODS`.

    ``redesign=True`` (graph GA only): when the batch alarm fires, the run switches to
    :func:`redesign_objective` and spends its remaining calls on it. The shipped top 10 are the 10 best by
    the run's final objective. Returns ``proxy_top10`` (their mean proxy), ``true_top10`` (their true score:
    what the lab would see), ``auc_top10`` (PMO, on the proxy), ``alarm_at`` / ``top_alarm_at`` (calls, or
    None), ``switched_at``, ``heavy_atoms_top10``, ``sa_top10``, ``sa_above_max_top10`` (how many of the shipped 10 have
    SA above ``cfg.sa_max``), ``true_calls`` (all audits),
    ``top_true_calls`` (top-k audits), ``stalls`` (GA generations redrawn with uniform parents, see
    :func:`~molpractice.optimizers.graph_ga`), ``failed_poses`` (proxy calls on molecules that could not be embedded:
    dock 0, :func:`~molpractice.oracles.failed_pose`), plus ``history``, ``audit``, ``audited``, ``top10``, ``objective``
    (after a redesign's switch its corrected ranking ``(smiles, proxy) -> value``, else None: the proxy) and, for a redesign,
    ``feature``, ``slope`` and ``panel``. ``sa=True`` (with ``redesign``): the redesigned objective also subtracts
    :func:`sa_penalty` (``cfg.sa_weight`` per SA unit above ``cfg.sa_max``), its SA scores from a budgeted oracle of
    ``cfg.budget`` calls whose use is ``sa_calls`` (0 without it). A ``score`` with an ``attach`` method
    (:class:`~molpractice.oracles.OnsetProxy`) is attached to the run's oracle after the audit's library baseline.
    """
    if redesign and (method != "graph GA" or not audit):
        raise ValueError("redesign=True needs method='graph GA' and audit=True")
    if sa and not redesign:
        raise ValueError("sa=True needs redesign=True (the SA penalty is part of the redesign)")
    sa_oracle = oracles.BudgetedOracle(oracles.sa_score, cfg.budget, "SA") if sa else None
    penalty = sa_penalty(sa_oracle, cfg.sa_max, cfg.sa_weight) if sa else None
    oracle = oracles.BudgetedOracle(score, cfg.budget, "proxy")
    auditor = Auditor(lib, score, cfg.audit_per_batch, cfg.library_audit, seed=seed + 1000) if audit else None
    if hasattr(score, "attach"):  # a late-onset proxy (oracles.OnsetProxy) counts this run's calls
        score.attach(oracle)
    record: dict = {}
    if method == "graph GA":
        graph_ga(oracle, lib, cfg, seed=seed, auditor=auditor,
                 on_alarm=(lambda a: redesign_objective(a, record, penalty)) if redesign else None)
    elif method == "random proposals":
        random_proposals(oracle, lib, cfg, seed=seed, auditor=auditor)
    elif method == "random screening":
        random_screening(oracle, lib, seed=seed)
        if auditor is not None:  # audit the screen in batches of the GA's size, for the same signals
            for start in range(0, oracle.calls, cfg.offspring):
                end = min(start + cfg.offspring, oracle.calls)
                top = [s for s, _ in sorted(oracle.history[:end], key=lambda x: -x[1])[:10]]
                auditor.audit([s for s, _ in oracle.history[start:end]], end, top=top)
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    final = getattr(oracle, "objective", None)
    objective = final or (lambda s, v: v)
    top = sorted(oracle.history, key=lambda x: -objective(*x))[:10]
    mols = [oracles.mol_from_smiles(s) for s, _ in top]
    sa_top = [oracles.sa_score(s) for s, _ in top]
    sa_max = getattr(cfg, "sa_max", None)
    return dict(record, method=method, seed=seed, calls=oracle.calls,
                proxy_top10=float(np.mean([v for _, v in top])),
                true_top10=float(np.mean([oracles.true_score(s) for s, _ in top])),
                auc_top10=oracles.top_k_auc([v for _, v in oracle.history], cfg.budget),
                alarm_at=auditor.alarm_at if auditor else None,
                top_alarm_at=auditor.top_alarm_at if auditor else None,
                switched_at=getattr(oracle, "switched_at", None),
                heavy_atoms_top10=float(np.mean([oracles.heavy_atom_count(m) for m in mols])),
                sa_top10=float(np.mean(sa_top)),
                sa_above_max_top10=float("nan") if sa_max is None else int(sum(v > sa_max for v in sa_top)),
                true_calls=auditor.true_calls if auditor else 0, stalls=getattr(oracle, "stalls", 0),
                failed_poses=int(sum(oracles.failed_pose(s) for s, _ in oracle.history)),
                top_true_calls=auditor.top_true_calls if auditor else 0, history=oracle.history,
                sa_calls=sa_oracle.calls if sa_oracle else 0,
                audit=auditor.table() if auditor else None,
                audited=pd.DataFrame(auditor.audited) if auditor else None, top10=[s for s, _ in top],
                objective=final if getattr(oracle, "switched_at", None) is not None else None)


COLUMNS = ["proxy", "method", "seed", "proxy_top10", "true_top10", "auc_top10", "alarm_at", "top_alarm_at",
           "switched_at", "heavy_atoms_top10", "sa_top10", "true_calls", "top_true_calls", "calls", "feature", "slope",
           "sa_calls", "sa_above_max_top10", "stalls", "failed_poses"]


def optimisation_study(cfg=None, seeds=None, lib=None, progress: bool = False, sa: bool = True,
                       workers: int | None = None) -> dict:
    """Every run of the chapter, for each reported seed (``cfg.first_seed`` onwards, ``seeds`` of them, default
    ``cfg.seeds``): the three optimisers on the buggy and on the bug-free proxy, and the redesign (the
    hacked GA run continued after its alarm on :func:`redesign_objective`, same seed, same budget).

    With ``sa`` also the redesign with the SA penalty (``proxy`` = "redesigned + SA", ``run_once(sa=True)``).
    Returns ``runs`` (list of run dicts, with ``proxy`` = "buggy"/"bug-free"/"redesigned"/…) and ``table``
    (one row per run, without histories). ``workers``: processes for the seeds' jobs (default
    :func:`molpractice.runtime.worker_count`); the runs are the same for any number.
    """
    from .parallel import run_jobs
    from .runtime import worker_count

    cfg = cfg or SETTINGS.current()
    lib = lib or library()
    first = getattr(cfg, "first_seed", 0)
    seeds = range(first, first + (cfg.seeds if seeds is None else seeds))
    workers = worker_count() if workers is None else int(workers)
    runs = []
    for seed, seed_runs in zip(seeds, run_jobs(seed_runs_job, [(int(s), cfg, lib, sa) for s in seeds], workers)):
        runs.extend(seed_runs)
        if progress:
            print(f"seed {seed}: {len(seed_runs)} runs done", flush=True)
    table = pd.DataFrame([{k: r.get(k) for k in COLUMNS} for r in runs])
    return dict(runs=runs, table=table)


def proxy_scorer(bug: bool):
    """The proxy with (``bug=True``) or without its normalisation bug, as a picklable ``smiles -> score``."""
    return functools.partial(oracles.proxy_score, bug=bool(bug))


def seed_runs_job(seed: int, cfg, lib, sa: bool = True) -> list[dict]:
    """One seed's runs of :func:`optimisation_study`, in its order: the three optimisers on the buggy, then on the
    bug-free proxy, the redesign and (with ``sa``) the redesign with the SA penalty (a job of
    :func:`molpractice.parallel.run_jobs`: module level, picklable arguments and results)."""
    runs = []
    for proxy_kind, bug in (("buggy", True), ("bug-free", False)):
        for method in METHODS:
            runs.append(dict(run_once(method, proxy_scorer(bug), lib, cfg, seed), proxy=proxy_kind))
    runs.append(dict(run_once("graph GA", proxy_scorer(True), lib, cfg, seed, redesign=True), proxy="redesigned"))
    if sa:
        runs.append(dict(run_once("graph GA", proxy_scorer(True), lib, cfg, seed, redesign=True, sa=True),
                         proxy="redesigned + SA"))
    return runs


FLOOR = {"heavy_atoms_top10": 0.0, "sa_top10": 1.0}  # a count is ≥ 0; the SA score (Ertl & Schuffenhauer) is ≥ 1


def study_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean [95 % t-interval over seeds] of each metric per (proxy, method), how many runs alarmed (when the table
    has ``alarm_at``), the proxy calls spent on failed poses per run (mean and range) and the GA's stalled generations
    (when the table has them). A
    t-interval can reach below what a metric can take: the lower ends are clipped at the metric's floor (:data:`FLOOR`:
    0 for the heavy-atom count, 1 for the SA score, which lies in [1, 10] by definition)."""
    rows = []
    for (proxy, method), g in table.groupby(["proxy", "method"], sort=False):
        row = dict(proxy=proxy, method=method, seeds=len(g))
        if "alarm_at" in g:  # a table of runs cut at a smaller budget (at_budget) has no alarms
            row["alarms"] = f"{int(g['alarm_at'].notna().sum())} of {len(g)}"
            row["first_alarm"] = float(g["alarm_at"].min()) if g["alarm_at"].notna().any() else float("nan")
        if "top_alarm_at" in g:
            row["top10_alarms"] = f"{int(g['top_alarm_at'].notna().sum())} of {len(g)}"
        for col in ("proxy_top10", "true_top10", "auc_top10", "heavy_atoms_top10", "sa_top10"):
            m, lo, hi = mean_interval(g[col])
            if col in FLOOR:  # a t-interval can reach below the metric's smallest possible value: clipped there
                lo = max(lo, FLOOR[col])
            row[col] = f"{m:.3f} [{lo:.3f}, {hi:.3f}]"
        if "failed_poses" in g:  # proxy calls spent on molecules without a pose (dock 0): mean per run (range)
            row["failed_poses"] = f"{g.failed_poses.mean():.0f} ({int(g.failed_poses.min())}–{int(g.failed_poses.max())})"
        if "stalls" in g:
            row["stalls"] = int(g.stalls.sum())
        rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(table, metric, proxy, a, b):
    """Per-seed difference (``proxy``, ``a``) − (``b[0]``, ``b[1]``) of ``metric``: mean and t-interval."""
    ga = table[(table.proxy == proxy) & (table.method == a)].set_index("seed")[metric]
    rb = table[(table.proxy == b[0]) & (table.method == b[1])].set_index("seed")[metric]
    return mean_interval((ga - rb.reindex(ga.index)).to_numpy())


# ------------------------------------------------------------------------------------ detector and audit
def true_screening_alternative(runs, lib, k: int = 10) -> pd.DataFrame:
    """What a GA run's true calls would buy if spent on screening instead: per seed and for the bug-free and
    the redesigned GA, the mean true score of the best ``k`` of as many random library molecules (scored with
    the true score) as *that run's* audit used (the same permutation of the library for every run of a seed,
    seeded by the seed), next to the run's own true top 10. Columns per ``proxy``: ``<proxy> true_calls``,
    ``<proxy> true_screen_top10``, ``<proxy> GA true_top10``."""
    cache: dict = {}
    out: dict = {}
    for r in runs:
        if r["proxy"] not in ("bug-free", "redesigned") or r["method"] != "graph GA":
            continue
        order = np.random.default_rng(r["seed"] + 2000).permutation(len(lib))
        scores = [cache.setdefault(lib[i], oracles.true_score(lib[i])) for i in order[:r["true_calls"]]]
        row = out.setdefault(r["seed"], {})
        row[f"{r['proxy']} true_calls"] = r["true_calls"]
        row[f"{r['proxy']} true_screen_top10"] = float(np.mean(sorted(scores, reverse=True)[:k]))
        row[f"{r['proxy']} GA true_top10"] = r["true_top10"]
    table = pd.DataFrame.from_dict(out, orient="index").sort_index()
    table.index.name = "seed"
    return table


def winners_curse(table: pd.DataFrame) -> pd.DataFrame:
    """Proxy top-10 − true top-10 of the same molecules, mean and t-interval over seeds, per (proxy, method).
    Redesigned runs (with or without SA) are left out: they select by a corrected objective but report the buggy proxy, so their
    gap would mix the leftover bug with the selection effect."""
    rows = []
    for (proxy, method), g in table[~table.proxy.str.startswith("redesigned")].groupby(["proxy", "method"], sort=False):
        m, lo, hi = mean_interval((g["proxy_top10"] - g["true_top10"]).to_numpy())
        rows.append(dict(proxy=proxy, method=method, gap=m, lo=lo, hi=hi))
    return pd.DataFrame(rows)


def with_samplers(table: pd.DataFrame, *sampled: pd.DataFrame) -> pd.DataFrame:
    """The optimisation study's ``table`` with the rows of samplers (:func:`molpractice.guidance.sampling_baseline`)
    appended (the columns they share with it, plus ``budget_spent``; True for the optimisers, which always spend
    their budget), so :func:`paired_difference` compares any two methods of the same proxy and seed."""
    parts = [table.assign(budget_spent=True)]
    for s in sampled:
        parts.append(s[[c for c in s.columns if c in set(table.columns) | {"budget_spent"}]])
    return pd.concat(parts, ignore_index=True)


def best_optimiser(table: pd.DataFrame, proxy: str = "bug-free", methods=METHODS) -> str:
    """The method of ``methods`` with the highest mean proxy top-10 on ``proxy`` over the table's seeds (a name
    picked on the reported seeds: the paired intervals that compare it with the others are printed with it)."""
    means = table[(table.proxy == proxy) & table.method.isin(methods)].groupby("method")["proxy_top10"].mean()
    if means.empty:
        raise ValueError(f"no runs of {list(methods)} on the {proxy!r} proxy")
    return str(means.idxmax())


def budget_contrasts(joint: pd.DataFrame, pairs, proxy: str = "bug-free",
                     metrics=("proxy_top10", "true_top10", "auc_top10")) -> pd.DataFrame:
    """Paired differences over seeds, ``a − b`` for each ``(a, b)`` of ``pairs`` (values of ``joint.method``, a
    :func:`with_samplers` table) on ``proxy``: one row per pair and metric with ``difference``, ``lo``, ``hi``
    (95 % t-interval), ``p`` (the two-sided t-test behind it, :func:`t_p_value`), ``verdict`` and ``same_budget``
    (every run of both methods spent its whole budget, so the comparison is at equal calls; False: at least one
    sampler stopped at its draw cap)."""
    rows = []
    for a, b in pairs:
        runs = joint[(joint.proxy == proxy) & joint.method.isin([a, b])]
        if set(runs.method) != {a, b}:
            raise ValueError(f"need runs of both {a!r} and {b!r} on the {proxy!r} proxy")
        same = bool(runs.budget_spent.fillna(True).astype(bool).all())
        for metric in metrics:
            ga = joint[(joint.proxy == proxy) & (joint.method == a)].set_index("seed")[metric]
            rb = joint[(joint.proxy == proxy) & (joint.method == b)].set_index("seed")[metric]
            d = (ga - rb.reindex(ga.index)).to_numpy(float)
            m, lo, hi = mean_interval(d)
            rows.append(dict(comparison=f"{a} − {b}", metric=metric, difference=m, lo=lo, hi=hi, p=t_p_value(d),
                             verdict=verdict(m, lo, hi), same_budget=same))
    return pd.DataFrame(rows)


def budget_table(joint: pd.DataFrame, pairs, proxies=("bug-free", "buggy"),
                 metrics=("proxy_top10", "true_top10"), holm: bool = False) -> pd.DataFrame:
    """:func:`budget_contrasts` of ``pairs`` on each of ``proxies`` as one table of verdict texts: index (proxy,
    comparison), one column per metric; ``attrs["same_budget"]``: every compared run spent its whole budget. With
    ``holm``, every cell of the table is one comparison of a single Holm family (:func:`holm_table`): each text
    gives the unadjusted verdict with Holm's (:func:`holm_word`), and ``attrs["holm"]`` holds the family, indexed
    ``"<metric>: <comparison> (<proxy>)"``."""
    parts = [budget_contrasts(joint, pairs, proxy=p, metrics=metrics).assign(proxy=p) for p in proxies]
    long = pd.concat(parts, ignore_index=True)
    family = None
    if holm:
        long["label"] = [f"{r.metric}: {r.comparison} ({r.proxy})" for r in long.itertuples()]
        family = holm_table(dict(comparison=r.label, difference=r.difference, lo=r.lo, hi=r.hi, p=r.p)
                            for r in long.itertuples())
        long["verdict"] = [holm_word(family, lab) for lab in long.label]
    out = long.pivot_table(index=["proxy", "comparison"], columns="metric", values="verdict", aggfunc="first", sort=False)
    out = out.reindex(columns=list(metrics))
    out.columns.name = None
    out.attrs["same_budget"] = bool(long.same_budget.all())
    if family is not None:
        out.attrs["holm"] = family
    return out


def sampler_contrast(sampling: pd.DataFrame, a: str, b: str, proxy: str = "bug-free", holm: bool = False) -> pd.DataFrame:
    """Sampler ``a`` − sampler ``b`` (values of ``sampling.method``, same seeds: paired) on ``proxy``: mean
    and t-interval over seeds of the difference in proxy top-10, true top-10, AUC, calls used, the draws each
    needed to spend the budget (``draws_to_budget``), the share of draws with label 1 (``label1_share`` =
    ``label1`` / ``samples``) and the share of draws that were valid and connected (``valid_connected_share`` =
    ``valid_connected`` / ``samples``). Rows: metric, difference, lo, hi, verdict, p (the two-sided t-test,
    :func:`t_p_value`). With ``holm``, the rows but ``calls`` (equal by design when both spend the budget: a
    check) are one Holm family (:func:`holm_table`): columns ``p (Holm)`` and ``verdict (Holm)`` are added."""
    sa = sampling[(sampling.proxy == proxy) & (sampling.method == a)].set_index("seed")
    sb = sampling[(sampling.proxy == proxy) & (sampling.method == b)].set_index("seed").reindex(sa.index)
    if sa.empty or sb.isna().all().all():
        raise ValueError(f"need rows of both samplers {a!r} and {b!r} on the {proxy!r} proxy for the same seeds")
    rows = []
    for col in ("proxy_top10", "true_top10", "auc_top10", "calls", "draws_to_budget", "label1_share",
                "valid_connected_share"):
        if col == "label1_share" and {"label1", "samples"} <= set(sa.columns):
            diff = sa.label1 / sa.samples - sb.label1 / sb.samples
        elif col == "valid_connected_share" and {"valid_connected", "samples"} <= set(sa.columns):
            diff = sa.valid_connected / sa.samples - sb.valid_connected / sb.samples
        elif col in sa.columns:
            diff = sa[col] - sb[col]
        else:
            continue
        m, lo, hi = mean_interval(diff.to_numpy(float))
        if col == "calls" and (diff == 0).all():  # both spent the budget in every seed: a check, not a comparison
            rows.append(dict(metric=col, difference=m, lo=lo, hi=hi, verdict="equal in every seed (a check)",
                             p=float("nan")))
            continue
        rows.append(dict(metric=col, difference=m, lo=lo, hi=hi, verdict=verdict(m, lo, hi),
                         p=t_p_value(diff.to_numpy(float))))
    out = pd.DataFrame(rows)
    if holm:  # calls is equal by design (both spend the budget): a check, not a hypothesis of the family
        tested = out[out.metric != "calls"]
        fam = holm_table(dict(comparison=r.metric, difference=r.difference, lo=r.lo, hi=r.hi, p=r.p)
                         for r in tested.itertuples())
        out["p (Holm)"] = out.metric.map(fam["p (Holm)"]).astype(float)
        out["verdict (Holm)"] = out.metric.map(fam["verdict (Holm)"]).fillna("a check, not tested (equal by design)")
    return out


def late_onset_study(seeds, cfg=None, lib=None, onset: int | None = None, method: str = "graph GA") -> pd.DataFrame:
    """Audited ``method`` runs whose proxy bug switches on after ``onset`` calls (default
    ``round(cfg.bug_onset_share · cfg.budget)``; :class:`~molpractice.oracles.OnsetProxy`): the hack starts
    late, with the population already built on the bug-free proxy. Per seed: ``alarm_at`` / ``top_alarm_at``
    (calls, NaN if the rule never fired), ``fired_before_onset`` (either rule fired before the bug existed: a
    false alarm), the delays ``batch_delay`` / ``top10_delay`` = alarm call − onset, ``earliest_possible``
    (the call at which the :data:`~molpractice.optimizers.ALARM_RUN`-th batch ending after the onset was
    audited: no rule of this kind can fire sooner), ``heavy_atoms_top10`` and ``true_top10`` of what the run
    ships. Use the reported seeds to pair with the bug-free runs (the first ``onset`` calls are identical).
    The same as :func:`late_onset_table` of :func:`late_onset_runs` (which keep each run's audit and history)."""
    return late_onset_table(late_onset_runs(seeds, cfg, lib, onset, method))


def late_onset_runs(seeds, cfg=None, lib=None, onset: int | None = None, method: str = "graph GA") -> list[dict]:
    """The run dicts (:func:`run_once`, with ``onset`` added) behind :func:`late_onset_study`, audits and histories
    included (for :func:`molpractice.detection.exploitation_onset`)."""
    cfg = cfg or SETTINGS.current()
    lib = lib or library()
    onset = int(round(cfg.bug_onset_share * cfg.budget)) if onset is None else int(onset)
    if not 0 < onset < cfg.budget:
        raise ValueError(f"onset must lie strictly inside the budget (0, {cfg.budget}), got {onset}")
    from .parallel import run_jobs
    from .runtime import worker_count

    return [dict(r, onset=onset, proxy="late onset") for r in run_jobs(
        _late_onset_job, [(method, onset, lib, cfg, int(seed)) for seed in seeds], worker_count())]


def _late_onset_job(method: str, onset: int, lib, cfg, seed: int) -> dict:
    """One late-onset run for :func:`late_onset_runs` (module level, for a worker process)."""
    return run_once(method, oracles.OnsetProxy(onset), lib, cfg, seed)


def late_onset_table(late_runs) -> pd.DataFrame:
    """:func:`late_onset_study`'s table from :func:`late_onset_runs`' run dicts."""
    from .optimizers import ALARM_RUN

    rows = []
    for r in late_runs:
        onset = int(r["onset"])
        after = r["audit"]["calls"][r["audit"]["calls"] > onset].to_numpy()
        earliest = float(after[ALARM_RUN - 1]) if len(after) >= ALARM_RUN else float("nan")
        alarm = float("nan") if r["alarm_at"] is None else float(r["alarm_at"])
        top = float("nan") if r["top_alarm_at"] is None else float(r["top_alarm_at"])
        rows.append(dict(seed=int(r["seed"]), onset=onset, alarm_at=alarm, top_alarm_at=top,
                         fired_before_onset=bool(alarm <= onset or top <= onset), batch_delay=alarm - onset,
                         top10_delay=top - onset, earliest_possible=earliest,
                         heavy_atoms_top10=r["heavy_atoms_top10"], true_top10=r["true_top10"], calls=r["calls"]))
    return pd.DataFrame(rows)


def late_onset_lines(late: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Text lines of a :func:`late_onset_study` table: per alarm rule the runs in which it fired (and before the
    onset), the per-seed delays in calls after the onset next to the earliest possible, and the paired
    late-onset − bug-free GA difference of the shipped true top-10 and heavy atoms (``table``: the optimisation
    study's table, same seeds)."""
    onset, budget = int(late.onset.iloc[0]), int(late.calls.max())
    ints = lambda x: [None if pd.isna(v) else int(v) for v in x]  # noqa: E731
    out = [f"late onset (bug on after {onset} of {budget} calls), {rule} alarm: fired in {int(late[col].notna().sum())} of "
           f"{len(late)} runs, before the onset in {int(late.fired_before_onset.sum())}; delay in calls per seed "
           f"{ints(late[col])} (earliest possible {ints(late.earliest_possible - onset)})"
           for rule, col in (("batch", "batch_delay"), ("top-10", "top10_delay"))]
    clean = table[(table.proxy == "bug-free") & (table.method == "graph GA")].set_index("seed")
    rows = []
    for metric in ("true_top10", "heavy_atoms_top10"):  # read together: one Holm family of two
        diff = (late.set_index("seed")[metric] - clean[metric].reindex(late.seed)).to_numpy()
        m, lo, hi = mean_interval(diff)
        rows.append(dict(comparison=metric, difference=m, lo=lo, hi=hi, p=t_p_value(diff)))
    fam = holm_table(rows)
    out += [f"late-onset − bug-free GA, {metric} (paired over seeds; Holm over these 2): {holm_word(fam, metric)}"
            for metric in fam.index]
    return out


def at_budget(runs, budget: int, proxies=("bug-free", "buggy")) -> pd.DataFrame:
    """The optimisation study's runs cut at their first ``budget`` proxy calls (from each run's history, in call
    order): per run (``proxies`` only; the redesigns switch objective later) ``proxy_top10`` and ``true_top10`` of the
    10 best by the proxy among those calls, ``auc_top10`` over ``budget`` and ``calls`` = ``budget``, with the
    optimisation table's other identifying columns (``proxy``, ``method``, ``seed``). Random screening cut this way is
    a run of that budget; the GA and random proposals are too, up to their last batch (which a run of that budget
    would draw smaller)."""
    if not isinstance(budget, (int, np.integer)) or budget < 10:
        raise ValueError(f"budget must be an int >= 10, got {budget!r}")
    rows = []
    for r in runs:
        if r["proxy"] not in proxies:
            continue
        hist = r["history"][:budget]
        if len(hist) < budget:
            raise ValueError(f"budget {budget} exceeds the {len(hist)} calls of run {r['method']!r}, seed {r['seed']}")
        top = sorted(hist, key=lambda x: -x[1])[:10]
        rows.append(dict(proxy=r["proxy"], method=r["method"], seed=r["seed"], calls=budget,
                         proxy_top10=float(np.mean([v for _, v in top])),
                         true_top10=float(np.mean([oracles.true_score(s) for s, _ in top])),
                         auc_top10=oracles.top_k_auc([v for _, v in hist], budget),
                         heavy_atoms_top10=float(np.mean([oracles.heavy_atom_count(oracles.mol_from_smiles(s))
                                                          for s, _ in top])),
                         sa_top10=float(np.mean([oracles.sa_score(s) for s, _ in top]))))
    return pd.DataFrame(rows)


def sa_redesign_lines(table: pd.DataFrame, cfg) -> list[str]:
    """Text lines about the redesign with the SA penalty (``proxy`` "redesigned + SA" in the optimisation ``table``):
    its settings (``cfg.sa_weight``, ``cfg.sa_max``), the SA calls each run used of ``cfg.budget``, how many shipped
    molecules of the GA runs have SA above ``cfg.sa_max`` (given ``sa_above_max_top10``). Its paired differences are
    in :func:`redesign_family` (one Holm family with the redesign without SA)."""
    rsa = table[table.proxy == "redesigned + SA"]
    if rsa.empty:
        raise ValueError("table has no 'redesigned + SA' runs (optimisation_study(sa=True))")
    out = [f"redesign + SA penalty ({cfg.sa_weight} per SA unit above {cfg.sa_max}; SA calls used "
           f"{[int(x) for x in rsa.sa_calls]} of {cfg.budget} each: the SA of every molecule the objective ranks, so the "
           f"SA budget, equal to the proxy budget, never binds):"]
    if "sa_above_max_top10" in table:
        counts = []
        for proxy in ("buggy", "bug-free", "redesigned", "redesigned + SA"):
            x = table[(table.proxy == proxy) & (table.method == "graph GA")].sa_above_max_top10
            if len(x) and x.notna().all():
                counts.append(f"{proxy} {int(x.sum())} of {10 * len(x)}")
        if counts:
            out.append(f"shipped molecules with SA above {cfg.sa_max} (what the penalty acts on), GA runs: " + ", ".join(counts))
    return out


def screening_ceiling_text(lib, table: pd.DataFrame) -> str:
    """The whole library's top 10 by the bug-free proxy (mean proxy and true score) next to random screening's top 10
    on the bug-free proxy (means over the ``table``'s seeds): how close screening comes to the library's best."""
    top = sorted(lib, key=lambda s: -oracles.proxy_score(s, bug=False))[:10]
    scr = table[(table.proxy == "bug-free") & (table.method == "random screening")]
    if scr.empty:
        raise ValueError("table has no random screening run on the bug-free proxy")
    return (f"whole library, its top 10 by the bug-free proxy: proxy {np.mean([oracles.proxy_score(s, bug=False) for s in top]):.3f}, "
            f"true {np.mean([oracles.true_score(s) for s in top]):.3f}; random screening's top 10 on the bug-free proxy (mean "
            f"over seeds): proxy {scr.proxy_top10.mean():.3f}, true {scr.true_top10.mean():.3f}")
