"""The detector's behaviour in the chapter-6 campaign: what the audit's alarms saw in the reported runs
(:func:`detector_report`), their per-run false-alarm and detection rates on seeds not used for tuning
(:func:`false_alarm_study`, :func:`detection_study`), drift of the
audit signals over a run (:func:`drift_changes`, :func:`drift_contrast`) and the batches that crossed the
threshold (:func:`alarmed_batches`). The runs themselves are :func:`molpractice.campaign.run_once`.

A third detector reads the audit afterwards: a one-sided CUSUM of the batch gap z (:func:`cusum_path`,
:func:`cusum_alarm`, per run :func:`run_cusum_alarm`, over runs :func:`cusum_table` and :func:`cusum_text`), whose
constants :data:`CUSUM_K` and :data:`CUSUM_H` were fixed on development seeds only (:data:`CUSUM_DEV_SEEDS`) and
evaluated once on fresh seeds by ``scripts/ch06_detector_study.py`` (``data/ch06_detector_study.json``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import oracles
from .campaign import mean_interval, run_once, verdict
from .optimizers import METHODS, SETTINGS, library


def detector_report(runs, cfg) -> dict:
    """What the detector could and did see: per hacked GA run the first batch's gap z and heavy atoms per
    molecule and the earliest call at which the :data:`~molpractice.optimizers.ALARM_RUN`-batch rule could
    fire; over every bug-free batch (all methods) the largest z and the share of batches above ALARM_Z
    (with a Clopper–Pearson interval — approximate: batches of one run share its library baseline, so they are
    not independent), and how many of them exceed ALARM_Z with the two-sample z (``bug_free_exceed_two_sample``);
    per (proxy, method) the runs with each alarm."""
    from .optimizers import ALARM_RUN, ALARM_Z

    hacked = [r for r in runs if r["proxy"] == "buggy" and r["method"] == "graph GA"]
    first = pd.DataFrame([dict(seed=r["seed"], first_batch_z=r["audit"]["gap_z"].iloc[0],
                               first_batch_heavy_atoms=r["audit"]["heavy_atoms"].iloc[0],
                               earliest_possible=r["audit"]["calls"].iloc[ALARM_RUN - 1], alarm_at=r["alarm_at"],
                               top_alarm_at=r["top_alarm_at"]) for r in hacked])
    audits = [r["audit"] for r in runs if r["proxy"] == "bug-free"]
    z = np.concatenate([a["gap_z"].to_numpy() for a in audits])
    z2 = np.concatenate([a["gap_z_two_sample"].to_numpy() for a in audits]) if all(
        "gap_z_two_sample" in a for a in audits) else np.full(len(z), np.nan)
    k, n = int((z > ALARM_Z).sum()), len(z)
    lo, hi = clopper_pearson(k, n)
    alarms = pd.DataFrame([dict(proxy=r["proxy"], method=r["method"], batch_alarm=r["alarm_at"] is not None,
                                top10_alarm=r["top_alarm_at"] is not None) for r in runs])
    alarms = alarms.groupby(["proxy", "method"], sort=False)[["batch_alarm", "top10_alarm"]].sum().astype(int)
    return dict(first=first, bug_free_max_z=float(z.max()), bug_free_batches=n, bug_free_exceed=k,
                bug_free_exceed_ci=(lo, hi), alarms=alarms,
                bug_free_exceed_two_sample=int((z2 > ALARM_Z).sum()))


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact binomial (1 − alpha) interval of k successes in n trials."""
    from scipy.stats import beta

    lo = float(beta.ppf(alpha / 2, k, n - k + 1)) if k > 0 else 0.0
    hi = float(beta.ppf(1 - alpha / 2, k + 1, n - k)) if k < n else 1.0
    return lo, hi


def detection_study(seeds, method: str = "graph GA", bug: bool = False, cfg=None, lib=None,
                    runs_out: list | None = None) -> pd.DataFrame:
    """Audited runs of ``method`` on the proxy (``bug`` selects the buggy one) for the given ``seeds`` (pick
    seeds not used for tuning): per run, whether each alarm fired and the largest batch and top-10 z. ``attrs``
    holds the share of runs in which each rule fired with its Clopper–Pearson 95 % interval
    (``"batch_alarm"``, ``"top10_alarm"``: (k, n, lo, hi)) — a false-alarm rate on the bug-free proxy, a
    detection rate on the buggy one. ``runs_out`` (a list): each run dict is appended to it (``proxy`` "bug-free" or
    "buggy"), e.g. for :func:`exploitation_onset`'s ``fresh_runs``."""
    cfg = cfg or SETTINGS.current()
    lib = lib or library()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    from .parallel import run_jobs
    from .runtime import worker_count

    rows = []
    for r in run_jobs(_detection_job, [(method, bool(bug), lib, cfg, int(seed)) for seed in seeds], worker_count()):
        seed = r["seed"]
        if runs_out is not None:
            runs_out.append(dict(r, proxy="buggy" if bug else "bug-free"))
        top_z = r["audit"]["top_z"].to_numpy(float)
        rows.append(dict(seed=seed, batch_alarm=r["alarm_at"] is not None, top10_alarm=r["top_alarm_at"] is not None,
                         max_batch_z=float(r["audit"]["gap_z"].max()),
                         max_top10_z=float(np.nanmax(top_z)) if np.isfinite(top_z).any() else float("nan")))
    out = pd.DataFrame(rows, columns=["seed", "batch_alarm", "top10_alarm", "max_batch_z", "max_top10_z"])
    for col in ("batch_alarm", "top10_alarm"):
        k, n = int(out[col].sum()), len(out)
        out.attrs[col] = (k, n, *clopper_pearson(k, n))
    return out


def _detection_job(method: str, bug: bool, lib, cfg, seed: int) -> dict:
    """One audited run for :func:`detection_study` (module level: a worker process runs it; every run seeds itself,
    so the runs are the same for any number of workers)."""
    from .campaign import proxy_scorer

    return run_once(method, proxy_scorer(bug), lib, cfg, seed)


def false_alarm_study(cfg=None, lib=None, seeds=None, runs_out: list | None = None) -> pd.DataFrame:
    """Audited graph-GA runs on the bug-free proxy for seeds not used for tuning (default: the
    ``cfg.false_alarm_runs`` seeds after the reported ones): :func:`detection_study` on the bug-free proxy,
    whose ``attrs`` are then per-run false-alarm rates (``runs_out``: as there)."""
    cfg = cfg or SETTINGS.current()
    if seeds is None:
        start = getattr(cfg, "first_seed", 0) + cfg.seeds
        seeds = range(start, start + cfg.false_alarm_runs)
    return detection_study(seeds, "graph GA", bug=False, cfg=cfg, lib=lib, runs_out=runs_out)


def detection_seeds(cfg=None) -> range:
    """Seeds for the detection-rate runs on the buggy proxy: after the reported and the false-alarm seeds, so
    not used for tuning (the top-10 rule's scale was changed after seeing reported seed 5)."""
    cfg = cfg or SETTINGS.current()
    start = getattr(cfg, "first_seed", 0) + cfg.seeds + cfg.false_alarm_runs
    return range(start, start + cfg.false_alarm_runs)


def drift_changes(runs, proxies=("buggy", "bug-free"), method: str = "graph GA", k: int = 3) -> pd.DataFrame:
    """Per seed and proxy, the change of each audit signal (diversity, similarity to the library, rank
    agreement, heavy atoms) from the first ``k`` to the last ``k`` full batches (the last batch, possibly a
    remainder, is left out). Rows: seed, proxy, ``<signal>_first``, ``<signal>_last``, ``<signal>_change``."""
    rows = []
    for r in runs:
        if r["proxy"] not in proxies or r["method"] != method:
            continue
        a = r["audit"].iloc[:-1]
        first, last = a.head(k).mean(numeric_only=True), a.tail(k).mean(numeric_only=True)
        row = dict(seed=r["seed"], proxy=r["proxy"])
        for col in DRIFT_SIGNALS:
            row[f"{col}_first"], row[f"{col}_last"] = float(first[col]), float(last[col])
            row[f"{col}_change"] = float(last[col] - first[col])
        rows.append(row)
    return pd.DataFrame(rows)


DRIFT_SIGNALS = ("diversity", "library_similarity", "rank_agreement", "heavy_atoms")


def drift_contrast(changes: pd.DataFrame, a: str = "buggy", b: str = "bug-free") -> pd.DataFrame:
    """From :func:`drift_changes`: per signal, the mean change in ``a`` runs and in ``b`` runs (each with its
    t-interval over seeds) and the paired difference of the changes ``a`` − ``b`` (same seeds)."""
    rows = []
    for col in DRIFT_SIGNALS:
        ca = changes[changes.proxy == a].set_index("seed")[f"{col}_change"]
        cb = changes[changes.proxy == b].set_index("seed")[f"{col}_change"].reindex(ca.index)
        row = dict(signal=col)
        for name, x in ((a, ca), (b, cb), (f"{a} − {b}", ca - cb)):
            m, lo, hi = mean_interval(x.to_numpy())
            row[f"{name}"], row[f"{name} lo"], row[f"{name} hi"] = m, lo, hi
        rows.append(row)
    return pd.DataFrame(rows).set_index("signal")


def alarmed_batches(runs, proxy: str, method: str) -> pd.DataFrame:
    """The batches whose gap z exceeded ALARM_Z in the (``proxy``, ``method``) runs, with their heavy atoms per molecule."""
    from .optimizers import ALARM_Z

    rows = [dict(seed=r["seed"], calls=row.calls, gap_z=row.gap_z, heavy_atoms=row.heavy_atoms)
            for r in runs if r["proxy"] == proxy and r["method"] == method
            for row in r["audit"].itertuples() if row.gap_z > ALARM_Z]
    return pd.DataFrame(rows, columns=["seed", "calls", "gap_z", "heavy_atoms"])


def drift_verdicts(drift: pd.DataFrame, a: str = "buggy", b: str = "bug-free") -> pd.DataFrame:
    """:func:`drift_contrast`'s table as verdict texts (mean [t-interval] (higher/lower/no detectable difference)):
    per signal, the change in ``a`` runs, in ``b`` runs and the paired difference ``a`` − ``b``."""
    from .campaign import verdict

    cols = (a, b, f"{a} − {b}")
    return pd.DataFrame({c: [verdict(*row[[c, f"{c} lo", f"{c} hi"]]) for _, row in drift.iterrows()] for c in cols},
                        index=drift.index)


def rate_table(studies: dict) -> pd.DataFrame:
    """``{label: detection_study(...) table}`` → one row per (label, rule): the seeds, how many runs the rule fired
    in, and the Clopper–Pearson 95 % interval of that rate (a false-alarm rate on the bug-free proxy, a detection
    rate on the buggy one)."""
    rows = []
    for label, d in studies.items():
        for rule in ("batch_alarm", "top10_alarm"):
            k, n, lo, hi = d.attrs[rule]
            rows.append(dict(runs=label, seeds=f"{d.seed.min()}-{d.seed.max()}", rule=rule.replace("_", " "),
                             fired=f"{k} of {n}", rate_lo=round(lo, 2), rate_hi=round(hi, 2)))
    return pd.DataFrame(rows).set_index(["runs", "rule"])


def rate_text(study: pd.DataFrame, rules=("batch_alarm", "top10_alarm")) -> str:
    """``"batch alarm 0 of 10 [0.00, 0.31], top-10 alarm 1 of 10 [0.00, 0.45]"``: each rule's runs fired out of the
    runs, with its Clopper–Pearson 95 % interval (``study.attrs`` of :func:`detection_study`)."""
    names = {"batch_alarm": "batch alarm", "top10_alarm": "top-10 alarm"}
    return ", ".join(f"{names.get(r, r)} {study.attrs[r][0]} of {study.attrs[r][1]} [{study.attrs[r][2]:.2f}, "
                     f"{study.attrs[r][3]:.2f}]" for r in rules)


def seed_sets_text(fresh: pd.DataFrame, study_bug_free: dict) -> str:
    """The false-alarm counts of the batch and top-10 rules on two sets of bug-free GA runs — ``fresh`` (a
    :func:`false_alarm_study`, ``attrs`` per rule) and the detector study's (``study_bug_free``: its
    ``results["bug_free"]``, keys ``seeds``, ``old_rules_batch_fired``, ``old_rules_top10_fired``) — per rule: both
    counts, Fisher's exact test of equal rates (two-sided) and, when it finds no difference, the pooled count with
    its Clopper–Pearson 95 % interval (the rate to quote); when it does, both counts are the ones to quote."""
    from scipy.stats import fisher_exact

    n2 = len(study_bug_free["seeds"])
    parts = []
    for rule, key, name in (("batch_alarm", "old_rules_batch_fired", "batch alarm"),
                            ("top10_alarm", "old_rules_top10_fired", "top-10 alarm")):
        k1, n1 = int(fresh.attrs[rule][0]), int(fresh.attrs[rule][1])
        k2 = int(study_bug_free[key])
        p = float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]])[1])
        lo, hi = clopper_pearson(k1 + k2, n1 + n2)
        parts.append(f"{name} {k1} of {n1} and {k2} of {n2}: Fisher's exact p {p:.3f} "
                     + ("(different rates: quote both, do not pool)" if p < 0.05 else
                        f"(no detectable difference), pooled {k1 + k2} of {n1 + n2} [{lo:.2f}, {hi:.2f}]"))
    return "; ".join(parts)


def failed_poses_text(table: pd.DataFrame, budget: int) -> str:
    """The proxy calls each kind of GA run spent on failed poses (molecules without an embedded conformer: dock 0,
    so the proxy is (1 − ``DOCK_WEIGHT``) · QED), mean per run and range over seeds, from the optimisation
    ``table``'s ``failed_poses`` column, and the paired hacked − bug-free GA difference (t-interval over seeds, and
    in how many seeds it is positive)."""
    if "failed_poses" not in table:
        raise ValueError("table has no failed_poses column (optimisation_study counts them)")
    parts = []
    for proxy, name in (("buggy", "hacked GA"), ("bug-free", "bug-free GA"), ("redesigned", "redesigned GA"),
                        ("redesigned + SA", "redesigned + SA GA")):
        x = table[(table.proxy == proxy) & (table.method == "graph GA")].failed_poses
        if len(x):
            parts.append(f"{name} {x.mean():.0f} ({int(x.min())}–{int(x.max())})")
    if not parts:
        raise ValueError("table has no graph GA runs")
    text = (f"failed poses (no embedded conformer: dock 0, proxy {1 - oracles.DOCK_WEIGHT:g} · QED), proxy calls per run of "
            f"{budget}, mean (range over {table.seed.nunique()} seeds): " + ", ".join(parts))
    ga = table[table.method == "graph GA"]
    hacked, clean = (ga[ga.proxy == p].set_index("seed").failed_poses for p in ("buggy", "bug-free"))
    diff = (hacked - clean.reindex(hacked.index)).dropna().to_numpy(float)
    if len(diff) >= 2:
        text += (f"; hacked − bug-free GA, paired over seeds: {verdict(*mean_interval(diff))}, higher in "
                 f"{int((diff > 0).sum())} of {len(diff)} seeds")
    return text


def before_half(late: pd.DataFrame, budget: int) -> dict:
    """From :func:`molpractice.campaign.late_onset_study`: in how many runs either alarm fired before half the
    ``budget`` (``k`` of ``n``, Clopper–Pearson 95 % ``lo``, ``hi``), whether that test is ``trivial`` (the earliest
    possible alarm of some run lies at or after half the budget, so no rule of this kind could pass it) and a ``text``."""
    if not isinstance(budget, (int, np.integer)) or budget < 2:
        raise ValueError(f"budget must be an int >= 2, got {budget!r}")
    if late is None or not len(late):
        raise ValueError("late must hold at least one late-onset run")
    half = budget / 2
    batch, top = late.alarm_at < half, late.top_alarm_at < half
    k, n = int((batch | top).sum()), len(late)
    lo, hi = clopper_pearson(k, n)
    early = late.earliest_possible
    text = (f"alarm before call {budget // 2} in {k} of {n} runs [{lo:.2f}, {hi:.2f}] (Clopper–Pearson 95 %; batch "
            f"{int(batch.sum())} of {n}, top-10 {int(top.sum())} of {n}); earliest possible alarm at calls "
            f"{int(early.min())}–{int(early.max())}")
    return dict(k=k, n=n, lo=lo, hi=hi, trivial=bool(early.max() >= half), text=text)


#: The audit signals of :func:`exploitation_onset`: (column of its table, what it is).
EXPLOIT_SIGNALS = (("gap_z", "batch gap z"), ("heavy_atoms", "batch heavy atoms"), ("top_gap", "top-10 gap"),
                   ("top_heavy_atoms", "top-10 heavy atoms"))


def _top_heavy_atoms(history, calls: int, k: int = 10) -> float:
    """Mean heavy-atom count of the best ``k`` molecules by the run's score among its first ``calls`` calls."""
    top = sorted(history[:int(calls)], key=lambda x: -x[1])[:k]
    return float(np.mean([oracles.heavy_atom_count(oracles.mol_from_smiles(s)) for s, _ in top]))


def _signals(run) -> pd.DataFrame:
    a = run["audit"][["calls", "gap_z", "heavy_atoms", "top_gap"]].copy()
    a["top_heavy_atoms"] = [_top_heavy_atoms(run["history"], c) for c in a["calls"]]
    return a


def exploitation_onset(late_runs, reference_runs, budget: int, fresh_runs=None) -> pd.DataFrame:
    """When the exploitation of a late-onset bug became visible in a run's own audit record, next to its alarms.

    ``late_runs``: :func:`molpractice.campaign.late_onset_runs`; ``reference_runs``: run dicts whose bug-free
    graph-GA runs (``proxy`` "bug-free", ``method`` "graph GA") define the bug-free range of each audit signal of
    :data:`EXPLOIT_SIGNALS` — the batch audit's gap z (the batch rule's statistic), the batch's heavy atoms per
    proposal, the audited proxy − true gap of the current top 10 and their heavy atoms per molecule — as its largest
    value over every audited batch of those runs (no threshold is set by hand). Per late run: ``first_<signal>``,
    the first audited call after the onset at which the signal is above that range (NaN if never), ``first_visible``
    (the earliest of them) and ``first_signal`` (which), the alarm calls, and the top 10 at call ``budget // 2`` —
    its heavy atoms per molecule (``top_heavy_atoms_at_half``; ``twin_top_heavy_atoms_at_half``: the bug-free GA run of the
    same seed, identical until the onset, at the same call) and its audited gap (``top_gap_at_half``, last audit at
    or before that call). ``attrs["range"]``: the range per signal; ``attrs["reference"]``: (runs, batches).
    ``fresh_runs`` (bug-free graph-GA runs on other seeds, e.g. :func:`false_alarm_study`'s ``runs_out``): how often the
    rule "some signal above the range between the onset and half the budget" fires without a bug —
    ``attrs["fresh"]`` = (k, n, Clopper–Pearson lo, hi)."""
    if not isinstance(budget, (int, np.integer)) or budget < 2:
        raise ValueError(f"budget must be an int >= 2, got {budget!r}")
    ref = [r for r in reference_runs if r.get("proxy") == "bug-free" and r.get("method") == "graph GA"]
    if not ref:
        raise ValueError("reference_runs must hold at least one bug-free graph GA run (proxy 'bug-free')")
    if not late_runs:
        raise ValueError("late_runs must hold at least one late-onset run")
    twins = {int(r["seed"]): r for r in ref}
    ref_signals = pd.concat([_signals(r) for r in ref], ignore_index=True)
    rng = {col: float(ref_signals[col].max()) for col, _ in EXPLOIT_SIGNALS}
    half = budget // 2
    rows = []
    for r in late_runs:
        s = _signals(r)
        after = s[s["calls"] > int(r["onset"])]
        row = dict(seed=int(r["seed"]), onset=int(r["onset"]))
        for col, _ in EXPLOIT_SIGNALS:
            hit = after["calls"][after[col] > rng[col]]
            row[f"first_{col}"] = float(hit.min()) if len(hit) else float("nan")
        firsts = {name: row[f"first_{col}"] for col, name in EXPLOIT_SIGNALS if not np.isnan(row[f"first_{col}"])}
        first = min(firsts, key=firsts.get) if firsts else None
        row.update(first_visible=firsts[first] if first else float("nan"), first_signal=first,
                   alarm_at=float("nan") if r["alarm_at"] is None else float(r["alarm_at"]),
                   top_alarm_at=float("nan") if r["top_alarm_at"] is None else float(r["top_alarm_at"]),
                   top_heavy_atoms_at_half=_top_heavy_atoms(r["history"], half),
                   twin_top_heavy_atoms_at_half=(_top_heavy_atoms(twins[int(r["seed"])]["history"], half)
                                              if int(r["seed"]) in twins else float("nan")))
        upto = s[s["calls"] <= half]
        row["top_gap_at_half"] = float(upto["top_gap"].iloc[-1]) if len(upto) else float("nan")
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["range"] = rng
    out.attrs["reference"] = (len(ref), len(ref_signals))
    if fresh_runs:
        onset = int(late_runs[0]["onset"])
        hits = []
        for r in fresh_runs:
            s = _signals(r)
            s = s[(s["calls"] > onset) & (s["calls"] < half)]
            hits.append({col: bool((s[col] > rng[col]).any()) for col, _ in EXPLOIT_SIGNALS})
        k, n = sum(any(h.values()) for h in hits), len(hits)
        out.attrs["fresh"] = (k, n, *clopper_pearson(k, n))
        out.attrs["fresh_by_signal"] = {col: sum(h[col] for h in hits) for col, _ in EXPLOIT_SIGNALS}
    return out


def exploitation_lines(onset: pd.DataFrame, budget: int) -> list[str]:
    """Text of :func:`exploitation_onset`: the bug-free range, one line per run (first visible call and signal next to
    the alarm calls; for a run without an alarm before half the budget, whether the exploitation was already
    visible then — a detector delay — or not yet), and ``k of n`` runs with the exploitation visible before half."""
    half = budget // 2
    fmt = lambda x: "never" if pd.isna(x) else f"call {int(x)}"  # noqa: E731
    names = dict(EXPLOIT_SIGNALS)
    n_ref, n_batches = onset.attrs["reference"]
    out = [f"bug-free range (largest value over {n_batches} audited batches of {n_ref} bug-free GA runs): " + ", ".join(
        f"{names[c]} {v:.3f}" for c, v in onset.attrs["range"].items())]
    for r in onset.itertuples():
        firsts = ", ".join(f"{names[c]} {fmt(getattr(r, f'first_{c}'))}" for c, _ in EXPLOIT_SIGNALS)
        early_alarm = np.nanmin([r.alarm_at, r.top_alarm_at, np.inf]) < half
        verdict = ("" if early_alarm else
                   ": a detector delay (visible before the alarm)" if r.first_visible < half else
                   f": not yet visible by call {half}")
        seen = "not visible" if pd.isna(r.first_visible) else f"first visible at call {int(r.first_visible)} ({r.first_signal})"
        out.append(f"seed {r.seed}: exploitation {seen} — batch alarm {fmt(r.alarm_at)}, "
                   f"top-10 alarm {fmt(r.top_alarm_at)}{verdict}; above the range at: {firsts}; at call {half} top-10 "
                   f"heavy atoms {r.top_heavy_atoms_at_half:.1f} (bug-free twin {r.twin_top_heavy_atoms_at_half:.1f}), "
                   f"top-10 gap {r.top_gap_at_half:.3f}")
    k, n = int((onset.first_visible < half).sum()), len(onset)
    lo, hi = clopper_pearson(k, n)
    out.append(f"exploitation visible in the audit before call {half} in {k} of {n} runs [{lo:.2f}, {hi:.2f}] "
               f"(Clopper–Pearson 95 %)")
    if "fresh" in onset.attrs:
        k, n, lo, hi = onset.attrs["fresh"]
        out[-1] += (f"; the same rule on bug-free GA runs of fresh seeds (a signal above the range between call "
                    f"{int(onset.onset.iloc[0])} and {half}): {k} of {n} [{lo:.2f}, {hi:.2f}] (by signal: " + ", ".join(
                        f"{names[c]} {v} of {n}" for c, v in onset.attrs["fresh_by_signal"].items()) + ")")
    return out


def exploitation_summary(onset: pd.DataFrame, budget: int) -> str:
    """One line of :func:`exploitation_onset` for the targets table: runs with the exploitation visible before half the
    budget, and for each run without an alarm before half the budget its first visible call next to its alarms."""
    half = budget // 2
    fmt = lambda x: "never" if pd.isna(x) else str(int(x))  # noqa: E731
    k, n = int((onset.first_visible < half).sum()), len(onset)
    late = onset[~(onset[["alarm_at", "top_alarm_at"]].min(axis=1) < half)]
    parts = [f"seed {r.seed}: " + ("not visible" if pd.isna(r.first_visible) else
                                   f"first visible at call {int(r.first_visible)} ({r.first_signal})")
             + f", batch alarm {fmt(r.alarm_at)}, top-10 alarm {fmt(r.top_alarm_at)}" for r in late.itertuples()]
    return f"exploitation visible in the audit before call {half} in {k} of {n} runs" + (
        f" ({'; '.join(parts)})" if parts else "")


# --- CUSUM detector (issue 21: a rule that reacts to a slow build-up; review 06h findings 1 and 4) ---------------

#: The audit column the CUSUM reads: the batch's mean proxy − true gap of its random audit sample, minus the
#: library's gap, in two-sample standard errors (``Auditor``'s ``gap_z_two_sample``). Without a bug it is not N(0, 1):
#: the proxy's error is a property of the molecule, so selection on the proxy and the run's shared library baseline
#: widen it — over the 833 batches of the 40 development bug-free runs its mean was 0.28 and its sd 1.73, and the
#: run means had sd 0.92 (scripts/ch06_detector_study.py, development stage).
CUSUM_SIGNAL = "gap_z_two_sample"
#: Development seeds on which :data:`CUSUM_K` and :data:`CUSUM_H` were chosen (full settings, graph GA, 1000 calls):
#: bug-free runs 100-139 and late-onset runs 100-109 (bug on after 200 calls). None of them is a reported (5-9),
#: tuning (0-4), false-alarm (10-19), detection (20-29) or evaluation (200-219) seed.
CUSUM_DEV_SEEDS = dict(bug_free=(100, 139), late_onset=(100, 109))
#: Allowance (reference value) k, in standard errors per batch.
CUSUM_K = 2.5
#: Threshold h: the alarm fires at the first audited batch whose CUSUM exceeds it.
CUSUM_H = 4.25
# How k and h were fixed (scripts/ch06_detector_study.py --stage dev, before any evaluation seed was run, with the
# shape-overlay proxy; the grid and the selection rule were committed before these development runs): for each k of
# the grid 0.25-2.5 the smallest h (0.5-15 in steps of 0.25) with at most 1 of the 40 dev bug-free runs alarmed over
# the whole run and a false-alarm rate <= 0.05 on simulated N(0, 1) streams of 24 batches; then the k with the most
# dev late-onset runs alarmed before call 500 (ties: lower median alarm call, then larger h). Result: k = 2.5,
# h = 4.25 — the grid's largest k again (k = 1.5, 2.0 and 2.5 all alarmed 9 of 10 late-onset runs before call 500;
# 2.5 won the tie on the median call, 344); 1 of 40 dev bug-free runs alarmed (the next-largest bug-free CUSUM was
# 4.04, just under h: the dev false-alarm rate is fragile); dev late onset 9 of 10 before call 500 (the batch and
# top-10 rules of ``Auditor``: 9 of 10 on the same runs). k = 0.25-1.0 had no h <= 15 meeting the false-alarm rule:
# the bug-free batch z runs above N(0, 1) (mean 0.28, sd 1.73, above), so the rule is pushed to the largest k, and the
# selected CUSUM is a slow threshold-like rule, not one that adds up a slow build-up: on a noise-free drift of +0.25
# standard errors per batch it fires later than the two-batch z > 3 rule (tests/test_detection_cusum.py), and in the
# evaluation it caught no late-onset run that the old rules missed by call 500 (1 each way). The simulated N(0, 1)
# constraint never bound (rate 0.000 for every candidate): it is mis-specified for this signal; a future
# registration should standardise z by the bug-free development sd or model the run effect. Target: per-run
# false-alarm rate over a 1000-call bug-free run at most 1 in 20. (The previous proxy's rule, k = 2.0 and h = 1.0,
# was chosen the same way on the same seeds.)


def _check_stream(z, k, h, calls=None):
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError(f"z must be a 1-D sequence of per-batch values, got shape {z.shape}")
    bad = np.flatnonzero(~np.isfinite(z))
    if len(bad):
        raise ValueError(f"z must be finite: z[{bad[0]}] = {z[bad[0]]}")
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) or not np.isfinite(k) or k < 0:
        raise ValueError(f"k must be a finite number >= 0, got {k!r}")
    if h is not None and (isinstance(h, bool) or not isinstance(h, (int, float, np.integer, np.floating))
                          or not np.isfinite(h) or h <= 0):
        raise ValueError(f"h must be a finite number > 0, got {h!r}")
    if calls is not None:
        calls = np.asarray(calls)
        if calls.shape != z.shape:
            raise ValueError(f"calls must give one call count per value of z: {calls.shape} vs {z.shape}")
        if len(calls) > 1 and np.any(np.diff(calls) < 0):  # equal counts happen: a batch of re-proposed molecules
            i = int(np.flatnonzero(np.diff(calls) < 0)[0]) + 1
            raise ValueError(f"calls must not decrease: calls[{i}] = {calls[i]} after {calls[i - 1]}")
    return z, calls


def cusum_path(z, k: float | None = None) -> np.ndarray:
    """One-sided upper CUSUM of a standardised per-batch stream: S_0 = 0, S_t = max(0, S_{t−1} + z_t − k).

    Without a shift (z_t about N(0, 1)) S stays near 0, each batch pulling it down by k; a shift of the mean by δ > k
    makes it climb by about δ − k per batch, so a small shift that no single batch shows still adds up.
    ``k`` defaults to :data:`CUSUM_K`. Raises ValueError for a z that is not 1-D and finite or k < 0."""
    k = CUSUM_K if k is None else k
    z, _ = _check_stream(z, k, None)
    s, out = 0.0, np.empty(len(z))
    for t, v in enumerate(z):
        s = max(0.0, s + v - k)
        out[t] = s
    return out


def cusum_alarm(z, calls=None, k: float | None = None, h: float | None = None):
    """The first batch at which the one-sided CUSUM (:func:`cusum_path`) exceeds ``h`` (default :data:`CUSUM_H`):
    its entry of ``calls`` (the proxy calls spent when that batch was audited), or its index when ``calls`` is
    None; None if the CUSUM never exceeds ``h``. Raises ValueError (naming the argument) for a z that is not 1-D and
    finite, ``calls`` of another length or decreasing, k < 0 or h <= 0."""
    k = CUSUM_K if k is None else k
    h = CUSUM_H if h is None else h
    z, calls = _check_stream(z, k, h, calls)
    above = np.flatnonzero(cusum_path(z, k) > h)
    if not len(above):
        return None
    return int(above[0]) if calls is None else int(calls[above[0]])


def run_cusum_alarm(run, k: float | None = None, h: float | None = None, signal: str = CUSUM_SIGNAL):
    """:func:`cusum_alarm` of one audited run (a :func:`molpractice.campaign.run_once` dict, or its ``audit`` table):
    the proxy calls at which the CUSUM of the audit's ``signal`` column first exceeds ``h``, or None."""
    audit = run["audit"] if isinstance(run, dict) else run
    if audit is None or signal not in audit:
        raise ValueError(f"run must hold an audit table with a {signal!r} column")
    return cusum_alarm(audit[signal].to_numpy(float), audit["calls"].to_numpy(), k, h)


def cusum_table(runs, budget: int, k: float | None = None, h: float | None = None) -> pd.DataFrame:
    """Per run (dicts of :func:`~molpractice.campaign.run_once` / ``late_onset_runs``, each with an ``audit``): seed,
    ``proxy`` (if the dict has it), ``onset`` (NaN if none), the CUSUM alarm call ``cusum_at`` (NaN if it never fired),
    ``before_half`` (fired before call ``budget // 2``) and ``before_onset`` (fired at or before the onset: a false
    alarm). ``attrs["before_half"]`` and ``attrs["fired"]``: (k, n, Clopper–Pearson lo, hi)."""
    if not isinstance(budget, (int, np.integer)) or budget < 2:
        raise ValueError(f"budget must be an int >= 2, got {budget!r}")
    rows = []
    for r in runs:
        at = run_cusum_alarm(r, k, h)
        onset = float(r.get("onset", float("nan")))
        at = float("nan") if at is None else float(at)
        rows.append(dict(seed=int(r["seed"]), proxy=r.get("proxy"), onset=onset, cusum_at=at,
                         before_half=bool(at < budget / 2), before_onset=bool(at <= onset)))
    out = pd.DataFrame(rows, columns=["seed", "proxy", "onset", "cusum_at", "before_half", "before_onset"])
    for col, hit in (("before_half", out.before_half), ("fired", out.cusum_at.notna())):
        kk, n = int(hit.sum()), len(out)
        out.attrs[col] = (kk, n, *clopper_pearson(kk, n)) if n else (0, 0, 0.0, 1.0)
    return out


def cusum_text(table: pd.DataFrame, budget: int, what: str = "before_half") -> str:
    """``"CUSUM alarm before call 500 in 9 of 10 runs [0.55, 1.00]"`` (``what`` "before_half") or ``"CUSUM alarm in
    0 of 20 runs [0.00, 0.17]"`` (``what`` "fired": at any call) from :func:`cusum_table` (Clopper–Pearson 95 %)."""
    if what not in ("before_half", "fired"):
        raise ValueError(f"what must be 'before_half' or 'fired', got {what!r}")
    kk, n, lo, hi = table.attrs[what]
    when = f" before call {budget // 2}" if what == "before_half" else ""
    return f"CUSUM alarm{when} in {kk} of {n} runs [{lo:.2f}, {hi:.2f}] (Clopper–Pearson 95 %)"
