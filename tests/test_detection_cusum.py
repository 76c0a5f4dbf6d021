"""The CUSUM reward-hacking detector of chapter 6 (molpractice.detection.cusum_*): synthetic streams only, seeded,
no clocks. The full-run calibration and evaluation are scripts/ch06_detector_study.py (data/ch06_detector_study.json)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from molpractice import detection as D


def test_constants_are_fixed_and_documented():
    assert math.isfinite(D.CUSUM_K) and D.CUSUM_K >= 0
    assert math.isfinite(D.CUSUM_H) and D.CUSUM_H > 0
    assert D.CUSUM_DEV_SEEDS == dict(bug_free=(100, 139), late_onset=(100, 109))
    # the development seeds overlap none the notebook reports (5-9), its false-alarm (10-19) or detection (20-29) seeds
    dev = set(range(100, 140))
    assert not dev & set(range(0, 30))


def test_cusum_path_matches_the_recursion_written_another_way():
    rng = np.random.default_rng(0)
    z = rng.normal(0.3, 1.0, 40)
    k = 0.5
    # closed form: S_t = sum_{i<=t}(z_i - k) - min(0, min_{j<=t} sum_{i<=j}(z_i - k))
    c = np.cumsum(z - k)
    expected = c - np.minimum(0.0, np.minimum.accumulate(c))
    assert np.allclose(D.cusum_path(z, k), expected)
    assert np.allclose(D.cusum_path(z.astype(np.float32), k), expected, atol=1e-5)
    assert D.cusum_path([], k).shape == (0,)


def test_no_alarm_on_a_stationary_stream_within_the_stated_rate():
    # 19-24 audited batches per 1000-call run (batches of up to 50 after 100 starting molecules), N(0, 1) per batch
    rng = np.random.default_rng(1)
    n = 10000  # the rate is about 0.035 on 24 batches: enough streams for an upper bound below 0.05
    fired = sum(D.cusum_alarm(rng.normal(0.0, 1.0, 24)) is not None for _ in range(n))
    lo, hi = D.clopper_pearson(fired, n)
    assert hi < 0.05, f"{fired} of {n} stationary streams alarmed [{lo:.3f}, {hi:.3f}]: above 1 in 20"


def test_alarm_on_a_step_change_after_a_bounded_delay():
    k, h = D.CUSUM_K, D.CUSUM_H
    for step in (k + 0.3, k + 1.0, k + 4.0):
        # noise-free: the CUSUM climbs by step − k per batch, so it first exceeds h after floor(h/(step − k)) + 1 batches
        z = np.r_[np.zeros(4), np.full(20, step)]
        delay = math.floor(h / (step - k)) + 1
        assert D.cusum_alarm(z) == 4 + delay - 1
        calls = 150 + 50 * np.arange(len(z))
        assert D.cusum_alarm(z, calls) == int(calls[4 + delay - 1])
    # with N(0, 1) noise, a shift of k + 2 standard errors after batch 4 is caught within 4 batches in nearly every
    # stream (the chosen k is large: a shift just above it takes many batches — see the step loop above)
    rng = np.random.default_rng(2)
    delays = []
    for _ in range(500):
        z = rng.normal(0.0, 1.0, 18)
        z[4:] += k + 2.0
        at = D.cusum_alarm(z)
        delays.append(np.inf if at is None else at - 4 + 1)
    delays = np.array(delays)
    assert np.mean(delays <= 4) > 0.95 and np.all(np.isfinite(delays))
    assert D.cusum_alarm(np.zeros(18)) is None
    assert D.cusum_alarm(np.r_[np.zeros(4), np.full(14, 0.9 * k)]) is None  # a shift below the allowance never adds up


def test_a_slow_build_up_that_no_single_batch_shows_is_caught():
    # a drift of +0.25 standard errors per batch from batch 2: the two-batch z > 3 rule would wait until batch ~14;
    # a CUSUM with a small allowance adds the moderate batches up and fires first (the mechanism, at k = 1, h = 4)
    z = np.r_[np.zeros(2), 0.25 * np.arange(1, 17)]
    at = D.cusum_alarm(z, k=1.0, h=4.0)
    assert at is not None and at < int(np.flatnonzero(z > 3)[0])
    # the chosen constants are close to a threshold rule: on this build-up they fire later than the two-batch z > 3
    # rule (what notebook 06 says of them; review 06n-B finding 11: asserted whatever the constants)
    chosen = D.cusum_alarm(z)
    two_batch = int(np.flatnonzero((z[1:] > 3) & (z[:-1] > 3))[0]) + 1
    assert chosen is not None and chosen > two_batch, (chosen, two_batch)


def test_input_validation_names_the_bad_argument():
    with pytest.raises(ValueError, match="z must be a 1-D"):
        D.cusum_alarm(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"z must be finite: z\[1\]"):
        D.cusum_path([0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="k must be"):
        D.cusum_path([0.0], k=-0.1)
    with pytest.raises(ValueError, match="k must be"):
        D.cusum_alarm([0.0], k=float("inf"))
    with pytest.raises(ValueError, match="h must be"):
        D.cusum_alarm([0.0], h=0)
    with pytest.raises(ValueError, match="h must be"):
        D.cusum_alarm([0.0], h=True)
    with pytest.raises(ValueError, match="calls must give one call count"):
        D.cusum_alarm([0.0, 1.0], calls=[150])
    with pytest.raises(ValueError, match=r"calls must not decrease: calls\[1\]"):
        D.cusum_alarm([0.0, 1.0], calls=[150, 149])
    assert D.cusum_alarm([0.0, 0.0], calls=[999, 999], k=0.5, h=1.0) is None  # a batch of re-proposed molecules
    with pytest.raises(ValueError, match="budget must be"):
        D.cusum_table([], 1)
    with pytest.raises(ValueError, match="what must be"):
        D.cusum_text(pd.DataFrame(), 1000, what="never")
    with pytest.raises(ValueError, match="audit table"):
        D.run_cusum_alarm(dict(audit=pd.DataFrame(dict(calls=[150]))))


def test_cusum_table_reads_runs_and_counts_with_intervals():
    calls = 150 + 50 * np.arange(18)
    quiet = pd.DataFrame({"calls": calls, D.CUSUM_SIGNAL: np.zeros(18)})
    loud = pd.DataFrame({"calls": calls, D.CUSUM_SIGNAL: np.r_[np.zeros(3), np.full(15, 10.0)]})
    runs = [dict(seed=1, proxy="bug-free", audit=quiet), dict(seed=2, proxy="late onset", onset=200, audit=loud)]
    t = D.cusum_table(runs, 1000)
    assert np.isnan(t.cusum_at[0]) and not t.before_half[0] and not t.before_onset[0]
    assert t.cusum_at[1] == D.run_cusum_alarm(runs[1]) and t.before_half[1] and not t.before_onset[1]
    assert t.attrs["before_half"][:2] == (1, 2) and t.attrs["fired"][:2] == (1, 2)
    assert D.cusum_text(t, 1000).startswith("CUSUM alarm before call 500 in 1 of 2 runs [")
    assert D.cusum_text(t, 1000, "fired").startswith("CUSUM alarm in 1 of 2 runs [")
