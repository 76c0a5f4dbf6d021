"""The sentences notebook 03 prints about its own numbers, computed from them (so no sentence claims more
than the numbers show): recipe cross-validation per fold, training time against its target, epistemic share
per split with a two-sample interval, the Spearman verdict against its calibrated band, the ensemble-vs-members
z² decomposition, ENCE next to the other reference checks, the PIT picture, the diagnostics and the
interview answers' pieces.

Every function takes plain dicts/arrays the notebook already holds (``pred[split]`` with ``mean``, ``var``,
``alea``, ``epi``, ``members_mean``, ``members_var``, ``y``, ``err``) and returns a list of lines (or a dict).
"""
from __future__ import annotations

import math

import numpy as np

from . import calibration as C


def training_time_line(ensembles: dict, target: float = 60.0) -> str:
    """Average and slowest seconds per model against the per-model target.

    The verdict uses each model's CPU time (``Ensemble.cpu_seconds``, user + sys of this process): with one
    torch thread it is what the model takes on an idle machine, and unlike wall time it does not grow when
    other programs share the cores. Wall time is printed next to it. Ensembles without CPU times fall back to
    wall time (said so in the line). With worker processes (:func:`molpractice.ensembles.fit_ensembles`) each
    model's wall time is measured in its worker, so the summed wall time exceeds the elapsed time.
    """
    use_cpu = all(len(getattr(e, "cpu_seconds", [])) == len(e.seconds) > 0 for e in ensembles.values())
    rows = [(name, i, (e.cpu_seconds if use_cpu else e.seconds)[i], w)
            for name, e in ensembles.items() for i, w in enumerate(e.seconds)]
    total, wall = sum(r[2] for r in rows), sum(r[3] for r in rows)
    name, seed, slowest, _ = max(rows, key=lambda x: x[2])
    mean = total / len(rows)
    kind = "CPU s" if use_cpu else "s of wall time"
    line = (f"{len(rows)} models in {total:.0f} {kind}: {mean:.1f} {kind} per model on average, slowest "
            f"{slowest:.1f} ({name} seed {seed}); target ≤ {target:g} s per model: "
            f"{'met' if mean <= target else 'NOT met'} on average, {'met' if slowest <= target else 'NOT met'} "
            f"by the slowest model")
    if use_cpu:
        walls = [r[3] for r in rows]
        line += (f" — on CPU time (≈ an idle machine's wall time with one torch thread); on this run's wall time "
                 f"({wall:.0f} s summed over the models, each timed in the process that trained it, machine load and "
                 f"any worker running alongside included): {wall / len(rows):.1f} s per model on average "
                 f"({'met' if wall / len(rows) <= target else 'NOT met'}), slowest {max(walls):.1f} s "
                 f"({'met' if max(walls) <= target else 'NOT met'})")
    return line


def _share(a, e):
    return float(np.sum(e) / (np.sum(a) + np.sum(e)))


def epistemic_share_lines(pred: dict, similarity: dict, n_boot: int | None = None, seed: int = 0) -> list[str]:
    """Epistemic share of the total variance per split with a bootstrap interval over test molecules, and the
    scaffold − random difference with a two-sample bootstrap (each test set resampled on its own)."""
    lines, boots = [], {}
    for k, (name, p) in enumerate(pred.items()):
        lo, hi, vals = C.bootstrap_interval(_share, (p["alea"], p["epi"]), n_boot=n_boot, seed=seed + k)
        boots[name] = vals
        lines.append(f"{name:>8}: mean aleatoric var {np.mean(p['alea']):.3f}, epistemic var {np.mean(p['epi']):.3f}; "
                     f"epistemic share {_share(p['alea'], p['epi']):.1%} (percentile bootstrap 95% CI {lo:.1%}–{hi:.1%}); median "
                     f"similarity to train {np.median(similarity[name]):.2f}")
    (a, pa), (b, pb) = list(pred.items())[:2]
    diff = boots[a] - boots[b]
    lo, hi = np.quantile(diff, [0.025, 0.975])
    d = _share(pa["alea"], pa["epi"]) - _share(pb["alea"], pb["epi"])
    verdict = "higher" if lo > 0 else "lower" if hi < 0 else "no detectable difference"
    lines.append(f"epistemic share {a} − {b} setup: {100 * d:+.1f} percentage points (two-sample percentile bootstrap "
                 f"95% CI {100 * lo:+.1f} to {100 * hi:+.1f} pp) → "
                 f"{verdict}; this compares two split setups (two ensembles on two training sets, two test sets), "
                 f"resampling test molecules only, not training seeds or splits")
    return lines


def spearman_lines(refs: dict, pred: dict, evidence: list[dict], chosen: dict, n_boot: int | None = None) -> list[str]:
    """The Spearman(|error|, σ) verdict against its calibrated band, with Spearman's own bootstrap interval, and
    what the cross-validation inside train said for the chosen recipe."""
    lines, test_ci = [], (0.0, 0.0)
    for name, ref in refs.items():
        sp, p = ref["spearman"], pred[name]
        lo, hi, _ = C.bootstrap_interval(C.spearman, (p["err"], np.sqrt(p["var"])), n_boot=n_boot)
        if name == "scaffold":
            test_ci = (lo, hi)
        if sp["low"] <= sp["observed"] <= sp["high"]:
            verdict = "no detectable difference from a calibrated σ"
            if sp["low"] <= 0 <= sp["high"]:
                verdict += (" (the band also contains 0: this test set cannot tell a calibrated σ from one that "
                            "ranks nothing)")
        else:
            verdict = "below" if sp["observed"] < sp["low"] else "above"
            verdict = f"{verdict} what a calibrated σ gives"
        outside = [k for k, x in ref.items() if C.band_position(x) in ("above", "below")]
        lines.append(f"{name:>8}: Spearman(|error|, σ) {sp['observed']:.4f} (percentile bootstrap 95% CI {lo:.2f} to {hi:.2f}); a "
                     f"calibrated model with the same σ gets {sp['median']:.3f} (95% band {sp['low']:.3f} to "
                     f"{sp['high']:.3f}) → {verdict}; metrics outside their calibrated band: {', '.join(outside) or 'none'}")
    row = next(r for r in evidence if (r["beta"], r["select_on"]) == (chosen["beta"], chosen["select_on"]))
    folds = np.asarray(row["spearman_folds"], dtype=float)
    se_cv = float(np.std(folds, ddof=1) / math.sqrt(folds.size))
    se_test = (test_ci[1] - test_ci[0]) / 3.92  # the scaffold test set's bootstrap interval as a standard error
    diff = refs["scaffold"]["spearman"]["observed"] - row["spearman"]
    z = diff / math.sqrt(se_cv ** 2 + se_test ** 2)
    lines.append(f"cross-validation inside the scaffold training part, same recipe: pooled out-of-fold Spearman "
                 f"{row['spearman']:+.3f}, folds [{', '.join(f'{x:+.2f}' for x in folds)}] (rough fold-level SE "
                 f"{se_cv:.2f}, {folds.size - 1} df) vs "
                 f"{refs['scaffold']['spearman']['observed']:.2f} on the scaffold test set (SE ≈ {se_test:.2f}): difference "
                 f"{diff:+.2f}, {abs(z):.1f} combined SE → "
                 + ("within their noise: the test set and the folds do not detectably disagree" if abs(z) < 2
                    else "larger than their noise: the test set and the folds disagree"))
    lines.append(spearman_reconciliation(refs["scaffold"]["spearman"], test_ci, row["spearman"],
                                         len(pred["scaffold"]["y"]), cv_n=row.get("n"), cv_folds=folds))
    return lines


def z2_decomposition(p: dict) -> dict:
    """How the ensemble's mean z² differs from its members': (i) the ensemble mean scored with the members'
    average variance, (ii) adding the epistemic variance. Also the MSE and mean-variance ratios ensemble / average
    member, and the members' coverage68."""
    mm, mv, y = np.asarray(p["members_mean"]), np.asarray(p["members_var"]), np.asarray(p["y"])
    z2_members = float(np.mean([np.mean((y - m) ** 2 / v) for m, v in zip(mm, mv)]))
    z2_i = float(np.mean((y - p["mean"]) ** 2 / p["alea"]))
    z2_ens = float(np.mean((y - p["mean"]) ** 2 / (p["alea"] + p["epi"])))
    mse_ratio = float(np.mean((y - p["mean"]) ** 2) / np.mean((y[None] - mm) ** 2))
    var_ratio = float(np.mean(p["alea"] + p["epi"]) / np.mean(mv))
    cov68 = [C.interval_coverage(m, np.sqrt(v), y, 0.68) for m, v in zip(mm, mv)]
    return {"members": z2_members, "mean_averaged": z2_i, "ensemble": z2_ens, "mse_ratio": mse_ratio,
            "var_ratio": var_ratio,
            "members_coverage68": (float(np.mean(cov68)), float(np.std(cov68, ddof=1)) if len(cov68) > 1 else 0.0)}


def _z2_steps(mean, alea, epi, mm_t, mv_t, y):
    """(members' average mean z², step (i), step (ii)) on these molecules; members arrays are (n, M)."""
    members = float(np.mean((y[:, None] - mm_t) ** 2 / mv_t))
    return members, float(np.mean((y - mean) ** 2 / alea)), float(np.mean((y - mean) ** 2 / (alea + epi)))


def z2_per_molecule(p: dict) -> dict:
    """The inequality behind the decomposition, checked molecule by molecule. f(x, v) = x²/v is jointly convex
    (v > 0), so by Jensen's inequality (y − μ̄)²/σ̄²_alea ≤ mean_m (y − μ_m)²/σ_m² for every molecule (step (i),
    with μ̄ and σ̄²_alea the members' averages), and step (ii) only enlarges the denominator. Returns the number of
    molecules where each step does not raise z² (``"i"``, ``"ii"``) out of ``"n"`` — all of them, up to rounding."""
    mm, mv, y = np.asarray(p["members_mean"]), np.asarray(p["members_var"]), np.asarray(p["y"])
    members = np.mean((y[None] - mm) ** 2 / mv, axis=0)
    step_i = (y - p["mean"]) ** 2 / p["alea"]
    step_ii = (y - p["mean"]) ** 2 / (p["alea"] + p["epi"])
    tol = 1e-12 * np.maximum(1.0, members)
    return {"i": int(np.sum(step_i <= members + tol)), "ii": int(np.sum(step_ii <= step_i + tol)), "n": int(y.size)}


def z2_lines(pred: dict, n_boot: int | None = None) -> list[str]:
    """Per split: the members' average mean z² with its bootstrap interval and a verdict against 1 (where the
    members started), then the two steps as sizes only — their sign is fixed by the joint convexity of x²/v
    (:func:`z2_per_molecule`, whose molecule count is printed), so an interval would test a certainty."""
    lines = []
    for name, p in pred.items():
        d, pm = z2_decomposition(p), z2_per_molecule(p)
        c, s = d["members_coverage68"]
        arrays = (p["mean"], p["alea"], p["epi"], np.asarray(p["members_mean"]).T, np.asarray(p["members_var"]).T, p["y"])
        lo, hi, _ = C.bootstrap_interval(lambda *a: _z2_steps(*a)[0], arrays, n_boot=n_boot)
        start = ("over-confident (interval above 1)" if lo > 1 else "under-confident (interval below 1)" if hi < 1
                 else "no detectable direction (interval contains 1)")
        lines.append(f"{name:>8}: mean z² members (average) {d['members']:.3f} (95% CI {lo:.2f}–{hi:.2f}: {start}) → "
                     f"(i) ensemble mean, members' average variance {d['mean_averaged']:.3f} "
                     f"({d['mean_averaged'] - d['members']:+.3f}; z² not raised for {pm['i']} of {pm['n']} molecules) → "
                     f"(ii) + epistemic variance {d['ensemble']:.3f} ({d['ensemble'] - d['mean_averaged']:+.3f}; "
                     f"{pm['ii']} of {pm['n']}); both steps ≤ 0 by construction (sizes only); MSE ×{d['mse_ratio']:.2f}, "
                     f"mean variance ×{d['var_ratio']:.2f} (ratios, no interval computed); members' coverage68 "
                     f"{c:.3f} ± {s:.3f} (spread over members, no interval computed)")
    return lines


def width_ratio_line(sizes, widths, se=None) -> str:
    """The measured ratio of interval widths (smallest n / largest n) next to the 1/√n prediction
    √(n_last / n_first); no verdict (the widths come from one bootstrap run each). With ``se`` (Monte Carlo
    standard error of the ratio) it is printed too."""
    w = np.asarray(widths, dtype=float)
    measured, predicted = float(w[0] / w[-1]), math.sqrt(sizes[-1] / sizes[0])
    mc = "" if se is None else f" ± {se:.2f} (Monte Carlo SE)"
    return (f"width ratio n = {sizes[0]} vs n = {sizes[-1]}: measured {measured:.2f}{mc}, 1/√n predicts {predicted:.2f} "
            f"({measured / predicted - 1:+.0%}; one bootstrap run per width, shown without a verdict)")


def pit_lines(pred: dict) -> list[str]:
    """Fraction of test observations below their predicted mean (PIT ≤ 0.5) with its exact binomial interval."""
    lines = []
    for name, p in pred.items():
        below = int(np.sum(p["y"] < p["mean"]))
        lo, hi = C.clopper_pearson(below, len(p["y"]))
        where = "no detectable bias" if lo <= 0.5 <= hi else "a detectable bias"
        lines.append(f"{name:>8}: {below / len(p['y']):.3f} of test observations below their mean (PIT < 0.5; "
                     f"exact 95% CI {lo:.2f}–{hi:.2f}) → {where}")
    return lines


def ence_lines(suites: dict, refs: dict) -> list[str]:
    """ENCE against its calibrated band, read together with the other reference checks of the same split."""
    lines = []
    for name, s in suites.items():
        med, lo, hi = s["ence"]["reference"]
        e = s["ence"]["ence"]
        n_bins = len(s["ence"]["rmv"])
        per_bin = s["ence"].get("n", 0) // n_bins
        inside = lo <= e <= hi
        others = [k for k in ("ece", "coverage68", "nll") if C.band_position(refs[name][k]) in ("above", "below")]
        line = (f"{name:>8}: ENCE {e:.3f}; calibrated reference {med:.3f} (95% band {lo:.3f}–{hi:.3f}) → "
                f"{'inside' if inside else 'outside'} the band")
        if inside and others:
            line += (f"; ENCE ({n_bins} bins of ~{per_bin} molecules; the bin count fixed before the test set was read) "
                     f"did not detect the miscalibration that {', '.join(others)} detect on this split")
        elif inside:
            line += "; no detectable error-based miscalibration, in line with this split's other reference checks"
        lines.append(line)
    return lines


def mean_z2_direction(z_val, z_test, n_boot: int | None = None, seed: int = 0, val_ci=None) -> dict:
    """Which way would validation and test move the variance scale? Mean z² (the NLL-optimal s²) of each part
    with its own bootstrap 95 % interval, and the two-sample bootstrap interval of test − validation. A
    direction ("above 1": over-confident, "below 1": under-confident) is named only for a part whose interval
    excludes 1; "same/opposite direction" only when both do; else "no detectable direction". Returns
    ``{"val", "test": (value, low, high), "diff": (value, low, high), "direction", "line"}``. The validation part is
    resampled with seed 0, the same resamples as the s² interval of
    :func:`molpractice.calibration.recalibration_comparison` (mean z² *is* the NLL-optimal s²); ``val_ci`` = that
    interval, printed as is so one statistic has one interval."""
    z_val, z_test = np.asarray(z_val, dtype=float), np.asarray(z_test, dtype=float)
    m2 = lambda z: float(np.mean(z ** 2))  # noqa: E731
    lo_v, hi_v, b_v = C.bootstrap_interval(m2, (z_val,), n_boot=n_boot, seed=0)
    if val_ci is not None:
        lo_v, hi_v = (float(x) for x in val_ci)
    lo_t, hi_t, b_t = C.bootstrap_interval(m2, (z_test,), n_boot=n_boot, seed=seed + 100)
    diff = b_t - b_v[: len(b_t)]
    lo_d, hi_d = (float(x) for x in np.quantile(diff, [0.025, 0.975]))
    side = lambda lo, hi: "above 1" if lo > 1 else "below 1" if hi < 1 else None  # noqa: E731
    sv, st = side(lo_v, hi_v), side(lo_t, hi_t)
    if sv and st:
        word = "over-confident" if sv == "above 1" else "under-confident"
        direction = (f"same direction: both parts detectably {word} (both intervals {sv})" if sv == st else
                     "opposite directions (validation " + sv + ", test " + st + "): variance scaling fitted on "
                     "validation moves the test σ's the wrong way")
    else:
        unclear = [part for part, x in (("validation", sv), ("test", st)) if x is None]
        verb = "intervals contain" if len(unclear) > 1 else "interval contains"
        direction = f"no detectable direction ({' and '.join(unclear)} {verb} 1)"
    d = m2(z_test) - m2(z_val)
    differ = ("validation and test differ detectably" if lo_d > 0 or hi_d < 0 else
              "no detectable difference between validation and test"
              + (", so this test set cannot show that the scale fails to transfer (it does not show that it "
                 "transfers either: the interval is wide)" if sv and st and sv == st else ""))
    line = (f"mean z² validation {m2(z_val):.3f} (percentile bootstrap 95% CI {lo_v:.3f}–{hi_v:.3f}), test {m2(z_test):.2f} (95% CI "
            f"{lo_t:.2f}–{hi_t:.2f}) → {direction}; test − validation {d:+.2f} (two-sample 95% CI {lo_d:+.2f} to "
            f"{hi_d:+.2f}) → {differ}")
    return {"val": (m2(z_val), lo_v, hi_v), "test": (m2(z_test), lo_t, hi_t), "diff": (d, lo_d, hi_d),
            "direction": direction, "line": line}


def diagnostic_lines(data: dict, pred: dict, results: dict, refs: dict, ensembles: dict, chapter3, recal: dict,
                     n_boot: int | None = None) -> list[str]:
    """Diagnostics 1–3 with their answers: (1) validation vs test variance scale (:func:`mean_z2_direction`,
    with intervals) and bias, (2) σ/3 against the ECE's calibrated band, (3) member collapse."""
    lines = []
    for k, (name, d) in enumerate(data.items()):
        p, r = pred[name], results[name]["predictions"]
        z_val = (d.y["val"] - r["val_mean"]) / np.sqrt(r["val_var"])
        z_te = (p["y"] - p["mean"]) / np.sqrt(p["var"])
        dz = mean_z2_direction(z_val, z_te, n_boot=n_boot, seed=k, val_ci=recal[name].get("s2_ci"))
        se_val, se_te = float(np.std(z_val) / math.sqrt(z_val.size)), float(np.std(z_te) / math.sqrt(z_te.size))
        vs = recal[name]["changes"][("variance_scaled", "ece")]
        bias = "; ".join(f"mean z {part} {z.mean():+.2f} ± {2 * se:.2f} (2 SE) → "
                         f"{'detectable bias' if abs(z.mean()) > 2 * se else 'no detectable bias'}"
                         for part, z, se in (("validation", z_val, se_val), ("test", z_te, se_te)))
        lines.append(f"{name:>8}: {dz['line']} (test ECE change of variance scaling {vs['change']:+.3f}: "
                     f"{vs['where']} its calibrated-reference band {vs['low']:+.3f} to {vs['high']:+.3f}); {bias}")
    p = pred["scaffold"]
    over = C.gaussian_metrics(chapter3, p["mean"], p["var"] / 9, p["y"])
    band = refs["scaffold"]["ece"]
    lines.append(f"σ/3 on the scaffold test set: ECE {over['ece']:.3f} (calibrated band {band['low']:.3f}–"
                 f"{band['high']:.3f}: {'outside → detectable' if over['ece'] > band['high'] else 'inside → not detectable'}), "
                 f"95% coverage {over['coverage95']:.2f}")
    for name, e in ensembles.items():
        q = pred[name]
        epochs = [h["best_epoch"] + 1 for h in e.histories]
        rmse = np.sqrt(np.mean((q["members_mean"] - q["y"]) ** 2, axis=1))
        collapsed = len(set(epochs)) == 1 and float(np.mean(q["epi"])) < 1e-6
        lines.append(f"{name:>8} members: best epochs {epochs}, test RMSE {np.round(rmse, 3).tolist()}, mean epistemic "
                     f"variance {np.mean(q['epi']):.3f} → {'collapsed' if collapsed else 'no collapse (they differ)'}")
    return lines


SIMILARITY_QUANTITIES = ("|error|", "total σ", "aleatoric σ", "epistemic σ")


def similarity_relations(pred: dict, similarity: dict, n_boot: int | None = None) -> dict:
    """``{split: {quantity: (rho, low, high, word)}}``: Spearman(similarity to train, ·) of |error|, total σ,
    aleatoric σ and epistemic σ with percentile bootstrap 95 % intervals over test molecules and a verdict ("falls as
    similarity rises" when the interval lies below 0, "rises with similarity" above 0, else "no detectable
    relation"); plus ``"aleatoric − epistemic"``: the paired bootstrap (same resampled molecules) of
    ρ(sim, σ_alea) − ρ(sim, σ_epi) as ``(difference, low, high, word)``, and ``"epistemic share"`` of the variance."""
    out = {}
    for name, p in pred.items():
        s, rel = np.asarray(similarity[name], dtype=float), {}
        values = {"|error|": p["err"], "total σ": np.sqrt(p["var"]), "aleatoric σ": np.sqrt(p["alea"]),
                  "epistemic σ": np.sqrt(p["epi"])}
        for label in SIMILARITY_QUANTITIES:
            lo, hi, _ = C.bootstrap_interval(C.spearman, (s, values[label]), n_boot=n_boot)
            word = "falls as similarity rises" if hi < 0 else "rises with similarity" if lo > 0 else "no detectable relation"
            rel[label] = (C.spearman(s, values[label]), lo, hi, word)
        diff = lambda ss, a, e: C.spearman(ss, a) - C.spearman(ss, e)  # noqa: E731
        args = (s, values["aleatoric σ"], values["epistemic σ"])
        lo, hi, _ = C.bootstrap_interval(diff, args, n_boot=n_boot)
        rel["aleatoric − epistemic"] = (diff(*args), lo, hi, "differ" if lo > 0 or hi < 0 else
                                        "no detectable difference")
        rel["epistemic share"] = _share(p["alea"], p["epi"])
        out[name] = rel
    return out


def similarity_relation_lines(relations: dict) -> list[str]:
    """One line per split from :func:`similarity_relations` (percentile bootstrap intervals)."""
    return [f"{name:>8} test set, Spearman(similarity to train, ·) with percentile bootstrap 95% CI: "
            + "; ".join(f"{k} {rel[k][0]:+.2f} ({rel[k][1]:+.2f} to {rel[k][2]:+.2f}: {rel[k][3]})"
                        for k in SIMILARITY_QUANTITIES)
            + (f"; aleatoric − epistemic (paired, same resamples) {rel['aleatoric − epistemic'][0]:+.2f} "
               f"({rel['aleatoric − epistemic'][1]:+.2f} to {rel['aleatoric − epistemic'][2]:+.2f}: "
               f"{rel['aleatoric − epistemic'][3]})" if "aleatoric − epistemic" in rel else "")
            for name, rel in relations.items()]


def similarity_conclusion(relations: dict) -> list[str]:
    """Per split, what the verdicts of :func:`similarity_relations` allow one to say about the aleatoric /
    epistemic reading (computed from the verdicts, so it changes with the numbers). A part "carries" the total's
    relation only by its share of the variance; a difference between the parts is claimed only from the paired
    interval of their difference, never from one interval excluding 0 and the other not."""
    lines = []
    for name, rel in relations.items():
        epi, tot, alea = rel["epistemic σ"][3], rel["total σ"][3], rel["aleatoric σ"][3]
        share = rel.get("epistemic share")
        d = rel.get("aleatoric − epistemic")
        dpart = ("" if d is None else
                 f" (difference of the two relations, paired: {d[0]:+.2f}, 95% CI {d[1]:+.2f} to {d[2]:+.2f} → {d[3]})")
        sh = "" if share is None else f" (~{1 - share:.0%} of the variance)"
        first = (f"on the {name} split the epistemic part (members' disagreement"
                 f"{'' if share is None else f', ~{share:.1%} of the variance'}) "
                 + ("shows no detectable relation to similarity" if epi == "no detectable relation" else f"{epi}"))
        if tot == "no detectable relation":
            second = ("the total σ shows no detectable relation either" if epi == "no detectable relation" else
                      f"the total σ shows no detectable relation (aleatoric σ: {alea}); the epistemic part is too small "
                      "a share of the variance to move it much")
        elif alea == tot:
            second = (f"the aleatoric part{sh} shows the same relation as the total ({tot})"
                      + (", as its share makes likely by construction" if share is not None and share < 0.5 else ""))
        else:
            second = (f"the total σ {tot}; aleatoric σ: {alea}, epistemic σ: {epi} — not attributable to one part at "
                      "this n")
        lines.append(f"{first}; {second}{dpart}")
    return lines


def _reference_words(c: dict) -> str:
    """The reading of an ECE/QCE change against its calibrated-reference band, by the sign of the change: "lowered"
    only for a change below 0."""
    d = c["change"]
    band = f"({c['low']:+.3f} to {c['high']:+.3f})"
    if c["where"] == "inside":
        return f"inside its calibrated-reference band {band} (what a calibrated raw σ would show)"
    if c["where"] == "at the edge of":
        return f"at the edge of its calibrated-reference band {band} (within 2 Monte Carlo SE of an end: no call)"
    if c["where"] == "below" and d < 0:
        return (f"below its calibrated-reference band {band}: the map lowered the error more than it would for a "
                "calibrated raw σ (evidence the raw σ was miscalibrated the way the map corrects)")
    if c["where"] == "below":
        return (f"rose by {d:+.3f} (no improvement), below its calibrated-reference band {band}: a calibrated raw σ "
                "would rise more under this map — evidence the raw σ is not calibrated, not that the map helped")
    return f"above its calibrated-reference band {band} (higher than a calibrated raw σ gives under the same map)"


def recalibration_summary_lines(recal: dict) -> list[str]:
    """Per split and map, the reading of the recalibration table computed from its entries: the NLL change with
    its paired BCa interval (a smooth proper score); the ECE/QCE changes against their calibrated-reference band
    (worded by the sign of the change) and with their paired BCa interval, used for a verdict only where the raw
    statistic lies outside its calibrated band (else flagged unreliable: near 0 |·| has its kink); coverage changes
    with molecules gained/lost and Newcombe's paired interval; mean width changes with a paired BCa interval (their
    sign is fixed by the map)."""
    lines = []
    for name, rc in recal.items():
        parts = []
        for variant in dict.fromkeys(v for v, _ in rc["changes"]):
            ch = {k: c for (v, k), c in rc["changes"].items() if v == variant}
            bits = []
            for k, c in ch.items():
                kind = c.get("kind", "paired")
                if kind == "paired":
                    bits.append(f"{k} {c['change']:+.3f} ({c['verdict']}, paired BCa 95% CI {c['low']:+.3f} to "
                                f"{c['high']:+.3f})")
                elif kind == "reference":
                    bit = f"{k} {c['change']:+.3f} {_reference_words(c)}"
                    pp = c.get("paired")
                    if pp is not None:
                        bit += (f"; paired BCa 95% CI {pp['low']:+.3f} to {pp['high']:+.3f} → "
                                + (pp["verdict"] if pp["reliable"] else
                                   f"unreliable (raw {k} {pp['raw_position']} its calibrated band: near 0, no verdict)"))
                    bits.append(bit)
                elif kind == "coverage":
                    ci = (f"; Newcombe paired 95% CI {c['low']:+.3f} to {c['high']:+.3f}" if "low" in c else "")
                    bits.append(f"{k} {c['change']:+.3f} (+{c['gained']}/−{c['lost']} molecules; "
                                + ("sign fixed by nested intervals" if c["nested"] else
                                   f"not nested, exact McNemar p = {c['p_mcnemar']:.2f}" if c["p_mcnemar"] is not None
                                   else "no molecule changed") + ci + ")")
                else:
                    ci = (f"; paired BCa 95% CI {c['low']:+.3f} to {c['high']:+.3f}" if "low" in c else "")
                    bits.append(f"{k} {c['change']:+.3f} (fixed multiple of σ: sign fixed{ci})")
            parts.append(f"{variant}: " + ", ".join(bits))
        s2 = rc.get("s2")
        note = ("" if s2 is None else
                f" [s² = {s2:.2f}: variance scaling {'widens' if s2 > 1 else 'narrows' if s2 < 1 else 'keeps'} every "
                "interval; isotonic widths are a fixed multiple of σ too — these signs are set by the maps, not by "
                "the test set]")
        lines.append(f"{name:>8} (vs raw): " + " | ".join(parts) + note)
    return lines


def ensemble_vs_members_lines(name: str, changes: dict, configurations: dict) -> list[str]:
    """The ensemble − members lines of one split: NLL and RMSE with their paired intervals (smooth statistics);
    the ECE change as a size only, with each model's ECE read against its own calibrated band instead
    (``configurations`` = that split's :func:`molpractice.uncertainty_report.configuration_references`)."""
    lines = []
    for key, c in changes.items():
        if c.get("kind") == "size":
            ens = configurations["gaussian_ensemble"][key]
            members = [r[key] for k, r in configurations.items() if k.startswith("member ")]
            inside = sum(C.band_position(r) == "in" for r in members)
            values = ", ".join(f"{r['observed']:.3f}" for r in members)
            lines.append(f"{name:>8}: ensemble − mean of its single members, {key}: {c['change']:+.3f} (size only: "
                         f"five members have no single calibrated reference for the change); each model against "
                         f"its own calibrated band: ensemble {ens['observed']:.3f} {C.band_position(ens)} "
                         f"({ens['low']:.3f}–{ens['high']:.3f}), members [{values}] — {inside} of {len(members)} in "
                         f"(n-only band {members[0]['low']:.3f}–{members[0]['high']:.3f})")
        else:
            lines.append(f"{name:>8}: ensemble − mean of its single members, {key}: {c['change']:+.3f} (paired 95% CI "
                         f"{c['low']:+.3f} to {c['high']:+.3f}) → {c['verdict']}")
    return lines


def samples_needed_lines(n: int, effects=(0.05, 0.02, 0.01), draws: int = 5000) -> list[str]:
    """How many test molecules a calibration claim needs, from the calibrated band's half-width at ``n``:

    * regression ECE: a model whose *observed-ECE median* lies δ above the calibrated median (not a model with
      population ECE δ: sampling noise and the true gap add inside |·|, not linearly, so that would be optimistic)
      is outside the calibrated band (detected
      about half the time) once the band's upper half-width h(n) ≈ h(``n``)·√(``n``/n′) falls to δ, i.e.
      n′ = ``n``·(h/δ)²; the band at n′ is then recomputed (:func:`molpractice.calibration.calibrated_pit_reference`)
      as a check of the 1/√n guide;
    * 95 % coverage: a gap δ from 0.95 is outside the binomial band once 1.96·√(0.95·0.05/n′) ≤ δ.
    80 % power needs about (1.96 + 0.84)²/1.96² ≈ 2 times as many molecules as "half the time"."""
    ref = C.calibrated_pit_reference(n, draws=draws)["ece"]
    h = ref["high"] - ref["median"]
    lines = [f"regression ECE at n = {n}: calibrated median {ref['median']:.3f}, upper band end {ref['high']:.3f} "
             f"(half-width {h:.3f}); δ below = how far a model's observed-ECE median sits above the calibrated median "
             "(a model with population ECE δ needs more molecules: noise and gap add inside |·|)"]
    for d in effects:
        need = int(math.ceil(n * (h / d) ** 2))
        check = C.calibrated_pit_reference(need, draws=draws)["ece"] if need <= 20000 else None
        got = "" if check is None else (f"; recomputed at n = {need}: half-width "
                                        f"{check['high'] - check['median']:.3f}")
        lines.append(f"  an observed-ECE median {d:.2f} above the calibrated median: n ≈ {need} (detected about half the time; ≈ "
                     f"{int(math.ceil(need * ((1.96 + 0.84) / 1.96) ** 2))} for 80% power){got}")
    for d in (0.05, 0.02):
        need = int(math.ceil(1.96 ** 2 * 0.95 * 0.05 / d ** 2))
        lines.append(f"  95% coverage off by {d:.2f}: n ≈ {need} (binomial, detected about half the time)")
    return lines


# The out-of-fold (recipe cross-validation) sentences and the interview answers live in
# molpractice.calibration_verdicts_cv; importable from here.
from .calibration_verdicts_cv import (  # noqa: E402,F401
    cv_calibration_lines,
    ece_null_verdict,
    cv_calibration_summary,
    ece_bias_lines,
    oof_coverage_counts,
    q1_answer,
    q3_answer,
    random_outside_line,
    recipe_spearman_lines,
    spearman_reconciliation,
    temperature_lines,
    training_cap_lines,
)
