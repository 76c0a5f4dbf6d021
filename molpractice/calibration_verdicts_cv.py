"""The sentences notebook 03 prints about the recipe cross-validation's out-of-fold evidence and the interview
answers, computed from the numbers (split out of :mod:`molpractice.calibration_verdicts`, which re-exports every
name): per-fold Spearman, out-of-fold ECE and coverage against the band of a calibrated model (with the exact
binomial count behind the coverage), the Spearman reconciliation, whether the epoch cap binds, the ECE's bootstrap
bias per row, and the answers to the interview questions 1 and 3.
"""
from __future__ import annotations

import math

import numpy as np

from . import calibration as C


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


def oof_coverage_counts(coverage: float, n: int, level: float = 0.95, decimals: int = 3) -> dict:
    """The whole-molecule counts k behind a coverage stored rounded to ``decimals`` (every k with round(k/n) equal
    to it) and the exact two-sided binomial p of each against ``level`` (``scipy.stats.binomtest``): ``{"k": [...],
    "p": [...], "n"}``. Raises ValueError when no count rounds to the stored value."""
    from scipy.stats import binomtest

    ks = [k for k in range(int(n) + 1) if round(k / n, decimals) == round(float(coverage), decimals)]
    if not ks:
        raise ValueError(f"no count k of n = {n} rounds to the stored coverage {coverage}")
    return {"k": ks, "p": [float(binomtest(k, int(n), level).pvalue) for k in ks], "n": int(n)}


def _oof_position(x: float, r: dict, n: int) -> str:
    """"inside" / "above" / "below" / "at the upper (lower) edge": within 3 molecules (the stored value's rounding and
    a couple of molecules) or 2 Monte Carlo SE of a band end."""
    for end, se, word in (("high", "high_se", "upper"), ("low", "low_se", "lower")):
        tol = max(3.0 / n, 2 * r.get(se, 0.0) or 0.0)
        if abs(x - r[end]) <= tol:
            return f"at the {word} edge"
    return "inside" if r["low"] <= x <= r["high"] else "above" if x > r["high"] else "below"


CLUSTER_CAVEAT = ("not robust to scaffold clustering: the band assumes independent PIT values, while the out-of-fold "
                  "molecules come in scaffold groups pooled over four fold ensembles, which widens the null spread")


def cv_calibration_lines(evidence: list[dict], chosen: dict, draws: int = 1000) -> list[str]:
    """Out-of-fold ECE and 95 % coverage after variance scaling (cross-validation inside train) against the band a
    calibrated model reaches on the same number of molecules (:func:`molpractice.calibration.calibrated_pit_reference`:
    it depends on n alone, independent PIT values). The coverage also as whole molecules k/n with the exact binomial
    p (:func:`oof_coverage_counts`); a value within 3 molecules of a band end is "at the edge". The chosen recipe is
    marked."""
    lines = []
    for row in evidence:
        n = int(row["n"])
        ref = C.calibrated_pit_reference(n, draws=draws)
        parts = []
        for key, label in (("ece_recal", "ece"), ("coverage95_recal", "coverage95")):
            r, x = ref[label], row[key]
            part = (f"{label} {x:.3f} vs calibrated {r['median']:.3f} (band {r['low']:.3f}–{r['high']:.3f}: "
                    f"{_oof_position(x, r, n)})")
            if label == "coverage95":
                cc = oof_coverage_counts(x, n)
                part += (f", {'/'.join(map(str, cc['k']))} of {n} molecules, exact binomial p vs 0.95 "
                         f"{'–'.join(f'{q:.3f}' for q in cc['p'])}")
            parts.append(part)
        mark = " ← chosen" if (row["beta"], row["select_on"]) == (chosen["beta"], chosen["select_on"]) else ""
        lines.append(f"β={row['beta']:g}/{row['select_on']} out of fold, n = {row['n']} pooled over the fold ensembles, "
                     f"variance-scaled: " + "; ".join(parts) + mark)
    return lines


def cv_calibration_summary(evidence: list[dict], chosen: dict, test_ref: dict, n_test: int, draws: int = 1000) -> str:
    """The chosen recipe's out-of-fold calibration next to the scaffold test set's (``test_ref`` = its
    ``reference_values``), each against its own calibrated band; "detectable miscalibration" only for an ECE far
    outside it; the coverage with its molecule count, exact binomial p and the clustering caveat."""
    row = next(r for r in evidence if (r["beta"], r["select_on"]) == (chosen["beta"], chosen["select_on"]))
    n = int(row["n"])
    band = C.calibrated_pit_reference(n, draws=draws)
    ref, rc, t = band["ece"], band["coverage95"], test_ref["ece"]
    pos_e = _oof_position(row["ece_recal"], ref, n)
    oof = {"above": "above its band: detectable miscalibration out of fold",
           "below": "below its band"}.get(pos_e, f"{pos_e} of its band: no detectable miscalibration out of fold")
    x = row["coverage95_recal"]
    cc = oof_coverage_counts(x, n)
    pos_c = _oof_position(x, rc, n)
    counts = (f"{'/'.join(map(str, cc['k']))} of {n} molecules, exact binomial p {'–'.join(f'{q:.3f}' for q in cc['p'])}")
    cov = (f"{pos_c} of its band {rc['low']:.3f}–{rc['high']:.3f} ({counts}; {CLUSTER_CAVEAT})")
    pt = C.band_position(t)
    test = {"in": "inside its band", "at the edge": "at the edge of its band"}.get(pt, f"{pt} its band")
    return (f"chosen recipe: out-of-fold ECE after variance scaling {row['ece_recal']:.3f} on n = {row['n']} "
            f"(calibrated band {ref['low']:.3f}–{ref['high']:.3f}) → {oof}; its 95% intervals cover "
            f"{x:.3f}, {cov}. The scaffold test set's raw ECE {t['observed']:.3f} on "
            f"n = {n_test} (band {t['low']:.3f}–{t['high']:.3f}) is {test}. Both are reported: the "
            f"out-of-fold evidence rests on {row['n']} molecules and four fold ensembles, the test set on one "
            "ensemble and far fewer molecules")


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
          + "; its own calibrated band was not computed (the stored evidence keeps no σ), and the test set's band is "
          "not its yardstick")
    if lo > 0:
        tail = ("so the only evidence that σ ranks out-of-scaffold errors is this test set's marginal interval, and the "
                "larger out-of-fold evidence does not support it: no claim that σ ranks the errors")
    else:
        tail = "so no claim that σ ranks out-of-scaffold errors"
    return f"{first}; {cv}; {tail}"


def q1_answer(ensemble: dict, configurations: dict, recal: dict, conformal: dict, cv_row: dict,
              n_test: int, draws: int = 1000) -> str:
    """Interview answer 1, computed from the notebook's results: the larger (out-of-fold) evidence first — the ECE
    against its band ("detectably miscalibrated" only when it is outside), the coverage as k/n with its exact
    binomial p and the scaffold-clustering caveat —, then the test set compared like with like (variance-scaled
    against variance-scaled: the raw out-of-fold ECE and coverage were not stored), the validation s² interval, the
    Spearman, split conformal and selection."""
    n = int(cv_row["n"])
    band = C.calibrated_pit_reference(n, draws=draws)
    e, eb = cv_row["ece_recal"], band["ece"]
    c, cb = cv_row["coverage95_recal"], band["coverage95"]
    pe, pc = _oof_position(e, eb, n), _oof_position(c, cb, n)
    cc = oof_coverage_counts(c, n)
    oof_cal = ("is detectably miscalibrated by its ECE" if pe in ("above", "below")
               else "shows no detectable miscalibration by its ECE")
    cov_word = {"above": "over-covers", "below": "under-covers", "inside": "covers as nominal"}.get(pc, pc)
    vs, raw = configurations["gaussian_ensemble_recalibrated"], configurations["gaussian_ensemble"]
    test_any = any(C.band_position(x[k]) in ("above", "below") for x in (vs, raw) for k in ("ece", "coverage95"))
    s2_lo, s2_hi = recal["s2_ci"]
    s2_word = (f"cannot tell whether a rescale is needed (interval {s2_lo:.2f}–{s2_hi:.2f})" if s2_lo <= 1 <= s2_hi
               else f"wants a rescale (interval {s2_lo:.2f}–{s2_hi:.2f} excludes 1)")
    d_ece, d_nll = recal["changes"][("variance_scaled", "ece")], recal["changes"][("variance_scaled", "nll")]
    sp = raw["spearman"]
    return (
        f"Q1. Start from the larger evidence: out of fold inside train (n = {n}, {len(cv_row['spearman_folds'])} "
        f"fold ensembles) this recipe's σ, even after validation scaling, {oof_cal} (ECE {e:.3f}, band "
        f"{eb['low']:.3f}–{eb['high']:.3f}: {pe}); its 95% coverage {c:.3f} ({'/'.join(map(str, cc['k']))} of {n}, exact "
        f"binomial p {'–'.join(f'{q:.3f}' for q in cc['p'])}) is {pc}{' of' if pc.startswith('at the') else ''} its band "
        f"{cb['low']:.3f}–{cb['high']:.3f}{'' if pc.startswith('at the') else ' (' + cov_word + ')'} "
        f"({'at most a borderline over-coverage; ' if pc == 'at the upper edge' else ''}not robust to scaffold "
        f"clustering). The raw out-of-fold ECE and coverage were not stored, so the test set is "
        f"compared like with like: on the {n_test}-molecule scaffold test set the variance-scaled ECE is "
        f"{vs['ece']['observed']:.3f} (band {vs['ece']['low']:.3f}–{vs['ece']['high']:.3f}: "
        f"{C.band_position(vs['ece'])}) and its 95% coverage {vs['coverage95']['observed']:.3f} ("
        f"{C.band_position(vs['coverage95'])}); raw ECE {raw['ece']['observed']:.3f} ({C.band_position(raw['ece'])}) — "
        + ("this test set cannot detect miscalibration either way" if not test_any else
           "this test set detects a departure too (see the configuration table)")
        + f" (and it was read under earlier recipes: Data and protocol). Do not ship a validation-fitted s² as if it "
        f"were checked: validation alone (s² = {recal['s2']:.2f}) {s2_word}. Intervals whose coverage is checked out of "
        f"fold — e.g. CV+ / cross-conformal on out-of-fold residuals (Going further) — are the next step; they are not "
        f"evaluated in this notebook, and their guarantee also assumes exchangeable molecules, so check them on "
        f"scaffold-grouped folds. Spearman(|error|, σ) is {sp['observed']:.2f} on the test "
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


def q3_answer(raw: dict, scaled: dict) -> str:
    """Interview answer 3 from the classifier ensemble's rows of
    :func:`molpractice.uncertainty_report.evaluate_classification`: the validation ECE before/after T, the test ECE
    change against its calibrated-reference band (void when the Bernoulli(p̂) null is rejected for the source), and
    the decision from the paired BCa intervals of the log-loss and Brier changes (T-scaled − raw, test)."""
    ch, ll, br = scaled["ece_change_vs_raw"], scaled["log_loss_change_vs_raw"], scaled["brier_change_vs_raw"]
    null_rejected = not raw["ece_null_low"] <= raw["ece"] <= raw["ece_null_high"]
    ece_part = ("no valid reference for its ECE change (the Bernoulli(p̂) null is rejected for this source)"
                if null_rejected else
                f"its test ECE changed by {ch['change']:+.3f}, {ch['where']} the band a calibrated raw classifier would "
                f"show under the same T ({ch['low']:+.3f} to {ch['high']:+.3f})")
    better = [k for k, c in (("log loss", ll), ("Brier", br)) if c["verdict"] == "lower"]
    worse = [k for k, c in (("log loss", ll), ("Brier", br)) if c["verdict"] == "higher"]
    decision = (f"T detectably improved {' and '.join(better)} on test: ship it" if better and not worse else
                f"T detectably worsened {' and '.join(worse)} on test: do not ship it" if worse and not better else
                "the two scores disagree: no decision from this test set" if better and worse else
                "neither smooth proper score changed detectably on test, so this test set gives no reason to ship T "
                "(nor evidence that it hurts); one scalar that keeps the accuracy is cheap, but the improvement is "
                "not shown")
    return (f"Q3. Only if it also holds on data it was not fitted on — and check the premise: T minimises the "
            f"validation NLL, not the ECE. Here T = {raw['temperature']:.2f} moved the classifier's validation ECE "
            f"{raw['ece_val']:.3f} → {scaled['ece_val']:.3f} ("
            f"{'it did improve' if scaled['ece_val'] < raw['ece_val'] else 'it did not improve'} on the data T was fitted "
            f"on); {ece_part}. The decision rests on smooth proper scores with paired intervals (T-scaled − raw, test, "
            f"BCa): log loss {ll['change']:+.4f} (95% CI {ll['low']:+.4f} to {ll['high']:+.4f}: {ll['verdict']}), Brier "
            f"{br['change']:+.4f} (95% CI {br['low']:+.4f} to {br['high']:+.4f}: {br['verdict']}) → {decision}.")


def ece_bias_lines(class_rows: list[dict]) -> list[str]:
    """Per classification row: the bootstrap mean of the test ECE minus the ECE itself — the upward bias a
    bootstrap adds at this n (the answer to "compare the bootstrap mean column with the ECE column")."""
    return [f"{r['model']} {r['variant']}: bootstrap mean {r['ece_boot_mean']:.3f} − ECE {r['ece']:.3f} = "
            f"{r['ece_boot_mean'] - r['ece']:+.3f}" for r in class_rows]


def training_cap_lines(ensembles: dict, epochs: int, last: int = 20) -> list[str]:
    """Whether the epoch cap binds: per split, the members that ran to the cap (``epochs`` epochs: patience had not
    run out) and, for each of them, how much the best validation RMSE improved in the last ``last`` epochs (best
    over all epochs − best up to epoch ``epochs − last``; 0.000 = flat before the cap). A member that ran to the cap
    had its training length set by the cap, not by early stopping. ``last`` is shortened to a third of a short cap."""
    last = max(1, min(int(last), int(epochs) // 3))
    lines = []
    for name, e in ensembles.items():
        capped, gains = [], []
        for seed, h in enumerate(e.histories):
            v = np.asarray(h["val_rmse"], dtype=float)
            if v.size >= epochs:
                capped.append(seed)
                gains.append(float(np.min(v[: epochs - last]) - np.min(v)))
        runs = [len(h["val_rmse"]) for h in e.histories]
        tail = (f"; their best validation RMSE improved by "
                + ", ".join(f"{g:.3f} (seed {s})" for s, g in zip(capped, gains))
                + f" in epochs {epochs - last + 1}–{epochs}" if capped else "")
        lines.append(f"{name:>8}: epochs run {runs} (cap {epochs}); {len(capped)} of {len(runs)} members ran to the cap "
                     f"before patience ran out{tail}"
                     + (" → for them the cap, not early stopping, set the training length" if capped else
                        " → early stopping, not the cap, ended every member"))
    return lines


def temperature_lines(class_rows: list[dict]) -> list[str]:
    """Per probability source of :func:`molpractice.uncertainty_report.evaluate_classification`: T with its
    interval; the raw test ECE against the consistency-resampling null (``ece_null_verdict``); the T-scaled ECE
    change against the change a calibrated raw source shows under the same T — "no valid reference" when the raw
    null is rejected (the change's band is drawn from that same null); and the paired BCa intervals of the log-loss
    and Brier changes (T-scaled − raw, test), on which any claim about T rests."""

    c = {(x["model"], x["variant"]): x for x in class_rows}
    lines = []
    for src in dict.fromkeys(x["model"] for x in class_rows):
        raw, sc = c[(src, "raw")], c[(src, "temperature_scaled")]
        ch, ll, br = sc["ece_change_vs_raw"], sc["log_loss_change_vs_raw"], sc["brier_change_vs_raw"]
        rejected = not raw["ece_null_low"] <= raw["ece"] <= raw["ece_null_high"]
        change = (f"test ECE change {ch['change']:+.3f}: no valid reference (the Bernoulli(p̂) null is rejected for "
                  "this source, and the change's band is drawn from it)" if rejected else
                  f"test ECE change {ch['change']:+.3f}, {ch['where']} the band a calibrated raw source shows under "
                  f"the same T ({ch['low']:+.3f} to {ch['high']:+.3f})")
        lo, hi = raw["temperature_ci"]
        lines.append(
            f"{src}: T = {raw['temperature']:.2f} (percentile bootstrap 95% CI {lo:.2f}–{hi:.2f} over validation "
            f"molecules: {'contains' if lo <= 1 <= hi else 'excludes'} 1); raw ECE {raw['ece']:.3f} vs calibrated null "
            f"{raw['ece_null_median']:.3f} (band {raw['ece_null_low']:.3f}–{raw['ece_null_high']:.3f}; "
            f"{raw['ece_null_p']:.1%} of calibrated draws score at least as high) → "
            f"{ece_null_verdict(raw['ece'], raw['ece_null_low'], raw['ece_null_high'], raw['ece_null_p_two_sided'])}; "
            f"{change}; T-scaled − raw on test (paired BCa 95% CI): log loss {ll['change']:+.4f} ({ll['low']:+.4f} to "
            f"{ll['high']:+.4f}: {ll['verdict']}), Brier {br['change']:+.4f} ({br['low']:+.4f} to {br['high']:+.4f}: "
            f"{br['verdict']})")
    return lines


def random_outside_line(data: dict, pred: dict) -> str:
    """A check of the random split's results on its test molecules that no choice read (in the scaffold test part,
    :func:`molpractice.ensembles.split_overlap`): RMSE and 95 % coverage (k/n, exact interval) of the ensemble there
    and on the other random-test molecules; too few molecules for a verdict, printed as a check."""
    from . import ensembles as E

    o = E.split_overlap(data)
    idx = np.asarray(data["random"].index["test"])
    out = np.isin(idx, o["outside"])
    p = pred["random"]
    z = (p["y"] - p["mean"]) / np.sqrt(p["var"])
    parts = []
    for label, mask in (("read by no choice", out), ("the other", ~out)):
        k, n = int(np.sum(np.abs(z[mask]) <= 1.959963984540054)), int(mask.sum())
        if n == 0:
            parts.append(f"{label}: none")
            continue
        lo, hi = C.clopper_pearson(k, n)
        rmse = float(np.sqrt(np.mean((p["y"][mask] - p["mean"][mask]) ** 2)))
        parts.append(f"{label} {n}: RMSE {rmse:.3f}, 95% coverage {k}/{n} (exact 95% CI {lo:.2f}–{hi:.2f})")
    return ("random split, test molecules " + "; ".join(parts)
            + " — a check only: too few molecules for a verdict either way")
