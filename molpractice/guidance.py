"""Classifier-free guidance on chapter 4's molecule diffusion model: a property-conditioned EGNN trained
with label dropout, guided sampling, a guidance-scale sweep (property shift vs validity, connectivity, diversity,
uniqueness, novelty and chapter 4's plausibility checks, with intervals), and sampling as an optimiser under a
call budget (unguided, and with guidance).

The condition is a binary label of each training molecule: ``1`` when it has at least
:data:`HETERO_THRESHOLD` heteroatoms (N, O, F) among its heavy atoms, else ``0``. A learned embedding of
the label (index 2 = "no label", ∅) is added to every atom's input features (:class:`ConditionalEGNN`,
a subclass of chapter 4's :class:`~molpractice.diffusion.EGNNDenoiser`). During training the label is
replaced by ∅ with probability ``p_uncond`` (label dropout, Ho & Salimans 2022), so one network learns
both ε̂(x, c) and ε̂(x, ∅). At sampling time :class:`GuidedDenoiser` evaluates both and combines them with
the chapter's ``cfg_noise`` (exercise 6.5): ε̂ = (1 + w)·ε̂(x, c) − w·ε̂(x, ∅).

Training runs a fixed number of steps (no clock decides anything), seeded, and the EMA weights are cached
in ``mp.runtime.cache_dir()`` under a key made of the settings, the data and (as chapter 4's own cache does)
a hash of the chapter-4 code that training runs (``cosine_alpha_bar``, ``q_sample``, ``remove_mean``). Every function that runs diffusion maths
receives the chapter-4 module (``ch04``: schedule, forward process, samplers, ``sample_metrics``);
guidance receives the chapter-6 module (``ch06``: ``cfg_noise``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .diffusion import (ELEMENTS, EMA, EGNNDenoiser, draw_sizes, molecule_data, one_hot_types, position_clip,
                        training_source_hash)
from .diffusion_model import _code_hash, package_source_hash, save_weights
from .runtime import RunSettings

HETERO_THRESHOLD = 3
GUIDANCE_VERSION = 2  # part of the cache key: bump when the model or the training loop changes
NULL_LABEL = 2

SETTINGS = RunSettings(
    full=dict(T=500, hidden=64, layers=3, batch_size=64, lr=1e-3, ema_decay=0.995, train_steps=2500,
              p_uncond=0.15, type_scale=0.25, sample_steps=100, n_per_scale=120, scales=(-1.0, 0.0, 1.0, 2.0, 4.0),
              n_boot=1000),
    fast=dict(T=100, hidden=32, layers=2, batch_size=32, lr=1e-3, ema_decay=0.9, train_steps=60,
              p_uncond=0.15, type_scale=0.25, sample_steps=20, n_per_scale=16, scales=(-1.0, 0.0, 1.0, 4.0),
              n_boot=200),
    doc=dict(T="diffusion steps", hidden="EGNN width", layers="EGNN layers", batch_size="molecules per step",
             lr="Adam learning rate (cosine decay to lr/10)", ema_decay="EMA decay of the weights used for sampling",
             train_steps="training steps (fixed: the run is deterministic and cached)",
             p_uncond="probability that a molecule's label is dropped (∅) in training",
             type_scale="one-hot atom types are scaled by this", sample_steps="ancestral sampling steps",
             n_per_scale="molecules sampled per guidance scale", scales="guidance scales w (−1 = unconditional)",
             n_boot="bootstrap resamples for the intervals"),
)


def hetero_count(z) -> int:
    """Heteroatoms (N, O, F) among the heavy atoms ``z``."""
    return int(sum(int(a) in (7, 8, 9) for a in z))


def label_of(z) -> int:
    """The condition label: 1 if the molecule has ≥ HETERO_THRESHOLD heteroatoms, else 0."""
    return int(hetero_count(z) >= HETERO_THRESHOLD)


class ConditionalEGNN(EGNNDenoiser):
    """Chapter 4's EGNN noise predictor with a label embedding added to every atom's input features.

    ``forward(pos, h, t_frac, batch, labels, edges=None)``: ``labels`` LongTensor[n_molecules] with values
    0, 1 or :data:`NULL_LABEL` (∅). The positional output stays E(n)-equivariant (the label is a scalar
    feature of each molecule).
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


def _cache_key(cfg, data, chapter=None) -> str:
    keys = ("T", "hidden", "layers", "batch_size", "lr", "ema_decay", "train_steps", "p_uncond", "type_scale")
    extra = {} if chapter is None else {"source": training_source_hash(chapter)}
    blob = json.dumps({k: getattr(cfg, k) for k in keys} | {
        "version": GUIDANCE_VERSION, "threshold": HETERO_THRESHOLD, "n_data": len(data),
        "package_code": package_source_hash(), "guidance_code": _code_hash([ConditionalEGNN, train_conditional_model]),
        "smiles": hashlib.sha1("".join(d["smiles"] for d in data).encode()).hexdigest()[:10]} | extra, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def weights_path(cfg, data, chapter=None) -> Path:
    """``cache_dir()/cfg_egnn_<key>.pt`` for these settings and data; given the chapter-4 module ``chapter``,
    the key also hashes the code of its functions that training runs (chapter 4's ``training_source_hash``),
    so weights trained with one ``q_sample`` are never loaded for another; the code of chapter 4's denoiser
    and training loop in the package (``diffusion_model.package_source_hash``) and of :class:`ConditionalEGNN`
    and :func:`train_conditional_model` (docstrings, comments and layout excluded) is in the key too."""
    from .runtime import cache_dir

    return Path(cache_dir()) / f"cfg_egnn_{_cache_key(cfg, data, chapter)}.pt"


def train_conditional_model(ch04, data, cfg=None, seed: int = 0, progress: bool = True, cache: bool = True):
    """Train :class:`ConditionalEGNN` with label dropout for ``cfg.train_steps`` steps (or load the cache).

    Each step: ``batch_size`` molecules, one t per molecule, positions noised with ``ch04.q_sample`` and
    noise projected by ``ch04.remove_mean``, types with Gaussian noise; each label is replaced by ∅ with
    probability ``p_uncond``; loss = MSE of ε̂ over positions and types. Returns ``(ema_model, info)`` with
    ``info["cached"]`` telling whether the weights came from the cache. The cache key includes the hash of
    ``ch04``'s training code (:func:`weights_path` with ``chapter=ch04``); a training run records its wall
    and CPU seconds in ``info`` (measured, never obeyed).
    """
    import time

    from tqdm.auto import tqdm

    cfg = cfg or SETTINGS.current()
    path = weights_path(cfg, data, ch04)
    torch.manual_seed(seed)  # the initial weights too: the same settings give the same model
    model = ConditionalEGNN(len(ELEMENTS), cfg.hidden, cfg.layers)
    if cache and path.exists():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return model.eval(), dict(saved["info"], cached=True, path=str(path))
    gen = torch.Generator().manual_seed(seed)
    alpha_bar = ch04.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    labels_all = torch.tensor([label_of(d["z"]) for d in data])
    ema = EMA(model, cfg.ema_decay)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.train_steps, eta_min=cfg.lr / 10)
    losses, start, cpu_start = [], time.perf_counter(), time.process_time()
    bar = tqdm(total=cfg.train_steps, desc="conditional EGNN training", disable=not progress)
    for step in range(cfg.train_steps):
        idx = torch.randint(0, len(data), (cfg.batch_size,), generator=gen)
        items = [data[i] for i in idx.tolist()]
        pos = torch.cat([d["pos"] for d in items])
        h = torch.cat([one_hot_types(d["z"], cfg.type_scale) for d in items])
        batch = torch.repeat_interleave(torch.arange(len(items)), torch.tensor([d["z"].numel() for d in items]))
        labels = labels_all[idx].clone()
        labels[torch.rand(len(items), generator=gen) < cfg.p_uncond] = NULL_LABEL
        t = torch.randint(1, cfg.T + 1, (len(items),), generator=gen)[batch]
        eps_x = ch04.remove_mean(torch.randn(pos.shape, generator=gen), batch)
        eps_h = torch.randn(h.shape, generator=gen)
        pred_x, pred_h = model(ch04.q_sample(pos, t, eps_x, alpha_bar), ch04.q_sample(h, t, eps_h, alpha_bar),
                               t.float() / cfg.T, batch, labels)
        loss = ((pred_x - eps_x).pow(2).sum() + (pred_h - eps_h).pow(2).sum()) / (pos.shape[0] * 7)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        ema.update(model)
        losses.append(float(loss.detach()))
        bar.update(1)
    bar.close()
    info = {"steps": len(losses), "loss": losses[::10], "p_uncond": cfg.p_uncond,
            "positive_share": float(labels_all.float().mean()), "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start, "threads": torch.get_num_threads(),
            "source_hash": training_source_hash(ch04)}
    if cache:
        save_weights(path, ema.model.state_dict(), info)
    return ema.model.eval(), dict(info, cached=False, path=str(path))


def sample_guided(ch04, ch06, model, data, w: float, n: int, label: int = 1, cfg=None, seed: int = 0):
    """``n`` molecules guided towards ``label`` with scale ``w`` (sizes from the training histogram).

    The same seed gives the same sizes and starting noise at every scale, so scales are compared on
    paired draws.
    """
    from .diffusion import sample_molecules

    cfg = cfg or SETTINGS.current()
    sizes = draw_sizes(data, n, seed=seed)
    alpha_bar = ch04.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    guided = GuidedDenoiser(model, ch06, torch.full((n,), int(label), dtype=torch.long), w)
    samples, _ = sample_molecules(ch04, guided, sizes, alpha_bar, method="ddpm", steps=cfg.sample_steps,
                                  type_scale=cfg.type_scale, pos_clip=position_clip(data), seed=seed)
    return samples


def _boot(values, n_boot, rng):
    values = np.asarray(values, float)
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(1)
    return float(values.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def _similarity(smiles):
    from rdkit import DataStructs

    from .oracles import fingerprint, mol_from_smiles

    fps = [fingerprint(mol_from_smiles(s)) for s in smiles]
    return np.array([DataStructs.BulkTanimotoSimilarity(f, fps) for f in fps]) if fps else np.zeros((0, 0))


def _diversity_of(sim, idx) -> float:
    """1 − mean off-diagonal similarity among the rows ``idx`` (pairs of a molecule with its own copy dropped)."""
    if len(idx) < 2:
        return float("nan")
    keep = idx[:, None] != idx[None, :]
    return 1.0 - float(sim[np.ix_(idx, idx)][keep].mean()) if keep.any() else float("nan")


def _per_sample(samples, smiles, plausible=None):
    """One row per sample: its label (from the atom types), valid, connected (valid, one fragment), SMILES and,
    when given (one bool per sample), ``plausible`` (chapter 4's checks: :func:`molpractice.plausibility.plausibility`)."""
    import pandas as pd

    out = pd.DataFrame(dict(label=[label_of(z) for z, _ in samples], hetero=[hetero_count(z) for z, _ in samples],
                            valid=[s is not None for s in smiles],
                            connected=[s is not None and "." not in s for s in smiles],
                            smiles=list(smiles)))
    if plausible is not None:
        out["plausible"] = np.asarray(plausible, bool) & out["connected"].to_numpy()
    return out


def _stats(ps, sim, idx) -> dict:
    """Validity, connectivity, label-1 share among connected, diversity of the connected and the label-1 yield
    (valid connected label-1 molecules per sample drawn = connected × that share), on rows ``idx``."""
    valid, connected, label = (ps[c].to_numpy() for c in ("valid", "connected", "label"))
    pos = np.cumsum(connected) - 1  # row of each connected sample in ``sim``
    conn = idx[connected[idx]]
    out = dict(validity=float(valid[idx].mean()), connected=float(connected[idx].mean()),
               label_share_valid=float(label[conn].mean()) if len(conn) else float("nan"),
               diversity=_diversity_of(sim, pos[conn]),
               label1_yield=float((connected[idx] & (label[idx] == 1)).mean()))
    if "plausible" in ps:
        plaus = ps["plausible"].to_numpy()
        out["plausible"] = float(plaus[idx].mean())
        out["plausible_valid"] = float(plaus[conn].mean()) if len(conn) else float("nan")
    return out


def guidance_sweep(ch04, ch06, model, data, cfg=None, seed: int = 0, plausibility: bool = True) -> "pd.DataFrame":
    """For each guidance scale: the property (share of samples with label 1 and mean heteroatom count, over
    all samples, from their atom types), validity, connectivity (valid and one fragment), the label-1 share
    among the valid connected samples (what a chemist would receive), uniqueness and novelty (chapter 4's
    ``sample_metrics``; uniqueness without interval), the diversity of the valid connected molecules (1 −
    mean pairwise Tanimoto) and, with ``plausibility``, chapter 4's plausibility checks
    (:func:`molpractice.plausibility.plausibility`: valid, one fragment, every geometry check, no group of its
    short cited list of implausible groups; Brenk's screening filters are not part of it)
    as ``plausible`` (over all samples) and ``plausible_valid`` (among the valid connected ones). Intervals:
    Clopper–Pearson 95 % for the rates label_share, label_share_valid, validity, connected, plausible and
    plausible_valid (k of n; a bootstrap would collapse to a point at 0 or 1), percentile bootstrap 95 % over the
    samples for the others (heteroatoms, label1_yield, diversity); each rate's ``_k`` and ``_n`` are columns too.
    ``attrs["per_sample"]`` keeps each scale's samples (label, valid, connected, plausible, SMILES) for
    :func:`scale_difference`; ``attrs["train_plausible"]`` the training molecules' own plausible rate dict."""
    import pandas as pd

    from .diffusion import metrics
    from .plausibility import clopper_pearson
    from .plausibility import plausibility as check_plausibility

    cfg = cfg or SETTINGS.current()
    train_smiles = [d["smiles"] for d in data]
    rows, per_sample = [], {}
    for w in cfg.scales:
        samples = sample_guided(ch04, ch06, model, data, w, cfg.n_per_scale, cfg=cfg, seed=seed)
        rng = np.random.default_rng(seed)
        m = metrics(ch04, samples, train_smiles, n_boot=cfg.n_boot, seed=seed)
        plaus = check_plausibility(ch04, samples)["rows"]["plausible"].to_numpy(bool) if plausibility else None
        ps = _per_sample(samples, m["smiles"], plaus)
        per_sample[w] = ps
        row = {"w": w}
        for name, vals in (("label_share", ps["label"]), ("heteroatoms", ps["hetero"])):
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = _boot(vals, cfg.n_boot, rng)
        for name in ("uniqueness", "novelty"):
            row[name] = float(m[name])
        sim = _similarity(ps["smiles"][ps["connected"]].tolist())
        point = _stats(ps, sim, np.arange(len(ps)))
        draws = [_stats(ps, sim, rng.integers(0, len(ps), len(ps))) for _ in range(cfg.n_boot)]
        for name, value in point.items():
            vals = np.array([d[name] for d in draws], float)
            row[name] = value
            row[f"{name}_lo"], row[f"{name}_hi"] = (float(np.nanquantile(vals, 0.025)), float(np.nanquantile(vals, 0.975))) \
                if np.isfinite(vals).any() else (float("nan"), float("nan"))
        conn = ps["connected"].to_numpy()
        lab = ps["label"].to_numpy() == 1
        counts = {"label_share": (int(lab.sum()), len(ps)), "label_share_valid": (int(lab[conn].sum()), int(conn.sum())),
                  "validity": (int(ps["valid"].sum()), len(ps)), "connected": (int(conn.sum()), len(ps))}
        if "plausible" in ps:
            counts |= {"plausible": (int(ps["plausible"].sum()), len(ps)),
                       "plausible_valid": (int(ps["plausible"][conn].sum()), int(conn.sum()))}
        for name, (k, n) in counts.items():  # rates: exact binomial intervals (chapter 4's choice)
            row[f"{name}_k"], row[f"{name}_n"] = k, n
            row[f"{name}_lo"], row[f"{name}_hi"] = clopper_pearson(k, n)
        rows.append(row)
    data_share = float(np.mean([label_of(d["z"]) for d in data]))
    out = pd.DataFrame(rows)
    out.attrs["train_label_share"] = data_share
    if plausibility:
        out.attrs["train_plausible"] = check_plausibility(ch04, [(d["z"], d["pos"]) for d in data])["rates"]["plausible"]
    out.attrs["per_sample"] = per_sample
    return out


def scale_difference(sweep, w_a: float, w_b: float, n_boot: int = 1000, seed: int = 0) -> "pd.DataFrame":
    """Paired bootstrap of (scale ``w_a``) − (scale ``w_b``) for validity, connectivity, label-1 share among
    the valid connected samples, their diversity, the label-1 yield per sample drawn and (when the sweep ran
    them) the plausible rates: the same sample indices are resampled at both scales
    (the sweep draws the same sizes and starting noise at every scale). Rows: metric, difference, lo, hi, p (the
    percentile bootstrap's two-sided p-value, 2·(1 + draws on the far side of 0)/(draws + 1), for Holm's correction
    over the printed family: :func:`molpractice.campaign.holm_table`)."""
    import pandas as pd

    a, b = sweep.attrs["per_sample"][w_a], sweep.attrs["per_sample"][w_b]
    if len(a) != len(b):
        raise ValueError(f"scales {w_a} and {w_b} have {len(a)} and {len(b)} samples: not paired")
    sims = [_similarity(ps["smiles"][ps["connected"]].tolist()) for ps in (a, b)]
    rng = np.random.default_rng(seed)
    full = np.arange(len(a))
    point = {k: v - _stats(b, sims[1], full)[k] for k, v in _stats(a, sims[0], full).items()}
    draws = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        sa, sb = _stats(a, sims[0], idx), _stats(b, sims[1], idx)
        draws.append({k: sa[k] - sb[k] for k in sa})
    rows = []
    for name, value in point.items():
        vals = np.array([d[name] for d in draws], float)
        finite = vals[~np.isnan(vals)]
        tail = min(int((finite <= 0).sum()), int((finite >= 0).sum()))
        rows.append(dict(metric=name, difference=value, lo=float(np.nanquantile(vals, 0.025)),
                         hi=float(np.nanquantile(vals, 0.975)), p=min(1.0, 2 * (1 + tail) / (len(finite) + 1))))
    return pd.DataFrame(rows)


def load_data(cfg=None):
    """Chapter 4's QM9-like heavy-atom molecules (built offline and cached on first use)."""
    return molecule_data()


SAMPLING_METHOD = "w = −1 sampler (this chapter's label-dropout EGNN)"  # the stand-in for chapter 4's model, not that model
SAMPLER_COLUMNS = ["seed", "samples", "draws_to_budget", "valid_connected", "calls", "budget_spent", "label1", "proxy_top10",
                   "true_top10", "auc_top10", "heavy_atoms"]  # a sampler's table, as the notebook shows it


def draw_seed(seed: int, chunk: int) -> int:
    """The sampling seed of ``chunk`` (0, 1, …) of reported seed ``seed``: ``10_000 + seed + 100_000 · chunk``
    (never the sweep's seed 0; chunk 0 is ``10_000 + seed``; distinct for every seed below 100 000)."""
    if not 0 <= int(seed) < 100_000 or int(chunk) < 0:
        raise ValueError(f"need 0 <= seed < 100000 and chunk >= 0, got seed={seed}, chunk={chunk}")
    return 10_000 + int(seed) + 100_000 * int(chunk)


CHAPTER4_METHOD = "chapter 4's model (DDIM-50)"  # chapter 4's own unconditional EGNN, with its fast sampler


def chapter4_draw(ch04, model, data, steps: int = 50, cfg4=None):
    """A ``draw(n, seed) -> samples`` function for :func:`sampling_baseline`: ``n`` molecules from chapter 4's own
    model (``model``: :func:`molpractice.diffusion.train_molecule_model`) with chapter 4's DDIM sampler of ``steps``
    steps (its fast sampler: DDIM-50), sizes from the training histogram, chapter 4's position clip and type scale
    (``cfg4``: chapter 4's settings, default the current mode's)."""
    from .diffusion import SETTINGS as CH4_SETTINGS, sample_molecules

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    cfg4 = cfg4 or CH4_SETTINGS.current()
    alpha_bar = ch04.cosine_alpha_bar(cfg4.T, dtype=torch.float32)
    clip = position_clip(data)

    def draw(n: int, seed: int):
        samples, _ = sample_molecules(ch04, model, draw_sizes(data, n, seed=seed), alpha_bar, "ddim", steps,
                                      cfg4.type_scale, clip, seed=seed)
        return samples
    return draw


def chapter4_baseline(ch04, data, budget: int, seeds, chunk: int, max_draws: int | None = None, steps: int = 50,
                      cfg4=None, implementation: str | None = None):
    """Random sampling from chapter 4's own model under a call budget: its EGNN from
    :func:`molpractice.diffusion.train_molecule_model` (chapter 4's settings ``cfg4``, default the current mode's; loaded
    from the cache when it holds these settings, else trained here) sampled with :func:`chapter4_draw` (DDIM-``steps``)
    through :func:`sampling_baseline` (method :data:`CHAPTER4_METHOD`). Returns ``(table, info)``, ``info`` the
    training record (``cached``, ``steps``, ``cpu_seconds`` of the run that trained it)."""
    from .diffusion import train_molecule_model

    model, info = train_molecule_model(ch04, data, cfg4, progress=False, implementation=implementation)
    method = CHAPTER4_METHOD if steps == 50 else f"chapter 4's model (DDIM-{steps})"
    table = sampling_baseline(ch04, None, None, data, budget, seeds, chunk, max_draws=max_draws, method=method,
                              draw=chapter4_draw(ch04, model, data, steps, cfg4))
    return table, info


def sampling_baseline(ch04, ch06, model, data, budget: int, seeds, chunk: int, cfg=None, w: float = -1.0,
                      label: int = 1, method: str | None = None, max_draws: int | None = None,
                      draw=None) -> "pd.DataFrame":
    """Sampling from the label-dropout EGNN as an optimiser under a call budget: unguided (the default,
    w = −1: the stand-in for the issue's "random sampling from chapter 4's model") or, with ``w`` ≥ 0 and
    ``label``, classifier-free guidance as an optimiser.

    For each seed, molecules are drawn from ``model`` at scale ``w`` (w = −1: ε̂(x, ∅), the unconditional branch
    that label dropout trains alongside the conditional one) in chunks of ``chunk``, chunk k with seed
    :func:`draw_seed` ``(seed, k)`` (never the sweep's draws; the same sizes and starting noise at every ``w``, so
    two samplers of the same seed are paired). The valid connected ones go, in the order drawn, to a
    :class:`~molpractice.oracles.BudgetedOracle` of ``budget`` calls (repeats are free) for the buggy and for
    the bug-free proxy (both see the same distinct molecules, so both spend the same calls). Drawing stops when
    the budget is spent, or after ``max_draws`` draws (default ``20 · budget``) — ``budget_spent`` says which; only a
    run that stopped at the cap has an AUC padded with its last top-10 value (:func:`~molpractice.oracles.top_k_auc`).
    The 10 best by that proxy are "shipped". Invalid or fragmented samples cost no call.

    ``draw(n, seed) -> samples`` replaces the label-dropout EGNN by another sampler (e.g. :func:`chapter4_draw`:
    chapter 4's own model; ``model``, ``ch06``, ``w`` and ``label`` are then unused and ``method`` is required).

    Returns one row per (proxy, seed) with the optimisation study's columns (``proxy`` "buggy"/"bug-free",
    ``method`` (default :data:`SAMPLING_METHOD` for w = −1, else ``"CFG sampling (w=…)"``), ``seed``,
    ``proxy_top10``, ``true_top10``, ``auc_top10``, ``halogens_top10``, ``sa_top10``, ``calls``) plus ``w``,
    ``samples`` (draws made, the last chunk whole), ``draws_to_budget`` (the draw that spent the last call, NaN
    if the budget was not spent), ``budget_spent``, ``valid_connected`` (of ``samples``), ``label1`` (draws with
    label 1 by their atom types, of ``samples``) and ``heavy_atoms`` (mean heavy atoms of the shipped 10).
    """
    import pandas as pd

    from . import oracles
    from .diffusion import metrics

    if int(budget) < 10 or int(chunk) < 1 or (max_draws is not None and int(max_draws) < 1):
        raise ValueError(f"need budget >= 10, chunk >= 1 and max_draws >= 1 (or None), got budget={budget}, "
                         f"chunk={chunk}, max_draws={max_draws}")
    if draw is not None and not method:
        raise ValueError("method must name the sampler when draw is given")
    cfg = cfg or SETTINGS.current()
    method = method or (SAMPLING_METHOD if float(w) == -1.0 else f"CFG sampling (w={float(w):g})")
    own = draw is None
    if own:
        def draw(n, seed_):
            return sample_guided(ch04, ch06, model, data, float(w), n, label=label, cfg=cfg, seed=seed_)
    max_draws = 20 * int(budget) if max_draws is None else int(max_draws)
    train_smiles = [d["smiles"] for d in data]
    rows = []
    for seed in seeds:
        made = n_label1 = n_valid = 0
        to_budget = float("nan")
        found = {True: oracles.BudgetedOracle(lambda s: oracles.proxy_score(s, bug=True), budget, "proxy"),
                 False: oracles.BudgetedOracle(lambda s: oracles.proxy_score(s, bug=False), budget, "proxy")}
        k = 0
        while found[False].remaining > 0 and made < max_draws:
            n = min(int(chunk), max_draws - made)
            samples = draw(n, draw_seed(seed, k))
            n_label1 += sum(label_of(z) for z, _ in samples)
            for i, s in enumerate(metrics(ch04, samples, train_smiles)["smiles"]):
                if s is None or "." in s:
                    continue
                n_valid += 1
                for oracle in found.values():
                    if oracle.remaining > 0:
                        oracle([s])
                if found[False].remaining == 0 and np.isnan(to_budget):
                    to_budget = float(made + i + 1)
            made += n
            k += 1
        common = dict(method=method, seed=int(seed), w=float(w) if own else float("nan"), label1=n_label1, samples=made, valid_connected=n_valid,
                      draws_to_budget=to_budget, budget_spent=bool(found[False].remaining == 0))
        for proxy, bug in (("buggy", True), ("bug-free", False)):
            oracle = found[bug]
            top = sorted(oracle.history, key=lambda x: -x[1])[:10]
            mols = [oracles.mol_from_smiles(s) for s, _ in top]
            if not top:  # no valid connected sample: nothing to ship
                rows.append(dict(common, proxy=proxy, calls=0) | dict.fromkeys(
                    ("proxy_top10", "true_top10", "auc_top10", "halogens_top10", "sa_top10", "heavy_atoms"), float("nan")))
                continue
            rows.append(dict(common, proxy=proxy, calls=oracle.calls,
                             proxy_top10=float(np.mean([v for _, v in top])),
                             true_top10=float(np.mean([oracles.true_score(s) for s, _ in top])),
                             auc_top10=oracles.top_k_auc([v for _, v in oracle.history], budget),
                             halogens_top10=float(np.mean([oracles.halogen_count(m) for m in mols])),
                             sa_top10=float(np.mean([oracles.sa_score(s) for s, _ in top])),
                             heavy_atoms=float(np.mean([m.GetNumHeavyAtoms() for m in mols]))))
    first = ["proxy", "method", "seed"]
    out = pd.DataFrame(rows)
    return out[first + [c for c in out.columns if c not in first]]


def sampler_summary(sampled, budget: int, proxy: str = "bug-free") -> str:
    """One line about a :func:`sampling_baseline` table: in how many seeds the ``budget`` was spent and after how
    many draws, and the share of draws with label 1 (all seeds pooled) with its Clopper–Pearson 95 % interval."""
    from .plausibility import clopper_pearson

    s = sampled[sampled.proxy == proxy]
    k, n = int(s.label1.sum()), int(s.samples.sum())
    lo, hi = clopper_pearson(k, n)
    draws = s.draws_to_budget.dropna()
    after = f", after {int(draws.min())}–{int(draws.max())} draws" if len(draws) else ""
    return (f"{budget} proxy calls spent in {int(s.budget_spent.sum())} of {len(s)} seeds{after}; label 1 in {k} of {n} draws = "
            f"{k / n:.3f} [{lo:.3f}, {hi:.3f}] (Clopper–Pearson)")


def sweep_reference_lines(sweep) -> list[str]:
    """Printable lines that read :func:`guidance_sweep` against the training molecules: their own plausible rate
    (chapter 4's checks, Clopper–Pearson 95 %), the unguided (w = −1) plausible rate among valid connected samples
    next to it (below it when its interval lies under the training interval's lower end) with the share that fails
    the checks, and the label-1 share at w = −1 and w = 0 (asked for label 1) against the training share."""
    out = []
    tp = sweep.attrs.get("train_plausible")
    if tp is not None:
        out.append(f"plausible by chapter 4's checks, the {tp['n']} training molecules themselves: {tp['rate']:.3f} "
                   f"[{tp['low']:.3f}, {tp['high']:.3f}]")
        if -1.0 in set(sweep.w) and "plausible_valid" in sweep:
            m1 = sweep[sweep.w == -1.0].iloc[0]
            where = "below" if m1.plausible_valid_hi < tp["low"] else "not below"
            out.append(f"unguided (w = −1): plausible among valid connected samples {m1.plausible_valid:.2f} "
                       f"[{m1.plausible_valid_lo:.2f}, {m1.plausible_valid_hi:.2f}] — {where} the training molecules' rate: "
                       f"{1 - m1.plausible_valid:.0%} of them fail chapter 4's checks before any guidance")
    share = sweep.attrs["train_label_share"]
    for w in (-1.0, 0.0):
        if w not in set(sweep.w):
            continue
        b = sweep[sweep.w == w].iloc[0]
        where = "below" if b.label_share_hi < share else "above" if b.label_share_lo > share else "consistent with"
        out.append(f"w = {w:g}, asked for label 1: label-1 share {b.label_share:.2f} [{b.label_share_lo:.2f}, "
                   f"{b.label_share_hi:.2f}], {where} the training share {share:.2f}")
    return out


def choose_scale(sweep, metric: str = "label1_yield", min_w: float = 0.0) -> float:
    """The guidance scale (≥ ``min_w``) with the largest point estimate of ``metric`` in ``sweep`` — a choice
    made on the sweep's draws, so a result at that scale must be reported on fresh draws."""
    pick = sweep[sweep.w >= min_w]
    if pick.empty or metric not in pick:
        raise ValueError(f"no scale >= {min_w} with column {metric!r} in the sweep")
    return float(pick.loc[pick[metric].idxmax(), "w"])


def data_top10(data, bug: bool) -> dict:
    """The 10 best of *all* of chapter 4's training molecules by the proxy (``bug`` as in
    :func:`~molpractice.oracles.proxy_score`): their mean proxy and true score. A sampler that reproduced
    its training data could not ship a better top 10 from these molecules, whatever its budget."""
    from . import oracles

    scored = sorted(((oracles.proxy_score(d["smiles"], bug=bug), d["smiles"]) for d in data), reverse=True)[:10]
    return dict(proxy_top10=float(np.mean([v for v, _ in scored])),
                true_top10=float(np.mean([oracles.true_score(s) for _, s in scored])), n=len(data))


def heavy_atoms_text(samplers: dict, data, lib) -> str:
    """Mean heavy atoms of each sampler's shipped top 10 on the bug-free proxy (``samplers``: name → a
    :func:`sampling_baseline` table), of the ``data``'s training molecules and of the library ``lib``, and the
    halogens per shipped molecule of each sampler on the buggy proxy, and the elements the diffusion models can generate
    (:data:`molpractice.diffusion_model.ELEMENTS`)."""
    from rdkit import Chem

    from . import oracles
    from .diffusion_model import ELEMENTS

    if not samplers:
        raise ValueError("samplers must name at least one sampling_baseline table")
    parts = [f"{k} {t[t.proxy == 'bug-free'].heavy_atoms.mean():.1f}" for k, t in samplers.items()]
    halo = [f"{k} {t[t.proxy == 'buggy'].halogens_top10.mean():.1f}" for k, t in samplers.items()]
    return (f"heavy atoms of the shipped top 10: {', '.join(parts)}; training molecules "
            f"{np.mean([len(d['z']) for d in data]):.1f}, library "
            f"{np.mean([oracles.mol_from_smiles(s).GetNumHeavyAtoms() for s in lib]):.1f}; halogens per shipped molecule "
            f"on the buggy proxy: {', '.join(halo)} (elements both diffusion models generate: "
            f"{', '.join(Chem.GetPeriodicTable().GetElementSymbol(int(z)) for z in ELEMENTS)})")
