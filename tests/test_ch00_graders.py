"""The chapter-0 graders must fail on realistic wrong implementations and pass on other correct ones.

Each variant replaces ``softmax_energy_stats`` of the reference module; the graders of 0.1 must reject it
(AssertionError or the variant's own error) with a message that names what to fix.
"""

import numpy as np
import pytest

from molpractice.mutation import GraderSuite
from solutions import ch00_start_here as ref

SUITE = GraderSuite("ch00_start_here")
graders = SUITE.graders
_impl = SUITE.implementation
_graders_of = SUITE.graders_of
_failures = SUITE.rejections  # messages of the graders that reject an implementation (empty: accepted)


def _validate(energies, temperature):
    energies = np.asarray(energies, dtype=np.float64)
    if energies.ndim != 1 or energies.size == 0 or not np.all(np.isfinite(energies)):
        raise ValueError("bad energies")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError("bad temperature")
    return energies


def no_shift(energies, temperature):  # overflows for E = -1e4
    energies = _validate(energies, temperature)
    w = np.exp(-energies / temperature)
    p = w / w.sum()
    return p, float(p @ energies), float(-(p * np.log(p)).sum())


def shift_by_max(energies, temperature):  # shifts the wrong way: exp(+2e4) overflows
    energies = _validate(energies, temperature)
    logits = -(energies - energies.max()) / temperature
    p = np.exp(logits) / np.exp(logits).sum()
    return p, float(p @ energies), float(-(p * np.log(p)).sum())


def entropy_from_log_p(energies, temperature):  # stable p, but log(0) = -inf for the entropy
    energies = _validate(energies, temperature)
    logits = -(energies - energies.min()) / temperature
    p = np.exp(logits) / np.exp(logits).sum()
    return p, float(p @ energies), float(-(p * np.log(p)).sum())


def entropy_in_bits(energies, temperature):
    p, e, _ = ref.softmax_energy_stats(energies, temperature)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = float(-np.nansum(p * np.log2(p)))
    return p, e, s


def multiplies_by_temperature(energies, temperature):
    energies = _validate(energies, temperature)
    logits = -(energies - energies.min()) * temperature
    logp = logits - np.log(np.exp(logits).sum())
    p = np.exp(logp)
    return p, float(p @ energies), float(-(p @ logp))


def no_minus_sign(energies, temperature):  # favours high energies
    energies = _validate(energies, temperature)
    logits = (energies - energies.max()) / temperature
    logp = logits - np.log(np.exp(logits).sum())
    p = np.exp(logp)
    return p, float(p @ energies), float(-(p @ logp))


def mean_of_shifted_energies(energies, temperature):  # <E> of the shifted energies: off by min(E)
    energies = _validate(energies, temperature)
    shifted = energies - energies.min()
    logp = -shifted / temperature - np.log(np.exp(-shifted / temperature).sum())
    p = np.exp(logp)
    return p, float(p @ shifted), float(-(p @ logp))


def shifts_in_place(energies, temperature):  # mutates the caller's array
    energies = _validate(energies, temperature)
    energies -= energies.min()
    logp = -energies / temperature - np.log(np.exp(-energies / temperature).sum())
    p = np.exp(logp)
    return p, float(p @ energies) + 0.0, float(-(p @ logp))


def float32(energies, temperature):
    energies = _validate(energies, temperature).astype(np.float32)
    logits = -(energies - energies.min()) / np.float32(temperature)
    logp = logits - np.log(np.exp(logits).sum())
    p = np.exp(logp)
    return p, float(p @ energies), float(-(p @ logp))


def no_validation(energies, temperature):  # right numbers, but T <= 0 is accepted
    energies = np.asarray(energies, dtype=np.float64)
    logits = -(energies - energies.min()) / temperature
    logp = logits - np.log(np.exp(logits).sum())
    p = np.exp(logp)
    return p, float(p @ energies), float(-(p @ logp))


def shift_by_mean(energies, temperature):  # a shift, but not by the minimum: exp(+6667) still overflows
    energies = _validate(energies, temperature)
    logits = -(energies - energies.mean()) / temperature
    logp = logits - np.log(np.exp(logits).sum())
    p = np.exp(logp)
    return p, float(p @ energies), float(-(p @ logp))


def _stable(energies, temperature):
    logits = -(energies - energies.min()) / temperature
    logp = logits - np.log(np.exp(logits).sum())
    return np.exp(logp), logp


def no_finite_check(energies, temperature):  # nan/inf energies give nan results instead of an error
    energies = np.asarray(energies, dtype=np.float64)
    if energies.ndim != 1 or energies.size == 0 or not temperature > 0:
        raise ValueError("bad input")
    p, logp = _stable(energies, temperature)
    return p, float(p @ energies), float(-(p @ logp))


def flattens_2d(energies, temperature):  # a (2, 2) array is silently treated as 4 states
    energies = np.asarray(energies, dtype=np.float64).ravel()
    energies = _validate(energies, temperature)
    p, logp = _stable(energies, temperature)
    return p, float(p @ energies), float(-(p @ logp))


def zero_d_arrays(energies, temperature):  # numbers returned as 0-d arrays
    energies = _validate(energies, temperature)
    p, logp = _stable(energies, temperature)
    return p, np.array(p @ energies), np.array(-(p @ logp))


def probs_as_list(energies, temperature):
    energies = _validate(energies, temperature)
    p, logp = _stable(energies, temperature)
    return p.tolist(), float(p @ energies), float(-(p @ logp))


def temperature_not_checked_finite(energies, temperature):  # T = inf gives a uniform distribution, no error
    energies = np.asarray(energies, dtype=np.float64)
    if energies.ndim != 1 or energies.size == 0 or not np.all(np.isfinite(energies)) or temperature <= 0:
        raise ValueError("bad input")
    p, logp = _stable(energies, temperature)
    return p, float(p @ energies), float(-(p @ logp))


def returns_list(energies, temperature):
    return list(ref.softmax_energy_stats(energies, temperature))


def returns_none(energies, temperature):
    _validate(energies, temperature)
    return None


WRONG = [no_shift, shift_by_max, entropy_from_log_p, entropy_in_bits, multiplies_by_temperature, no_minus_sign,
         mean_of_shifted_energies, shifts_in_place, float32, no_validation, returns_none,
         shift_by_mean, no_finite_check, flattens_2d, zero_d_arrays, probs_as_list,
         temperature_not_checked_finite, returns_list]
HINTS = {no_shift: "minimum", shift_by_max: "minimum", entropy_from_log_p: "log-probs",
         entropy_in_bits: "nats", shifts_in_place: "in place", float32: "float64", no_validation: "ValueError",
         multiplies_by_temperature: "divide by T", no_minus_sign: "minus sign", mean_of_shifted_energies:
         "original energies", shift_by_mean: "minimum", no_finite_check: "must be finite",
         flattens_2d: "one-dimensional", zero_d_arrays: "float(...)", probs_as_list: "float64 numpy array",
         temperature_not_checked_finite: "finite and > 0", returns_list: "return a tuple"}


@pytest.mark.parametrize("wrong", WRONG, ids=lambda f: f.__name__)
def test_graders_reject(wrong):
    with np.errstate(all="ignore"):
        failures = _failures(_impl(softmax_energy_stats=wrong), "0.1")
    assert failures, f"graders of 0.1 accepted {wrong.__name__}"
    if wrong in HINTS:
        assert any(HINTS[wrong] in msg for msg in failures), (wrong.__name__, failures)


def scipy_logsumexp(energies, temperature):
    """Correct, written differently: ln Z from scipy's logsumexp, and S = ln Z + <E>/T (shifted energies,
    so that the two terms do not cancel)."""
    from scipy.special import logsumexp

    energies = _validate(energies, temperature)
    shifted = energies - energies.min()
    log_z = logsumexp(-shifted / temperature)
    p = np.exp(-shifted / temperature - log_z)
    return p, float(np.sum(p * energies)), float(log_z + np.sum(p * shifted) / temperature)


def exp_of_log_probs(energies, temperature):
    """Correct, written differently: the division-free form p = exp(ln p) (within the graders' tolerance)."""
    energies = _validate(energies, temperature)
    logits = -(energies - energies.min()) / temperature
    logp = logits - np.log(np.exp(logits).sum())
    p = np.exp(logp)
    return p, float(p @ energies), float(-(p @ logp))


def scipy_softmax(energies, temperature):
    """Correct, written differently: scipy.special.softmax and log_softmax."""
    from scipy.special import log_softmax, softmax

    energies = _validate(energies, temperature)
    p = softmax(-energies / temperature)
    return p, float(np.dot(p, energies)), float(-np.sum(p * log_softmax(-energies / temperature)))


def test_every_wrong_variant_has_a_message_check():
    missing = [f.__name__ for f in WRONG if f not in HINTS and f is not returns_none]
    assert not missing, f"add the words the rejection must contain for {missing}"


@pytest.mark.parametrize("correct", [scipy_logsumexp, scipy_softmax, exp_of_log_probs], ids=lambda f: f.__name__)
def test_graders_accept(correct):
    impl = _impl(softmax_energy_stats=correct)
    for grader in _graders_of("0.1"):
        grader(impl)
