"""molpractice.offpolicy: the simulated campaign and the estimator studies (reference implementation)."""
from __future__ import annotations

import numpy as np
import pytest

from molpractice import offpolicy as op
from solutions import ch06_oracle_optimization as ch


def test_problem_is_a_valid_pair_of_policies_and_its_value_is_exact():
    p = op.make_problem(3)
    for pol in (p.logging, p.target):
        assert np.allclose(pol.sum(1), 1) and (pol >= 0).all()
    assert p.true_value == pytest.approx(float((p.target * p.hit_rate).sum(1).mean()))
    assert np.allclose(p.v_hat, (p.target * p.q_hat).sum(1))


def test_logs_record_the_propensities_of_the_logged_actions():
    p = op.make_problem(1)
    logs = op.simulate_logs(p, 5, 300, seed=2)
    s, a = logs["contexts"], logs["actions"]
    assert logs["rewards"].shape == (5, 300)
    assert np.array_equal(logs["logging_probs"], p.logging[s, a]) and np.array_equal(logs["target_probs"], p.target[s, a])
    assert set(np.unique(logs["rewards"])) <= {0.0, 1.0}
    # actions follow μ: the frequency of each (s, a) is close to μ(a|s)
    big = op.simulate_logs(p, 1, 200_000, seed=3)
    counts = np.zeros_like(p.logging)
    np.add.at(counts, (big["contexts"][0], big["actions"][0]), 1)
    assert np.allclose(counts / counts.sum(1, keepdims=True), p.logging, atol=0.01)


def test_ips_is_unbiased_and_snips_dr_have_lower_variance():
    res = op.estimator_study(ch, n_logs=400, n_rounds=150, seed=0)
    s = res["summary"]
    assert abs(s.loc["IPS", "bias_z"]) < 4
    for name in ("SNIPS", "DR"):
        ratio, lo, hi = res["variance_ratios"][name]
        assert hi < 1, f"{name} variance ratio {ratio} [{lo}, {hi}]"
    assert s.loc["IPS clip 2", "bias"] < -5 * s.loc["IPS clip 2", "bias_se"]  # clipping biases downwards
    assert s.loc["IPS clip 2", "sd"] < s.loc["IPS", "sd"]
    assert 1 <= res["estimates"]["ESS"].min() and res["estimates"]["ESS"].max() <= 150


def test_support_violation_bias_does_not_shrink_with_the_log():
    out = op.support_violation_study(ch, mass=0.2, sizes=(100, 2000), n_logs=150)
    assert (out.attrs["mass"], out.attrs["bonus"]) == (0.2, 0.1)
    p = op.make_problem(0, unsupported_mass=0.2, unsupported_bonus=0.05)
    assert np.allclose(p.hit_rate[:, -1], np.clip(p.hit_rate[:, :-1].max(1) + 0.05, 0, 0.95))
    ips = out[out.estimator == "IPS"].set_index("n_rounds")
    assert (ips["bias"] < -3 * ips["bias_se"]).all()
    assert ips.loc[2000, "bias"] == pytest.approx(ips.loc[100, "bias"], abs=0.03)
    assert ips.loc[2000, "bias"] == pytest.approx(-out.attrs["unseen_value"], abs=0.02)
    dr = out[out.estimator == "DR"].set_index("n_rounds")
    assert (dr["bias"].abs() < ips["bias"].abs() / 3).all()


def test_paired_rmse_difference_and_distribution_shape():
    import pandas as pd

    rng = np.random.default_rng(0)
    est = pd.DataFrame(dict(a=0.5 + rng.normal(0, 0.1, 500), b=0.5 + rng.normal(0, 0.2, 500)))
    m, lo, hi = op.paired_rmse_difference(est, "a", "b", 0.5, n_boot=300)
    assert lo < m < hi < 0 and m == pytest.approx(0.1 - 0.2, abs=0.02)
    m0, lo0, hi0 = op.paired_rmse_difference(est, "a", "a", 0.5, n_boot=50)
    assert m0 == lo0 == hi0 == 0.0
    shape = op.distribution_shape([0.0, 0.0, 0.0, 1.0, 5.0], 0.5)
    assert shape["median"] == 0.0 and shape["below"] == pytest.approx(0.6) and shape["skew"] > 0
    from molpractice.plausibility import clopper_pearson

    assert (shape["below_k"], shape["n"]) == (3, 5)
    assert (shape["below_lo"], shape["below_hi"]) == pytest.approx(clopper_pearson(3, 5))
    skewed = op.distribution_shape(rng.exponential(1.0, 400), 1.0, n_boot=300)
    assert 0 < skewed["skew_lo"] < skewed["skew"] < skewed["skew_hi"]  # exponential: skewness 2, interval above 0
    sym = op.distribution_shape(rng.normal(0, 1, 400), 0.0, n_boot=300)
    assert sym["skew_lo"] < 0 < sym["skew_hi"]
    x = rng.normal(0, 1, 50)
    assert op.distribution_shape(x, 0.0, n_boot=100, seed=3) == op.distribution_shape(x, 0.0, n_boot=100, seed=3)  # seeded


def test_summary_bias_interval_and_exact_clip_bias():
    import pandas as pd

    est = pd.DataFrame(dict(a=[0.1, 0.3, 0.2, 0.4]))
    row = op.summarize(est, 0.2).loc["a"]
    assert row.bias == pytest.approx(0.05) and row.bias_se == pytest.approx(np.std([0.1, 0.3, 0.2, 0.4], ddof=1) / 2)
    assert (row.bias_lo, row.bias_hi) == pytest.approx((0.05 - 1.96 * row.bias_se, 0.05 + 1.96 * row.bias_se))
    p = op.make_problem(0)
    w = p.target / p.logging
    assert op.exact_clip_bias(p, w.max() + 1) == pytest.approx(0.0, abs=1e-12)  # no weight clipped: unbiased
    by_hand = np.mean([(p.logging[s] * np.minimum(w[s], 2.0) * p.hit_rate[s]).sum() for s in range(4)]) - p.true_value
    assert op.exact_clip_bias(p, 2.0) == pytest.approx(by_hand)
    assert op.exact_clip_bias(p, 2.0) < op.exact_clip_bias(p, 10.0) <= 0  # a lower clip: more (downward) bias
    res = op.estimator_study(ch, n_logs=400, n_rounds=100, clips=(2.0,), seed=0)
    s = res["summary"].loc["IPS clip 2"]
    assert abs(s.bias - res["exact_clip_bias"]["IPS clip 2"]) < 4 * s.bias_se  # simulation agrees with the exact bias
    assert s.exact_bias == res["exact_clip_bias"]["IPS clip 2"] and res["summary"].loc["IPS", "exact_bias"] == 0.0
    assert np.isnan(res["summary"].loc["SNIPS", "exact_bias"])
    # DM: the mean over contexts of v̂_π(s) = Σ_a π(a|s) q̂(s, a), minus V(π) — by hand, and against the simulation
    dm_by_hand = np.mean([sum(p.target[c, a] * p.q_hat[c, a] for a in range(p.target.shape[1]))
                          for c in range(p.target.shape[0])]) - p.true_value
    assert op.exact_dm_bias(p) == pytest.approx(dm_by_hand, abs=1e-12) and abs(dm_by_hand) > 1e-3
    dm = res["summary"].loc["DM"]
    assert dm.exact_bias == pytest.approx(dm_by_hand, abs=1e-12)
    assert abs(dm.bias - dm.exact_bias) < 4 * dm.bias_se  # the simulated DM bias agrees with the exact one
    assert (dm.bias_lo - dm.exact_bias) * (dm.bias_hi - dm.exact_bias) < 0


def test_support_violation_dr_limit_is_the_model_error_on_the_unseen_family():
    viol = op.support_violation_study(ch, mass=0.2, sizes=(5000,), n_logs=60)
    dr = viol[viol.estimator == "DR"].iloc[0]
    assert abs(dr.bias - viol.attrs["dr_unseen_error"]) < 4 * dr.bias_se + 1e-3


def test_log_typicality_and_clip_bias_texts():
    import pandas as pd

    from molpractice import offpolicy as OP
    from molpractice.comparisons import holm_adjusted

    ess_all = np.arange(100, dtype=float)
    text = OP.log_typicality_text(95.5, [0.5, 2.0], ess_all, 21.4, max_weights=np.r_[np.full(5, 1.5), np.full(95, 9.0)])
    assert text == ("this log (ESS 95.5, largest weight 2.0) has a larger ESS than 96% of these logs (median ESS 49.5); 5% of "
                    "them have no weight above its largest (the policies allow up to 21.4): an atypically even log")
    assert OP.log_typicality_text(50.5, [3.0], ess_all, 21.4).endswith("(median ESS 49.5): not an atypically even log")
    s = pd.DataFrame(dict(bias=[0.0005, -0.0054, -0.05], bias_lo=[-0.004, -0.0099, -0.06], bias_hi=[0.005, -0.0009, -0.04],
                          bias_z=[0.2, -2.35, -31.0], exact_bias=[0.0, -0.0058, -0.047]),
                     index=["IPS", "IPS clip 20", "IPS clip 10"])
    from scipy import stats

    q = OP.bias_holm(s)
    np.testing.assert_allclose(q.to_numpy(), holm_adjusted(2 * stats.norm.sf(np.abs(s.bias_z.to_numpy()))))
    text = OP.clip_bias_text(s, "IPS clip 20")
    assert text.startswith("IPS clip 20: exact bias -0.0058, estimated -0.0054 [-0.0099, -0.0009] (detected unadjusted; "
                           f"Holm over the table's 3 bias tests: p {q['IPS clip 20']:.3f}, detected;")
    assert text.endswith("|z| = 2.35 passes a |z| < 3 rule: True)")
    many = pd.concat([s] + [s.loc[["IPS"]].rename(index={"IPS": f"x{k}"}) for k in range(6)])
    assert "not detected" in OP.clip_bias_text(many, "IPS clip 20")  # 0.019 × 8 rows − rank: no longer below 0.05
    nan = s.assign(bias_z=[np.nan, -2.35, -31.0])
    assert np.isnan(OP.bias_holm(nan)["IPS"]) and "Holm over the table's 2 bias tests" in OP.clip_bias_text(nan, "IPS clip 20")
