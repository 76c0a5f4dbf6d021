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
    assert sc.paired_text(np.ones(10)).startswith("mean +1.000, bootstrap 95% CI of the mean [+1.000, +1.000]")
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


@pytest.fixture
def ch02(impl):
    return impl.ch02_equivariance


class _Shift(torch.nn.Module):
    """An invariant 'model' whose raw output is Σ pair distances − c (0 near c), like a standardised target."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, z, pos, batch=None):
        return (torch.pdist(pos).sum() - self.c).view(1)


def _mols(k=4, n=5):
    from types import SimpleNamespace
    return [SimpleNamespace(z=torch.ones(n, dtype=torch.long), pos=_pos(n, s)) for s in range(k)]


def test_output_scale_errors_and_margin_text(ch02):
    from types import SimpleNamespace
    mols = [SimpleNamespace(z=m.z, pos=m.pos.float()) for m in _mols()]
    c = float(torch.pdist(mols[2].pos).sum()) - 1e-3   # molecule 2's raw output ≈ 1e-3: a small denominator
    task = SimpleNamespace(y_mean=10.0, y_std=2.0)
    t = sc.output_scale_errors(ch02, _Shift(c), mols, task, torch.float32, "cpu", n_trials=4)
    assert list(t.columns) == ["error (standardised)", "|f| (standardised)", "error (Å)", "|f| (Å)",
                               "absolute change (Å)"]
    assert int(t["error (standardised)"].idxmax()) == 2 and t["|f| (standardised)"][2] == pytest.approx(1e-3, rel=1e-2)
    assert t["error (Å)"].max() < 1e-5 < t["error (standardised)"].max()   # in Å the same change is small
    assert np.allclose(t["|f| (Å)"], [abs((float(torch.pdist(m.pos).sum()) - c) * 2.0 + 10.0) for m in mols])
    assert np.allclose(t["absolute change (Å)"], t["error (Å)"] * t["|f| (Å)"])
    text = sc.margin_text("toy", t, 1e-4)
    assert "largest" in text and "at molecule 2" in text and "|f(X)| = 0.0010" in text, text


def test_float32_intermediate_breaks_float64_invariance_at_float32_rounding(ch02):
    from molpractice import symmetry
    model = _Shift(0.0)
    exact = symmetry.model_invariance_errors(ch02, model, _mols(), torch.float64, "cpu", n_trials=2)
    rounded = symmetry.model_invariance_errors(ch02, sc.float32_intermediate(model), _mols(), torch.float64, "cpu",
                                               n_trials=2)
    assert exact.max() < 1e-13 and (rounded > 1e-9).all() and rounded.max() < 1e-5


def test_ci_word_and_epoch_change_table():
    assert sc.ci_word(0.1, 0.2) == "rose" and sc.ci_word(-0.2, -0.1) == "fell"
    assert sc.ci_word(-0.1, 0.1) == "no detectable change"
    first = {"val": np.full(20, 1.0), "val_rotated": np.linspace(0.5, 1.5, 20), "inconsistency": np.full(20, 0.1)}
    last = {"val": np.full(20, 0.5), "val_rotated": np.linspace(1.5, 0.5, 20), "inconsistency": np.full(20, 0.3)}
    t = sc.epoch_change_table({"per_molecule": {"first": first, "last": last}})
    assert list(t["change"]) == ["fell", "no detectable change", "rose"]
    assert t.loc["validation |error|", "last − first"] == pytest.approx(-0.5)
    with pytest.raises(KeyError):
        sc.epoch_change_table({"val": [1.0]})


def test_abs_error_difference_is_paired():
    from types import SimpleNamespace
    mols = [SimpleNamespace(z=torch.ones(3, dtype=torch.long), pos=_pos(3, s), y=torch.tensor([1.0])) for s in range(3)]

    class Const(torch.nn.Module):
        def __init__(self, v):
            super().__init__()
            self.v = v

        def forward(self, z, pos, batch):
            return torch.full((int(batch.max()) + 1,), self.v, dtype=pos.dtype)
    task = SimpleNamespace(y_mean=0.0, y_std=1.0)
    from torch_geometric.data import Data
    data = [Data(z=m.z, pos=m.pos, y=m.y) for m in mols]
    d = sc.abs_error_difference(Const(3.0), Const(1.5), data, task, "cpu")
    assert np.allclose(d, 1.5) and d.shape == (3,)


def test_change_text():
    first = {"val": np.full(20, 1.0), "val_rotated": np.full(20, 1.0), "inconsistency": np.full(20, 0.1)}
    last = {"val": np.full(20, 0.5), "val_rotated": np.full(20, 1.0), "inconsistency": np.full(20, 0.3)}
    t = sc.epoch_change_table({"per_molecule": {"first": first, "last": last}})
    assert sc.change_text(t, "val") == "fell (1.000 → 0.500 Å; paired 95% CI of the change [-0.500, -0.500])"
    assert sc.change_text(t, "val_rotated").startswith("showed no detectable change (1.000 → 1.000 Å")


def test_report_texts():
    import pandas as pd
    per = {"val": np.full(5, 1.0), "val_rotated": np.full(5, 1.0), "inconsistency": np.full(5, 0.1)}
    text = sc.epoch_change_report("m", {"val": [1.0, 0.5, 0.2], "per_molecule": {"first": per, "last": per}})
    assert text.startswith("m: epoch 1 vs epoch 3, means over the same 5 validation molecules") and "+0.000" in text
    assert "above the float64 tolerance 1e-09 for 50% of molecules, below the float32 one 1e-04 for 100%" in \
        sc.bug_text([1e-10, 1e-7], 1e-9, 1e-4)
    fe = pd.DataFrame({"|F| stored": [1.0], "|F| jittered": [2.0], "rotation error": [1e-15], "translation error": [0.0]})
    assert "median |F| 1.00e+00" in sc.force_text(fe) and "rotation error ≤ 1.0e-15" in sc.force_text(fe)


def test_errors_in_angstrom(ch02):
    from types import SimpleNamespace
    task = SimpleNamespace(y_mean=10.0, y_std=2.0)
    out = sc.errors_in_angstrom(ch02, {"a": _Shift(0.0)}, _mols(), task, torch.float64, "cpu",
                                {"rot": dict(n_trials=2, translations=False)})
    assert list(out) == [("a", "rot")] and out[("a", "rot")].shape == (4,) and out[("a", "rot")].max() < 1e-13


def test_wobble_text_and_frame_alignment_report(ch02):
    from types import SimpleNamespace
    wob = {"coordinate MLP": np.array([0.3, 0.4, 0.5]), "MLP + rotation augmentation": np.array([0.1, 0.05, 0.2])}
    t = sc.wobble_text(wob, 0.08)
    assert t.startswith("all 3 test molecules: median range over a turn 0.400 Å (MLP) vs 0.100 Å") and "for 67% of" in t
    # the paired statistic is labelled as the mean of the differences (0.2833), not the difference of the medians (0.3)
    assert "paired difference (MLP − augmented) mean +0.283, bootstrap 95% CI of the mean [" in t
    axes = torch.tensor([[2.0, 0, 0], [-2.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 0.5], [0, 0, -0.5]], dtype=torch.float64)
    mols = [SimpleNamespace(pos=axes.clone(), clone=None) for _ in range(3)]
    for m in mols:
        m.clone = (lambda m=m: SimpleNamespace(pos=m.pos.clone()))
    task = SimpleNamespace(train=mols, val=mols, test=mols)
    text, stored, rotated = sc.frame_alignment_report(ch02, task, seed=3)
    assert stored < 1e-12 < rotated and "0.00 / 0.00" in text and "stored frame better aligned for 100%" in text


def test_output_norms_and_untrained_text():
    from types import SimpleNamespace
    mols = [SimpleNamespace(z=torch.ones(3, dtype=torch.long), pos=_pos(3, seed=k)) for k in range(3)]
    norms = sc.output_norms(lambda z, pos: pos.sum() * 0 + torch.tensor([3.0, 4.0], dtype=pos.dtype), mols,
                            torch.float64, "cpu")
    assert np.allclose(norms, 5.0)
    t = sc.untrained_text(np.array([0.1, 0.2, 0.4]), np.array([10.0, 10.0, 10.0]))
    assert "median |f(X)| 10" in t and "median absolute change 2" in t


def test_broken_text_prints_the_overall_range():
    errs = {("a", "rot"): np.array([0.004, 0.02, 0.05]), ("b", "all"): np.array([0.3, 0.6])}
    t = sc.broken_text(errs, 1e-4)
    assert "broken: a (trained), output in Å, rot: median 2.0%, smallest 0.4%, largest 5.0%" in t
    assert t.splitlines()[-1].startswith("broken symmetries above, all molecules and settings: from 0.4% to 60.0%")
    assert "40× the float32 tolerance 1e-04" in t


def test_haar_history_text_same_draws_in_every_mode(ch02):
    from molpractice import symmetry
    full = sc.haar_history_text(ch02, 20000)
    fast = sc.haar_history_text(ch02, 1000)
    head = full.split("; this run")[0]
    assert head == fast.split("; this run")[0]          # the history itself does not depend on the mode
    assert "drew 4000 rotations (seed 0)" in head and "other 16000 were added after seeing it" in full
    assert "draws only 1000 (the first 1000 of that same sequence)" in fast
    ang = symmetry.rotation_summary(ch02, sc.HISTORY_DRAWS, seed=sc.HISTORY_SEED)["angles"]
    assert f"{(ang < np.radians(45)).mean():.1%}" in head
    # the same seed gives the same sequence: a shorter run is a prefix of the historical draw
    short = symmetry.rotation_summary(ch02, 50, seed=sc.HISTORY_SEED)["angles"]
    assert np.array_equal(short, ang[:50])
