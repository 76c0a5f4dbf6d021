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
