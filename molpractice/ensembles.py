"""Deep ensembles of the solubility GNN: mean–variance regressors, plain (MSE) regressors, classifiers,
MC dropout, their metrics, recalibration and the ``molpractice bench ch03`` benchmark.

Every function receives the chapter modules it runs (``chapter1`` for the GNN, featuriser and scaffold
split; ``chapter3`` for the NLL, ECEs and recalibration fits) — the learner's or the reference, from
``mp.load_chapter(...)`` — and never imports them itself.

Protocol (the notebook and the benchmark follow it):

* data: chapter 1's merged solubility set; splits: chapter 1's random split and deterministic scaffold
  split (80/10/10), see :mod:`molpractice.splits`;
* every choice is made without the test part: the mean–variance members' recipe (β of the β-NLL loss and
  their early-stopping criterion) by cross-validation inside the scaffold training part (``RECIPE_RULE``,
  ``RECIPE_EVIDENCE``, ``molpractice bench ch03 --recipes``) — the 127 validation molecules are too few to
  tell recipes apart on error ranking —; early stopping (validation RMSE for the mean–variance and MSE
  regressors, validation log loss for classifiers), the variance scale s² and the temperature T on the
  **validation** part; the class threshold is fixed in advance from the assay, and only the training part
  is used to report its class balance; the test part is scored once per reported configuration;
* architecture and optimiser: ``SETTINGS`` — chapter 1's GNN with the dropout (0.2) and descriptor
  readout that ``molpractice.solubility.select_gnn_settings`` chose on the scaffold validation part; the
  same for every head, so the heads are compared like for like.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from .runtime import RunSettings, run_mode

SETTINGS = RunSettings(
    full=dict(members=5, epochs=60, patience=25, select_on="rmse", beta=0.5, hidden=128, num_layers=4, lr=1e-3,
              batch_size=32,
              weight_decay=1e-5, dropout=0.2, use_descriptors=True, threshold=-4.0, mc_passes=20,
              n_levels=100, n_bins=15, n_boot=2000),
    fast=dict(members=2, epochs=4, patience=4, select_on="rmse", beta=0.5, hidden=64, num_layers=3, lr=1e-3,
              batch_size=32,
              weight_decay=1e-5, dropout=0.2, use_descriptors=True, threshold=-4.0, mc_passes=5,
              n_levels=100, n_bins=15, n_boot=200),
    doc=dict(members="ensemble members (one seed each: 0, 1, …)",
             epochs="maximum epochs per model (early stopping on validation)",
             patience="epochs without validation improvement before stopping",
             select_on="early-stopping criterion of the mean–variance members: 'rmse' (validation RMSE of the "
                       "mean) or 'nll' (validation Gaussian NLL); with beta, chosen by RECIPE_RULE on cross-validation "
                       "inside the scaffold training part (RECIPE_EVIDENCE), never on a test part",
             beta="β of the β-NLL loss of the mean–variance members (0 = plain Gaussian NLL; Seitzer et al. 2022); "
                  "chosen with select_on by RECIPE_RULE (RECIPE_EVIDENCE)",
             hidden="GNN hidden width", num_layers="message-passing layers", lr="peak learning rate (AdamW)",
             batch_size="graphs per step", weight_decay="AdamW weight decay",
             dropout="dropout in the GNN head (also what MC dropout samples)",
             use_descriptors="logP, MW and heavy-atom count join the pooled graph vector (chapter 1's readout)",
             threshold="'soluble' means logS > threshold [log10 mol/L]; −4 = 100 µM, fixed from the assay",
             mc_passes="stochastic forward passes of MC dropout",
             n_levels="confidence levels of the regression ECE", n_bins="equal-width bins of the classification ECE",
             n_boot="bootstrap resamples of the test molecules"),
)
SPLITS = ("scaffold", "random")
CRITERIA = ("rmse", "nll")
HEADS = ("gaussian", "mse", "classifier")


# ------------------------------------------------------------------------------------------- data
@dataclasses.dataclass
class SplitData:
    """One split of the data, ready for training: graphs (descriptors standardised with the training
    part), targets and SMILES per part (``"train"``, ``"val"``, ``"test"``), and the positions in the
    full data set."""

    name: str
    index: dict
    graphs: dict
    y: dict
    smiles: dict

    def sizes(self) -> tuple:
        return tuple(len(self.index[p]) for p in ("train", "val", "test"))


def prepare_splits(chapter1, df, splits=SPLITS, use_descriptors: bool | None = None, graphs=None) -> dict:
    """``{split name: SplitData}`` for chapter 1's random and scaffold splits of ``df``.

    Args:
        chapter1: module with ``mol_to_graph``, ``scaffold_split`` (learner's or reference).
        df: one row per molecule with ``smiles`` and ``target`` (``molpractice.solubility.load_data()``).
        use_descriptors: attach the standardised descriptors (default ``SETTINGS``).
        graphs: already built graphs of ``df`` (optional; built with ``chapter1.mol_to_graph`` otherwise).
    """
    from . import chem
    from .graphs import attach_descriptors, build_graphs
    from .splits import make_splits

    cfg = SETTINGS.current()
    use_descriptors = cfg.use_descriptors if use_descriptors is None else use_descriptors
    smiles = df["smiles"].tolist()
    y = df["target"].to_numpy(dtype=float)
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; choose from {SPLITS}")
    graphs = build_graphs(smiles, y, chapter1) if graphs is None else graphs
    desc = chem.rdkit_descriptors(smiles) if use_descriptors else None
    all_splits = make_splits(smiles, chapter1)
    out = {}
    for name in splits:
        tr, va, te = all_splits[name]
        g = attach_descriptors(graphs, desc, tr) if use_descriptors else graphs
        index = {"train": tr, "val": va, "test": te}
        out[name] = SplitData(name, index, {p: [g[i] for i in idx] for p, idx in index.items()},
                              {p: y[idx] for p, idx in index.items()},
                              {p: [smiles[i] for i in idx] for p, idx in index.items()})
    return out


def labels_above(y, threshold: float) -> np.ndarray:
    """Binary labels ``1`` where ``y > threshold`` (e.g. logS above the solubility cut-off), else ``0``."""
    return (np.asarray(y, dtype=float) > threshold).astype(np.int64)


# ------------------------------------------------------------------------------------------- training
def _settings(overrides):
    cfg = dict(vars(SETTINGS.current()))
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update(overrides)
    return cfg


def _build_model(chapter1, train_graphs, cfg, out_dim):
    n_desc = int(train_graphs[0].descriptors.shape[-1]) if cfg["use_descriptors"] else 0
    return chapter1.SolubilityGNN(chapter1.NUM_ATOM_FEATURES, chapter1.NUM_BOND_FEATURES, hidden=cfg["hidden"],
                                  num_layers=cfg["num_layers"], dropout=cfg["dropout"], num_descriptors=n_desc,
                                  out_dim=out_dim)


def train_classifier(model, train_graphs, val_graphs, threshold: float, *, epochs: int, lr: float, batch_size: int,
                     patience: int, seed: int = 0, weight_decay: float = 1e-5, device=None, max_seconds=None):
    """Train a one-logit GNN on the labels ``y > threshold`` with binary cross-entropy.

    Same schedule as :func:`molpractice.training.train_regressor` (AdamW, 5-epoch warm-up, cosine decay to
    lr/20); after every epoch the validation log loss is measured, and training stops when it has not
    improved for ``patience`` epochs; the best weights are restored.

    Returns:
        ``(model, history)``: the model in eval mode; ``history`` with ``train_loss``, ``val_loss`` (lists),
        ``best_epoch``, ``best_val_loss``, ``epochs_run``, ``seconds``.
    Raises:
        ValueError: for empty sets or a training part holding only one class.
    """
    import torch

    from . import batching
    from .runtime import get_device, seed_everything
    from .training import _copy_state, _optimizer, train_epoch, warmup_cosine

    if not train_graphs or not val_graphs:
        raise ValueError("need non-empty training and validation graphs")
    labels = labels_above([float(g.y.reshape(-1)[0]) for g in train_graphs], threshold)
    if labels.min() == labels.max():
        raise ValueError(f"every training molecule is on one side of the threshold {threshold}")
    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    model.to(device)
    loader = batching.loader(train_graphs, batch_size, True, torch.Generator().manual_seed(seed))
    val_set = batching.collated(val_graphs)  # once, predicted every epoch
    opt = _optimizer(model, lr, weight_decay)
    lr_at = warmup_cosine(lr, epochs)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    val_labels = torch.tensor(labels_above([float(g.y.reshape(-1)[0]) for g in val_graphs], threshold),
                              dtype=torch.float32)

    def batch_loss(batch):
        return bce(model(batch).reshape(-1), (batch.y.reshape(-1) > threshold).float())

    history = {"train_loss": [], "val_loss": []}
    best, best_epoch, best_state = float("inf"), -1, None
    start = time.perf_counter()
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = lr_at(epoch)
        history["train_loss"].append(train_epoch(model, loader, opt, batch_loss, device))
        val_loss = float(bce(torch.from_numpy(predict_logits(model, val_set)).float(), val_labels))
        history["val_loss"].append(val_loss)
        if val_loss < best:
            best, best_epoch, best_state = val_loss, epoch, _copy_state(model)
        if epoch - best_epoch >= patience or (max_seconds is not None and time.perf_counter() - start > max_seconds):
            break
    model.load_state_dict(best_state)
    model.eval()
    history.update(best_epoch=best_epoch, best_val_loss=best, epochs_run=len(history["val_loss"]),
                   seconds=time.perf_counter() - start)
    return model, history


def predict_logits(model, graphs, batch_size: int = 256) -> np.ndarray:
    """(n,) logits of a one-logit model, in the order of ``graphs`` (eval mode; ``graphs`` may be a
    ``molpractice.batching.CollatedGraphs``)."""
    import torch

    from . import batching

    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for batch in batching.loader(graphs, batch_size, False):
            out.append(model(batch.to(device)).reshape(-1).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def fit_member(chapter1, data: SplitData, seed: int, head: str = "gaussian", device=None, also_keep=(),
               **overrides):
    """Train one model on ``data``'s training part (early stopping on its validation part: RMSE for the
    ``"mse"`` head, ``SETTINGS.select_on`` for the ``"gaussian"`` head, log loss for the classifier).

    Args:
        head: ``"gaussian"`` (mean and variance, Gaussian NLL; Lakshminarayanan et al. 2017), ``"mse"``
            (chapter 1's regressor) or ``"classifier"`` (one logit for logS > ``threshold``, cross-entropy).
        also_keep: ``"gaussian"`` head only — other early-stopping criteria whose checkpoints are kept in
            ``history["kept"]`` (see :func:`molpractice.training.train_regressor`).
        overrides: any of ``SETTINGS``' names for this call.
    Returns:
        ``(model, history)``.
    """
    from .runtime import seed_everything
    from .training import train_regressor

    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    cfg = _settings(overrides)
    g_tr, g_va = data.graphs["train"], data.graphs["val"]
    seed_everything(seed)
    model = _build_model(chapter1, g_tr, cfg, out_dim=2 if head == "gaussian" else 1)
    common = dict(epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"], patience=cfg["patience"],
                  seed=seed, device=device, weight_decay=cfg["weight_decay"])
    if head == "classifier":
        return train_classifier(model, g_tr, g_va, cfg["threshold"], **common)
    if head == "mse":
        return train_regressor(model, g_tr, g_va, loss="mse", progress=False, **common)
    return train_regressor(model, g_tr, g_va, loss="gaussian_nll", progress=False, select_on=cfg["select_on"],
                           also_keep=tuple(also_keep), beta=cfg["beta"], **common)


@dataclasses.dataclass
class Ensemble:
    """Members trained with seeds 0..M−1 on one split. ``predict(graphs)`` gives per-member outputs:
    ``(means, variances)`` each (M, n) for ``"gaussian"``, ``means`` (M, n) for ``"mse"``, ``logits``
    (M, n) for ``"classifier"``."""

    head: str
    split: str
    models: list
    histories: list
    seconds: list

    def predict(self, graphs):
        from .batching import collated
        from .training import predict

        graphs = collated(graphs)  # once for all members
        if self.head == "classifier":
            return np.stack([predict_logits(m, graphs) for m in self.models])
        outs = [predict(m, graphs) for m in self.models]
        if self.head == "gaussian":
            return np.stack([o[0] for o in outs]), np.stack([o[1] for o in outs])
        return np.stack(outs)


def fit_ensemble(chapter1, data: SplitData, head: str = "gaussian", members: int | None = None, device=None,
                 verbose: bool = True, also_keep=(), **overrides) -> Ensemble:
    """Train ``members`` models (seeds 0, 1, …) with :func:`fit_member`; print one line per model."""
    members = int(members or _settings(overrides)["members"])
    models, histories, seconds = [], [], []
    for seed in range(members):
        start = time.perf_counter()
        model, hist = fit_member(chapter1, data, seed, head=head, device=device, also_keep=also_keep, **overrides)
        seconds.append(time.perf_counter() - start)
        models.append(model)
        histories.append(hist)
        if verbose:
            key = "best_val_loss" if head == "classifier" else "best_val_rmse"
            nll = f" | NLL {hist['best_val_nll']:.3f}" if "best_val_nll" in hist else ""
            print(f"{data.name:>8} | {head:<10} seed {seed} | best epoch {hist['best_epoch'] + 1}/{hist['epochs_run']} | "
                  f"validation {'log loss' if head == 'classifier' else 'RMSE'} {hist[key]:.3f}{nll} | "
                  f"{seconds[-1]:.1f} s", flush=True)
    return Ensemble(head, data.name, models, histories, seconds)


# ------------------------------------------------------------------ choosing the early-stopping criterion
def fit_selection_ensembles(chapter1, data: SplitData, members: int | None = None, device=None,
                            verbose: bool = True, **overrides) -> dict:
    """Mean–variance ensembles early-stopped on validation RMSE and on validation NLL, from ONE training run
    per member: ``{"rmse": Ensemble, "nll": Ensemble}``.

    Each member trains with ``select_on=SETTINGS.select_on`` and keeps the other criterion's checkpoint
    (``train_regressor(..., also_keep=...)``), so both ensembles equal what two separate runs with the same
    seeds would restore; ``result[SETTINGS.select_on]`` is the ensemble :func:`fit_ensemble` would give.
    """
    import copy

    chosen = _settings(overrides)["select_on"]
    other = [c for c in CRITERIA if c != chosen]
    ens = fit_ensemble(chapter1, data, "gaussian", members, device=device, verbose=verbose, also_keep=other,
                       **overrides)
    out = {chosen: ens}
    for c in other:
        models, histories = [], []
        for model, hist in zip(ens.models, ens.histories):
            kept = hist["kept"][c]
            twin = copy.deepcopy(model)
            twin.load_state_dict(kept["state_dict"])
            twin.eval()
            models.append(twin)
            histories.append({**{k: v for k, v in hist.items() if k != "kept"}, "select_on": c,
                              **{k: v for k, v in kept.items() if k != "state_dict"}})
        out[c] = Ensemble("gaussian", data.name, models, histories, list(ens.seconds))
    for e in out.values():  # the checkpoints are kept in the models; drop the copies from the histories
        for hist in e.histories:
            hist.pop("kept", None)
    return {c: out[c] for c in CRITERIA}


RECIPE_RULE = (
    "Recipes = loss (β of β-NLL) × early-stopping criterion of the mean–variance members. Score each on pooled "
    "out-of-fold predictions of the scaffold split's TRAINING part: scaffold-grouped K-fold (no scaffold in two "
    "folds); each fold's ensemble trains on the other folds and is early-stopped and variance-scaled (s²) on the "
    "validation part. Among recipes whose pooled RMSE is at most 0.03 above the best recipe's, choose the lowest "
    "pooled NLL after variance scaling (a proper score: it rewards accuracy and errors ranked by σ; the scale "
    "itself is fitted anyway). Fixed before any number was computed; the test part is not touched.")


def scaffold_folds(smiles, chapter1, folds: int) -> list[np.ndarray]:
    """``folds`` disjoint position arrays covering ``smiles``, no Bemis–Murcko scaffold in two of them
    (scikit-learn's ``GroupKFold`` on ``chapter1.murcko_scaffold``; deterministic)."""
    from sklearn.model_selection import GroupKFold

    if folds < 2 or folds > len(smiles):
        raise ValueError(f"folds must be between 2 and the number of molecules ({len(smiles)}), got {folds}")
    groups = [chapter1.murcko_scaffold(s) for s in smiles]
    if len(set(groups)) < folds:
        raise ValueError(f"{len(set(groups))} scaffolds cannot fill {folds} folds")
    return [np.sort(out) for _, out in GroupKFold(n_splits=folds).split(np.zeros(len(smiles)), groups=groups)]


def cross_validate_recipes(chapter1, chapter3, df, betas=(0.0, 0.5), folds: int = 4, members: int | None = None,
                           split: str = "scaffold", device=None, verbose: bool = True, **overrides) -> list[dict]:
    """Pooled out-of-fold scores of each recipe (β, early-stopping criterion) inside ``split``'s training
    part, as :data:`RECIPE_RULE` describes; the test part is never predicted.

    Returns:
        one row per recipe: ``beta``, ``select_on``, ``n`` (molecules scored), pooled ``rmse``, ``nll``
        (raw), ``nll_recal``, ``ece_recal``, ``coverage95_recal``, ``spearman`` (|error| vs total σ),
        ``spearman_folds`` (per fold), ``mean_best_epoch``.
    """
    from . import chem
    from .graphs import attach_descriptors, build_graphs
    from .splits import make_splits

    cfg = _settings(overrides)
    smiles = df["smiles"].tolist()
    y = df["target"].to_numpy(dtype=float)
    graphs = build_graphs(smiles, y, chapter1)
    desc = chem.rdkit_descriptors(smiles) if cfg["use_descriptors"] else None
    tr, va, _ = make_splits(smiles, chapter1)[split]
    pooled = {}
    for k, out_pos in enumerate(scaffold_folds([smiles[i] for i in tr], chapter1, folds)):
        fit_idx, out_idx = np.setdiff1d(tr, tr[out_pos]), tr[out_pos]
        g = attach_descriptors(graphs, desc, fit_idx) if cfg["use_descriptors"] else graphs
        index = {"train": fit_idx, "val": va, "test": out_idx}
        data = SplitData(f"{split}-fold{k}", index, {p: [g[i] for i in ix] for p, ix in index.items()},
                         {p: y[ix] for p, ix in index.items()}, {p: [smiles[i] for i in ix] for p, ix in index.items()})
        for beta in betas:
            ensembles = fit_selection_ensembles(chapter1, data, members, device=device, verbose=verbose,
                                                **{**overrides, "beta": float(beta)})
            for crit, ens in ensembles.items():
                mean_va, var_va = _moments(chapter3, ens.predict(data.graphs["val"]))
                mean, var = _moments(chapter3, ens.predict(data.graphs["test"]))
                s2 = chapter3.fit_variance_scale(mean_va, var_va, data.y["val"])
                store = pooled.setdefault((float(beta), crit), {"mean": [], "var": [], "s2var": [], "y": [],
                                                               "epochs": []})
                for key, val in (("mean", mean), ("var", var), ("s2var", s2 * var), ("y", data.y["test"])):
                    store[key].append(val)
                store["epochs"] += [h["best_epoch"] + 1 for h in ens.histories]
    rows = []
    for (beta, crit), st in pooled.items():
        mean, var, s2var, yy = (np.concatenate(st[k]) for k in ("mean", "var", "s2var", "y"))
        raw, rec = gaussian_metrics(chapter3, mean, var, yy), gaussian_metrics(chapter3, mean, s2var, yy)
        rows.append({"beta": beta, "select_on": crit, "n": len(yy), "rmse": raw["rmse"], "nll": raw["nll"],
                     "nll_recal": rec["nll"], "ece_recal": rec["ece"], "coverage95_recal": rec["coverage95"],
                     "spearman": raw["spearman"],
                     "spearman_folds": [spearman(np.abs(a - b), np.sqrt(v))
                                        for a, b, v in zip(st["y"], st["mean"], st["var"])],
                     "mean_best_epoch": float(np.mean(st["epochs"]))})
    return rows


def _moments(chapter3, member_outputs):
    mean, alea, epi = chapter3.ensemble_moments(*member_outputs)
    return mean, alea + epi


def choose_recipe(rows: list[dict]) -> tuple[dict, str]:
    """Apply :data:`RECIPE_RULE` to :func:`cross_validate_recipes` rows: ``(row, reason)``."""
    best_rmse = min(r["rmse"] for r in rows)
    eligible = [r for r in rows if r["rmse"] <= best_rmse + 0.03]
    chosen = min(eligible, key=lambda r: r["nll_recal"])
    reason = (f"pooled out-of-fold RMSE within 0.03 of the best ({best_rmse:.3f}): "
              + ", ".join(f"β={r['beta']:g}/{r['select_on']}" for r in eligible)
              + f"; lowest NLL after variance scaling: β={chosen['beta']:g}/{chosen['select_on']} "
              f"({chosen['nll_recal']:.3f})")
    return chosen, reason


# What ``molpractice bench ch03 --recipes`` printed (full mode, 4 folds, 5-member ensembles per fold, 1019
# out-of-fold molecules of the scaffold training part; rounded). ``choose_recipe`` on these rows gives
# ``SETTINGS``' beta and select_on (a test checks it). No test part was predicted for the choice.
RECIPE_EVIDENCE = [
    dict(beta=0.0, select_on="rmse", n=1019, rmse=0.721, nll=1.207, nll_recal=1.159, ece_recal=0.057,
         coverage95_recal=0.947, spearman=-0.039, spearman_folds=[-0.04, 0.11, 0.08, -0.15], mean_best_epoch=37.7),
    dict(beta=0.0, select_on="nll", n=1019, rmse=0.769, nll=1.256, nll_recal=1.243, ece_recal=0.036,
         coverage95_recal=0.938, spearman=-0.029, spearman_folds=[-0.13, 0.07, 0.06, -0.26], mean_best_epoch=25.3),
    dict(beta=0.5, select_on="rmse", n=1019, rmse=0.706, nll=1.151, nll_recal=1.144, ece_recal=0.080,
         coverage95_recal=0.965, spearman=-0.003, spearman_folds=[-0.08, 0.18, 0.09, -0.20], mean_best_epoch=36.0),
    dict(beta=0.5, select_on="nll", n=1019, rmse=0.747, nll=1.191, nll_recal=1.175, ece_recal=0.049,
         coverage95_recal=0.960, spearman=0.069, spearman_folds=[0.21, 0.19, -0.03, -0.11], mean_best_epoch=24.1),
]


def mc_dropout_predict(model, graphs, passes: int, seed: int = 0):
    """MC dropout (Gal & Ghahramani 2016): ``passes`` forward passes with the dropout layers active (batch
    norm stays in eval mode). Returns ``(means, variances)`` each (passes, n) for a mean–variance model
    (``means`` only for a one-output model), in the target's unit."""
    import torch

    from .batching import collated
    from .training import predict

    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    outs = []
    graphs = collated(graphs)  # once for all passes
    torch.manual_seed(seed)
    for _ in range(passes):
        outs.append(_predict_with_dropout(model, graphs, predict))
    model.eval()
    if isinstance(outs[0], tuple):
        return np.stack([o[0] for o in outs]), np.stack([o[1] for o in outs])
    return np.stack(outs)


def _predict_with_dropout(model, graphs, predict):
    """``training.predict`` with the dropout layers active: it calls ``model.eval()``, so for this call
    ``eval`` is followed by switching every ``Dropout`` back to training mode (batch norm stays in eval)."""
    import torch

    original_eval = model.eval

    def eval_keep_dropout():
        original_eval()
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.train()
        return model

    model.eval = eval_keep_dropout
    try:
        return predict(model, graphs)
    finally:
        del model.eval


# ------------------------------------------------------------------------------------------- metrics
def interval_coverage(mean, std, y, level: float) -> float:
    """Fraction of ``y`` inside the central ``level`` interval μ ± Φ⁻¹((1 + level)/2)·σ."""
    from scipy.stats import norm

    mean, std, y = (np.asarray(a, dtype=float) for a in (mean, std, y))
    return float(np.mean(np.abs(y - mean) <= norm.ppf(0.5 + level / 2) * std))


def spearman(a, b) -> float:
    """Spearman rank correlation of two (n,) arrays (NaN when one is constant)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def gaussian_metrics(chapter3, mean, var, y, n_levels: int | None = None) -> dict:
    """The regression metrics of Gaussian predictions N(mean, var) against ``y``, using ``chapter3``'s
    ``gaussian_nll`` and ``regression_ece``: ``rmse``, ``nll``, ``ece``, ``coverage68``, ``coverage95``,
    ``sharpness`` (mean predicted std) and ``spearman`` (|error| vs predicted std)."""
    mean, var, y = (np.asarray(a, dtype=float) for a in (mean, var, y))
    std = np.sqrt(var)
    n_levels = int(n_levels or SETTINGS.current().n_levels)
    return {"rmse": float(np.sqrt(np.mean((y - mean) ** 2))),
            "nll": chapter3.gaussian_nll(mean, var, y),
            "ece": chapter3.regression_ece(mean, std, y, n_levels=n_levels),
            "coverage68": interval_coverage(mean, std, y, 0.68),
            "coverage95": interval_coverage(mean, std, y, 0.95),
            "sharpness": float(np.mean(std)),
            "spearman": spearman(np.abs(y - mean), std)}


def exceedance_probability(mean, var, threshold: float) -> np.ndarray:
    """P(y > threshold) under N(mean, var): Φ((μ − t)/σ), the regression ensemble's class probability."""
    from scipy.stats import norm

    mean, var = np.asarray(mean, dtype=float), np.asarray(var, dtype=float)
    return norm.sf(threshold, loc=mean, scale=np.sqrt(var))


def logit(p, eps: float = 1e-12) -> np.ndarray:
    """log(p / (1 − p)) with p clipped to [eps, 1 − eps]."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def sigmoid(z) -> np.ndarray:
    from scipy.special import expit

    return expit(np.asarray(z, dtype=float))


def ensemble_probability(logits) -> np.ndarray:
    """Equal-weight ensemble of binary classifiers: the mean of the members' probabilities, from (M, n)
    logits (averaging probabilities, not logits, is the mixture's prediction)."""
    return sigmoid(np.asarray(logits, dtype=float)).mean(axis=0)


def brier_score(p, labels) -> float:
    """Mean squared difference between P(class 1) and the 0/1 label (lower is better; 0.25 = coin flip)."""
    p, labels = np.asarray(p, dtype=float), np.asarray(labels, dtype=float)
    return float(np.mean((p - labels) ** 2))


def classification_metrics(chapter3, p, labels, n_bins: int | None = None) -> dict:
    """``ece`` (chapter3's ``classification_ece``), ``brier``, ``log_loss``, ``accuracy`` of binary
    probabilities ``p`` = P(class 1)."""
    p, labels = np.asarray(p, dtype=float), np.asarray(labels, dtype=int)
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return {"ece": chapter3.classification_ece(p, labels, n_bins=int(n_bins or SETTINGS.current().n_bins)),
            "brier": brier_score(p, labels),
            "log_loss": float(-np.mean(labels * np.log(q) + (1 - labels) * np.log1p(-q))),
            "accuracy": float(np.mean((p > 0.5) == (labels == 1)))}


def bootstrap_interval(statistic, arrays, n_boot: int | None = None, size: int | None = None, alpha: float = 0.05,
                       seed: int = 0):
    """Percentile bootstrap interval of ``statistic(*resampled arrays)`` over molecules.

    Args:
        statistic: function of the arrays (each indexed by molecule on axis 0) → float.
        arrays: sequence of arrays with the same first dimension n.
        size: molecules per resample (default n); a smaller ``size`` answers "how sure would I be with
            only this many test molecules?".
    Returns:
        ``(low, high, values)`` — the interval and the ``n_boot`` resampled statistics.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("all arrays need the same number of molecules")
    size = n if size is None else int(size)
    n_boot = int(n_boot or SETTINGS.current().n_boot)
    rng = np.random.default_rng(seed)
    values = np.array([statistic(*(a[idx] for a in arrays)) for idx in rng.integers(0, n, size=(n_boot, size))])
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high), values


def compare(a: float, b: float, lower: str = "lower", higher: str = "higher", same: str = "equal to") -> str:
    """A comparison word computed from two numbers (so a notebook's sentences follow its numbers)."""
    return lower if a < b else higher if a > b else same


# ------------------------------------------------------------------------------------------- benchmark
METRICS = ("rmse", "nll", "ece", "coverage68", "coverage95", "sharpness", "spearman")


def _row(model, split, metric_dicts, seconds, sizes, **extra):
    from .training import summarize_runs

    return {**summarize_runs(model, split, metric_dicts, METRICS, seconds, sizes), **extra}


def evaluate_split(chapter3, data: SplitData, gaussian: Ensemble, mse: Ensemble | None = None,
                   mc_passes: int | None = None) -> dict:
    """Score one split's ensembles on its test part: single members, the ensemble, the ensemble with its
    variance scaled by s² fitted on validation (``chapter3.fit_variance_scale``), MC dropout of member 0,
    and the MSE ensemble's spread-only Gaussian (mean, members' variance). Returns ``{"rows", "s2",
    "predictions"}``."""
    cfg = SETTINGS.current()
    y_va, y_te = data.y["val"], data.y["test"]
    sizes = data.sizes()
    mu_va, var_va = gaussian.predict(data.graphs["val"])
    mu_te, var_te = gaussian.predict(data.graphs["test"])
    singles = [gaussian_metrics(chapter3, m, v, y_te) for m, v in zip(mu_te, var_te)]
    rows = [_row("gaussian_single", data.name, singles, gaussian.seconds, sizes)]
    mean_va, alea_va, epi_va = chapter3.ensemble_moments(mu_va, var_va)
    mean_te, alea_te, epi_te = chapter3.ensemble_moments(mu_te, var_te)
    ens = gaussian_metrics(chapter3, mean_te, alea_te + epi_te, y_te)
    rows.append(_row("gaussian_ensemble", data.name, [ens], [sum(gaussian.seconds)], sizes))
    s2 = chapter3.fit_variance_scale(mean_va, alea_va + epi_va, y_va)
    rec = gaussian_metrics(chapter3, mean_te, s2 * (alea_te + epi_te), y_te)
    rows.append(_row("gaussian_ensemble_recalibrated", data.name, [rec], [sum(gaussian.seconds)], sizes,
                     variance_scale=s2, recalibration_fitted_on="validation"))
    passes = int(mc_passes or cfg.mc_passes)
    mc_mu, mc_var = mc_dropout_predict(gaussian.models[0], data.graphs["test"], passes)
    mc_mean, mc_alea, mc_epi = chapter3.ensemble_moments(mc_mu, mc_var)
    rows.append(_row("mc_dropout", data.name, [gaussian_metrics(chapter3, mc_mean, mc_alea + mc_epi, y_te)],
                     [gaussian.seconds[0]], sizes, passes=passes))
    predictions = {"mean": mean_te, "aleatoric": alea_te, "epistemic": epi_te, "members_mean": mu_te,
                   "members_var": var_te, "val_mean": mean_va, "val_var": alea_va + epi_va}
    if mse is not None:
        mse_te = mse.predict(data.graphs["test"])
        spread = mse_te.var(axis=0) + 1e-12
        rows.append(_row("mse_ensemble_spread", data.name,
                         [gaussian_metrics(chapter3, mse_te.mean(0), spread, y_te)], [sum(mse.seconds)], sizes))
        predictions["mse_mean"] = mse_te.mean(0)
        predictions["mse_spread"] = np.sqrt(spread)
    return {"rows": rows, "s2": s2, "predictions": predictions}


def evaluate_classification(chapter3, data: SplitData, gaussian_pred: dict, classifier: Ensemble | None,
                            threshold: float | None = None, n_boot: int | None = None) -> list[dict]:
    """Classification of logS > threshold on the test part: (a) from the regression ensemble's Gaussian,
    (b) from the classifier ensemble; each raw and after temperature scaling fitted on validation
    (``chapter3.fit_temperature``), with the bootstrap interval of the ECE and the bootstrap mean
    (``ece_boot_mean`` − ``ece`` estimates the ECE's upward bias at this sample size)."""
    threshold = SETTINGS.current().threshold if threshold is None else threshold
    lab_va, lab_te = labels_above(data.y["val"], threshold), labels_above(data.y["test"], threshold)
    sources = {"regression_ensemble": (exceedance_probability(gaussian_pred["val_mean"], gaussian_pred["val_var"],
                                                              threshold),
                                       exceedance_probability(gaussian_pred["mean"], gaussian_pred["aleatoric"]
                                                              + gaussian_pred["epistemic"], threshold))}
    if classifier is not None:
        sources["classifier_ensemble"] = (ensemble_probability(classifier.predict(data.graphs["val"])),
                                          ensemble_probability(classifier.predict(data.graphs["test"])))
    rows = []
    for name, (p_va, p_te) in sources.items():
        temperature = chapter3.fit_temperature(logit(p_va), lab_va)
        for variant, p in (("raw", p_te), ("temperature_scaled", sigmoid(logit(p_te) / temperature))):
            m = classification_metrics(chapter3, p, lab_te)
            lo, hi, boot = bootstrap_interval(lambda pp, ll: chapter3.classification_ece(pp, ll), (p, lab_te), n_boot)
            rows.append({"model": name, "variant": variant, "split": data.name, "threshold": threshold,
                         "temperature": temperature, "temperature_fitted_on": "validation", **m,
                         "ece_ci_low": lo, "ece_ci_high": hi, "ece_boot_mean": float(np.mean(boot)),
                         "n_test": int(len(lab_te)),
                         "positive_fraction_train": float(labels_above(data.y["train"], threshold).mean())})
    return rows


def results_table(rows: list[dict]):
    """The regression rows as a DataFrame (split × model; mean ± std over seeds where there are seeds)."""
    import pandas as pd

    out = []
    for r in rows:
        entry = {"split": r["split"], "model": r["model"]}
        for key in METRICS:
            entry[key] = (f"{r[key + '_mean']:.3f} ± {r[key + '_std']:.3f}" if r["n_runs"] > 1
                          else f"{r[key + '_mean']:.3f}")
        entry["s/model"] = round(r["seconds_per_model"], 1)
        out.append(entry)
    return pd.DataFrame(out).set_index(["split", "model"])


def classification_table(rows: list[dict]):
    """The classification rows as a DataFrame with the ECE and its bootstrap interval."""
    import pandas as pd

    return pd.DataFrame([{"model": r["model"], "variant": r["variant"], "T": round(r["temperature"], 3),
                          "ECE": round(r["ece"], 3), "ECE 95% CI": f"{r['ece_ci_low']:.3f}–{r['ece_ci_high']:.3f}",
                          "bootstrap mean": round(r["ece_boot_mean"], 3),
                          "Brier": round(r["brier"], 3), "log loss": round(r["log_loss"], 3),
                          "accuracy": round(r["accuracy"], 3)} for r in rows]).set_index(["model", "variant"])


def target_checks(rows: list[dict], class_rows: list[dict], split: str = "scaffold") -> dict:
    """The issue's targets on ``split``'s test part, each as ``{"value", "target", "met"}``."""
    r = {x["model"]: x for x in rows if x["split"] == split}
    ens, rec, single = r["gaussian_ensemble"], r["gaussian_ensemble_recalibrated"], r["gaussian_single"]
    checks = {
        "recalibrated_ece": {"value": rec["ece_mean"], "target": "<= 0.05 and < raw "
                             f"({ens['ece_mean']:.3f})", "met": rec["ece_mean"] <= 0.05 and rec["ece_mean"] < ens["ece_mean"]},
        "spearman_total_std": {"value": ens["spearman_mean"], "target": ">= 0.2", "met": ens["spearman_mean"] >= 0.2},
        "ensemble_nll_below_single": {"value": ens["nll_mean"], "target": f"< {single['nll_mean']:.3f}",
                                      "met": ens["nll_mean"] < single["nll_mean"]},
        "ensemble_rmse_below_single": {"value": ens["rmse_mean"], "target": f"< {single['rmse_mean']:.3f}",
                                       "met": ens["rmse_mean"] < single["rmse_mean"]},
    }
    if "mse_ensemble_spread" in r:
        ref = r["mse_ensemble_spread"]["rmse_mean"]
        checks["ensemble_rmse_vs_mse_ensemble"] = {"value": ens["rmse_mean"], "target": f"<= {ref + 0.03:.3f}",
                                                   "met": ens["rmse_mean"] <= ref + 0.03}
    for name in sorted({c["model"] for c in class_rows if c["split"] == split}):
        raw = next(c for c in class_rows if c["model"] == name and c["variant"] == "raw" and c["split"] == split)
        ts = next(c for c in class_rows if c["model"] == name and c["variant"] == "temperature_scaled"
                  and c["split"] == split)
        checks[f"classification_ece_{name}"] = {"value": ts["ece"], "target": f"< raw ({raw['ece']:.3f})",
                                                "met": ts["ece"] < raw["ece"],
                                                "ci_raw": [raw["ece_ci_low"], raw["ece_ci_high"]],
                                                "ci_scaled": [ts["ece_ci_low"], ts["ece_ci_high"]]}
    return checks


def recipe_table(rows: list[dict]):
    """:func:`cross_validate_recipes` rows as a DataFrame (β × criterion)."""
    import pandas as pd

    cols = ["n", "rmse", "nll", "nll_recal", "ece_recal", "coverage95_recal", "spearman", "mean_best_epoch"]
    out = pd.DataFrame(rows).set_index(["beta", "select_on"])
    out["spearman per fold"] = [" ".join(f"{v:+.2f}" for v in r["spearman_folds"]) for r in rows]
    return out[cols + ["spearman per fold"]].round(3)


def run_recipe_selection(chapter1, chapter3, df, members: int, folds: int = 4, json_path=None) -> dict:
    """``molpractice bench ch03 --recipes``: :func:`cross_validate_recipes`, its table and
    :func:`choose_recipe`'s verdict (compare with ``SETTINGS``' ``beta`` / ``select_on``)."""
    import pandas as pd

    start = time.perf_counter()
    print(f"rule: {RECIPE_RULE}", flush=True)
    rows = cross_validate_recipes(chapter1, chapter3, df, folds=folds, members=members)
    chosen, reason = choose_recipe(rows)
    cfg = SETTINGS.current()
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(recipe_table(rows).to_string())
    agrees = (chosen["beta"], chosen["select_on"]) == (float(cfg.beta), cfg.select_on)
    print(f"chosen: {reason}")
    print(f"SETTINGS ({run_mode()} mode): beta={cfg.beta:g}, select_on={cfg.select_on} — "
          f"{'the same recipe' if agrees else 'a DIFFERENT recipe'}")
    report = {"chapter": "ch03", "what": "recipe selection by cross-validation inside train", "rule": RECIPE_RULE,
              "mode": run_mode(), "members": members, "folds": folds, "rows": rows,
              "chosen": {"beta": chosen["beta"], "select_on": chosen["select_on"]}, "reason": reason,
              "settings_agree": agrees, "seconds_total": time.perf_counter() - start}
    print(f"total {report['seconds_total'] / 60:.1f} min")
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report


def run_benchmark(implementation: str | None = None, csv=None, smiles_col=None, target_col=None, seeds=None,
                  json_path=None, recipes: bool = False) -> dict:
    """``molpractice bench ch03``: deep ensembles on both splits; print the table; write the JSON.

    For each split: ``seeds`` mean–variance GNNs (default ``SETTINGS.members``) and as many MSE GNNs
    (chapter 1's regressor, for the accuracy comparison); on the scaffold split also a classifier ensemble.
    Rows (split × model): ``gaussian_single`` (mean ± std over seeds), ``gaussian_ensemble``,
    ``gaussian_ensemble_recalibrated`` (s² fitted on validation), ``mc_dropout`` (member 0,
    ``mc_passes`` passes), ``mse_ensemble_spread`` (MSE ensemble, its members' spread as the std); metric
    keys ``<metric>_mean`` / ``<metric>_std`` for ``rmse``, ``nll``, ``ece``, ``coverage68``,
    ``coverage95``, ``sharpness``, ``spearman``, plus ``seconds_per_model``.

    Args:
        implementation: ``"exercises"`` or ``"solutions"`` (default: ``MOLPRACTICE_IMPL``).
        csv, smiles_col, target_col: a CSV instead of the embedded solubility set.
        seeds: ensemble size (seeds 0..seeds−1).
        json_path: where to write ``{"results", "classification", "targets", "protocol", …}``.
        recipes: instead, choose the training recipe by cross-validation inside the scaffold training part
            (:func:`run_recipe_selection`; the test parts are not touched).
    """
    import pandas as pd

    from .implementations import load_chapter
    from .runtime import configure_threads
    from .solubility import load_data

    if seeds is not None and int(seeds) < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    configure_threads()
    chapter1 = load_chapter("ch01_solubility_gnn", implementation)
    chapter3 = load_chapter("ch03_uncertainty", implementation)
    cfg = SETTINGS.current()
    members = int(seeds or cfg.members)
    start = time.perf_counter()
    df, duplicates = load_data(csv, smiles_col, target_col)
    print(f"data: {df.attrs['source']} — {df.attrs['n_raw']} rows, {len(df)} unique molecules; "
          f"{members} members per ensemble; {run_mode()} mode", flush=True)
    if recipes:
        return run_recipe_selection(chapter1, chapter3, df, members, json_path=json_path)
    data = prepare_splits(chapter1, df)
    rows, class_rows, scales = [], [], {}
    for split in SPLITS:
        gaussian = fit_ensemble(chapter1, data[split], "gaussian", members)
        mse = fit_ensemble(chapter1, data[split], "mse", members)
        result = evaluate_split(chapter3, data[split], gaussian, mse)
        rows += result["rows"]
        scales[split] = result["s2"]
        if split == "scaffold":
            classifier = fit_ensemble(chapter1, data[split], "classifier", members)
            class_rows += evaluate_classification(chapter3, data[split], result["predictions"], classifier)
    protocol = (f"mean–variance members: β-NLL with β={cfg.beta:g}, early-stopped on validation {cfg.select_on} — "
                "recipe chosen by cross-validation inside the scaffold training part (bench ch03 --recipes); MSE "
                "regressors: validation RMSE; classifiers: validation log loss; variance scale s² and temperature "
                f"T fitted on validation; threshold fixed at logS > {cfg.threshold} (100 µM) before looking at the "
                "data; test parts scored once per row")
    print(f"protocol: {protocol}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(results_table(rows).to_string())
        print("variance scale s² (fitted on validation): " + ", ".join(f"{k} {v:.3f}" for k, v in scales.items()))
        print(classification_table(class_rows).to_string())
    checks = target_checks(rows, class_rows)
    for name, c in checks.items():
        print(f"target {name}: {c['value']:.3f} (target {c['target']}) — {'met' if c['met'] else 'NOT met'}")
    report = {"chapter": "ch03", "data": df.attrs["source"], "n_molecules": len(df), "mode": run_mode(),
              "members": members, "settings": vars(cfg), "protocol": protocol, "variance_scale": scales,
              "results": rows, "classification": class_rows, "targets": checks,
              "seconds_total": time.perf_counter() - start}
    print(f"total {report['seconds_total'] / 60:.1f} min")
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report
