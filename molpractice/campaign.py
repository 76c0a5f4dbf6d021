"""The chapter-6 optimisation campaign: every optimiser on the buggy and the bug-free proxy, the redesign
that continues the hacked run after its alarm, and the numbers the notebook and ``molpractice bench ch06``
report (summaries over seeds, paired differences, the detector's behaviour, the audit's cost, the targets),
and :func:`run_benchmark` (``molpractice bench ch06``).

Seeds: the GA's settings were tuned on seeds 0-1 and the alarm's thresholds fixed while looking at seeds
0-4, so the reported runs use fresh seeds starting at ``cfg.first_seed`` (5 in both modes).

The redesign (:func:`redesign_objective`) uses only what the audit saw up to the alarm: it regresses the
audited gap (proxy − true) on each descriptor of :data:`PANEL` (none of them chosen by the bug's author
alone: size, heteroatoms, halogens, rings, polarity, lipophilicity), keeps the one with the largest |t|, and
subtracts its fitted slope from the proxy. The redesigned run is the hacked run itself, continued after its
alarm with the calls it has left, so it spends exactly the same proxy and true budget.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import oracles
from .optimizers import METHODS, Auditor, SETTINGS, graph_ga, library, random_proposals, random_screening


def _descriptors():
    from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

    return {
        "heavy atoms": lambda m: m.GetNumHeavyAtoms(),
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


def feature_slope(audited: pd.DataFrame, until_calls: int | None = None, feature: str = "halogens") -> float:
    """Least-squares slope of the audited gap on one descriptor (default: the halogen count)."""
    panel = feature_panel(audited, until_calls)
    return float(panel.set_index("feature").loc[feature, "slope"])


def corrected_proxy(slope: float, bug: bool = True, feature: str = "halogens"):
    """The proxy minus ``slope`` per unit of ``feature`` (a redesigned objective, as a score function)."""
    def score(smiles):
        return oracles.proxy_score(smiles, bug=bug) - slope * descriptor(feature, smiles)
    return score


def redesign_objective(auditor: Auditor, record: dict):
    """At the alarm: pick the panel descriptor that best explains the audited gap, and return the GA
    objective ``(smiles, proxy) -> proxy − slope · descriptor``; the choice goes into ``record``."""
    panel = feature_panel(pd.DataFrame(auditor.audited))
    best = panel.iloc[0]
    record.update(feature=best["feature"], slope=float(best["slope"]), panel=panel)
    feature, slope = str(best["feature"]), float(best["slope"])
    return lambda s, v: v - slope * descriptor(feature, s)


def run_once(method: str, score, lib, cfg, seed: int, audit: bool = True, redesign: bool = False) -> dict:
    """One optimisation run under ``cfg.budget`` proxy calls; ``method`` is one of :data:`METHODS`.

    ``redesign=True`` (graph GA only): when the batch alarm fires, the run switches to
    :func:`redesign_objective` and spends its remaining calls on it. The shipped top 10 are the 10 best by
    the run's final objective. Returns ``proxy_top10`` (their mean proxy), ``true_top10`` (their true score:
    what the lab would see), ``auc_top10`` (PMO, on the proxy), ``alarm_at`` / ``top_alarm_at`` (calls, or
    None), ``switched_at``, ``halogens_top10``, ``sa_top10``, ``true_calls`` (all audits) and
    ``top_true_calls`` (top-k audits), plus ``history``, ``audit``, ``audited``, ``top10``, ``objective``
    (after a redesign's switch its corrected ranking ``(smiles, proxy) -> value``, else None: the proxy) and, for a redesign,
    ``feature``, ``slope`` and ``panel``. A ``score`` with an ``attach`` method
    (:class:`~molpractice.oracles.OnsetProxy`) is attached to the run's oracle after the audit's library baseline.
    """
    if redesign and (method != "graph GA" or not audit):
        raise ValueError("redesign=True needs method='graph GA' and audit=True")
    oracle = oracles.BudgetedOracle(score, cfg.budget, "proxy")
    auditor = Auditor(lib, score, cfg.audit_per_batch, cfg.library_audit, seed=seed + 1000) if audit else None
    if hasattr(score, "attach"):  # a late-onset proxy (oracles.OnsetProxy) counts this run's calls
        score.attach(oracle)
    record: dict = {}
    if method == "graph GA":
        graph_ga(oracle, lib, cfg, seed=seed, auditor=auditor,
                 on_alarm=(lambda a: redesign_objective(a, record)) if redesign else None)
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
    return dict(record, method=method, seed=seed, calls=oracle.calls,
                proxy_top10=float(np.mean([v for _, v in top])),
                true_top10=float(np.mean([oracles.true_score(s) for s, _ in top])),
                auc_top10=oracles.top_k_auc([v for _, v in oracle.history], cfg.budget),
                alarm_at=auditor.alarm_at if auditor else None,
                top_alarm_at=auditor.top_alarm_at if auditor else None,
                switched_at=getattr(oracle, "switched_at", None),
                halogens_top10=float(np.mean([oracles.halogen_count(m) for m in mols])),
                sa_top10=float(np.mean([oracles.sa_score(s) for s, _ in top])),
                true_calls=auditor.true_calls if auditor else 0,
                top_true_calls=auditor.top_true_calls if auditor else 0, history=oracle.history,
                audit=auditor.table() if auditor else None,
                audited=pd.DataFrame(auditor.audited) if auditor else None, top10=[s for s, _ in top],
                objective=final if getattr(oracle, "switched_at", None) is not None else None)


COLUMNS = ["proxy", "method", "seed", "proxy_top10", "true_top10", "auc_top10", "alarm_at", "top_alarm_at",
           "switched_at", "halogens_top10", "sa_top10", "true_calls", "top_true_calls", "calls", "feature", "slope"]


def optimisation_study(cfg=None, seeds=None, lib=None, progress: bool = False) -> dict:
    """Every run of the chapter, for each reported seed (``cfg.first_seed`` onwards, ``seeds`` of them, default
    ``cfg.seeds``): the three optimisers on the buggy and on the bug-free proxy, and the redesign (the
    hacked GA run continued after its alarm on :func:`redesign_objective`, same seed, same budget).

    Returns ``runs`` (list of run dicts, with ``proxy`` = "buggy"/"bug-free"/"redesigned") and ``table``
    (one row per run, without histories).
    """
    cfg = cfg or SETTINGS.current()
    lib = lib or library()
    first = getattr(cfg, "first_seed", 0)
    seeds = range(first, first + (cfg.seeds if seeds is None else seeds))
    runs = []
    for seed in seeds:
        for proxy_kind, bug in (("buggy", True), ("bug-free", False)):
            score = (lambda s, b=bug: oracles.proxy_score(s, bug=b))
            for method in METHODS:
                runs.append(dict(run_once(method, score, lib, cfg, seed), proxy=proxy_kind))
                if progress:
                    print(f"seed {seed}: {method} on the {proxy_kind} proxy done", flush=True)
        run = run_once("graph GA", lambda s: oracles.proxy_score(s, bug=True), lib, cfg, seed, redesign=True)
        runs.append(dict(run, proxy="redesigned"))
    table = pd.DataFrame([{k: r.get(k) for k in COLUMNS} for r in runs])
    return dict(runs=runs, table=table)


def mean_interval(values, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean and its t-interval over seeds (nan interval for a single seed)."""
    from scipy import stats

    x = np.asarray(values, float)
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(1 - alpha / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


NON_NEGATIVE = ("halogens_top10", "sa_top10")


def study_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean [95 % t-interval over seeds] of each metric per (proxy, method), and how many runs alarmed. The
    intervals of the non-negative metrics (:data:`NON_NEGATIVE`: halogen count, SA score) are clipped at 0."""
    rows = []
    for (proxy, method), g in table.groupby(["proxy", "method"], sort=False):
        row = dict(proxy=proxy, method=method, seeds=len(g),
                   alarms=f"{int(g['alarm_at'].notna().sum())}/{len(g)}",
                   first_alarm=float(g["alarm_at"].min()) if g["alarm_at"].notna().any() else float("nan"))
        if "top_alarm_at" in g:
            row["top10_alarms"] = f"{int(g['top_alarm_at'].notna().sum())}/{len(g)}"
        for col in ("proxy_top10", "true_top10", "auc_top10", "halogens_top10", "sa_top10"):
            m, lo, hi = mean_interval(g[col])
            if col in NON_NEGATIVE:  # a t-interval of a count can reach below 0: clipped there
                lo = max(lo, 0.0)
            row[col] = f"{m:.3f} [{lo:.3f}, {hi:.3f}]"
        rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(table, metric, proxy, a, b):
    """Per-seed difference (``proxy``, ``a``) − (``b[0]``, ``b[1]``) of ``metric``: mean and t-interval."""
    ga = table[(table.proxy == proxy) & (table.method == a)].set_index("seed")[metric]
    rb = table[(table.proxy == b[0]) & (table.method == b[1])].set_index("seed")[metric]
    return mean_interval((ga - rb.reindex(ga.index)).to_numpy())


def verdict(m, lo, hi) -> str:
    """``"+0.012 [-0.01, +0.03] (no detectable difference)"``-style text of a paired difference."""
    word = "higher" if lo > 0 else "lower" if hi < 0 else "no detectable difference"
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}] ({word})"


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
    Redesigned runs are left out: they select by a corrected objective but report the buggy proxy, so their
    gap would mix the leftover bug with the selection effect."""
    rows = []
    for (proxy, method), g in table[table.proxy != "redesigned"].groupby(["proxy", "method"], sort=False):
        m, lo, hi = mean_interval((g["proxy_top10"] - g["true_top10"]).to_numpy())
        rows.append(dict(proxy=proxy, method=method, gap=m, lo=lo, hi=hi))
    return pd.DataFrame(rows)


def top10_at(run: dict, calls: int) -> tuple[float, float]:
    """The run's top 10 by proxy among its first ``calls`` proxy calls: (mean proxy, mean true score)."""
    if not 10 <= int(calls) <= len(run["history"]):
        raise ValueError(f"calls must lie in [10, {len(run['history'])}] (the run's history), got {calls}")
    top = sorted(run["history"][:int(calls)], key=lambda x: -x[1])[:10]
    return float(np.mean([v for _, v in top])), float(np.mean([oracles.true_score(s) for s, _ in top]))


def sampling_comparison(runs, sampling: pd.DataFrame, proxy: str = "bug-free", method: str = "graph GA",
                        sampler: str | None = None) -> pd.DataFrame:
    """``method`` (on ``proxy``) against a sampler of the diffusion model (``sampling``, from
    :func:`molpractice.guidance.sampling_baseline`; ``sampler`` picks its ``method`` when it holds several), per
    seed: the sampler's calls, top 10 and AUC, the optimiser's top 10 after the *same number of calls* (its own
    history cut there) and at its full budget, and random screening of the library (the same seed's run) cut
    at the same number of calls. The GA's first ``n_init`` calls are random library molecules, so "GA at N
    calls − screening at N calls" is what selection added, while "screening at N − sampler" compares starting
    pools (library molecules vs the model's samples), not optimisers. Rows: seed, calls, sampling_proxy,
    sampling_true, sampling_auc, at_calls_proxy, at_calls_true, screen_at_calls_proxy, screen_at_calls_true,
    full_proxy, full_true, full_auc."""
    rows = []
    pick = sampling[sampling.proxy == proxy]
    if sampler is not None:
        pick = pick[pick.method == sampler]
    for r in pick.itertuples():
        run = next(x for x in runs if x["proxy"] == proxy and x["method"] == method and x["seed"] == r.seed)
        screen = next(x for x in runs if x["proxy"] == proxy and x["method"] == "random screening" and x["seed"] == r.seed)
        at_p, at_t = top10_at(run, max(10, min(int(r.calls), len(run["history"]))))
        sc_p, sc_t = top10_at(screen, max(10, min(int(r.calls), len(screen["history"]))))
        rows.append(dict(seed=r.seed, calls=int(r.calls), sampling_proxy=r.proxy_top10, sampling_true=r.true_top10,
                         sampling_auc=r.auc_top10, at_calls_proxy=at_p, at_calls_true=at_t, screen_at_calls_proxy=sc_p,
                         screen_at_calls_true=sc_t, full_proxy=run["proxy_top10"], full_true=run["true_top10"],
                         full_auc=run["auc_top10"]))
    if not rows:
        raise ValueError(f"no sampling rows for proxy {proxy!r} with a matching {method} run")
    return pd.DataFrame(rows)


def sampler_contrast(sampling: pd.DataFrame, a: str, b: str, proxy: str = "bug-free") -> pd.DataFrame:
    """Sampler ``a`` − sampler ``b`` (values of ``sampling.method``, same seeds: paired) on ``proxy``: mean
    and t-interval over seeds of the difference in proxy top-10, true top-10, AUC and calls used. Rows: metric,
    difference, lo, hi."""
    sa = sampling[(sampling.proxy == proxy) & (sampling.method == a)].set_index("seed")
    sb = sampling[(sampling.proxy == proxy) & (sampling.method == b)].set_index("seed").reindex(sa.index)
    if sa.empty or sb.isna().all().all():
        raise ValueError(f"need rows of both samplers {a!r} and {b!r} on the {proxy!r} proxy for the same seeds")
    rows = []
    for col in ("proxy_top10", "true_top10", "auc_top10", "calls"):
        m, lo, hi = mean_interval((sa[col] - sb[col]).to_numpy(float))
        rows.append(dict(metric=col, difference=m, lo=lo, hi=hi, verdict=verdict(m, lo, hi)))
    return pd.DataFrame(rows)


SAMPLING_PAIRS = (("screen_at_calls", "sampling", "random screening at the sampler's calls − sampler (starting pools)"),
                  ("at_calls", "screen_at_calls", "GA − random screening, both at the sampler's calls (what selection added)"),
                  ("at_calls", "sampling", "GA at the sampler's calls − sampler"),
                  ("full", "sampling", "GA at its full budget − sampler"))


def sampling_contrasts(comparison: pd.DataFrame) -> pd.DataFrame:
    """The paired contrasts of a :func:`sampling_comparison` table (:data:`SAMPLING_PAIRS`), over seeds: one row per
    comparison, columns ``proxy top-10`` and ``true top-10`` (verdict texts: mean [t-interval]) and ``proxy AUC``
    (GA at its full budget − sampler only; else empty)."""
    rows = []
    for a, b, what in SAMPLING_PAIRS:
        row = {"comparison": what}
        for label in ("proxy", "true"):
            row[f"{label} top-10"] = verdict(*mean_interval((comparison[f"{a}_{label}"] - comparison[f"{b}_{label}"]).to_numpy()))
        row["proxy AUC"] = verdict(*mean_interval((comparison.full_auc - comparison.sampling_auc).to_numpy())) \
            if (a, b) == ("full", "sampling") else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("comparison")


def late_onset_study(seeds, cfg=None, lib=None, onset: int | None = None, method: str = "graph GA") -> pd.DataFrame:
    """Audited ``method`` runs whose proxy bug switches on after ``onset`` calls (default
    ``round(cfg.bug_onset_share · cfg.budget)``; :class:`~molpractice.oracles.OnsetProxy`): the hack starts
    late, with the population already built on the bug-free proxy. Per seed: ``alarm_at`` / ``top_alarm_at``
    (calls, NaN if the rule never fired), ``fired_before_onset`` (either rule fired before the bug existed: a
    false alarm), the delays ``batch_delay`` / ``top10_delay`` = alarm call − onset, ``earliest_possible``
    (the call at which the :data:`~molpractice.optimizers.ALARM_RUN`-th batch ending after the onset was
    audited: no rule of this kind can fire sooner), ``halogens_top10`` and ``true_top10`` of what the run
    ships. Use the reported seeds to pair with the bug-free runs (the first ``onset`` calls are identical)."""
    from .optimizers import ALARM_RUN

    cfg = cfg or SETTINGS.current()
    lib = lib or library()
    onset = int(round(cfg.bug_onset_share * cfg.budget)) if onset is None else int(onset)
    if not 0 < onset < cfg.budget:
        raise ValueError(f"onset must lie strictly inside the budget (0, {cfg.budget}), got {onset}")
    rows = []
    for seed in seeds:
        r = run_once(method, oracles.OnsetProxy(onset), lib, cfg, int(seed))
        after = r["audit"]["calls"][r["audit"]["calls"] > onset].to_numpy()
        earliest = float(after[ALARM_RUN - 1]) if len(after) >= ALARM_RUN else float("nan")
        alarm = float("nan") if r["alarm_at"] is None else float(r["alarm_at"])
        top = float("nan") if r["top_alarm_at"] is None else float(r["top_alarm_at"])
        rows.append(dict(seed=int(seed), onset=onset, alarm_at=alarm, top_alarm_at=top,
                         fired_before_onset=bool(alarm <= onset or top <= onset), batch_delay=alarm - onset,
                         top10_delay=top - onset, earliest_possible=earliest,
                         halogens_top10=r["halogens_top10"], true_top10=r["true_top10"], calls=r["calls"]))
    return pd.DataFrame(rows)


def late_onset_lines(late: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Text lines of a :func:`late_onset_study` table: per alarm rule the runs in which it fired (and before the
    onset), the per-seed delays in calls after the onset next to the earliest possible, and the paired
    late-onset − bug-free GA difference of the shipped true top-10 and halogens (``table``: the optimisation
    study's table, same seeds)."""
    onset, budget = int(late.onset.iloc[0]), int(late.calls.max())
    ints = lambda x: [None if pd.isna(v) else int(v) for v in x]  # noqa: E731
    out = [f"late onset (bug on after {onset} of {budget} calls), {rule} alarm: fired in {int(late[col].notna().sum())}/"
           f"{len(late)} runs, before the onset in {int(late.fired_before_onset.sum())}; delay in calls per seed "
           f"{ints(late[col])} (earliest possible {ints(late.earliest_possible - onset)})"
           for rule, col in (("batch", "batch_delay"), ("top-10", "top10_delay"))]
    clean = table[(table.proxy == "bug-free") & (table.method == "graph GA")].set_index("seed")
    for metric in ("true_top10", "halogens_top10"):
        diff = late.set_index("seed")[metric] - clean[metric].reindex(late.seed)
        out.append(f"late-onset − bug-free GA, {metric} (paired over seeds): " + verdict(*mean_interval(diff.to_numpy())))
    return out


# ------------------------------------------------------------------------------------ targets
SAMPLER = "the w = −1 sampler of the label-dropout EGNN"  # the unconditional branch: stand-in for chapter 4's model


def _calls_list(values) -> list:
    return [int(v) if pd.notna(v) else None for v in values]


def target_rows(ope: dict, table: pd.DataFrame, sweep: pd.DataFrame | None, budget: int,
                sampling: pd.DataFrame | None = None, late: pd.DataFrame | None = None,
                guided: dict | None = None) -> list[dict]:
    """The issue's targets as rows ``{target, value, met}`` from the studies' numbers (``met`` None: a
    measurement to report, or a deviation from the issue's target as stated in the row). ``sampling``: the
    per-seed table of :func:`sampling_comparison` for the unconditional sampler (the stand-in for chapter 4's
    model); ``late``: :func:`late_onset_study`; ``guided``: ``{"w": scale, "contrast":
    sampler_contrast(CFG − unconditional), "comparison": sampling_comparison(CFG)}`` — without it the row says
    CFG was not run under the budget."""
    s = ope["summary"]
    lo_b, hi_b = s.loc["IPS", "bias_lo"], s.loc["IPS", "bias_hi"]
    rows = [dict(target="IPS: bias over the simulated logs with its 95 % interval (issue: unbiased within Monte-Carlo "
                        "error)",
                 value=f"bias {s.loc['IPS', 'bias']:+.4f} [{lo_b:+.4f}, {hi_b:+.4f}], SE {s.loc['IPS', 'bias_se']:.4f}, "
                       f"{len(ope['estimates'])} logs: " + ("no bias detectable at this precision" if lo_b < 0 < hi_b
                                                             else "bias detected"),
                 met=bool(lo_b < 0 < hi_b))]
    for name in ("SNIPS", "DR"):
        r, lo, hi = ope["variance_ratios"][name]
        rows.append(dict(target=f"{name} variance below IPS (Var ratio, 95 % CI)", value=f"{r:.3f} [{lo:.3f}, {hi:.3f}]",
                         met=bool(hi < 1)))
    clipped = [c for c in s.index if c.startswith("IPS clip")]
    best = min(clipped, key=lambda c: s.loc[c, "rmse"])
    rows.append(dict(target="clipping trades bias for variance (clip with the lowest RMSE against the known V(π))",
                     value=f"{best}: bias {s.loc[best, 'bias']:+.4f}, sd {s.loc[best, 'sd']:.4f} vs IPS sd "
                           f"{s.loc['IPS', 'sd']:.4f}; RMSE {s.loc[best, 'rmse']:.4f} vs {s.loc['IPS', 'rmse']:.4f}",
                     met=bool(s.loc[best, "bias"] < -2 * s.loc[best, "bias_se"] and s.loc[best, "sd"] < s.loc["IPS", "sd"])))
    if sampling is not None:
        calls = f"{int(sampling.calls.min())}–{int(sampling.calls.max())} calls"
        pairs = [("screen_at_calls", "sampling", f"random screening − {SAMPLER} at the sampler's call count ({calls}): "
                  "starting pools, not optimisers"),
                 ("at_calls", "screen_at_calls", "GA − random screening at the sampler's call count: what selection added"),
                 ("at_calls", "sampling", f"GA − {SAMPLER} at the sampler's call count"),
                 ("full", "sampling", f"GA at its full {budget} calls − {SAMPLER}")]
        for label in ("proxy", "true"):
            for a, b, what in pairs:
                m, lo, hi = mean_interval((sampling[f"{a}_{label}"] - sampling[f"{b}_{label}"]).to_numpy())
                rows.append(dict(target=f"bug-free proxy, {label} top-10: {what} (paired over seeds)",
                                 value=verdict(m, lo, hi), met=None))
    for metric, label in (("proxy_top10", "proxy"), ("true_top10", "true")):
        for base in ("random proposals", "random screening"):
            m, lo, hi = paired_difference(table, metric, "bug-free", "graph GA", ("bug-free", base))
            rows.append(dict(target=f"bug-free proxy: GA − {base}, {label} top-10 (paired over seeds)",
                             value=verdict(m, lo, hi), met=None))
    if guided is None:
        rows.append(dict(target="classifier-free guidance under the same call budget [deviation from the issue]",
                         value="not run", met=None))
    else:
        c = guided["contrast"].set_index("metric")
        for metric in ("proxy_top10", "true_top10", "auc_top10"):
            rows.append(dict(target=f"CFG (label 1, w = {guided['w']:g}, chosen on the sweep's draws) − {SAMPLER}, same "
                                    f"{budget}-call budget, bug-free proxy, {metric.replace('_', ' ')} (paired draws and seeds)",
                             value=verdict(*c.loc[metric, ["difference", "lo", "hi"]]), met=None))
        g = guided["comparison"]
        for label in ("proxy", "true"):
            m, lo, hi = mean_interval((g[f"at_calls_{label}"] - g[f"sampling_{label}"]).to_numpy())
            rows.append(dict(target=f"GA at CFG's call count − CFG, {label} top-10 (paired over seeds)",
                             value=verdict(m, lo, hi), met=None))
    hacked = table[(table.proxy == "buggy") & (table.method == "graph GA")]
    clean = table[(table.proxy == "bug-free") & (table.method == "graph GA")]
    rows.append(dict(target="batch alarm before half the budget in the hacked GA run — by construction: the hack is present "
                            "from the first batch, and the alarm came at the earliest batch the 2-batch rule allows",
                     value=f"{int((hacked.alarm_at < budget / 2).sum())}/{len(hacked)} seeds; alarm at calls "
                           f"{_calls_list(hacked.alarm_at)} of {budget}",
                     met=bool((hacked.alarm_at < budget / 2).all())))
    if late is not None and len(late):
        for rule, col in (("batch", "batch_delay"), ("top-10", "top10_delay")):
            fired = late[col].notna()
            rows.append(dict(target=f"late-onset hack (bug switched on after {int(late.onset.iloc[0])} of {budget} calls), "
                                    f"GA: {rule} alarm delay in calls after the onset, per seed",
                             value=f"fired in {int(fired.sum())}/{len(late)}; delays {_calls_list(late[col])} (earliest "
                                   f"possible {_calls_list(late.earliest_possible - late.onset)}); before the onset in "
                                   f"{int(late.fired_before_onset.sum())}", met=None))
    rows.append(dict(target="detector silent in the bug-free GA run",
                     value=f"{int(clean.alarm_at.notna().sum())}/{len(clean)} seeds fired", met=bool(clean.alarm_at.isna().all())))
    if "redesigned" in set(table.proxy):
        for metric in ("true_top10", "halogens_top10"):
            m, lo, hi = paired_difference(table, metric, "redesigned", "graph GA", ("buggy", "graph GA"))
            rows.append(dict(target=f"redesign (hacked run continued after its alarm) − hacked GA, {metric.replace('_', ' ')}"
                                    " (paired over seeds)", value=verdict(m, lo, hi),
                             met=bool(lo > 0) if metric == "true_top10" else None))
    if sweep is not None:
        for name, label in (("label_share_valid", "label-1 share among valid connected samples (bootstrap 95 % CI)"),
                            ("validity", "validity (Clopper–Pearson 95 % CI)"),
                            ("connected", "connected (valid, one fragment; Clopper–Pearson 95 % CI)"),
                            ("diversity", "diversity of valid connected molecules (bootstrap 95 % CI)"),
                            ("plausible", "plausible by chapter 4's checks, over all samples (Clopper–Pearson 95 % CI)"),
                            ("plausible_valid", "plausible among valid connected samples (Clopper–Pearson 95 % CI)")):
            if name not in sweep:
                continue
            rows.append(dict(target=f"guidance sweep at {len(sweep)} scales: {label}",
                             value="; ".join(f"w={r['w']:g}: {r[name]:.2f} [{r[name + '_lo']:.2f}, {r[name + '_hi']:.2f}]"
                                             for _, r in sweep.iterrows()),
                             met=bool(len(sweep) >= 4) if name == "label_share_valid" else None))
        if "plausible" not in sweep:
            rows.append(dict(target="guidance sweep: plausibility of the samples by chapter 4's checks — deviation from "
                                    "the issue", value="not run", met=None))
    return rows


# ------------------------------------------------------------------------------------ benchmark
def run_benchmark(implementation: str | None = None, seeds: int | None = None, json_path=None,
                  guidance: bool = True) -> dict:
    """``molpractice bench ch06``: the off-policy study, the optimisation study (every optimiser on the buggy,
    bug-free and redesigned objectives, ``seeds`` seeds), the late-onset runs, the guidance sweep (with chapter
    4's plausibility checks), sampling from the guided model without a label (the stand-in for the issue's
    chapter-4-model baseline) and with CFG at the scale chosen on the sweep's draws; prints the targets table.

    No model choice here is made on a test split: the GA settings are the chapter's fixed ``SETTINGS`` (tuned on
    seeds 0-1; the reported seeds start at ``first_seed``); the redesign's feature and slope are fitted on the
    hacked run's own audit (up to its alarm); the guided model is trained on chapter 4's molecules and judged
    by sampling, not on held-out data.
    """
    import json
    import time
    from pathlib import Path

    from . import guidance as guidance_module
    from . import offpolicy
    from .implementations import load_chapter
    from .runtime import implementation_name, run_mode

    implementation = implementation or implementation_name()
    ch06 = load_chapter("ch06_oracle_optimization", implementation)
    cfg = SETTINGS.current()
    if seeds is not None and not (isinstance(seeds, int) and seeds >= 2):
        raise ValueError(f"--seeds must be an int >= 2 (intervals over seeds), got {seeds!r}")
    start = time.perf_counter()
    ope = offpolicy.estimator_study(ch06, n_logs=cfg.n_logs, n_rounds=cfg.n_rounds, clips=cfg.clips)
    print(ope["summary"].round(4).to_string())
    study = optimisation_study(cfg, seeds=seeds)
    print(study_summary(study["table"]).to_string(index=False))
    late = late_onset_study(sorted(study["table"].seed.unique()), cfg)
    print(late.to_string(index=False))
    sweep = sampling = guided = None
    if guidance:
        ch04 = load_chapter("ch04_diffusion", implementation)
        gcfg = guidance_module.SETTINGS.current()
        data = guidance_module.load_data()
        model, info = guidance_module.train_conditional_model(ch04, data, gcfg, progress=False)
        print(f"conditional EGNN: {'loaded from cache' if info['cached'] else 'trained'} ({info['steps']} steps)")
        sweep = guidance_module.guidance_sweep(ch04, ch06, model, data, gcfg)
        seeds_ = sorted(study["table"].seed.unique())
        sampled = guidance_module.sampling_baseline(ch04, ch06, model, data, cfg.budget, seeds_, cfg.sampling_draws, gcfg)
        sampling = sampling_comparison(study["runs"], sampled)
        print(sampling.round(3).to_string(index=False))
        w_star = guidance_module.choose_scale(sweep)
        cfg_sampled = guidance_module.sampling_baseline(ch04, ch06, model, data, cfg.budget, seeds_, cfg.sampling_draws,
                                                        gcfg, w=w_star)
        both = pd.concat([sampled, cfg_sampled])
        guided = dict(w=w_star, contrast=sampler_contrast(both, cfg_sampled.method.iloc[0], sampled.method.iloc[0]),
                      comparison=sampling_comparison(study["runs"], cfg_sampled))
        print(guided["comparison"].round(3).to_string(index=False))
    rows = target_rows(ope, study["table"], sweep, cfg.budget, sampling, late=late, guided=guided)
    with pd.option_context("display.width", 250, "display.max_colwidth", 140):
        print(pd.DataFrame(rows).to_string(index=False))
    print("model choices: the GA settings are fixed in SETTINGS (set during development on the bug-free proxy's top-10, "
          f"seeds 0-1, never on the true score; reported seeds start at {cfg.first_seed}); the redesign's feature and slope "
          "are fitted on each hacked run's own audit up to its alarm; the guided model is trained on all of chapter 4's molecules (no split is scored); the sampling baseline draws "
          f"{cfg.sampling_draws} molecules per reported seed from it without a label, and CFG as many at the scale with the "
          "largest label-1 yield on the sweep's draws (seed 0), reported on fresh draws (seeds 10 000 + s).")
    if run_mode() == "fast":
        print("fast mode: small budgets, few logs and a tiny guided model — these numbers are not meaningful")
    report = {"chapter": "ch06", "mode": run_mode(), "implementation": implementation,
              "seconds_total": time.perf_counter() - start, "results": rows,
              "optimisation": study["table"].to_dict("records"),
              "offpolicy": ope["summary"].reset_index().to_dict("records"),
              "guidance": None if sweep is None else sweep.to_dict("records")}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report
