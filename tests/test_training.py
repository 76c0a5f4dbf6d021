"""``molpractice.training.train_regressor``'s early-stopping criterion (``select_on``), the kept checkpoints
of other criteria (``also_keep``) and the β-NLL loss, on tiny toy graphs (seconds, one thread)."""
import numpy as np
import pytest
import torch

from molpractice import training


def _toy_graphs(n, seed=0):
    """Graphs whose target is a noisy function of their features (noise grows with the first feature)."""
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(n):
        k = int(torch.randint(2, 8, (1,), generator=g))
        x = torch.randn(k, 4, generator=g)
        edge_index = torch.stack([torch.arange(k - 1), torch.arange(1, k)])
        y = 3.0 * x[:, 0].sum() + 5.0 + (0.5 + abs(float(x[0, 0]))) * torch.randn(1, generator=g)
        graphs.append(Data(x=x, edge_index=edge_index, y=y.reshape(1)))
    return graphs


def _model(out_dim=2):
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

    torch.manual_seed(0)
    return M()


TRAIN, VAL = _toy_graphs(120, 0), _toy_graphs(40, 1)
Y_VAL = np.array([float(g.y) for g in VAL])
KW = dict(epochs=25, lr=2e-2, batch_size=32, patience=4, seed=0, device="cpu", progress=False)


def _fit(**kw):
    return training.train_regressor(_model(), TRAIN, VAL, loss="gaussian_nll", **{**KW, **kw})


def test_gaussian_nll_matches_torch():
    rng = np.random.default_rng(0)
    y, mu, var = rng.normal(size=50), rng.normal(size=50), rng.uniform(0.1, 2.0, 50)
    ref = torch.nn.GaussianNLLLoss(full=True, eps=0.0)(torch.tensor(mu), torch.tensor(y), torch.tensor(var))
    assert training.gaussian_nll(y, mu, var) == pytest.approx(float(ref), rel=1e-10)


def test_default_selects_on_rmse_and_records_validation_nll():
    model, hist = _fit()
    assert hist["select_on"] == "rmse"
    assert len(hist["val_nll"]) == len(hist["val_rmse"]) == hist["epochs_run"]
    assert hist["best_val_rmse"] == pytest.approx(min(hist["val_rmse"]))
    mean, var = training.predict(model, VAL)
    assert training.rmse(Y_VAL, mean) == pytest.approx(hist["best_val_rmse"], rel=1e-5)
    assert training.gaussian_nll(Y_VAL, mean, var) == pytest.approx(hist["val_nll"][hist["best_epoch"]], rel=1e-5)
    assert hist["best_val_nll"] == pytest.approx(hist["val_nll"][hist["best_epoch"]])
    assert hist["epochs_run"] - 1 - hist["best_epoch"] == KW["patience"] or hist["epochs_run"] == KW["epochs"]
    _, mse_hist = training.train_regressor(_model(1), TRAIN, VAL, **KW)  # an MSE model has no NLL
    assert "val_nll" not in mse_hist and "best_val_nll" not in mse_hist and mse_hist["select_on"] == "rmse"


def test_select_on_nll_restores_the_best_validation_nll():
    model, hist = _fit(select_on="nll")
    assert hist["select_on"] == "nll"
    assert hist["best_val_nll"] == pytest.approx(min(hist["val_nll"]))
    mean, var = training.predict(model, VAL)
    assert training.gaussian_nll(Y_VAL, mean, var) == pytest.approx(hist["best_val_nll"], rel=1e-5)
    assert hist["best_val_rmse"] == pytest.approx(hist["val_rmse"][hist["best_epoch"]])


@pytest.mark.parametrize("select_on", ["rmse", "nll"])
def test_also_keep_equals_a_separate_run(select_on):
    other = "nll" if select_on == "rmse" else "rmse"
    model, hist = _fit(select_on=select_on, also_keep=(other,))
    solo_model, solo = _fit(select_on=select_on)
    alt_model, alt = _fit(select_on=other)
    assert hist["best_epoch"] == solo["best_epoch"] and hist["epochs_run"] == solo["epochs_run"]
    assert np.allclose(training.predict(model, VAL), training.predict(solo_model, VAL))
    kept = hist["kept"][other]
    assert kept["best_epoch"] == alt["best_epoch"] and kept["epochs_run"] == alt["epochs_run"]
    solo_model.load_state_dict(kept["state_dict"])  # same architecture: the kept weights are the other run's
    assert np.allclose(training.predict(solo_model, VAL), training.predict(alt_model, VAL))
    assert len(hist["val_rmse"]) == max(solo["epochs_run"], alt["epochs_run"])


def test_select_on_errors():
    with pytest.raises(ValueError, match="variance head"):
        training.train_regressor(_model(1), TRAIN, VAL, select_on="nll", **KW)
    with pytest.raises(ValueError, match="'rmse' or 'nll'"):
        _fit(select_on="mae")
    with pytest.raises(ValueError, match="'rmse' or 'nll'"):
        _fit(also_keep=("r2",))


# ------------------------------------------------------------------------------------------- β-NLL
def _loss_inputs():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(50, generator=g, dtype=torch.float64).requires_grad_()
    var = (torch.rand(50, generator=g, dtype=torch.float64) + 0.1).requires_grad_()
    return mean, torch.randn(50, generator=g, dtype=torch.float64), var


def test_beta_zero_is_torch_gaussian_nll():
    mean, target, var = _loss_inputs()
    mean, var = mean.detach(), var.detach()
    ours = training.beta_nll_loss(mean, target, var, 0.0)
    assert ours.item() == pytest.approx(torch.nn.functional.gaussian_nll_loss(mean, target, var).item(), rel=1e-12)


def test_beta_one_gives_the_mean_the_mse_gradient_and_beta_weights_the_variance_gradient():
    mean, target, var = _loss_inputs()
    training.beta_nll_loss(mean, target, var, 1.0).backward()
    assert torch.allclose(mean.grad, (mean - target).detach() / len(mean))  # d/dμ of ½·MSE
    mean, target, var = _loss_inputs()
    training.beta_nll_loss(mean, target, var, 0.0).backward()
    plain = var.grad.clone()
    mean, target, var = _loss_inputs()
    training.beta_nll_loss(mean, target, var, 0.5).backward()
    assert torch.allclose(var.grad, plain * var.detach() ** 0.5)  # the weight is a constant, not differentiated


def test_beta_changes_training_and_is_recorded():
    _, plain = _fit()
    model, hist = _fit(beta=0.5)
    assert hist["beta"] == 0.5 and plain["beta"] == 0.0
    assert hist["train_loss"] != plain["train_loss"]


def test_beta_errors():
    with pytest.raises(ValueError, match="beta"):
        _fit(beta=1.5)
    with pytest.raises(ValueError, match="beta"):
        training.train_regressor(_model(1), TRAIN, VAL, beta=0.5, **KW)


# --------------------------------------------------- pre-collated batches (molpractice.batching)
# The trainers build mini-batches from graphs collated once (batching.GraphLoader) instead of torch_geometric's
# DataLoader; these tests pin that the batches, the random draws and therefore every trained number are
# bit-identical to the DataLoader path, which is kept here as the reference.
import contextlib
import copy

from molpractice import batching


def _pyg_loader(graphs, batch_size, shuffle=False, generator=None):
    from torch_geometric.loader import DataLoader

    return DataLoader(list(graphs), batch_size=batch_size, shuffle=shuffle, generator=generator)


@contextlib.contextmanager
def _reference_path():
    """The trainers as they were: PyG DataLoader batches (re-collated every epoch), deep-copied checkpoints,
    AdamW's per-tensor step and torch's own gradient clipping."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batching, "loader", _pyg_loader)
        mp.setattr(training, "_copy_state", lambda model: copy.deepcopy(model.state_dict()))
        mp.setattr(training, "_FOREACH", False)  # AdamW's default on CPU: one tensor at a time
        mp.setattr(training, "_LEAN", False)  # torch's own clip_grad_norm_ and optimizer step
        yield


@pytest.fixture(scope="module")
def mol_graphs():
    """Chapter-1 graphs (x, edge_index, edge_attr, smiles, y) with descriptors, including bond-free molecules."""
    from molpractice import chem
    from molpractice.graphs import attach_descriptors, build_graphs
    from molpractice.solubility import load_data
    from solutions import ch01_solubility_gnn as ch01

    df, _ = load_data()
    df = df.iloc[::12].reset_index(drop=True)
    smiles = df["smiles"].tolist() + ["C", "[Na+].[Cl-]"]
    y = df["target"].tolist() + [-0.5, 0.5]
    graphs = build_graphs(smiles, y, ch01)
    assert any(g.edge_index.shape[1] == 0 for g in graphs)
    return attach_descriptors(graphs, chem.rdkit_descriptors(smiles), np.arange(len(graphs) // 2))


def _assert_same_value(a, b, key):
    if isinstance(b, torch.Tensor):
        assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), key
        assert a.is_contiguous() == b.is_contiguous(), key
    elif isinstance(b, dict):
        assert a.keys() == b.keys(), key
        for k in b:
            _assert_same_value(a[k], b[k], (key, k))
    else:
        assert a == b, key


def _assert_same_batch(ours, ref):
    assert type(ours) is type(ref)
    assert list(ours.keys()) == list(ref.keys())
    assert ours.num_graphs == ref.num_graphs
    for key in ref.keys():
        _assert_same_value(ours[key], ref[key], key)
    for attr in ("_slice_dict", "_inc_dict"):
        mine, theirs = getattr(ours, attr), getattr(ref, attr)
        assert mine.keys() == theirs.keys()
        for key, b in theirs.items():
            _assert_same_value(mine[key], b, (attr, key))


@pytest.mark.parametrize("which", ["molecules", "toy"])
def test_collated_batches_equal_batch_from_data_list(which, mol_graphs):
    from torch_geometric.data import Batch

    graphs = mol_graphs if which == "molecules" else TRAIN
    data = batching.CollatedGraphs(graphs)
    assert data.fast, data.reason
    g = torch.Generator().manual_seed(3)
    n = len(graphs)
    choices = [torch.randperm(n, generator=g)[:32], torch.arange(n), torch.tensor([n - 1]),
               torch.tensor([n - 1, n - 2, 0]), torch.randperm(n, generator=g)[:7]]
    for idx in choices:
        ours = data.batch(idx)
        _assert_same_batch(ours, Batch.from_data_list([graphs[i] for i in idx.tolist()]))
        for t in ours.to_dict().values():  # fresh tensors: a model writing into a batch cannot touch the graphs
            if isinstance(t, torch.Tensor):
                assert all(t.data_ptr() != s.data_ptr() for s in (data.graphs[0].x, data.graphs[0].edge_index))
    back = data.batch(idx).to_data_list()[0]  # slice and increment records let PyG split the batch again
    assert torch.equal(back.x, graphs[int(idx[0])].x) and torch.equal(back.edge_index, graphs[int(idx[0])].edge_index)


def test_unusual_graphs_fall_back_to_pyg_collation(mol_graphs):
    from torch_geometric.data import Batch

    odd = [copy.copy(g) for g in mol_graphs[:6]]
    for i, g in enumerate(odd):
        g.meta = {"row": i}  # a dict attribute: not handled by the fast path
    data = batching.CollatedGraphs(odd)
    assert not data.fast and "meta" in data.reason
    assert batching.GraphLoader(mol_graphs, 4).on_cpu and not batching.GraphLoader(data, 4).on_cpu  # .to() skipped?
    _assert_same_batch(data.batch([4, 1, 2]), Batch.from_data_list([odd[4], odd[1], odd[2]]))
    scalar = [copy.copy(g) for g in mol_graphs[:5]]
    for i, g in enumerate(scalar):  # a 0-dim target and a plain-int attribute: still collated at once
        g.y, g.n_heavy = g.y.reshape(()), int(g.x.shape[0])
    data = batching.CollatedGraphs(scalar)
    assert data.fast, data.reason
    _assert_same_batch(data.batch([3, 0, 4]), Batch.from_data_list([scalar[3], scalar[0], scalar[4]]))
    mixed = [copy.copy(g) for g in mol_graphs[:4]]
    mixed[2].y = mixed[2].y.double()  # per-graph dtypes: collating them at once would promote the others
    assert not batching.CollatedGraphs(mixed).fast


@pytest.mark.parametrize("shuffle", [True, False])
def test_loader_matches_dataloader_batches_and_random_draws(shuffle, mol_graphs):
    """Same batches in the same order for three epochs, and the same generator states afterwards (the per-epoch
    base seed and randperm draws of torch's DataLoader; the global generator when there is none)."""
    from torch_geometric.loader import DataLoader

    for batch_size in (16, 8, len(mol_graphs)):
        torch.manual_seed(5)
        gen_ref = torch.Generator().manual_seed(1) if shuffle else None
        ref = DataLoader(list(mol_graphs), batch_size=batch_size, shuffle=shuffle, generator=gen_ref)
        ref_batches = [b for _ in range(3) for b in ref]
        ref_state = torch.get_rng_state()
        torch.manual_seed(5)
        gen = torch.Generator().manual_seed(1) if shuffle else None
        ours = batching.GraphLoader(mol_graphs, batch_size, shuffle, gen)
        assert len(ours) == len(ref)
        our_batches = [b for _ in range(3) for b in ours]
        assert len(our_batches) == len(ref_batches)
        for a, b in zip(our_batches, ref_batches):
            _assert_same_batch(a, b)
        assert torch.equal(torch.get_rng_state(), ref_state), "global generator draws differ from DataLoader's"
        if shuffle:
            assert torch.equal(gen.get_state(), gen_ref.get_state()), "shuffling draws differ from DataLoader's"


def _gnn(out_dim, n_desc, seed=0):
    from solutions import ch01_solubility_gnn as ch01

    torch.manual_seed(seed)
    return ch01.SolubilityGNN(ch01.NUM_ATOM_FEATURES, ch01.NUM_BOND_FEATURES, hidden=16, num_layers=2, dropout=0.3,
                              num_descriptors=n_desc, out_dim=out_dim)


def _history_arrays(hist):
    return {k: np.asarray(v) for k, v in hist.items() if isinstance(v, list) and k != "kept"}


def _assert_bit_identical(new, ref):
    assert new.keys() == ref.keys()
    for key in ref:
        assert np.array_equal(new[key], ref[key]), f"{key} differs from the DataLoader path"


@pytest.mark.parametrize("loss", ["mse", "gaussian_nll"])
def test_train_regressor_bit_identical_to_dataloader_path(loss, mol_graphs):
    """MSE and β-NLL models (dropout on, so global-generator draws matter): per-epoch losses, validation scores,
    kept checkpoints and predictions equal the DataLoader path's exactly."""
    tr, va, te = mol_graphs[:60], mol_graphs[60:80], mol_graphs[80:]
    n_desc = tr[0].descriptors.shape[1]
    kw = dict(epochs=6, lr=3e-3, batch_size=16, patience=3, seed=2, device="cpu", progress=False, loss=loss)
    if loss == "gaussian_nll":
        kw.update(beta=0.5, also_keep=("nll",))
    runs = []
    for path in (contextlib.nullcontext, _reference_path):
        with path():
            model, hist = training.train_regressor(_gnn(2 if loss == "gaussian_nll" else 1, n_desc), tr, va, **kw)
            pred = training.predict(model, te)
        out = {**_history_arrays(hist), "best_epoch": hist["best_epoch"]}
        out.update({f"pred{i}": p for i, p in enumerate(pred if isinstance(pred, tuple) else (pred,))})
        for c, k in hist.get("kept", {}).items():
            out.update({f"kept_{c}_{name}": v.numpy() for name, v in k["state_dict"].items()})
        runs.append(out)
    assert len(runs[0]["train_loss"]) == kw["epochs"] or runs[0]["best_epoch"] >= 0
    _assert_bit_identical(*runs)


def test_classifier_and_mc_dropout_bit_identical_to_dataloader_path(mol_graphs):
    from molpractice import ensembles

    tr, va, te = mol_graphs[:60], mol_graphs[60:80], mol_graphs[80:]
    n_desc = tr[0].descriptors.shape[1]
    runs = []
    for path in (contextlib.nullcontext, _reference_path):
        with path():
            model, hist = ensembles.train_classifier(_gnn(1, n_desc), tr, va, -3.0, epochs=5, lr=3e-3,
                                                     batch_size=16, patience=3, seed=1, device="cpu")
            out = {**_history_arrays(hist), "logits": ensembles.predict_logits(model, te)}
            regressor, _ = training.train_regressor(_gnn(2, n_desc), tr, va, epochs=3, batch_size=16, seed=0,
                                                    device="cpu", progress=False, loss="gaussian_nll")
            out["mc_means"], out["mc_vars"] = ensembles.mc_dropout_predict(regressor, te, passes=3, seed=4)
        runs.append(out)
    _assert_bit_identical(*runs)


# --------------------------------------------------- the lean clip + AdamW step (training._Stepper)
def _stepper_run(lean, *, drop_grad_at=None, optimizer="adamw", steps=7):
    """Seven steps of clipping + optimizer on a small GNN; gradients scaled up on odd steps so clipping binds."""
    model = _gnn(1, 0, seed=3)
    params = list(model.parameters())
    if optimizer == "adamw":
        opt = training._optimizer(model, 3e-3, 1e-2)
    else:
        opt = torch.optim.SGD(params, lr=1e-2, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    grads = [[torch.randn(p.shape, generator=g) * (50.0 if k % 2 else 0.1) for p in params] for k in range(steps)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "_LEAN", lean)
        stepper = training._Stepper(model, opt, 10.0)
        for k in range(steps):
            for p, gr in zip(params, grads[k]):
                p.grad = gr.clone()
            if k == drop_grad_at:
                params[0].grad = None  # torch skips this parameter's update (and its step counter)
            stepper.clip()
            stepper.step()
    state = [{key: v.clone() for key, v in opt.state[p].items()} for p in params if p in opt.state]
    return [p.detach().clone() for p in params], state, stepper


@pytest.mark.parametrize("case", [{}, {"drop_grad_at": 3}, {"optimizer": "sgd"}])
def test_lean_step_is_bit_identical_to_torch(case):
    """Parameters and optimizer state after clipped AdamW steps (clipping binding on every other step, weight
    decay on) equal torch's clip_grad_norm_ + AdamW.step bit for bit; a step with a missing gradient and another
    optimizer run torch's own code."""
    ours, our_state, stepper = _stepper_run(True, **case)
    ref, ref_state, _ = _stepper_run(False, **case)
    assert all(torch.equal(a, b) for a, b in zip(ours, ref))
    assert len(our_state) == len(ref_state)
    for a, b in zip(our_state, ref_state):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in b)
    if not case:  # the plain case really took the lean path
        assert stepper._adam is not None
