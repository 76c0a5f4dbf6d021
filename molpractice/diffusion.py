"""Denoising diffusion on a 2D toy and on heavy-atom 3D molecules: data, denoisers, training, samplers,
diagnostics and the ``molpractice bench ch04`` benchmark.

Every function that runs the diffusion maths receives the chapter module (``chapter``) that provides
``cosine_alpha_bar``, ``q_sample``, ``remove_mean``, ``ddpm_step``, ``ddim_step``,
``molecule_from_geometry`` and ``sample_metrics`` — the learner's or the reference, from
``mp.load_chapter("ch04_diffusion")``. Nothing here imports ``solutions`` or ``exercises``.

Two problems:

* **Toy** — a mixture of 8 isotropic Gaussians on a circle (:func:`toy_data`), a small MLP noise
  predictor (:class:`MLPDenoiser`, :func:`train_toy`), scored by :func:`toy_quality` (fraction of samples
  within 3σ of a mode, modes hit).
* **Molecules** — the chapter-2 QM9-like set without hydrogens (:func:`molecule_data`): positions in Å
  with zero centre of mass, atom types C/N/O/F one-hot × ``type_scale``; an E(n)-equivariant EGNN noise
  predictor (:class:`EGNNDenoiser`) trained within a wall-clock budget with an EMA of the weights
  (:func:`train_molecule_model`, cached under ``mp.runtime.cache_dir()``); molecule sizes drawn from the
  training histogram (:func:`sample_molecules`).

Samplers: ``method="ddpm"`` with all T steps uses ``chapter.ddpm_step``; with fewer steps it is the
ancestral sampler on a subsequence, i.e. ``chapter.ddim_step`` with η = 1; ``method="ddim"`` uses
``chapter.ddim_step`` with η = 0 on an evenly spaced subsequence.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from pathlib import Path

import torch
from torch import nn

from .runtime import RunSettings, run_mode

ELEMENTS = (6, 7, 8, 9)  # C, N, O, F: the one-hot order
MODEL_VERSION = 3  # part of the weights' cache key: bump when EGNNDenoiser or the training loop changes
SYMBOLS = {6: "C", 7: "N", 8: "O", 9: "F"}

SETTINGS = RunSettings(
    full=dict(toy_T=1000, toy_steps=3000, toy_seconds=30.0, toy_samples=2000,
              T=500, hidden=128, layers=4, batch_size=64, lr=1e-3, ema_decay=0.99,
              train_seconds=450.0, max_train_steps=6000, type_scale=0.25,
              n_samples=200, n_fast_samples=100, steps_grid=(500, 100, 50), ddim_grid=(50, 20, 10),
              grid_samples=100, n_boot=1000),
    fast=dict(toy_T=200, toy_steps=300, toy_seconds=5.0, toy_samples=500,
              T=100, hidden=32, layers=2, batch_size=32, lr=1e-3, ema_decay=0.9,
              train_seconds=20.0, max_train_steps=150, type_scale=0.25,
              n_samples=24, n_fast_samples=12, steps_grid=(100, 20), ddim_grid=(20, 10),
              grid_samples=12, n_boot=200),
    doc=dict(toy_T="diffusion steps T of the 2D toy", toy_steps="maximum training steps of the toy MLP",
             toy_seconds="wall-clock budget of the toy training (s)", toy_samples="toy samples per sampler",
             T="diffusion steps T of the molecule model", hidden="EGNN width", layers="EGNN layers",
             batch_size="molecules per training step", lr="Adam learning rate",
             ema_decay="decay of the exponential moving average of the weights (used for sampling)",
             train_seconds="wall-clock budget of the molecule training (s; cached afterwards)",
             max_train_steps="maximum molecule training steps", type_scale="one-hot atom types are scaled by this",
             n_samples="molecules sampled for the main (DDPM, all T steps) result",
             n_fast_samples="molecules sampled with DDIM-50 for the timing row",
             steps_grid="DDPM step counts of the quality-vs-steps study",
             ddim_grid="DDIM step counts of the quality-vs-steps study",
             grid_samples="molecules per sampler in the quality-vs-steps study",
             n_boot="bootstrap resamples for the 95 % intervals"),
)


@contextlib.contextmanager
def rdkit_quiet():
    """Silence RDKit's log (e.g. sanitization errors of invalid samples) inside the block only."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


# ============================================================================================ toy
def toy_modes(n_modes: int = 8, radius: float = 2.0):
    """Tensor[n_modes, 2] of the mode centres, evenly spaced on a circle of ``radius``."""

    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def toy_data(n: int, generator=None, n_modes: int = 8, radius: float = 2.0, std: float = 0.1):
    """``n`` samples (Tensor[n, 2], float32) of the mixture of ``n_modes`` Gaussians (std ``std``) on a circle."""

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    modes = toy_modes(n_modes, radius)
    k = torch.randint(0, n_modes, (n,), generator=generator)
    x = modes[k] + std * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return x.float()


def toy_quality(samples, n_modes: int = 8, radius: float = 2.0, std: float = 0.1, min_share: float = 0.02) -> dict:
    """How well 2D samples match the toy mixture.

    Returns:
        dict: ``within_3sigma`` (fraction of samples closer than 3·std to their nearest mode; the data
        itself scores 1 − e^{−4.5} ≈ 0.989), ``modes_hit`` (modes holding at least ``min_share`` of the
        samples within 3σ), ``mode_shares`` (list, share of all samples per mode), ``finite``.
    """

    x = torch.as_tensor(samples, dtype=torch.float64)
    finite = torch.isfinite(x).all(dim=1)
    modes = toy_modes(n_modes, radius)
    d = torch.cdist(torch.nan_to_num(x, nan=1e6, posinf=1e6, neginf=-1e6), modes)
    nearest, which = d.min(dim=1)
    close = (nearest < 3 * std) & finite
    shares = [float((close & (which == k)).float().mean()) for k in range(n_modes)]
    return {"within_3sigma": float(close.float().mean()), "modes_hit": int(sum(s >= min_share for s in shares)),
            "mode_shares": shares, "finite": float(finite.float().mean())}


def time_embedding(t, T: int, dim: int = 32):
    """Sinusoidal embedding (Tensor[len(t), dim]) of integer steps ``t`` (Vaswani et al. / Ho et al.)."""

    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1) * (1000.0 / T)
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    return torch.cat([torch.sin(t * freqs), torch.cos(t * freqs)], dim=1)


def _mlp(sizes, last_act=False):
    from torch import nn

    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2 or last_act:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class MLPDenoiser(nn.Module):
    """ε̂(x_t, t) for 2D points: an MLP on [x_t, sinusoidal embedding of t]."""

    def __init__(self, T: int, dim: int = 2, hidden: int = 128, layers: int = 3, t_dim: int = 32):
        super().__init__()
        self.T, self.t_dim = T, t_dim
        self.net = _mlp([dim + t_dim] + [hidden] * layers + [dim])

    def forward(self, x, t):

        t = torch.as_tensor(t).expand(x.shape[0]) if torch.as_tensor(t).ndim == 0 else t
        return self.net(torch.cat([x, time_embedding(t, self.T, self.t_dim).to(x.dtype)], dim=1))


class EMA:
    """Exponential moving average of a model's parameters: ``shadow ← d·shadow + (1 − d)·param``."""

    def __init__(self, model, decay: float):
        import copy

        if not 0 <= decay < 1:
            raise ValueError(f"decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def update(self, model):

        with torch.no_grad():
            for s, p in zip(self.model.parameters(), model.parameters()):
                s.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)


def _progress(total, desc, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def train_toy(chapter, T: int | None = None, steps: int | None = None, seconds: float | None = None,
              batch_size: int = 512, lr: float = 2e-3, ema_decay: float = 0.995, seed: int = 0,
              progress: bool = True):
    """Train :class:`MLPDenoiser` on fresh toy samples with ``chapter.q_sample`` (ε-prediction, MSE).

    Stops after ``steps`` steps or ``seconds`` of wall-clock time, whichever comes first (defaults from
    ``SETTINGS``). Returns ``(ema_model, history)`` with history ``{"loss": [...], "steps", "seconds"}``.
    """

    cfg = SETTINGS.current()
    T, steps, seconds = T or cfg.toy_T, steps or cfg.toy_steps, seconds or cfg.toy_seconds
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    alpha_bar = chapter.cosine_alpha_bar(T, dtype=torch.float32)
    model = MLPDenoiser(T)
    ema = EMA(model, ema_decay)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / 100))
    losses, start = [], time.perf_counter()
    bar = _progress(steps, "toy training", progress)
    for step in range(steps):
        x0 = toy_data(batch_size, gen)
        t = torch.randint(1, T + 1, (batch_size,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        loss = (model(chapter.q_sample(x0, t, noise, alpha_bar), t) - noise).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ema.update(model)
        losses.append(float(loss.detach()))
        bar.update(1)
        if time.perf_counter() - start > seconds:
            break
    bar.close()
    return ema.model, {"loss": losses, "steps": len(losses), "seconds": time.perf_counter() - start}


def step_schedule(T: int, steps: int):
    """Evenly spaced integer steps T = t_0 > t_1 > … > t_steps = 0 (a subsequence for DDIM / skipped DDPM)."""

    if not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an int in [1, {T}], got {steps!r}")
    times = torch.linspace(T, 0, steps + 1).round().long().tolist()
    return times


def run_sampler(chapter, denoise, x_T, alpha_bar, method: str = "ddpm", steps: int | None = None,
                clip=None, project=None, generator=None, keep=None):
    """Run a reverse process from ``x_T`` with the chapter's step functions.

    Args:
        chapter: the chapter-4 module (``ddpm_step``, ``ddim_step``).
        denoise: callable ``denoise(parts, t) -> list of ε̂`` (one per part).
        x_T: a tensor or a list of tensors (the parts of the state, e.g. positions and atom types).
        alpha_bar: Tensor[T + 1].
        method: ``"ddpm"`` (ancestral; with ``steps < T`` on a subsequence = DDIM with η = 1) or
            ``"ddim"`` (η = 0, deterministic).
        steps: number of sampling steps (default T).
        clip: None, a number, or one value per part (row-norm clip of x̂₀).
        project: None or one callable (or None) per part applied to every fresh noise draw (e.g. remove
            the centre of mass of position noise).
        generator: ``torch.Generator`` for the noise.
        keep: if given, a callable ``keep(parts, t)`` called after every step (trajectories).
    Returns:
        The final state (same structure as ``x_T``).
    """

    single = isinstance(x_T, torch.Tensor)
    parts = [x_T] if single else list(x_T)
    T = alpha_bar.numel() - 1
    steps = steps or T
    clips = clip if isinstance(clip, (list, tuple)) else [clip] * len(parts)
    projects = project if isinstance(project, (list, tuple)) else [project] * len(parts)
    if method not in ("ddpm", "ddim"):
        raise ValueError(f"method must be 'ddpm' or 'ddim', got {method!r}")

    def fresh(k, like):
        z = torch.randn(like.shape, generator=generator, dtype=like.dtype)
        return projects[k](z) if projects[k] is not None else z

    times = step_schedule(T, steps)
    with torch.no_grad():
        for t, t_prev in zip(times[:-1], times[1:]):
            eps = denoise(parts, t)
            new = []
            for k, (x, e) in enumerate(zip(parts, eps)):
                if method == "ddpm" and t_prev == t - 1:
                    new.append(chapter.ddpm_step(x, t, e, alpha_bar, noise=fresh(k, x), clip=clips[k]))
                elif method == "ddpm":
                    new.append(chapter.ddim_step(x, t, t_prev, e, alpha_bar, eta=1.0, noise=fresh(k, x), clip=clips[k]))
                else:
                    new.append(chapter.ddim_step(x, t, t_prev, e, alpha_bar, eta=0.0, clip=clips[k]))
            parts = new
            if keep is not None:
                keep(parts, t_prev)
    return parts[0] if single else parts


def sample_toy(chapter, model, n: int, method: str = "ddpm", steps: int | None = None, clip=None, seed: int = 0):
    """``n`` toy samples (Tensor[n, 2]) from ``model`` with the chapter's sampler; ``clip`` = row-norm bound."""

    alpha_bar = chapter.cosine_alpha_bar(model.T, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n, 2, generator=gen)
    return run_sampler(chapter, lambda parts, t: [model(parts[0], torch.full((n,), t))], x_T, alpha_bar,
                       method=method, steps=steps, clip=clip, generator=gen)


# ============================================================================================ molecules
def molecule_data(max_molecules: int | None = None, verbose: bool = False):
    """The chapter-2 QM9-like set, heavy atoms only (≤ 9 of C, N, O, F), centred.

    Returns:
        list of dicts ``{"z": LongTensor[n], "pos": Tensor[n, 3] (Å, zero mean), "smiles": str}``; the
        SMILES is canonical without stereochemistry (what the metrics compare).
    """
    from rdkit import Chem

    from .geometry3d import load_qm9_like

    out = []
    for d in load_qm9_like(max_molecules=max_molecules, verbose=verbose):
        heavy = d.z > 1
        pos = d.pos[heavy].float()
        out.append({"z": d.z[heavy].clone(), "pos": pos - pos.mean(0, keepdim=True),
                    "smiles": Chem.MolToSmiles(Chem.MolFromSmiles(d.smiles), isomericSmiles=False)})
        if not set(out[-1]["z"].tolist()) <= set(ELEMENTS):
            raise ValueError(f"{d.smiles}: elements outside C, N, O, F")
    return out


def one_hot_types(z, scale: float):
    """Tensor[n, 4]: one-hot over (C, N, O, F) times ``scale``."""

    idx = torch.as_tensor([ELEMENTS.index(int(a)) for a in z], dtype=torch.long)
    return torch.nn.functional.one_hot(idx, len(ELEMENTS)).float() * scale


def size_histogram(data):
    """``{n_atoms: count}`` over the data (sizes are drawn from it when sampling)."""
    from collections import Counter

    return dict(sorted(Counter(int(d["z"].numel()) for d in data).items()))


def complete_graph_edges(batch):
    """Every ordered pair (j, i), j ≠ i, inside each molecule: LongTensor[2, E] (vectorised)."""

    same = batch[:, None] == batch[None, :]
    same.fill_diagonal_(False)
    dst, src = torch.nonzero(same, as_tuple=True)
    return torch.stack([src, dst])


def _centre(x, batch, n_graphs):

    sums = torch.zeros(n_graphs, x.shape[1], dtype=x.dtype).index_add_(0, batch, x)
    counts = torch.bincount(batch, minlength=n_graphs).clamp_min(1).to(x.dtype)
    return x - (sums / counts[:, None])[batch]


class _EGNNBlock(nn.Module):
    """One E(n)-equivariant layer (Satorras et al. 2021) with attention-weighted messages, as in EDM."""

    def __init__(self, hidden: int, coords_range: float = 15.0):
        from torch import nn

        super().__init__()
        # φ_e's first layer on [h_i, h_j, d², d²_0] is split so the node parts are computed once per atom
        # (the same function as one Linear on the concatenation, about twice as fast on complete graphs)
        self.e_dst = nn.Linear(hidden, hidden)
        self.e_src = nn.Linear(hidden, hidden, bias=False)
        self.e_dist = nn.Linear(2, hidden, bias=False)
        self.phi_e = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.att = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid())
        self.phi_h = _mlp([2 * hidden, hidden, hidden])
        self.phi_x = _mlp([hidden, hidden, 1])
        torch.nn.init.xavier_uniform_(self.phi_x[-1].weight, gain=0.001)
        self.coords_range = coords_range

    def forward(self, h, x, src, dst, d2_0):

        diff = x[dst] - x[src]
        d2 = diff.pow(2).sum(-1, keepdim=True)
        m = self.phi_e(self.e_dst(h)[dst] + self.e_src(h)[src] + self.e_dist(torch.cat([d2, d2_0], dim=1)))
        m = m * self.att(m)
        agg = torch.zeros(h.shape[0], m.shape[1], dtype=m.dtype).index_add_(0, dst, m)
        h = h + self.phi_h(torch.cat([h, agg], dim=1))
        shift = diff / (torch.sqrt(d2 + 1e-8) + 1.0) * torch.tanh(self.phi_x(m)) * self.coords_range
        x = x + torch.zeros_like(x).index_add_(0, dst, shift) / 10.0
        return h, x


class EGNNDenoiser(nn.Module):
    """ε̂ for (positions, atom types) of a batch of molecules, E(n)-equivariant in positions.

    Input features: the noisy types h_t (Tensor[n, 4]) and t/T; every pair inside a molecule is an edge
    (with the squared input distance as edge attribute). Output: ε̂_pos = x_L − x_0 with each molecule's
    mean removed (so it lives in the zero-centre-of-mass subspace) and ε̂_h from the final features.
    """

    def __init__(self, n_types: int = 4, hidden: int = 128, layers: int = 4):
        from torch import nn

        super().__init__()
        self.n_types, self.hidden, self.n_layers = n_types, hidden, layers
        self.embed = nn.Linear(n_types + 1, hidden)
        self.blocks = nn.ModuleList(_EGNNBlock(hidden) for _ in range(layers))
        self.out = _mlp([hidden, hidden, n_types])

    def forward(self, pos, h, t_frac, batch, edges=None):
        """``t_frac``: Tensor[n] (per atom) of t/T. Returns ``(eps_pos, eps_h)``."""

        n_graphs = int(batch.max()) + 1
        src, dst = edges if edges is not None else complete_graph_edges(batch)
        d2_0 = (pos[dst] - pos[src]).pow(2).sum(-1, keepdim=True)
        feats = self.embed(torch.cat([h, t_frac[:, None].to(h.dtype)], dim=1))
        x = pos
        for block in self.blocks:
            feats, x = block(feats, x, src, dst, d2_0)
        return _centre(x - pos, batch, n_graphs), self.out(feats)


def _collate(items, scale):

    z = torch.cat([d["z"] for d in items])
    pos = torch.cat([d["pos"] for d in items])
    batch = torch.repeat_interleave(torch.arange(len(items)), torch.tensor([d["z"].numel() for d in items]))
    return z, pos, one_hot_types(z, scale), batch


def _cache_key(cfg, implementation: str, data) -> str:
    keys = ("T", "hidden", "layers", "batch_size", "lr", "ema_decay", "train_seconds", "max_train_steps", "type_scale")
    blob = json.dumps({k: getattr(cfg, k) for k in keys} | {"impl": implementation, "n_data": len(data),
                                                           "model_version": MODEL_VERSION,
                                                           "smiles": hashlib.sha1("".join(d["smiles"] for d in data)
                                                                                  .encode()).hexdigest()[:10]},
                      sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def weights_path(cfg=None, implementation: str = "solutions", data=None):
    """Where the trained molecule model of these settings is cached (``cache_dir()/diffusion_egnn_<key>.pt``)."""
    from .runtime import cache_dir

    cfg = cfg or SETTINGS.current()
    data = data if data is not None else molecule_data()
    return Path(cache_dir()) / f"diffusion_egnn_{_cache_key(cfg, implementation, data)}.pt"


def train_molecule_model(chapter, data, cfg=None, seed: int = 0, progress: bool = True, cache: bool = True,
                         implementation: str | None = None):
    """Train :class:`EGNNDenoiser` (or load it from the cache) and return ``(ema_model, info)``.

    Each step draws ``batch_size`` molecules and one t ∈ {1..T} per molecule; positions are noised with
    ``chapter.q_sample`` using noise projected by ``chapter.remove_mean`` (zero centre of mass per
    molecule), atom types with plain Gaussian noise; the loss is the MSE of ε̂ over both. Training stops at
    ``max_train_steps`` or after ``train_seconds`` of wall-clock time; the learning rate decays along a cosine
    from ``lr`` to ``lr``/10 over that budget. The EMA weights (decay
    ``ema_decay``) are saved to :func:`weights_path` with the training log and loaded with
    ``torch.load(weights_only=True)`` next time (``info["cached"]`` tells which happened).
    """

    from .runtime import implementation_name

    cfg = cfg or SETTINGS.current()
    implementation = implementation or implementation_name()
    path = weights_path(cfg, implementation, data)
    model = EGNNDenoiser(len(ELEMENTS), cfg.hidden, cfg.layers)
    if cache and path.exists():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return model.eval(), dict(saved["info"], cached=True, path=str(path))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    alpha_bar = chapter.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    ema = EMA(model, cfg.ema_decay)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    losses, start = [], time.perf_counter()
    bar = _progress(cfg.max_train_steps, f"EGNN training (≤ {cfg.train_seconds:.0f} s)", progress)
    for step in range(cfg.max_train_steps):
        # cosine decay to 10 % of lr over the budget (steps or seconds, whichever runs out first)
        done = max(step / cfg.max_train_steps, (time.perf_counter() - start) / cfg.train_seconds)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(done, 1.0))))
        idx = torch.randint(0, len(data), (cfg.batch_size,), generator=gen).tolist()
        z, pos, h, batch = _collate([data[i] for i in idx], cfg.type_scale)
        t_mol = torch.randint(1, cfg.T + 1, (cfg.batch_size,), generator=gen)
        t = t_mol[batch]
        eps_x = chapter.remove_mean(torch.randn(pos.shape, generator=gen), batch)
        eps_h = torch.randn(h.shape, generator=gen)
        x_t = chapter.q_sample(pos, t, eps_x, alpha_bar)
        h_t = chapter.q_sample(h, t, eps_h, alpha_bar)
        pred_x, pred_h = model(x_t, h_t, t.float() / cfg.T, batch)
        n_atoms = pos.shape[0]
        loss = ((pred_x - eps_x).pow(2).sum() + (pred_h - eps_h).pow(2).sum()) / (n_atoms * 7)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
        losses.append(float(loss.detach()))
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
        if time.perf_counter() - start > cfg.train_seconds:
            break
    bar.close()
    info = {"steps": len(losses), "seconds": time.perf_counter() - start, "loss": losses[::10],
            "mode": run_mode(), "implementation": implementation}
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"state_dict": ema.model.state_dict(), "info": info}, tmp)
        tmp.replace(path)
    return ema.model.eval(), dict(info, cached=False, path=str(path))


def position_clip(data, margin: float = 1.2) -> float:
    """Row-norm clip for x̂₀ positions: ``margin`` × the largest atom distance from the centre in the data (Å)."""
    return margin * max(float(d["pos"].norm(dim=1).max()) for d in data)


def sample_molecules(chapter, model, sizes, alpha_bar, method: str = "ddpm", steps: int | None = None,
                     type_scale: float = 0.25, pos_clip: float | None = None, seed: int = 0, x_T=None,
                     recentre: bool = True, trajectory: int = 0):
    """Generate molecules of the given ``sizes`` (list of atom counts) with the chapter's sampler.

    Positions start from Gaussian noise projected with ``chapter.remove_mean`` (or from ``x_T`` =
    ``(pos_T, h_T)``); noise of every step is projected the same way; x̂₀ is clipped by row norm
    (``pos_clip`` Å for positions, ``type_scale`` for the types); with ``recentre`` each step's
    positions are re-centred (the row-norm clip of single atoms moves the centre; the notebook measures how far). Atom types are the argmax of h.

    Returns:
        ``(samples, extra)``: samples a list of ``(z LongTensor[n], pos Tensor[n, 3])``; extra a dict with
        ``seconds``, ``x_T`` and, with ``trajectory=k``, ``trajectory`` = list of ``(t, pos, h)`` for the
        first k molecules (their atoms in order; ``trajectory_sizes`` = their sizes), and ``com_drift`` = per
        step the largest |centre of mass| before re-centring.
    """

    gen = torch.Generator().manual_seed(seed)
    sizes = [int(s) for s in sizes]
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    n_graphs = len(sizes)
    edges = complete_graph_edges(batch)
    if x_T is None:
        pos_T = chapter.remove_mean(torch.randn(batch.numel(), 3, generator=gen), batch)
        h_T = torch.randn(batch.numel(), len(ELEMENTS), generator=gen)
    else:
        pos_T, h_T = x_T
    T = alpha_bar.numel() - 1
    first = batch < trajectory
    drift, traj = [], [(T, pos_T[first].clone(), h_T[first].clone())] if trajectory else []

    def denoise(parts, t):
        t_frac = torch.full((batch.numel(),), t / T)
        return list(model(parts[0], parts[1], t_frac, batch, edges))

    def keep(parts, t):
        pos = parts[0]
        sums = torch.zeros(n_graphs, 3).index_add_(0, batch, pos) / torch.bincount(batch, minlength=n_graphs)[:, None]
        drift.append(float(sums.norm(dim=1).max()))
        if recentre:
            parts[0] = _centre(pos, batch, n_graphs)
        if trajectory:
            traj.append((t, parts[0][first].clone(), parts[1][first].clone()))

    start = time.perf_counter()
    pos, h = run_sampler(chapter, denoise, [pos_T, h_T], alpha_bar, method=method, steps=steps,
                         clip=[pos_clip, type_scale], project=[lambda z: chapter.remove_mean(z, batch), None],
                         generator=gen, keep=keep)
    seconds = time.perf_counter() - start
    z_all = torch.tensor(ELEMENTS)[h.argmax(dim=1)]
    samples = [(z_all[batch == g], pos[batch == g]) for g in range(n_graphs)]
    extra = {"seconds": seconds, "x_T": (pos_T, h_T), "com_drift": drift}
    if trajectory:
        extra["trajectory"], extra["trajectory_sizes"] = traj, sizes[:trajectory]
    return samples, extra


def draw_sizes(data, n: int, seed: int = 0):
    """``n`` molecule sizes drawn from the training histogram (seeded)."""

    hist = size_histogram(data)
    sizes = torch.tensor(list(hist.keys()))
    probs = torch.tensor(list(hist.values()), dtype=torch.float64)
    return sizes[torch.multinomial(probs, n, replacement=True, generator=torch.Generator().manual_seed(seed))].tolist()


# ============================================================================================ diagnostics
def metrics(chapter, samples, train_smiles, n_boot: int = 1000, seed: int = 0) -> dict:
    """``chapter.sample_metrics`` plus bootstrap 95 % intervals (resampling the samples) of validity,
    connectivity and novelty.

    Uniqueness gets no interval (``(nan, nan)``): resampling with replacement duplicates samples by
    construction, so the bootstrap distribution of "distinct / total" is biased low and says nothing about
    the model. ``train_smiles`` must be canonical without stereochemistry (as :func:`molecule_data` gives).
    Returns the metrics dict with an extra ``"ci"``: ``{name: (low, high)}``.
    """
    import numpy as np

    with rdkit_quiet():
        out = chapter.sample_metrics(samples, train_smiles)
    smiles = out["smiles"]
    train = set(train_smiles)
    rng = np.random.default_rng(seed)
    n = len(smiles)
    draws = {k: [] for k in ("validity", "connected", "uniqueness", "novelty")}
    for _ in range(n_boot):
        pick = [smiles[i] for i in rng.integers(0, n, n)]
        valid = [s for s in pick if s is not None]
        conn = [s for s in valid if "." not in s]
        distinct = set(conn)
        draws["validity"].append(len(valid) / n)
        draws["connected"].append(len(conn) / n)
        draws["uniqueness"].append(len(distinct) / len(conn) if conn else 0.0)
        draws["novelty"].append(len(distinct - train) / len(distinct) if distinct else 0.0)
    out["ci"] = {k: (float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))) for k, v in draws.items()}
    out["ci"]["uniqueness"] = (float("nan"), float("nan"))
    return out


def bond_recovery(perceive, data) -> dict:
    """Fraction of training molecules whose own geometry ``perceive`` turns back into their SMILES.

    Returns ``{"recovered": fraction, "n": len(data), "failures": [(smiles, got), ...]}``.
    """
    from rdkit import Chem

    failures = []
    with rdkit_quiet():
        for d in data:
            mol = perceive(d["z"], d["pos"])
            got = None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)
            if got != d["smiles"]:
                failures.append((d["smiles"], got))
    return {"recovered": 1 - len(failures) / len(data), "n": len(data), "failures": failures}


# EDM's reference bond lengths (Å) between heavy atoms, used by the naive rule below.
EDM_SINGLE = {(6, 6): 1.54, (6, 7): 1.47, (6, 8): 1.43, (6, 9): 1.35, (7, 7): 1.45, (7, 8): 1.40,
              (7, 9): 1.36, (8, 8): 1.48, (8, 9): 1.42, (9, 9): 1.42}
EDM_DOUBLE = {(6, 6): 1.34, (6, 7): 1.29, (6, 8): 1.20, (7, 7): 1.25, (7, 8): 1.21, (8, 8): 1.21}
EDM_TRIPLE = {(6, 6): 1.20, (6, 7): 1.16, (6, 8): 1.13, (7, 7): 1.10}


def naive_molecule_from_geometry(atomic_numbers, pos):
    """The naive distance-table rule with EDM's margins (Hoogeboom et al. 2022): order 1 if d < l₁ + 0.10 Å,
    2 if d < l₂ + 0.05 Å, 3 if d < l₃ + 0.03 Å, with no valence-aware choice of bond orders.
    Returns a sanitized Mol or None. The notebook shows it on the data to explain why the metric needs more."""
    from rdkit import Chem

    single, double, triple = EDM_SINGLE, EDM_DOUBLE, EDM_TRIPLE

    z = [int(a) for a in atomic_numbers]
    d = torch.cdist(pos.double(), pos.double())
    rw = Chem.RWMol()
    for a in z:
        rw.AddAtom(Chem.Atom(a))
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for i in range(len(z)):
        for j in range(i + 1, len(z)):
            key, x = (min(z[i], z[j]), max(z[i], z[j])), float(d[i, j])
            if x < single[key] + 0.10:
                order = 1
                if key in double and x < double[key] + 0.05:
                    order = 3 if key in triple and x < triple[key] + 0.03 else 2
                rw.AddBond(i, j, kinds[order])
    mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 — RDKit raises several types
        return None
    return mol


def bond_lengths(perceive, samples):
    """Lengths (Å, numpy) of the bonds ``perceive`` finds in every valid sample."""
    import numpy as np

    out = []
    with rdkit_quiet():
        for z, pos in samples:
            mol = perceive(z, pos)
            if mol is None:
                continue
            for b in mol.GetBonds():
                i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
                out.append(float((pos[i] - pos[j]).norm()))
    return np.array(out)


def pairwise_distances(samples):
    """Every intra-molecule heavy-atom distance (Å, numpy) of a list of ``(z, pos)``."""
    import numpy as np

    out = []
    for _, pos in samples:
        d = torch.cdist(pos.double(), pos.double())
        iu = torch.triu_indices(len(pos), len(pos), 1)
        out.append(d[iu[0], iu[1]].numpy())
    return np.concatenate(out) if out else np.zeros(0)


def atom_type_frequencies(samples) -> dict:
    """``{"C": share, "N": …}`` over all atoms of the samples."""

    z = torch.cat([s[0] for s in samples])
    return {SYMBOLS[e]: float((z == e).float().mean()) for e in ELEMENTS}


def wasserstein(a, b) -> float:
    """1-D Wasserstein (earth mover's) distance between two samples of numbers (scipy)."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(a, b))


def nearest_train_similarity(smiles, train_smiles, radius: int = 2, n_bits: int = 2048):
    """For each (valid) SMILES, the largest Morgan-fingerprint Tanimoto similarity to the training set."""
    import numpy as np
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    train_fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in train_smiles]
    out = []
    for s in smiles:
        fp = gen.GetFingerprint(Chem.MolFromSmiles(s))
        out.append(max(DataStructs.BulkTanimotoSimilarity(fp, train_fps)))
    return np.array(out)


def rotate_samples(samples, R):
    """Apply the rotation ``R`` (3×3) to every sample's positions."""
    return [(z, pos @ R.T.to(pos.dtype)) for z, pos in samples]


def sampler_equivariance(chapter, model, sizes, alpha_bar, R, type_scale: float, pos_clip: float,
                         method: str = "ddim", steps: int = 50, seed: int = 0) -> dict:
    """Sample once from x_T and once from the rotated x_T (deterministic DDIM); compare.

    Returns ``{"max_position_error": Å between rotated sample and sample from rotated noise,
    "same_molecules": fraction of samples perceived as the same SMILES (or both invalid)}``.
    """
    from rdkit import Chem

    a, extra = sample_molecules(chapter, model, sizes, alpha_bar, method, steps, type_scale, pos_clip, seed)
    pos_T, h_T = extra["x_T"]
    b, _ = sample_molecules(chapter, model, sizes, alpha_bar, method, steps, type_scale, pos_clip, seed,
                            x_T=(pos_T @ R.T.to(pos_T.dtype), h_T))
    err = max(float((pb - pa @ R.T.to(pa.dtype)).abs().max()) for (_, pa), (_, pb) in zip(a, b))
    same = 0
    with rdkit_quiet():
        for (za, pa), (zb, pb) in zip(a, b):
            ma, mb = chapter.molecule_from_geometry(za, pa), chapter.molecule_from_geometry(zb, pb)
            sa = None if ma is None else Chem.MolToSmiles(ma, isomericSmiles=False)
            sb = None if mb is None else Chem.MolToSmiles(mb, isomericSmiles=False)
            same += sa == sb and bool((za == zb).all())
    return {"max_position_error": err, "same_molecules": same / len(a)}


def forward_moments(chapter, alpha_bar, ts, n: int = 20000, x0_value: float = 1.5, seed: int = 0):
    """Empirical mean and variance of q(x_t | x_0) from ``chapter.q_sample`` (``n`` draws of a 1-D x_0 =
    ``x0_value``) next to the closed forms sqrt(ᾱ_t)·x_0 and 1 − ᾱ_t. Returns a DataFrame, one row per t."""
    import pandas as pd

    gen = torch.Generator().manual_seed(seed)
    x0 = torch.full((n, 1), x0_value, dtype=torch.float64)
    rows = []
    for t in ts:
        xt = chapter.q_sample(x0, int(t), torch.randn(n, 1, generator=gen, dtype=torch.float64), alpha_bar)
        a = float(alpha_bar[int(t)])
        rows.append({"t": int(t), "mean": float(xt.mean()), "mean (closed form)": math.sqrt(a) * x0_value,
                     "variance": float(xt.var()), "variance (closed form)": 1 - a})
    return pd.DataFrame(rows)


def toy_quality_grid(chapter, model, grid, n: int, clip, seed: int = 1):
    """Toy quality and wall time for each ``(method, steps)`` of ``grid``. Returns a DataFrame."""
    import pandas as pd

    rows = []
    for method, steps in grid:
        start = time.perf_counter()
        x = sample_toy(chapter, model, n, method, steps, clip, seed=seed)
        q = toy_quality(x)
        rows.append({"sampler": method.upper(), "steps": steps, "within_3sigma": q["within_3sigma"],
                     "modes_hit": q["modes_hit"], "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows)


def molecule_quality_grid(chapter, model, data, alpha_bar, grid, n: int, type_scale: float, pos_clip: float,
                          n_boot: int = 1000, seed: int = 2):
    """Metrics (with bootstrap 95 % intervals) and wall time of each ``(method, steps)`` of ``grid`` on
    ``n`` molecules (same sizes and seed for every sampler). Returns a DataFrame."""
    import pandas as pd

    train_smiles = [d["smiles"] for d in data]
    sizes = draw_sizes(data, n, seed=seed)
    rows = []
    for method, steps in grid:
        samples, extra = sample_molecules(chapter, model, sizes, alpha_bar, method, steps, type_scale, pos_clip,
                                          seed=seed)
        m = metrics(chapter, samples, train_smiles, n_boot=n_boot, seed=seed)
        rows.append({"sampler": method.upper(), "steps": steps, "n": n, "validity": m["validity"],
                     "connected": m["connected"], "y_low": m["ci"]["connected"][0], "y_high": m["ci"]["connected"][1],
                     "uniqueness": m["uniqueness"], "novelty": m["novelty"], "seconds": extra["seconds"]})
    return pd.DataFrame(rows)


def metrics_table(results: dict):
    """``{label: metrics dict (from :func:`metrics`)}`` → a DataFrame of the four fractions with their intervals."""
    import pandas as pd

    rows = []
    for label, m in results.items():
        row = {"samples": label, "n": m["n_samples"]}
        for k in ("validity", "connected", "uniqueness", "novelty"):
            lo, hi = m["ci"][k]
            row[k] = f"{m[k]:.3f}" + ("" if math.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]")
        rows.append(row)
    return pd.DataFrame(rows).set_index("samples")


# ============================================================================================ benchmark
def run_toy(chapter, cfg=None, progress: bool = True, seed: int = 0):
    """Train the toy model and score DDPM (all steps), DDIM-50 with and without clipping. Returns rows."""
    cfg = cfg or SETTINGS.current()
    model, hist = train_toy(chapter, T=cfg.toy_T, steps=cfg.toy_steps, seconds=cfg.toy_seconds, seed=seed,
                            progress=progress)
    clip = 2.0 + 4 * 0.1
    rows = []
    few = min(50, cfg.toy_T)
    for method, steps, c in (("ddpm", cfg.toy_T, clip), ("ddim", few, clip), ("ddim", few, None)):
        start = time.perf_counter()
        x = sample_toy(chapter, model, cfg.toy_samples, method, steps, c, seed=seed + 1)
        q = toy_quality(x)
        rows.append({"problem": "toy", "sampler": f"{method.upper()}-{steps}" + ("" if c else " (no clip)"),
                     "n": cfg.toy_samples, "within_3sigma": q["within_3sigma"], "modes_hit": q["modes_hit"],
                     "seconds": time.perf_counter() - start})
    return model, hist, rows


def run_benchmark(implementation: str | None = None, steps: int | None = None, json_path=None) -> dict:
    """``molpractice bench ch04``: toy sampler quality, then the molecule model (trained within the
    budget, or loaded from the cache), sampled with DDPM (``steps``, default all T) and DDIM-50.

    Args:
        implementation: ``"exercises"`` or ``"solutions"`` (default: ``MOLPRACTICE_IMPL``).
        steps: DDPM sampling steps of the main molecule row (default T; fewer = ancestral sampling on a
            subsequence).
        json_path: where to write ``{"results": [...], "data_recovery", "training", "mode", …}``.
    Returns:
        the report dict; ``results`` rows have ``problem``, ``sampler``, ``n``, ``seconds`` and either
        ``within_3sigma``/``modes_hit`` (toy) or ``validity``/``connected``/``uniqueness``/``novelty`` (molecules).
    """
    import pandas as pd

    from .implementations import load_chapter
    from .runtime import implementation_name

    implementation = implementation or implementation_name()
    chapter = load_chapter("ch04_diffusion", implementation)
    cfg = SETTINGS.current()
    if steps is not None and not (isinstance(steps, int) and 1 <= steps <= cfg.T):
        raise ValueError(f"--steps must be an int in [1, {cfg.T}], got {steps!r}")
    start = time.perf_counter()
    _, toy_hist, rows = run_toy(chapter, cfg)
    data = molecule_data()
    train_smiles = [d["smiles"] for d in data]
    recovery = bond_recovery(chapter.molecule_from_geometry, data)
    print(f"data row: molecule_from_geometry recovers {recovery['recovered']:.1%} of {recovery['n']} training "
          "molecules from their own geometry")
    model, info = train_molecule_model(chapter, data, cfg, implementation=implementation)
    print(f"molecule model: {'loaded from cache' if info['cached'] else 'trained'} ({info['steps']} steps, "
          f"{info['seconds']:.0f} s of training)")
    alpha_bar = chapter.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    clip = position_clip(data)
    for method, n_steps, n in (("ddpm", steps or cfg.T, cfg.n_samples), ("ddim", min(50, cfg.T), cfg.n_fast_samples)):
        sizes = draw_sizes(data, n, seed=1)
        samples, extra = sample_molecules(chapter, model, sizes, alpha_bar, method, n_steps, cfg.type_scale, clip, seed=1)
        m = metrics(chapter, samples, train_smiles, n_boot=cfg.n_boot)
        rows.append({"problem": "molecules", "sampler": f"{method.upper()}-{n_steps}", "n": n,
                     **{k: m[k] for k in ("validity", "connected", "uniqueness", "novelty")},
                     "connected_ci": m["ci"]["connected"], "seconds": extra["seconds"]})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.drop(columns=["connected_ci"], errors="ignore").round(3).to_string(index=False))
    if run_mode() == "fast":
        print("fast mode: tiny training and few samples — these numbers are not meaningful")
    report = {"chapter": "ch04", "mode": run_mode(), "implementation": implementation,
              "data_recovery": recovery["recovered"], "n_train": len(data),
              "training": {k: info[k] for k in ("steps", "seconds", "cached")},
              "toy_training": {"steps": toy_hist["steps"], "seconds": toy_hist["seconds"]},
              "seconds_total": time.perf_counter() - start, "results": rows}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report
