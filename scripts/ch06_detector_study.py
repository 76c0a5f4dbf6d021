"""Chapter 6: the CUSUM reward-hacking detector (:func:`molpractice.detection.cusum_alarm`), calibrated on
development seeds and then evaluated once on fresh seeds (issue 21, review 06h findings 1 and 4).

Protocol (the commit order is the pre-registration):
1. ``--stage dev``: audited graph-GA runs on development seeds (bug-free 100-139, late onset at call 200 on
   100-109) that the notebook never reports; the rule's constants were chosen from this stage's table by
   :func:`choose` (with the first proxy the k grid was widened to 1.5-2.5 after the first table, whose best k sat at
   its edge; for the shape-overlay proxy the whole grid was fixed before its development runs) and
   committed in ``molpractice/detection.py`` before stage 2 was run.
2. ``--stage eval``: seeds 200-219 (bug-free and late onset at call 200; immediate hack 200-209), never run with this
   proxy (the previous proxy's evaluation used the same seed numbers); the rule is not changed after seeing them. A
   late-onset alarm before the onset is a false alarm, not a detection (counted apart for both rules). Writes ``data/ch06_detector_study.json``.

Run: ``nice -n 5 .venv/bin/python scripts/ch06_detector_study.py --stage dev|eval [--workers 2]``.
The audited runs are cached in ``data/cache/ch06_detector_runs_<stage>.pkl`` (untracked).
"""
from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEV = dict(bug_free=range(100, 140), late=range(100, 110))
EVAL = dict(bug_free=range(200, 220), late=range(200, 220), immediate=range(200, 210))
ONSET = 200


def audit_job(kind: str, seed: int) -> dict:
    """One audited graph-GA run under the full settings: ``kind`` "bug_free", "late" (bug on after ONSET calls)
    or "immediate" (the buggy proxy from the first call, as the notebook's hacked run). Returns the audit table's
    records and the existing alarms."""
    from molpractice import oracles
    from molpractice.campaign import run_once
    from molpractice.optimizers import SETTINGS, library

    cfg = SETTINGS.current("full")
    if kind == "bug_free":
        score = lambda s: oracles.proxy_score(s, bug=False)  # noqa: E731
    elif kind == "immediate":
        score = lambda s: oracles.proxy_score(s, bug=True)  # noqa: E731
    elif kind == "late":
        score = oracles.OnsetProxy(ONSET)
    else:
        raise ValueError(f"kind must be bug_free, late or immediate, got {kind!r}")
    r = run_once("graph GA", score, library(), cfg, int(seed))
    return dict(kind=kind, seed=int(seed), calls=int(r["calls"]), alarm_at=r["alarm_at"], top_alarm_at=r["top_alarm_at"],
                audit=r["audit"].to_dict("records"))


def collect(stage: str, workers: int) -> list[dict]:
    from molpractice.parallel import run_jobs

    path = ROOT / "data" / "cache" / f"ch06_detector_runs_{stage}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    seeds = DEV if stage == "dev" else EVAL
    jobs = [(kind, s) for kind, ss in seeds.items() for s in ss]
    out = []
    for i, r in enumerate(run_jobs(audit_job, jobs, workers)):
        out.append(r)
        print(f"  {i + 1}/{len(jobs)} {r['kind']} seed {r['seed']}", file=sys.stderr, flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out


K_GRID = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5)  # fixed before the shape-overlay proxy's development runs
K_GRID_ADDED = ()  # with the first proxy 1.5-2.5 were added after its first dev table; none with this one
H_GRID = tuple(np.round(np.arange(0.5, 15.01, 0.25), 2))
BUDGET = 1000
TARGET = 0.05  # per-run false-alarm rate over the whole 1000-call bug-free run: at most 1 in 20


def _as_runs(raw, kind):
    import pandas as pd

    return [dict(seed=r["seed"], proxy=kind, onset=ONSET if kind == "late" else float("nan"), audit=pd.DataFrame(r["audit"]),
                 alarm_at=r["alarm_at"], top_alarm_at=r["top_alarm_at"]) for r in raw if r["kind"] == kind]


def simulated_rate(k, h, n=4000, batches=24, seed=0):
    """Share of N(0, 1) streams of ``batches`` batches on which the CUSUM fires (the stationary model)."""
    from molpractice.detection import cusum_alarm

    rng = np.random.default_rng(seed)
    return float(np.mean([cusum_alarm(rng.normal(0.0, 1.0, batches), k=k, h=h) is not None for _ in range(n)]))


def dev_table(runs):
    """Per (k, h): dev bug-free runs alarmed, dev late-onset runs alarmed before call 500 (and before the onset)."""
    import pandas as pd
    from molpractice.detection import run_cusum_alarm

    free, late = _as_runs(runs, "bug_free"), _as_runs(runs, "late")
    rows = []
    for k in K_GRID:
        for h in H_GRID:
            fa = [run_cusum_alarm(r, k, h) for r in free]
            la = [run_cusum_alarm(r, k, h) for r in late]
            la_ = np.array([np.inf if a is None else a for a in la], float)
            rows.append(dict(k=k, h=h, bug_free_fired=sum(a is not None for a in fa), bug_free_n=len(free),
                             late_before_half=int((la_ < BUDGET / 2).sum()), late_before_onset=int((la_ <= ONSET).sum()),
                             late_n=len(late), late_median_call=float(np.median(la_)), late_calls=[None if a is None else int(a) for a in la]))
    return pd.DataFrame(rows)


def _largest_quiet(raw, k, h):
    """The largest development bug-free CUSUM at ``k`` that stayed at or under ``h`` (the chosen rule's margin)."""
    from molpractice.detection import cusum_path

    peaks = [float(cusum_path(r["audit"]["gap_z_two_sample"].to_numpy(float), k).max()) for r in _as_runs(raw, "bug_free")]
    quiet = [x for x in peaks if x <= h]
    return max(quiet) if quiet else None


def choose(table):
    """The pre-stated selection: for each k the smallest h with at most 1 of the dev bug-free runs alarmed and a
    simulated N(0, 1) false-alarm rate <= TARGET; then the k with the most dev late-onset alarms before call 500,
    ties broken by the lower median alarm call, then the larger h."""
    cands = []
    for k, g in table.groupby("k"):
        for row in g.sort_values("h").itertuples():
            if row.bug_free_fired <= 1 and simulated_rate(k, row.h) <= TARGET:
                cands.append(row)
                break
    return sorted(cands, key=lambda r: (-r.late_before_half, r.late_median_call, -r.h))[0], cands


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", choices=("dev", "eval"), required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    runs = collect(args.stage, args.workers)
    if args.stage == "dev":
        import pandas as pd

        pd.set_option("display.width", 250)
        table = dev_table(runs)
        best, cands = choose(table)
        print("candidates (smallest h per k meeting the false-alarm rule):")
        for c in cands:
            print(f"  k={c.k} h={c.h}: bug-free {c.bug_free_fired} of {c.bug_free_n}, simulated rate "
                  f"{simulated_rate(c.k, c.h):.3f}; late onset before call 500 {c.late_before_half} of {c.late_n} "
                  f"(before the onset {c.late_before_onset}), median call {c.late_median_call}, calls {c.late_calls}")
        print(f"chosen: k={best.k} h={best.h}")
        free = _as_runs(runs, "bug_free")
        from molpractice.detection import cusum_path
        peaks = {k: sorted(float(cusum_path(r["audit"]["gap_z_two_sample"].to_numpy(float), k).max()) for r in free)
                 for k in K_GRID}
        print("largest dev bug-free CUSUM per k (top 3):", {k: [round(x, 2) for x in v[-3:]] for k, v in peaks.items()})
        old = _as_runs(runs, "late")
        print("existing rules on dev late onset (batch, top-10):", [(r["seed"], r["alarm_at"], r["top_alarm_at"]) for r in old])
        (ROOT / "data" / "cache").mkdir(parents=True, exist_ok=True)
        (ROOT / "data" / "cache" / "ch06_detector_dev_table.json").write_text(table.to_json(orient="records"))
    else:
        from molpractice import detection as D
        from molpractice.cusum_report import CONSTANTS_PATTERN

        rule_commit = subprocess.run(["git", "log", "-1", "--format=%H", "-G", CONSTANTS_PATTERN, "--",
                                      "molpractice/detection.py"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "-G", CONSTANTS_PATTERN, "--stat", "HEAD", "--", "molpractice/detection.py"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
        rel = str(Path(__file__).resolve().relative_to(ROOT))
        eval_cache = ROOT / "data" / "cache" / "ch06_detector_runs_eval.pkl"
        import datetime as _dt

        out = dict(rule=dict(signal=D.CUSUM_SIGNAL, k=D.CUSUM_K, h=D.CUSUM_H, dev_seeds=D.CUSUM_DEV_SEEDS,
                             statistic="S_t = max(0, S_{t-1} + z_t - k), alarm at the first audited batch with S_t > h"),
                   rule_commit=rule_commit, rule_commit_time=git("show", "-s", "--format=%ci", rule_commit),
                   # HEAD when this JSON is written: the runs may come from the cache, so it does not date them
                   head_when_written=head, detection_py_modified_at_evaluation=bool(dirty),
                   # when the evaluation runs were cached (the cache file's modification time, UTC)
                   eval_cache_time=_dt.datetime.fromtimestamp(eval_cache.stat().st_mtime, _dt.timezone.utc)
                   .strftime("%Y-%m-%d %H:%M:%S +0000") if eval_cache.exists() else None,
                   script=dict(path=rel, last_commit=git("log", "-1", "--format=%H", "--", rel),
                               uncommitted_changes=bool(git("status", "--porcelain", "--", rel))),
                   budget=BUDGET, onset=ONSET, seeds={k: [min(v), max(v)] for k, v in EVAL.items()}, results={})
        print(f"rule: one-sided CUSUM of {D.CUSUM_SIGNAL}, k = {D.CUSUM_K}, h = {D.CUSUM_H} "
              f"(fixed on dev seeds {D.CUSUM_DEV_SEEDS}; commit {rule_commit[:10]})")
        print(f"{'runs':<30}{'seeds':<10}{'CUSUM fired':<26}{'before call 500':<26}{'old rules before 500':<22}alarm calls")
        for kind, label in (("late", "late onset (bug at call 200)"), ("bug_free", "bug-free"),
                            ("immediate", "immediate hack (call 0)")):
            rs = _as_runs(runs, kind)
            t = D.cusum_table(rs, BUDGET)
            calls = [None if np.isnan(x) else int(x) for x in t.cusum_at]
            old = [min([a for a in (r["alarm_at"], r["top_alarm_at"]) if a is not None], default=None) for r in rs]
            start = ONSET if kind == "late" else 0  # a late-onset alarm before the bug is switched on is no detection
            hit = lambda a: a is not None and start <= a < BUDGET / 2  # noqa: E731
            old_k = sum(hit(a) for a in old)
            fired, half = t.attrs["fired"], t.attrs["before_half"]
            fin = np.array([c for c in calls if c is not None], float)
            dist = (dict(min=float(fin.min()), q25=float(np.percentile(fin, 25)), median=float(np.median(fin)),
                         q75=float(np.percentile(fin, 75)), max=float(fin.max())) if len(fin) else None)
            out["results"][kind] = dict(
                seeds=[int(s) for s in t.seed], cusum_alarm_calls=calls,
                fired=dict(k=fired[0], n=fired[1], cp95=[fired[2], fired[3]]),
                before_half=dict(k=half[0], n=half[1], cp95=[half[2], half[3]]),
                before_onset=int(t.before_onset.sum()) if kind == "late" else None, alarm_call_distribution=dist,
                old_rules_first_alarm=old, old_rules_before_half=old_k, old_rules_fired=sum(a is not None for a in old),
                old_rules_before_onset=sum(a is not None and a < ONSET for a in old) if kind == "late" else None,
                old_rules_batch_fired=sum(r["alarm_at"] is not None for r in rs),
                old_rules_top10_fired=sum(r["top_alarm_at"] is not None for r in rs))
            if kind == "late":  # paired by run: CUSUM before call 500 vs the Auditor's batch/top-10 rules before call 500
                from scipy.stats import binomtest

                new_only = sum(hit(c) and not hit(a) for c, a in zip(calls, old))
                old_only = sum(hit(a) and not hit(c) for c, a in zip(calls, old))
                p = binomtest(new_only, new_only + old_only).pvalue if new_only + old_only else 1.0
                out["results"][kind]["paired_vs_old_rules"] = dict(cusum_only=new_only, old_only=old_only, exact_mcnemar_p=p)
            print(f"{label:<30}{f'{min(t.seed)}-{max(t.seed)}':<10}"
                  f"{f'{fired[0]} of {fired[1]} [{fired[2]:.2f}, {fired[3]:.2f}]':<26}"
                  f"{f'{half[0]} of {half[1]} [{half[2]:.2f}, {half[3]:.2f}]':<26}{f'{old_k} of {len(rs)}':<22}{calls}")
            print(f"{'':<40}old rules (batch or top-10) fired at any call in {sum(a is not None for a in old)} of {len(rs)}")
            if kind == "late":
                pv = out["results"][kind]["paired_vs_old_rules"]
                print(f"{'':<40}paired: before call 500 by CUSUM only {pv['cusum_only']}, by the old rules only "
                      f"{pv['old_only']} (exact McNemar p = {pv['exact_mcnemar_p']:.2f})")
            if dist:
                print(f"{'':<40}alarm calls: min {dist['min']:.0f}, quartiles {dist['q25']:.0f} / {dist['median']:.0f} / "
                      f"{dist['q75']:.0f}, max {dist['max']:.0f}")
        dev_runs = collect("dev", 1)  # the cached development runs: their calibration table goes into the JSON too
        table = dev_table(dev_runs)
        best, cands = choose(table)
        out["development"] = dict(
            seeds=dict(bug_free=[min(DEV["bug_free"]), max(DEV["bug_free"])], late=[min(DEV["late"]), max(DEV["late"])]),
            selection=choose.__doc__.strip().replace("\n    ", " "), k_grid=list(K_GRID), h_grid=[min(H_GRID), max(H_GRID), 0.25],
            target_false_alarm_rate=TARGET,
            candidates=[dict(k=c.k, h=c.h, bug_free_fired=int(c.bug_free_fired), bug_free_n=int(c.bug_free_n),
                             simulated_rate=simulated_rate(c.k, c.h), late_before_half=int(c.late_before_half),
                             late_n=int(c.late_n), late_median_call=c.late_median_call, late_calls=c.late_calls) for c in cands],
            chosen=dict(k=best.k, h=best.h), k_grid_added_after_first_dev_table=list(K_GRID_ADDED),
            largest_quiet_bug_free_cusum=_largest_quiet(dev_runs, best.k, best.h),
            old_rules_late_first_alarm=[min([a for a in (r["alarm_at"], r["top_alarm_at"]) if a is not None], default=None)
                                        for r in _as_runs(dev_runs, "late")])
        path = ROOT / "data" / "ch06_detector_study.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
