"""Oracles for molecule optimisation under a call budget: a cheap proxy with a documented bug, a held-out
"true" score standing in for the wet lab, the SA score, and the audit signals that catch reward hacking.

The scores (all deterministic functions of the canonical SMILES, RDKit only, offline):

* **True score** (:func:`true_score`, what the lab would measure; the optimiser never sees it):
  0.5 · Tanimoto(Morgan r=2, 2048 bits) to a reference active (zolpidem, :data:`REFERENCE`) + 0.5 · QED.
  A GuacaMol-style multi-property objective (Brown et al. 2019), in [0, 1].
* **Proxy score** (:func:`proxy_score`, the cheap docking stand-in the optimiser calls): the true score,
  plus an error that is a fixed function of the molecule (standard deviation :data:`PROXY_ERROR`;
  the same molecule always gets the same score, as with a deterministic docking run), plus — when
  ``bug=True`` — **the bug**: a halogen-contact term whose geometric check was lost, so every F, Cl, Br
  or I adds :data:`HALOGEN_BONUS` whatever its position. Real scoring functions have had such terms;
  optimisers find them (Renz et al. 2019 show optimisers exploiting the quirks of their score).
  ``bug=False`` is the bug-free proxy: same error, no halogen term.
* **SA score** (:func:`sa_score`): Ertl & Schuffenhauer's synthetic accessibility (1 easy … 10 hard) from
  RDKit's Contrib folder (``RDConfig.RDContribDir``), loaded offline.

:class:`BudgetedOracle` counts every *new* molecule it scores against a budget (repeats are free and
cached, as in PMO, Gao et al. 2022) and keeps the call history that the top-10 metrics are computed from.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys

import numpy as np

REFERENCE = "Cc1ccc(-c2nc3ccc(C)cn3c2CC(=O)N(C)C)cc1"  # zolpidem: no halogen, so halogens never help truly
HALOGEN_BONUS = 0.06  # the bug: per halogen atom, uncapped
PROXY_ERROR = 0.04  # standard deviation of the proxy's molecule-specific error
HALOGENS = (9, 17, 35, 53)


class BudgetExhausted(RuntimeError):
    """Raised when an oracle is asked to score a new molecule after its budget is spent."""


@functools.lru_cache(maxsize=1)
def _fp_generator():
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def fingerprint(mol):
    """Morgan (radius 2, 2048 bits) bit vector of an RDKit molecule."""
    return _fp_generator().GetFingerprint(mol)


@functools.lru_cache(maxsize=1)
def _reference_fp():
    from rdkit import Chem

    return fingerprint(Chem.MolFromSmiles(REFERENCE))


def mol_from_smiles(smiles: str):
    """RDKit molecule, or ValueError naming the SMILES."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    block = BlockLogs()  # noqa: F841 — RDKit's messages are silenced while it lives, then restored
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    return mol


def halogen_count(mol) -> int:
    """Number of F, Cl, Br, I atoms (the feature the proxy's bug rewards)."""
    return sum(a.GetAtomicNum() in HALOGENS for a in mol.GetAtoms())


def _molecule_error(smiles: str) -> float:
    """A fixed N(0, PROXY_ERROR²) draw per canonical SMILES (the proxy's error that no model predicts)."""
    seed = int.from_bytes(hashlib.sha256(smiles.encode()).digest()[:8], "little")
    return float(np.random.default_rng(seed).normal(0.0, PROXY_ERROR))


def true_score(smiles: str) -> float:
    """The held-out score (0.5 · similarity to :data:`REFERENCE` + 0.5 · QED), in [0, 1]."""
    from rdkit import DataStructs
    from rdkit.Chem import QED

    mol = mol_from_smiles(smiles)
    sim = DataStructs.TanimotoSimilarity(fingerprint(mol), _reference_fp())
    return 0.5 * sim + 0.5 * QED.qed(mol)


def proxy_score(smiles: str, bug: bool = True) -> float:
    """The cheap score the optimiser calls: true score + molecule-specific error (+ the halogen bug)."""
    from rdkit import Chem

    canonical = Chem.MolToSmiles(mol_from_smiles(smiles))
    score = true_score(canonical) + _molecule_error(canonical)
    if bug:
        score += HALOGEN_BONUS * halogen_count(mol_from_smiles(canonical))
    return score


@functools.lru_cache(maxsize=1)
def _sascorer():
    from rdkit import RDConfig

    path = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if not os.path.exists(os.path.join(path, "sascorer.py")):
        raise RuntimeError(f"RDKit's Contrib SA_Score is missing at {path}; reinstall rdkit (it ships there)")
    if path not in sys.path:
        sys.path.append(path)
    import sascorer

    return sascorer


def sa_score(smiles: str) -> float:
    """Synthetic accessibility score (Ertl & Schuffenhauer 2009): 1 (easy) … 10 (hard)."""
    return float(_sascorer().calculateScore(mol_from_smiles(smiles)))


class BudgetedOracle:
    """A scoring function behind a call budget: ``oracle(smiles_list) -> np.ndarray``.

    New canonical SMILES count one call each (in order) and raise :class:`BudgetExhausted` once
    ``budget`` are used; molecules scored before are returned from the cache without a call.
    ``history`` lists ``(smiles, score)`` in call order (what :func:`top_k_curve` reads).
    """

    def __init__(self, score, budget: int, name: str = "oracle"):
        if int(budget) < 1:
            raise ValueError(f"budget must be a positive number of calls, got {budget}")
        self.score, self.budget, self.name = score, int(budget), name
        self.cache: dict[str, float] = {}
        self.history: list[tuple[str, float]] = []

    @property
    def calls(self) -> int:
        return len(self.history)

    @property
    def remaining(self) -> int:
        return self.budget - self.calls

    def __call__(self, smiles) -> np.ndarray:
        out = []
        for s in smiles:
            if s not in self.cache:
                if self.remaining <= 0:
                    raise BudgetExhausted(f"{self.name}: all {self.budget} calls are spent")
                self.cache[s] = float(self.score(s))
                self.history.append((s, self.cache[s]))
            out.append(self.cache[s])
        return np.array(out, dtype=np.float64)


class OnsetProxy:
    """The proxy whose bug is switched on part-way through a run (a late-onset hack: a scoring update deployed
    mid-campaign). Call :meth:`attach` with the run's :class:`BudgetedOracle`; every molecule first scored
    while that oracle has made fewer than ``onset`` calls gets the bug-free proxy, every later one the buggy
    proxy. Values are memoised, so a molecule keeps its first score when it is scored again (by an audit, or
    from the oracle's cache). Before :meth:`attach` (e.g. an audit's library baseline, measured before the
    campaign) it returns the bug-free proxy without memoising.
    """

    def __init__(self, onset: int):
        if int(onset) < 0:
            raise ValueError(f"onset must be a number of calls >= 0, got {onset}")
        self.onset, self.oracle, self.memo = int(onset), None, {}

    def attach(self, oracle) -> None:
        self.oracle = oracle

    def __call__(self, smiles: str) -> float:
        if self.oracle is None:
            return proxy_score(smiles, bug=False)
        if smiles not in self.memo:
            self.memo[smiles] = proxy_score(smiles, bug=self.oracle.calls >= self.onset)
        return self.memo[smiles]


def top_k_curve(scores, k: int = 10) -> np.ndarray:
    """After each call t, the mean of the best min(k, t) scores among the first t calls."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.empty(len(scores))
    best: list[float] = []
    for t, s in enumerate(scores):
        best = sorted(best + [float(s)], reverse=True)[:k]
        out[t] = np.mean(best)
    return out


def top_k_auc(scores, budget: int, k: int = 10) -> float:
    """PMO's area under the top-k curve over the budget, divided by the budget (same units as the score).

    A run that stops before the budget keeps its last top-k value for the remaining calls.
    """
    curve = top_k_curve(scores, k)
    if len(curve) == 0:
        return float("nan")
    if len(curve) < budget:
        curve = np.concatenate([curve, np.full(budget - len(curve), curve[-1])])
    return float(np.mean(curve[:budget]))


def similarity_to_set(smiles, reference_fps) -> np.ndarray:
    """For each SMILES, its largest Tanimoto similarity to ``reference_fps`` (drift: low = far from the set)."""
    from rdkit import DataStructs

    return np.array([max(DataStructs.BulkTanimotoSimilarity(fingerprint(mol_from_smiles(s)), reference_fps))
                     for s in smiles])


def internal_diversity(smiles) -> float:
    """1 − mean pairwise Tanimoto similarity (0: all the same; near 1: unrelated molecules)."""
    from rdkit import DataStructs

    fps = [fingerprint(mol_from_smiles(s)) for s in smiles]
    if len(fps) < 2:
        return float("nan")
    sims = [s for i in range(1, len(fps)) for s in DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i])]
    return float(1.0 - np.mean(sims))
