"""``molpractice bench ch05``: the chapter's rigor measurements in one table, each with its Monte Carlo error.

Rows: coverage of i.i.d. vs cluster bootstrap 95 % intervals of a ridge model's test MSE on the analogue-series
data (:mod:`molpractice.families`, :func:`molpractice.family_studies.coverage_on_families`); false-positive rate
and power of the naive unpaired i.i.d. comparison vs the paired cluster bootstrap with seeds
(:func:`molpractice.comparisons.comparison_error_rates`, a documented simulation); false wins among many
comparisons, uncorrected vs Holm vs Benjamini–Hochberg (:func:`molpractice.comparisons.false_wins`). No model
choice is made on test data: the ridge alpha is fixed in advance (``family_studies.RIDGE_ALPHA``), the rest
are simulations.
"""
from __future__ import annotations

import json
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
