"""Graders of chapter 0 (warm-up). Oracle: the textbook formula on inputs where it cannot overflow, plus exact limits.

Oracles are computed before the learner's function runs, on copies of the inputs; every comparison that is
meant to check float64 precision uses ``rtol=0`` (``np.allclose``'s default ``rtol`` would hide it).
"""
import numpy as np

from molpractice.grading import exercise


def _reference(energies, temperature):
    """Independent oracle: the textbook formula, only for inputs where it cannot overflow."""
    energies = np.array(energies, dtype=np.float64)  # a copy
    w = np.exp(-energies / temperature)
    p = w / w.sum()
    return p, float(p @ energies), float(-(p * np.log(p)).sum())


def _call(f, energies, temperature):
    """Call the learner's function on a copy of ``energies`` and check it did not modify that copy."""
    given = np.array(energies, dtype=np.float64)
    before = given.copy()
    out = f(given, temperature)
    assert np.array_equal(given, before), (
        "softmax_energy_stats changed the `energies` array it was given (in place, e.g. `energies -= ...`): "
        "do not modify inputs: work on a new array")
    assert isinstance(out, tuple) and len(out) == 3, (
        f"return a tuple (probs, expected_energy, entropy), got {type(out).__name__}"
        + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    probs, mean_e, entropy = out
    assert isinstance(probs, np.ndarray) and probs.dtype == np.float64, (
        f"probs must be a float64 numpy array, got {type(probs).__name__}"
        + (f" of dtype {probs.dtype}" if hasattr(probs, "dtype") else "") + " — compute in float64")
    for name, value in (("expected_energy", mean_e), ("entropy", entropy)):
        assert np.ndim(value) == 0, f"{name} must be a single number, got shape {np.shape(value)}"
        assert isinstance(value, (float, np.floating)), (
            f"{name} must be a float, got {type(value).__name__} — convert the 0-d result with float(...)")
    return probs, float(mean_e), float(entropy)


@exercise("0.1", points=2)
def test_matches_textbook_formula_on_moderate_energies(impl):
    f = impl.ch00_start_here.softmax_energy_stats
    rng = np.random.default_rng(0)
    for n, temperature in [(1, 1.0), (3, 0.5), (10, 2.0), (50, 10.0)]:
        energies = rng.normal(0.0, 2.0, size=n)
        want_p, want_e, want_s = _reference(energies, temperature)  # before the learner's call
        probs, mean_e, entropy = _call(f, energies, temperature)
        assert probs.shape == (n,), f"probs should have shape ({n},), got {probs.shape}"
        assert np.allclose(probs, want_p, rtol=0, atol=1e-12), (
            f"probabilities differ from exp(-E/T)/Z for n={n}, T={temperature} by up to "
            f"{np.max(np.abs(probs - want_p)):.1e} (float64 agrees to ~1e-15): got {probs[:3]}…, want {want_p[:3]}… "
            "— divide by T (not multiply), use exp(-E/T) (note the minus sign) and compute in float64")
        assert abs(mean_e - want_e) < 1e-9, f"expected energy: got {mean_e}, want {want_e} (Σ p_i E_i, original energies)"
        assert abs(entropy - want_s) < 1e-9, (
            f"entropy: got {entropy}, want {want_s} (-Σ p_i ln p_i, natural log: in nats, not bits)")


@exercise("0.1", points=2)
def test_stable_for_huge_energies(impl):
    f = impl.ch00_start_here.softmax_energy_stats
    e = 1.0 / (1.0 + np.exp(-1.0))  # two lowest states differ by 1 k_B T
    want_s = -(e * np.log(e) + (1 - e) * np.log(1 - e))
    # only overflow is an error here; log(0) and 0·(-inf) are let through so the entropy check can name them
    with np.errstate(over="raise", under="ignore", divide="ignore", invalid="ignore"):
        try:
            probs, mean_e, entropy = _call(f, np.array([-1e4, 1e4, -1e4 + 1.0]), 1.0)
        except FloatingPointError as err:
            raise AssertionError(f"exp overflowed ({err}) for energies ±1e4 at T=1: subtract the *minimum* energy "
                                 "before exponentiating, so the largest exponent is exp(0) = 1") from None
    assert np.all(np.isfinite(probs)), (
        f"energies of ±1e4 gave probabilities {probs} — shift by the minimum energy before exp()")
    assert np.allclose(probs, [e, 0.0, 1 - e], rtol=0, atol=1e-12), (
        f"got probs {probs}, want [{e:.6f}, 0, {1 - e:.6f}]")
    assert np.isfinite(mean_e) and abs(mean_e - (-1e4 + (1 - e))) < 1e-8, (
        f"expected energy {mean_e}, want {-1e4 + (1 - e):.6f} (Σ p_i E_i with the original energies)")
    assert np.isfinite(entropy), (
        f"entropy is {entropy} when one probability underflows to 0: log(0) = -inf and 0·(-inf) = nan. "
        "Compute ln p_i from the shifted exponents (log-probs: logits - log Z), not as log(p_i)")
    assert abs(entropy - want_s) < 1e-9, f"entropy {entropy}, want {want_s:.12f} (-Σ p_i ln p_i, in nats)"


@exercise("0.1", points=1)
def test_properties_shift_invariance_and_limits(impl):
    f = impl.ch00_start_here.softmax_energy_stats
    energies = np.array([0.3, -1.2, 2.5, 0.0])
    p1, e1, s1 = _call(f, energies, 0.7)
    p2, e2, s2 = _call(f, energies + 123.0, 0.7)
    assert np.allclose(p1, p2, rtol=0, atol=1e-12), "adding a constant to every energy must not change the probabilities"
    assert abs((e2 - e1) - 123.0) < 1e-8, "adding c to every energy must add c to the expected energy"
    _, _, s_hot = _call(f, energies, 1e8)
    assert abs(s_hot - np.log(4)) < 1e-6, f"at very high T the entropy should approach ln(4) = {np.log(4):.6f}, got {s_hot}"
    with np.errstate(all="ignore"):
        p_cold, e_cold, s_cold = _call(f, energies, 1e-6)
    assert abs(e_cold - energies.min()) < 1e-6 and s_cold < 1e-6 and np.isfinite(s_cold), (
        f"at very low T all probability should sit on the lowest energy (entropy → 0), got entropy {s_cold}")


@exercise("0.1", points=1)
def test_rejects_bad_input(impl):
    f = impl.ch00_start_here.softmax_energy_stats
    probs, _, _ = _call(f, np.array([1.0, 2.0]), 1.0)  # valid input first: validation alone earns nothing
    assert abs(float(np.sum(probs)) - 1.0) < 1e-12, "probabilities must sum to 1"
    for bad_t in (0.0, -1.0, np.inf, np.nan):
        try:
            with np.errstate(all="ignore"):
                f(np.array([1.0, 2.0]), bad_t)
        except ValueError:
            pass
        else:
            raise AssertionError(f"temperature={bad_t} must raise ValueError (temperature must be finite and > 0)")
    bad_energies = [(np.array([]), "empty energies"),
                    (np.array([[0.0, 1.0], [2.0, 3.0]]), "2-D energies of shape (2, 2) (energies must be one-dimensional)"),
                    (np.array([0.0, np.nan, 1.0]), "energies containing nan (energies must be finite)"),
                    (np.array([0.0, np.inf]), "energies containing inf (energies must be finite)")]
    for bad, what in bad_energies:
        try:
            with np.errstate(all="ignore"):
                f(bad, 1.0)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{what} must raise ValueError — check the input before computing anything")
