"""Chemistry helpers learners use but do not write: canonical SMILES, duplicates, fingerprints, descriptors.

Every function takes SMILES strings and raises ``ValueError`` naming the offending row and string when
RDKit cannot parse one (nothing is dropped silently).

=========================  ===============================================================
``smiles_problem``         why RDKit rejects a SMILES (or None).
``canonical_smiles``       RDKit canonical SMILES of one string.
``standardized_smiles``    canonical SMILES after neutralising and choosing RDKit's canonical tautomer.
``merge_duplicates``       one row per canonical molecule, target averaged; spread reported.
``morgan_fingerprints``    (n, n_bits) Morgan (ECFP-like) bits or counts.
``rdkit_descriptors``      (n, d) a few global RDKit descriptors (logP, MW, heavy atoms, …).
=========================  ===============================================================

RDKit is imported inside the functions, so ``import molpractice.chem`` is cheap.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

#: Descriptors used by the "counts + descriptors" baseline and the GNN readout (RDKit ``Descriptors`` names):
#: Crippen logP (dimensionless), molecular weight (g/mol), number of heavy atoms.
DESCRIPTOR_NAMES: tuple[str, ...] = ("MolLogP", "MolWt", "HeavyAtomCount")


def smiles_problem(smiles) -> str | None:
    """Why RDKit cannot use ``smiles`` (a short reason), or None when it parses and sanitises."""
    from rdkit import Chem, RDLogger

    if not isinstance(smiles, str) or not smiles.strip():
        return f"not a SMILES string: {smiles!r}"
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is None:
            return "SMILES syntax error"
        problems = Chem.DetectChemistryProblems(mol)
        if problems:
            return "; ".join(p.Message() for p in problems[:2])
        if Chem.MolFromSmiles(smiles) is None:
            return "RDKit sanitisation failed"
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")


def _mol(smiles: str, row: int | None = None):
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) else None
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None:
        where = f"row {row}: " if row is not None else ""
        raise ValueError(f"{where}RDKit cannot parse SMILES {smiles!r}: {smiles_problem(smiles)}")
    return mol


def _mols(smiles: Iterable[str]):
    if isinstance(smiles, str):
        raise TypeError("expected a sequence of SMILES strings, got a single string; wrap it in a list")
    return [_mol(s, i) for i, s in enumerate(smiles)]


def canonical_smiles(smiles: str) -> str:
    """RDKit canonical (isomeric) SMILES of ``smiles``.

    Raises:
        ValueError: naming the SMILES and RDKit's reason if it cannot be parsed.
    """
    from rdkit import Chem

    return Chem.MolToSmiles(_mol(smiles))


def standardized_smiles(smiles: str) -> str:
    """Canonical SMILES of the standardised parent: the largest fragment, neutralised where possible
    (RDKit ``rdMolStandardize.ChargeParent``), then RDKit's canonical tautomer (``TautomerEnumerator``).

    Tautomers and protonation states of one compound then give one string, so they can be merged or grouped
    before a split (e.g. 2-hydroxypyridine ``Oc1ccccn1`` and 2-pyridone ``O=c1cccc[nH]1``, which RDKit's
    Murcko scaffold puts in different groups as written). RDKit's canonical tautomer is a rule-based choice,
    not necessarily the dominant form in water.

    Raises:
        ValueError: naming the SMILES and RDKit's reason if it cannot be parsed.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem.MolStandardize import rdMolStandardize

    mol = _mol(smiles)
    RDLogger.DisableLog("rdApp.*")
    try:
        parent = rdMolStandardize.ChargeParent(mol)
        return Chem.MolToSmiles(rdMolStandardize.TautomerEnumerator().Canonicalize(parent))
    finally:
        RDLogger.EnableLog("rdApp.*")


def merge_duplicates(df, smiles_col: str = "smiles", target_col: str = "target"):
    """Collapse rows that are the same canonical molecule into one, averaging the target.

    Duplicates inflate a random split's score (the same molecule on both sides) and give one molecule
    twice the weight; averaging keeps every measurement and makes each molecule one sample.

    Args:
        df: DataFrame with a SMILES column and a numeric target column.
    Returns:
        ``(merged, groups)``: ``merged`` has one row per canonical SMILES (first-seen order) with columns
        ``smiles`` (canonical), ``target`` (mean), ``n_measurements`` and the first row's other columns;
        ``groups`` lists only the duplicated molecules with ``n_measurements``, ``target_min``,
        ``target_max``, ``target_range`` (same unit as the target) and ``rows`` (original row labels).
    Raises:
        ValueError: naming the row of any SMILES RDKit cannot parse, or a non-finite target.
    """
    import pandas as pd

    if smiles_col not in df.columns or target_col not in df.columns:
        raise ValueError(f"need columns {smiles_col!r} and {target_col!r}; got {list(df.columns)}")
    target = pd.to_numeric(df[target_col], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(target))
    if len(bad):
        raise ValueError(f"row {df.index[bad[0]]}: target {df[target_col].iloc[bad[0]]!r} is not a finite number")
    from rdkit import Chem

    canon = []
    for label, smi in zip(df.index, df[smiles_col]):
        canon.append(Chem.MolToSmiles(_mol(smi, label)))
    work = df.copy()
    work["_canon"] = canon
    work["_target"] = target
    work["_label"] = list(df.index)
    grouped = work.groupby("_canon", sort=False)
    merged = grouped.first().reset_index()
    merged["target"] = grouped["_target"].mean().to_numpy()
    merged["n_measurements"] = grouped.size().to_numpy()
    merged["smiles"] = merged["_canon"]
    merged = merged.drop(columns=[c for c in ("_canon", "_target", "_label") if c in merged.columns])
    if target_col != "target" and target_col in merged.columns:
        merged = merged.drop(columns=[target_col])
    stats = grouped["_target"].agg(["size", "min", "max"])
    stats["rows"] = grouped["_label"].agg(list)
    stats = stats[stats["size"] > 1]
    groups = pd.DataFrame({
        "smiles": stats.index,
        "n_measurements": stats["size"].to_numpy(),
        "target_min": stats["min"].to_numpy(),
        "target_max": stats["max"].to_numpy(),
        "target_range": (stats["max"] - stats["min"]).to_numpy(),
        "rows": stats["rows"].to_numpy(),
    })
    return merged, groups


def morgan_fingerprints(smiles: Sequence[str], radius: int = 2, n_bits: int = 2048,
                        counts: bool = False) -> np.ndarray:
    """Morgan (ECFP-like) fingerprints, hashed to ``n_bits`` positions.

    Args:
        smiles: n SMILES strings.
        radius: Morgan radius (2 ≈ ECFP4).
        n_bits: fingerprint length.
        counts: False → 0/1 bits; True → how many times each hashed environment occurs.
    Returns:
        (n, n_bits) ``float32`` array.
    Raises:
        ValueError: naming the row of a SMILES RDKit cannot parse.
    """
    from rdkit.Chem import rdFingerprintGenerator

    if radius < 0 or n_bits <= 0:
        raise ValueError(f"need radius >= 0 and n_bits > 0, got radius={radius}, n_bits={n_bits}")
    mols = _mols(smiles)
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(mols), n_bits), dtype=np.float32)
    for i, mol in enumerate(mols):
        out[i] = gen.GetCountFingerprintAsNumPy(mol) if counts else gen.GetFingerprintAsNumPy(mol)
    return out


def rdkit_descriptors(smiles: Sequence[str], names: Sequence[str] = DESCRIPTOR_NAMES) -> np.ndarray:
    """Global RDKit descriptors, one row per molecule.

    Args:
        smiles: n SMILES strings.
        names: names of functions in ``rdkit.Chem.Descriptors`` (default :data:`DESCRIPTOR_NAMES`:
            Crippen logP, molecular weight in g/mol, heavy-atom count).
    Returns:
        (n, len(names)) ``float32`` array, in the descriptors' own units (not standardised).
    Raises:
        ValueError: for an unknown descriptor name or a SMILES RDKit cannot parse (row named).
    """
    from rdkit.Chem import Descriptors

    funcs = []
    for name in names:
        func = getattr(Descriptors, name, None)
        if not callable(func):
            raise ValueError(f"rdkit.Chem.Descriptors has no descriptor {name!r}")
        funcs.append(func)
    mols = _mols(smiles)
    return np.array([[f(m) for f in funcs] for m in mols], dtype=np.float32).reshape(len(mols), len(funcs))
