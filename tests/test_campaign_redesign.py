"""Chapter 6: the redesign with the SA penalty, runs cut at a smaller budget, and their targets rows."""
from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from molpractice import campaign as C
from molpractice import oracles
from molpractice import optimizers as opt


def _cfg(**kw):
    return types.SimpleNamespace(**{**vars(opt.SETTINGS.current("full")), **kw})


def test_sa_penalty_counts_its_calls_and_rejects_bad_input():
    sa = oracles.BudgetedOracle(oracles.sa_score, 5, "SA")
    pen = C.sa_penalty(sa, sa_max=1.0, weight=0.5)
    value = pen("CCO")
    assert value == pytest.approx(0.5 * max(0.0, oracles.sa_score("CCO") - 1.0)) and sa.calls == 1
    pen("CCO")
    assert sa.calls == 1  # repeats are free
    assert C.sa_penalty(sa, sa_max=10.0, weight=0.5)("CCO") == 0.0
    with pytest.raises(ValueError, match="weight"):
        C.sa_penalty(sa, 4.0, -1.0)
    with pytest.raises(ValueError, match="sa_max"):
        C.sa_penalty(sa, float("nan"), 0.1)


def test_redesign_with_sa_continues_the_hacked_run_and_budgets_sa():
    lib = opt.library()
    cfg = _cfg(budget=300, population=30, offspring=50, n_init=100, library_audit=40, sa_max=3.0, sa_weight=0.2)
    buggy = lambda s: oracles.proxy_score(s, bug=True)  # noqa: E731
    red = C.run_once("graph GA", buggy, lib, cfg, seed=0, redesign=True)
    red_sa = C.run_once("graph GA", buggy, lib, cfg, seed=0, redesign=True, sa=True)
    n = red_sa["switched_at"]
    assert n == red["switched_at"] and red_sa["history"][:n] == red["history"][:n]
    assert red["sa_calls"] == 0 and 0 < red_sa["sa_calls"] <= cfg.budget
    assert red_sa["sa_calls"] == len({s for s, _ in red_sa["history"]})  # every scored molecule's SA, once
    shipped = red_sa["top10"]
    assert red_sa["sa_top10"] == pytest.approx(np.mean([oracles.sa_score(s) for s in shipped]))
    assert red_sa["sa_top10"] <= red["sa_top10"] + 1e-9 or red_sa["true_top10"] != red["true_top10"]
    with pytest.raises(ValueError, match="sa=True needs redesign"):
        C.run_once("graph GA", buggy, lib, cfg, seed=0, sa=True)


def _runs():
    hist = [(f"C{'C' * i}O", 0.01 * i) for i in range(40)]
    return [dict(proxy="bug-free", method="graph GA", seed=5, history=hist),
            dict(proxy="redesigned", method="graph GA", seed=5, history=hist)]


def test_at_budget_cuts_each_run_at_its_first_calls():
    out = C.at_budget(_runs(), 20)
    assert len(out) == 1 and out.iloc[0].calls == 20  # only the listed proxies
    top = [f"C{'C' * i}O" for i in range(10, 20)]
    assert out.iloc[0].proxy_top10 == pytest.approx(np.mean([0.01 * i for i in range(10, 20)]))
    assert out.iloc[0].true_top10 == pytest.approx(np.mean([oracles.true_score(s) for s in top]))
    assert out.iloc[0].auc_top10 == pytest.approx(oracles.top_k_auc([0.01 * i for i in range(20)], 20))
    with pytest.raises(ValueError, match="budget"):
        C.at_budget(_runs(), 5)
    with pytest.raises(ValueError, match="exceeds"):
        C.at_budget(_runs(), 50)


def _ch4_rows(proxy_top10, true_top10, spent=True, method="chapter 4's model (DDIM-50)"):
    rows = []
    for i, seed in enumerate((0, 1, 2)):
        for proxy in ("bug-free", "buggy"):
            rows.append(dict(proxy=proxy, method=method, seed=seed, proxy_top10=proxy_top10[i], true_top10=true_top10[i],
                             auc_top10=proxy_top10[i] - 0.05, calls=300 if spent else 200, samples=400, label1=50,
                             draws_to_budget=380.0 + i if spent else np.nan, budget_spent=spent,
                             heavy_atoms_top10=9.0, sa_top10=3.0))
    return pd.DataFrame(rows)


def _table():
    rows = []
    for seed in range(3):
        for proxy, method, p, t in (("bug-free", "graph GA", 0.6, 0.5), ("bug-free", "random screening", 0.55, 0.5),
                                    ("buggy", "graph GA", 1.2, 0.1), ("buggy", "random screening", 0.8, 0.4),
                                    ("redesigned", "graph GA", 0.6, 0.45), ("redesigned + SA", "graph GA", 0.58, 0.47)):
            rows.append(dict(proxy=proxy, method=method, seed=seed, proxy_top10=p + 0.01 * seed, true_top10=t + 0.02 * seed,
                             auc_top10=p, alarm_at=None, top_alarm_at=None, calls=300,
                             heavy_atoms_top10=30.0 if proxy == "buggy" else 20.0, sa_top10=3.0 - 0.1 * seed))
    return pd.DataFrame(rows)


def test_chapter4_and_sa_rows_of_the_targets_table():
    from molpractice import campaign_report as R
    from molpractice import offpolicy
    from solutions import ch06_oracle_optimization as ch

    ope = offpolicy.estimator_study(ch, n_logs=100, n_rounds=100)
    table = _table()
    ch4 = _ch4_rows([0.30, 0.32, 0.31], [0.30, 0.31, 0.29])
    plain = _ch4_rows([0.29, 0.30, 0.31], [0.28, 0.30, 0.29], method="w = −1 sampler (this chapter's label-dropout EGNN)")
    out = {r["target"]: r for r in R.target_rows(ope, table, None, budget=1000, short=table, ch4=ch4, sampler_budget=300,
                                                 sampled=plain)}
    assert any("label-dropout EGNN" in k and "survive the true score" in k for k in out)
    gain = next(v for k, v in out.items() if k.startswith("bug-free proxy, 300 calls each: best optimiser (graph GA) − "
                                                          "chapter 4's model") and "proxy top-10" in k)
    assert gain["value"].startswith("+0.300") and gain["met"] is True
    survives = next(v for k, v in out.items() if k.startswith("bug-free proxy, 300 calls each") and "chapter 4" in k
                    and "survive" in k)
    assert survives["value"].startswith("+0.220") and survives["met"] is None  # mean 0.52 − mean 0.30
    spent = next(v for k, v in out.items() if k.startswith("chapter 4's model (DDIM-50) draws until"))
    assert spent["met"] is True and "3 of 3 seeds spent all 300 calls" in spent["value"]
    assert not any("deviation from the issue: chapter 4" in k for k in out)
    assert not any("label-dropout EGNN" in k and "(issue:" in k for k in out)  # only chapter 4's rows carry the issue's words
    sa = next(v for k, v in out.items() if k.startswith("redesign with the SA penalty") and "hacked GA, true top10" in k)
    assert sa["value"].startswith("+0.370")  # 0.47 − 0.10
    sa2 = next(v for k, v in out.items() if "redesign without SA, sa top10" in k)
    assert sa2["value"].startswith("+0.000")
    capped = _ch4_rows([0.30, 0.32, 0.31], [0.30, 0.31, 0.29], spent=False)
    out = {r["target"]: r for r in R.target_rows(ope, table, None, budget=1000, short=table, ch4=capped, sampler_budget=300)}
    gain = next(v for k, v in out.items() if "chapter 4's model" in k and "proxy top-10" in k and k.startswith("bug-free"))
    assert gain["met"] is False  # not at equal calls
    assert next(v for k, v in out.items() if "evaluate the fix" in k)["value"] == "not run"
    for big, met, word in ((9, None, "(a measurement, not a test of sampling vs optimising: the samplers emit molecules "
                                      "of at most 9 heavy atoms, the objective's reference molecule has 23; "),
                           (30, True, " (the best 10")):
        for sampler, want in ((ch4, met), (capped, False)):
            rows = R.target_rows(ope, table, None, budget=1000, short=table, ch4=sampler, sampler_budget=300,
                                 best10=dict(proxy_top10=0.45, true_top10=0.4, n=802, max_heavy_atoms=big))
            gain = next(r for r in rows if r["target"].startswith("bug-free proxy, 300 calls each: best optimiser (graph "
                                                                  "GA) − chapter 4's model") and "proxy top-10" in r["target"])
            assert word in gain["value"] and gain["met"] is want  # never True when the row calls it no test
            assert "ceiling" not in gain["value"] and "uninformative" not in gain["value"]
            assert ("the best 10 of the model's 802 training molecules score 0.450 on the proxy (a reference, not a "
                    "bound)") in gain["value"]
        assert gain["value"].startswith("+0.") and gain["met"] is False


def test_before_half_counts_runs_with_an_early_alarm():
    from molpractice import detection as D

    late = pd.DataFrame(dict(alarm_at=[280.0, np.nan, 700.0], top_alarm_at=[np.nan, 450.0, np.nan],
                             earliest_possible=[280.0, 290.0, 300.0]))
    bh = D.before_half(late, 1000)
    lo, hi = D.clopper_pearson(2, 3)
    assert (bh["k"], bh["n"], bh["trivial"]) == (2, 3, False) and (bh["lo"], bh["hi"]) == (lo, hi)
    assert bh["text"].startswith(f"alarm before call 500 in 2 of 3 runs [{lo:.2f}, {hi:.2f}]")
    assert "batch 1 of 3, top-10 1 of 3" in bh["text"] and "280–300" in bh["text"]
    assert D.before_half(late.assign(earliest_possible=[280.0, 500.0, 300.0]), 1000)["trivial"] is True
    with pytest.raises(ValueError, match="budget"):
        D.before_half(late, 1.5)
    with pytest.raises(ValueError, match="late"):
        D.before_half(late.iloc[:0], 1000)


def test_sa_redesign_lines_and_screening_ceiling_text():
    table = _table().assign(sa_calls=250)
    cfg = types.SimpleNamespace(sa_weight=0.1, sa_max=4.0, budget=300)
    lines = C.sa_redesign_lines(table, cfg)
    assert lines[0] == ("redesign + SA penalty (0.1 per SA unit above 4.0; SA calls used [250, 250, 250] of 300 each: the "
                        "SA of every molecule the objective ranks, so the SA budget, equal to the proxy budget, never binds):")
    assert len(lines) == 1
    counts = C.sa_redesign_lines(table.assign(sa_above_max_top10=[2, 0, 7, 1, 3, 0] * 3), cfg)
    assert counts[1] == ("shipped molecules with SA above 4.0 (what the penalty acts on), GA runs: buggy 21 of 30, bug-free "
                         "6 of 30, redesigned 9 of 30, redesigned + SA 0 of 30") and len(counts) == 2
    with pytest.raises(ValueError, match="redesigned \\+ SA"):
        C.sa_redesign_lines(table[table.proxy != "redesigned + SA"], cfg)
    lib = ["CCO", "CCCl", "c1ccccc1", "CC(=O)N(C)C", "Cc1ccc(C)cc1", "CCN(CC)CC", "OCC(O)CO", "c1ccncc1", "CCCCO",
           "CCOC(C)=O", "CC(C)O"]
    text = C.screening_ceiling_text(lib, table)
    top = sorted(lib, key=lambda s: -oracles.proxy_score(s, bug=False))[:10]
    assert text.startswith(f"whole library, its top 10 by the bug-free proxy: proxy "
                           f"{np.mean([oracles.proxy_score(s, bug=False) for s in top]):.3f}")
    assert text.endswith("proxy 0.560, true 0.520")
    with pytest.raises(ValueError, match="random screening"):
        C.screening_ceiling_text(lib, table[table.method != "random screening"])


def test_study_summary_of_runs_cut_at_a_budget_has_no_alarm_columns():
    out = C.study_summary(C.at_budget(_runs(), 20))
    assert "alarms" not in out and out.iloc[0]["seeds"] == 1 and "proxy_top10" in out


def _audit(calls, gap_z, heavy_atoms, top_gap):
    return pd.DataFrame(dict(calls=calls, gap_z=gap_z, heavy_atoms=heavy_atoms, top_gap=top_gap))


def test_exploitation_onset_finds_the_first_audited_call_above_the_bug_free_range():
    from molpractice import detection as D

    calls = [100, 200, 300, 400, 500, 600]
    ref = dict(proxy="bug-free", method="graph GA", seed=5, history=[("CCO", 0.1)] * 600,
               audit=_audit(calls, [1, 2, 1.5, 0.5, 1, 2.5], [20.5, 20.1, 20.2, 20.1, 20.1, 20.3], [0.05] * 5 + [0.07]))
    other = dict(ref, proxy="buggy", audit=_audit(calls, [99.0] * 6, [99.0] * 6, [99.0] * 6))  # not a reference
    slow = dict(seed=5, onset=200, alarm_at=500, top_alarm_at=None,  # CCCCl (4 heavy atoms; CCO 3) tops the run from call 250
                history=[("CCO", 0.1)] * 250 + [("CCCCl", 0.5)] * 350,
                audit=_audit(calls, [3.0, 2, 2, 3, 4, 5], [20.2, 20.1, 20.2, 20.6, 21, 21], [0.05, 0.05, 0.08, 0.1, 0.1, 0.1]))
    quiet = dict(seed=6, onset=200, alarm_at=None, top_alarm_at=None, history=[("CCO", 0.1)] * 600,
                 audit=_audit(calls, [1] * 6, [20.1] * 6, [0.05] * 6))
    early = dict(seed=7, onset=200, alarm_at=300, top_alarm_at=300, history=[("CCO", 0.1)] * 600,
                 audit=_audit(calls, [1, 1, 4, 4, 4, 4], [20.1] * 6, [0.05] * 6))
    fresh = [dict(proxy="bug-free", method="graph GA", seed=10, history=[("CCO", 0.1)] * 600,
                  audit=_audit(calls, [1, 1, 3.0, 1, 1, 1], [20.1] * 6, [0.05] * 6)),
             dict(proxy="bug-free", method="graph GA", seed=11, history=[("CCO", 0.1)] * 600,
                  audit=_audit(calls, [1, 1, 1, 9, 1, 1], [20.1] * 6, [0.05] * 6))]  # above only after half
    out = D.exploitation_onset([slow, quiet, early], [ref, other], 700, fresh_runs=fresh)
    assert out.attrs["range"] == dict(gap_z=2.5, heavy_atoms=20.5, top_gap=0.07, top_heavy_atoms=3.0)
    assert out.attrs["reference"] == (1, 6)
    s = out.set_index("seed")
    # call 100's gap z 3.0 lies before the onset: ignored
    assert (s.loc[5, "first_gap_z"], s.loc[5, "first_heavy_atoms"], s.loc[5, "first_top_gap"],
            s.loc[5, "first_top_heavy_atoms"]) == (400, 400, 300, 300)
    assert s.loc[5, "first_visible"] == 300 and s.loc[5, "first_signal"] == "top-10 gap"
    assert s.loc[5, "top_heavy_atoms_at_half"] == 4.0 and s.loc[5, "twin_top_heavy_atoms_at_half"] == 3.0
    assert s.loc[5, "top_gap_at_half"] == 0.08 and np.isnan(s.loc[5, "top_alarm_at"])
    assert np.isnan(s.loc[6, "first_visible"]) and pd.isna(s.loc[6, "first_signal"])
    assert np.isnan(s.loc[6, "twin_top_heavy_atoms_at_half"])  # no bug-free run of that seed
    assert out.attrs["fresh"] == (1, 2, *D.clopper_pearson(1, 2))
    assert out.attrs["fresh_by_signal"] == dict(gap_z=1, heavy_atoms=0, top_gap=0, top_heavy_atoms=0)
    lines = D.exploitation_lines(out, 700)
    assert lines[0].startswith("bug-free range (largest value over 6 audited batches of 1 bug-free GA runs): batch gap z 2.500")
    assert lines[1].startswith("seed 5: exploitation first visible at call 300 (top-10 gap) — batch alarm call 500, "
                               "top-10 alarm never: a detector delay")
    assert "at call 350 top-10 heavy atoms 4.0 (bug-free twin 3.0), top-10 gap 0.080" in lines[1]
    assert "seed 6: exploitation not visible — batch alarm never, top-10 alarm never: not yet visible by call 350" in lines[2]
    assert lines[3].startswith("seed 7: exploitation first visible at call 300 (batch gap z) — batch alarm call 300, "
                               "top-10 alarm call 300;")  # alarmed before half: no verdict
    lo, hi = D.clopper_pearson(2, 3)
    assert lines[4].startswith(f"exploitation visible in the audit before call 350 in 2 of 3 runs [{lo:.2f}, {hi:.2f}]")
    assert "fresh seeds (a signal above the range between call 200 and 350): 1 of 2" in lines[4]
    assert "batch gap z 1 of 2, batch heavy atoms 0 of 2" in lines[4]
    summary = D.exploitation_summary(out, 700)
    assert summary == ("exploitation visible in the audit before call 350 in 2 of 3 runs (seed 5: first visible at call 300 "
                       "(top-10 gap), batch alarm 500, top-10 alarm never; seed 6: not visible, batch alarm never, "
                       "top-10 alarm never)")
    assert "fresh" not in D.exploitation_onset([slow], [ref], 700).attrs
    with pytest.raises(ValueError, match="budget"):
        D.exploitation_onset([slow], [ref], 700.0)
    with pytest.raises(ValueError, match="reference_runs"):
        D.exploitation_onset([slow], [other], 700)
    with pytest.raises(ValueError, match="late_runs"):
        D.exploitation_onset([], [ref], 700)
    # the targets row keeps its verdict and adds the evidence
    from molpractice.campaign_report import _detector_rows

    table = pd.DataFrame(dict(proxy=["buggy", "bug-free"], method="graph GA", seed=5, alarm_at=[199.0, np.nan],
                              top_alarm_at=[199.0, np.nan]))
    late = C.late_onset_table([dict(slow, calls=600, heavy_atoms_top10=4.0, true_top10=0.4)])
    rows = _detector_rows(table, 1000, late, None, out)  # earliest possible alarm 400 < 500: a real test
    row = [r_ for r_ in rows if "late-onset hack" in r_["target"] and "before half" in r_["target"]][0]
    assert row["target"].startswith("this chapter's stricter test (not the issue's)")
    assert row["met"] is False and row["value"].endswith("; " + D.exploitation_summary(out, 1000))
    assert row["value"].startswith("reported seeds: alarm before call 500 in 0 of 1 runs")
    assert "exploitation" not in _detector_rows(table, 1000, late, None)[1]["value"]


def test_late_onset_runs_keep_audits_and_false_alarm_runs_are_returned():
    from molpractice import detection as D

    lib = opt.library()
    cfg = _cfg(budget=150, population=20, offspring=25, n_init=40, library_audit=24, bug_onset_share=0.4)
    runs = C.late_onset_runs([0], cfg, lib)
    assert runs[0]["onset"] == 60 and len(runs[0]["audit"]) and len(runs[0]["history"]) == 150
    assert C.late_onset_table(runs).equals(C.late_onset_study([0], cfg, lib))
    kept: list = []
    fa = D.false_alarm_study(cfg, lib, seeds=[3], runs_out=kept)
    assert len(kept) == 1 and kept[0]["proxy"] == "bug-free" and kept[0]["seed"] == 3 and len(fa) == 1
    assert bool(fa.batch_alarm.iloc[0]) == (kept[0]["alarm_at"] is not None)


def test_optimisation_study_gives_the_same_runs_with_one_or_two_workers():
    import pickle

    lib = opt.library()
    # the smallest study that still runs every proxy kind twice: equality does not depend on its size
    cfg = _cfg(budget=60, population=6, offspring=10, n_init=20, library_audit=8, seeds=2, first_seed=5)
    one = C.optimisation_study(cfg, lib=lib, workers=1)
    two = C.optimisation_study(cfg, lib=lib, workers=2)
    pd.testing.assert_frame_equal(one["table"], two["table"])
    assert len(one["runs"]) == 2 * 8 and [r["proxy"] for r in one["runs"][:8]] == [
        "buggy"] * 3 + ["bug-free"] * 3 + ["redesigned", "redesigned + SA"]
    for a, b in zip(one["runs"], two["runs"]):
        assert a["history"] == b["history"] and a["top10"] == b["top10"]
        if a["objective"] is not None:  # the corrected objective survives the worker's pickling, same values
            s, v = a["history"][-1]
            assert a["objective"](s, v) == pytest.approx(b["objective"](s, v))
    pickle.dumps(one["runs"])  # run dicts, redesign objectives included, are picklable


def test_t_p_value_matches_the_t_interval_and_holm_table_adjusts_within_the_family():
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = rng.normal(rng.normal(0, 0.05), 0.05, size=5)
        m, lo, hi = C.mean_interval(x)
        assert (C.t_p_value(x) < 0.05) == (lo > 0 or hi < 0)
    assert C.t_p_value([0.1, 0.1, 0.1]) < 1e-12 and C.t_p_value([0.0, 0.0]) == 1.0 and np.isnan(C.t_p_value([1.0]))
    rows = [dict(comparison="a", difference=0.2, lo=0.1, hi=0.3, p=0.01),
            dict(comparison="b", difference=-0.1, lo=-0.2, hi=-0.01, p=0.02),
            dict(comparison="c", difference=0.3, lo=0.2, hi=0.4, p=0.001)]
    fam = C.holm_table(rows)
    # Holm: sorted p 0.001, 0.01, 0.02 scaled by 3, 2, 1 -> 0.003, 0.02, 0.02 (monotone)
    assert fam["p (Holm)"].tolist() == pytest.approx([0.02, 0.02, 0.003])
    assert fam["verdict (Holm)"].tolist() == ["higher", "lower", "higher"]
    assert fam.loc["a", "verdict"].endswith("(higher)")
    assert C.holm_word(fam, "b") == "-0.100 [-0.200, -0.010] (lower; Holm: lower)"
    weak = C.holm_table([dict(rows[0], p=0.03), dict(rows[1], p=0.04)])
    assert weak["verdict (Holm)"].tolist() == ["no detectable difference"] * 2  # 0.06 and 0.04·1 → max(0.06, 0.04)
    part = C.holm_table([dict(rows[0], p=float("nan")), rows[1]])  # a row without a p-value leaves the family
    assert part["verdict (Holm)"].tolist() == ["not tested (no p-value)", "lower"]
    with pytest.raises(ValueError, match="at least one"):
        C.holm_table([])


def test_results2_and_drift_families_hold_every_printed_comparison():
    rng = np.random.default_rng(1)
    rows = [dict(proxy=p, method=m, seed=s, proxy_top10=rng.normal(0.6, 0.02), true_top10=rng.normal(0.5, 0.02),
                 auc_top10=rng.normal(0.55, 0.02)) for p in ("buggy", "bug-free") for m in opt.METHODS for s in range(5, 10)]
    fam = C.results2_family(pd.DataFrame(rows))
    assert len(fam) == 13 and (fam["p (Holm)"] >= fam["p"] - 1e-12).all()
    assert {"true_top10: GA − random screening (buggy)", "true_top10: GA − random proposals (buggy)"} <= set(fam.index)
    assert list(fam.columns) == ["verdict", "p", "p (Holm)", "verdict (Holm)"]
    ch = pd.DataFrame([dict(seed=s, proxy=p, **{f"{c}_change": rng.normal(1.0 if p == "buggy" else 0.0, 0.1)
                                                  for c in ("diversity", "library_similarity", "rank_agreement", "heavy_atoms")})
                       for p in ("buggy", "bug-free") for s in range(5, 10)])
    dfam = C.drift_family(ch)
    assert len(dfam) == 12 and dfam.loc["heavy_atoms: change in buggy", "verdict (Holm)"] == "higher"
    assert dfam.loc["heavy_atoms: change in bug-free", "verdict (Holm)"] == "no detectable difference"


def test_time_lines_say_which_caches_were_warm_and_quote_the_issue():
    from molpractice import campaign_report as R
    from molpractice.rigor_report import run_clock

    start = run_clock()
    models = {"chapter 4's model": dict(cached=True, cpu_seconds=600.0), "guided": dict(cached=False, cpu_seconds=60.0)}
    lines = R.time_lines(start, models, "full")
    assert lines[0].startswith("this run (full mode), after setup: wall 0.0 min")
    assert f"1-minute load average {start['load']:.1f} at the start, " in lines[0]  # both loads, the start's first
    assert "chapter 4's model loaded from the cache (warm), its training 10.0 CPU-min" in lines[1]
    assert "guided trained in this run (cold)" in lines[1]
    assert R.ISSUE_TIME in lines[2] and "met by wall time" in lines[2]
    assert "about 10.0 CPU-min" in lines[3] and "an estimate" in lines[3]
    hot = {"m": dict(cached=True, cpu_seconds=13 * 60.0)}
    assert "cached weights with the training path tested" in R.time_lines(start, hot, "full")[3]
    assert len(R.time_lines(start, {"m": dict(cached=False, cpu_seconds=1.0)}, "fast")) == 3
    scope = R.scope_rows()
    assert [r["met"] for r in scope] == [True, None]  # RDKit-computed, docking-like, a realistic bug: not a deviation
    from molpractice import oracles

    proxy = scope[0]["value"]
    assert proxy.startswith("met, as judged here: the proxy is 0.7 · dock + 0.3 · QED") and "rdShapeAlign" in proxy and "zolpidem" in proxy
    assert f"not embedded in {oracles.EMBED_ATTEMPTS} attempts scores 0" in proxy and "α = 1 Tversky" in proxy and "ring-dense" in proxy
    assert "deviation" not in proxy and "halogen" not in proxy
    rng = np.random.default_rng(0)
    base_loss = rng.random(30) + 1.0

    def info(final_drop, use):  # the held-out losses of a fake fine-tune: checkpoints 10 and 20
        cond = {10: (base_loss - 0.05).tolist(), 20: (base_loss - final_drop).tolist()}
        null = {k: (np.array(v) + use + 0.001 * rng.standard_normal(30)).tolist() for k, v in cond.items()}
        return dict(validation=dict(base=base_loss.tolist(), cond=cond, null=null), checkpoints=[10, 20], p_uncond=0.15,
                    n_val=30, n_train=300, base=dict(steps=4500))

    edge = R.scope_rows(info(0.1, 0.01), ch4_steps=4500)[1]
    assert edge["met"] is None and "grid edge" in edge["value"] and "for 20 steps" in edge["value"]
    inner = R.scope_rows(info(0.01, 0.01), ch4_steps=4500)[1]
    assert inner["met"] is True and "for 10 steps" in inner["value"] and "p_uncond 0.15" in inner["value"]
    assert R.scope_rows(info(0.01, 0.01), ch4_steps=150)[1]["met"] is False  # not chapter 4's model
    assert R.scope_rows(info(0.01, -0.01), ch4_steps=4500)[1]["met"] is False  # the label is not used


def _study(late_k=19, free_k=2):
    cp = lambda k, n: [0.0, 1.0]  # noqa: E731 — the lines copy the study's intervals, whatever they are
    return dict(rule=dict(k=2.0, h=1.0), rule_commit="f3ae9d2985671ac34a0e2ec4602f0ceebd88a4fa", budget=1000, onset=200,
                seeds=dict(bug_free=[200, 219], late=[200, 219], immediate=[200, 209]),
                development=dict(seeds=dict(bug_free=[100, 139], late=[100, 109]),
                                 candidates=[dict(k=1.0, h=6.75, bug_free_fired=1, bug_free_n=40, late_before_half=6, late_n=10),
                                             dict(k=2.0, h=1.0, bug_free_fired=1, bug_free_n=40, late_before_half=7, late_n=10)]),
                results=dict(late=dict(before_half=dict(k=late_k, n=20, cp95=cp(late_k, 20)), before_onset=0,
                                       old_rules_before_half=17, paired_vs_old_rules=dict(cusum_only=2, old_only=0,
                                                                                          exact_mcnemar_p=0.5)),
                             bug_free=dict(fired=dict(k=free_k, n=20, cp95=cp(free_k, 20)),
                                           before_half=dict(k=0, n=20, cp95=cp(0, 20)), old_rules_fired=0),
                             immediate=dict(before_half=dict(k=10, n=10, cp95=cp(10, 10)))))


def _audited(seed, z, onset=None):
    calls = np.arange(1, len(z) + 1) * 100
    run = dict(seed=seed, audit=pd.DataFrame(dict(calls=calls, gap_z_two_sample=z)))
    return run if onset is None else dict(run, onset=onset)


def test_cusum_lines_and_row_present_the_pre_registered_study(tmp_path):
    import json

    from molpractice import campaign_report as R

    study = _study()
    lines = R.cusum_lines(study, 1000, late_runs=[_audited(5, [0.0, 0.0, 7.0, 0.0], onset=200)],
                          fresh_runs=[_audited(10, [0.0] * 4), _audited(11, [0.5] * 4)], repo=tmp_path)
    from molpractice import detection as D

    assert f"k = {D.CUSUM_K:g}, h = {D.CUSUM_H:g}" in lines[0] and "constants in commit f3ae9d2" in lines[1]
    assert not any("before any evaluation" in line or "stated beforehand" in line for line in lines)  # no asserted claims
    assert "1 of 40 bug-free runs alarmed, late onset 7 of 10 before call 500" in lines[1]
    # provenance without git (tmp_path is no repository) and without the JSON's fields: "not recorded"
    assert "committed in f3ae9d2 at not recorded" in lines[2] and "detection.py since: unknown (no git)" in lines[2]
    assert "evaluation runs cached at: not recorded" in lines[2] and "hash and git status then: not recorded" in lines[2]
    assert lines[3] == 'development selection rule, as recorded: "not recorded"'
    assert "k grid not recorded: whether values were added after the first development table: not recorded" in lines[4]
    assert "k = 2, h = 1 had the most development late-onset alarms before call 500 (7 of 10), without a tie" in lines[4]
    assert lines[5].endswith("did not alarm not recorded in the committed study (data/ch06_detector_study.json "
                             "predates the field; scripts/ch06_detector_study.py --stage eval writes it from the "
                             "development runs)")
    assert "before call 500 in 19 of 20 [0.00, 1.00]" in lines[6] and "exact McNemar p = 0.50" in lines[6]
    assert "any call in 2 of 20" in lines[7] and "NOT met as a point estimate" in lines[7]
    assert lines[9].startswith("this chapter's stricter test (not the issue's)") and lines[9].endswith("NOT met on those seeds")
    assert "seeds [5]: CUSUM alarm before call 500 in 1 of 1" in lines[10] and "alarm calls [300]" in lines[10]
    assert "seeds 10–11: CUSUM alarm in 0 of 2" in lines[10] and "smoke values" not in lines[10]
    assert "smoke values" in R.cusum_lines(study, 150, late_runs=[_audited(5, [0.0, 7.0], onset=30)], repo=tmp_path)[-1]
    # the fields a future eval stage records are printed; a tie is named with the rule's tie-break
    full = dict(study, rule_commit_time="2026-12-06 22:53:48 +0000", eval_cache_time="2026-12-06 23:10:24 +0000",
                head_when_written="abcdef0123", script=dict(path="scripts/ch06_detector_study.py", last_commit="1234567",
                                                            uncommitted_changes=False))
    full["development"] = dict(study["development"], selection="the rule", k_grid=[1.0, 2.0, 2.5], largest_quiet_bug_free_cusum=0.99,
                               candidates=study["development"]["candidates"]
                               + [dict(k=2.5, h=0.5, bug_free_fired=1, bug_free_n=40, late_before_half=7, late_n=10)])
    lines = R.provenance_lines(full, tmp_path)
    assert "at 2026-12-06 22:53:48 +0000 (JSON)" in lines[0] and "cached at: 2026-12-06 23:10:24 +0000" in lines[0]
    assert "HEAD when the JSON was written: abcdef0" in lines[0] and "last_commit" in lines[0]
    assert lines[1] == 'development selection rule, as recorded: "the rule"' and "k grid [1.0, 2.0, 2.5]" in lines[2]
    assert "k = 2 (h = 1) and k = 2.5 (h = 0.5) tied at 7 of 10" in lines[2]
    assert "did not alarm 0.99 against h = 1 (from the JSON)" in lines[3]
    # a grid widened after the first table, one fixed in advance, and a count tie broken by the median alarm call
    widened = dict(full, development=dict(full["development"], k_grid_added_after_first_dev_table=[1.5, 2.0, 2.5]))
    assert "its values 1.5, 2, 2.5 were added after the first development table" in R.provenance_lines(widened, tmp_path)[2]
    fixed = dict(study, development=dict(study["development"], k_grid=[1.0, 2.0], k_grid_added_after_first_dev_table=[],
                                         candidates=[dict(k=1.0, h=6.75, late_before_half=7, late_n=10, late_median_call=393.0),
                                                     dict(k=2.0, h=1.0, late_before_half=7, late_n=10, late_median_call=344.0)]))
    line = R.provenance_lines(fixed, tmp_path)[2]
    assert "k grid [1.0, 2.0]: fixed before the development runs" in line
    assert "(7 of 10); k = 1 had as many, and the lower median alarm call (344) broke the tie" in line
    # in this repository git dates the rule commit (if the commit is known here)
    from molpractice.repository import find_repo

    pv = R.rule_provenance(study, find_repo())
    if pv["time_source"] == "git":
        assert pv["commit_time"].startswith("2026-12-06 22:53:48") and isinstance(pv["changed_since"], list)
    good = _study(late_k=20, free_k=1)
    assert R.cusum_summary(good) == dict(late=good["results"]["late"]["before_half"], bug_free=good["results"]["bug_free"]["fired"],
                                         met=False, false_alarm_met=True, half=500)
    assert R.cusum_summary(_study(late_k=20, free_k=0))["met"] is True
    rows = R._detector_rows(_table(), 1000, None, None, cusum=study)
    row = next(r for r in rows if "CUSUM detector" in r["target"])
    assert row["target"].startswith("this chapter's stricter test (not the issue's)")
    assert row["met"] is False and "19 of 20" in row["value"] and "not met as a point estimate" in row["value"]
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    assert R.detector_study(path) == study
    with pytest.raises(FileNotFoundError, match="ch06_detector_study.py"):
        R.detector_study(tmp_path / "missing.json")


def test_dev_margin_line_ignores_a_local_development_cache(tmp_path):
    """Review 06k finding 13: the margin line reads the committed JSON only, never data/cache/ (untracked), so a clone
    with a development cache prints the same line as one without."""
    import pickle

    from molpractice import cusum_report as CR

    study = _study()
    without_cache = CR.provenance_lines(study, tmp_path)
    cache = tmp_path / "data" / "cache" / "ch06_detector_runs_dev.pkl"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(pickle.dumps([dict(kind="bug_free", seed=100, audit=[dict(gap_z_two_sample=z) for z in
                                                                         (0.0, 2.5, 0.0, 0.0)])]))
    with_cache = CR.provenance_lines(study, tmp_path)
    assert with_cache == without_cache and with_cache[-1].endswith(CR.MARGIN_NOT_RECORDED)
    assert "cache" not in with_cache[-1]
    recorded = dict(study, development=dict(study["development"], largest_quiet_bug_free_cusum=0.5))
    assert CR.provenance_lines(recorded, tmp_path)[-1].endswith("0.50 against h = 1 (from the JSON)")


def test_unbiased_exclusions_line_counts_the_intervals_that_exclude_zero():
    import pandas as pd

    from molpractice import campaign_report as R

    many = pd.DataFrame(dict(estimator=["IPS", "IPS", "SNIPS", "DR"], target=["a", "b", "a", "a"],
                             bias=[0.01, 0.0, 0.2, 0.0], bias_lo=[0.001, -0.1, 0.1, -0.1], bias_hi=[0.02, 0.1, 0.3, 0.1]))
    line = R.unbiased_exclusions_line(dict(many=many.set_index(["estimator", "target"])))
    assert "(IPS, DR): 1 of 3 exclude 0" in line and f"probability {1 - 0.95 ** 3:.2f}" in line
    with pytest.raises(ValueError, match="no bias rows"):
        R.unbiased_exclusions_line(dict(many=many), estimators=("nope",))


def test_redesign_family_is_one_holm_family_over_both_redesigns():
    from molpractice.comparisons import holm_adjusted

    table = _table()
    noisy = table.assign(true_top10=table.true_top10 + np.where(table.proxy == "redesigned", table.seed.map({0: 0.0, 1: 0.05, 2: -0.03}), 0.0))
    fam = C.redesign_family(noisy)
    assert len(fam) == 12 and set(fam.index) == {f"{m}: {label}" for m in ("true_top10", "heavy_atoms_top10", "sa_top10")
                                                 for label in ("redesigned − hacked GA", "redesigned − bug-free GA",
                                                               "redesigned + SA − hacked GA",
                                                               "redesigned + SA − redesign without SA")}
    np.testing.assert_allclose(fam["p (Holm)"], holm_adjusted(fam["p"].to_numpy()))  # adjusted over all 12, not per pair
    row = fam.loc["true_top10: redesigned − hacked GA"]
    assert row["p (Holm)"] > row["p"] and row["verdict"].endswith("(higher)")
    lines = C.redesign_lines(fam)
    assert len(lines) == 3 and lines[0].strip().startswith("true_top10: redesigned − hacked GA +0.357")
    assert all(x.count("; Holm: ") == 4 for x in lines)
    assert len(C.redesign_family(table[table.proxy != "redesigned + SA"])) == 6
    assert len(C.redesign_family(table.drop(columns="sa_top10"))) == 8  # a metric the table lacks is left out
    with pytest.raises(ValueError, match="redesigned"):
        C.redesign_family(table[~table.proxy.str.startswith("redesigned")])


def test_failed_poses_text_reads_each_ga_run_kind():
    from molpractice import detection as D

    table = _table().assign(failed_poses=[10, 0, 100, 0, 40, 30] * 2 + [20, 0, 400, 0, 50, 30])
    text = D.failed_poses_text(table, 300)
    assert text.startswith(f"failed poses (no embedded conformer: dock 0, proxy {1 - oracles.DOCK_WEIGHT:g} · QED), proxy "
                           "calls per run of 300, mean (range over 3 seeds): ")
    assert ("hacked GA 200 (100–400), bug-free GA 13 (10–20), redesigned GA 43 (40–50), redesigned + SA GA 30 (30–30); "
            "hacked − bug-free GA, paired over seeds: +186.667 [") in text  # 90, 90, 380 per seed
    assert text.endswith("(higher), higher in 3 of 3 seeds") or text.endswith("(no detectable difference), higher in 3 of 3 seeds")
    m, lo, hi = C.mean_interval(np.array([90.0, 90.0, 380.0]))
    assert C.verdict(m, lo, hi) in text
    with pytest.raises(ValueError, match="failed_poses"):
        D.failed_poses_text(_table(), 300)
    with pytest.raises(ValueError, match="graph GA"):
        D.failed_poses_text(table[table.method != "graph GA"], 300)


def test_seed_sets_text_tests_equal_rates_and_pools():
    from scipy.stats import fisher_exact

    from molpractice import detection as D

    fresh = pd.DataFrame(dict(seed=range(10)))
    fresh.attrs = {"batch_alarm": (1, 10, 0.0, 0.45), "top10_alarm": (0, 10, 0.0, 0.31)}
    study = dict(seeds=list(range(200, 220)), old_rules_batch_fired=8, old_rules_top10_fired=9)
    text = D.seed_sets_text(fresh, study)
    p_batch, p_top = fisher_exact([[1, 9], [8, 12]])[1], fisher_exact([[0, 10], [9, 11]])[1]
    lo, hi = D.clopper_pearson(9, 30)
    assert text.startswith(f"batch alarm 1 of 10 and 8 of 20: Fisher's exact p {p_batch:.3f} (no detectable difference), "
                           f"pooled 9 of 30 [{lo:.2f}, {hi:.2f}]")
    assert text.endswith(f"top-10 alarm 0 of 10 and 9 of 20: Fisher's exact p {p_top:.3f} (different rates: quote both, "
                         "do not pool)")  # no pooled rate where the two sets differ
