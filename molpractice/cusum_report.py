"""The chapter-6 CUSUM detector's pre-registered study as printed text (split from
:mod:`molpractice.campaign_report`, which re-exports every name): the study's record (:func:`detector_study`), its
summary against this chapter's stricter test (:func:`cusum_summary`), the verifiable provenance of the constants
(:func:`rule_provenance`, :func:`provenance_lines`) and the lines the notebook prints (:func:`cusum_lines`)."""
from __future__ import annotations

# ------------------------------------------------------------------------------------ the CUSUM detector
CUSUM_FALSE_ALARM_TARGET = 0.05  # the detector study's pre-stated per-run false-alarm target (1 in 20 bug-free runs)


def detector_study(path=None) -> dict:
    """The CUSUM detector's pre-registered study (``scripts/ch06_detector_study.py``: k and h chosen on development
    seeds, committed, then evaluated once on fresh seeds), read from ``data/ch06_detector_study.json``. Raises
    FileNotFoundError naming the file and the script that writes it."""
    import json
    from pathlib import Path

    from .repository import find_repo

    path = Path(path) if path is not None else find_repo() / "data" / "ch06_detector_study.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run scripts/ch06_detector_study.py --stage dev, then --stage eval")
    return json.loads(path.read_text())


def _k_of_n(d: dict) -> str:
    return f"{d['k']} of {d['n']} [{d['cp95'][0]:.2f}, {d['cp95'][1]:.2f}]"


def _span(seeds) -> str:
    return f"{seeds[0]}–{seeds[1]}"


def cusum_summary(study: dict) -> dict:
    """This chapter's stricter detector test (not the issue's target as worded) read from the study's fresh
    evaluation (at the study's budget, ``half``): ``late`` (alarm before half the budget in the late-onset runs),
    ``bug_free`` (whole-run false alarms), ``met`` (every late-onset run alarmed before half the budget *and* no
    bug-free run alarmed) and ``false_alarm_met`` (the study's pre-stated per-run target, a point estimate ≤
    :data:`CUSUM_FALSE_ALARM_TARGET`)."""
    r = study["results"]
    late, free = r["late"]["before_half"], r["bug_free"]["fired"]
    return dict(late=late, bug_free=free, met=bool(late["k"] == late["n"] and free["k"] == 0),
                false_alarm_met=bool(free["k"] / free["n"] <= CUSUM_FALSE_ALARM_TARGET), half=int(study["budget"]) // 2)




def _git(repo, *args) -> str | None:
    """``git args`` in ``repo``: its stripped stdout, or None when git or the repository is unavailable."""
    import subprocess

    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


#: The lines that define the rule (``git log -G``): a commit that touches detection.py elsewhere does not change it.
CONSTANTS_PATTERN = r"^CUSUM_(K|H|SIGNAL) = "


def rule_provenance(study: dict, repo=None) -> dict:
    """What can be verified about when the CUSUM constants were fixed (review 06i finding 4): ``commit`` (the
    study's ``rule_commit``), ``commit_time`` and ``time_source`` ("git" when the repository knows the commit, else
    the JSON's ``rule_commit_time``, else None), ``changed_since`` (commits after it that change the rule's lines in
    ``molpractice/detection.py`` (:data:`CONSTANTS_PATTERN`), plus "uncommitted changes" if its working copy changes
    them; None without git), ``other_commits`` (later commits to that file that leave the rule's lines alone), ``eval_cache_time``
    (the JSON's record of when the evaluation runs were cached, else None), ``head_when_written`` (the HEAD when the
    JSON was written: it does not date the runs, which the eval stage loads from cache) and ``script`` (the
    script's git hash and status when the JSON was written, else None)."""
    from .repository import find_repo

    repo = find_repo() if repo is None else repo
    commit = study["rule_commit"]
    when = _git(repo, "show", "-s", "--format=%ci", commit)
    source = "git" if when else ("JSON" if study.get("rule_commit_time") else None)
    when = when or study.get("rule_commit_time")
    changed = other = None
    if when and source == "git":
        log = _git(repo, "log", "--format=%h", f"{commit}..HEAD", "-G", CONSTANTS_PATTERN, "--",
                   "molpractice/detection.py")
        every = _git(repo, "log", "--format=%h", f"{commit}..HEAD", "--", "molpractice/detection.py")
        dirty = _git(repo, "diff", "-G", CONSTANTS_PATTERN, "--stat", "HEAD", "--", "molpractice/detection.py")
        if log is not None and dirty is not None and every is not None:
            changed = log.split() + (["uncommitted changes"] if dirty else [])
            other = [c for c in every.split() if c not in changed]
    return dict(commit=commit, commit_time=when, time_source=source, changed_since=changed, other_commits=other,
                eval_cache_time=study.get("eval_cache_time"),
                head_when_written=study.get("head_when_written", study.get("head_at_evaluation")),
                script=study.get("script"))


MARGIN_NOT_RECORDED = ("not recorded in the committed study (data/ch06_detector_study.json predates the field; "
                       "scripts/ch06_detector_study.py --stage eval writes it from the development runs)")


def _dev_margin(study: dict, repo=None) -> tuple[float | None, str]:
    """The largest development bug-free CUSUM that stayed at or under h at the chosen k, read only from the committed
    JSON (``development.largest_quiet_bug_free_cusum``), with where it came from; ``(None, "not recorded")`` when the
    JSON lacks it. No local cache is read, so the printed line is the same on every clone. ``repo`` is unused (kept
    for the callers' signature)."""
    value = study.get("development", {}).get("largest_quiet_bug_free_cusum")
    return (float(value), "the JSON") if value is not None else (None, "not recorded")


def provenance_lines(study: dict, repo=None) -> list[str]:
    """Printable, verifiable facts about the pre-registration (:func:`rule_provenance`, :func:`_dev_margin`), the
    development selection rule quoted from the JSON, the k grid's widening and the tie among the candidates."""
    pv, dev, rule = rule_provenance(study, repo), study["development"], study["rule"]
    nr = "not recorded"
    changed = ("unknown (no git)" if pv["changed_since"] is None else
               "none" if not pv["changed_since"] else ", ".join(pv["changed_since"]))
    if pv.get("other_commits"):
        changed += f" (other commits to the file, not touching them: {', '.join(pv['other_commits'])})"
    chosen = next(c for c in dev["candidates"] if c["k"] == rule["k"] and c["h"] == rule["h"])
    ties = [c for c in dev["candidates"] if c is not chosen and c["late_before_half"] == chosen["late_before_half"]
            and c.get("late_median_call") == chosen.get("late_median_call")]
    grid = dev.get("k_grid")
    added = dev.get("k_grid_added_after_first_dev_table")  # None: a study that predates the field
    margin, where = _dev_margin(study, repo)
    lines = [f"provenance: CUSUM constants committed in {pv['commit'][:7]} at {pv['commit_time'] or nr}"
             + (f" ({pv['time_source']})" if pv["time_source"] else "")
             + f"; commits changing the rule's constants in molpractice/detection.py since: {changed}; evaluation runs cached at: "
             f"{pv['eval_cache_time'] or nr}; HEAD when the JSON was written: "
             f"{(pv['head_when_written'] or nr)[:7]} (the eval stage reuses cached runs, so this does not date them); "
             f"the script's hash and git status then: {pv['script'] or nr}",
             f"development selection rule, as recorded: \"{dev.get('selection', nr)}\"",
             f"k grid {grid if grid is not None else nr}: "
             + ("whether values were added after the first development table: not recorded; " if added is None else
                f"its values {', '.join(f'{x:g}' for x in added)} were added after the first development table, whose best k "
                "lay at the grid's edge (the script's record); " if added else
                "fixed before the development runs (the script's record); ")
             + (" and ".join([f"k = {c['k']:g} (h = {c['h']:g})" for c in [chosen] + ties])
                + f" tied at {chosen['late_before_half']} of {chosen['late_n']} development late-onset alarms before call "
                f"{int(study['budget']) // 2} with median alarm call {chosen.get('late_median_call', float('nan')):g}; the "
                f"rule's tie-break picked k = {rule['k']:g}, h = {rule['h']:g}" if ties else
                f"k = {rule['k']:g}, h = {rule['h']:g} had the most development late-onset alarms before call "
                f"{int(study['budget']) // 2} ({chosen['late_before_half']} of {chosen['late_n']})"
                + ("; " + ", ".join("k = %g" % c["k"] for c in same) + " had as many, and the lower median alarm call "
                   f"({chosen.get('late_median_call', float('nan')):g}) broke the tie"
                   if (same := [c for c in dev["candidates"] if c is not chosen
                                and c["late_before_half"] == chosen["late_before_half"]]) else ", without a tie")),
             "development false-alarm margin at the chosen k: largest bug-free CUSUM that did not alarm "
             + (f"{margin:.2f} against h = {rule['h']:g} (from {where})" if margin is not None else MARGIN_NOT_RECORDED)]
    return lines


def cusum_lines(study: dict, budget: int, late_runs=None, fresh_runs=None, repo=None) -> list[str]:
    """Printable lines on the CUSUM detector (:mod:`molpractice.detection`): the rule and its constants, how they were
    chosen on development seeds and the commit that fixed them before the evaluation, the pre-registered fresh-seed
    results (late onset, bug-free, immediate hack; against the batch and top-10 rules on the same runs, exact McNemar),
    the verifiable provenance (:func:`provenance_lines`, git read in ``repo``, default the repository), this
    chapter's stricter test, and — as an extra look outside the pre-registration — the rule on this notebook's late-onset
    runs (``late_runs``) and fresh bug-free GA runs (``fresh_runs``), seeds never used to choose k and h, whose
    half budget is ``budget // 2`` (the study's own lines use the study's budget)."""
    from .detection import CUSUM_H, CUSUM_K, CUSUM_SIGNAL, cusum_table, cusum_text

    r, dev, half, rule = study["results"], study["development"], int(study["budget"]) // 2, study["rule"]
    chosen = next(c for c in dev["candidates"] if c["k"] == rule["k"] and c["h"] == rule["h"])
    late, free, imm = r["late"], r["bug_free"], r["immediate"]
    pv, summary = late["paired_vs_old_rules"], cusum_summary(study)
    lines = [f"CUSUM of the batch gap z ({CUSUM_SIGNAL}): S_t = max(0, S_t−1 + z_t − k), alarm at the first audited batch "
             f"with S_t > h; k = {CUSUM_K:g}, h = {CUSUM_H:g} (it reads the audit after the run: the batch and top-10 rules, "
             "and the redesign's switch, are unchanged)",
             f"k and h chosen on development seeds only (bug-free {_span(dev['seeds']['bug_free'])}, late onset "
             f"{_span(dev['seeds']['late'])}): {chosen['bug_free_fired']} of {chosen['bug_free_n']} "
             f"bug-free runs alarmed, late onset {chosen['late_before_half']} of {chosen['late_n']} before call {half}; "
             f"constants in commit {study['rule_commit'][:7]}",
             f"pre-registered evaluation on seeds fresh for this proxy, rule unchanged — late onset (bug on after {study['onset']} calls, "
             f"seeds {_span(study['seeds']['late'])}): alarm before call {half} in {_k_of_n(late['before_half'])}, before the "
             f"onset in {late['before_onset']}; the batch and top-10 rules on the same runs {late['old_rules_before_half']} of "
             f"{late['before_half']['n']}" + (f" (alarms before the onset, false: {late['old_rules_before_onset']})"
                                              if late.get("old_rules_before_onset") else "") + f" (paired: CUSUM only {pv['cusum_only']}, old rules only {pv['old_only']}, exact "
             f"McNemar p = {pv['exact_mcnemar_p']:.2f})",
             f"  bug-free (seeds {_span(study['seeds']['bug_free'])}): CUSUM alarm at any call in {_k_of_n(free['fired'])}, "
             f"before call {half} in {_k_of_n(free['before_half'])}; the batch and top-10 rules {free['old_rules_fired']} of "
             f"{free['fired']['n']}" + (f" (batch rule {free['old_rules_batch_fired']}, top-10 rule "
                                        f"{free['old_rules_top10_fired']})" if "old_rules_batch_fired" in free else "")
             + f"; the study's pre-stated target (at most 1 alarmed dev bug-free run and a "
             f"simulated N(0, 1) false-alarm rate ≤ {dev.get('target_false_alarm_rate', CUSUM_FALSE_ALARM_TARGET):g}), "
             f"read on the fresh runs as a rate ≤ {CUSUM_FALSE_ALARM_TARGET:g}: "
             + ("met" if summary["false_alarm_met"] else "NOT met as a point estimate"),
             f"  immediate hack (seeds {_span(study['seeds']['immediate'])}): alarm before call {half} in "
             f"{_k_of_n(imm['before_half'])}",
             "this chapter's stricter test (not the issue's): alarm before half the budget in every late-onset run and "
             "in no fresh bug-free run: " + ("met" if summary["met"] else "NOT met") + " on those seeds"]
    lines[2:2] = provenance_lines(study, repo)
    if late_runs is not None or fresh_runs is not None:
        extra = []
        if late_runs:
            t = cusum_table(late_runs, budget)
            extra.append(f"late onset, seeds {sorted(int(x) for x in t.seed)}: {cusum_text(t, budget)}, alarm calls "
                         f"{[None if x != x else int(x) for x in t.cusum_at]}")
        if fresh_runs:
            t = cusum_table(fresh_runs, budget)
            extra.append(f"bug-free GA runs, seeds {int(t.seed.min())}–{int(t.seed.max())}: {cusum_text(t, budget, 'fired')}")
        same = int(study["budget"]) == int(budget)
        lines.append("this notebook's runs (outside the pre-registration; none of these seeds chose k or h"
                     + ("" if same else f"; {budget} calls per run, the study's {study['budget']}: k and h were chosen "
                        "for the study's budget, so these are smoke values") + "): " + "; ".join(extra))
    return lines
