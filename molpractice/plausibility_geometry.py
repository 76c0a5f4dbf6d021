"""PoseBusters-style geometry checks of one heavy-atom molecule (chapter 4, second edition): bond lengths and
bond angles (1–3 distances) within RDKit's distance-geometry bounds widened by 25 %, no internal steric clash, flat
aromatic 5-/6-rings and flat C=C double bonds (0.25 Å from the least-squares plane, on the molecule with its
hydrogens added with coordinates). Thresholds of posebusters 0.6.5's ``mol`` configuration (Buttenschoen, Morris &
Deane 2024, Chem. Sci. 15:3130). Split out of :mod:`molpractice.plausibility`, which re-exports every name here;
see its module docstring for what each check does and what is not run."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["ANGLE_TOLERANCE", "BOND_TOLERANCE", "BOUNDS_PARAMS", "CHECKS_NOT_RUN", "CLASH_TOLERANCE", "FLAT_SYSTEMS",
           "FLATNESS_TOLERANCE", "GEOMETRY_CHECKS", "AROMATIC_EXAMPLES", "BOND_CONTEXTS", "bond_window_table", "bounds_matrix",
           "geometry_checks", "with_hydrogens"]

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

CHECKS_NOT_RUN = ("internal energy ratio (≤ 100, needs a force field with hydrogens)",
                  "non-aromatic ring non-flatness", "no radicals", "InChI conversion")


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


def with_hydrogens(mol, pos):
    """``(mol_h, pos_h)``: ``mol`` with its implicit hydrogens made explicit and placed by RDKit
    (``Chem.AddHs(mol, addCoords=True)``, heavy atoms keep their indices and ``pos``), and the (n_all, 3) array of
    all coordinates. The flatness checks run on it, as PoseBusters runs them on molecules with hydrogens: the
    double-bond pattern needs two explicit neighbours on each carbon, which a CH= or CH₂= carbon has only with its
    hydrogens. RDKit places each hydrogen from its heavy neighbours' geometry (an sp² CH in the plane of its
    neighbours), so a twisted C=C shows up as hydrogens and substituents out of one plane."""
    from rdkit import Chem

    pos = np.asarray(pos.detach().double().cpu() if isinstance(pos, torch.Tensor) else pos, dtype=np.float64)
    if pos.shape != (mol.GetNumAtoms(), 3):
        raise ValueError(f"pos must have shape ({mol.GetNumAtoms()}, 3), got {pos.shape}")
    mol_h = Chem.AddHs(_with_conformer(mol, pos), addCoords=True)
    return mol_h, np.array(mol_h.GetConformer().GetPositions(), dtype=np.float64)


def bounds_matrix(mol) -> np.ndarray:
    """The (n, n) distance-geometry bounds the geometry checks use: RDKit's ``GetMoleculeBoundsMatrix`` (upper
    bounds in the upper triangle, lower bounds in the lower), with PoseBusters' adjustment for conjugated
    terminal groups (carboxylate-like O/N pairs get the same bounds for each element pair)."""
    from rdkit import Chem
    from rdkit.Chem.rdDistGeom import GetMoleculeBoundsMatrix

    bounds = np.array(GetMoleculeBoundsMatrix(mol, **BOUNDS_PARAMS), dtype=np.float64)
    groups = {}
    for match in mol.GetSubstructMatches(Chem.MolFromSmarts(_TERMINAL)):
        i, j = sorted(match)
        key = tuple(sorted(mol.GetAtomWithIdx(a).GetSymbol() for a in (i, j)))
        groups.setdefault(key, []).append((i, j))
    for pairs in groups.values():
        i, j = np.array(pairs).T
        low, high = bounds[j, i].min(), bounds[i, j].max()
        bounds[j, i], bounds[i, j] = low, high
    return bounds


def geometry_checks(mol, pos, bond_check=None) -> dict:
    """PoseBusters-style geometry checks of one molecule (heavy atoms, implicit hydrogens).

    Args:
        mol: a sanitized RDKit molecule whose atom ``i`` sits at ``pos[i]`` (e.g. from
            ``molecule_from_geometry``).
        pos: (n, 3) coordinates in Å (tensor or array).
        bond_check: None, or a callable ``(mol, pos, bounds, tolerance) -> {"worst", "passes", …}`` that
            decides the bond-length check (the chapter's ``bond_length_outliers``, exercise 4.9) with
            :func:`bounds_matrix`; None = this module's own code.
    Returns:
        dict with a bool per name of :data:`GEOMETRY_CHECKS`, ``"all"`` (all passed) and the worst values:
        ``worst_bond`` / ``worst_angle`` (relative deviation outside the bounds), ``worst_clash`` (relative
        shortfall below the lower bound, ≥ 0), ``worst_flatness`` (Å), ``n_bonds``, ``n_angles``,
        ``n_flat_systems`` (= ``n_aromatic_rings`` + ``n_double_bonds``, the systems each flatness check
        looked at).
    """
    from rdkit import Chem

    pos = np.asarray(pos.detach().double().cpu() if isinstance(pos, torch.Tensor) else pos, dtype=np.float64)
    n = mol.GetNumAtoms()
    if pos.shape != (n, 3):
        raise ValueError(f"pos must have shape ({n}, 3) for a molecule of {n} atoms, got {pos.shape}")
    out = {name: True for name in GEOMETRY_CHECKS}
    out.update(worst_bond=0.0, worst_angle=0.0, worst_clash=0.0, worst_flatness=0.0, n_bonds=mol.GetNumBonds(),
               n_angles=0, n_flat_systems=0, n_aromatic_rings=0, n_double_bonds=0)
    if n < 2:
        out["all"] = True
        return out
    bounds = bounds_matrix(mol)
    iu, ju = np.triu_indices(n, k=1)
    lower, upper = bounds[ju, iu].copy(), bounds[iu, ju].copy()   # lower triangle = lower bounds
    d = np.linalg.norm(pos[iu] - pos[ju], axis=1)
    bonds = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}
    neighbours = {i: {a.GetIdx() for a in mol.GetAtomWithIdx(i).GetNeighbors()} for i in range(n)}
    is_bond = np.array([(int(i), int(j)) in bonds for i, j in zip(iu, ju)], dtype=bool)
    is_angle = np.array([not b and bool(neighbours[int(i)] & neighbours[int(j)]) for i, j, b in zip(iu, ju, is_bond)],
                        dtype=bool)
    out_of_bounds = np.where(d < lower, (d - lower) / lower, np.where(d > upper, (d - upper) / upper, 0.0))
    if bond_check is not None:
        res = bond_check(mol, pos, bounds, BOND_TOLERANCE)
        out["worst_bond"], out["bond lengths"] = float(res["worst"]), bool(res["passes"])
    elif is_bond.any():
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
    mol_h, pos_h = with_hydrogens(mol, pos)
    for name, patterns in FLAT_SYSTEMS.items():
        key = "flat aromatic rings" if name == "aromatic ring" else "flat double bonds"
        for smarts in patterns:
            for match in mol_h.GetSubstructMatches(Chem.MolFromSmarts(smarts)):
                dist = _plane_distance(pos_h[list(match)])
                out["n_flat_systems"] += 1
                out["n_aromatic_rings" if name == "aromatic ring" else "n_double_bonds"] += 1
                out["worst_flatness"] = max(out["worst_flatness"], dist)
                out[key] = out[key] and dist <= FLATNESS_TOLERANCE
    out["all"] = all(out[name] for name in GEOMETRY_CHECKS)
    return out


# one aromatic molecule per element pair that the perception can leave in an aromatic ring (its Kekulé single or double
# bond turns aromatic when RDKit sanitizes); O:O has none (RDKit does not call a ring with an O–O bond aromatic)
AROMATIC_EXAMPLES = {(6, 6): "c1ccccc1", (6, 7): "c1ccncc1", (6, 8): "c1ccoc1", (7, 7): "c1ccnnc1", (7, 8): "c1ccon1"}
# extra rows: the same bond type in another context, SMILES with the bond's atoms mapped 1 and 2
BOND_CONTEXTS = {"C–C between sp carbons (buta-1,3-diyne)": "C#[C:1][C:2]#C",
                 "C–C between sp2 carbons (buta-1,3-diene)": "C=[CH:1][CH:2]=C",
                 "C–O of a carboxylic acid (formic acid)": "O=[CH:1][OH:2]"}


def _dg_bond_bounds(smiles: str, pair: tuple, order) -> tuple:
    """(lower, upper, order) of :func:`bounds_matrix` for the bond between the atoms mapped 1 and 2 of ``smiles``, else
    for its first bond of elements ``pair`` and ``order`` (1, 2, 3 or 1.5 = aromatic); order as RDKit reads it."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    mapped = sorted((a.GetAtomMapNum(), a.GetIdx()) for a in mol.GetAtoms() if a.GetAtomMapNum())
    for a in mol.GetAtoms():
        a.SetAtomMapNum(0)
    if mapped:
        bond = mol.GetBondBetweenAtoms(mapped[0][1], mapped[1][1])
    else:
        bond = next(b for b in mol.GetBonds() if b.GetBondTypeAsDouble() == order and tuple(sorted(
            (b.GetBeginAtom().GetAtomicNum(), b.GetEndAtom().GetAtomicNum()))) == pair)
    i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
    bounds = bounds_matrix(mol)
    return float(bounds[j, i]), float(bounds[i, j]), bond.GetBondTypeAsDouble()


def bond_window_table(chapter, contexts: dict | None = None, tolerance: float = BOND_TOLERANCE):
    """Where a bond perceived by ``chapter.molecule_from_geometry`` (exercise 4.6) can fail the bond-length check
    (exercise 4.9): one row per bond type the perception can produce, from the chapter's own constants.

    Perception window, d in [``MIN_DISTANCE``, high) Å (closer pairs make the molecule invalid): single bond and
    aromatic bond (a Kekulé single or double) high = ``SINGLE`` + ``BOND_TOLERANCE``; double bond (pairs with a
    ``DOUBLE`` entry, both atoms of valence ≥ 2) high = (SINGLE + DOUBLE)/2; triple bond (a ``TRIPLE`` entry, both
    atoms of valence ≥ 3) high = (DOUBLE + TRIPLE)/2. A bond shorter than its midpoint can stay single or double when
    a neighbour has no free valence, so the low end is MIN_DISTANCE for every order. Aromatic types: the pairs of
    :data:`AROMATIC_EXAMPLES`. Check window: :func:`bounds_matrix` of a representative molecule (the two-atom
    molecule with implicit hydrogens, e.g. "CC", "C=O"; the aromatic example; each ``contexts`` entry — default
    :data:`BOND_CONTEXTS`, the same bond in another hybridisation, whose bounds differ), widened to
    [lower·(1 − tolerance), upper·(1 + tolerance)]. A perceived bond of this type can fail "too short" when
    MIN_DISTANCE < the widened lower end, "too long" when the perception's high end > the widened upper end.

    Returns a DataFrame: ``bond`` ("C–C", "C=O", "C:N", "C#N"), ``molecule`` (SMILES), ``perceived from``,
    ``perceived below``, ``DG lower``, ``DG upper``, ``check lower``, ``check upper`` (Å), ``can fail short``,
    ``can fail long`` (bool) and ``fails at`` (the failing distances, "1.000–1.128 (short)" …, "never")."""
    import pandas as pd
    from rdkit import Chem

    symbol = {6: "C", 7: "N", 8: "O", 9: "F"}
    single, double, triple = chapter.SINGLE, chapter.DOUBLE, chapter.TRIPLE
    low, valence, cut = float(chapter.MIN_DISTANCE), chapter.VALENCE, float(chapter.BOND_TOLERANCE)
    types = []   # (label, pair, order, smiles, perception high)
    for pair in sorted(single):
        a, b = (symbol[z] for z in pair)
        types.append((f"{a}–{b}", pair, 1, a + b, single[pair] + cut))
        if pair in double and min(valence[z] for z in pair) >= 2:
            types.append((f"{a}={b}", pair, 2, f"{a}={b}", (single[pair] + double[pair]) / 2))
        if pair in triple and min(valence[z] for z in pair) >= 3:
            types.append((f"{a}#{b}", pair, 3, f"{a}#{b}", (double[pair] + triple[pair]) / 2))
        if pair in AROMATIC_EXAMPLES:
            types.append((f"{a}:{b}", pair, 1.5, AROMATIC_EXAMPLES[pair], single[pair] + cut))
    rows = []
    for label, pair, order, smiles, high in types:
        rows.append((label, smiles, high, *_dg_bond_bounds(smiles, pair, order)[:2]))
    for name, smiles in (BOND_CONTEXTS if contexts is None else contexts).items():
        mol = Chem.MolFromSmiles(smiles)
        ends = [a for a in mol.GetAtoms() if a.GetAtomMapNum() in (1, 2)]
        pair = tuple(sorted(a.GetAtomicNum() for a in ends))
        lo_dg, hi_dg, order = _dg_bond_bounds(smiles, pair, None)
        high = {1.0: single[pair] + cut, 1.5: single[pair] + cut, 2.0: (single[pair] + double.get(pair, 0)) / 2,
                3.0: (double.get(pair, 0) + triple.get(pair, 0)) / 2}[order]
        rows.append((name, smiles, high, lo_dg, hi_dg))
    out = []
    for label, smiles, high, lo_dg, hi_dg in rows:
        c_lo, c_hi = lo_dg * (1 - tolerance), hi_dg * (1 + tolerance)
        short, long_ = low < c_lo, high > c_hi
        fails = [f"{low:.3f}–{c_lo:.3f} (short)"] * short + [f"{c_hi:.3f}–{high:.3f} (long)"] * long_
        out.append({"bond": label, "molecule": smiles, "perceived from": low, "perceived below": high,
                    "DG lower": lo_dg, "DG upper": hi_dg, "check lower": c_lo, "check upper": c_hi,
                    "can fail short": short, "can fail long": long_, "fails at": "; ".join(fails) or "never"})
    return pd.DataFrame(out)
