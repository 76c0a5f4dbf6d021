# Generated from solutions/ch00_start_here.py by `molpractice make-exercises` — write your code in place of each `raise NotImplementedError`.
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
        temperature: finite T > 0 as an energy, k_B·T, in the same unit as the energies (so ``E / T`` is
            dimensionless).
    Returns:
        a tuple ``(probs, expected_energy, entropy)`` (not a list): probs a float64 numpy array (n,) summing
        to 1; expected_energy and entropy plain floats (a numpy float64 scalar is fine, a 0-d array is
        not); entropy in nats (0 ≤ S ≤ ln n). The input array is not modified.
        Checked to float64 precision: probabilities within 1e-12 (absolute), <E> and S within 1e-9 for
        energies of order 1 (<E> within 1e-8 for energies of ±1e4).
    Raises:
        ValueError: if ``energies`` is empty, not one-dimensional or not finite, or ``temperature`` is not
            finite or ≤ 0.

    Hint:
        1. Idea: the textbook formula is right, but exp(-E/T) overflows (E = -1e4, T = 1) or underflows.
           Adding the same constant to every energy changes no probability: the factor it introduces cancels
           between numerator and Z, so you are free to choose that constant.
        2. Approach: choose it so that the largest exponent is exactly 0. Then every term lies between 0 and 1
           and Z between 1 and n: nothing overflows, and Z cannot underflow to 0.
        3. Tricky detail: a single probability can still underflow to 0; its ln p is then -inf and 0·(-inf)
           is nan. Get ln p_i from the shifted exponents and ln Z (log-probabilities), not from p_i.
    """
    energies = np.asarray(energies, dtype=np.float64)
    if energies.ndim != 1 or energies.size == 0:
        raise ValueError(f"energies must be a non-empty 1-D array, got shape {energies.shape}")
    if not np.all(np.isfinite(energies)):
        bad = np.flatnonzero(~np.isfinite(energies))
        raise ValueError(f"energies must be finite; index {bad[0]} is {energies[bad[0]]}")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be finite and > 0, got {temperature}")
    raise NotImplementedError("Exercise 0.1: implement softmax_energy_stats (see its docstring), then run mp.check(\"0.1\")")
