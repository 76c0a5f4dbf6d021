"""Oracles for molecule optimisation under a call budget: a cheap proxy with a documented bug, a held-out
"true" score standing in for the wet lab, the SA score, and the audit signals that catch reward hacking.

The scores (all deterministic functions of the canonical SMILES, RDKit only, offline):

* **True score** (:func:`true_score`, what the lab would measure; the optimiser never sees it):
  0.5 · Tanimoto(Morgan r=2, 2048 bits) to a reference active (zolpidem, :data:`REFERENCE`) + 0.5 · QED.
  A GuacaMol-style multi-property objective (Brown et al. 2019), in [0, 1].
* **Proxy score** (:func:`proxy_score`, the cheap stand-in for docking the optimiser calls):
  :data:`DOCK_WEIGHT` · dock + (1 − DOCK_WEIGHT) · QED, where dock (:func:`dock_score`) is a ligand-based 3D
  similarity in the style of ROCS (Hawkins, Skillman & Nicholls 2007), not a receptor docking score: one seeded
  heavy-atom ETKDGv3 conformer per molecule, aligned onto a conformer of the reference with RDKit's
  ``rdShapeAlign`` (Gaussian shape and colour — pharmacophore-feature — overlaps, Grant & Pickup), scored as the mean
  of the shape and colour Tanimotos, in [0, 1]. It measures something else than the true score (3D overlay, not 2D
  fingerprint bits), so the two disagree molecule by molecule, and similar molecules share their error.
  ``bug=True`` adds **the bug**, a normalisation error: each overlap is divided by the reference's self-overlap
  alone — overlap / S_ref, the α = 1, β = 0 Tversky index (ROCS's RefTversky uses α = 0.95) — instead of the
  Tanimoto's overlap / (S_ref + S_fit − overlap), so the fit molecule's excess is never charged. Two things follow:
  larger molecules gain (the shape part; a size bias docking scores are also known for, Pan et al. 2003, Carta,
  Knox & Lloyd 2007), and, more strongly, molecules whose colour features pile up gain — RDKit's ring features
  match every 3–7-membered cycle, so fused and caged ring systems carry many overlapping ring features, and the
  buggy colour term (which can pass 1: the Gaussian overlaps are first-order sums, not volumes) rewards them. On
  the hacked runs most of the bug's gain comes from the colour term; the audit's descriptor regression picks ring
  counts. Optimisers find such quirks (Renz et al. 2019). ``bug=False`` is the bug-free proxy.
* **SA score** (:func:`sa_score`): Ertl & Schuffenhauer's synthetic accessibility (1 easy … 10 hard) from
  RDKit's Contrib folder (``RDConfig.RDContribDir``), loaded offline.

:class:`BudgetedOracle` counts every *new* molecule it scores against a budget (repeats are free and
cached, as in PMO, Gao et al. 2022) and keeps the call history that the top-10 metrics are computed from.
"""
from __future__ import annotations

import functools
import os
import sys

import numpy as np

REFERENCE = "Cc1ccc(-c2nc3ccc(C)cn3c2CC(=O)N(C)C)cc1"  # zolpidem, 23 heavy atoms
DOCK_WEIGHT = 0.7  # proxy = DOCK_WEIGHT · dock + (1 − DOCK_WEIGHT) · QED (chosen on development seeds 0-4)
CONFORMER_SEED = 0xF00D  # ETKDGv3 seed of every conformer (reference and probes): the same molecule, the same pose
EMBED_ATTEMPTS = 3  # ETKDG attempts (from random coordinates) before a molecule counts as a failed pose: score 0
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
    """Number of F, Cl, Br, I atoms."""
    return sum(a.GetAtomicNum() in HALOGENS for a in mol.GetAtoms())


def heavy_atom_count(mol) -> int:
    """Number of heavy (non-hydrogen) atoms — the size the proxy's bug rewards."""
    return int(mol.GetNumHeavyAtoms())


def true_score(smiles: str) -> float:
    """The held-out score (0.5 · similarity to :data:`REFERENCE` + 0.5 · QED), in [0, 1]."""
    from rdkit import DataStructs
    from rdkit.Chem import QED

    mol = mol_from_smiles(smiles)
    sim = DataStructs.TanimotoSimilarity(fingerprint(mol), _reference_fp())
    return 0.5 * sim + 0.5 * QED.qed(mol)


def _conformer(mol):
    """One seeded ETKDGv3 conformer of the heavy atoms (no hydrogens: the overlay uses heavy atoms only, and
    embedding without them is about 4 times faster on 20-40 heavy atoms), or None when
    :data:`EMBED_ATTEMPTS` attempts fail — strained cages the GA can build, which ETKDG's default of 10 attempts per
    atom spends seconds on; a docking run with a time limit fails on them too. Library molecules can fail too
    (:func:`proxy_bug_text` counts them)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from rdkit.rdBase import BlockLogs

    block = BlockLogs()  # noqa: F841 — RDKit warns that no hydrogens are explicit; here that is intended
    mh = Chem.Mol(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed, params.numThreads = CONFORMER_SEED, 1
    params.maxIterations, params.useRandomCoords = EMBED_ATTEMPTS, True
    if AllChem.EmbedMolecule(mh, params) != 0:
        return None
    return mh


@functools.lru_cache(maxsize=1)
def _reference_shape():
    from rdkit.Chem import rdShapeAlign

    return rdShapeAlign.PrepareConformer(_conformer(mol_from_smiles(REFERENCE)))


@functools.lru_cache(maxsize=None)
def overlay(smiles: str) -> tuple[float, float, float, float]:
    """Shape/colour overlay of one molecule onto the reference: ``(shape_tanimoto, color_tanimoto, fit_volume,
    fit_color)`` — the last two are the molecule's Gaussian self-overlaps (first-order sums, about 4 times its van
    der Waals volume in Å³, not volumes) of shape and of colour (pharmacophore features). A molecule RDKit cannot
    embed gets ``(0, 0, 0, 0)`` (a failed pose; :func:`failed_pose` tells). Cached per process by SMILES: callers
    pass the canonical SMILES (both proxies share the entry)."""
    from rdkit.Chem import rdShapeAlign
    from rdkit.rdBase import BlockLogs

    block = BlockLogs()  # noqa: F841
    conf = _conformer(mol_from_smiles(smiles))
    if conf is None:
        return 0.0, 0.0, 0.0, 0.0
    fit = rdShapeAlign.PrepareConformer(conf)
    shape_t, color_t, _ = rdShapeAlign.AlignShapes(_reference_shape(), fit, 0.5)
    return float(shape_t), float(color_t), float(fit.sov), float(fit.sof)


def failed_pose(smiles: str) -> bool:
    """True when the molecule could not be embedded (dock 0, see :func:`_conformer`)."""
    from rdkit import Chem

    return overlay(Chem.MolToSmiles(mol_from_smiles(smiles)))[2] == 0.0


def _overlap(tanimoto: float, v_ref: float, v_fit: float) -> float:
    """The overlap volume O from Tanimoto = O / (v_ref + v_fit − O)."""
    return tanimoto * (v_ref + v_fit) / (1.0 + tanimoto)


def dock_score(smiles: str, bug: bool = False) -> float:
    """The overlay score (the proxy's docking stand-in): mean of the shape and colour Tanimotos to the reference's
    conformer, in [0, 1]; ``bug=True``: mean of overlap / S_ref (the reference's own Gaussian self-overlap) instead —
    the fit molecule's excess is never charged. The overlaps are first-order Gaussian sums, not volumes, so two
    artefacts follow: the buggy score can pass 1 (a molecule's colour overlap with the reference can exceed the
    reference's self-overlap), and for a molecule smaller than the reference the buggy score can lie slightly below the
    bug-free one. The colour features include rings, one per 3–7-membered cycle, whose Gaussians in fused and caged
    polycycles overlap one another: a molecule's colour self-overlap grows fast with its ring count and the bug turns
    it into overlap (cubane's buggy dock score is above 1)."""
    from rdkit import Chem

    shape_t, color_t, v_fit, c_fit = overlay(Chem.MolToSmiles(mol_from_smiles(smiles)))
    if not bug:
        return 0.5 * (shape_t + color_t)
    ref = _reference_shape()
    return 0.5 * (_overlap(shape_t, ref.sov, v_fit) / ref.sov + _overlap(color_t, ref.sof, c_fit) / ref.sof)


def proxy_score(smiles: str, bug: bool = True) -> float:
    """The cheap score the optimiser calls: DOCK_WEIGHT · dock (with or without the normalisation bug) +
    (1 − DOCK_WEIGHT) · QED."""
    from rdkit import Chem
    from rdkit.Chem import QED

    canonical = Chem.MolToSmiles(mol_from_smiles(smiles))  # QED's last bit can depend on the atom order
    return DOCK_WEIGHT * dock_score(canonical, bug=bug) + (1.0 - DOCK_WEIGHT) * QED.qed(mol_from_smiles(canonical))


CUBANE = "C12C3C4C1C5C2C3C45"  # 8 heavy atoms, 6 four-membered rings: a small cage the colour term's bug rewards


def bug_parts(smiles: str) -> tuple[float, float]:
    """The bug's part of the proxy (buggy − bug-free :func:`proxy_score`) split by term: ``(shape part, colour
    part)``, each DOCK_WEIGHT · ½ · (overlap / S_ref − Tanimoto) of that term; they sum to the bug's part (0, 0 for a
    failed pose)."""
    from rdkit import Chem

    shape_t, color_t, v_fit, c_fit = overlay(Chem.MolToSmiles(mol_from_smiles(smiles)))
    if v_fit == 0.0:
        return 0.0, 0.0
    ref = _reference_shape()
    return (DOCK_WEIGHT * 0.5 * (_overlap(shape_t, ref.sov, v_fit) / ref.sov - shape_t),
            DOCK_WEIGHT * 0.5 * (_overlap(color_t, ref.sof, c_fit) / ref.sof - color_t))


def bug_split_text(smiles, what: str) -> str:
    """``"<what>: bug part +0.300 (shape term +0.050, colour term +0.250)"``: the mean of :func:`bug_parts` over the
    molecules ``smiles`` — which term of the overlay the bug acts through for them."""
    parts = np.array([bug_parts(s) for s in smiles], float).reshape(-1, 2)
    if not len(parts):
        raise ValueError(f"no molecules for {what!r}")
    shape, colour = parts.mean(axis=0)
    return f"{what}: bug part {shape + colour:+.3f} (shape term {shape:+.3f}, colour term {colour:+.3f})"


def library_gap_text(lib) -> str:
    """The bug-free proxy − true score on the library ``lib``: the mean over every molecule (the scales' offset,
    no selection) next to that of its top 10 by the bug-free proxy (offset plus selection on the proxy's error)."""
    free = np.array([proxy_score(s, bug=False) for s in lib])
    gap = free - np.array([true_score(s) for s in lib])
    top = np.argsort(-free)[:10]
    return (f"library ({len(lib)} molecules), bug-free proxy − true score: every molecule {gap.mean():.3f} (mean), its top 10 "
            f"by the bug-free proxy {gap[top].mean():.3f}")


def proxy_bug_text(lib) -> str:
    """The proxy against the true score on the library ``lib`` and where its bug acts: Spearman ρ of the true score
    with the bug-free proxy, the buggy proxy and dock alone; the bug's part (buggy − bug-free proxy) by heavy-atom
    band, split into its shape and colour terms (:func:`bug_parts`), and its Spearman ρ with the heavy-atom count;
    the molecules whose pose failed (dock 0)."""
    from rdkit import Chem
    from scipy.stats import spearmanr

    true = np.array([true_score(s) for s in lib])
    free = np.array([proxy_score(s, bug=False) for s in lib])
    part = np.array([proxy_score(s, bug=True) for s in lib]) - free
    dock = np.array([dock_score(s) for s in lib])
    size = np.array([heavy_atom_count(mol_from_smiles(s)) for s in lib])
    failed = sum(overlay(Chem.MolToSmiles(mol_from_smiles(s)))[2] == 0.0 for s in lib)
    bands = [(lo, hi) for lo, hi in ((1, 10), (11, 15), (16, 20), (21, 25), (26, 200))
             if ((size >= lo) & (size <= hi)).any()]
    terms = np.array([bug_parts(s) for s in lib], float)
    by_size = "; ".join(f"{lo}–{hi if hi < 200 else size.max()} (n = {m.sum()}) {part[m].mean():+.3f} (shape "
                        f"{terms[m, 0].mean():+.3f}, colour {terms[m, 1].mean():+.3f})"
                        for lo, hi in bands for m in [(size >= lo) & (size <= hi)])
    return (f"library ({len(lib)} molecules): Spearman ρ with the true score — bug-free proxy {spearmanr(free, true)[0]:.2f}, "
            f"buggy proxy {spearmanr(free + part, true)[0]:.2f}, dock alone {spearmanr(dock, true)[0]:.2f}; the bug's part "
            f"(buggy − bug-free proxy, with its shape and colour terms) by heavy atoms: {by_size}; its Spearman ρ with heavy atoms "
            f"{spearmanr(part, size)[0]:.2f}; poses that failed (dock 0): {failed}")


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
