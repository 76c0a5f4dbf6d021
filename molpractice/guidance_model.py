"""Classifier-free guidance on chapter 4's own trained diffusion model: the property-conditioned EGNN, its warm
start from chapter 4's weights, the label-dropout fine-tune and the choice of its length on a validation split.

The condition is a binary label of each molecule: ``1`` when it has at least :data:`HETERO_THRESHOLD`
heteroatoms (N, O, F) among its heavy atoms, else ``0``. A learned embedding of the label (index 2 = "no
label", ∅) is added to every atom's input features (:class:`ConditionalEGNN`, a subclass of chapter 4's
:class:`~molpractice.diffusion.EGNNDenoiser`).

**Warm start** (:func:`warm_start`): the conditional model gets every weight of chapter 4's trained model
(:func:`molpractice.diffusion.train_molecule_model` with chapter 4's settings of the current mode — the same
cached weights notebook 04 samples) and a label embedding of zeros, so before fine-tuning ε̂(x, c) = ε̂(x, ∅) =
chapter 4's ε̂ exactly, for every label.

**Fine-tune** (:func:`train_conditional_model`): on the training part of chapter 4's curve split
(:func:`molpractice.diffusion_curve.validation_split`, 10 % held out, seed 0), each label is replaced by ∅ with
probability ``p_uncond`` (label dropout, Ho & Salimans 2022), so one network learns ε̂(x, c) and ε̂(x, ∅).
Constant learning rates (``lr`` for chapter 4's weights, ``label_lr`` for the new embedding), so the EMA weights
kept after ``k`` steps are exactly those of a ``k``-step fine-tune; one seeded run keeps every step count of
``checkpoints``. The fine-tune length is then chosen by a rule fixed before any sample was drawn: the checkpoint
with the lowest mean held-out *conditional* denoising loss on the validation molecules (chapter 4's model was
trained on them; the fine-tune never saw them). The run, its validation losses and the choice are cached under a
key of chapter 4's weights (their hash), the fine-tune settings and the code.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .diffusion import ELEMENTS, EMA, EGNNDenoiser, molecule_data, training_source_hash
from .diffusion import SETTINGS as CH4_SETTINGS
from .diffusion_model import _code_hash, _collate, package_source_hash, state_dict_hash
from .runtime import RunSettings

__all__ = ["HETERO_THRESHOLD", "GUIDANCE_VERSION", "NULL_LABEL", "SETTINGS", "hetero_count", "label_of",
           "ConditionalEGNN", "GuidedDenoiser", "warm_start", "conditional_loss", "choose_finetune_steps",
           "weights_path", "train_conditional_model", "finetune_table", "finetune_lines", "finetune_choice_text", "load_data"]

HETERO_THRESHOLD = 3
GUIDANCE_VERSION = 3  # part of the cache key: bump when the model, the fine-tune or its validation changes
NULL_LABEL = 2


def _ch4(mode: str, name: str):
    return getattr(CH4_SETTINGS.current(mode), name)


SETTINGS = RunSettings(
    full=dict(T=_ch4("full", "T"), type_scale=_ch4("full", "type_scale"), batch_size=64, lr=1e-4, label_lr=1e-3,
              p_uncond=0.15, checkpoints=(250, 500, 1000, 2000), val_fraction=0.1, val_draws=100,
              sampler="ddim", sample_steps=50, n_per_scale=120, scales=(-1.0, 0.0, 1.0, 2.0, 4.0), n_boot=1000),
    fast=dict(T=_ch4("fast", "T"), type_scale=_ch4("fast", "type_scale"), batch_size=32, lr=1e-4, label_lr=1e-3,
              p_uncond=0.15, checkpoints=(20, 40), val_fraction=0.1, val_draws=10,
              sampler="ddim", sample_steps=50, n_per_scale=16, scales=(-1.0, 0.0, 1.0, 4.0), n_boot=200),
    doc=dict(T="diffusion steps (chapter 4's; the model is chapter 4's: its width, layers and EMA decay too)",
             type_scale="one-hot atom types are scaled by this (chapter 4's)",
             batch_size="molecules per fine-tune step",
             lr="Adam learning rate of chapter 4's weights in the fine-tune (constant; chapter 4's final rate)",
             label_lr="Adam learning rate of the new label embedding (constant; chapter 4's initial rate)",
             p_uncond="probability that a molecule's label is dropped (∅) in the fine-tune (Ho & Salimans' range; "
                      "not tuned)",
             checkpoints="fine-tune step counts kept from one run; the one with the lowest held-out conditional "
                         "denoising loss is used",
             val_fraction="share of chapter 4's molecules held out from the fine-tune (chapter 4's curve split, seed 0)",
             val_draws="(t, noise) draws per held-out molecule in the denoising losses",
             sampler="sampler of the guided model (chapter 4's fast sampler: DDIM, η = 0)",
             sample_steps="sampling steps", n_per_scale="molecules sampled per guidance scale",
             scales="guidance scales w (−1 = unconditional)", n_boot="bootstrap resamples for the intervals"),
)


def hetero_count(z) -> int:
    """Heteroatoms (N, O, F) among the heavy atoms ``z``."""
    return int(sum(int(a) in (7, 8, 9) for a in z))


def label_of(z) -> int:
    """The condition label: 1 if the molecule has ≥ HETERO_THRESHOLD heteroatoms, else 0."""
    return int(hetero_count(z) >= HETERO_THRESHOLD)


def load_data(cfg=None):
    """Chapter 4's QM9-like heavy-atom molecules (built offline and cached on first use)."""
    return molecule_data()


class ConditionalEGNN(EGNNDenoiser):
    """Chapter 4's EGNN noise predictor with a label embedding added to every atom's input features.

    ``forward(pos, h, t_frac, batch, labels, edges=None)``: ``labels`` LongTensor[n_molecules] with values
    0, 1 or :data:`NULL_LABEL` (∅). The positional output stays E(n)-equivariant (the label is a scalar
    feature of each molecule). With a zero embedding the output is chapter 4's model's, for every label.
    """

    def __init__(self, n_types: int = 4, hidden: int = 64, layers: int = 3, n_labels: int = 2):
        super().__init__(n_types, hidden, layers)
        self.label_embed = nn.Embedding(n_labels + 1, hidden)
        nn.init.normal_(self.label_embed.weight, std=0.1)

    def forward(self, pos, h, t_frac, batch, labels, edges=None):
        from .diffusion import complete_graph_edges

        n_graphs = int(batch.max()) + 1
        src, dst = edges if edges is not None else complete_graph_edges(batch)
        d2_0 = (pos[dst] - pos[src]).pow(2).sum(-1, keepdim=True)
        feats = self.embed(torch.cat([h, t_frac[:, None].to(h.dtype)], dim=1)) + self.label_embed(labels)[batch]
        x = pos
        for block in self.blocks:
            feats, x = block(feats, x, src, dst, d2_0)
        return _centre(x - pos, batch, n_graphs), self.out(feats)


def _centre(x, batch, n_graphs):
    sums = torch.zeros(n_graphs, x.shape[1], dtype=x.dtype).index_add_(0, batch, x)
    counts = torch.bincount(batch, minlength=n_graphs).clamp_min(1).to(x.dtype)
    return x - (sums / counts[:, None])[batch]


class GuidedDenoiser(nn.Module):
    """Callable like chapter 4's denoiser (``(pos, h, t_frac, batch, edges)``) that returns the guided noise
    ``ch06.cfg_noise(ε̂(x, c), ε̂(x, ∅), w)`` for positions and types; ``w = −1`` skips the conditional pass."""

    def __init__(self, model: ConditionalEGNN, ch06, labels, w: float):
        super().__init__()
        self.model, self.ch06, self.labels, self.w = model, ch06, labels, float(w)

    def forward(self, pos, h, t_frac, batch, edges=None):
        null = torch.full_like(self.labels, NULL_LABEL)
        if self.w == -1.0:
            return self.model(pos, h, t_frac, batch, null, edges)
        cond = self.model(pos, h, t_frac, batch, self.labels, edges)
        if self.w == 0.0:
            return cond
        uncond = self.model(pos, h, t_frac, batch, null, edges)
        return tuple(self.ch06.cfg_noise(c, u, self.w) for c, u in zip(cond, uncond))


def warm_start(base: EGNNDenoiser, n_labels: int = 2) -> ConditionalEGNN:
    """A :class:`ConditionalEGNN` with every weight of chapter 4's ``base`` model and a label embedding of zeros:
    its output equals ``base``'s for every label (bit for bit) until it is fine-tuned."""
    model = ConditionalEGNN(base.n_types, base.hidden, base.n_layers, n_labels)
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    if unexpected or set(missing) != {"label_embed.weight"}:
        raise ValueError(f"base is not chapter 4's EGNNDenoiser: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        model.label_embed.weight.zero_()
    return model


def _labels(molecules) -> torch.Tensor:
    return torch.tensor([label_of(d["z"]) for d in molecules], dtype=torch.long)


@torch.no_grad()
def conditional_loss(ch04, model, molecules, labels, T: int, type_scale: float, draws: int = 100, seed: int = 123,
                     batch_size: int = 64) -> torch.Tensor:
    """Per-molecule denoising loss (Tensor[len(molecules)], float64) of ``model`` given ``labels`` (one per molecule:
    0, 1 or ∅): the fine-tune's objective — squared error of ε̂ over positions and types per atom and channel —
    averaged over ``draws`` draws of (t ~ U{1..T}, noise). The draws depend only on ``seed`` and the molecules, so two
    models, or two labels, are compared on the same draws (paired)."""
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    labels = torch.as_tensor(labels, dtype=torch.long)
    if labels.shape != (len(molecules),):
        raise ValueError(f"labels must have one entry per molecule ({len(molecules)}), got shape {tuple(labels.shape)}")
    alpha_bar = ch04.cosine_alpha_bar(T, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(len(molecules), dtype=torch.float64)
    for _ in range(draws):
        for lo in range(0, len(molecules), batch_size):
            items = molecules[lo:lo + batch_size]
            z, pos, h, batch = _collate(items, type_scale)
            t = torch.randint(1, T + 1, (len(items),), generator=gen)[batch]
            eps_x = ch04.remove_mean(torch.randn(pos.shape, generator=gen), batch)
            eps_h = torch.randn(h.shape, generator=gen)
            pred_x, pred_h = model(ch04.q_sample(pos, t, eps_x, alpha_bar), ch04.q_sample(h, t, eps_h, alpha_bar),
                                   t.float() / T, batch, labels[lo:lo + len(items)])
            err = (pred_x - eps_x).pow(2).sum(1) + (pred_h - eps_h).pow(2).sum(1)
            per_mol = torch.zeros(len(items), dtype=torch.float64).index_add_(0, batch, err.double())
            total[lo:lo + len(items)] += per_mol / (torch.bincount(batch, minlength=len(items)).double() * 7)
    return total / draws


def _finetune_steps(ch04, model, train, cfg, cfg4, seed: int, progress: bool):
    """The label-dropout fine-tune of ``model`` on ``train`` for ``max(cfg.checkpoints)`` steps; returns
    ``({step: EMA state dict}, {step: CPU s}, losses)``."""
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(seed)
    alpha_bar = ch04.cosine_alpha_bar(cfg4.T, dtype=torch.float32)
    labels_all = _labels(train)
    ema = EMA(model, cfg4.ema_decay)
    rest = [p for name, p in model.named_parameters() if name != "label_embed.weight"]
    opt = torch.optim.Adam([{"params": rest, "lr": cfg.lr}, {"params": [model.label_embed.weight], "lr": cfg.label_lr}])
    keep, total = {int(c) for c in cfg.checkpoints}, max(int(c) for c in cfg.checkpoints)
    saved, cpu, losses, cpu_start = {}, {}, [], time.process_time()
    model.train()
    bar = tqdm(total=total, desc="label-dropout fine-tune of chapter 4's model", disable=not progress)
    for step in range(total):
        idx = torch.randint(0, len(train), (cfg.batch_size,), generator=gen)
        z, pos, h, batch = _collate([train[i] for i in idx.tolist()], cfg4.type_scale)
        labels = labels_all[idx].clone()
        labels[torch.rand(len(idx), generator=gen) < cfg.p_uncond] = NULL_LABEL
        t = torch.randint(1, cfg4.T + 1, (len(idx),), generator=gen)[batch]
        eps_x = ch04.remove_mean(torch.randn(pos.shape, generator=gen), batch)
        eps_h = torch.randn(h.shape, generator=gen)
        pred_x, pred_h = model(ch04.q_sample(pos, t, eps_x, alpha_bar), ch04.q_sample(h, t, eps_h, alpha_bar),
                               t.float() / cfg4.T, batch, labels)
        loss = ((pred_x - eps_x).pow(2).sum() + (pred_h - eps_h).pow(2).sum()) / (pos.shape[0] * 7)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
        losses.append(float(loss.detach()))
        bar.update(1)
        if step + 1 in keep:
            saved[step + 1] = {k: v.clone() for k, v in ema.model.state_dict().items()}
            cpu[step + 1] = time.process_time() - cpu_start
    bar.close()
    return saved, cpu, losses


def choose_finetune_steps(cond_losses: dict) -> int:
    """The rule, fixed before any sample was drawn: the fine-tune step count with the lowest mean held-out
    conditional denoising loss (``cond_losses``: ``{steps: per-molecule losses}``; a tie goes to fewer steps)."""
    if not cond_losses:
        raise ValueError("no checkpoint losses to choose from")
    return int(min(cond_losses, key=lambda s: (float(torch.as_tensor(cond_losses[s]).mean()), int(s))))


def _split(data, cfg):
    from .diffusion_curve import validation_split

    return validation_split(data, cfg.val_fraction, seed=0)


def _smiles_hash(molecules) -> str:
    return hashlib.sha1("".join(d["smiles"] for d in molecules).encode()).hexdigest()[:10]


def _cache_key(cfg, data, base_hash: str, chapter=None, cfg4=None) -> str:
    cfg4 = cfg4 or CH4_SETTINGS.current()
    keys = ("batch_size", "lr", "label_lr", "p_uncond", "checkpoints", "val_fraction", "val_draws")
    extra = {} if chapter is None else {"source": training_source_hash(chapter)}
    blob = json.dumps({k: getattr(cfg, k) for k in keys} | {f"ch4_{k}": getattr(cfg4, k) for k in
                                                            ("T", "hidden", "layers", "ema_decay", "type_scale")} | {
        "version": GUIDANCE_VERSION, "threshold": HETERO_THRESHOLD, "base_weights": base_hash,
        "package_code": package_source_hash(),
        "guidance_code": _code_hash([ConditionalEGNN, warm_start, conditional_loss, _finetune_steps, _finetune]),
        "smiles": _smiles_hash(data)} | extra, sort_keys=True, default=list)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def weights_path(cfg, data, base_hash: str = "", chapter=None, cfg4=None) -> Path:
    """``cache_dir()/cfg_ft_<key>.pt``: the fine-tune run of these settings on ``data``, from the chapter-4 weights
    whose :func:`~molpractice.diffusion_model.state_dict_hash` is ``base_hash`` (so new chapter-4 weights are fine-tuned
    again, never mixed with an old run). The key also holds chapter 4's architecture settings ``cfg4``, the code of
    the conditional model, the fine-tune and its validation loss (docstrings and layout excluded), the package's
    model code and, given the chapter-4 module ``chapter``, the code of its functions that training runs."""
    from .runtime import cache_dir

    return Path(cache_dir()) / f"cfg_ft_{_cache_key(cfg, data, base_hash, chapter, cfg4)}.pt"


def _finetune(ch04, base, data, cfg, cfg4, seed: int, progress: bool) -> dict:
    """Warm start, fine-tune on the training part of the split, and the held-out losses of every checkpoint."""
    train, val = _split(data, cfg)
    torch.manual_seed(seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    saved, cpu, losses = _finetune_steps(ch04, warm_start(base), train, cfg, cfg4, seed, progress)
    val_labels = _labels(val)
    null = torch.full_like(val_labels, NULL_LABEL)
    model = ConditionalEGNN(len(ELEMENTS), cfg4.hidden, cfg4.layers).eval()
    args = (cfg4.T, cfg4.type_scale, cfg.val_draws)
    validation = {"base": conditional_loss(ch04, warm_start(base).eval(), val, val_labels, *args).tolist(),
                  "cond": {}, "null": {}}
    for step, state in saved.items():
        model.load_state_dict(state)
        validation["cond"][step] = conditional_loss(ch04, model, val, val_labels, *args).tolist()
        validation["null"][step] = conditional_loss(ch04, model, val, null, *args).tolist()
    info = {"checkpoints": sorted(saved), "loss": losses[::10], "cpu_at_checkpoint": cpu, "p_uncond": cfg.p_uncond,
            "n_train": len(train), "n_val": len(val), "val_label1": int(val_labels.sum()),
            "positive_share": float(_labels(data).float().mean()), "validation": validation,
            "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
            "threads": torch.get_num_threads(), "source_hash": training_source_hash(ch04),
            "base_hash": state_dict_hash(base.state_dict())}
    return {"checkpoints": saved, "info": info}


def train_conditional_model(ch04, data, cfg=None, seed: int = 0, progress: bool = True, cache: bool = True,
                            cfg4=None, implementation: str | None = None):
    """Chapter 4's trained model, fine-tuned with label dropout; returns ``(model, info)`` (the EMA weights at the
    chosen step count, in eval mode).

    Chapter 4's model comes from :func:`molpractice.diffusion.train_molecule_model` (``cfg4``: chapter 4's settings,
    default the current mode's; loaded from its cache when there, else trained — ``info["base"]`` says which and its
    CPU time). :func:`warm_start`, then ``max(cfg.checkpoints)`` steps on the training part of chapter 4's curve split:
    each step ``batch_size`` molecules, one t per molecule, positions noised with ``ch04.q_sample`` (noise projected by
    ``ch04.remove_mean``), types with Gaussian noise, each label replaced by ∅ with probability ``p_uncond``; loss = MSE
    of ε̂; Adam at constant rates (``lr``, ``label_lr`` for the embedding), gradient norm clipped at 1, EMA of decay
    ``cfg4.ema_decay``. Every random draw comes from one generator seeded by ``seed``. The EMA weights at each step count
    of ``cfg.checkpoints`` are scored on the held-out molecules (:func:`conditional_loss`, with the true label and
    with ∅) and :func:`choose_finetune_steps` picks the model. Cached (:func:`weights_path`): ``info["cached"]``.

    ``info``: ``steps`` (the chosen fine-tune steps), ``checkpoints``, ``validation`` (per-molecule losses: ``base``,
    ``cond`` and ``null`` per step count), ``n_train``, ``n_val``, ``p_uncond``, ``positive_share``, ``cpu_seconds``
    (the fine-tune and its validation, when it ran), ``base`` (chapter 4's training record), ``path``.
    """
    from .diffusion import train_molecule_model

    cfg = cfg or SETTINGS.current()
    cfg4 = cfg4 or CH4_SETTINGS.current()
    if (cfg.T, cfg.type_scale) != (cfg4.T, cfg4.type_scale):
        raise ValueError(f"guidance settings T={cfg.T}, type_scale={cfg.type_scale} differ from chapter 4's "
                         f"T={cfg4.T}, type_scale={cfg4.type_scale}: the fine-tune continues chapter 4's model")
    base, base_info = train_molecule_model(ch04, data, cfg4, seed=seed, progress=progress, cache=cache,
                                           implementation=implementation)
    path = weights_path(cfg, data, state_dict_hash(base.state_dict()), ch04, cfg4)
    if cache and path.exists():
        saved, cached = torch.load(path, weights_only=True), True
    else:
        saved, cached = _finetune(ch04, base, data, cfg, cfg4, seed, progress), False
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.tmp{time.time_ns()}")
            torch.save(saved, tmp)
            tmp.replace(path)
    info = dict(saved["info"])
    steps = choose_finetune_steps(info["validation"]["cond"])
    model = ConditionalEGNN(len(ELEMENTS), cfg4.hidden, cfg4.layers)
    model.load_state_dict(saved["checkpoints"][steps])
    keep = ("cached", "cpu_seconds", "steps", "path")
    return model.eval(), dict(info, steps=steps, cached=cached, path=str(path),
                              base={k: base_info[k] for k in keep if k in base_info})


def finetune_table(info: dict):
    """One row per fine-tune step count (0 = chapter 4's model, label embedding zero): the mean held-out conditional
    loss, its paired difference to chapter 4's model (t-interval over the held-out molecules), the label's use
    (loss with ∅ − loss with the true label, paired: > 0 when the label helps) and which step count the rule chose."""
    import pandas as pd

    from .diffusion_curve import paired_loss_difference

    val, chosen = info["validation"], choose_finetune_steps(info["validation"]["cond"])
    rows = [dict(steps=0, cond_loss=float(np.mean(val["base"])), vs_chapter4=0.0, vs_lo=0.0, vs_hi=0.0,
                 label_use=0.0, use_lo=0.0, use_hi=0.0, chosen=False)]
    for step in sorted(val["cond"]):
        d = paired_loss_difference(val["cond"][step], val["base"])
        u = paired_loss_difference(val["null"][step], val["cond"][step])
        rows.append(dict(steps=int(step), cond_loss=float(np.mean(val["cond"][step])), vs_chapter4=d["difference"],
                         vs_lo=d["low"], vs_hi=d["high"], label_use=u["difference"], use_lo=u["low"], use_hi=u["high"],
                         chosen=int(step) == chosen))
    return pd.DataFrame(rows)


def finetune_choice_text(info: dict) -> str:
    """The chosen fine-tune length as a short clause, from :func:`finetune_table`: "N steps, chosen on the
    validation split", or, when the rule picked the grid's largest step count, that the length is not validated."""
    row = finetune_table(info)
    row = row[row.chosen].iloc[0]
    if int(row.steps) == max(int(c) for c in info["checkpoints"]):
        return (f"{int(row.steps)} steps, the largest of the grid {list(info['checkpoints'])} the validation rule was "
                "offered: the length is not validated (grid edge)")
    return f"{int(row.steps)} steps, chosen on the validation split"


def finetune_lines(info: dict) -> list[str]:
    """Printable lines: what was fine-tuned on which split, the rule and its choice, and whether the chosen model
    uses the label on the held-out molecules (paired interval of loss(∅) − loss(c))."""
    table = finetune_table(info)
    row = table[table.chosen].iloc[0]
    base = info.get("base", {})
    where = "loaded from the cache" if base.get("cached") else "trained in this run"
    uses = ("the label lowers the held-out loss" if row.use_lo > 0 else
            "no detectable use of the label" if row.use_lo <= 0 <= row.use_hi else "the label raises the held-out loss")
    return [f"warm start: chapter 4's model ({base.get('steps', '?')} training steps, {where}) with a zero label embedding; "
            f"label-dropout fine-tune (p_uncond {info['p_uncond']}) on {info['n_train']} molecules, "
            f"{info['n_val']} held out (chapter 4's curve split; chapter 4's model was trained on them, the fine-tune "
            f"never saw them; {info['val_label1']} of them have label 1)",
            f"rule (fixed before sampling): the step count among {info['checkpoints']} with the lowest mean held-out "
            f"conditional denoising loss -> {int(row.steps)} steps (validation split)",
            f"chosen model on the held-out molecules: conditional loss − chapter 4's model {row.vs_chapter4:+.4f} "
            f"[{row.vs_lo:+.4f}, {row.vs_hi:+.4f}]; loss with ∅ − loss with the true label {row.label_use:+.4f} "
            f"[{row.use_lo:+.4f}, {row.use_hi:+.4f}] (paired over {info['n_val']} molecules, 95 % t-interval): {uses}"]
