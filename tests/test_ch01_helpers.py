"""Unit tests of the chapter-1 helpers: molpractice.chem, molpractice.training, molpractice.plots."""
import numpy as np
import pandas as pd
import pytest


# ------------------------------------------------------------------------------------------------ chem
def test_canonical_smiles_and_invalid_row_named():
    from molpractice import chem

    assert chem.canonical_smiles("OCC") == chem.canonical_smiles("C(O)C") == "CCO"
    with pytest.raises(ValueError, match="C1CC"):
        chem.canonical_smiles("C1CC")
    with pytest.raises(ValueError, match="row 1"):
        chem.morgan_fingerprints(["CCO", "C1CC"])


def test_standardized_smiles_merges_tautomers_and_charge_states():
    from molpractice import chem

    # 2-hydroxypyridine and 2-pyridone: one compound, two SMILES, two different RDKit Murcko scaffolds
    assert chem.canonical_smiles("Oc1ccccn1") != chem.canonical_smiles("O=c1cccc[nH]1")
    assert chem.standardized_smiles("Oc1ccccn1") == chem.standardized_smiles("O=c1cccc[nH]1")
    assert chem.standardized_smiles("CC(=O)[O-]") == chem.standardized_smiles("CC(=O)O") == "CC(=O)O"
    assert chem.standardized_smiles("C[NH3+].[Cl-]") == "CN"
    with pytest.raises(ValueError, match="C1CC"):
        chem.standardized_smiles("C1CC")


def test_merge_duplicates_averages_and_reports_spread():
    from molpractice import chem

    df = pd.DataFrame({"smiles": ["CCO", "OCC", "c1ccccc1", "C(O)C", "CCC"],
                       "target": [1.0, 2.0, -1.0, 3.0, 0.5], "split": ["a", "b", "c", "d", "e"]})
    merged, groups = chem.merge_duplicates(df)
    assert len(merged) == 3
    ethanol = merged.set_index("smiles").loc["CCO"]
    assert ethanol["target"] == pytest.approx(2.0) and ethanol["n_measurements"] == 3
    assert ethanol["split"] == "a"  # first row's other columns are kept
    assert len(groups) == 1
    g = groups.iloc[0]
    assert g["n_measurements"] == 3 and g["target_range"] == pytest.approx(2.0) and g["rows"] == [0, 1, 3]
    with pytest.raises(ValueError, match="row 1"):
        chem.merge_duplicates(pd.DataFrame({"smiles": ["C", "CC"], "target": [1.0, "x"]}))


def test_morgan_fingerprints_bits_counts_and_oracle():
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    from molpractice import chem

    smiles = ["CCO", "c1ccccc1O", "CCCCCCCC"]
    bits = chem.morgan_fingerprints(smiles, radius=2, n_bits=1024)
    counts = chem.morgan_fingerprints(smiles, radius=2, n_bits=1024, counts=True)
    assert bits.shape == counts.shape == (3, 1024) and bits.dtype == np.float32
    assert set(np.unique(bits)) <= {0.0, 1.0}
    assert np.array_equal(bits, (counts > 0).astype(np.float32))
    assert counts[2].max() > 1  # octane repeats CH2 environments
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    want = np.array(list(gen.GetFingerprint(Chem.MolFromSmiles("c1ccccc1O"))), dtype=np.float32)
    assert np.array_equal(bits[1], want)


def test_rdkit_descriptors_values():
    from rdkit.Chem import Crippen, Descriptors, MolFromSmiles

    from molpractice import chem

    d = chem.rdkit_descriptors(["CCO", "c1ccccc1"])
    assert d.shape == (2, len(chem.DESCRIPTOR_NAMES))
    benz = MolFromSmiles("c1ccccc1")
    assert d[1, 0] == pytest.approx(Crippen.MolLogP(benz), rel=1e-5)
    assert d[1, 1] == pytest.approx(Descriptors.MolWt(benz), rel=1e-5)
    assert d[1, 2] == 6
    with pytest.raises(ValueError, match="NoSuchDescriptor"):
        chem.rdkit_descriptors(["C"], names=["NoSuchDescriptor"])


# ------------------------------------------------------------------------------------------------ training
def test_metrics_against_sklearn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    from molpractice import training

    rng = np.random.default_rng(0)
    y, p = rng.normal(size=50), rng.normal(size=50)
    assert training.rmse(y, p) == pytest.approx(np.sqrt(mean_squared_error(y, p)))
    assert training.mae(y, p) == pytest.approx(mean_absolute_error(y, p))
    assert training.r2(y, p) == pytest.approx(r2_score(y, p))
    with pytest.raises(ValueError):
        training.rmse([1, 2], [1])


def _toy_graphs(n, seed=0):
    """Graphs whose target is a simple function of their features (learnable)."""
    import torch
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(n):
        k = int(torch.randint(2, 8, (1,), generator=g))
        x = torch.randn(k, 4, generator=g)
        src = torch.arange(k - 1)
        edge_index = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])
        y = 3.0 * x[:, 0].sum() + 5.0
        graphs.append(Data(x=x, edge_index=edge_index, y=y.reshape(1)))
    return graphs


class _SumModel:
    """Factory for a tiny sum-pooling model (no torch at import)."""

    def __new__(cls, out_dim=1):
        import torch
        from torch_geometric.nn import global_add_pool

        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = torch.nn.Linear(4, 16)
                self.out = torch.nn.Linear(16, out_dim)

            def forward(self, data):
                h = global_add_pool(torch.relu(self.lin(data.x)), data.batch, size=data.num_graphs)
                o = self.out(h)
                return o.squeeze(-1) if out_dim == 1 else o

        return M()


def test_train_regressor_learns_restores_best_and_is_seeded():
    import torch

    from molpractice import training

    train, val = _toy_graphs(200, 0), _toy_graphs(60, 1)
    y_val = np.array([float(g.y) for g in val])
    baseline = training.rmse(y_val, np.full_like(y_val, np.mean([float(g.y) for g in train])))
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = _SumModel()
        model, hist = training.train_regressor(model, train, val, epochs=30, lr=1e-2, batch_size=32, patience=30,
                                               seed=3, device="cpu", progress=False)
        pred = training.predict(model, val)
        results.append(pred)
        assert pred.shape == (60,)
        assert hist["best_val_rmse"] == pytest.approx(min(hist["val_rmse"]))
        assert training.rmse(y_val, pred) == pytest.approx(hist["best_val_rmse"], rel=1e-5)  # best restored
        assert hist["best_val_rmse"] < 0.5 * baseline, (hist["best_val_rmse"], baseline)
        assert model.target_mean == pytest.approx(np.mean([float(g.y) for g in train]))
    assert np.allclose(results[0], results[1]), "same seeds must give the same model"


def test_train_regressor_early_stopping_and_errors():
    import torch

    from molpractice import training

    train, val = _toy_graphs(40, 0), _toy_graphs(20, 1)
    torch.manual_seed(0)
    model, hist = training.train_regressor(_SumModel(), train, val, epochs=200, lr=0.5, patience=3, seed=0,
                                           device="cpu", progress=False)
    assert hist["epochs_run"] < 200 and hist["epochs_run"] - 1 - hist["best_epoch"] == 3
    with pytest.raises(ValueError, match="non-empty"):
        training.train_regressor(_SumModel(), train, [], epochs=2, progress=False)
    bad = _toy_graphs(3)
    del bad[1].y
    with pytest.raises(ValueError, match="graph 1"):
        training.train_regressor(_SumModel(), bad, val, epochs=2, progress=False)


def test_mean_variance_head_predicts_mean_and_variance():
    import torch

    from molpractice import training

    train, val = _toy_graphs(100, 0), _toy_graphs(30, 1)
    torch.manual_seed(0)
    model, _ = training.train_regressor(_SumModel(out_dim=2), train, val, epochs=10, lr=1e-2, patience=10, seed=0,
                                        device="cpu", loss="gaussian_nll", progress=False)
    mean, var = training.predict(model, val)
    assert mean.shape == var.shape == (30,) and np.all(var > 0)


# ------------------------------------------------------------------------------------------------ plots
def test_plots_titles_labels_and_validation():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from molpractice import plots

    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    ax = plots.plot_parity(y, {"a": y + 0.1, "b": y - 0.2})
    assert ax.get_title() and "log10(mol/L)" in ax.get_xlabel() and "log10(mol/L)" in ax.get_ylabel()
    assert len(ax.collections) == 2
    with pytest.raises(ValueError, match="series 'a'"):
        plots.plot_parity(y, {"a": y[:3]})
    ax = plots.plot_similarity_histograms({"random": rng.uniform(size=30), "scaffold": rng.uniform(size=30)})
    assert ax.get_title() and "Tanimoto" in ax.get_xlabel()
    ax = plots.plot_error_by_similarity(rng.uniform(size=40), {"m1": np.abs(y), "m2": np.abs(y) / 2})
    assert ax.get_title() and "error" in ax.get_ylabel()
    anchor = ax.get_legend().get_bbox_to_anchor().transformed(ax.transAxes.inverted())
    assert anchor.y1 <= 0, "the legend sits below the axes, covering no bar"
    ax = plots.plot_scaffold_group_sizes([5, 1, 1, 30, 2])
    assert "5 scaffolds" in ax.get_title() and "2 singletons" in ax.get_title()
    ax = plots.plot_training_curves({"s0": {"val_rmse": [1.0, 0.8, 0.9], "best_epoch": 1}})
    assert ax.get_ylabel().startswith("validation RMSE")
    plt.close("all")
