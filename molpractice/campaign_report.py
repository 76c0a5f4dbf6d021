"""The chapter-6 targets table and ``molpractice bench ch06``: :func:`target_rows` turns the studies of
:mod:`molpractice.campaign`, :mod:`molpractice.detection`, :mod:`molpractice.offpolicy` and
:mod:`molpractice.guidance` into the issue's targets (value and whether each is met), and :func:`run_benchmark`
runs them all and prints the table.

The samplers of the diffusion model are compared with the library optimisers at the *same* number of proxy
calls: :func:`molpractice.guidance.sampling_baseline` draws until its budget is spent (a row says whether it was,
in every seed), and the comparisons are paired over the reported seeds.
"""
from __future__ import annotations

import pandas as pd

from .campaign import (at_budget, best_optimiser, budget_contrasts, holm_table, holm_word, late_onset_runs, late_onset_table,
                       optimisation_study, redesign_family, results2_family, sampler_contrast,
                       study_summary, verdict, with_samplers)
from .cusum_report import (CUSUM_FALSE_ALARM_TARGET, _k_of_n, _span, cusum_lines,  # noqa: F401
                           cusum_summary, detector_study, provenance_lines, rule_provenance)
from .offpolicy_redesign import redesign_ope
from .optimizers import SETTINGS, library

# ------------------------------------------------------------------------------------ targets
SAMPLER = "the w = −1 sampler of the label-dropout EGNN (chapter 4's model fine-tuned)"  # its unconditional branch
DEVIATION = (" [deviation from the issue: chapter 4's model is not sampled; the stand-in is this chapter's w = −1 "
             "sampler, so met is not claimed]")


def _calls_list(values) -> list:
    return [int(v) if pd.notna(v) else None for v in values]


def _spent(sampled: pd.DataFrame, budget: int) -> str:
    s = sampled[sampled.proxy == "bug-free"]
    draws = s.draws_to_budget.dropna()
    text = f"{int(s.budget_spent.sum())} of {len(s)} seeds spent all {budget} calls"
    return text + (f" (draws needed {int(draws.min())}–{int(draws.max())})" if len(draws) else "")


def _chapter4_rows(table: pd.DataFrame, ch4: pd.DataFrame, budget: int, best10: dict | None = None) -> list[dict]:
    """The issue's comparison with chapter 4's own model (``ch4``: :func:`molpractice.guidance.sampling_baseline` with
    :func:`molpractice.guidance.chapter4_draw`), at ``budget`` calls (``table``: the optimisers' runs cut there,
    :func:`molpractice.campaign.at_budget`): best optimiser − chapter 4's model on the proxy top-10 (``met``: the
    paired interval lies above 0), on the true top-10 (a measurement: does the gain survive?) and the AUC, on the
    bug-free and the buggy proxy; ``met`` is False whenever a sampler run did not spend its budget. Given
    ``best10`` (:func:`molpractice.guidance.data_top10` of the model's training molecules, bug-free proxy, with
    ``max_heavy_atoms``), the bug-free proxy row prints the training molecules' best 10 (a reference, not a bound)
    and the largest molecule the samplers can emit against the objective's reference molecule; when that is smaller,
    the row is a measurement (``met`` None), not a test of sampling versus optimising."""
    from .guidance import reference_heavy_atoms

    joint = with_samplers(table, ch4)
    best, name = best_optimiser(table), ch4.method.iloc[0]
    every = bool(ch4.budget_spent.all())
    rows = [dict(target=f"{name} draws until its {budget} proxy calls are spent", value=_spent(ch4, budget), met=every)]
    for proxy in ("bug-free", "buggy"):
        c = budget_contrasts(joint, [(best, name)], proxy=proxy).set_index("metric")
        for metric, what in (("proxy_top10", "proxy top-10 (issue: the best optimiser beats random sampling from chapter "
                                             "4's model)"),
                             ("true_top10", "true top-10 (issue: does that gain survive the true score?)"),
                             ("auc_top10", "proxy AUC")):
            met, value = None, c.loc[metric, "verdict"]
            if proxy == "bug-free" and metric == "proxy_top10":
                met = bool(every and c.loc[metric, "lo"] > 0)
                if best10 is not None:
                    opt = float(table[(table.proxy == proxy) & (table.method == best)].proxy_top10.mean())
                    ref, big = reference_heavy_atoms(), best10.get("max_heavy_atoms")
                    ref10 = (f"the best 10 of the model's {best10['n']} training molecules score {best10['proxy_top10']:.3f} "
                             f"on the proxy (a reference, not a bound), the best optimiser's mean {opt:.3f}")
                    if big is not None and big < ref:
                        value += (f" (a measurement, not a test of sampling vs optimising: the samplers emit molecules of at "
                                  f"most {big} heavy atoms, the objective's reference molecule has {ref}; {ref10})")
                        met = False if not every else None
                    else:
                        value += f" ({ref10})"
            rows.append(dict(target=f"{proxy} proxy, {budget} calls each: best optimiser ({best}) − {name} (unconditional, "
                                    f"sampled until the budget is spent), {what} (paired over seeds)",
                             value=value, met=met))
    return rows


def _budget_rows(table: pd.DataFrame, sampled: pd.DataFrame, guided: dict | None, budget: int,
                 deviation: bool = True) -> list[dict]:
    """Target rows of the comparison at equal calls: the best optimiser, random screening and CFG against the
    w = −1 sampler, and the best optimiser against CFG (:func:`budget_contrasts`). ``met`` is None in every
    comparison row: the issue's own rows (best optimiser − sampler, bug-free proxy and true top-10) name chapter
    4's model, which is not sampled, and say so (:data:`DEVIATION`)."""
    rows = []
    samplers = [sampled] + ([guided["sampled"]] if guided else [])
    joint = with_samplers(table, *samplers)
    best, plain = best_optimiser(table), sampled.method.iloc[0]
    spent = _spent(sampled, budget) + (f"; CFG: {_spent(guided['sampled'], budget)}" if guided else "")
    every = bool(all(s.budget_spent.all() for s in samplers))
    rows.append(dict(target=f"the samplers draw until their {budget} proxy calls are spent (in chunks; a draw cap is only "
                            "a safeguard)", value=f"{SAMPLER}: {spent}", met=every))
    cost = "" if every else " [NOT equal calls: a sampler stopped at its draw cap; its AUC is padded]"
    for proxy in ("bug-free", "buggy"):
        c = budget_contrasts(joint, [(best, plain)], proxy=proxy).set_index("metric")
        for metric, what in (("proxy_top10", "proxy top-10" + (" (issue: the best optimiser beats random sampling from the "
                                                             "model)" if deviation else "")),
                             ("true_top10", "true top-10" + (" (issue: does that gain survive the true score?)" if deviation
                                                             else " (does the gain survive the true score?)")),
                             ("auc_top10", "proxy AUC")):
            if proxy == "buggy" and metric == "auc_top10":
                continue
            issue = proxy == "bug-free" and metric != "auc_top10"  # the issue's comparison with chapter 4's model
            rows.append(dict(target=f"{proxy} proxy, {budget} calls each: best optimiser ({best}, highest mean proxy "
                                    f"top-10) − {SAMPLER}, {what} (paired over seeds){cost}"
                                    + (DEVIATION if issue and deviation else ""),
                             value=c.loc[metric, "verdict"], met=None))
    pairs = [("random screening", plain, "random screening − " + SAMPLER + ": starting pools (library vs model samples)")]
    if guided:
        cfg_name = guided["sampled"].method.iloc[0]
        pairs += [(cfg_name, plain, f"CFG (label 1, w = {guided['w']:g}, chosen on the sweep's draws) − {SAMPLER}"),
                  (best, cfg_name, f"best optimiser ({best}) − CFG (w = {guided['w']:g})")]
    metrics = ("proxy_top10", "true_top10", "auc_top10")
    long = budget_contrasts(joint, [(a, b) for a, b, _ in pairs], metrics=metrics)  # these rows: one Holm family
    fam = holm_table(dict(comparison=f"{r.metric}: {r.comparison}", difference=r.difference, lo=r.lo, hi=r.hi, p=r.p)
                     for r in long.itertuples())
    for (a, b, what), comp in zip(pairs, dict.fromkeys(long.comparison)):
        for metric in metrics:
            rows.append(dict(target=f"bug-free proxy, {budget} calls each: {what}, {metric.replace('_', ' ')} (paired over "
                                    f"seeds; Holm over these {len(fam)} comparisons){cost}",
                             value=holm_word(fam, f"{metric}: {comp}"), met=None))
    if guided:
        c = sampler_contrast(pd.concat([guided["sampled"], sampled]), cfg_name, plain, holm=True).set_index("metric")
        for metric, what in (("label1_share", "share of draws with label 1"),
                             ("draws_to_budget", "draws needed to spend the budget")):
            if metric in c.index:
                rows.append(dict(target=f"CFG (w = {guided['w']:g}) − {SAMPLER}: {what} (paired draws and seeds; Holm over "
                                        f"the {len(c)} metrics of that contrast)",
                                 value=f"{c.loc[metric, 'verdict'][:-1]}; Holm: {c.loc[metric, 'verdict (Holm)']})", met=None))
    return rows


def _detector_rows(table: pd.DataFrame, budget: int, late: pd.DataFrame | None, fresh: pd.DataFrame | None,
                   exploit: pd.DataFrame | None = None, cusum: dict | None = None) -> list[dict]:
    """Target rows of the detector. First the issue's target as worded: the batch alarm fires before half the budget
    in the hacked GA runs (an easy test — the hack is present from the first batch — but one that can fail: the same
    rule's count in the hacked random-screening runs is printed next to it) and neither rule fires in the bug-free
    GA runs (reported seeds; given ``fresh`` (:func:`molpractice.detection.false_alarm_study`), fresh seeds; given
    ``cusum``, the detector study's bug-free runs); ``met`` True when all of these hold. Then this chapter's stricter tests, labelled "not the issue's": the
    late-onset runs (given ``exploit`` (:func:`molpractice.detection.exploitation_onset`) the value adds when the
    exploitation was visible in the audit) and their delays, and, given ``cusum`` (:func:`detector_study`), the
    CUSUM detector's pre-registered fresh-seed result (``met``: :func:`cusum_summary`); last, silence on the
    bug-free proxy on its own."""
    hacked = table[(table.proxy == "buggy") & (table.method == "graph GA")]
    clean = table[(table.proxy == "bug-free") & (table.method == "graph GA")]
    screen = table[(table.proxy == "buggy") & (table.method == "random screening")]
    early = bool(len(hacked)) and bool((hacked.alarm_at < budget / 2).all())  # NaN (never fired) compares False
    loud = int((clean.alarm_at.notna() | clean.top_alarm_at.notna()).sum())
    quiet_text = f"bug-free {loud} of {len(clean)} reported"
    issue_met = early and loud == 0
    if fresh is not None:
        k_f, n_f = fresh.attrs["batch_alarm"][:2]
        k_t = fresh.attrs["top10_alarm"][0]
        quiet_text += f", {k_f} of {n_f} on the false-alarm seeds" + ("" if k_t == k_f else f" (top-10 rule {k_t} of {n_f})")
        issue_met = issue_met and k_f == 0 and k_t == 0
    if cusum is not None and "old_rules_batch_fired" in cusum["results"]["bug_free"]:
        fc = cusum["results"]["bug_free"]  # the same two rules on the detector study's bug-free runs (other fresh seeds)
        quiet_text += (f", {fc['old_rules_fired']} of {fc['fired']['n']} in the detector study's bug-free runs (batch "
                       f"{fc['old_rules_batch_fired']}, top-10 {fc['old_rules_top10_fired']})")
        issue_met = issue_met and fc["old_rules_fired"] == 0
    rows = [dict(target="issue's target: the detector fires before the budget is half spent in the hacked GA run and "
                        "does not fire in a run on a bug-free proxy (batch and top-10 rules)",
                 value=("met" if issue_met else "NOT met")
                       + (f" (an easy test: the hack is present from batch 1; the same batch rule fired in "
                          f"{int(screen.alarm_at.notna().sum())} of {len(screen)} hacked random-screening runs, so it can "
                          f"fail): alarms at {_calls_list(hacked.alarm_at)}; top-10 alarms at "
                          f"{_calls_list(hacked.top_alarm_at)}; {quiet_text}"),
                 met=bool(issue_met))]
    if late is not None and len(late):
        from .detection import before_half, exploitation_summary

        bh = before_half(late, budget)
        trivial = bh["trivial"]
        fresh_late = None if cusum is None else cusum["results"]["late"]  # the same rules on fresh late-onset runs
        fresh_text = "" if fresh_late is None else (
            f"; on the detector study's fresh late-onset runs (seeds {min(fresh_late['seeds'])}–{max(fresh_late['seeds'])}) "
            f"the same rules: alarm "
            f"before call {budget // 2} in {fresh_late['old_rules_before_half']} of {len(fresh_late['seeds'])}, before the "
            f"onset (a false alarm) in {fresh_late['old_rules_before_onset']}")
        fresh_met = None if fresh_late is None else bool(fresh_late["old_rules_before_half"] == len(fresh_late["seeds"])
                                                          and fresh_late["old_rules_before_onset"] == 0)
        rows.append(dict(target=f"this chapter's stricter test (not the issue's): late-onset hack (bug on after "
                                f"{int(late.onset.iloc[0])} of {budget} calls), GA: an alarm before half the budget, and "
                                "none before the onset, in every run"
                                + (" — NOT a non-trivial test: the earliest possible alarm lies at or after half the budget"
                                   if trivial else "")
                                + (" (a miss on the reported seeds fails it; a pass there is not fresh for the top-10 rule, "
                                   "whose scale was revised after seed 5, so met is then read from the fresh runs)"),
                         value="reported seeds: " + bh["text"] + fresh_text
                               + ("" if exploit is None else "; " + exploitation_summary(exploit, budget)),
                         met=None if trivial else False if (bh["k"] < bh["n"] or late.fired_before_onset.any())
                         else fresh_met))  # a miss on the reported seeds fails it; a pass there needs the fresh runs
        for rule, col in (("batch", "batch_delay"), ("top-10", "top10_delay")):
            fired = late[col].notna()
            rows.append(dict(target=f"late-onset hack (bug switched on after {int(late.onset.iloc[0])} of {budget} calls), "
                                    f"GA: {rule} alarm delay in calls after the onset, per seed"
                                    + (" (its scale was revised after seed 5: not a fresh test)" if rule == "top-10" else ""),
                             value=f"fired in {int(fired.sum())} of {len(late)}; delays {_calls_list(late[col])} (earliest "
                                   f"possible {_calls_list(late.earliest_possible - late.onset)}); before the onset in "
                                   f"{int(late.fired_before_onset.sum())}", met=None))
    if cusum is not None:
        summary = cusum_summary(cusum)
        late_c, free_c, half_c = cusum["results"]["late"], cusum["results"]["bug_free"], cusum_summary(cusum)["half"]
        rows.append(dict(target=f"this chapter's stricter test (not the issue's): CUSUM detector (k, h fixed on development "
                                f"seeds, commit {cusum['rule_commit'][:7]}; one evaluation on seeds fresh for this proxy "
                                f"{_span(cusum['seeds']['late'])}): alarm before half the budget in every late-onset hacked "
                                "run, and silence on every fresh bug-free run",
                         value=f"late onset: {_k_of_n(late_c['before_half'])} before call {half_c} (batch and top-10 "
                               f"rules on the same runs {late_c['old_rules_before_half']} of {late_c['before_half']['n']}, "
                               f"exact McNemar p = {late_c['paired_vs_old_rules']['exact_mcnemar_p']:.2f}); bug-free: alarm at "
                               f"any call in {_k_of_n(free_c['fired'])}, before call {half_c} in "
                               f"{_k_of_n(free_c['before_half'])}; pre-stated false-alarm target ≤ 1 in 20: "
                               + ("met" if summary["false_alarm_met"] else "not met as a point estimate"),
                         met=summary["met"]))
    quiet = clean.alarm_at.isna() & clean.top_alarm_at.isna()
    value = f"reported seeds: {int((~quiet).sum())} of {len(clean)} runs fired (either rule)"
    met = bool(quiet.all())
    if fresh is not None:
        from .detection import rate_text

        met = met and all(fresh.attrs[rule][0] == 0 for rule in ("batch_alarm", "top10_alarm"))
        value += ("; the false-alarm seeds (not used for tuning), per-run false-alarm rate (Clopper–Pearson 95 %): "
                  + rate_text(fresh))
    if cusum is not None and "old_rules_batch_fired" in cusum["results"]["bug_free"]:
        fc = cusum["results"]["bug_free"]  # the detector study's bug-free runs: the same two rules on other fresh seeds
        value += (f"; the detector study's bug-free GA runs (seeds {_span(cusum['seeds']['bug_free'])}): either rule fired in "
                  f"{fc['old_rules_fired']} of {fc['fired']['n']} (batch {fc['old_rules_batch_fired']}, top-10 "
                  f"{fc['old_rules_top10_fired']})")
        met = met and fc["old_rules_fired"] == 0
    rows.append(dict(target="detector silent in the bug-free GA run (both rules)", value=value, met=met))
    return rows


ISSUE_TIME = ("Notebook full ≤ 12 min (training included, or cached weights with the training path tested), "
              "fast ≤ 1.5 min")  # issue 21's target, quoted
TIME_LIMITS = {"full": 12.0, "fast": 1.5}


def _cache_text(name: str, info: dict) -> str:
    state = "loaded from the cache (warm)" if info["cached"] else "trained in this run (cold)"
    return f"{name} {state}, its training {info['cpu_seconds'] / 60:.1f} CPU-min"


def time_lines(start: dict, models: dict, mode: str) -> list[str]:
    """The run's measured time since ``start`` (:func:`molpractice.rigor_report.run_clock`): wall and CPU (this
    kernel + its reaped child processes, the optimisation workers included) with the 1-minute load average at the
    start and at the end, which trained models came from the
    cache (``models``: ``{name: info}`` with ``cached`` and ``cpu_seconds``, as :func:`molpractice.guidance.
    train_conditional_model` and :func:`molpractice.guidance.chapter4_baseline` return), the estimated CPU time
    of a first run with a cold cache (this run + the recorded training of every model it loaded), and issue 21's
    time target (quoted) with a verdict by wall and by CPU time for this run — the estimate gets none."""
    import os

    from .grading_pool import shutdown
    from .rigor_report import run_clock

    shutdown()  # reaps the grading workers, so their CPU time is counted
    now = run_clock()
    wall = (now["wall"] - start["wall"]) / 60
    cpu = (now["self"] - start["self"] + now["children"] - start["children"]) / 60
    limit = TIME_LIMITS.get(mode, TIME_LIMITS["full"])
    met = lambda m: "met" if m <= limit else "NOT met"  # noqa: E731
    warm = sum(info["cpu_seconds"] for info in models.values() if info["cached"]) / 60
    lines = [f"this run ({mode} mode), after setup: wall {wall:.1f} min, CPU {cpu:.1f} min (this kernel + child processes); "
             f"1-minute load average {start.get('load', float('nan')):.1f} at the start, {now['load']:.1f} at the end, on "
             f"{os.cpu_count()} CPUs",
             "caches: " + "; ".join(_cache_text(name, info) for name, info in models.items()),
             f"issue 21: \"{ISSUE_TIME}\" — this run, ≤ {limit:g} min: {met(wall)} by wall time, {met(cpu)} by CPU time"]
    if warm > 0:
        lines.append(f"a first run with a cold cache trains those models too: about {cpu + warm:.1f} CPU-min (this run + "
                     f"their recorded training, {warm:.1f} CPU-min; an estimate, no verdict) — above {limit:g} min it "
                     "falls under the issue's exception \"cached weights with the training path tested\" (both training "
                     "paths run from scratch with tiny settings in tests/test_guidance.py)" if cpu + warm > limit else
                     f"a first run with a cold cache trains those models too: about {cpu + warm:.1f} CPU-min (this run "
                     f"+ their recorded training, {warm:.1f} CPU-min; an estimate)")
    return lines


def scope_rows(finetune: dict | None = None, ch4_steps: int | None = None) -> list[dict]:
    """The issue's content items 1 and 2 as rows, formatted from the run's constants and numbers. Item 1 (the proxy)
    is met (``met`` True): RDKit computes it, it is docking-like (a 3D shape and colour overlay onto a conformer of
    the reference) and its bug is a realistic one (the overlay's normalisation); the row prints what it is from
    :data:`molpractice.oracles.DOCK_WEIGHT` and :data:`~molpractice.oracles.EMBED_ATTEMPTS`. Item 2, CFG "on chapter
    4's diffusion model" (``finetune``: the ``info`` of :func:`molpractice.guidance.train_conditional_model`;
    ``ch4_steps``: chapter 4's training steps in this mode, default
    ``mp.diffusion_model.SETTINGS.current().train_steps``): ``met`` is computed — None without ``finetune`` or when
    the chosen fine-tune length is the grid's largest (not validated: "grid edge"), else True when the warm start is
    chapter 4's model at its training steps and the chosen model uses the label on the held-out molecules (the lower
    end of loss(∅) − loss(c) above 0), False otherwise."""
    from . import oracles

    w = oracles.DOCK_WEIGHT
    rows = [dict(target="issue item 1: the proxy is \"an RDKit-computed docking-like score with a deliberate, realistic bug\"",
                 value=f"met, as judged here: the proxy is {w:g} · dock + {1 - w:g} · QED, dock a ROCS-like ligand-based shape "
                       "+ colour overlay onto a conformer of zolpidem (RDKit's rdShapeAlign on one seeded ETKDGv3 heavy-atom "
                       f"conformer per molecule; a molecule not embedded in {oracles.EMBED_ATTEMPTS} attempts scores 0) — a "
                       "stand-in for docking, not a receptor docking score: the mean of the shape and colour Tanimotos; "
                       "the bug: each overlap is normalised by the reference's self-overlap alone (the α = 1 Tversky index) "
                       "instead of the Tanimoto, so the fit molecule's excess is never charged — larger molecules and, "
                       "more, ring-dense ones (many overlapping ring features) score higher",
                 met=True)]
    target = "issue item 2: classifier-free guidance \"on chapter 4's diffusion model\""
    if finetune is None:
        return rows + [dict(target=target, value="no fine-tune given: not checked", met=None)]
    from .guidance_model import finetune_table

    if ch4_steps is None:
        from .diffusion_model import SETTINGS as SETTINGS4

        ch4_steps = int(SETTINGS4.current().train_steps)
    chosen = finetune_table(finetune)
    chosen = chosen[chosen.chosen].iloc[0]
    base_steps = finetune.get("base", {}).get("steps")
    edge = int(chosen.steps) == max(int(c) for c in finetune["checkpoints"])
    warm = base_steps == ch4_steps
    uses = bool(chosen.use_lo > 0)
    checks = (f"warm start = chapter 4's model at its {ch4_steps} training steps: {warm} (base {base_steps}); "
              f"label-dropout fine-tune (p_uncond {finetune['p_uncond']:g}, not tuned) for {int(chosen.steps)} steps, "
              f"the lowest held-out conditional denoising loss among {finetune['checkpoints']} on chapter 4's validation "
              f"split ({finetune['n_val']} molecules held out from the fine-tune, {finetune['n_train']} fine-tuned on)"
              + (" — the grid's largest, so the length is not validated (grid edge)" if edge else "")
              + f"; the chosen model uses the label on the held-out molecules (loss(∅) − loss(c) "
              f"{chosen.label_use:+.4f} [{chosen.use_lo:+.4f}, {chosen.use_hi:+.4f}]): {uses}; the w = −1 sampler is the "
              "fine-tuned model's unconditional branch")
    return rows + [dict(target=target, value=checks, met=None if edge else bool(warm and uses))]


def target_rows(ope: dict, table: pd.DataFrame, sweep: pd.DataFrame | None, budget: int,
                sampled: pd.DataFrame | None = None, late: pd.DataFrame | None = None,
                guided: dict | None = None, fresh: pd.DataFrame | None = None, n_boot: int | None = None,
                short: pd.DataFrame | None = None, ch4: pd.DataFrame | None = None, sampler_budget: int | None = None,
                ope_redesign: dict | None = None, exploit: pd.DataFrame | None = None,
                timing: dict | None = None, cusum: dict | None = None, finetune: dict | None = None,
                best10: dict | None = None) -> list[dict]:
    """The issue's targets as rows ``{target, value, met}`` from the studies' numbers (``met`` None: a
    measurement to report, or a deviation from the issue's target as stated in the row). ``sampled``: the w = −1
    sampler's rows (:func:`molpractice.guidance.sampling_baseline`, the stand-in for chapter 4's model);
    ``late``: :func:`late_onset_study`; ``guided``: ``{"w": scale, "sampled": sampling_baseline(CFG at w)}`` —
    without it a row says CFG was not run under the budget; ``fresh``: the false-alarm runs on fresh seeds;
    ``short``: the optimisers' runs cut at ``sampler_budget`` calls (:func:`molpractice.campaign.at_budget`), which the
    samplers then spent (compared there instead of ``table``); ``ch4``: chapter 4's own model sampled the same way
    (the issue's comparison, :func:`_chapter4_rows`); ``ope_redesign``:
    :func:`molpractice.offpolicy_redesign.redesign_ope` (else a row says the redesign was not evaluated off-policy);
    ``exploit``: :func:`molpractice.detection.exploitation_onset` of the late-onset runs (evidence in the late row);
    ``cusum``: :func:`detector_study` (the CUSUM detector's row); ``timing``: ``{name: info}`` of the trained models (a row says which came from the cache; the time itself is
    :func:`time_lines`'); ``finetune``: the fine-tuned model's ``info`` (its row in :func:`scope_rows`); ``best10``:
    :func:`molpractice.guidance.data_top10` of the model's training molecules (read in :func:`_chapter4_rows`). The last rows
    are :func:`scope_rows` (the issue's content items 1 and 2: how each was delivered)."""
    from .offpolicy import paired_rmse_difference

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
    n_boot = n_boot or SETTINGS.current().n_boot
    m, lo, hi = paired_rmse_difference(ope["estimates"], best, "IPS", ope["problem"].true_value, n_boot=n_boot)
    rows.append(dict(target="clipping trades bias for variance (clip with the lowest RMSE against the known V(π); RMSE "
                            "difference with a paired bootstrap 95 % CI over the logs)",
                     value=f"{best}: bias {s.loc[best, 'bias']:+.4f}, sd {s.loc[best, 'sd']:.4f} vs IPS sd "
                           f"{s.loc['IPS', 'sd']:.4f}; RMSE {s.loc[best, 'rmse']:.4f} vs {s.loc['IPS', 'rmse']:.4f}, "
                           f"difference {m:+.4f} [{lo:+.4f}, {hi:+.4f}]",
                     met=bool(s.loc[best, "bias"] < -2 * s.loc[best, "bias_se"] and hi < 0)))
    family = results2_family(table)  # Results 2's paired table: one Holm family
    for metric, label in (("proxy_top10", "proxy"), ("true_top10", "true")):
        for base in ("random proposals", "random screening"):
            rows.append(dict(target=f"bug-free proxy: GA − {base}, {label} top-10 (paired over seeds; Holm over the "
                                    f"{len(family)} comparisons of Results 2's paired table)",
                             value=holm_word(family, f"{metric}: GA − {base} (bug-free)"), met=None))
    cut, at = (table, budget) if short is None else (short, sampler_budget or budget)
    if ch4 is not None:
        rows += _chapter4_rows(cut, ch4, at, best10=best10)
    if sampled is not None:
        rows += _budget_rows(cut, sampled, guided, at, deviation=ch4 is None)
    if guided is None:
        rows.append(dict(target="classifier-free guidance under the same call budget [deviation from the issue]",
                         value="not run", met=None))
    rows += _detector_rows(table, budget, late, fresh, exploit, cusum)
    if "redesigned" in set(table.proxy):  # one Holm family over every redesign comparison (review 06m finding 1)
        rfam = redesign_family(table)
        for key, label in (("redesigned − hacked GA", "redesign (hacked run continued after its alarm) − hacked GA"),
                           ("redesigned + SA − hacked GA", "redesign with the SA penalty (SA calls budgeted) − hacked GA"),
                           ("redesigned + SA − redesign without SA",
                            "redesign with the SA penalty (SA calls budgeted) − redesign without SA")):
            for metric in ("true_top10", "sa_top10", "heavy_atoms_top10"):
                if f"{metric}: {key}" not in rfam.index:
                    continue
                rows.append(dict(target=f"{label}, {metric.replace('_', ' ')} (paired over seeds; Holm over the "
                                        f"{len(rfam)} redesign comparisons)", value=holm_word(rfam, f"{metric}: {key}"),
                                 met=(rfam.loc[f"{metric}: {key}", "verdict (Holm)"] == "higher")
                                 if key == "redesigned − hacked GA" and metric == "true_top10" else None))
    rows += _ope_rows(ope_redesign)
    if sweep is not None:
        for name, label in (("label_share_valid", "label-1 share among valid connected samples (Clopper–Pearson 95 % CI)"),
                            ("validity", "validity (Clopper–Pearson 95 % CI)"),
                            ("connected", "connected (valid, one fragment; Clopper–Pearson 95 % CI)"),
                            ("diversity", "diversity of valid connected molecules (bootstrap 95 % CI)"),
                            ("scaffold_diversity", "scaffold diversity of valid connected molecules (two different "
                                                   "molecules, different Murcko scaffolds; bootstrap 95 % CI)"),
                            ("plausible", "plausible by chapter 4's checks, over all samples (Clopper–Pearson 95 % CI)"),
                            ("plausible_valid", "plausible among valid connected samples (Clopper–Pearson 95 % CI)")):
            if name not in sweep:
                continue
            ref = sweep.attrs.get("train_diversity") if name in ("diversity", "scaffold_diversity") else None
            rows.append(dict(target=f"guidance sweep at {len(sweep)} scales: {label}",
                             value="; ".join(f"w={r['w']:g}: {r[name]:.2f} [{r[name + '_lo']:.2f}, {r[name + '_hi']:.2f}]"
                                             for _, r in sweep.iterrows())
                                   + ("" if ref is None else f"; the {ref['n']} training molecules {ref[name]:.2f} "
                                                             f"[{ref[name + '_lo']:.2f}, {ref[name + '_hi']:.2f}]"),
                             met=None))
        if {"label_share_valid_lo", "label_share_valid_hi"} <= set(sweep) and len(sweep) >= 4 and {0.0} < set(sweep.w):
            from .guidance_model import SETTINGS as GUIDANCE_SETTINGS
            from .guidance_sweep import sweep_family

            w_hi = float(sweep.w.max())
            key = f"w = {w_hi:g} − w = 0: label_share_valid"  # the notebook's family: the same n_boot and seed
            fam = (sweep_family(sweep, n_boot=GUIDANCE_SETTINGS.current().n_boot, seed=1)
                   if "per_sample" in sweep.attrs else None)
            if fam is not None and key in fam.index:
                n_boot_g = GUIDANCE_SETTINGS.current().n_boot
                floor = 2 / (n_boot_g + 1)  # the bootstrap's smallest p: Holm cannot reject below floor × family size
                testable = floor * len(fam) < 0.05
                rows.append(dict(target=f"guidance sweep at {len(sweep)} scales (issue: ≥ 4): property shift, the label-1 "
                                        f"share among valid connected samples, w = {w_hi:g} − w = 0 (paired bootstrap; Holm "
                                        f"over the sweep's {len(fam)} comparisons)",
                                 value=holm_word(fam, key) + ("" if testable else
                                                              f" — not testable here: with {n_boot_g} bootstrap draws the "
                                                              f"smallest p is {floor:.3f}, too coarse for Holm over "
                                                              f"{len(fam)} comparisons"),
                                 met=bool(fam.loc[key, "verdict (Holm)"] == "higher") if testable else None))
        if "plausible" not in sweep:
            rows.append(dict(target="guidance sweep: plausibility of the samples by chapter 4's checks — deviation from "
                                    "the issue", value="not run", met=None))
    if timing is not None:
        rows.append(dict(target=f"issue 21: \"{ISSUE_TIME}\"",
                         value="measured by the notebook's last cell (wall and CPU since setup); caches in this run: "
                               + "; ".join(_cache_text(n, i) for n, i in timing.items())
                               + "; both training paths are tested from scratch with tiny settings (tests/test_guidance.py)",
                         met=None))
    return rows + scope_rows(finetune)


def _ope_rows(res: dict | None) -> list[dict]:
    """Target rows of the off-policy evaluation of the redesign (issue: "evaluate the fix with an off-policy
    estimator"); ``met``: DR's interval from one log contains the exact value and its paired difference
    redesign − hacked has the sign of the exact one, with an interval excluding 0 — and DR's one-log intervals are
    not shown to undercover (the Clopper–Pearson interval of their coverage over logs, of the value and of the
    difference, reaches 0.95)."""
    target = ("off-policy evaluation of the redesign (issue: evaluate the fix with an off-policy estimator): the redesign "
              "as a softmax selection policy over the library, from one log of uniform screening with true scores "
              "(one log: an illustration; its intervals' coverage over logs measured)")
    if res is None:
        return [dict(target=target, value="not run", met=None)]
    one = res["one"]
    dr = one.loc["DR"]
    exact_diff = res["V_redesign"] - res["V_hacked"]
    value = "; ".join(f"{e} {r.estimate:.3f} [{r.lo:.3f}, {r.hi:.3f}], redesign − hacked {verdict(r.difference, r.difference_lo, r.difference_hi)}"
                      for e, r in one.iterrows())
    m, lo, hi = res["on_policy"]
    value += (f"; exact V(redesign) {res['V_redesign']:.3f}, V(hacked) {res['V_hacked']:.3f}; on-policy ({res['true_calls']} "
              f"draws) {m:.3f} [{lo:.3f}, {hi:.3f}]; {res['true_calls']} true calls, ESS {res['ess_one']['redesign']:.1f}")
    cov = res["coverage"]
    value += "; coverage over logs (value, difference): " + ", ".join(
        f"{e} {c.k_value / c.n:.2f} [{c.value_lo:.2f}, {c.value_hi:.2f}], {c.k_difference / c.n:.2f} "
        f"[{c.difference_lo:.2f}, {c.difference_hi:.2f}]" for e, c in cov.iterrows()) + f" of {int(cov.n.iloc[0])} logs"
    same_sign = (dr.difference_lo > 0 and exact_diff > 0) or (dr.difference_hi < 0 and exact_diff < 0)
    valid = cov.loc["DR", "value_hi"] >= 0.95 and cov.loc["DR", "difference_hi"] >= 0.95
    return [dict(target=target, value=value, met=bool(dr.lo <= res["V_redesign"] <= dr.hi and same_sign and valid))]


# ------------------------------------------------------------------------------------ benchmark
def run_benchmark(implementation: str | None = None, seeds: int | None = None, json_path=None,
                  guidance: bool = True) -> dict:
    """``molpractice bench ch06``: the off-policy study, the optimisation study (every optimiser on the buggy,
    bug-free and redesigned objectives, ``seeds`` seeds), the false-alarm runs on fresh seeds, the late-onset
    runs, the guidance sweep (with chapter 4's plausibility checks), chapter 4's model sampled unguided, the
    fine-tuned model without a label (w = −1) and with CFG at the scale chosen on the
    sweep's draws, each drawing until its proxy budget is spent; prints the targets table.

    No model choice here is made on a test split: the GA settings are the chapter's fixed ``SETTINGS`` (tuned on
    seeds 0-1; the reported seeds start at ``first_seed``); the redesign's feature and slope are fitted on the
    hacked run's own audit (up to its alarm); the guided model is chapter 4's model fine-tuned with label dropout,
    its fine-tune length chosen on chapter 4's validation split (held-out conditional denoising loss).
    """
    import json
    import time
    from pathlib import Path

    from . import detection
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
    seeds_ = sorted(study["table"].seed.unique())
    late_runs = late_onset_runs(seeds_, cfg)
    late = late_onset_table(late_runs)
    print(late.to_string(index=False))
    fresh_runs: list = []
    fresh = detection.false_alarm_study(cfg, seeds=range(max(seeds_) + 1, max(seeds_) + 1 + cfg.false_alarm_runs),
                                        runs_out=fresh_runs)
    print(detection.rate_table({"bug-free graph GA": fresh}).to_string())
    cusum = detector_study()
    print("\n".join(cusum_lines(cusum, cfg.budget, late_runs, fresh_runs)))
    sweep = sampled = guided = info = None
    if guidance:
        ch04 = load_chapter("ch04_diffusion", implementation)
        gcfg = guidance_module.SETTINGS.current()
        data = guidance_module.load_data()
        model, info = guidance_module.train_conditional_model(ch04, data, gcfg, progress=False,
                                                              implementation=implementation)
        print(f"chapter 4's model fine-tuned with label dropout: {'loaded from cache' if info['cached'] else 'trained'} "
              f"({info['steps']} fine-tune steps)")
        print("\n".join(guidance_module.finetune_lines(info)))
        sweep = guidance_module.guidance_sweep(ch04, ch06, model, data, gcfg)
        sb = cfg.sampler_budget
        sampled = guidance_module.sampling_baseline(ch04, ch06, model, data, sb, seeds_, cfg.sampling_chunk, gcfg,
                                                    max_draws=cfg.sampling_max_draws)
        w_star = guidance_module.choose_scale(sweep)
        guided = dict(w=w_star, sampled=guidance_module.sampling_baseline(
            ch04, ch06, model, data, sb, seeds_, cfg.sampling_chunk, gcfg, w=w_star, max_draws=cfg.sampling_max_draws))
        ch4, info4 = guidance_module.chapter4_baseline(ch04, data, sb, seeds_, cfg.sampling_chunk, cfg.sampling_max_draws,
                                                       implementation=implementation)
        print(f"chapter 4's model: {'loaded from cache' if info4['cached'] else 'trained'} ({info4['steps']} steps)")
        short = at_budget(study["runs"], sb)
        joint = with_samplers(short, sampled, guided["sampled"], ch4)
        print(study_summary(joint).to_string(index=False))
    red = study["table"][study["table"].proxy == "redesigned"]
    ope_red = redesign_ope(ch06, library(), float(red.slope.mean()), str(red.feature.mode().iloc[0]), cfg.ope_temperature,
                           cfg.ope_rounds, cfg.ope_logs, cfg.n_boot) if len(red) and red.slope.notna().any() else None
    rows = target_rows(ope, study["table"], sweep, cfg.budget, sampled, late=late, guided=guided, fresh=fresh,
                       short=short if guidance else None, ch4=ch4 if guidance else None, sampler_budget=cfg.sampler_budget,
                       ope_redesign=ope_red, cusum=cusum, finetune=info,
                       best10=guidance_module.data_top10(data, bug=False) if guidance else None)
    with pd.option_context("display.width", 250, "display.max_colwidth", None):
        print(pd.DataFrame(rows).to_string(index=False))
    print("model choices: the GA settings are fixed in SETTINGS (set during development on the bug-free proxy's top-10, "
          f"seeds 0-1, never on the true score; reported seeds start at {cfg.first_seed}); the redesign's feature and slope "
          "are fitted on each hacked run's own audit up to its alarm; the guided model is chapter 4's model fine-tuned with "
          "label dropout for the step count chosen by held-out conditional denoising loss on chapter 4's validation split "
          "(molecules held out from the fine-tune); the sampling baseline draws from it without a label, in chunks of "
          f"{cfg.sampling_chunk}, until its {cfg.sampler_budget} proxy calls are spent (cap {cfg.sampling_max_draws} draws), and CFG "
          "the same way at the scale with the largest label-1 yield on the sweep's draws (seed 0), reported on fresh "
          "draws (seeds 10 000 + s + 100 000 · chunk).")
    if run_mode() == "fast":
        print("fast mode: small budgets, few logs and chapter 4's tiny fast model — these numbers are not meaningful")
    report = {"chapter": "ch06", "mode": run_mode(), "implementation": implementation,
              "seconds_total": time.perf_counter() - start, "results": rows,
              "optimisation": study["table"].to_dict("records"),
              "offpolicy": ope["summary"].reset_index().to_dict("records"),
              "guidance": None if sweep is None else sweep.to_dict("records")}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report


def unbiased_exclusions_line(res: dict, estimators=("IPS", "DR"), level: float = 0.95) -> str:
    """How many of the printed bias intervals (``res["many"]`` of :func:`molpractice.offpolicy_redesign.redesign_ope`)
    of estimators that are exactly unbiased here (``estimators``: known propensities, full support) exclude 0, and
    the chance that at least one of that many ``level`` intervals excludes 0 by chance alone (1 − level^n: the
    approximation of independent intervals)."""
    many = res["many"].reset_index()
    rows = many[many.estimator.isin(estimators)]
    if rows.empty:
        raise ValueError(f"no bias rows of {list(estimators)} in the study")
    k = int(((rows.bias_lo > 0) | (rows.bias_hi < 0)).sum())
    return (f"bias intervals of the exactly unbiased estimators ({', '.join(estimators)}): {k} of {len(rows)} exclude 0; "
            f"chance alone gives at least one exclusion among {len(rows)} {level:.0%} intervals with probability "
            f"{1 - level ** len(rows):.2f} (independent intervals assumed)")
