import numpy as np
import pytest
import torch

from molpractice import symmetry_checks as sc


def _pos(n=6, seed=0):
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _energy(z, pos):
    d = torch.cdist(pos, pos)
    return ((d - 1.5) ** 2).sum()


def test_forces_of_invariant_energy_pass():
    pos = _pos()
    f = sc.model_forces(_energy, torch.ones(6, dtype=torch.long))
    e = sc.vector_equivariance_error(f, pos, reflections=True)
    assert e["rotation"] < 1e-12 and e["translation"] < 1e-12 and e["norm"] > 0


def test_position_like_field_fails_translation_and_equivariance_error_mode_matters():
    pos = _pos()
    e = sc.vector_equivariance_error(lambda p: p.clone(), pos)   # positions move with t: not a vector field
    assert e["rotation"] > 1e-2 and e["translation"] > 1e-2


def test_non_equivariant_vector_field_fails():
    pos = _pos()
    e = sc.vector_equivariance_error(lambda p: p - p.mean(0) + torch.tensor([0.0, 0.0, 1.0], dtype=p.dtype), pos)
    assert e["rotation"] > 1e-2 and e["translation"] < 1e-12


def test_zero_field_and_bad_shape_raise():
    pos = _pos()
    with pytest.raises(ValueError, match="zero"):
        sc.vector_equivariance_error(lambda p: torch.zeros_like(p), pos)
    with pytest.raises(ValueError, match="3-vector"):
        sc.vector_equivariance_error(lambda p: p.sum(0), pos)


def test_haar_is_orthogonal():
    R = sc._haar(torch.Generator().manual_seed(1), torch.float64, "cpu")
    assert torch.allclose(R @ R.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert abs(float(torch.det(R)) - 1) < 1e-12


def test_cosine_envelope():
    w = sc.cosine_envelope([0.0, 5.0, 10.0, 12.0], 10.0)
    assert np.allclose(w, [1.0, 0.5, 0.0, 0.0])


def test_frame_alignment_values_zero_on_axes():
    from types import SimpleNamespace
    pos = torch.tensor([[2.0, 0, 0], [-2.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 0.5], [0, 0, -0.5]])
    assert sc.frame_alignment_values([SimpleNamespace(pos=pos)])[0] < 1e-12


def test_paired_text_and_envelope_summary():
    from types import SimpleNamespace
    assert sc.paired_text(np.ones(10)).startswith("+1.000, bootstrap 95% CI [+1.000, +1.000]")
    mols = [SimpleNamespace(pos=torch.tensor([[0.0, 0, 0], [5.0, 0, 0], [11.0, 0, 0]]))]
    s = sc.envelope_summary(mols, 10.0, distances=(5.0,))
    assert "pairs beyond it 1 of 3" in s and "0.50 at 5 Å" in s


def test_force_errors_on_a_distance_energy():
    from types import SimpleNamespace

    class E(torch.nn.Module):
        def forward(self, z, pos):
            return ((torch.pdist(pos) - 1.2) ** 2).sum().view(1)
    mols = [SimpleNamespace(z=torch.ones(5, dtype=torch.long), pos=_pos(5, s).float()) for s in range(3)]
    fe = sc.trained_force_errors(E(), mols, device="cpu")
    assert (fe["rotation error"] < 1e-10).all() and (fe["translation error"] < 1e-10).all()
    assert list(fe.columns) == ["|F| stored", "|F| jittered", "rotation error", "translation error"]
