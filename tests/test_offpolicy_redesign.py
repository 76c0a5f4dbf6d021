"""The off-policy check of the chapter-6 redesign (molpractice.offpolicy_redesign)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molpractice import campaign as C
from molpractice import offpolicy_redesign as OR
from molpractice import oracles
from solutions import ch06_oracle_optimization as ch06

LIB = ["CCO", "CCCl", "ClCCCl", "c1ccccc1", "Clc1ccccc1Cl", "CC(=O)N(C)C", "Cc1ccc(C)cc1", "CCN(CC)CC",
       "BrCCBr", "OCC(O)CO", "c1ccncc1", "FC(F)(F)c1ccccc1"]
SLOPE = 0.015  # per heavy atom: about what the audit of a hacked 400-call GA run fits (tests/test_oracles_optimizers.py)


def test_softmax_policy_and_bad_input():
    p = OR.softmax_policy([0.0, 1.0, 2.0], 1.0)
    assert p.sum() == pytest.approx(1.0) and np.all(np.diff(p) > 0)
    assert OR.softmax_policy([5.0, 5.0], 0.01) == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="temperature"):
        OR.softmax_policy([1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="scores"):
        OR.softmax_policy([1.0, np.nan], 1.0)
    with pytest.raises(ValueError, match="scores"):
        OR.softmax_policy([], 1.0)


def test_library_policies_exact_values():
    pol = OR.library_policies(LIB, slope=SLOPE, temperature=0.05)  # default feature: heavy atoms
    true = np.array([oracles.true_score(s) for s in LIB])
    assert pol["V_uniform"] == pytest.approx(true.mean())
    assert pol["V_redesign"] == pytest.approx(float(pol["redesign"] @ true))
    assert pol["V_hacked"] == pytest.approx(float(pol["hacked"] @ true))
    assert pol["proxy"] == pytest.approx([oracles.proxy_score(s, bug=True) for s in LIB])
    heavy = np.array([oracles.heavy_atom_count(oracles.mol_from_smiles(s)) for s in LIB])
    assert pol["corrected"] == pytest.approx(pol["proxy"] - SLOPE * heavy)
    assert pol["redesign"] == pytest.approx(OR.softmax_policy(pol["corrected"], 0.05))
    # the correction is linear in the heavy atoms, the bug is not (0.7 · (dock_bug − dock), a function of the overlay):
    # no slope turns the buggy proxy into the bug-free one. On these small molecules (3-10 heavy atoms; zolpidem has 23)
    # the bug barely acts: its term stays within ±0.03 (its rise with size: tests/test_oracles_optimizers.py)
    bug = pol["proxy"] - np.array([oracles.proxy_score(s, bug=False) for s in LIB])
    assert np.abs(bug).max() < 0.03 and heavy.max() <= 10
    fit = np.polyfit(heavy, bug, 1)
    assert np.abs(bug - np.polyval(fit, heavy)).max() > 1e-3
    rings = OR.library_policies(LIB, 0.01, feature="rings", temperature=0.05)
    assert rings["corrected"] == pytest.approx(rings["proxy"] - 0.01 * np.array([C.descriptor("rings", s) for s in LIB]))
    with pytest.raises(ValueError, match="feature"):
        OR.library_policies(LIB, SLOPE, feature="colour")
    with pytest.raises(ValueError, match="slope"):
        OR.library_policies(LIB, float("nan"))
    with pytest.raises(ValueError, match="lib"):
        OR.library_policies(LIB[:1], SLOPE)


def test_estimate_matches_the_chapter_estimators():
    pol = OR.library_policies(LIB, SLOPE, temperature=0.1)
    idx = np.array([0, 3, 3, 7, 11])
    e = OR.estimate(ch06, pol, idx)
    w = pol["redesign"][idx] / pol["uniform"][idx]
    assert e["IPS"] == pytest.approx(np.mean(w * pol["true"][idx]))
    assert e["SNIPS"] == pytest.approx(np.sum(w * pol["true"][idx]) / w.sum())
    dm = float(pol["redesign"] @ pol["corrected"])
    assert e["DR"] == pytest.approx(np.mean(dm + w * (pol["true"][idx] - pol["corrected"][idx])))
    assert e["ESS"] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())


def test_redesign_ope_is_unbiased_where_it_should_be_and_reports_intervals():
    res = OR.redesign_ope(ch06, LIB, SLOPE, temperature=0.1, n_rounds=60, n_logs=300, n_boot=200, seed=3,
                          coverage_logs=40, coverage_boot=50)
    assert set(res["one"].index) == set(OR.ESTIMATORS)
    assert set(res["many"].index) == {(e, t) for e in OR.ESTIMATORS for t in ("redesign", "hacked", "difference")}
    for est in ("IPS", "DR"):  # unbiased by theory (uniform μ covers every molecule), for each policy and the difference
        for target in ("redesign", "hacked", "difference"):
            r = res["many"].loc[(est, target)]
            assert r.bias_lo - 3 * r.sd / np.sqrt(300) < 0 < r.bias_hi + 3 * r.sd / np.sqrt(300), (est, target)
    # the difference's bias is the difference of the two biases (same logs)
    b = res["many"].bias
    assert b[("IPS", "difference")] == pytest.approx(b[("IPS", "redesign")] - b[("IPS", "hacked")])
    one = res["one"]
    assert (one.lo <= one.hi).all() and (one.difference_lo <= one.difference_hi).all()
    ex_d = res["V_redesign"] - res["V_hacked"]
    assert (one.covers == ((one.lo <= res["V_redesign"]) & (res["V_redesign"] <= one.hi))).all()
    assert (one.difference_covers == ((one.difference_lo <= ex_d) & (ex_d <= one.difference_hi))).all()
    cov = res["coverage"]
    assert (cov.n == 40).all() and ((0 <= cov.k_value) & (cov.k_value <= 40)).all()
    assert (cov.value_lo <= cov.k_value / 40).all() and (cov.k_difference / 40 <= cov.difference_hi).all()
    assert res["coverage_boot"] == 50 and res["n_logs"] == 300
    assert 1 <= res["ess"]["hacked"] <= 60 and 1 <= res["ess_one"]["redesign"] <= 60
    m, lo, hi = res["on_policy"]
    assert lo <= m <= hi and res["true_calls"] == 60 and res["n"] == len(LIB)
    lines = OR.ope_lines(res)
    assert lines[0].startswith(f"selection policies over the {len(LIB)} library molecules")
    assert "buggy proxy − 0.0150 per unit of heavy atoms" in lines[0] and f"{len(LIB)} proxy calls" in lines[0]
    assert f"hacked − uniform {res['V_hacked'] - res['V_uniform']:+.3f}" in lines[1]
    assert any(line.startswith("  DR: V̂(redesign)") and "paired bootstrap" in line and "exact value" in line for line in lines)
    assert any(line.startswith("  SNIPS, difference: bias") for line in lines)
    assert any(line.startswith("coverage of the one-log 95 % bootstrap intervals over 40 logs") for line in lines)
    assert any(line.startswith("  DR: V(redesign) ") and " of 40 = " in line for line in lines)
    # distinct molecules among the draws (with replacement: a repeat costs no new true call), recomputed from the seeds
    rng = np.random.default_rng(3)
    idx = rng.integers(0, len(LIB), 60)
    assert res["log_distinct"] == len(np.unique(idx)) and 1 <= res["on_policy_distinct"] <= 60
    assert any(f"hold {res['log_distinct']} distinct molecules, the on-policy draws {res['on_policy_distinct']}" in line
               for line in lines)
    # bootstrap over the logs: the point sd ratios are those of the printed sds; the ESS difference is hacked − π
    sd = res["many"].sd
    for (a, b) in (("DR", "SNIPS"), ("DR", "IPS")):
        r, lo, hi = res["sd_ratios"][f"{a}/{b}"]
        assert r == pytest.approx(sd[(a, "difference")] / sd[(b, "difference")]) and lo <= r <= hi
    d, lo, hi = res["ess_difference"]
    assert d == pytest.approx(res["ess"]["hacked"] - res["ess"]["redesign"]) and lo <= d <= hi
    assert any(line.startswith("over the logs, bootstrap over the logs (95 %): sd ratio of the difference DR/SNIPS")
               and "mean ESS hacked − π" in line for line in lines)
    again = OR.redesign_ope(ch06, LIB, SLOPE, temperature=0.1, n_rounds=60, n_logs=300, n_boot=200, seed=3,
                            coverage_logs=40, coverage_boot=50)
    assert again["sd_ratios"] == res["sd_ratios"] and again["ess_difference"] == res["ess_difference"]
    pd.testing.assert_frame_equal(res["one"], again["one"])  # seeded
    pd.testing.assert_frame_equal(res["coverage"], again["coverage"])
    for name, kw in (("n_rounds", dict(n_rounds=5)), ("n_logs", dict(n_logs=1)), ("n_boot", dict(n_boot=2.5)),
                     ("coverage_logs", dict(coverage_logs=0)), ("coverage_boot", dict(coverage_boot=3))):
        with pytest.raises(ValueError, match=name):
            OR.redesign_ope(ch06, LIB, SLOPE, **kw)


def test_one_log_bootstrap_covers_at_about_the_nominal_rate_for_dr():
    """DR's interval of the difference, where the reward model is good, covers the exact value in most logs."""
    res = OR.redesign_ope(ch06, LIB, SLOPE, temperature=0.1, n_rounds=60, n_logs=60, n_boot=100, seed=5,
                          coverage_logs=60, coverage_boot=100)
    c = res["coverage"].loc["DR"]
    assert c.difference_hi >= 0.8 and c.k_difference >= 40


def test_ope_rows_of_the_targets_table():
    from molpractice import campaign_report as R

    res = OR.redesign_ope(ch06, LIB, SLOPE, temperature=0.1, n_rounds=60, n_logs=20, n_boot=100, seed=3,
                          coverage_logs=10, coverage_boot=20)
    row = R._ope_rows(res)[0]
    assert "coverage over logs (value, difference): IPS" in row["value"] and row["value"].endswith("of 10 logs")
    undercover = dict(res, coverage=res["coverage"].assign(value_hi=0.9))
    assert R._ope_rows(undercover)[0]["met"] is False  # DR's intervals shown to undercover: not met
    assert "evaluate the fix with an off-policy estimator" in row["target"] and "DR " in row["value"]
    assert f"exact V(redesign) {res['V_redesign']:.3f}" in row["value"] and isinstance(row["met"], bool)
    assert R._ope_rows(None)[0]["value"] == "not run" and R._ope_rows(None)[0]["met"] is None
