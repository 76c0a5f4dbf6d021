"""Unit tests of molpractice.chirality (reflections and pseudoscalar outputs, chapter 2) with the reference
chapter module (``impl.ch02_equivariance``)."""
import pytest
import torch

from molpractice import chirality
from molpractice import geometry3d as g3

CPU = torch.device("cpu")


@pytest.fixture
def ch02(impl):
    return impl.ch02_equivariance


def test_chirality_demo_on_alanine(ch02):
    torch.manual_seed(0)
    model = ch02.DistanceInvariantModel(hidden_dim=8, n_rbf=4).double()
    chi = chirality.chirality_demo(ch02, model, device=CPU)
    assert chi["cip_original"] == ["S"] and chi["cip_mirrored"] == ["R"]  # L-alanine is (S)
    assert chi["output_difference"] < 1e-12
    assert chi["volume_original"] == pytest.approx(-chi["volume_mirrored"]) and abs(chi["volume_original"]) > 0.5
    assert chi["volume_error_se3"] < 1e-9 and chi["volume_error_e3"] > 1


def test_triple_product_pseudoscalar_is_odd_parity_and_permutation_invariant(ch02):
    gen = torch.Generator().manual_seed(0)
    pos = 1.2 * torch.randn(7, 3, generator=gen, dtype=torch.float64)
    z = torch.tensor([6, 7, 8, 1, 6, 9, 1])
    f = chirality.triple_product_pseudoscalar(pos, z, cutoff=3.0)
    assert f.shape == (1,) and abs(float(f)) > 1e-3
    R = g3.rotation_about_axis([0.3, -1.0, 0.5], 1.1, dtype=torch.float64)
    assert torch.allclose(chirality.triple_product_pseudoscalar(pos @ R.T + 2.0, z, 3.0), f, atol=1e-12)
    assert torch.allclose(chirality.triple_product_pseudoscalar(chirality.mirror_x(pos), z, 3.0), -f, atol=1e-12)
    perm = torch.randperm(7, generator=gen)
    assert torch.allclose(chirality.triple_product_pseudoscalar(pos[perm], z[perm], 3.0), f, atol=1e-12)
    planar = pos.clone()
    planar[:, 2] = 0.0   # a flat molecule is its own mirror image: the pseudoscalar vanishes
    assert abs(float(chirality.triple_product_pseudoscalar(planar, z, 3.0))) < 1e-12


def test_parity_error_separates_pseudoscalars_from_invariants(ch02):
    pos = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert chirality.parity_error(ch02, chirality.signed_volume, pos) < 1e-12
    assert chirality.parity_error(ch02, chirality.signed_volume, pos, parity=1) == pytest.approx(2.0)
    rg = lambda p: g3.radius_of_gyration(p).reshape(1)  # noqa: E731
    assert chirality.parity_error(ch02, rg, pos, parity=1) < 1e-12
    assert chirality.parity_error(ch02, rg, pos) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="parity"):
        chirality.parity_error(ch02, rg, pos, parity=0)


def test_enantiomer_pseudoscalar_demo_separates_l_and_d_alanine(ch02):
    out = chirality.enantiomer_pseudoscalar_demo(ch02, seeds=(0, 2))
    table = out["table"]
    assert list(table.columns) == ["smiles", "seeds", "cip", "pseudoscalar", "shape"] and len(table) == 4
    # L seed 0 and D seed 2 are mirror images (same sorted distances, opposite signs): 3 shapes, 1 mirror pair
    assert out["n_shapes"] == 3 and out["mirror_pairs"] == 1, table
    pair = table[table["shape"].duplicated(keep=False)]
    assert pair["cip"].nunique() == 2 and pair["pseudoscalar"].sum() == pytest.approx(0.0, abs=1e-4), pair
    l_vals = table.loc[table.cip == "S", "pseudoscalar"]
    d_vals = table.loc[table.cip == "R", "pseudoscalar"]
    assert len(l_vals) == len(d_vals) == 2
    assert (l_vals < -1e-3).all() and (d_vals > 1e-3).all(), table   # opposite signs, independent conformers
    assert out["se3_error"] < 1e-9 and out["parity_error"] < 1e-9
    assert out["e3_invariance_error"] == pytest.approx(2.0, abs=1e-6)


def test_enantiomer_pseudoscalar_demo_merges_duplicate_conformers(ch02):
    out = chirality.enantiomer_pseudoscalar_demo(ch02, smiles=("C[C@H](N)C(=O)O",), seeds=(0, 1))
    assert out["n_seeds"] == 2 and out["table"]["seeds"].tolist() == ["0, 1"], out["table"]   # seed 1 repeats seed 0


def test_sign_agreement_text():
    import pandas as pd
    from molpractice import chirality as chir
    t = pd.DataFrame({"cip": ["S", "S", "S", "R", "R", "R"], "pseudoscalar": [-0.09, -0.06, -0.06, 0.07, 0.09, 0.06],
                      "shape": [1, 2, 3, 4, 1, 2]})
    s = chir.sign_agreement_text(t)
    assert s.startswith("across the 4 shapes up to reflection, every R conformer had one sign and every S conformer the other")
    assert "probability 2/2^4 = 1/8" in s and "written together" in s and "illustration, not evidence" in s
    t.loc[2, "pseudoscalar"] = 0.01
    assert "did NOT separate" in chir.sign_agreement_text(t)
    with pytest.raises(ValueError, match="two CIP labels"):
        chir.sign_agreement_text(t[t.cip == "S"])
