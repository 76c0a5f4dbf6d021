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


def recipe_spearman_lines(evidence: list[dict]) -> list[str]:
    """Per recipe of the cross-validation evidence: the pooled out-of-fold Spearman(|error|, σ), each fold's
    value, their between-fold SD and a rough fold-level standard error SD/√folds (folds − 1 degrees of freedom;
    folds share training data, so no unbiased estimator of this variance exists: Bengio & Grandvalet 2004)."""
    lines = []
    for r in evidence:
        f = np.asarray(r["spearman_folds"], dtype=float)
        sd = float(np.std(f, ddof=1))
        lines.append(f"β={r['beta']:g}/{r['select_on']}: pooled {r['spearman']:+.3f}; per fold "
                     f"[{', '.join(f'{x:+.2f}' for x in f)}]; between-fold SD {sd:.2f}, fold-level SE ≈ SD/√{f.size} "
                     f"= {sd / math.sqrt(f.size):.2f}")
    k = len(evidence[0]["spearman_folds"])
    lines.append(f"the pooled value mixes {k} fold ensembles whose σ scales differ; read it with a rough fold-level SE "
                 f"({k} folds, {k - 1} df: a 95% statement needs t = {_t975(k - 1):.2f}, not 2; folds share training "
                 f"data, so the SE is itself uncertain — Bengio & Grandvalet 2004), not with 1/√{evidence[0]['n']} = "
                 f"{1 / math.sqrt(evidence[0]['n']):.2f}")
    return lines


def _t975(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def cv_calibration_lines(evidence: list[dict], chosen: dict, draws: int = 1000) -> list[str]:
    """Out-of-fold ECE and 95 % coverage after variance scaling (cross-validation inside train) against the band a
    calibrated model reaches on the same number of molecules (:func:`molpractice.calibration.calibrated_pit_reference`:
    it depends on n alone). The chosen recipe is marked."""
    lines = []
    for row in evidence:
        ref = C.calibrated_pit_reference(int(row["n"]), draws=draws)
        parts = []
        for key, label in (("ece_recal", "ece"), ("coverage95_recal", "coverage95")):
            r, x = ref[label], row[key]
            where = ("inside" if r["low"] <= x <= r["high"] else "above" if x > r["high"] else "below")
            parts.append(f"{label} {x:.3f} vs calibrated {r['median']:.3f} (band {r['low']:.3f}–{r['high']:.3f}: {where})")
        mark = " ← chosen" if (row["beta"], row["select_on"]) == (chosen["beta"], chosen["select_on"]) else ""
        lines.append(f"β={row['beta']:g}/{row['select_on']} out of fold, n = {row['n']} pooled over the fold ensembles, "
                     f"variance-scaled: " + "; ".join(parts) + mark)
    return lines


def cv_calibration_summary(evidence: list[dict], chosen: dict, test_ref: dict, n_test: int, draws: int = 1000) -> str:
    """The chosen recipe's out-of-fold calibration next to the scaffold test set's (``test_ref`` = its
    ``reference_values``), each against its own calibrated band; both findings stated side by side."""
    row = next(r for r in evidence if (r["beta"], r["select_on"]) == (chosen["beta"], chosen["select_on"]))
    ref = C.calibrated_pit_reference(int(row["n"]), draws=draws)["ece"]
    t = test_ref["ece"]
    oof = ("above its band: detectable miscalibration out of fold" if row["ece_recal"] > ref["high"] else
           "below its band" if row["ece_recal"] < ref["low"] else "inside its band: no detectable miscalibration out of fold")
    rc = C.calibrated_pit_reference(int(row["n"]), draws=draws)["coverage95"]
    x = row["coverage95_recal"]
    cov = (f"above its band {rc['low']:.3f}–{rc['high']:.3f}: over-covers (intervals too wide, under-confident)"
           if x > rc["high"] else
           f"below its band {rc['low']:.3f}–{rc['high']:.3f}: under-covers (intervals too narrow, over-confident)"
           if x < rc["low"] else f"inside its band {rc['low']:.3f}–{rc['high']:.3f}: no detectable direction")
    test = ("inside its band" if t["low"] <= t["observed"] <= t["high"] else "outside its band")
    return (f"chosen recipe: out-of-fold ECE after variance scaling {row['ece_recal']:.3f} on n = {row['n']} "
            f"(calibrated band {ref['low']:.3f}–{ref['high']:.3f}) → {oof}; its 95% intervals cover "
            f"{row['coverage95_recal']:.3f}, {cov}. The scaffold test set's raw ECE {t['observed']:.3f} on "
            f"n = {n_test} (band {t['low']:.3f}–{t['high']:.3f}) is {test}. Both are reported: the "
            f"out-of-fold evidence rests on {row['n']} molecules and four fold ensembles, the test set on one "
            "ensemble and far fewer molecules")


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
                 f"the other worker included): {wall / len(rows):.1f} s per model on average "
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
                     f"epistemic share {_share(p['alea'], p['epi']):.1%} (95% CI {lo:.1%}–{hi:.1%}); median "
                     f"similarity to train {np.median(similarity[name]):.2f}")
    (a, pa), (b, pb) = list(pred.items())[:2]
    diff = boots[a] - boots[b]
    lo, hi = np.quantile(diff, [0.025, 0.975])
    d = _share(pa["alea"], pa["epi"]) - _share(pb["alea"], pb["epi"])
    verdict = "higher" if lo > 0 else "lower" if hi < 0 else "no detectable difference"
    lines.append(f"epistemic share {a} − {b} setup: {d:+.1%} (two-sample bootstrap 95% CI {lo:+.1%} to {hi:+.1%}) → "
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
        outside = [k for k, x in ref.items() if not x["low"] <= x["observed"] <= x["high"]]
        lines.append(f"{name:>8}: Spearman(|error|, σ) {sp['observed']:.3f} (bootstrap 95% CI {lo:.2f} to {hi:.2f}); a "
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


def spearman_reconciliation(sp: dict, test_ci: tuple, cv_pooled: float, n_test: int, cv_n: int | None = None,
                            cv_folds=()) -> str:
    """One sentence that puts the scaffold test set's Spearman interval and the cross-validated out-of-fold
    Spearman together (each clause follows its printed numbers). The test set's calibrated band belongs to *its*
    molecules and σ's, so it is not a yardstick for the out-of-fold value, whose own band was not computed."""
    lo, hi = test_ci
    if lo > 0:
        first = (f"on this scaffold test set (n = {n_test}) σ ranks the errors above 0 (Spearman {sp['observed']:.2f}, "
                 f"bootstrap 95% CI {lo:.2f} to {hi:.2f}; one of several Spearman intervals in this notebook, no "
                 "multiplicity adjustment: marginal evidence)")
    elif hi < 0:
        first = (f"on this scaffold test set (n = {n_test}) σ ranks the errors below 0 (bootstrap 95% CI {lo:.2f} to "
                 f"{hi:.2f})")
    else:
        first = (f"on this scaffold test set (n = {n_test}) σ's ranking of the errors is not detectably different "
                 f"from 0 (bootstrap 95% CI {lo:.2f} to {hi:.2f})")
    folds = ", ".join(f"{x:+.2f}" for x in cv_folds)
    cv = (f"out of fold (cross-validation inside train, same recipe, n = {cv_n if cv_n else '?'} pooled over "
          f"{len(cv_folds) or 'the'} fold ensembles) the Spearman is {cv_pooled:+.3f}"
          + (f" (folds {folds})" if folds else "")
          + f", below the test set's calibrated median {sp['median']:.2f}; its own calibrated band was not computed "
          "(the stored evidence keeps no σ), and the test set's band is not its yardstick")
    if lo > 0:
        tail = ("so the only evidence that σ ranks out-of-scaffold errors is this test set's marginal interval, and the "
                "larger out-of-fold evidence does not support it: no claim that σ ranks the errors")
    else:
        tail = "so no claim that σ ranks out-of-scaffold errors"
    return f"{first}; {cv}; {tail}"


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
        others = [k for k in ("ece", "coverage68", "nll") if not refs[name][k]["low"] <= refs[name][k]["observed"]
                  <= refs[name][k]["high"]]
        line = (f"{name:>8}: ENCE {e:.3f}; calibrated reference {med:.3f} (95% band {lo:.3f}–{hi:.3f}) → "
                f"{'inside' if inside else 'outside'} the band")
        if inside and others:
            line += (f"; ENCE ({n_bins} bins of ~{per_bin} molecules) cannot detect the "
                     f"miscalibration that {', '.join(others)} detect on this split")
        elif inside:
            line += "; no detectable error-based miscalibration, in line with this split's other reference checks"
        lines.append(line)
    return lines


def mean_z2_direction(z_val, z_test, n_boot: int | None = None, seed: int = 0) -> dict:
    """Which way would validation and test move the variance scale? Mean z² (the NLL-optimal s²) of each part
    with its own bootstrap 95 % interval, and the two-sample bootstrap interval of test − validation. A
    direction ("above 1": over-confident, "below 1": under-confident) is named only for a part whose interval
    excludes 1; "same/opposite direction" only when both do; else "no detectable direction". Returns
    ``{"val", "test": (value, low, high), "diff": (value, low, high), "direction", "line"}``."""
    z_val, z_test = np.asarray(z_val, dtype=float), np.asarray(z_test, dtype=float)
    m2 = lambda z: float(np.mean(z ** 2))  # noqa: E731
    lo_v, hi_v, b_v = C.bootstrap_interval(m2, (z_val,), n_boot=n_boot, seed=seed)
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
    line = (f"mean z² validation {m2(z_val):.2f} (95% CI {lo_v:.2f}–{hi_v:.2f}), test {m2(z_test):.2f} (95% CI "
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
        dz = mean_z2_direction(z_val, z_te, n_boot=n_boot, seed=k)
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
    aleatoric σ and epistemic σ with bootstrap 95 % intervals over test molecules and a verdict ("falls as
    similarity rises" when the interval lies below 0, "rises with similarity" above 0, else "no detectable
    relation")."""
    out = {}
    for name, p in pred.items():
        s, rel = np.asarray(similarity[name], dtype=float), {}
        values = {"|error|": p["err"], "total σ": np.sqrt(p["var"]), "aleatoric σ": np.sqrt(p["alea"]),
                  "epistemic σ": np.sqrt(p["epi"])}
        for label in SIMILARITY_QUANTITIES:
            lo, hi, _ = C.bootstrap_interval(C.spearman, (s, values[label]), n_boot=n_boot)
            word = "falls as similarity rises" if hi < 0 else "rises with similarity" if lo > 0 else "no detectable relation"
            rel[label] = (C.spearman(s, values[label]), lo, hi, word)
        out[name] = rel
    return out


def similarity_relation_lines(relations: dict) -> list[str]:
    """One line per split from :func:`similarity_relations`."""
    return [f"{name:>8} test set, Spearman(similarity to train, ·) with 95% CI: "
            + "; ".join(f"{k} {r:+.2f} ({lo:+.2f} to {hi:+.2f}: {w})" for k, (r, lo, hi, w) in rel.items())
            for name, rel in relations.items()]


def similarity_conclusion(relations: dict) -> list[str]:
    """Per split, what the verdicts of :func:`similarity_relations` allow one to say about the aleatoric /
    epistemic reading (computed from the verdicts, so it changes with the numbers)."""
    lines = []
    for name, rel in relations.items():
        epi, tot, alea = rel["epistemic σ"][3], rel["total σ"][3], rel["aleatoric σ"][3]
        first = (f"on the {name} split the epistemic part (members' disagreement) "
                 + ("shows no detectable relation to similarity" if epi == "no detectable relation" else f"{epi}"))
        if tot == "no detectable relation":
            second = ("the total σ shows no detectable relation either" if epi == "no detectable relation" else
                      f"the total σ shows no detectable relation (aleatoric σ: {alea}), so the members' disagreement "
                      "does not carry through to the σ that is reported")
        elif alea == tot and epi != tot:
            second = f"the total σ's relation ({tot}) comes from the variance head (the part labelled aleatoric: {alea})"
        elif epi == tot and alea != tot:
            second = f"the total σ's relation ({tot}) comes from the members' disagreement (aleatoric σ: {alea})"
        else:
            second = (f"the total σ {tot}; aleatoric σ: {alea}, epistemic σ: {epi} — not attributable to one part at "
                      "this n")
        lines.append(f"{first}; {second}")
    return lines


def recalibration_summary_lines(recal: dict) -> list[str]:
    """Per split and map, the reading of the recalibration table computed from its entries: the NLL change with
    its paired interval (a smooth proper score), the ECE/QCE changes against their calibrated-reference band (no
    bootstrap interval is reliable for a binned calibration error near 0), and the coverage and width changes as
    sizes only where their sign is fixed by construction (nested intervals, a fixed multiple of σ)."""
    lines = []
    for name, rc in recal.items():
        parts = []
        for variant in dict.fromkeys(v for v, _ in rc["changes"]):
            ch = {k: c for (v, k), c in rc["changes"].items() if v == variant}
            bits = []
            for k, c in ch.items():
                kind = c.get("kind", "paired")
                if kind == "paired":
                    bits.append(f"{k} {c['change']:+.3f} ({c['verdict']}, paired 95% CI)")
                elif kind == "reference":
                    word = {"inside": "inside its calibrated-reference band (what a calibrated raw σ would show)",
                            "below": "below its calibrated-reference band (lower than a calibrated raw σ gives under "
                                     "the same map: evidence the raw σ was miscalibrated the way the map corrects)",
                            "above": "above its calibrated-reference band (higher than a calibrated raw σ gives under "
                                     "the same map)"}[c["where"]]
                    bits.append(f"{k} {c['change']:+.3f} {word}")
                elif kind == "coverage":
                    bits.append(f"{k} {c['change']:+.3f} (+{c['gained']}/−{c['lost']} molecules; "
                                + ("sign fixed by nested intervals: size only)" if c["nested"] else
                                   f"not nested, exact McNemar p = {c['p_mcnemar']:.2f})" if c["p_mcnemar"] is not None
                                   else "no molecule changed)"))
                else:
                    bits.append(f"{k} {c['change']:+.3f} (fixed multiple of σ: sign fixed, size only)")
            parts.append(f"{variant}: " + ", ".join(bits))
        s2 = rc.get("s2")
        note = ("" if s2 is None else
                f" [s² = {s2:.2f}: variance scaling {'widens' if s2 > 1 else 'narrows' if s2 < 1 else 'keeps'} every "
                "interval; isotonic widths are a fixed multiple of σ too — these signs are set by the maps, not by "
                "the test set]")
        lines.append(f"{name:>8} (vs raw): " + " | ".join(parts) + note)
    return lines


def ece_null_verdict(ece: float, low: float, high: float, p_two_sided: float | None = None) -> str:
    """Where an observed classification ECE lies against its consistency-resampling band. Outside the band on
    either side the fixed-forecast null (independent labels y* ~ Bernoulli(p̂)) is rejected; below it that means
    the labels vary less than such draws, so the band is no yardstick for this source."""
    p = "" if p_two_sided is None else f" (two-sided p = {p_two_sided:.3f})"
    if ece < low:
        return (f"below the calibrated band{p}: the null of independent Bernoulli(p̂) labels is rejected in its lower "
                "tail — these labels vary less than such draws (e.g. true probabilities more extreme than p̂ within "
                "a bin: a Poisson-binomial varies less than a binomial; or negatively dependent labels, which is "
                "unusual — clustered molecules would do the opposite), so this band is not a valid yardstick "
                "for this source; no claim of calibration or miscalibration")
    if ece > high:
        return f"above the calibrated band{p}: detectable miscalibration"
    return f"inside the calibrated band{p}: no evidence of miscalibration"


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
            lines.append(f"{name:>8}: ensemble − mean of its single members, {key}: {c['change']:+.3f} (size only: no "
                         f"reliable interval exists for a change of a binned calibration error); each model against "
                         f"its own calibrated band: ensemble {ens['observed']:.3f} {C.band_position(ens)} "
                         f"({ens['low']:.3f}–{ens['high']:.3f}), members [{values}] — {inside} of {len(members)} in "
                         f"(n-only band {members[0]['low']:.3f}–{members[0]['high']:.3f})")
        else:
            lines.append(f"{name:>8}: ensemble − mean of its single members, {key}: {c['change']:+.3f} (paired 95% CI "
                         f"{c['low']:+.3f} to {c['high']:+.3f}) → {c['verdict']}")
    return lines


def samples_needed_lines(n: int, effects=(0.05, 0.02, 0.01), draws: int = 5000) -> list[str]:
    """How many test molecules a calibration claim needs, from the calibrated band's half-width at ``n``:

    * regression ECE: a model whose ECE lies δ above the calibrated median is outside the calibrated band (detected
      about half the time) once the band's upper half-width h(n) ≈ h(``n``)·√(``n``/n′) falls to δ, i.e.
      n′ = ``n``·(h/δ)²; the band at n′ is then recomputed (:func:`molpractice.calibration.calibrated_pit_reference`)
      as a check of the 1/√n guide;
    * 95 % coverage: a gap δ from 0.95 is outside the binomial band once 1.96·√(0.95·0.05/n′) ≤ δ.
    80 % power needs about (1.96 + 0.84)²/1.96² ≈ 2 times as many molecules as "half the time"."""
    ref = C.calibrated_pit_reference(n, draws=draws)["ece"]
    h = ref["high"] - ref["median"]
    lines = [f"regression ECE at n = {n}: calibrated median {ref['median']:.3f}, upper band end {ref['high']:.3f} "
             f"(half-width {h:.3f})"]
    for d in effects:
        need = int(math.ceil(n * (h / d) ** 2))
        check = C.calibrated_pit_reference(need, draws=draws)["ece"] if need <= 20000 else None
        got = "" if check is None else (f"; recomputed at n = {need}: half-width "
                                        f"{check['high'] - check['median']:.3f}")
        lines.append(f"  an ECE {d:.2f} above calibrated: n ≈ {need} (detected about half the time; ≈ "
                     f"{int(math.ceil(need * ((1.96 + 0.84) / 1.96) ** 2))} for 80% power){got}")
    for d in (0.05, 0.02):
        need = int(math.ceil(1.96 ** 2 * 0.95 * 0.05 / d ** 2))
        lines.append(f"  95% coverage off by {d:.2f}: n ≈ {need} (binomial, detected about half the time)")
    return lines


def q1_answer(ensemble: dict, configurations: dict, recal: dict, conformal: dict, cv_row: dict,
              n_test: int, draws: int = 1000) -> str:
    """Interview answer 1, computed from the notebook's results: the larger (out-of-fold) evidence first, then
    the test set compared like with like (variance-scaled against variance-scaled: the raw out-of-fold ECE and
    coverage were not stored), the validation s² interval, the Spearman, split conformal and selection."""
    band = C.calibrated_pit_reference(int(cv_row["n"]), draws=draws)
    oof = {k: (cv_row[k + "_recal"], band[k]) for k in ("ece", "coverage95")}

    def pos(x, r):
        return "inside" if r["low"] <= x <= r["high"] else "above" if x > r["high"] else "below"

    e, c = oof["ece"], oof["coverage95"]
    oof_word = ("over-covers out of scaffold" if pos(*c) == "above" else "under-covers out of scaffold"
                if pos(*c) == "below" else "covers as nominal out of scaffold")
    oof_cal = "is detectably miscalibrated" if pos(*e) != "inside" else "shows no detectable miscalibration"
    vs, raw = configurations["gaussian_ensemble_recalibrated"], configurations["gaussian_ensemble"]
    test_any = any(C.band_position(x[k]) != "in" for x in (vs, raw) for k in ("ece", "coverage95"))
    s2_lo, s2_hi = recal["s2_ci"]
    s2_word = (f"cannot tell whether a rescale is needed (interval {s2_lo:.2f}–{s2_hi:.2f})" if s2_lo <= 1 <= s2_hi
               else f"wants a rescale (interval {s2_lo:.2f}–{s2_hi:.2f} excludes 1)")
    d_ece, d_nll = recal["changes"][("variance_scaled", "ece")], recal["changes"][("variance_scaled", "nll")]
    sp = raw["spearman"]
    return (
        f"Q1. Start from the larger evidence: out of fold inside train (n = {cv_row['n']}, {len(cv_row['spearman_folds'])} "
        f"fold ensembles) this recipe's σ, even after validation scaling, {oof_cal} and {oof_word} (ECE {e[0]:.3f}, "
        f"band {e[1]['low']:.3f}–{e[1]['high']:.3f}: {pos(*e)}; 95% coverage {c[0]:.3f}, band {c[1]['low']:.3f}–"
        f"{c[1]['high']:.3f}: {pos(*c)}). The raw out-of-fold ECE and coverage were not stored, so the test set is "
        f"compared like with like: on the {n_test}-molecule scaffold test set the variance-scaled ECE is "
        f"{vs['ece']['observed']:.3f} (band {vs['ece']['low']:.3f}–{vs['ece']['high']:.3f}: "
        f"{C.band_position(vs['ece'])}) and its 95% coverage {vs['coverage95']['observed']:.3f} ("
        f"{C.band_position(vs['coverage95'])}); raw ECE {raw['ece']['observed']:.3f} ({C.band_position(raw['ece'])}) — "
        + ("this test set cannot detect miscalibration either way" if not test_any else
           "this test set detects a departure too (see the configuration table)")
        + f" (and it was read under earlier recipes: Data and protocol). Ship intervals whose coverage was checked out "
        f"of fold — e.g. CV+ / cross-conformal on out-of-fold residuals (Going further) — not a validation-fitted s²: "
        f"validation alone (s² = {recal['s2']:.2f}) {s2_word}. Spearman(|error|, σ) is {sp['observed']:.2f} on the test "
        f"set (band {sp['low']:.2f} to {sp['high']:.2f} for a calibrated σ) and {cv_row['spearman']:+.3f} out of fold: a "
        f"top-20 list should carry each molecule's interval, not a promise that σ sorts the errors. Split-conformal "
        f"μ ± qσ (q = {conformal['q']:.2f} from {conformal['n_cal']} validation scores) covered "
        f"{conformal['coverage']:.3f} of this test set at 90% (exact 95% CI {conformal['coverage_ci'][0]:.3f}–"
        f"{conformal['coverage_ci'][1]:.3f}) — an empirical check: the marginal guarantee needs molecules exchangeable "
        f"with the calibration set, which new scaffolds are not, and intervals reported only for a top 20 picked by "
        f"predicted value lose it again (false coverage-statement rate: Benjamini & Yekutieli 2005; for conformal "
        f"intervals Bao et al. 2024); picking the top molecules with error control is conformal selection (Jin & "
        f"Candès 2023). As a report only: on test, variance scaling changed the ECE by {d_ece['change']:+.3f} "
        f"({d_ece['where']} the band a calibrated raw σ would show under the same s², {d_ece['low']:+.3f} to "
        f"{d_ece['high']:+.3f}) and the NLL by {d_nll['change']:+.3f} (paired 95% CI {d_nll['low']:+.3f} to "
        f"{d_nll['high']:+.3f}: {d_nll['verdict']}).")
