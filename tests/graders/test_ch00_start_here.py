"""Graders of chapter 0 (warm-up). Oracle: the textbook formula on inputs where it cannot overflow, plus exact limits."""
import numpy as np

from molpractice.grading import exercise


def _reference(energies, temperature):
    """Independent oracle: the textbook formula, only for inputs where it cannot overflow."""
    w = np.exp(-np.asarray(energies, dtype=np.float64) / temperature)
    p = w / w.sum()
    return p, float(p @ energies), float(-(p * np.log(p)).sum())


@exercise("0.1", points=2)
def test_matches_textbook_formula_on_moderate_energies(impl):
    f = impl.ch00_start_here.softmax_energy_stats
    rng = np.random.default_rng(0)
    for n, temperature in [(1, 1.0), (3, 0.5), (10, 2.0), (50, 10.0)]:
        energies = rng.normal(0.0, 2.0, size=n)
        probs, mean_e, entropy = f(energies, temperature)
        probs = np.asarray(probs, dtype=np.float64)
        want_p, want_e, want_s = _reference(energies, temperature)
        assert probs.shape == (n,), f"probs should have shape ({n},), got {probs.shape}"
        assert np.allclose(probs, want_p, rtol=1e-6, atol=1e-12), (
            f"probabilities differ from exp(-E/T)/Z for n={n}, T={temperature}: got {probs[:3]}…, want {want_p[:3]}…")
        assert abs(float(mean_e) - want_e) < 1e-6, f"expected energy: got {mean_e}, want {want_e} (Σ p_i E_i)"
        assert abs(float(entropy) - want_s) < 1e-6, f"entropy: got {entropy}, want {want_s} (-Σ p_i ln p_i, in nats)"


@exercise("0.1", points=2)
def test_stable_for_huge_energies(impl):
    f = impl.ch00_start_here.softmax_energy_stats
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):  # overflow is an error here
        try:
            probs, mean_e, entropy = f(np.array([-1e4, 1e4, -1e4 + 1.0]), 1.0)
        except FloatingPointError as err:
            raise AssertionError(f"overflow/underflow warning turned error ({err}): subtract the minimum "
                                 "energy before exponentiating") from None
    probs = np.asarray(probs, dtype=np.float64)
    assert np.all(np.isfinite(probs)) and np.isfinite(mean_e) and np.isfinite(entropy), (
        "energies of ±1e4 gave inf/nan — shift by the minimum energy before exp()")
    e = 1.0 / (1.0 + np.exp(-1.0))  # two lowest states differ by 1 k_B T
    assert np.allclose(probs, [e, 0.0, 1 - e], atol=1e-12), f"got probs {probs}, want [{e:.6f}, 0, {1 - e:.6f}]"
    assert abs(entropy - (-(e * np.log(e) + (1 - e) * np.log(1 - e)))) < 1e-9, (
        "entropy wrong when one probability underflows to 0 — use log-probs, not log(p)")


@exercise("0.1", points=1)
def test_properties_shift_invariance_and_limits(impl):
    f = impl.ch00_start_here.softmax_energy_stats
    energies = np.array([0.3, -1.2, 2.5, 0.0])
    p1, e1, s1 = f(energies, 0.7)
    p2, e2, s2 = f(energies + 123.0, 0.7)
    assert np.allclose(p1, p2, atol=1e-12), "adding a constant to every energy must not change the probabilities"
    assert abs((e2 - e1) - 123.0) < 1e-8, "adding c to every energy must add c to the expected energy"
    _, _, s_hot = f(energies, 1e8)
    assert abs(s_hot - np.log(4)) < 1e-6, f"at very high T the entropy should approach ln(4) = {np.log(4):.6f}, got {s_hot}"
    p_cold, e_cold, s_cold = f(energies, 1e-6)
    assert abs(e_cold - energies.min()) < 1e-6 and s_cold < 1e-6, (
        "at very low T all probability should sit on the lowest energy (entropy → 0)")


@exercise("0.1", points=1)
def test_rejects_bad_input(impl):
    f = impl.ch00_start_here.softmax_energy_stats
    probs, _, _ = f(np.array([1.0, 2.0]), 1.0)  # valid input first: validation alone earns nothing
    assert abs(float(np.sum(probs)) - 1.0) < 1e-12, "probabilities must sum to 1"
    for bad_t in (0.0, -1.0):
        try:
            f(np.array([1.0, 2.0]), bad_t)
        except ValueError:
            pass
        else:
            raise AssertionError(f"temperature={bad_t} must raise ValueError")
    try:
        f(np.array([]), 1.0)
    except ValueError:
        pass
    else:
        raise AssertionError("empty energies must raise ValueError")
