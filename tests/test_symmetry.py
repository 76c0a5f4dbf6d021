"""Unit tests of molpractice.symmetry (the chapter-2 experiments) on tiny inputs, with the reference
chapter module (``impl.ch02_equivariance``)."""
import math

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch_geometric.data import Data  # noqa: E402

from molpractice import geometry3d as g3  # noqa: E402
from molpractice import chirality, symmetry  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture
def ch02(impl):
    return impl.ch02_equivariance


def _molecules(n=20, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        k = int(torch.randint(4, 9, (1,), generator=gen))
        z = torch.tensor([6, 7, 8, 1, 1, 6, 1, 9])[:k]
        out.append(Data(z=z, pos=1.5 * torch.randn(k, 3, generator=gen, dtype=dtype)))
    return out


# ------------------------------------------------------------------------------------------ settings, words
def test_settings_have_both_modes_documented_and_fast_is_smaller():
    full, fast = symmetry.SETTINGS.full, symmetry.SETTINGS.fast
    assert set(full) == set(fast) == set(symmetry.SETTINGS.doc)
    assert fast["epochs"] < full["epochs"] and fast["n_rotations"] < full["n_rotations"]
    assert fast["n_precision"] < full["n_precision"] and full["max_molecules"] is None
    assert symmetry.SETTINGS.current("fast").epochs == fast["epochs"]


def test_settings_table_is_written_for_reading():
    table = symmetry.settings_table()
    assert table.loc["max_molecules", "full"] == "None" and table.loc["n_rotations", "full"] == "20000"
    assert table.loc["lr", "fast"] == "0.002" and table.loc["epochs", "fast"] == "6"
    assert list(table.columns) == ["full", "fast", "meaning"] and table["meaning"].str.len().min() > 0


def test_summarise_rejections_merges_elements_and_sizes():
    out = symmetry.summarise_rejections(["12 heavy atoms (> 9)", "10 heavy atoms (> 9)", "duplicate",
                                         "element(s) Cl not in C/N/O/F", "element(s) Br,S not in C/N/O/F"])
    assert out == {"more than 9 heavy atoms": 2, "element other than H/C/N/O/F": 2, "duplicate": 1,
                   "elements": "Br, Cl, S"}


def test_ratio_and_trend_words():
    assert symmetry.ratio_words(6.0, 1.0) == "6.0× worse than"
    assert symmetry.ratio_words(1.0, 4.0) == "4.0× better than"
    assert symmetry.ratio_words(1.0, 1.01) == "about equal to"
    assert symmetry.ratio_words(2.0, 1.0, lower="smaller", higher="larger") == "2.0× larger than"
    with pytest.raises(ValueError):
        symmetry.ratio_words(0.0, 1.0)
    assert symmetry.trend_word(1.0, 0.5) == "fell"
    assert symmetry.trend_word(0.5, 1.0) == "rose"
    assert symmetry.trend_word(1.0, 1.001) == "stayed about the same"


# ------------------------------------------------------------------------------------------ rotations
def test_haar_median_angle_solves_the_cdf():
    theta = symmetry.haar_median_angle()
    assert (theta - math.sin(theta)) / math.pi == pytest.approx(0.5, abs=1e-12)
    assert math.degrees(theta) == pytest.approx(132.3, abs=0.1)


def test_rotation_angles_of_known_rotations():
    Rs = torch.stack([g3.rotation_about_axis([1, 2, 3], a) for a in (0.0, 0.5, 2.0, math.pi)])
    assert np.allclose(symmetry.rotation_angles(Rs), [0.0, 0.5, 2.0, math.pi], atol=1e-6)


def test_haar_angle_tests_accept_haar_and_reject_uniform_angles(ch02):
    rot = symmetry.rotation_summary(ch02, 2000, seed=1)
    table = symmetry.haar_angle_tests(rot["angles"], n_batches=4)
    assert list(table.index) == ["batch 1", "batch 2", "batch 3", "batch 4", "all"]
    assert table["draws"].tolist() == [500] * 4 + [2000]
    assert table.loc["all", "below"] == table["below"].iloc[:4].sum()
    assert table.attrs["haar_fraction"] == pytest.approx((math.pi / 4 - math.sin(math.pi / 4)) / math.pi)
    assert (table["ci_low"] <= table["fraction"]).all() and (table["fraction"] <= table["ci_high"]).all()
    assert table.loc["all", "ks_p"] > 1e-3 and table.loc["all", "binomial_p"] > 1e-3
    uniform = np.random.default_rng(0).uniform(0, math.pi, 2000)   # uniform angles are not Haar
    bad = symmetry.haar_angle_tests(uniform, n_batches=2)
    assert bad.loc["all", "ks_p"] < 1e-10 and bad.loc["all", "binomial_p"] < 1e-10
    assert symmetry.haar_angle_cdf(math.pi) == pytest.approx(1.0) and symmetry.haar_angle_cdf(0.0) == 0.0
    with pytest.raises(ValueError):
        symmetry.haar_angle_tests(rot["angles"][:3], n_batches=4)


def test_rotation_summary(ch02):
    s = symmetry.rotation_summary(ch02, 300, seed=0)
    assert s["n"] == 300 and s["angles"].shape == (300,)
    assert s["orthogonality_error"] < 1e-12
    assert abs(s["det_min"] - 1) < 1e-12 and abs(s["det_max"] - 1) < 1e-12
    assert 0 <= s["angles"].min() and s["angles"].max() <= math.pi
    assert 115 < s["median_angle_deg"] < 150  # Haar median 132.3°; a uniform angle would give 90°
    assert symmetry.rotation_summary(ch02, 5, seed=3)["angles"].tolist() == \
        symmetry.rotation_summary(ch02, 5, seed=3)["angles"].tolist()


# ------------------------------------------------------------------------------------------ demo functions
def test_signed_volume_and_xy_radius_symmetries():
    pos = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    R = g3.rotation_about_axis([0.3, -1.0, 0.5], 1.1)
    Rz = g3.rotation_about_axis([0, 0, 1], 1.1)
    v = symmetry.signed_volume(pos)
    assert v.shape == (1,)
    assert torch.allclose(symmetry.signed_volume(pos @ R.T + 2.0), v)
    assert torch.allclose(symmetry.signed_volume(chirality.mirror_x(pos)), -v)
    assert torch.allclose(symmetry.xy_radius(pos @ Rz.T + 1.0), symmetry.xy_radius(pos))
    assert not torch.allclose(symmetry.xy_radius(pos @ R.T), symmetry.xy_radius(pos))


def test_example_tables_separate_exact_from_broken(ch02):
    pos = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for flag, table in (("invariant", symmetry.invariance_examples(ch02, pos)),
                        ("equivariant", symmetry.equivariance_examples(ch02, pos))):
        assert list(table.columns) == [flag, "relative error"]
        assert table[flag].any() and not table[flag].all()
        assert (table.loc[table[flag], "relative error"] < 1e-12).all(), table
        assert (table.loc[~table[flag], "relative error"] > 1e-2).all(), table


# ------------------------------------------------------------------------------------------ models
def test_coordinate_mlp_shapes_batching_and_lack_of_invariance(ch02):
    from torch_geometric.data import Batch

    mols = _molecules(3)
    torch.manual_seed(0)
    mlp = symmetry.CoordinateMLP(hidden=16, n_max=8)
    b = Batch.from_data_list(mols)
    batched = mlp(b.z, b.pos, b.batch)
    single = torch.cat([mlp(d.z, d.pos) for d in mols])
    assert batched.shape == (3,) and torch.allclose(batched, single, atol=1e-6)
    err = symmetry.model_invariance_errors(ch02, mlp.double(), mols, torch.float64, CPU)
    assert err.shape == (3,) and (err > 1e-2).all()
    with pytest.raises(ValueError, match="n_max"):
        mlp(torch.ones(9, dtype=torch.long), torch.zeros(9, 3, dtype=torch.float64))


def test_egnn_regressor_is_invariant_and_batches(ch02):
    from torch_geometric.data import Batch

    mols = _molecules(4, dtype=torch.float64)
    torch.manual_seed(0)
    model = symmetry.EGNNRegressor(ch02, hidden=8, n_layers=2).double()
    b = Batch.from_data_list(mols)
    assert torch.allclose(model(b.z, b.pos, b.batch), torch.cat([model(d.z, d.pos) for d in mols]), atol=1e-10)
    err = symmetry.model_invariance_errors(ch02, model, mols, torch.float64, CPU, reflections="alternate",
                                           permutations=True, n_trials=2)
    assert (err < 1e-9).all()


def test_egnn_stack_errors_by_precision(ch02):
    mols = _molecules(3)
    e32 = symmetry.egnn_stack_errors(ch02, mols, torch.float32, CPU, hidden=8, n_layers=2, n_trials=2)
    e64 = symmetry.egnn_stack_errors(ch02, mols, torch.float64, CPU, hidden=8, n_layers=2, n_trials=2)
    assert e32.shape == e64.shape == (3, 2)
    assert (e32 < symmetry.TOLERANCE[torch.float32]).all() and (e64 < symmetry.TOLERANCE[torch.float64]).all()
    assert e64.max() < e32.max()


def test_relative_change_vs_angle(ch02):
    mol = _molecules(1, dtype=torch.float64)[0]
    torch.manual_seed(0)
    dist = ch02.DistanceInvariantModel(hidden_dim=8, n_rbf=4).double()
    torch.manual_seed(0)
    mlp = symmetry.CoordinateMLP(hidden=16, n_max=8).double()
    angles = [0, 45, 90, 180]
    d = symmetry.relative_change_vs_angle(dist, mol, angles, device=CPU)
    m = symmetry.relative_change_vs_angle(mlp, mol, angles, device=CPU)
    assert d.shape == (4,) and d[0] == 0.0 and d.max() < 1e-9
    assert m[0] == 0.0 and m[1:].min() > 1e-3


# ------------------------------------------------------------------------------------------ permutations
def test_permutation_errors_separate_mlp_from_invariant_model(ch02):
    mols = _molecules(3, dtype=torch.float64)
    torch.manual_seed(0)
    mlp = symmetry.CoordinateMLP(hidden=16, n_max=8).double()
    torch.manual_seed(0)
    dist = ch02.DistanceInvariantModel(hidden_dim=8, n_rbf=4).double()
    m = symmetry.permutation_errors(mlp, mols, torch.float64, CPU)
    d = symmetry.permutation_errors(dist, mols, torch.float64, CPU)
    assert m.shape == d.shape == (3,) and (m > 1e-3).all() and (d < 1e-9).all()
    assert m.tolist() == symmetry.permutation_errors(mlp, mols, torch.float64, CPU).tolist()


# ------------------------------------------------------------------------------------------ Rg experiment
def test_radius_of_gyration_task(ch02):
    mols = _molecules(20)
    task = symmetry.radius_of_gyration_task(ch02, mols, seed=0)
    assert (len(task.train), len(task.val), len(task.test)) == (16, 2, 2)
    assert not any("y" in d for d in mols), "the input molecules were modified"
    assert {id(d) for d in task.train}.isdisjoint(id(d) for d in task.test)
    for d, r in zip(task.test, task.test_rotated):
        assert torch.allclose(g3.radius_of_gyration(r.pos), d.y, atol=1e-5)
        assert not torch.allclose(r.pos, d.pos)
    y = torch.cat([d.y for d in task.train])
    assert task.y_mean == pytest.approx(float(y.mean())) and task.y_std == pytest.approx(float(y.std()))


def test_frame_alignment_is_zero_in_the_principal_axes_frame(ch02):
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(30, 3, generator=gen, dtype=torch.float64) * torch.tensor([3.0, 2.0, 1.0])
    pos = pos - pos.mean(0)
    _, vecs = torch.linalg.eigh(torch.cov(pos.T))
    aligned = Data(pos=pos @ vecs)
    assert symmetry.frame_alignment([aligned]) < 1e-10
    assert symmetry.frame_alignment(symmetry.rotated_copies(ch02, [aligned], seed=0)) > 0.05


def test_rotation_experiment_and_predictions_under_rotation(ch02):
    import types

    task = symmetry.radius_of_gyration_task(ch02, _molecules(20), seed=0)
    cfg = types.SimpleNamespace(epochs=2, batch_size=8, lr=2e-3, mlp_hidden=16, egnn_hidden=8, egnn_layers=1)
    results, histories, models = symmetry.rotation_experiment(ch02, task, cfg, device=CPU)
    assert list(results.index) == list(symmetry.MODEL_NAMES)
    assert {"test MAE (Å)", "rotated test MAE (Å)", "rotated / as stored", "train seconds"} <= set(results.columns)
    assert results[["test MAE (Å)", "rotated test MAE (Å)"]].notna().all().all()
    for name in ("distance model", "EGNN"):
        assert abs(results.loc[name, "rotated test MAE (Å)"] - results.loc[name, "test MAE (Å)"]) < 1e-4
        assert max(histories[name]["inconsistency"]) < 1e-4
    assert all(len(h["val"]) == len(h["val_rotated"]) == len(h["inconsistency"]) == 2 for h in histories.values())
    assert histories["coordinate MLP"]["inconsistency"][-1] > 1e-4
    for h in histories.values():   # per-molecule values at the first and last epoch reproduce the epoch means
        for when, epoch in (("first", 0), ("last", -1)):
            per = h["per_molecule"][when]
            assert set(per) == {"val", "val_rotated", "inconsistency"}
            assert all(len(v) == len(task.val) for v in per.values())
            for key, v in per.items():
                assert float(np.mean(v)) == pytest.approx(h[key][epoch], rel=1e-5)
    assert results.loc["coordinate MLP", "test MAE (Å)"] == pytest.approx(symmetry.mae(models["coordinate MLP"], task.test, task, CPU))
    preds = symmetry.predictions_under_rotation(models, task.test[0], task, [0, 90, 180], device=CPU)
    assert set(preds) == set(models) and all(p.shape == (3,) for p in preds.values())
    assert np.ptp(preds["EGNN"]) < 1e-4 and np.ptp(preds["coordinate MLP"]) > 1e-4


def test_plot_rotation_inconsistency_is_labelled():
    import matplotlib.pyplot as plt

    from molpractice import plots_symmetry

    ax = plots_symmetry.plot_rotation_inconsistency({"mlp": {"inconsistency": [0.1, 0.2]},
                                                     "egnn": {"inconsistency": [0.0, 0.0]}})
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel() and len(ax.lines) == 2
    plt.close("all")
