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


def training_time_line(ensembles: dict, target: float = 60.0) -> str:
    """Average and slowest seconds per model against the per-model target."""
    secs = [(name, i, s) for name, e in ensembles.items() for i, s in enumerate(e.seconds)]
    total = sum(s for *_, s in secs)
    name, seed, slowest = max(secs, key=lambda x: x[2])
    mean = total / len(secs)
    return (f"{len(secs)} models in {total:.0f} s: {mean:.1f} s per model on average, slowest {slowest:.1f} s "
            f"({name} seed {seed}); target ≤ {target:g} s per model: {'met' if mean <= target else 'NOT met'} on "
            f"average, {'met' if slowest <= target else 'NOT met'} by the slowest model")


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
                 + ("within their noise: neither supports a claim that σ ranks out-of-scaffold errors" if abs(z) < 2
                    else "larger than their noise: the test set and the folds disagree"))
    return lines


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


def z2_lines(pred: dict) -> list[str]:
    lines = []
    for name, p in pred.items():
        d = z2_decomposition(p)
        c, s = d["members_coverage68"]
        lines.append(f"{name:>8}: mean z² members (average) {d['members']:.3f} → (i) ensemble mean, members' average "
                     f"variance {d['mean_averaged']:.3f} ({d['mean_averaged'] - d['members']:+.3f}) → (ii) + epistemic "
                     f"variance {d['ensemble']:.3f} ({d['ensemble'] - d['mean_averaged']:+.3f}); MSE ×{d['mse_ratio']:.2f}, "
                     f"mean variance ×{d['var_ratio']:.2f}; members' coverage68 {c:.3f} ± {s:.3f} (spread over "
                     f"members, no interval computed)")
    return lines


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


def diagnostic_lines(data: dict, pred: dict, results: dict, refs: dict, ensembles: dict, chapter3, recal: dict) -> list[str]:
    """Diagnostics 1–3 with their answers: (1) validation vs test variance scale and bias, (2) σ/3 against the
    ECE's calibrated band, (3) member collapse."""
    lines = []
    for name, d in data.items():
        p, r = pred[name], results[name]["predictions"]
        z_val = (d.y["val"] - r["val_mean"]) / np.sqrt(r["val_var"])
        z_te = (p["y"] - p["mean"]) / np.sqrt(p["var"])
        s_val, s_te = float(np.mean(z_val ** 2)), float(np.mean(z_te ** 2))
        se_val, se_te = float(np.std(z_val) / math.sqrt(z_val.size)), float(np.std(z_te) / math.sqrt(z_te.size))
        same = (s_val - 1) * (s_te - 1) > 0
        vs = recal[name]["changes"][("variance_scaled", "ece")]
        scale = (f"validation wants s² = {s_val:.2f}, test would want {s_te:.2f}: "
                 + ("same direction, the scale transfers" if same else
                    "opposite directions, so variance scaling fitted on validation moves the test σ's the wrong way")
                 + f" (test ECE change {vs['change']:+.3f}: {vs['verdict']})")
        bias = "; ".join(f"mean z {part} {z.mean():+.2f} ± {2 * se:.2f} (2 SE) → "
                         f"{'detectable bias' if abs(z.mean()) > 2 * se else 'no detectable bias'}"
                         for part, z, se in (("validation", z_val, se_val), ("test", z_te, se_te)))
        lines.append(f"{name:>8}: {scale}; {bias}")
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
