"""Chapter 0 — warm-up: a Boltzmann distribution over energies, computed stably.

Exercises
---------
0.1 softmax_energy_stats
"""
from __future__ import annotations

import numpy as np


def softmax_energy_stats(energies, temperature: float):
    """Boltzmann probabilities of a set of states, their mean energy and their entropy.

    p_i = exp(-E_i / T) / Σ_j exp(-E_j / T),   <E> = Σ_i p_i E_i,   S = -Σ_i p_i ln p_i

    Args:
        energies: (n,) array-like of finite energies, in any energy unit (e.g. kJ/mol, or multiples of
            k_B·T₀ for a reference temperature T₀).
        temperature: T > 0 as an energy, k_B·T, in the same unit as the energies (so ``E / T`` is
            dimensionless).
    Returns:
        ``(probs, expected_energy, entropy)``: probs a float64 numpy array (n,) summing to 1;
        expected_energy and entropy plain floats (a numpy float64 scalar is fine, a 0-d array is not);
        entropy in nats (0 ≤ S ≤ ln n).
        The input array is not modified.
    Raises:
        ValueError: if ``energies`` is empty, not one-dimensional or not finite, or ``temperature`` ≤ 0.

    Hint:
        1. Idea: the textbook formula is right but exp(-E/T) overflows (E = -1e4, T = 1) or underflows.
        2. Approach: shift every energy by the same constant before exponentiating; the factor it
           introduces cancels between numerator and Z. Pick the constant that makes the largest
           exponent exactly 0 (so the largest term is e^0 = 1).
        3. Tricky detail: a probability can still underflow to 0, and then ln p is -inf and 0·(-inf) is
           nan. Get ln p_i from the shifted exponents and ln Z (log-probabilities), not from p_i.
    """
    energies = np.asarray(energies, dtype=np.float64)
    if energies.ndim != 1 or energies.size == 0:
        raise ValueError(f"energies must be a non-empty 1-D array, got shape {energies.shape}")
    if not np.all(np.isfinite(energies)):
        bad = np.flatnonzero(~np.isfinite(energies))
        raise ValueError(f"energies must be finite; index {bad[0]} is {energies[bad[0]]}")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    # BEGIN SOLUTION
    logits = -(energies - energies.min()) / temperature  # max logit is exactly 0
    log_z = np.log(np.exp(logits).sum())
    log_probs = logits - log_z
    probs = np.exp(log_probs)
    expected_energy = float(np.dot(probs, energies))
    entropy = float(-np.dot(probs, log_probs))
    return probs, expected_energy, entropy
    # END SOLUTION
