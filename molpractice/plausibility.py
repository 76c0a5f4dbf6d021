"""From "valid" to "plausible": stability, PoseBusters-style geometry checks and chemistry alerts for
generated heavy-atom molecules (chapter 4, second edition).

* **Stability** (EDM, Hoogeboom et al. 2022; MiDi, Vignac et al. 2023), for heavy atoms with implicit
  hydrogens: an atom is stable when its perceived valence is allowed for its element — the chapter's
  ``atom_stability`` (exercise 4.8) decides per atom; a molecule is stable when all its atoms are.
* **Geometry checks** reproduce the definitions of PoseBusters' molecule checks (Buttenschoen, Morris &
  Deane 2024, *PoseBusters*, Chem. Sci. 15:3130; package ``posebusters`` 0.6, config ``mol``): bond lengths
  and bond angles (1–3 distances) within the bounds RDKit's distance geometry gives for that molecule
  (``GetMoleculeBoundsMatrix``, set15bounds, scaleVDW, triangle smoothing) widened by 25 %, no internal
  steric clash (a pair more than two bonds apart closer than 70 % of its lower bound), aromatic 5- and
  6-rings and C=C double bonds with both carbons trivalent flat (every atom within 0.25 Å of the
  least-squares plane). They run on the heavy atoms with implicit hydrogens (the model places no
  hydrogens; PoseBusters ignores hydrogens in its distance checks too). ``tests/test_plausibility.py``
  cross-checks them against the ``posebusters`` package when it is installed; nothing here needs it.
* **Chemistry alerts**: :data:`ALERTS`, a short list of substructures that sanitize but would not survive
  a chemist's glance, each with its source.

"plausible" = valid ∧ single fragment ∧ every geometry check passed ∧ no alert. Every rate comes with a
Clopper–Pearson 95 % interval, and the notebook reports the training data's own rate next to it.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["ALERTS", "GEOMETRY_CHECKS", "clopper_pearson", "rate_difference", "stability", "geometry_checks", "alert_hits",
           "plausibility", "plausibility_table"]

# Thresholds of PoseBusters' "mol" configuration (posebusters 0.6.5, config/mol.yml)
BOND_TOLERANCE = 0.25      # relative: a bond may be 25 % shorter than its DG lower / longer than its upper bound
ANGLE_TOLERANCE = 0.25     # the same for 1-3 distances
CLASH_TOLERANCE = 0.30     # a non-bonded pair (> 2 bonds apart) may come to 70 % of its DG lower bound
FLATNESS_TOLERANCE = 0.25  # Å from the least-squares plane
BOUNDS_PARAMS = dict(set15bounds=True, scaleVDW=True, doTriangleSmoothing=True, useMacrocycle14config=False)
FLAT_SYSTEMS = {"aromatic ring": ("[ar5^2]1[ar5^2][ar5^2][ar5^2][ar5^2]1",
                                  "[ar6^2]1[ar6^2][ar6^2][ar6^2][ar6^2][ar6^2]1"),
                "double bond": ("[C;X3;^2](*)(*)=[C;X3;^2](*)(*)",)}
_TERMINAL = "[O,N;D1;$([O,N;D1]-[*]=[O,N;D1]),$([O,N;D1]=[*]-[O,N;D1])]~[*]"
GEOMETRY_CHECKS = ("bond lengths", "bond angles", "no internal clash", "flat aromatic rings",
                   "flat double bonds")

_BRENK = ("Brenk et al., Lessons learnt from assembling screening libraries for drug discovery for neglected "
          "diseases, ChemMedChem 3:435 (2008); RDKit FilterCatalog BRENK entry")
# name -> (SMARTS, source). Groups that sanitize but are unstable or would be rejected at a glance.
ALERTS = {
    "peroxide O–O": ("[OX2][OX2]", _BRENK + " 'peroxide'"),
    "acyclic het–C–het (aminal, hemiaminal, acetal, orthoester-like C(O)(O)N)":
        ("[#7,#8;!R][CX4;!R][#7,#8;!R]", _BRENK + " 'het-C-het_not_in_ring'"),
    "orthoester/orthoamide-like centre C(X)(X)X, X = N, O":
        ("[CX4]([#7,#8])([#7,#8])[#7,#8]", "Brenk et al. 2008 (het-C-het, extended to ring atoms)"),
    "imidic acid N=C–OH (amide tautomer)":
        ("[NX2]=[CX3][OX2H1]", "Sitzmann, Ihlenfeldt & Nicklaus, Tautomerism in large databases, "
                               "J. Comput. Aided Mol. Des. 24:521 (2010)"),
    "ketene / cumulated C=C=O": ("[CX3]=[CX2]=[OX1]", _BRENK + " 'ketene'"),
}


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a binomial rate k/n; (nan, nan) when n = 0."""
    from scipy.stats import beta

    if n == 0:
        return float("nan"), float("nan")
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    a = 1 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return low, high


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


def rate_difference(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> dict:
    """Difference of two independent binomial rates k1/n1 − k2/n2 with Newcombe's hybrid score interval
    (Newcombe 1998, method 10, from Wilson intervals). Returns ``{"difference", "low", "high", "verdict"}``;
    the verdict is "higher" / "lower" when the interval excludes 0, else "no detectable difference"."""
    from scipy.stats import norm

    if min(n1, n2) <= 0 or not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f"need 0 <= k <= n and n > 0, got {k1}/{n1} and {k2}/{n2}")
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = _wilson(k1, n1, z), _wilson(k2, n2, z)
    d = p1 - p2
    low = d - ((p1 - l1) ** 2 + (u2 - p2) ** 2) ** 0.5
    high = d + ((u1 - p1) ** 2 + (p2 - l2) ** 2) ** 0.5
    verdict = "higher" if low > 0 else "lower" if high < 0 else "no detectable difference"
    return {"difference": d, "low": low, "high": high, "verdict": verdict}


def _rate(k: int, n: int) -> dict:
    low, high = clopper_pearson(k, n)
    return {"rate": k / n if n else float("nan"), "k": int(k), "n": int(n), "low": low, "high": high}


def stability(chapter, samples) -> dict:
    """Atom and molecule stability (EDM's definition for heavy atoms with implicit hydrogens).

    ``chapter.atom_stability(z, pos)`` decides per atom. Returns ``{"atom": rate dict, "molecule": rate
    dict, "per_molecule": list of bools}``; a rate dict has ``rate``, ``k``, ``n``, ``low``, ``high``
    (Clopper–Pearson 95 %; for atoms the interval treats atoms as independent, which they are not —
    read it as a lower bound on the uncertainty).
    """
    stable_atoms = n_atoms = 0
    per_mol = []
    for z, pos in samples:
        ok = chapter.atom_stability(z, pos)
        stable_atoms += int(ok.sum())
        n_atoms += int(ok.numel())
        per_mol.append(bool(ok.all()))
    return {"atom": _rate(stable_atoms, n_atoms), "molecule": _rate(sum(per_mol), len(per_mol)),
            "per_molecule": per_mol}


def _with_conformer(mol, pos):
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    mol = Chem.Mol(mol)
    mol.RemoveAllConformers()
    conf = Chem.Conformer(mol.GetNumAtoms())
    for i, p in enumerate(np.asarray(pos, dtype=np.float64)):
        conf.SetAtomPosition(i, Point3D(*map(float, p)))
    mol.AddConformer(conf, assignId=True)
    return mol


def _plane_distance(x: np.ndarray) -> float:
    """Largest |distance| of the points to their least-squares plane (Å)."""
    x = x - x.mean(axis=0)
    normal = np.linalg.svd(x)[2][-1]
    return float(np.abs(x @ normal).max())


def geometry_checks(mol, pos) -> dict:
    """PoseBusters-style geometry checks of one molecule (heavy atoms, implicit hydrogens).

    Args:
        mol: a sanitized RDKit molecule whose atom ``i`` sits at ``pos[i]`` (e.g. from
            ``molecule_from_geometry``).
        pos: (n, 3) coordinates in Å (tensor or array).
    Returns:
        dict with a bool per name of :data:`GEOMETRY_CHECKS`, ``"all"`` (all passed) and the worst values:
        ``worst_bond`` / ``worst_angle`` (relative deviation outside the bounds), ``worst_clash`` (relative
        shortfall below the lower bound, ≥ 0), ``worst_flatness`` (Å), ``n_bonds``, ``n_angles``,
        ``n_flat_systems``.
    """
    from rdkit import Chem
    from rdkit.Chem.rdDistGeom import GetMoleculeBoundsMatrix

    pos = np.asarray(pos.detach().double().cpu() if isinstance(pos, torch.Tensor) else pos, dtype=np.float64)
    n = mol.GetNumAtoms()
    if pos.shape != (n, 3):
        raise ValueError(f"pos must have shape ({n}, 3) for a molecule of {n} atoms, got {pos.shape}")
    out = {name: True for name in GEOMETRY_CHECKS}
    out.update(worst_bond=0.0, worst_angle=0.0, worst_clash=0.0, worst_flatness=0.0, n_bonds=mol.GetNumBonds(),
               n_angles=0, n_flat_systems=0)
    if n < 2:
        out["all"] = True
        return out
    bounds = GetMoleculeBoundsMatrix(mol, **BOUNDS_PARAMS)
    iu, ju = np.triu_indices(n, k=1)
    lower, upper = bounds[ju, iu].copy(), bounds[iu, ju].copy()   # lower triangle = lower bounds
    d = np.linalg.norm(pos[iu] - pos[ju], axis=1)
    index = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(iu, ju))}
    bonds = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}
    # conjugated terminal groups (carboxylate-like O/N pairs): same bounds for each element pair (PoseBusters)
    terminal = {tuple(sorted(m)) for m in mol.GetSubstructMatches(Chem.MolFromSmarts(_TERMINAL))}
    groups = {}
    for pair in terminal:
        key = tuple(sorted(mol.GetAtomWithIdx(a).GetSymbol() for a in pair))
        groups.setdefault(key, []).append(index[pair])
    for ks in groups.values():
        lower[ks], upper[ks] = lower[ks].min(), upper[ks].max()
    neighbours = {i: {a.GetIdx() for a in mol.GetAtomWithIdx(i).GetNeighbors()} for i in range(n)}
    is_bond = np.array([(int(i), int(j)) in bonds for i, j in zip(iu, ju)], dtype=bool)
    is_angle = np.array([not b and bool(neighbours[int(i)] & neighbours[int(j)]) for i, j, b in zip(iu, ju, is_bond)],
                        dtype=bool)
    out_of_bounds = np.where(d < lower, (d - lower) / lower, np.where(d > upper, (d - upper) / upper, 0.0))
    if is_bond.any():
        out["worst_bond"] = float(np.abs(out_of_bounds[is_bond]).max())
        out["bond lengths"] = bool((np.abs(out_of_bounds[is_bond]) <= BOND_TOLERANCE).all())
    if is_angle.any():
        out["n_angles"] = int(is_angle.sum())
        out["worst_angle"] = float(np.abs(out_of_bounds[is_angle]).max())
        out["bond angles"] = bool(out["worst_angle"] <= ANGLE_TOLERANCE)
    far = ~is_bond & ~is_angle
    if far.any():
        shortfall = np.where(d[far] < lower[far], (lower[far] - d[far]) / lower[far], 0.0)
        out["worst_clash"] = float(shortfall.max())
        out["no internal clash"] = bool(out["worst_clash"] <= CLASH_TOLERANCE)
    for name, patterns in FLAT_SYSTEMS.items():
        key = "flat aromatic rings" if name == "aromatic ring" else "flat double bonds"
        for smarts in patterns:
            for match in mol.GetSubstructMatches(Chem.MolFromSmarts(smarts)):
                dist = _plane_distance(pos[list(match)])
                out["n_flat_systems"] += 1
                out["worst_flatness"] = max(out["worst_flatness"], dist)
                out[key] = out[key] and dist <= FLATNESS_TOLERANCE
    out["all"] = all(out[name] for name in GEOMETRY_CHECKS)
    return out


def alert_hits(mol) -> list[str]:
    """Names of the :data:`ALERTS` whose substructure occurs in ``mol``."""
    from rdkit import Chem

    return [name for name, (smarts, _) in ALERTS.items()
            if mol.HasSubstructMatch(Chem.MolFromSmarts(smarts))]


def plausibility(chapter, samples) -> dict:
    """Run every check on every sample and count.

    A sample is perceived with ``chapter.molecule_from_geometry``; valid single-fragment molecules get the
    geometry checks and the alerts. Returns ``{"rows": DataFrame (one row per sample), "rates": {name: rate
    dict}}`` with the rates of ``valid``, ``valid single fragment``, ``stable molecule`` and, over all
    samples, each geometry check passed, ``no alert`` and ``plausible`` (valid ∧ single fragment ∧ all
    geometry checks ∧ no alert); each rate dict has ``rate``, ``k``, ``n``, ``low``, ``high``.
    """
    import pandas as pd
    from rdkit import Chem

    from .diffusion_model import rdkit_quiet

    rows = []
    with rdkit_quiet():
        for z, pos in samples:
            mol = chapter.molecule_from_geometry(z, pos)
            smiles = None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)
            row = {"smiles": smiles, "valid": mol is not None, "single fragment": bool(smiles) and "." not in smiles,
                   "stable molecule": bool(chapter.atom_stability(z, pos).all()), "alerts": []}
            if row["single fragment"]:
                checks = geometry_checks(mol, pos)
                row.update({k: checks[k] for k in GEOMETRY_CHECKS}, geometry=checks["all"])
                row["alerts"] = alert_hits(mol)
            else:
                row.update({k: False for k in GEOMETRY_CHECKS}, geometry=False)
            row["no alert"] = row["single fragment"] and not row["alerts"]
            row["plausible"] = row["single fragment"] and row["geometry"] and not row["alerts"]
            rows.append(row)
    table = pd.DataFrame(rows)
    names = ["valid", "single fragment", "stable molecule", *GEOMETRY_CHECKS, "geometry", "no alert", "plausible"]
    return {"rows": table, "rates": {k: _rate(int(table[k].sum()), len(table)) for k in names}}


def plausibility_table(results: dict, names=None):
    """``{label: plausibility(...) result}`` → a DataFrame of rates as "0.912 [0.87, 0.94]" (rows = checks,
    one column per label). All rates are over all samples: a check counts as failed for a sample that is
    not a valid single fragment."""
    import pandas as pd

    names = names or ["valid", "single fragment", "stable molecule", *GEOMETRY_CHECKS, "no alert", "plausible"]
    cols = {}
    for label, res in results.items():
        cols[f"{label} (n={res['rates']['valid']['n']})"] = {
            k: f"{r['rate']:.3f} [{r['low']:.3f}, {r['high']:.3f}]" for k, r in
            ((k, res["rates"][k]) for k in names)}
    return pd.DataFrame(cols)
