"""Calibration with few outcomes and exact bounds on a success rate (chapter 5, exercises 5.5 and 5.6): the
calibration test's size and power, the temperature-scaling deployment rule, the action threshold from an exact
lower bound, how well normal-approximation bounds cover, and what repeated monthly looks do.

Functions that run exercise code receive the chapter module (``drills``: ``calibration_test``,
``success_rate_lower_bound``). Run settings: :data:`molpractice.rigor.SETTINGS` (defined in :mod:`molpractice.rigor_settings`; re-exported there with every
public name of this module).

==================================  ===========================================================
``simulate_outcomes``               predictions p̂ ~ Beta and outcomes under a temperature/shift miscalibration.
``rejection_lines``                 printable lines of a rejection-rate table, with the size verdict.
``calibration_power``               rejection rate of the calibration test for given miscalibrations.
``fit_temperature_to_probabilities`` T minimising the NLL of sigmoid(logit(p̂)/T).
``temperature_scaling_cv``          cross-validated NLL of temperature scaling with a paired bootstrap.
``temperature_gain_on_test``        a T fitted elsewhere, scored once: paired NLL gain with a bootstrap interval.
``temperature_scaling_study``       how often that rule deploys temperature scaling, per true temperature.
``smallest_k_above``                fewest successes whose lower bound beats a rate.
``action_probability``              chance of acting (k >= k*) for true success rates.
``bound_coverage``                  exact binomial coverage of one-sided bounds (Clopper–Pearson, Wald, Wilson).
``bound_coverage_lines``            printable lines: each bound's coverage range, where it under- and over-covers.
``multiple_looks``                  false-alarm probability when the rule is applied month after month.
``real_classifier_check``           the 5.5 questions once on real predictions (logistic regression, solubility set).
``real_classifier_lines``           printable lines of that check.
==================================  ===========================================================
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .rigor_settings import SETTINGS


def _settings():
    return SETTINGS.current()


# --------------------------------------------------------------------------------------- calibration


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p, eps=1e-6):
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


def simulate_outcomes(rng, n: int, temperature: float = 1.0, shift: float = 0.0, beta=(2.0, 6.0)):
    """``(p_hat, y)``: predictions p̂ ~ Beta(*beta) and outcomes with true probability sigmoid(logit(p̂)/T + shift).

    T < 1: predictions under-confident; T > 1: over-confident; ``shift``: systematic over/under-prediction.
    """
    p_hat = rng.beta(*beta, size=n)
    true = _sigmoid(_logit(p_hat) / temperature + shift)
    return p_hat, (rng.random(n) < true).astype(np.float64)




def rejection_lines(table, level: float = 0.05) -> list[str]:
    """Printable lines for :func:`calibration_power`: one per condition (rate, its 95 % interval, mean ECE),
    then whether the calibrated condition (T = 1, shift 0), if present, is rejected above, below or at ``level``."""
    out = [f"T = {r.temperature:g}, shift {r['shift']:+g}: rejected in {r['rejection rate']:.1%} of months "
           f"[{r.low:.1%}, {r.high:.1%}]; mean ECE {r['mean ece']:.3f}" for _, r in table.iterrows()]
    cal = table[(table.temperature == 1.0) & (table["shift"] == 0.0)]
    if len(cal):
        r = cal.iloc[0]
        where = "above" if r.low > level else "below" if r.high < level else "consistent with"
        out.append(f"calibrated months: rejection rate {where} the {level:.0%} level")
    return out


def calibration_power(drills, conditions: Sequence[tuple[float, float]], n: int | None = None,
                      reps: int | None = None, level: float = 0.05, seed: int = 0, beta=(2.0, 6.0)):
    """Rejection rate of ``drills.calibration_test`` at ``level`` for each (temperature, shift) condition.

    Returns:
        DataFrame with ``temperature``, ``shift``, ``rejection rate`` (power; the size for (1, 0)), its 95 %
        Clopper–Pearson ``low``/``high``, and ``mean ece``.
    """
    import pandas as pd
    from scipy import stats

    cfg = _settings()
    n, reps = n or cfg.n_outcomes, reps or cfg.power_reps
    rng = np.random.default_rng(seed)
    rows = []
    for temperature, shift in conditions:
        rejections, ece = 0, 0.0
        for _ in range(reps):
            out = drills.calibration_test(*simulate_outcomes(rng, n, temperature, shift, beta), n_boot=1)
            rejections += out["p_value"] < level
            ece += out["ece"] / reps
        ci = stats.binomtest(rejections, reps).proportion_ci(method="exact")
        rows.append({"temperature": temperature, "shift": shift, "rejection rate": rejections / reps,
                     "low": ci.low, "high": ci.high, "mean ece": ece})
    return pd.DataFrame(rows)


def _nll(p, y):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def fit_temperature_to_probabilities(p_hat, y) -> float:
    """T minimising the NLL of sigmoid(logit(p̂)/T) on (p̂, y) (bounded search over log T in [−3, 3])."""
    from scipy.optimize import minimize_scalar

    z = _logit(np.asarray(p_hat, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    res = minimize_scalar(lambda s: _nll(_sigmoid(z / math.exp(s)), y).mean(), bounds=(-3.0, 3.0), method="bounded")
    return float(math.exp(res.x))


def temperature_scaling_cv(p_hat, y, folds: int = 5, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> dict:
    """Should temperature scaling be deployed? Cross-validated NLL with a paired bootstrap.

    Each sample's held-out NLL after scaling (T fitted on the other folds) is paired with its NLL before;
    the percentile bootstrap of the mean difference (after − before) gives an interval.
    Returns:
        dict with ``T`` (fitted on all data), ``nll_before``, ``nll_after`` (cross-validated), ``gain``
        (before − after, positive = better), ``gain_ci`` and ``deploy`` (True when the interval excludes 0 on
        the side of a gain).
    """
    p_hat = np.asarray(p_hat, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(p_hat)) % folds
    after = np.empty(len(p_hat))
    for f in range(folds):
        held = fold == f
        T = fit_temperature_to_probabilities(p_hat[~held], y[~held])
        after[held] = _nll(_sigmoid(_logit(p_hat[held]) / T), y[held])
    before = _nll(p_hat, y)
    diff = before - after
    boot = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return {"T": fit_temperature_to_probabilities(p_hat, y), "nll_before": float(before.mean()),
            "nll_after": float(after.mean()), "gain": float(diff.mean()), "gain_ci": (float(low), float(high)),
            "deploy": bool(low > 0)}


def temperature_gain_on_test(T: float, p_hat, y, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> dict:
    """A temperature ``T`` fitted elsewhere (e.g. on validation), scored once on (p̂, y): each sample's NLL before
    − after scaling, with a paired percentile bootstrap of the mean over samples.
    Returns:
        dict with ``T``, ``nll_before``, ``nll_after``, ``gain`` (positive = better), ``gain_ci`` and ``deploy``
        (the interval lies above 0)."""
    p_hat, y = np.asarray(p_hat, dtype=np.float64), np.asarray(y, dtype=np.float64)
    before, after = _nll(p_hat, y), _nll(_sigmoid(_logit(p_hat) / T), y)
    diff = before - after
    rng = np.random.default_rng(seed)
    boot = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return {"T": float(T), "nll_before": float(before.mean()), "nll_after": float(after.mean()),
            "gain": float(diff.mean()), "gain_ci": (float(low), float(high)), "deploy": bool(low > 0)}


def temperature_scaling_study(temperatures: Sequence[float], n: int | None = None, reps: int | None = None,
                              n_boot: int | None = None, seed: int = 0, beta=(2.0, 6.0)):
    """For each true temperature: how often :func:`temperature_scaling_cv` deploys, the median fitted T and the
    mean cross-validated NLL gain, over ``reps`` simulated months of ``n`` outcomes."""
    import pandas as pd

    cfg = _settings()
    n, reps, n_boot = n or cfg.n_outcomes, reps or cfg.ts_reps, n_boot or cfg.ts_boot
    rng = np.random.default_rng(seed)
    rows = []
    for temperature in temperatures:
        runs = [temperature_scaling_cv(*simulate_outcomes(rng, n, temperature, 0.0, beta), n_boot=n_boot,
                                       seed=int(rng.integers(1 << 31))) for _ in range(reps)]
        rows.append({"true T": temperature, "deployed": float(np.mean([r["deploy"] for r in runs])),
                     "median fitted T": float(np.median([r["T"] for r in runs])),
                     "mean NLL gain": float(np.mean([r["gain"] for r in runs]))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------- lower bounds


def smallest_k_above(drills, n: int, rate: float, confidence: float = 0.95) -> int | None:
    """Fewest successes k out of n whose lower bound (``drills.success_rate_lower_bound``) exceeds ``rate``;
    None if even k = n does not."""
    for k in range(int(math.floor(rate * n)), n + 1):
        if drills.success_rate_lower_bound(k, n, confidence) > rate:
            return k
    return None


def action_probability(k_star: int, n: int, rates: Sequence[float]):
    """P(at least ``k_star`` successes in n) for each true rate — the chance the rule "act when k >= k*" fires."""
    import pandas as pd
    from scipy import stats

    return pd.DataFrame({"true rate": list(rates),
                         "P(act)": [float(stats.binom.sf(k_star - 1, n, r)) for r in rates]})


def bound_coverage(drills, n: int, rates: Sequence[float], confidence: float = 0.95):
    """Exact coverage of one-sided bounds on a success rate after k successes in ``n`` trials, per true rate p:
    P(bound on the right side of p) = sum over k of Binomial(k; n, p) · [bound(k) covers p] (no simulation).

    Bounds: ``Clopper–Pearson lower`` (``drills.success_rate_lower_bound``), ``Wald lower``
    p̂ − z·sqrt(p̂(1 − p̂)/n), ``Wilson lower`` (score bound) and ``Wald upper`` p̂ + z·sqrt(p̂(1 − p̂)/n),
    z the one-sided ``confidence`` quantile; a lower bound covers when it is <= p, an upper one when it is >= p.
    Returns:
        DataFrame with ``true rate`` and one coverage column per bound.
    """
    import pandas as pd
    from scipy import stats

    z = float(stats.norm.ppf(confidence))
    k = np.arange(n + 1)
    p_hat = k / n
    half = z * np.sqrt(p_hat * (1 - p_hat) / n)
    centre, spread = p_hat + z * z / (2 * n), z * np.sqrt(p_hat * (1 - p_hat) / n + z * z / (4 * n * n))
    bounds = {"Clopper–Pearson lower": np.array([drills.success_rate_lower_bound(int(j), n, confidence) for j in k]),
              "Wald lower": p_hat - half, "Wilson lower": (centre - spread) / (1 + z * z / n)}
    rows = []
    for p in rates:
        pmf = stats.binom.pmf(k, n, p)
        row = {"true rate": float(p)}
        row.update({name: float(pmf[b <= p].sum()) for name, b in bounds.items()})
        row["Wald upper"] = float(pmf[p_hat + half >= p].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def multiple_looks(drills, n_per_look: int, looks: int | None = None, true_rate: float = 0.10,
                   confidence: float = 0.95, reps: int | None = None, seed: int = 0):
    """False alarms when "act if the lower bound exceeds ``true_rate``" is checked every month.

    The true rate equals the threshold, so every action is a false alarm. Three rules:
    ``monthly`` (each month's n outcomes on their own), ``cumulative`` (all outcomes so far) and ``monthly,
    Bonferroni`` (each look at confidence 1 − (1 − confidence)/looks).
    Returns:
        DataFrame indexed by ``looks`` (1..L) with P(at least one false alarm so far) per rule
        (simulated, ``reps`` years); ``attrs["monthly exact"]``: the monthly rule's exact value after L looks,
        1 − (1 − P(X >= k*))^L with X ~ Binomial(n, ``true_rate``) (the looks are independent);
        ``attrs["one look exact"]`` P(X >= k*) and ``attrs["bonferroni exact"]`` the Bonferroni rule's exact value
        after L looks (same formula with its own k); the simulated columns are checks of these.
    """
    from scipy import stats

    import pandas as pd

    cfg = _settings()
    looks, reps = looks or cfg.looks, reps or cfg.looks_reps
    rng = np.random.default_rng(seed)
    k_month = smallest_k_above(drills, n_per_look, true_rate, confidence)
    k_bonf = smallest_k_above(drills, n_per_look, true_rate, 1 - (1 - confidence) / looks)
    k_cum = np.array([smallest_k_above(drills, n_per_look * m, true_rate, confidence) for m in range(1, looks + 1)])
    counts = rng.binomial(n_per_look, true_rate, size=(reps, looks))
    big = np.iinfo(np.int64).max
    alarms = {
        "monthly": counts >= (k_month if k_month is not None else big),
        "cumulative": np.cumsum(counts, axis=1) >= np.where(k_cum == None, big, k_cum).astype(np.int64),  # noqa: E711
        "monthly, Bonferroni": counts >= (k_bonf if k_bonf is not None else big),
    }
    table = pd.DataFrame({rule: np.logical_or.accumulate(a, axis=1).mean(axis=0) for rule, a in alarms.items()})
    table.index = pd.RangeIndex(1, looks + 1, name="looks")
    if k_month is not None:
        one = float(stats.binom.sf(k_month - 1, n_per_look, true_rate))
        table.attrs["one look exact"] = one
        table.attrs["monthly exact"] = float(1 - (1 - one) ** looks)
    if k_bonf is not None:
        table.attrs["bonferroni exact"] = float(1 - (1 - stats.binom.sf(k_bonf - 1, n_per_look, true_rate)) ** looks)
    return table


def bound_coverage_lines(table, level: float = 0.95, high: float = 0.96) -> list[str]:
    """One line per bound of :func:`bound_coverage`: its coverage range, and the true rates where it falls below
    ``level`` or exceeds ``high`` (over-covers)."""
    t = table.set_index("true rate")
    fmt = lambda idx: ", ".join(f"{p:g}" for p in idx) or "none"  # noqa: E731
    return [f"{name}: coverage {c.min():.1%}–{c.max():.1%}; below {level:.0%} at true rates {fmt(c.index[c < level])}; "
            f"above {high:.0%} at {fmt(c.index[c > high])}" for name, c in t.items()]


SOLUBLE_LOGS = -4.0
"""Class threshold of :func:`real_classifier_check`: soluble means logS > −4 (100 µM), as in chapter 3."""
LOGISTIC_C = 0.1
"""Inverse regularisation of that logistic regression, fixed in advance (no split chose it)."""


def real_classifier_check(drills, chapter1, smiles: Sequence[str], targets, X=None, seed: int = 0):
    """The 5.5 questions once on real predictions: a logistic regression (Morgan counts, ``C = LOGISTIC_C``
    fixed in advance) predicts "soluble" (logS > ``SOLUBLE_LOGS``) on chapter 1's solubility set, trained on the
    train part of chapter 1's random and scaffold splits; its test-part probabilities get
    ``drills.calibration_test``. The temperature decision: T is fitted on the **validation** part's
    probabilities (:func:`fit_temperature_to_probabilities`), then scored once on the test part
    (:func:`temperature_gain_on_test`: each test molecule's NLL before − after scaling, paired percentile
    bootstrap over test molecules); deploy when the interval lies above 0. No choice uses the test part.
    Returns:
        DataFrame with ``split``, ``n`` (test molecules), ``n val``, ``soluble share``, ``mean p̂``, ``z``,
        ``p_value``, ``ece``, ``ece low``, ``ece high``, ``T`` (fitted on validation), ``nll gain``, ``gain low``,
        ``gain high``, ``deploy``.
    """
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from . import chem, splits

    smiles = list(smiles)
    label = (np.asarray(targets, dtype=np.float64) > SOLUBLE_LOGS).astype(np.float64)
    X = chem.morgan_fingerprints(smiles, counts=True) if X is None else X
    rows = []
    for name, (train, val, test) in splits.make_splits(smiles, chapter1).items():
        model = LogisticRegression(C=LOGISTIC_C, max_iter=5000).fit(X[train], label[train])
        p = model.predict_proba(X[test])[:, 1]
        out = drills.calibration_test(p, label[test])
        T = fit_temperature_to_probabilities(model.predict_proba(X[val])[:, 1], label[val])
        ts = temperature_gain_on_test(T, p, label[test], seed=seed)
        rows.append({"split": name, "n": len(test), "n val": len(val), "soluble share": float(label[test].mean()),
                     "mean p̂": float(p.mean()), "z": float(out["z"]), "p_value": float(out["p_value"]),
                     "ece": float(out["ece"]), "ece low": float(out["ece_ci"][0]), "ece high": float(out["ece_ci"][1]),
                     "T": ts["T"], "nll gain": ts["gain"], "gain low": ts["gain_ci"][0], "gain high": ts["gain_ci"][1],
                     "deploy": ts["deploy"]})
    return pd.DataFrame(rows)


def real_classifier_lines(table, level: float = 0.05) -> list[str]:
    """One printable line per split of :func:`real_classifier_check`: the z test's verdict at ``level`` and
    the temperature decision with its paired interval."""
    out = []
    for _, r in table.iterrows():
        verdict = "miscalibration detected" if r["p_value"] < level else "no detectable miscalibration"
        gain = ("deploy T" if r["deploy"] else "do not deploy T: " + ("the NLL gain's interval lies below 0 (worse)"
                                                                     if r["gain high"] < 0 else "no detectable gain"))
        out.append(f"{r['split']} split, {int(r['n'])} test molecules ({r['soluble share']:.0%} soluble, mean p̂ "
                   f"{r['mean p̂']:.2f}): z = {r['z']:+.2f}, p = {r['p_value']:.3f} ({verdict} at {level:.0%}); ECE "
                   f"{r['ece']:.3f} [{r['ece low']:.3f}, {r['ece high']:.3f}]; T = {r['T']:.2f} fitted on the "
                   f"validation part (n = {int(r['n val'])}), test NLL gain {r['nll gain']:+.4f} [{r['gain low']:+.4f}, "
                   f"{r['gain high']:+.4f}] (paired, test molecules resampled) → {gain}")
    return out
