"""Train/validation/test splits of a molecule list (positions into it, sorted int64 arrays).

The scaffold split itself is exercise 1.2; :func:`make_splits` receives the chapter-1 module that
provides it (the learner's or the reference).
"""
from __future__ import annotations

import numpy as np

FRACTIONS = (0.8, 0.1, 0.1)


def random_split(n: int, fractions=FRACTIONS, seed: int = 0):
    """Random train/val/test positions of sizes round(fraction · n).

    Returns:
        ``(train_idx, val_idx, test_idx)``, each a sorted int64 array; together a partition of range(n).
    Raises:
        ValueError: if ``n`` < 3 or the fractions are not three non-negative numbers summing to 1.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    if n < 3:
        raise ValueError(f"need at least 3 molecules to split, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return tuple(np.sort(p).astype(np.int64) for p in (perm[:n_train], perm[n_train:n_train + n_val],
                                                       perm[n_train + n_val:]))


def make_splits(smiles, chapter1, fractions=FRACTIONS) -> dict:
    """``{"random": (tr, va, te), "scaffold": (tr, va, te)}`` — the two splits every model is scored on.

    Args:
        smiles: sequence of n SMILES.
        chapter1: the chapter-1 module (``mp.load_chapter("ch01_solubility_gnn")``) whose
            ``scaffold_split`` is used (deterministic: ``seed=None``).
    """
    return {"random": random_split(len(smiles), fractions),
            "scaffold": chapter1.scaffold_split(list(smiles), fractions, seed=None)}
