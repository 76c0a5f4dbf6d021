"""Chirality seen by symmetric models: what an E(3)-invariant output cannot tell apart and an odd-parity
(pseudoscalar) output can.

===============================  ==========================================================================
``signed_volume``                (b − a)·[(c − a) × (d − a)] of four atoms: the simplest pseudoscalar.
``mirror_x``, ``cip_labels``     a reflection that makes the enantiomer; R/S labels RDKit reads from 3D.
``chirality_demo``               L-alanine and its mirror image: CIP labels, an E(3)-invariant model's outputs
                                 (equal), the signed volume around the stereocentre (opposite).
``triple_product_pseudoscalar``  a permutation-invariant molecular pseudoscalar from three equivariant vector
                                 features per atom: SE(3)-invariant, flips sign under reflections.
``parity_error``                 how far ``f(g·x) = ±f(x)`` is from holding under improper rotations.
``enantiomer_pseudoscalar_demo`` the pseudoscalar on independently embedded L-/D-alanine conformers.
``sign_agreement_text``          what that demo shows about the sign and the stereocentre, with the chance of
                                 the same agreement if the sign were unrelated to it.
===============================  ==========================================================================

Functions that run the chapter's code receive the chapter-2 module as ``chapter`` (the learner's or the
reference) and use its ``random_rotation`` and ``invariance_error``.
"""
from __future__ import annotations

import math

import torch

from . import geometry3d as g3
from .runtime import get_device


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def signed_volume(pos: torch.Tensor, atoms=(0, 1, 2, 3)) -> torch.Tensor:
    """(b − a) · [(c − a) × (d − a)] for the atoms ``a, b, c, d`` (Å³), shape (1,): a pseudo-scalar,
    SE(3)-invariant but its sign flips under a reflection (it tells enantiomers apart)."""
    a, b, c, d = (pos[k] for k in atoms)
    return torch.dot(b - a, torch.linalg.cross(c - a, d - a)).reshape(1)


def mirror_x(pos: torch.Tensor) -> torch.Tensor:
    """Reflection through the yz plane (x ↦ −x): turns a molecule into its enantiomer."""
    return pos * torch.tensor([-1.0, 1.0, 1.0], dtype=pos.dtype, device=pos.device)


def cip_labels(smiles: str, pos: torch.Tensor) -> list:
    """CIP labels (R/S) RDKit assigns from the 3D coordinates alone (atoms in the order of
    ``AddHs(MolFromSmiles(smiles))``, as :func:`molpractice.geometry3d.build_conformers` writes them)."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    conf = Chem.Conformer(mol.GetNumAtoms())
    for k, (x, y, z) in enumerate(pos.double().tolist()):
        conf.SetAtomPosition(k, Point3D(x, y, z))
    mol.RemoveAllConformers()
    mol.AddConformer(conf)
    Chem.AssignStereochemistryFrom3D(mol)
    return [a.GetProp("_CIPCode") for a in mol.GetAtoms() if a.HasProp("_CIPCode")]


def chirality_demo(chapter, model, smiles: str = "C[C@H](N)C(=O)O", centre=(1, 0, 2, 3), device=None,
                   seed: int = 0) -> dict:
    """An enantiomer pair made by reflecting one conformer, seen by RDKit, by an E(3)-invariant ``model``
    (float64) and by the signed volume around the stereocentre (atoms ``centre``: centre first).

    Returns:
        ``{"smiles", "cip_original", "cip_mirrored", "output_original", "output_mirrored", "output_difference",
        "volume_original", "volume_mirrored" (Å³), "volume_error_se3", "volume_error_e3"}``.
    Raises:
        RuntimeError: if RDKit cannot embed ``smiles``.
    """
    device = device or get_device()
    built, failures = g3.build_conformers([smiles], seed=seed, progress=False)
    if not built:
        raise RuntimeError(f"could not embed {smiles}: {failures.to_dict('records')}")
    mol = built[0]
    pos = mol.pos.double().to(device)
    mirrored = mirror_x(pos)
    z = mol.z.to(device)
    with torch.no_grad():
        y_l, y_d = float(model(z, pos)), float(model(z, mirrored))

    def volume(p):
        return signed_volume(p, centre)

    return {"smiles": mol.smiles, "cip_original": cip_labels(mol.smiles, pos.cpu()),
            "cip_mirrored": cip_labels(mol.smiles, mirrored.cpu()),
            "output_original": y_l, "output_mirrored": y_d, "output_difference": abs(y_l - y_d),
            "volume_original": float(volume(pos)), "volume_mirrored": float(volume(mirrored)),
            "volume_error_se3": chapter.invariance_error(volume, pos, generator=_generator(seed)),
            "volume_error_e3": chapter.invariance_error(volume, pos, reflections=True, generator=_generator(seed))}


def triple_product_pseudoscalar(pos: torch.Tensor, z: torch.Tensor, cutoff: float = 2.0) -> torch.Tensor:
    """A permutation-invariant pseudoscalar of a molecule, shape (1,): Σ_i det[u_i, v_i, w_i] with three
    vector features per atom built from its neighbours within ``cutoff`` Å (bonded pairs in these molecules),

        u_i = Σ_j c_ij (x_j − x_i),   v_i = Σ_j c_ij z_j (x_j − x_i),   w_i = Σ_j c_ij s_j (x_j − x_i),

    where c_ij = ½(cos(π d_ij / cutoff) + 1) for d_ij < cutoff (else 0) and s_j = Σ_k c_jk z_k (a one-step
    invariant message: what atom j is bonded to). Each vector feature is E(3)-equivariant, so the triple
    product is invariant under rotations and translations and changes sign under a reflection:
    f(x Qᵀ + t) = det(Q) · f(x) — an odd-parity (pseudoscalar) output, as an E(3)-equivariant network
    produces from three vector channels. It is 0 when the three features are coplanar at every atom.
    """
    n = len(z)
    diff = pos[None, :, :] - pos[:, None, :]                     # diff[i, j] = x_j − x_i
    d = diff.pow(2).sum(-1).add(1e-12).sqrt()
    c = torch.where(d < cutoff, 0.5 * (torch.cos(math.pi * d / cutoff) + 1), torch.zeros_like(d))
    c = c * (1 - torch.eye(n, dtype=pos.dtype, device=pos.device))
    zf = z.to(pos.dtype)
    weights = torch.stack([torch.ones_like(zf), zf, c @ zf], -1)  # (n, 3): 1, z_j, s_j
    vectors = torch.einsum("ij,ijd,ja->iad", c, diff, weights)    # (n, 3 features, 3 coordinates)
    return torch.linalg.det(vectors).sum().reshape(1)


def parity_error(chapter, fn, pos: torch.Tensor, *args, parity: int = -1, n_trials: int = 8,
                 seed: int = 0) -> float:
    """max ‖fn(pos Qᵀ + t) − parity · fn(pos)‖ / ‖fn(pos)‖ over improper rotations Q = −R (det −1; R from
    ``chapter.random_rotation``) and Gaussian translations t: about machine epsilon when ``fn`` has that
    parity under reflections (−1: pseudoscalar, +1: invariant), about 2 when it has the other one."""
    if parity not in (-1, 1):
        raise ValueError(f"parity must be -1 or +1, got {parity!r}")
    gen = _generator(seed)
    y = fn(pos, *args)
    worst = 0.0
    for _ in range(n_trials):
        Q = -chapter.random_rotation(gen, dtype=pos.dtype).to(pos.device)
        t = torch.randn(3, generator=gen, dtype=pos.dtype).to(pos.device)
        y1 = fn(pos @ Q.T + t, *args)
        worst = max(worst, float((y1 - parity * y).norm() / y.norm().clamp_min(torch.finfo(pos.dtype).tiny)))
    return worst


def enantiomer_pseudoscalar_demo(chapter, smiles=("C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"), seeds=(0, 2, 3, 4, 5),
                                 cutoff: float = 2.0) -> dict:
    """:func:`triple_product_pseudoscalar` on independently embedded conformers (RDKit ETKDG + MMFF, one per
    seed) of each SMILES — by default L- and D-alanine — and its symmetry errors on the first conformer of the
    first SMILES only (float64). Different seeds can give the same conformer after MMFF (for alanine seed 1
    repeats seed 0 exactly, hence the default skips it; others match up to a permutation of equivalent
    hydrogens). Conformers whose sorted interatomic distances agree within 1e-3 Å are merged into one row, so
    every row is a distinct conformer. The same fingerprint is compared across SMILES: sorted distances do not
    change under a reflection, so two rows of different SMILES with one ``shape`` are mirror images of each
    other, and for them opposite signs follow from the parity alone.

    Returns:
        ``{"table"``: DataFrame with one row per distinct conformer and columns ``smiles``, ``seeds`` (the
        seeds that gave it, e.g. ``"0, 3"``), ``cip`` (R/S from the 3D coordinates), ``pseudoscalar``, ``shape``
        (1, 2, … in order of appearance: rows with the same number are one shape up to reflection);
        ``"n_seeds"``: the number of seeds tried per SMILES; ``"n_shapes"``: distinct shapes up to reflection;
        ``"mirror_pairs"``: shapes seen under more than one SMILES (mirror images of each other); ``"se3_error"``: ``chapter.invariance_error``
        with rotations, translations and permutations; ``"e3_invariance_error"``: the same with reflections (≈ 2: not invariant);
        ``"parity_error"``: :func:`parity_error` with parity −1 (≈ 0: it flips sign)``}``.
    Raises:
        RuntimeError: if RDKit cannot embed a SMILES.
    """
    import pandas as pd

    rows, first, shapes = [], None, []   # shapes: sorted-distance fingerprints of every SMILES (reflection-blind)
    for smi in smiles:
        kept = []  # (sorted distances, row) of the distinct conformers of this SMILES
        for seed in seeds:
            built, failures = g3.build_conformers([smi], seed=seed, progress=False, dtype=torch.float64)
            if not built:
                raise RuntimeError(f"could not embed {smi} (seed {seed}): {failures.to_dict('records')}")
            pos, z = built[0].pos, built[0].z
            first = first or (pos, z)
            fingerprint = torch.pdist(pos).sort().values   # invariant to rotations and atom permutations
            same = [row for fp, row in kept if fp.shape == fingerprint.shape
                    and float((fp - fingerprint).abs().max()) < 1e-3]
            if same:
                same[0]["seeds"] += f", {seed}"
                continue
            shape = next((k + 1 for k, fp in enumerate(shapes) if fp.shape == fingerprint.shape
                          and float((fp - fingerprint).abs().max()) < 1e-3), None)
            if shape is None:
                shapes.append(fingerprint)
                shape = len(shapes)
            row = {"smiles": smi, "seeds": str(seed), "cip": "".join(cip_labels(smi, pos)),
                   "pseudoscalar": float(triple_product_pseudoscalar(pos, z, cutoff)), "shape": shape}
            kept.append((fingerprint, row))
            rows.append(row)
    pos, z = first

    def f(p, zz):
        return triple_product_pseudoscalar(p, zz, cutoff)

    kw = dict(permutations=True, generator=_generator(0))
    table = pd.DataFrame(rows)
    mirror_pairs = int((table.groupby("shape")["smiles"].nunique() > 1).sum())
    return {"table": table, "n_seeds": len(seeds), "n_shapes": len(shapes), "mirror_pairs": mirror_pairs,
            "se3_error": chapter.invariance_error(f, pos, z, **kw),
            "e3_invariance_error": chapter.invariance_error(f, pos, z, reflections=True, **kw),
            "parity_error": parity_error(chapter, f, pos, z)}


def sign_agreement_text(table, cip_column: str = "cip", value_column: str = "pseudoscalar",
                        shape_column: str = "shape") -> str:
    """One sentence on :func:`enantiomer_pseudoscalar_demo`'s table: whether every conformer of one CIP label has
    one sign and every conformer of the other the opposite sign across the distinct shapes (up to reflection), and
    the probability ``2 / 2**k`` that all ``k`` shapes agree (in either direction) if the sign of each shape were a
    fair coin unrelated to the stereocentre. States that the pseudoscalar and this check were written together, so
    the agreement is an illustration, not evidence.

    Raises:
        ValueError: if the table does not hold exactly two CIP labels.
    """
    labels = sorted(set(table[cip_column]))
    if len(labels) != 2:
        raise ValueError(f"need conformers of exactly two CIP labels, got {labels}")
    signs = {c: set(float(v) > 0 for v in table.loc[table[cip_column] == c, value_column]) for c in labels}
    k = int(table[shape_column].nunique())
    agree = all(len(v) == 1 for v in signs.values()) and signs[labels[0]] != signs[labels[1]]
    verdict = (f"across the {k} shapes up to reflection, every {labels[0]} conformer had one sign and every "
               f"{labels[1]} conformer the other" if agree else
               f"across the {k} shapes up to reflection, the sign did NOT separate {labels[0]} from {labels[1]}")
    return (f"{verdict}; if each shape's sign were unrelated to the stereocentre, all {k} would agree by chance with "
            f"probability 2/2^{k} = 1/{2 ** (k - 1)}, and the pseudoscalar and this check were written together, so "
            f"this is an illustration, not evidence that the sign tracks the stereocentre")
