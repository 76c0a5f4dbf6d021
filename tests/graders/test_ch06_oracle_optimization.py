"""Graders of chapter 6 (off-policy estimators and classifier-free guidance). Each takes ``impl``.

Oracles are independent of the reference: explicit Python loops over the logged rounds, hand-computed
logs, properties the estimators must have (SNIPS of a constant reward, DR with a perfect or an empty
reward model, ESS of equal weights and its scale invariance, CFG at w = 0 and w = −1). Every random
number is seeded; no clock is read. Inputs come as float32 and float64 arrays, lists and torch tensors.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from molpractice.grading import exercise

RTOL, ATOL = 1e-6, 1e-9  # the estimators receive float64 arrays (validation converts), so sums agree closely


def _log(seed, n=40, zero_target_share=0.2, reward_offset=0.0):
    """A random log: rewards in [−1, 2] (+offset), π and μ probabilities, some rounds with π = 0."""
    rng = np.random.default_rng(seed)
    rewards = rng.uniform(-1.0, 2.0, n) + reward_offset
    logging = rng.uniform(0.02, 1.0, n)
    target = rng.uniform(0.0, 1.0, n)
    target[rng.random(n) < zero_target_share] = 0.0
    target[0] = max(target[0], 0.5)  # at least one round π visits
    return rewards, target, logging


def _loop_ips(r, p, q, clip=None):
    total = 0.0
    for ri, pi, qi in zip(r, p, q):
        w = float(pi) / float(qi)
        if clip is not None and w > clip:
            w = clip
        total += w * float(ri)
    return total / len(r)


def _loop_snips(r, p, q):
    num = den = 0.0
    for ri, pi, qi in zip(r, p, q):
        w = float(pi) / float(qi)
        num += w * float(ri)
        den += w
    return num / den


def _loop_dr(r, p, q, qhat, vhat):
    total = 0.0
    for i in range(len(r)):
        w = float(p[i]) / float(q[i])
        total += float(vhat[i]) + w * (float(r[i]) - float(qhat[i]))
    return total / len(r)


def _close(got, want, rtol=RTOL, atol=ATOL):
    return got is not None and math.isfinite(float(got)) and abs(float(got) - want) <= atol + rtol * abs(want)


def _assert_python_float(got, what):
    assert isinstance(got, float), f"{what} must return a Python float (use float(...)), got {type(got).__name__}"


_BAD_LOGS = [  # (rewards, target_probs, logging_probs, the argument the message must name)
    ([1.0, 2.0], [0.5, 0.5], [0.0, 0.5], "logging_probs"),
    ([1.0, 2.0], [0.5, 0.5], [1.5, 0.5], "logging_probs"),
    ([1.0, 2.0], [0.5, 0.5], [-0.1, 0.5], "logging_probs"),
    ([1.0, 2.0], [1.2, 0.5], [0.5, 0.5], "target_probs"),
    ([1.0, 2.0], [-0.2, 0.5], [0.5, 0.5], "target_probs"),
    ([1.0, float("nan")], [0.5, 0.5], [0.5, 0.5], "rewards"),
    ([1.0, 2.0], [0.5, float("nan")], [0.5, 0.5], "target_probs"),
    ([1.0, 2.0], [0.5, 0.5], [0.5, float("nan")], "logging_probs"),
    ([1.0, 2.0, 3.0], [0.5, 0.5], [0.5, 0.5], "target_probs"),
    ([1.0, 2.0], [0.5, 0.5], [0.5], "logging_probs"),
    ([], [], [], "rewards"),
]


def _assert_right_on_a_valid_log(got, want, call):
    """Graders of argument validation first check the value on a valid log, so that a function returning None or
    a wrong number earns nothing from them (molpractice.grading's rule). The tolerance accepts float32 arithmetic."""
    try:
        value = float(got)
    except (TypeError, ValueError):
        value = float("nan")
    assert got is not None and math.isfinite(value) and abs(value - want) <= 1e-6 + 1e-5 * abs(want), (
        f"{call} = {got!r}, expected {want}: the argument checks are graded only once the function returns the "
        "right value on a valid log")


def _check_bad_logs(call):
    for r, p, q, name in _BAD_LOGS:
        with pytest.raises(ValueError) as info:
            call(r, p, q)
        assert name in str(info.value), (f"rewards={r}, target_probs={p}, logging_probs={q}: the ValueError must name "
                                         f"{name!r}, got: {info.value}")


# ---------------------------------------------------------------------------------------- 6.1
@exercise("6.1", points=1)
def test_ips_small_log_by_hand(impl):
    f = impl.ch06_oracle_optimization.ips_estimate
    # weights 0.5/0.25 = 2, 0.5/1 = 0.5, 0/0.5 = 0 → (2·1 + 0.5·2 + 0·5) / 3 = 1
    got = f([1.0, 2.0, 5.0], [0.5, 0.5, 0.0], [0.25, 1.0, 0.5])
    _assert_python_float(got, "ips_estimate")
    if _close(got, 3.0 / 2.5):
        raise AssertionError("got 1.2 = Σ w·r / Σ w on the log r=[1, 2, 5], π=[.5, .5, 0], μ=[.25, 1, .5]: that is "
                             "SNIPS; IPS divides the weighted sum by n, the number of rounds")
    if _close(got, 3.0 / 2.0):
        raise AssertionError("got 1.5: rounds with target probability 0 still count in n (divide by all 3 rounds)")
    if _close(got, (0.5 * 1 + 2 * 2 + 0 * 5) / 3):
        raise AssertionError("weights look inverted: w = target_probs / logging_probs (π/μ), not μ/π")
    assert _close(got, 1.0), (f"ips_estimate(r=[1, 2, 5], π=[.5, .5, 0], μ=[.25, 1, .5]) = {got}, expected 1.0: "
                              "IPS is the mean over all n rounds of w·reward with w = π/μ = target_prob / logging_prob")
    one = f([3.0], [0.2], [0.4])
    assert _close(one, 1.5), f"a single round r=3, π=.2, μ=.4 must give 0.5·3 = 1.5, got {one}"


@exercise("6.1", points=2)
def test_ips_matches_a_loop_on_random_logs(impl):
    f = impl.ch06_oracle_optimization.ips_estimate
    for seed in range(12):
        r, p, q = _log(seed, n=5 + 7 * seed)
        want = _loop_ips(r, p, q)
        for kind, args in (("float64 arrays", (r, p, q)), ("float32 arrays", tuple(a.astype(np.float32) for a in (r, p, q))),
                           ("lists", tuple(a.tolist() for a in (r, p, q))),
                           ("torch tensors", tuple(torch.tensor(a) for a in (r, p, q)))):
            if kind == "float32 arrays":
                want_k = _loop_ips(*args)
            else:
                want_k = want
            got = f(*args)
            _assert_python_float(got, "ips_estimate")
            if _close(got, _loop_snips(*args)) and not _close(want_k, _loop_snips(*args)):
                raise AssertionError("your estimate equals Σ w·r / Σ w (SNIPS); IPS divides by n, the number of rounds")
            assert _close(got, want_k, rtol=1e-6 if kind != "float32 arrays" else 1e-5), (
                f"log {seed} ({kind}, n={len(r)}): got {got}, expected {want_k} — IPS is the mean of "
                "(target_probs / logging_probs) · rewards over all n rounds (no clip given, so no weight is capped)")
    r, p, q = _log(99, n=30)
    assert _close(f(r, p, q, clip=None), _loop_ips(r, p, q)), "clip=None must mean no clipping"
    huge = f(r, p, q, clip=1e9)
    assert _close(huge, _loop_ips(r, p, q)), (f"a clip above every weight must change nothing, got {huge}: clipping "
                                              "caps weights from above, min(w, clip)")


@exercise("6.1", points=2)
def test_ips_clips_the_weights(impl):
    f = impl.ch06_oracle_optimization.ips_estimate
    r = np.array([1.0, -2.0, 4.0, 0.5])
    p = np.array([0.9, 0.8, 0.1, 0.6])
    q = np.array([0.1, 0.2, 0.5, 0.3])  # weights 9, 4, 0.2, 2
    for clip in (3.0, 1, 5.0, 0.1):
        got = f(r, p, q, clip=clip)
        _assert_python_float(got, "ips_estimate")
        want = _loop_ips(r, p, q, clip=float(clip))
        unclipped = _loop_ips(r, p, q)
        if _close(got, unclipped) and not _close(want, unclipped):
            raise AssertionError(f"clip={clip} was given but the estimate equals unclipped IPS: clip the weights — "
                                 "replace every weight above clip by clip before multiplying by the reward (capping "
                                 "the estimate itself is a different, wrong operation)")
        if _close(got, min(unclipped, float(clip))) and not _close(want, min(unclipped, float(clip))):
            raise AssertionError(f"clip={clip}: you clipped the estimate; clip the weights w_i (each at most clip), "
                                 "then average the clipped weights times rewards")
        products = float(np.mean(np.minimum(p / q * r, float(clip))))
        if _close(got, products) and not _close(want, products):
            raise AssertionError(f"clip={clip}: you capped the products w·r; cap the weights w_i, then multiply by "
                                 "the reward (a negative or large reward must keep its clipped weight)")
        raised = float(np.mean(np.maximum(p / q, float(clip)) * r))
        if _close(got, raised) and not _close(want, raised):
            raise AssertionError(f"clip={clip}: weights below clip were raised; clipping caps weights from above "
                                 "(min(w, clip)), it never raises a weight")
        assert _close(got, want), (f"clip={clip}: got {got}, expected {want} — replace each weight w_i = π/μ by "
                                   "min(w_i, clip), then average (clipped weight) · reward over all rounds")


@exercise("6.1", points=1)
def test_ips_rejects_bad_input(impl):
    f = impl.ch06_oracle_optimization.ips_estimate
    _assert_right_on_a_valid_log(f([1.0, 2.0, 5.0], [0.5, 0.5, 0.0], [0.25, 1.0, 0.5]), 1.0,
                                 "ips_estimate(r=[1, 2, 5], π=[.5, .5, 0], μ=[.25, 1, .5])")
    _assert_right_on_a_valid_log(f([1.0, 2.0, 5.0], [0.5, 0.5, 0.0], [0.25, 1.0, 0.5], clip=1.5), 2.5 / 3,
                                 "ips_estimate(r=[1, 2, 5], π=[.5, .5, 0], μ=[.25, 1, .5], clip=1.5)")
    _check_bad_logs(f)
    for clip in (0.0, -1.0, float("nan"), float("inf"), "3", True):
        with pytest.raises(ValueError):
            f([1.0], [0.5], [0.5], clip=clip)


# ---------------------------------------------------------------------------------------- 6.2
@exercise("6.2", points=2)
def test_snips_matches_a_loop(impl):
    f = impl.ch06_oracle_optimization.snips_estimate
    got = f([1.0, 2.0, 5.0], [0.5, 0.5, 0.0], [0.25, 1.0, 0.5])
    _assert_python_float(got, "snips_estimate")
    if _close(got, 1.0):
        raise AssertionError("got 1.0 = Σ w·r / n, which is IPS: SNIPS divides Σ w·r by the sum of the weights Σ w, not by n")
    if _close(got, 8.0 / 2.5):
        raise AssertionError("got Σ r / Σ w: the numerator must weight each reward, Σ w_i·r_i")
    assert _close(got, 1.2), (f"snips_estimate(r=[1, 2, 5], π=[.5, .5, 0], μ=[.25, 1, .5]) = {got}, expected "
                              "(2·1 + 0.5·2 + 0·5) / (2 + 0.5 + 0) = 1.2 with w_i = π/μ")
    for seed in range(12):
        r, p, q = _log(100 + seed, n=4 + 9 * seed)
        for kind, args in (("float64", (r, p, q)), ("float32", tuple(a.astype(np.float32) for a in (r, p, q))),
                           ("torch", tuple(torch.tensor(a) for a in (r, p, q)))):
            want = _loop_snips(*args)
            got = f(*args)
            _assert_python_float(got, "snips_estimate")
            if _close(got, _loop_ips(*args)) and not _close(want, _loop_ips(*args)):
                raise AssertionError("your estimate equals Σ w·r / n (IPS): divide by the sum of the weights Σ w instead")
            assert _close(got, want, rtol=1e-5), (f"log {seed} ({kind}): got {got}, expected {want} = "
                                                  "Σ w_i r_i / Σ w_i with w_i = π/μ")


@exercise("6.2", points=1)
def test_snips_constant_reward_and_shift(impl):
    f = impl.ch06_oracle_optimization.snips_estimate
    r, p, q = _log(7, n=25)
    for c in (1.0, -3.5, 10.0):
        got = f(np.full(25, c), p, q)
        assert _close(got, c, rtol=1e-9, atol=1e-9), (
            f"a log with every reward = {c} must give exactly {c}, got {got}: normalise by Σ w (SNIPS is "
            "self-normalised), not by n")
    base = f(r, p, q)
    shifted = f(r + 2.0, p, q)
    assert _close(shifted - base, 2.0, rtol=1e-9, atol=1e-9), (
        f"adding 2 to every reward moved the estimate by {shifted - base}, not 2: divide by Σ w, not by n")


@exercise("6.2", points=1)
def test_snips_rejects_bad_input(impl):
    f = impl.ch06_oracle_optimization.snips_estimate
    _assert_right_on_a_valid_log(f([1.0, 2.0, 5.0], [0.5, 0.5, 0.0], [0.25, 1.0, 0.5]), 1.2,
                                 "snips_estimate(r=[1, 2, 5], π=[.5, .5, 0], μ=[.25, 1, .5])")
    _check_bad_logs(f)
    with pytest.raises(ValueError):
        f([1.0, 2.0], [0.0, 0.0], [0.5, 0.5])


# ---------------------------------------------------------------------------------------- 6.3
def _dr_case(seed, n=30):
    r, p, q = _log(200 + seed, n=n)
    rng = np.random.default_rng(300 + seed)
    qhat = r + rng.normal(0.0, 0.5, n)  # an imperfect reward model
    vhat = rng.uniform(-1.0, 2.0, n)
    return r, p, q, qhat, vhat


@exercise("6.3", points=2)
def test_dr_matches_a_loop(impl):
    f = impl.ch06_oracle_optimization.doubly_robust_estimate
    # w = [2, 0.5, 0]; residuals r − q̂ = [1, −1, 1]; v̂ = [0.2, 0.4, 0.9] → (0.2+2 + 0.4−0.5 + 0.9+0) / 3 = 1.0
    got = f([1.0, 2.0, 5.0], [0.5, 0.5, 0.0], [0.25, 1.0, 0.5], [0.0, 3.0, 4.0], [0.2, 0.4, 0.9])
    _assert_python_float(got, "doubly_robust_estimate")
    if _close(got, (2 - 0.5 + 0) / 3):
        raise AssertionError("the reward model's value for π is missing: add v_target (the mean of v_target "
                             "over rounds) to the weighted residuals")
    if _close(got, (2 * 1 + 0.5 * 2 + 0) / 3 + 0.5):
        raise AssertionError("you added v_target to plain IPS: the weights must multiply the residuals r − q_logged")
    if _close(got, 0.5 + (1 - 1 + 1) / 3):
        raise AssertionError("the residuals r − q_logged must be importance weighted (w = π/μ)")
    assert _close(got, 1.0), f"hand-computed log: got {got}, expected 1.0 = mean(v_target + w·(rewards − q_logged))"
    for seed in range(10):
        r, p, q, qhat, vhat = _dr_case(seed, n=3 + 8 * seed)
        for kind, args in (("float64", (r, p, q, qhat, vhat)),
                           ("float32", tuple(a.astype(np.float32) for a in (r, p, q, qhat, vhat))),
                           ("torch", tuple(torch.tensor(a) for a in (r, p, q, qhat, vhat)))):
            want = _loop_dr(*args)
            got = f(*args)
            _assert_python_float(got, "doubly_robust_estimate")
            assert _close(got, want, rtol=1e-5, atol=1e-7), (
                f"log {seed} ({kind}): got {got}, expected {want} = mean over rounds of "
                "v_target + (π/μ)·(rewards − q_logged)")


@exercise("6.3", points=1)
def test_dr_special_cases(impl):
    f = impl.ch06_oracle_optimization.doubly_robust_estimate
    r, p, q, qhat, vhat = _dr_case(20)
    got = f(r, p, q, np.zeros_like(r), np.zeros_like(r))
    assert _close(got, _loop_ips(r, p, q)), (f"with q_logged = 0 and v_target = 0 DR must equal IPS "
                                             f"({_loop_ips(r, p, q)}), got {got}")
    got = f(r, p, q, r, vhat)
    assert _close(got, float(np.mean(vhat))), (f"with a perfect model (q_logged = rewards) DR must equal "
                                               f"mean(v_target) = {np.mean(vhat)}, got {got}")
    got = f(r, p, q, qhat, 0.75)
    want = _loop_dr(r, p, q, qhat, np.full(len(r), 0.75))
    assert _close(got, want), (f"a single number v_target=0.75 is used for every round: expected {want}, got {got}")
    got = f(r, p, q, qhat, np.float32(0.75))
    assert _close(got, want, rtol=1e-6), "a numpy scalar v_target must work like a Python float"


@exercise("6.3", points=1)
def test_dr_rejects_bad_input(impl):
    f = impl.ch06_oracle_optimization.doubly_robust_estimate
    _assert_right_on_a_valid_log(f([1.0, 2.0, 5.0], [0.5, 0.5, 0.0], [0.25, 1.0, 0.5], [0.0, 3.0, 4.0], [0.2, 0.4, 0.9]),
                                 1.0, "doubly_robust_estimate(r=[1, 2, 5], π=[.5, .5, 0], μ=[.25, 1, .5], "
                                 "q_logged=[0, 3, 4], v_target=[.2, .4, .9])")
    _check_bad_logs(lambda r, p, q: f(r, p, q, [0.0] * len(r), 0.0))
    for qhat, vhat, name in (([0.0], [0.0, 0.0], "q_logged"), ([0.0, float("nan")], [0.0, 0.0], "q_logged"),
                             ([0.0, 0.0], [0.0], "v_target"), ([0.0, 0.0], [0.0, float("inf")], "v_target"),
                             ([0.0, 0.0], float("nan"), "v_target")):
        with pytest.raises(ValueError) as info:
            f([1.0, 2.0], [0.5, 0.5], [0.5, 0.5], qhat, vhat)
        assert name in str(info.value), f"q_logged={qhat}, v_target={vhat}: the ValueError must name {name!r}"


# ---------------------------------------------------------------------------------------- 6.4
@exercise("6.4", points=2)
def test_ess_formula(impl):
    f = impl.ch06_oracle_optimization.effective_sample_size
    got = f([1.0, 1.0, 2.0])  # (4)² / 6
    _assert_python_float(got, "effective_sample_size")
    if _close(got, 3 / 6):
        raise AssertionError("got n / Σw² = 0.5 for weights [1, 1, 2]: Kish's ESS is (Σw)² / Σw², not n / Σw²")
    if _close(got, 6 / 16):
        raise AssertionError("got Σw² / (Σw)²: that is 1/ESS; Kish's ESS is (Σw)² / Σw²")
    assert _close(got, 16 / 6), (f"ESS of weights [1, 1, 2] = (1+1+2)² / (1+1+4) = 2.667, got {got}: a float "
                                 "(do not round to an integer), with no ddof or n − 1 anywhere")
    rng = np.random.default_rng(64)
    for trial in range(10):
        n = int(rng.integers(2, 60))
        w = rng.lognormal(0.0, 1.0 + trial / 3, n)
        want = float(np.sum(w)) ** 2 / float(np.sum(w ** 2))
        for kind, arg, rtol in (("float64", w, 1e-9), ("float32", w.astype(np.float32), 1e-5),
                                ("list", w.tolist(), 1e-9), ("torch", torch.tensor(w), 1e-9)):
            want_k = float(np.sum(np.asarray(arg, dtype=np.float64))) ** 2 / float(np.sum(np.asarray(arg, dtype=np.float64) ** 2))
            got = f(arg)
            _assert_python_float(got, "effective_sample_size")
            assert _close(got, want_k, rtol=rtol), (f"weights {kind} (n={n}): got {got}, expected (Σw)²/Σw² = {want_k}; "
                                                    "do not round to an integer, and do not subtract one (no ddof)")
        for scale in (1e-3, 7.0, 1e4):
            assert _close(f(w * scale), want, rtol=1e-9), (
                f"multiplying every weight by {scale} changed the ESS: (Σw)²/Σw² is scale invariant; "
                "do not compare weights to 1 or normalise by n")


@exercise("6.4", points=1)
def test_ess_extremes(impl):
    f = impl.ch06_oracle_optimization.effective_sample_size
    for n in (1, 5, 1000):
        got = f(np.full(n, 0.3))
        assert _close(got, float(n), rtol=1e-9), f"{n} equal weights must give ESS = {n}, got {got}"
    got = f([0.0, 0.0, 4.0, 0.0])
    assert _close(got, 1.0, rtol=1e-12), f"one non-zero weight among zeros must give ESS = 1, got {got}"
    got = f([0.0, 0.0, 0.0])
    _assert_python_float(got, "effective_sample_size")
    assert got == 0.0, f"all-zero weights must give 0.0 (nothing informs the estimate), got {got}"
    for bad in ([1.0, -0.5], [1.0, float("nan")], [float("inf")], [], [[1.0, 2.0]]):
        with pytest.raises(ValueError) as info:
            f(bad)
        assert "weights" in str(info.value), f"weights={bad}: the ValueError must name 'weights'"


# ---------------------------------------------------------------------------------------- 6.5
def _noise(seed, shape=(6, 3), dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype), torch.randn(shape, generator=g, dtype=dtype)


@exercise("6.5", points=2)
def test_cfg_formula(impl):
    f = impl.ch06_oracle_optimization.cfg_noise
    c, u = _noise(0)
    for w in (1.0, 2.5, 7.0, 0.3, 0.0):
        got = f(c.clone(), u.clone(), w)
        assert isinstance(got, torch.Tensor), f"torch inputs must give a torch tensor, got {type(got).__name__}"
        want = (1 + w) * c - w * u
        if w > 0 and torch.allclose(got, (1 - w) * c + w * u, atol=1e-9):
            raise AssertionError(f"w={w}: the sign of w is flipped — the guided noise is (1 + w)·eps_cond − w·eps_uncond "
                                 "(it moves away from the unconditional prediction)")
        if w > 0 and torch.allclose(got, u + w * (c - u), atol=1e-9):
            raise AssertionError(f"w={w}: you computed eps_uncond + w·(eps_cond − eps_uncond); this chapter's w is "
                                 "Ho & Salimans': (1 + w)·eps_cond − w·eps_uncond (w = 0 is the conditional model)")
        if w > 0 and torch.allclose(got, (1 + w) * c + w * u, atol=1e-9):
            raise AssertionError(f"w={w}: subtract w·eps_uncond, do not add it")
        assert torch.allclose(got, want, atol=1e-12, rtol=1e-12), (
            f"w={w}: max error {float((got - want).abs().max()):.3g} — expected (1 + w)·eps_cond − w·eps_uncond")
    got0 = f(c, u, 0.0)
    assert torch.allclose(got0, c, atol=1e-12, rtol=1e-12), (
        f"w = 0 must return the conditional prediction eps_cond (max error {float((got0 - c).abs().max()):.3g})")
    assert torch.allclose(f(c, u, -1.0), u, atol=1e-12), "w = −1 must return the unconditional prediction"
    cn, un = c.numpy().copy(), u.numpy().copy()
    got = f(cn, un, np.float64(1.5))
    assert isinstance(got, np.ndarray), f"numpy inputs must give a numpy array, got {type(got).__name__}"
    assert np.allclose(got, 2.5 * cn - 1.5 * un, atol=1e-12), "numpy inputs: expected (1 + w)·eps_cond − w·eps_uncond"


@exercise("6.5", points=1)
def test_cfg_keeps_dtype_shape_and_inputs(impl):
    f = impl.ch06_oracle_optimization.cfg_noise
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        for shape in ((4,), (2, 5, 3), (1, 1)):
            c, u = _noise(1, shape, dtype)
            c0, u0 = c.clone(), u.clone()
            got = f(c, u, 3.0)
            assert torch.equal(c, c0) and torch.equal(u, u0), (
                "an input was changed in place: build a new tensor instead of scaling eps_cond/eps_uncond in place")
            assert got.dtype == dtype, f"{dtype} inputs gave {got.dtype}: keep the inputs' dtype"
            assert tuple(got.shape) == shape, f"shape {shape} gave {tuple(got.shape)}"
            assert got.device == c.device, "keep the inputs' device"
            want = (4.0 * c.double() - 3.0 * u.double()).to(dtype)
            assert torch.allclose(got, want, atol=tol * 10, rtol=tol), f"{dtype}, shape {shape}: wrong values"
    c, u = _noise(2)
    c.requires_grad_(True)
    out = f(c, u, 2.0)
    out.sum().backward()  # guidance must stay differentiable (and must not modify a leaf in place)
    assert torch.allclose(c.grad, torch.full_like(c, 3.0)), "d(guided)/d(eps_cond) must be (1 + w) everywhere"
    for np_dtype in (np.float32, np.float64):
        cn = np.ones((3, 2), np_dtype)
        un = np.zeros((3, 2), np_dtype)
        got = f(cn, un, 2.0)
        assert got.dtype == np_dtype, f"numpy {np.dtype(np_dtype)} inputs gave {got.dtype}: keep the dtype"
        assert np.all(cn == 1) and np.all(un == 0), "an input array was changed in place"
        assert np.allclose(got, 3.0), "ones and zeros with w = 2 must give 3 everywhere"


@exercise("6.5", points=1)
def test_cfg_rejects_bad_input(impl):
    f = impl.ch06_oracle_optimization.cfg_noise
    c, u = _noise(3)
    got = f(c.clone(), u.clone(), 1.5)  # a valid call first: the argument checks are graded only after it is right
    right = isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(c.shape) and torch.allclose(
        got, 2.5 * c - 1.5 * u, atol=1e-9, rtol=1e-9)
    assert right, ("cfg_noise(eps_cond, eps_uncond, 1.5) on valid float64 tensors must return 2.5·eps_cond − "
                   "1.5·eps_uncond: the argument checks are graded only once the function returns the right value "
                   f"on a valid input (got {type(got).__name__}"
                   + (f" with max error {float((got - (2.5 * c - 1.5 * u)).abs().max()):.3g})"
                      if isinstance(got, torch.Tensor) and got.shape == c.shape else ")"))
    for args, name in (((c, u[:3], 1.0), "eps_uncond"), ((c, u.float(), 1.0), "eps_uncond"),
                       ((c, u.numpy(), 1.0), "eps_uncond"), ((c, u, float("nan")), "w"), ((c, u, "2"), "w"),
                       ((c, u, float("inf")), "w")):
        with pytest.raises(ValueError) as info:
            f(*args)
        assert name in str(info.value), f"the ValueError must name {name!r}, got: {info.value}"
