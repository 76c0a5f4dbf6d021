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
        energies: (n,) array-like of finite energies, in units of k_B (so ``E / T`` is dimensionless).
        temperature: T > 0, same units as the energies.
    Returns:
        ``(probs, expected_energy, entropy)``: probs a float64 numpy array (n,) summing to 1;
        expected_energy a float; entropy a float in nats (0 ≤ S ≤ ln n).
    Raises:
        ValueError: if ``energies`` is empty, not one-dimensional or not finite, or ``temperature`` ≤ 0.

    Hint: exp(-E/T) overflows for E = -1e4, T = 1. Subtract the smallest energy first: the
    probabilities do not change (the factor cancels) and the largest exponent becomes exp(0) = 1.
    Compute ln p_i from the shifted exponents rather than as log(p_i), which is -inf when p_i underflows.
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
