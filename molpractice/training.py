"""Training and evaluating graph regressors (not an exercise — learners use it).

=======================  =====================================================================
``train_regressor``      mini-batch training on standardised targets, early stopping on
                         validation RMSE (or, for a mean-variance model, validation Gaussian NLL:
                         ``select_on="nll"``), best checkpoint restored; returns ``(model, history)``.
``predict``              predictions in the target's own unit, (n,) — or ``(mean, var)`` for a
                         mean-variance model.
``rmse``, ``mae``, ``r2``, ``gaussian_nll`` and ``regression_metrics``  metric helpers on numpy arrays.
``beta_nll_loss``        the training loss of a mean-variance model (β-NLL; β = 0 is the NLL).
``warmup_cosine``, ``train_epoch``  the schedule and the epoch step every trainer here shares.
``summarize_runs``       one benchmark row (mean ± std over seeds) of repeated runs.
=======================  =====================================================================

Models: any ``torch.nn.Module`` whose ``forward(batch)`` returns (num_graphs,) predictions, or
(num_graphs, 2) = (mean, raw variance) for a mean-variance head (``loss="gaussian_nll"``; the variance is
``softplus(raw) + 1e-6``, in standardised units). Graphs are ``torch_geometric.data.Data`` with ``y`` of
shape (1,).

The target scaling is stored on the model as ``model.target_mean`` / ``model.target_std`` (plain float
attributes), so :func:`predict` can undo it.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Sequence

import numpy as np


# ------------------------------------------------------------------------------------------ metrics
def _pair(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=float).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=float).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_pred has {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("metrics of an empty set are undefined")
    return y_true, y_pred


def rmse(y_true, y_pred) -> float:
    """Root mean squared error, in the target's unit."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error, in the target's unit."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def r2(y_true, y_pred) -> float:
    """Coefficient of determination 1 − SS_res / SS_tot (can be negative; NaN if y_true is constant)."""
    y_true, y_pred = _pair(y_true, y_pred)
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    if ss_tot == 0:
        return float("nan")
    return 1.0 - float(np.sum((y_true - y_pred) ** 2)) / ss_tot


def gaussian_nll(y_true, mean, var) -> float:
    """Mean Gaussian negative log-likelihood of ``y_true`` under N(mean, var), with the ½·log 2π constant
    (in the target's unit: var in unit²)."""
    y_true, mean = _pair(y_true, mean)
    var = np.asarray(var, dtype=float).reshape(-1)
    if var.shape != mean.shape:
        raise ValueError(f"mean has {mean.size} values but var has {var.size}")
    return float(np.mean(0.5 * np.log(2 * np.pi * var) + (y_true - mean) ** 2 / (2 * var)))


def beta_nll_loss(mean, target, var, beta: float = 0.0):
    """β-NLL (Seitzer et al. 2022): mean over the batch of ``var.detach() ** beta · ½(log var + (target −
    mean)² / var)`` — torch tensors of shape (n,), standardised units; ``beta=0`` is PyTorch's
    ``gaussian_nll_loss`` (no ½·log 2π constant), ``beta=1`` gives ``mean`` the gradient of ½·MSE."""
    import torch

    nll = 0.5 * (torch.log(var) + (mean - target) ** 2 / var)
    return torch.mean(nll * var.detach() ** beta) if beta else torch.mean(nll)


def regression_metrics(y_true, y_pred) -> dict:
    """``{"rmse", "mae", "r2"}`` of one set of predictions."""
    return {"rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred), "r2": r2(y_true, y_pred)}


def summarize_runs(model: str, split: str, metrics: list[dict], keys, seconds, sizes) -> dict:
    """One benchmark row for repeated runs (seeds) of a model: ``<key>_mean`` and ``<key>_std`` (ddof=1;
    0 for one run) of each metric in ``keys``, ``n_runs``, ``seconds_per_model`` (mean of ``seconds``) and
    ``n_train``/``n_val``/``n_test`` from ``sizes``."""
    row = {"model": model, "split": split}
    for key in keys:
        vals = np.array([m[key] for m in metrics], dtype=float)
        row[f"{key}_mean"] = float(vals.mean())
        row[f"{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    row["n_runs"] = len(metrics)
    row["seconds_per_model"] = float(np.mean(seconds))
    row["n_train"], row["n_val"], row["n_test"] = (int(s) for s in sizes)
    return row


# ------------------------------------------------------------------------------------------ training
def _targets(graphs, what: str) -> np.ndarray:
    ys = []
    for i, g in enumerate(graphs):
        y = getattr(g, "y", None)
        if y is None:
            raise ValueError(f"{what} graph {i} ({getattr(g, 'smiles', '?')!r}) has no target y")
        ys.append(float(y.reshape(-1)[0]))
    return np.array(ys)


def _split_output(out, loss: str):
    import torch.nn.functional as F

    if loss == "mse":
        if out.dim() != 1:
            raise ValueError(f"loss='mse' needs model outputs of shape (num_graphs,), got {tuple(out.shape)}")
        return out, None
    if out.dim() != 2 or out.shape[1] != 2:
        raise ValueError(f"loss='gaussian_nll' needs outputs (num_graphs, 2) = (mean, raw var), got {tuple(out.shape)}")
    return out[:, 0], F.softplus(out[:, 1]) + 1e-6


def _batches(graphs, batch_size, shuffle, generator=None):
    from . import batching

    return batching.loader(graphs, batch_size, shuffle, generator)


_FOREACH = True  # AdamW's multi-tensor step: the same arithmetic per tensor as the loop, less Python per step


def _optimizer(model, lr: float, weight_decay: float):
    """AdamW over ``model``'s parameters, as every trainer here uses it."""
    import torch

    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=_FOREACH)


def _copy_state(model):
    """A detached copy of ``model.state_dict()`` (what ``copy.deepcopy`` of it gives, without the memo walk)."""
    state = model.state_dict()
    out = type(state)((k, v.detach().clone()) for k, v in state.items())
    if hasattr(state, "_metadata"):
        out._metadata = copy.deepcopy(state._metadata)
    return out


def warmup_cosine(lr: float, epochs: int):
    """The learning-rate schedule of every trainer here: ``epoch -> rate`` (epochs counted from 0), linear
    warm-up to ``lr`` over the first 5 epochs (fewer if ``epochs`` < 5), then cosine decay to ``lr / 20``."""
    warmup = min(5, epochs)

    def lr_at(epoch):
        if epoch < warmup:
            return lr * (epoch + 1) / warmup
        t = (epoch - warmup) / max(1, epochs - warmup)
        return lr / 20 + (lr - lr / 20) * 0.5 * (1 + math.cos(math.pi * t))

    return lr_at


_LEAN = True  # clip + AdamW step through _Stepper (torch's arithmetic without its per-call bookkeeping)


def _plain_tensors(tensors) -> bool:
    """True when ``tensors`` are dense, real tensors (plain or ``nn.Parameter``, no subclass) of one device and
    dtype: what torch's foreach paths treat as one group, in order."""
    import torch

    first = tensors[0]
    return all(type(t) in (torch.Tensor, torch.nn.Parameter) and t.layout == torch.strided and not t.is_complex()
               and t.dtype == first.dtype and t.device == first.device for t in tensors)


class _Stepper:
    """The bookkeeping of one training step — ``opt.zero_grad()``, ``clip_grad_norm_(params, max_norm)``,
    ``opt.step()`` — bit-identical to torch's, with less Python per step.

    Profiled on a chapter-1 GNN (42 parameter tensors), torch's AdamW ``step`` spent about two thirds of its
    time in per-call bookkeeping (regrouping the parameters and reading each step counter back with
    ``.item()``), and ``clip_grad_norm_`` multiplied every gradient by the clipping factor even when it is
    clamped to exactly 1. Here the foreach AdamW update runs the same ``torch._foreach_*`` calls on lists built
    once, and clipping multiplies only when the factor is below 1 (``x * 1.0 == x`` for every float, so
    nothing changes); ``zero_grad`` sets the gradients to None as torch's default does, without its profiler
    record. Anything but the plain case — another optimizer or option, hooks, a parameter without
    a gradient, mixed dtypes or devices — runs torch's own code. ``_LEAN = False`` switches this off.
    """

    def __init__(self, model, opt, max_norm: float):
        self.params = list(model.parameters())
        self.opt, self.max_norm = opt, float(max_norm)
        self.plain = bool(self.params) and _plain_tensors(self.params)
        self._adam = None  # (params, exp_avgs, exp_avg_sqs, steps) once the optimizer's state exists
        self._grads_plain = None  # checked on the first clip: plain torch.Tensor gradients, one device and dtype
        import torch

        # Optimizer.zero_grad() (set_to_none=True, torch's default) sets these gradients to None
        self._opt_params = ([p for group in opt.param_groups for p in group["params"]]
                            if type(opt).zero_grad is torch.optim.Optimizer.zero_grad else None)

    def zero_grad(self):
        if not _LEAN or self._opt_params is None:
            self.opt.zero_grad()
            return
        for p in self._opt_params:
            p.grad = None

    def clip(self):
        import torch

        grads = [p.grad for p in self.params if p.grad is not None]
        if self._grads_plain is None and grads:
            self._grads_plain = _plain_tensors(grads) and all(type(g) is torch.Tensor for g in grads)
        if not (_LEAN and self.plain and self._grads_plain and len(grads) == len(self.params)):
            torch.nn.utils.clip_grad_norm_(self.params, self.max_norm)
            return
        with torch.no_grad():  # torch.nn.utils.clip_grad_norm_, same calls in the same order
            total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
            coef = self.max_norm / (total + 1e-6)
            if not bool(coef >= 1.0):  # torch multiplies by clamp(coef, max=1.0); 1.0 leaves grads unchanged
                torch._foreach_mul_(grads, torch.clamp(coef, max=1.0))

    def _adam_lists(self):
        """The foreach AdamW's lists, or None when this is not the plain case ``step`` reproduces."""
        import torch
        from torch.optim import optimizer as optim_mod

        opt = self.opt
        if type(opt) is not torch.optim.AdamW or len(opt.param_groups) != 1 or not self.plain:
            return None
        group = opt.param_groups[0]
        if (not group.get("foreach") or group.get("fused") or group.get("amsgrad") or group.get("maximize")
                or group.get("capturable") or group.get("differentiable")
                or not group.get("decoupled_weight_decay", True)
                or len(group["params"]) != len(self.params)
                or any(a is not b for a, b in zip(group["params"], self.params)) or opt._optimizer_step_pre_hooks
                or opt._optimizer_step_post_hooks or optim_mod._global_optimizer_pre_hooks
                or optim_mod._global_optimizer_post_hooks):
            return None
        states = [opt.state.get(p, {}) for p in self.params]
        if any("step" not in s for s in states):
            return None  # torch's step creates the state on the first call
        steps = [s["step"] for s in states]
        if any(not t.is_cpu for t in steps) or len({float(t) for t in steps}) != 1:
            return None
        return self.params, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], steps

    def step(self):
        import torch

        opt = self.opt
        if _LEAN and self._adam is None:
            self._adam = self._adam_lists()
        group = opt.param_groups[0]
        params = self.params
        grads = [p.grad for p in params]
        if (not _LEAN or self._adam is None or not self._grads_plain or any(g is None for g in grads)
                or any(isinstance(group[k], torch.Tensor) for k in ("lr", "betas", "eps", "weight_decay"))
                or any(isinstance(b, torch.Tensor) for b in group["betas"])):
            self._adam = None  # re-checked next step (torch's step may skip parameters without gradients)
            opt.step()
            return
        _, exp_avgs, exp_avg_sqs, steps = self._adam
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        n = len(params)
        with torch.no_grad():  # torch.optim.adam._multi_tensor_adam (capturable=False), same calls and scalars
            torch._foreach_add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
            if weight_decay != 0:
                torch._foreach_mul_(params, 1 - lr * weight_decay)
            torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
            t = steps[0].item()  # every counter holds the same value (checked when the lists were built)
            step_size = (lr / (1 - beta1 ** t)) * -1
            bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5
            denom = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_div_(denom, [bias_correction2_sqrt] * n)
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, exp_avgs, denom, [step_size] * n)


def train_epoch(model, loader, opt, batch_loss, device) -> float:
    """One pass of ``opt`` over ``loader`` in train mode: ``batch_loss(batch)`` (a scalar tensor) per batch,
    gradients clipped to norm 10; batches of one graph are skipped (batch norm needs two). Returns the
    mean loss per graph."""
    import torch

    model.train()
    stepper = _Stepper(model, opt, 10.0)
    # moving a batch that is on the CPU already to the CPU changes nothing: skip PyG's per-attribute walk
    move = not (_LEAN and torch.device(device).type == "cpu" and getattr(loader, "on_cpu", False))
    total, count = 0.0, 0
    for batch in loader:
        if batch.num_graphs < 2:
            continue
        if move:
            batch = batch.to(device)
        loss = batch_loss(batch)
        stepper.zero_grad()
        loss.backward()
        stepper.clip()
        stepper.step()
        total += float(loss.detach()) * batch.num_graphs
        count += batch.num_graphs
    return total / max(count, 1)


def train_regressor(model, train_graphs: Sequence, val_graphs: Sequence, *, epochs: int = 200, lr: float = 1e-3,
                    batch_size: int = 32, patience: int = 30, seed: int = 0, device=None,
                    weight_decay: float = 1e-5, loss: str = "mse", min_epochs: int = 0,
                    progress: bool = True, max_seconds: float | None = None, select_on: str = "rmse",
                    also_keep: Sequence[str] = (), beta: float = 0.0):
    """Train ``model`` on graphs with standardised targets; keep the epoch with the best validation score.

    Schedule: AdamW at ``lr`` with a linear warm-up over the first 5 epochs, then cosine decay to
    ``lr / 20`` over ``epochs``. After each epoch the validation RMSE (in the target's unit) is
    measured — and, for a mean-variance model, the validation Gaussian NLL (target unit, with the
    ½·log 2π constant); training stops when the ``select_on`` score has not improved for ``patience``
    epochs (never before ``min_epochs``), or after ``max_seconds`` of wall time, and the weights of its
    best epoch are restored.

    Args:
        model: the module to train (modified in place and returned).
        train_graphs, val_graphs: sequences of ``Data`` with ``y`` (1,).
        epochs: maximum epochs; lr: peak learning rate; batch_size: graphs per step.
        patience: epochs without validation improvement before stopping.
        seed: seeds Python, NumPy and torch (initial weights are NOT re-drawn: seed before building
            the model, e.g. with ``mp.seed_everything``) and the batch shuffling.
        device: ``torch.device``; default ``molpractice.get_device()``.
        loss: ``"mse"`` (outputs (n,)) or ``"gaussian_nll"`` (outputs (n, 2) = mean, raw variance).
        progress: show a tqdm bar (set False in scripts and tests).
        select_on: ``"rmse"`` (default; validation RMSE of the mean) or ``"nll"`` (validation Gaussian NLL,
            the quantity a mean-variance model optimises; needs ``loss="gaussian_nll"``).
        also_keep: other criteria (``"rmse"``/``"nll"``) whose best checkpoints are also kept, each under
            its own early-stopping rule: training runs until every criterion has stopped, and a criterion's
            best epoch is frozen once it would have stopped — so the kept weights are those a separate
            run with ``select_on=`` that criterion and the same seed would restore (without
            ``max_seconds``), at the cost of one training run. Used to compare criteria on validation.
        beta: ``loss="gaussian_nll"`` only — the β of β-NLL (Seitzer et al. 2022): each molecule's NLL term
            is weighted by its predicted variance to the power β, treated as a constant (no gradient).
            ``0`` is the plain Gaussian NLL; ``1`` gives the mean the gradient of the MSE; in between
            (0.5 is the paper's default) keeps hard molecules from being explained away as noise.
    Returns:
        ``(model, history)``: ``model`` in eval mode on ``device`` with the best weights and
        ``target_mean`` / ``target_std`` attributes; ``history`` is a dict with lists ``train_loss``
        (standardised units), ``val_rmse`` (target unit), ``val_nll`` (only for a mean-variance model),
        ``lr``, and ``select_on``, ``beta``, ``best_epoch``, ``best_val_rmse`` (validation RMSE at ``best_epoch``,
        the minimum when ``select_on="rmse"``), ``best_val_nll`` (mean-variance model), ``epochs_run``,
        ``seconds``, ``target_mean``, ``target_std``; with ``also_keep`` also ``kept`` =
        ``{criterion: {"best_epoch", "best_val_rmse", "best_val_nll", "epochs_run", "state_dict"}}``
        (``epochs_run``: when that criterion alone would have stopped).
    Raises:
        ValueError: on empty sets, a graph without ``y``, or bad hyper-parameters (also ``select_on="nll"``
            without a variance head).
    """
    import torch

    from .runtime import get_device, seed_everything

    if len(train_graphs) == 0 or len(val_graphs) == 0:
        raise ValueError(f"need non-empty train and validation sets, got {len(train_graphs)} and {len(val_graphs)}")
    if epochs <= 0 or batch_size <= 0 or patience <= 0 or lr <= 0:
        raise ValueError(f"epochs, batch_size, patience and lr must be positive; got {epochs}, {batch_size}, "
                         f"{patience}, {lr}")
    if loss not in ("mse", "gaussian_nll"):
        raise ValueError(f"loss must be 'mse' or 'gaussian_nll', got {loss!r}")
    if not 0.0 <= float(beta) <= 1.0 or (beta and loss != "gaussian_nll"):
        raise ValueError(f"beta must be in [0, 1] and needs loss='gaussian_nll'; got beta={beta!r}, loss={loss!r}")
    criteria = [select_on] + [c for c in also_keep if c != select_on]
    for c in criteria:
        if c not in ("rmse", "nll"):
            raise ValueError(f"select_on / also_keep must be 'rmse' or 'nll', got {c!r}")
        if c == "nll" and loss != "gaussian_nll":
            raise ValueError("selecting on validation NLL needs a variance head (loss='gaussian_nll')")
    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    y_train = _targets(train_graphs, "training")
    _targets(val_graphs, "validation")
    y_mean, y_std = float(y_train.mean()), float(y_train.std()) or 1.0
    model.target_mean, model.target_std = y_mean, y_std
    model.to(device)

    gen = torch.Generator().manual_seed(seed)
    train_loader = _batches(train_graphs, batch_size, True, gen)
    opt = _optimizer(model, lr, weight_decay)
    lr_at = warmup_cosine(lr, epochs)

    def batch_loss(batch):
        target = (batch.y.reshape(-1) - y_mean) / y_std
        mean, var = _split_output(model(batch), loss)
        return torch.mean((mean - target) ** 2) if var is None else beta_nll_loss(mean, target, var, beta)

    history = {"train_loss": [], "val_rmse": [], "lr": []}
    if loss == "gaussian_nll":
        history["val_nll"] = []
    y_val = _targets(val_graphs, "validation")
    val_loader = _batches(val_graphs, 256, False)  # collated once, iterated every epoch
    # per criterion: best score, its epoch and weights, and whether it would have stopped already
    track = {c: {"best": float("inf"), "best_epoch": -1, "state": None, "stopped": False, "epochs_run": 0}
             for c in criteria}
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="training", leave=False)
    try:
        for epoch in range(epochs):
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch)
            train_loss = train_epoch(model, train_loader, opt, batch_loss, device)
            val_pred = _predict_batches(model, val_loader, device)
            scores = {}
            if isinstance(val_pred, tuple):
                scores["nll"] = gaussian_nll(y_val, *val_pred)
                history["val_nll"].append(scores["nll"])
                val_pred = val_pred[0]
            val_rmse = scores["rmse"] = rmse(y_val, val_pred)
            history["train_loss"].append(train_loss)
            history["val_rmse"].append(val_rmse)
            history["lr"].append(lr_at(epoch))
            for c, t in track.items():
                if t["stopped"]:
                    continue
                t["epochs_run"] = epoch + 1
                if scores[c] < t["best"]:
                    t["best"], t["best_epoch"] = scores[c], epoch
                    t["state"] = _copy_state(model)
                if epoch + 1 >= min_epochs and epoch - t["best_epoch"] >= patience:
                    t["stopped"] = True
            if bar is not None:
                bar.update(1)
                bar.set_postfix(**{f"val_{select_on}": f"{scores[select_on]:.3f}",
                                   "best": f"{track[select_on]['best']:.3f}"})
            if all(t["stopped"] for t in track.values()):
                break
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                break
    finally:
        if bar is not None:
            bar.close()
    def summary(t):
        out = {"best_epoch": t["best_epoch"], "best_val_rmse": history["val_rmse"][t["best_epoch"]]}
        if "val_nll" in history:
            out["best_val_nll"] = history["val_nll"][t["best_epoch"]]
        return out

    chosen = track[select_on]
    model.load_state_dict(chosen["state"])
    model.eval()
    history.update(select_on=select_on, beta=float(beta), **summary(chosen),
                   epochs_run=chosen["epochs_run"],
                   seconds=time.perf_counter() - start, target_mean=y_mean, target_std=y_std)
    if also_keep:
        history["kept"] = {c: {**summary(t), "epochs_run": t["epochs_run"], "state_dict": t["state"]}
                           for c, t in track.items()}
    return model, history


def predict(model, graphs: Sequence, *, device=None, batch_size: int = 256):
    """Predictions of a model trained by :func:`train_regressor`, in the target's own unit.

    Args:
        graphs: a sequence of ``Data`` (or a :class:`molpractice.batching.CollatedGraphs`, reused as is).
    Returns:
        (n,) numpy array; for a (mean, raw variance) model, ``(mean, var)`` with ``var`` in the target's
        unit squared. Order follows ``graphs``. The model is put in eval mode.
    """
    import torch

    from .runtime import get_device

    if len(graphs) == 0:
        return np.zeros(0)
    device = torch.device(device) if device is not None else next(model.parameters()).device \
        if any(True for _ in model.parameters()) else get_device()
    return _predict_batches(model, _batches(graphs, batch_size, False), device)


def _predict_batches(model, loader, device):
    """:func:`predict` over the batches of ``loader`` (eval mode, no gradients)."""
    import torch

    y_mean = getattr(model, "target_mean", 0.0)
    y_std = getattr(model, "target_std", 1.0)
    model.eval()
    means, variances = [], []
    with torch.no_grad():
        for batch in loader:
            out = model(batch.to(device))
            if out.dim() == 2 and out.shape[1] == 2:
                mean, var = _split_output(out, "gaussian_nll")
                variances.append(var.cpu().numpy() * y_std**2)
            else:
                mean = out.reshape(-1)
            means.append(mean.cpu().numpy() * y_std + y_mean)
    mean = np.concatenate(means).astype(float)
    if variances:
        return mean, np.concatenate(variances).astype(float)
    return mean
