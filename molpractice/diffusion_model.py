"""Diffusion models of chapter 4: run settings, the 2D toy (data, quality score, MLP denoiser), the heavy-atom
molecule data, the EGNN denoiser, and training with an EMA of the weights (fixed step counts, cached weights).

Everything here is importable from :mod:`molpractice.diffusion` (the chapter's public facade). Functions
that run the diffusion maths receive the chapter module (``chapter``: the learner's or the reference, from
``mp.load_chapter("ch04_diffusion")``); nothing here imports ``solutions`` or ``exercises``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from pathlib import Path

import torch
from torch import nn

from .runtime import RunSettings, run_mode

__all__ = ['ELEMENTS', 'MODEL_VERSION', 'SYMBOLS', 'SETTINGS', 'rdkit_quiet', 'toy_modes', 'toy_data',
           'toy_quality', 'time_embedding', 'MLPDenoiser', 'EMA', 'train_toy', 'molecule_data', 'one_hot_types',
           'size_histogram', 'complete_graph_edges', 'EGNNDenoiser', 'weights_path', 'train_molecule_model',
           'TRAINING_FUNCTIONS', 'training_source_hash', 'state_dict_hash']

ELEMENTS = (6, 7, 8, 9)  # C, N, O, F: the one-hot order


MODEL_VERSION = 4  # part of the weights' cache key: bump when EGNNDenoiser or the training loop changes


SYMBOLS = {6: "C", 7: "N", 8: "O", 9: "F"}


SETTINGS = RunSettings(
    full=dict(toy_T=1000, toy_steps=3000, toy_samples=2000,
              T=500, hidden=128, layers=4, batch_size=64, lr=1e-3, ema_decay=0.99,
              train_steps=4500, type_scale=0.25,
              n_samples=200, n_fast_samples=100, n_boot=1000,
              control_steps=(50, 100, 250, 500), control_samples=100, bench_samples=400),
    fast=dict(toy_T=200, toy_steps=300, toy_samples=500,
              T=100, hidden=32, layers=2, batch_size=32, lr=1e-3, ema_decay=0.9,
              train_steps=150, type_scale=0.25,
              n_samples=24, n_fast_samples=12, n_boot=200,
              control_steps=(20, 50, 100), control_samples=12, bench_samples=16),
    doc=dict(toy_T="diffusion steps T of the 2D toy", toy_steps="training steps of the toy MLP (fixed)",
             toy_samples="toy samples per sampler",
             T="diffusion steps T of the molecule model", hidden="EGNN width", layers="EGNN layers",
             batch_size="molecules per training step", lr="Adam learning rate",
             ema_decay="decay of the exponential moving average of the weights (used for sampling)",
             train_steps=("molecule training steps (fixed: the same model on the same CPU type, PyTorch version and "
                          "thread count; chosen by the training-length curve's rule: the lowest validation loss among "
                          "end-of-run candidates whose curve run fits 8 CPU-min on 1 thread; cached afterwards)"),
             type_scale="one-hot atom types are scaled by this",
             n_samples="molecules sampled for the main (DDPM, all T steps) result",
             n_fast_samples="molecules sampled with DDIM-50 for the timing row",
             n_boot=("bootstrap resamples for the intervals of the internal-diversity difference, the aromatic-bond "
                     "counts and the nearest-neighbour reference (rates use Clopper–Pearson)"),
             control_steps="step counts of the sampler controls (DDPM / DDIM × x̂₀ clip on / off)",
             control_samples="molecules per sampler-control run",
             bench_samples="bench only: molecules sampled with DDPM for the main row of `molpractice bench ch04`"),
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
    """A tqdm bar that stays in the output (``leave=True``): a run of fixed length ends at 100 %, so the
    stored notebook shows a complete bar, never a 0 % text fallback."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=True)


def train_toy(chapter, T: int | None = None, steps: int | None = None, batch_size: int = 512, lr: float = 2e-3,
              ema_decay: float = 0.995, seed: int = 0, progress: bool = True):
    """Train :class:`MLPDenoiser` on fresh toy samples with ``chapter.q_sample`` (ε-prediction, MSE).

    Runs exactly ``steps`` steps (default ``SETTINGS.toy_steps``): the wall time is measured and reported,
    never used to stop, so the same seed gives the same model on the same CPU type, PyTorch version and thread
    count. Returns
    ``(ema_model, history)`` with history ``{"loss": [...], "steps", "seconds"}``.
    """

    cfg = SETTINGS.current()
    T, steps = T or cfg.toy_T, steps or cfg.toy_steps
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    alpha_bar = chapter.cosine_alpha_bar(T, dtype=torch.float32)
    model = MLPDenoiser(T)
    ema = EMA(model, ema_decay)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / 100))
    losses, start = [], time.perf_counter()
    with _progress(steps, "toy training", progress) as bar:
        for _ in range(steps):
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
    return ema.model, {"loss": losses, "steps": len(losses), "seconds": time.perf_counter() - start}


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

        if not torch.is_grad_enabled():
            return self._forward_no_grad(h, x, src, dst, d2_0)
        diff = x[dst] - x[src]
        d2 = diff.pow(2).sum(-1, keepdim=True)
        m = self.phi_e(self.e_dst(h)[dst] + self.e_src(h)[src] + self.e_dist(torch.cat([d2, d2_0], dim=1)))
        m = m * self.att(m)
        agg = torch.zeros(h.shape[0], m.shape[1], dtype=m.dtype).index_add_(0, dst, m)
        h = h + self.phi_h(torch.cat([h, agg], dim=1))
        shift = diff / (torch.sqrt(d2 + 1e-8) + 1.0) * torch.tanh(self.phi_x(m)) * self.coords_range
        x = x + torch.zeros_like(x).index_add_(0, dst, shift) / 10.0
        return h, x

    def _forward_no_grad(self, h, x, src, dst, d2_0):
        """:meth:`forward` without autograd (sampling): the same operations in the same order, so the same
        result bit for bit (``tests/test_diffusion.py`` checks it), but gathers by ``index_select`` (several
        times faster than advanced indexing on CPU) and the edge-sized element-wise steps in place (no
        temporary (E, hidden) tensors). Training keeps :meth:`forward`'s path, so its numerics are unchanged."""
        silu = torch.nn.functional.silu
        diff = x.index_select(0, dst) - x.index_select(0, src)
        d2 = diff.pow(2).sum(-1, keepdim=True)
        pre = self.e_dst(h).index_select(0, dst)
        pre.add_(self.e_src(h).index_select(0, src)).add_(self.e_dist(torch.cat([d2, d2_0], dim=1)))
        m = silu(self.phi_e[1](silu(pre, inplace=True)), inplace=True)
        m.mul_(self.att(m))
        agg = torch.zeros(h.shape[0], m.shape[1], dtype=m.dtype).index_add_(0, dst, m)
        h = h + self.phi_h(torch.cat([h, agg], dim=1))
        gate = self.phi_x[2](silu(self.phi_x[0](m), inplace=True)).tanh_()
        shift = diff.div_(torch.sqrt(d2 + 1e-8).add_(1.0)).mul_(gate).mul_(self.coords_range)
        x = x + torch.zeros_like(x).index_add_(0, dst, shift).div_(10.0)
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


TRAINING_FUNCTIONS = ("cosine_alpha_bar", "q_sample", "remove_mean")  # the chapter's code that training runs
PACKAGE_TRAINING_CODE = ("time_embedding", "_mlp", "EMA", "one_hot_types", "complete_graph_edges", "_centre",
                         "_EGNNBlock", "EGNNDenoiser", "_collate", "_train_steps")  # this module's, hashed likewise


def save_weights(path, state_dict, info: dict) -> None:
    """Write ``{"state_dict", "info"}`` to ``path`` atomically (a temporary file, then a rename), so an
    interrupted run never leaves a half-written cache file that a later run would load."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # this process's own: concurrent writers never mix
    torch.save({"state_dict": state_dict, "info": info}, tmp)
    tmp.replace(path)


def _code_hash(objects) -> str:
    """A hash of the code of ``objects`` (functions or classes): each source is parsed and dumped with every
    docstring removed (``ast``), so editing a docstring, a comment or the layout keeps the hash; a change to
    what the code does changes it."""
    import ast
    import inspect
    import textwrap

    parts = []
    for obj in objects:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        parts.append(ast.dump(tree))
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:10]


def state_dict_hash(state_dict) -> str:
    """A 12-hex-digit SHA-1 of a model's weights: every entry's name, dtype, shape and bytes, in the state dict's
    order. Two models print the same hash exactly when their weights are equal bit for bit (up to a SHA-1
    collision), so a bench record and a notebook can show that they sampled the same model."""
    digest = hashlib.sha1()
    for name, value in state_dict.items():
        value = value.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.numpy().tobytes() if value.dtype != torch.bfloat16 else value.float().numpy().tobytes())
    return digest.hexdigest()[:12]


def training_source_hash(chapter) -> str:
    """A hash of the code of the chapter functions that training runs (``TRAINING_FUNCTIONS``), docstrings,
    comments and layout excluded (:func:`_code_hash`)."""
    return _code_hash([getattr(chapter, name) for name in TRAINING_FUNCTIONS])


def package_source_hash() -> str:
    """A hash of this module's code that training and the model run (:data:`PACKAGE_TRAINING_CODE`: the
    denoiser, its blocks and embeddings, the collation, the EMA and the training loop), docstrings, comments
    and layout excluded. Part of the weights' cache key, so cached weights always come from the code that is
    installed: a change to the model or the loop retrains instead of loading weights the old code made."""
    return _code_hash([globals()[name] for name in PACKAGE_TRAINING_CODE])


def _cache_key(cfg, implementation: str, data, seed: int = 0, chapter=None) -> str:
    keys = ("T", "hidden", "layers", "batch_size", "lr", "ema_decay", "train_steps", "type_scale")
    extra = {} if chapter is None else {"source": training_source_hash(chapter)}
    blob = json.dumps({k: getattr(cfg, k) for k in keys} | {"impl": implementation, "n_data": len(data), "seed": seed,
                                                           "model_version": MODEL_VERSION,
                                                           "package_code": package_source_hash(),
                                                           "smiles": hashlib.sha1("".join(d["smiles"] for d in data)
                                                                                  .encode()).hexdigest()[:10]}
                      | extra, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def weights_path(cfg=None, implementation: str = "solutions", data=None, seed: int = 0, chapter=None):
    """Where the trained molecule model of these settings is cached (``cache_dir()/diffusion_egnn_<key>.pt``;
    the key hashes every training setting, the seed, the implementation name, the data, ``MODEL_VERSION`` and,
    given ``chapter``, :func:`training_source_hash` of the chapter code that training runs — so a learner who
    changes ``q_sample`` gets a model trained with the new code, not weights trained with the old)."""
    from .runtime import cache_dir

    cfg = cfg or SETTINGS.current()
    data = data if data is not None else molecule_data()
    return Path(cache_dir()) / f"diffusion_egnn_{_cache_key(cfg, implementation, data, seed, chapter)}.pt"


def _train_steps(chapter, data, cfg, model, seed: int, progress: bool, extra_decays=(), checkpoints=(),
                 on_checkpoint=None):
    """The training loop of :func:`train_molecule_model` (``cfg.train_steps`` steps on ``model``, EMA decay
    ``cfg.ema_decay``). ``extra_decays``: further EMA shadows kept alongside (they read the weights, never the
    random draws, so the main EMA is the same bit for bit); after each step count in ``checkpoints``,
    ``on_checkpoint(step, {decay: ema model}, cpu_seconds)`` is called (used by :mod:`molpractice.diffusion_curve`).
    Returns ``(ema, losses, wall start, CPU start)``."""
    gen = torch.Generator().manual_seed(seed)
    alpha_bar = chapter.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    ema = EMA(model, cfg.ema_decay)
    extra = {float(d): EMA(model, float(d)) for d in extra_decays if float(d) != cfg.ema_decay}
    checkpoints = {int(c) for c in checkpoints}
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    losses, start, cpu_start = [], time.perf_counter(), time.process_time()
    with _progress(cfg.train_steps, f"EGNN training ({cfg.train_steps} steps)", progress) as bar:
        for step in range(cfg.train_steps):
            for group in opt.param_groups:  # cosine decay from lr to lr/10 over the fixed number of steps
                group["lr"] = cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * step / cfg.train_steps)))
            idx = torch.randint(0, len(data), (cfg.batch_size,), generator=gen).tolist()
            z, pos, h, batch = _collate([data[i] for i in idx], cfg.type_scale)
            t_mol = torch.randint(1, cfg.T + 1, (cfg.batch_size,), generator=gen)
            t = t_mol[batch]
            eps_x = chapter.remove_mean(torch.randn(pos.shape, generator=gen), batch)
            eps_h = torch.randn(h.shape, generator=gen)
            x_t = chapter.q_sample(pos, t, eps_x, alpha_bar)
            h_t = chapter.q_sample(h, t, eps_h, alpha_bar)
            pred_x, pred_h = model(x_t, h_t, t.float() / cfg.T, batch)
            loss = ((pred_x - eps_x).pow(2).sum() + (pred_h - eps_h).pow(2).sum()) / (pos.shape[0] * 7)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ema.update(model)
            for shadow in extra.values():
                shadow.update(model)
            losses.append(float(loss.detach()))
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
            if on_checkpoint is not None and step + 1 in checkpoints:
                on_checkpoint(step + 1, {cfg.ema_decay: ema.model, **{d: e.model for d, e in extra.items()}},
                              time.process_time() - cpu_start)
    return ema, losses, start, cpu_start


def train_molecule_model(chapter, data, cfg=None, seed: int = 0, progress: bool = True, cache: bool = True,
                         implementation: str | None = None):
    """Train :class:`EGNNDenoiser` (or load it from the cache) and return ``(ema_model, info)``.

    Each step draws ``batch_size`` molecules and one t ∈ {1..T} per molecule; positions are noised with
    ``chapter.q_sample`` using noise projected by ``chapter.remove_mean`` (zero centre of mass per
    molecule), atom types with plain Gaussian noise; the loss is the MSE of ε̂ over both. Training runs exactly
    ``train_steps`` steps (the wall time is measured and reported, never obeyed), and the learning rate decays
    along a cosine from ``lr`` to ``lr``/10 over those steps; every random draw comes from one generator
    seeded by ``seed``, so on CPU the same seed and settings give the same weights bit for bit — with the same
    number of torch threads (the curriculum's policy is one, ``runtime.configure_threads``; ``info["threads"]``
    records it): two threads sum in another order, and 4500 steps amplify that (largest weight difference 0.078
    in a 2-thread run of the full settings). The EMA
    weights (decay ``ema_decay``) are saved to :func:`weights_path` with the training log and loaded with
    ``torch.load(weights_only=True)`` next time (``info["cached"]`` tells which happened).
    """

    from .runtime import implementation_name

    cfg = cfg or SETTINGS.current()
    implementation = implementation or implementation_name()
    path = weights_path(cfg, implementation, data, seed, chapter)
    torch.manual_seed(seed)
    model = EGNNDenoiser(len(ELEMENTS), cfg.hidden, cfg.layers)
    if cache and path.exists():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return model.eval(), dict(saved["info"], cached=True, path=str(path))
    ema, losses, start, cpu_start = _train_steps(chapter, data, cfg, model, seed, progress)
    info = {"steps": len(losses), "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start, "threads": torch.get_num_threads(), "seed": seed,
            "loss": losses[::10], "mode": run_mode(), "implementation": implementation,
            "trained_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "torch": str(torch.__version__),
            "source_hash": training_source_hash(chapter)}
    if cache:
        save_weights(path, ema.model.state_dict(), info)
    return ema.model.eval(), dict(info, cached=False, path=str(path))
