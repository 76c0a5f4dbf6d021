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
    value, their between-fold SD and the fold-level standard error SD/√folds."""
    lines = []
    for r in evidence:
        f = np.asarray(r["spearman_folds"], dtype=float)
        sd = float(np.std(f, ddof=1))
        lines.append(f"β={r['beta']:g}/{r['select_on']}: pooled {r['spearman']:+.3f}; per fold "
                     f"[{', '.join(f'{x:+.2f}' for x in f)}]; between-fold SD {sd:.2f}, fold-level SE ≈ SD/√{f.size} "
                     f"= {sd / math.sqrt(f.size):.2f}")
    lines.append("the pooled value mixes four fold ensembles whose σ scales differ; the fold-level SE, not "
                 f"1/√{evidence[0]['n']} = {1 / math.sqrt(evidence[0]['n']):.2f}, is the honest uncertainty")
    return lines


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
    wall time (said so in the line).
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
        line += (f" (CPU time ≈ an idle machine's wall time with one torch thread; this run's wall time was "
                 f"{wall:.0f} s)")
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
                 f"{row['spearman']:+.3f}, folds [{', '.join(f'{x:+.2f}' for x in folds)}] (fold-level SE {se_cv:.2f}) vs "
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
    average variance (averaging the means shrinks the errors), (ii) adding the epistemic variance (the total
    variance grows). Also the MSE and mean-variance ratios ensemble / average member, and the members' coverage68."""
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


def z2_step_changes(p: dict, n_boot: int | None = None, seed: int = 0) -> dict:
    """The two steps of :func:`z2_decomposition` as changes of mean z² with **paired** bootstrap 95 % intervals
    over test molecules (all three numbers on the same resample): ``"i"`` = ensemble mean with the members'
    average variance − members' average, ``"ii"`` = adding the epistemic variance − step (i)."""
    arrays = (p["mean"], p["alea"], p["epi"], np.asarray(p["members_mean"]).T, np.asarray(p["members_var"]).T, p["y"])
    step = lambda k: (lambda *a: _z2_steps(*a)[k])  # noqa: E731
    return {"i": C.paired_change(step(1), step(0), arrays, n_boot=n_boot, seed=seed),
            "ii": C.paired_change(step(2), step(1), arrays, n_boot=n_boot, seed=seed)}


def z2_lines(pred: dict, n_boot: int | None = None) -> list[str]:
    lines = []
    for name, p in pred.items():
        d = z2_decomposition(p)
        st = z2_step_changes(p, n_boot=n_boot)
        ci = lambda c: f"{c['change']:+.3f}, paired 95% CI {c['low']:+.3f} to {c['high']:+.3f}: {c['verdict']}"  # noqa: E731
        c, s = d["members_coverage68"]
        arrays = (p["mean"], p["alea"], p["epi"], np.asarray(p["members_mean"]).T, np.asarray(p["members_var"]).T, p["y"])
        lo, hi, _ = C.bootstrap_interval(lambda *a: _z2_steps(*a)[0], arrays, n_boot=n_boot)
        start = ("over-confident (interval above 1)" if lo > 1 else "under-confident (interval below 1)" if hi < 1
                 else "no detectable direction (interval contains 1)")
        lines.append(f"{name:>8}: mean z² members (average) {d['members']:.3f} (95% CI {lo:.2f}–{hi:.2f}: {start}) → "
                     f"(i) ensemble mean, members' average "
                     f"variance {d['mean_averaged']:.3f} ({ci(st['i'])}) → (ii) + epistemic variance "
                     f"{d['ensemble']:.3f} ({ci(st['ii'])}); MSE ×{d['mse_ratio']:.2f}, mean variance "
                     f"×{d['var_ratio']:.2f} (ratios, no interval computed); members' coverage68 {c:.3f} ± {s:.3f} "
                     f"(spread over members, no interval computed)")
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
        direction = ("same direction (both intervals " + sv + "): the scale transfers" if sv == st else
                     "opposite directions (validation " + sv + ", test " + st + "): variance scaling fitted on "
                     "validation moves the test σ's the wrong way")
    else:
        unclear = [part for part, x in (("validation", sv), ("test", st)) if x is None]
        verb = "intervals contain" if len(unclear) > 1 else "interval contains"
        direction = f"no detectable direction ({' and '.join(unclear)} {verb} 1)"
    d = m2(z_test) - m2(z_val)
    differ = ("validation and test differ detectably" if lo_d > 0 or hi_d < 0 else
              "no detectable difference between validation and test")
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
                     f"{vs['verdict']}{' — method-sensitive' if vs.get('method_sensitive') else ''}); {bias}")
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


def similarity_relation_lines(pred: dict, similarity: dict, n_boot: int | None = None) -> list[str]:
    """Per split: Spearman(similarity to train, ·) of |error|, total σ and epistemic σ with bootstrap 95 %
    intervals over test molecules, each with its verdict ("falls as similarity rises" when the interval lies
    below 0, "rises" above 0, else "no detectable relation")."""
    lines = []
    for name, p in pred.items():
        s, parts = np.asarray(similarity[name], dtype=float), []
        for label, v in (("|error|", p["err"]), ("total σ", np.sqrt(p["var"])), ("epistemic σ", np.sqrt(p["epi"]))):
            lo, hi, _ = C.bootstrap_interval(C.spearman, (s, v), n_boot=n_boot)
            word = "falls as similarity rises" if hi < 0 else "rises with similarity" if lo > 0 else "no detectable relation"
            parts.append(f"{label} {C.spearman(s, v):+.2f} ({lo:+.2f} to {hi:+.2f}: {word})")
        lines.append(f"{name:>8} test set, Spearman(similarity to train, ·) with 95% CI: " + "; ".join(parts))
    return lines


def recalibration_summary_lines(recal: dict) -> list[str]:
    """Per split and map: the metrics whose paired (BCa) interval excludes 0 (with their direction) and those with
    no detectable change — the reading of the recalibration table, computed from its verdicts. A change whose
    percentile-interval verdict differs is flagged "method-sensitive"; for variance scaling the direction of the
    coverage and width changes is fixed by s² (> 1 widens every interval, < 1 narrows it)."""
    lines = []
    for name, rc in recal.items():
        parts = []
        for variant in dict.fromkeys(v for v, _ in rc["changes"]):
            ch = {k: c for (v, k), c in rc["changes"].items() if v == variant}
            flag = lambda c: (f" (method-sensitive: percentile says {c['verdict_percentile']})"  # noqa: E731
                              if c.get("method_sensitive") else "")
            moved = [f"{k} {c['verdict']}{flag(c)}" for k, c in ch.items() if c["verdict"] != "no detectable change"]
            still = [f"{k}{flag(c)}" for k, c in ch.items() if c["verdict"] == "no detectable change"]
            parts.append(f"{variant}: detectable — {', '.join(moved) or 'none'}; no detectable change — "
                         f"{', '.join(still) or 'none'}")
        s2 = rc.get("s2")
        note = ("" if s2 is None else
                f" [s² = {s2:.2f} {'> 1' if s2 > 1 else '< 1' if s2 < 1 else '= 1'}: variance scaling's coverage and "
                f"width changes are {'≥ 0' if s2 > 1 else '≤ 0' if s2 < 1 else '0'} by construction; their intervals "
                "say only how much]")
        lines.append(f"{name:>8} (vs raw, paired BCa 95% CI): " + " | ".join(parts) + note)
    return lines


def ece_null_verdict(ece: float, low: float, high: float, p_two_sided: float | None = None) -> str:
    """Where an observed classification ECE lies against its consistency-resampling band. Outside the band on
    either side the fixed-forecast null (independent labels y* ~ Bernoulli(p̂)) is rejected; below it that means
    the labels vary less than such draws, so the band is no yardstick for this source."""
    p = "" if p_two_sided is None else f" (two-sided p = {p_two_sided:.3f})"
    if ece < low:
        return (f"below the calibrated band{p}: the null of independent Bernoulli(p̂) labels is rejected in its lower "
                "tail — these labels vary less than such draws (e.g. true probabilities more extreme than p̂ within "
                "a bin, or test molecules that are not independent draws), so this band is not a valid yardstick "
                "for this source; no claim of calibration or miscalibration")
    if ece > high:
        return f"above the calibrated band{p}: detectable miscalibration"
    return f"inside the calibrated band{p}: no evidence of miscalibration"
