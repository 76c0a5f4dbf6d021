"""``molpractice bench ch05``: the chapter's rigor measurements in one table, each with its Monte Carlo error.

Rows: coverage of i.i.d. vs cluster bootstrap 95 % intervals of a ridge model's test MSE on the analogue-series
data (:mod:`molpractice.families`, :func:`molpractice.family_studies.coverage_on_families`); false-positive rate
and power of the naive unpaired i.i.d. comparison vs the paired cluster bootstrap with seeds
(:func:`molpractice.comparisons.comparison_error_rates`, a documented simulation) and that method's
false-positive rate alone on many more null test sets (:func:`molpractice.comparisons.null_rejection_rate`); false wins among many
comparisons, uncorrected vs Holm vs Benjamini–Hochberg (:func:`molpractice.comparisons.false_wins`). No model
choice is made on test data: the ridge alpha is fixed in advance (``family_studies.RIDGE_ALPHA``), the rest
are simulations.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path


def run_benchmark(implementation: str | None = None, json_path=None) -> dict:
    """Run the three studies with the active mode's settings, print one table, return ``{"results": [...]}``.

    Each result row has ``measurement``, ``method``, ``value``, ``mc_se`` (Monte Carlo standard error),
    ``reps`` and ``setting`` (what was simulated); ``json_path`` also writes the report there.
    """
    import pandas as pd

    from . import chem, comparisons, families, family_studies
    from .implementations import load_chapter
    from .runtime import implementation_name, run_mode

    implementation = implementation or implementation_name()
    drills = load_chapter("ch05_drills", implementation)
    start = time.perf_counter()
    data = families.family_data()
    X = chem.morgan_fingerprints(data["smiles"].tolist(), counts=True)
    rows = []
    cov = family_studies.coverage_on_families(drills, data, X, test_families=(30,))
    for _, r in cov.iterrows():
        rows.append({"measurement": "coverage of 95 % RMSE intervals (family data, 30 test families)",
                     "method": f"{r['method']} bootstrap", "value": r["coverage"], "mc_se": r["MC se"],
                     "reps": int(r["reps"]), "setting": f"true RMSE {r['true RMSE']:.3f}; ridge trained on other families"})
    rates = comparisons.comparison_error_rates()
    for _, r in rates.iterrows():
        rows.append({"measurement": "false-positive rate at 5 % (true difference 0)", "method": r["method"],
                     "value": r["false-positive rate"], "mc_se": r["fpr MC se"], "reps": int(r["reps"]),
                     "setting": "simulated losses (comparisons.SD)"})
        rows.append({"measurement": f"power (true difference {r['true difference']:g})", "method": r["method"],
                     "value": r["power"], "mc_se": r["power MC se"], "reps": int(r["reps"]),
                     "setting": "simulated losses (comparisons.SD)"})
    null = comparisons.null_rejection_rate()
    rows.append({"measurement": "false-positive rate at 5 %, independent null test sets only", "method": null["method"],
                 "value": null["rate"], "mc_se": null["MC se"], "reps": int(null["reps"]),
                 "setting": "simulated losses (comparisons.SD)"})
    wins = comparisons.false_wins(drills)
    cfg = comparisons.SETTINGS.current()
    for _, r in wins.iterrows():
        setting = f"m = {cfg.mt_m}, {cfg.mt_true} real effects (z shift {cfg.mt_effect:g})"
        rows.append({"measurement": "P(any false win) among m comparisons", "method": r["rule"],
                     "value": r["P(any false win)"], "mc_se": r["MC se"], "reps": int(r["reps"]), "setting": setting})
        rows.append({"measurement": "false discovery rate among m comparisons", "method": r["rule"],
                     "value": r["false discovery rate"], "mc_se": r["FDR MC se"], "reps": int(r["reps"]),
                     "setting": setting})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 10, "display.max_colwidth", 70):
        print(table.drop(columns=["setting"]).round(4).to_string(index=False))
    print("model choices: ridge alpha fixed in advance (no split chose it); everything else is simulated")
    if run_mode() == "fast":
        print("fast mode: fewer repeats — the Monte Carlo errors are larger")
    report = {"chapter": "ch05", "mode": run_mode(), "implementation": implementation,
              "seconds_total": time.perf_counter() - start, "results": rows}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report


def _pm(p: float, se: float, digits: int = 1) -> str:
    return f"{p:.{digits}%} ± {se:.{digits}%}"


def _ci(row) -> str:
    return f"{row['rejection rate']:.1%} [{row['low']:.1%}, {row['high']:.1%}]"


def _se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def summary_table(r: dict):
    """Notebook 05's numbers in one ``quantity``/``value`` table (± one Monte Carlo standard error, brackets a
    95 % interval), from the notebook's own results: ``r`` holds ``slopes_51``, ``slopes_52`` (log–log slopes),
    ``coverage`` (:func:`~molpractice.family_studies.coverage_on_families`), ``fixed``
    (:func:`~molpractice.family_studies.fixed_test_leakage_curve`), ``leakage``
    (:func:`~molpractice.rigor.leakage_curve`), ``rates`` (:func:`~molpractice.comparisons.comparison_error_rates`),
    ``null5`` and ``null15`` (:func:`~molpractice.comparisons.null_rejection_rate`, default and seed SD 0.15),
    ``second_run`` (a row of the sensitivity table: default components, another seed), ``wins``
    (:func:`~molpractice.comparisons.false_wins`), ``size26`` and ``sym`` (calibration rejection tables for
    p̂ ~ Beta(2, 6) size and Beta(2, 2), size first), ``power`` (the Beta(2, 6) power table), ``ts``
    (temperature-scaling study), ``k_star``, ``looks`` (multiple-looks table) and the run settings ``cmp_reps``,
    ``cmp_delta``, ``mt_m``, ``ts_reps``, ``looks_reps``, ``n_outcomes``."""
    import pandas as pd

    cov = r["coverage"][r["coverage"]["test families"] == r["coverage"]["test families"].max()].set_index("method")
    lk, fixed = r["leakage"].set_index("split"), r["fixed"]
    rate, w = r["rates"].set_index("method"), r["wins"].set_index("rule")
    pw = r["power"].set_index(["temperature", "shift"])
    n5, n15, s1 = r["null5"], r["null15"], r["second_run"]
    tsd, last = r["ts"].set_index("true T")["deployed"], r["looks"].iloc[-1]
    s51, s52 = r["slopes_51"], r["slopes_52"]
    looks_se = {k: _se(last[k], r["looks_reps"]) for k in ("monthly", "cumulative", "monthly, Bonferroni")}
    rows = [
        ("window: log–log slope, O(n) / brute force", f"{s51['O(n) window']:.2f} / {s51['brute force']:.2f}"),
        ("tree: log–log slope, walk / edge scan", f"{s52['O(n + E) walk']:.2f} / {s52['edge scan per node']:.2f}"),
        (f"family data (constructed series effect), {int(cov['test families'].iloc[0])} test families: coverage of "
         "95 % intervals, i.i.d. / cluster", " / ".join(_pm(cov.loc[m, "coverage"], cov.loc[m, "MC se"])
                                                         for m in ("i.i.d.", "cluster"))),
        ("family data, fixed test set: ridge RMSE, all neighbours / siblings removed / strictest cutoff",
         f"{fixed.rmse.iloc[0]:.2f} / {fixed['rmse no siblings'].iloc[0]:.2f} / {fixed.rmse.iloc[-1]:.2f}"),
        ("solubility RF test RMSE: random / scaffold split", f"{lk.loc['random', 'rmse']:.2f} / {lk.loc['scaffold', 'rmse']:.2f}"),
        (f"A vs B false-positive rate under H0: unpaired, 1 model / paired, 1 model ({r['cmp_reps']} sets each) / "
         f"paired, 5 models ({n5['reps']} sets)",
         " / ".join([_pm(rate.iloc[k]["false-positive rate"], rate.iloc[k]["fpr MC se"]) for k in (0, 1)]
                    + [_pm(n5["rate"], n5["MC se"])])),
        (f"A vs B power at true difference {r['cmp_delta']:g} (unequal sizes: not comparable), same three",
         " / ".join(_pm(x["power"], x["power MC se"], 0) for _, x in rate.iterrows())),
        (f"paired, 5 models each, false-positive rate: another simulation seed ({int(s1['reps'])} test sets) / "
         f"seed SD 0.15 ({n15['reps']} test sets)",
         f"{_pm(s1['false-positive rate'], s1['fpr MC se'])} / {_pm(n15['rate'], n15['MC se'])}"),
        (f"P(any false win) of {r['mt_m']} independent comparisons: none / Holm / BH",
         " / ".join(_pm(w.loc[k, "P(any false win)"], w.loc[k, "MC se"]) for k in ("uncorrected", "Holm", "Benjamini–Hochberg"))),
        ("BH false discovery rate", _pm(w.loc["Benjamini–Hochberg", "false discovery rate"],
                                        w.loc["Benjamini–Hochberg", "FDR MC se"], 2)),
        (f"calibration test, n = {r['n_outcomes']}, p̂ ~ Beta(2, 6): size / power at T = 1.5",
         f"{_ci(r['size26'].iloc[0])} / {_ci(pw.loc[(1.5, 0.0)])}"),
        ("calibration test, p̂ ~ Beta(2, 2): size / power at T = 1.5", f"{_ci(r['sym'].iloc[0])} / {_ci(r['sym'].iloc[-1])}"),
        ("temperature scaling deployed when true T = 1.5 / 2",
         " / ".join(_pm(tsd[t], _se(tsd[t], r["ts_reps"])) for t in (1.5, 2.0))),
        (f"successes of {r['n_outcomes']} needed for a 95 % bound above 10 %", f"{r['k_star']}"),
        (f"false alarms in {len(r['looks'])} monthly looks, true rate exactly 10 %: each month alone / cumulative data / "
         "monthly, Bonferroni", " / ".join(_pm(last[k], looks_se[k]) for k in looks_se)),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"])
