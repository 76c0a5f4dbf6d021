"""Samplers of chapter 4: the reverse-process loop (DDPM, DDPM on a subsequence, DDIM; x̂₀ clip), toy and
molecule sampling, molecule sizes, forward-process moments and the sampler-equivariance check.

Samplers: ``method="ddpm"`` with all T steps uses ``chapter.ddpm_step``; with fewer steps it is the ancestral
sampler on a subsequence, i.e. ``chapter.ddim_step`` with η = 1; ``method="ddim"`` uses ``chapter.ddim_step``
with η = 0 on an evenly spaced subsequence. Every sampler starts at t = T by default, or at T − 1 with
``start="T-1"`` (the first-jump control; :func:`first_jump_table` gives the error factor of that first step).
Importable from :mod:`molpractice.diffusion`.
"""
from __future__ import annotations

import contextlib
import math
import time

import torch

from .diffusion_model import ELEMENTS, _centre, complete_graph_edges, rdkit_quiet, size_histogram

__all__ = ['flush_denormals', 'START_OPTIONS', 'step_schedule', 'first_jump_table', 'run_sampler', 'ddim_step_eps_kept', 'sample_toy', 'position_clip', 'sample_molecules', 'draw_sizes',
           'rotate_samples', 'sampler_equivariance', 'forward_moments']

@contextlib.contextmanager
def flush_denormals():
    """Inside the block, floats below ~1e-38 (denormals) are treated as zero by the CPU (``torch.set_flush_denormal``);
    restored to PyTorch's default (off) afterwards.

    Why: late in sampling the trained EGNN's attention gates and SiLU outputs produce denormal values, and
    arithmetic on them is many times slower on x86 CPUs (about a quarter of the DDPM sampling time of
    notebook 04). A denormal is below any value that can change a sum of O(1e-3) terms, so the samples do not
    change (checked bit for bit on notebook 04's DDPM-500 run; ``tests/test_diffusion.py`` compares a forward pass). Only sampling uses it:
    training keeps exact denormals (Adam's second moments can be that small)."""
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        if supported:
            torch.set_flush_denormal(False)


START_OPTIONS = ("T", "T-1")  # where the reverse process starts (``start`` of the samplers below)


def _start_time(T: int, start: str) -> int:
    """t₀ of the reverse process: ``T`` for ``start="T"`` (the default), ``T − 1`` for ``start="T-1"``."""
    if start not in START_OPTIONS:
        raise ValueError(f"start must be one of {START_OPTIONS}, got {start!r}")
    return T if start == "T" else T - 1


def step_schedule(T: int, steps: int, start: str = "T"):
    """Evenly spaced integer steps t_0 > t_1 > … > t_steps = 0 (a subsequence for DDIM / skipped DDPM), with
    t_0 = T (``start="T"``, the default) or t_0 = T − 1 (``start="T-1"``; then ``steps`` ≤ T − 1)."""

    t0 = _start_time(T, start)
    if not isinstance(steps, int) or not 1 <= steps <= t0:
        raise ValueError(f"steps must be an int in [1, {t0}] (start {start!r}), got {steps!r}")
    times = torch.linspace(t0, 0, steps + 1).round().long().tolist()
    return times


def first_jump_table(alpha_bar, steps=None):
    """The first jump's error factor per step count, for the start at T and at T − 1 (pure: schedule arithmetic).

    A step from t₀ to t₁ evaluates x̂₀ = (x_t₀ − √(1 − ᾱ_t₀)·ε̂)/√ᾱ_t₀ and puts √ᾱ_t₁ on it (DDIM, and DDPM on a
    subsequence alike), so an error δ in ε̂ reaches x_t₁ multiplied by √(ᾱ_t₁/ᾱ_t₀)·√(1 − ᾱ_t₀) ≈ √(ᾱ_t₁/ᾱ_t₀)
    (the ε̂ term adds √(1 − ᾱ_t₁)·δ, at most δ in size). With the cosine schedule's β_T clipped at 0.999,
    ᾱ_T = 0.001·ᾱ_T−1, so starting at T multiplies that factor by √1000 ≈ 31.6 compared with starting at T − 1.

    Args:
        alpha_bar: Tensor[T + 1] (one schedule; ``steps``: its step counts) or a dict ``{label: (alpha_bar,
            steps)}`` (several schedules in one table, e.g. the toy's and the molecules').
        steps: step counts (int) of the samplers; with ``start="T-1"`` a count must be ≤ T − 1, so the factor from
            T − 1 is NaN (and ``t₁ from T−1`` is <NA>) for ``steps`` = T.
    Returns:
        DataFrame, one row per (schedule,) step count: ``schedule`` (with a dict), ``T``, ``steps``,
        ``t₁ from T``, ``factor from T`` = √(ᾱ_t₁/ᾱ_T), ``t₁ from T−1``, ``factor from T−1`` = √(ᾱ_t₁/ᾱ_T−1),
        ``ratio`` (from T ÷ from T − 1).
    """
    import pandas as pd

    if isinstance(alpha_bar, dict):
        if steps is not None:
            raise ValueError("with a dict of schedules the step counts go inside the dict: {label: (alpha_bar, steps)}")
        parts = [first_jump_table(ab, ks).assign(schedule=label) for label, (ab, ks) in alpha_bar.items()]
        out = pd.concat(parts, ignore_index=True)
        return out[["schedule"] + [c for c in out.columns if c != "schedule"]]
    if steps is None:
        raise ValueError("steps (a list of step counts) is required")
    ab = torch.as_tensor(alpha_bar, dtype=torch.float64)
    T = ab.numel() - 1
    rows = []
    for k in steps:
        k = int(k)
        t1 = step_schedule(T, k)[1]
        f_T = math.sqrt(float(ab[t1]) / float(ab[T]))
        if k <= T - 1:
            t1m = step_schedule(T, k, "T-1")[1]
            f_m = math.sqrt(float(ab[t1m]) / float(ab[T - 1]))
        else:
            t1m, f_m = None, float("nan")
        rows.append({"T": T, "steps": k, "t₁ from T": t1, "factor from T": f_T, "t₁ from T−1": t1m,
                     "factor from T−1": f_m, "ratio": f_T / f_m})
    out = pd.DataFrame(rows)
    out["t₁ from T−1"] = out["t₁ from T−1"].astype("Int64")
    return out


def run_sampler(chapter, denoise, x_T, alpha_bar, method: str = "ddpm", steps: int | None = None,
                clip=None, project=None, generator=None, keep=None, rederive_eps: bool = True, status=None,
                groups=None, start: str = "T"):
    """Run a reverse process from ``x_T`` with the chapter's step functions.

    Every step is the chapter's own: ``chapter.ddpm_step`` for a full-T DDPM step, ``chapter.ddim_step`` (with
    the x̂₀ ``clip`` passed through) otherwise; exercise 4.5 re-derives ε̂ from the clipped x̂₀, as ``ddim_sample``
    in Nichol & Dhariwal's improved-diffusion / guided-diffusion code does (in ``diffusers`` only with
    ``use_clipped_model_output=True``). ``rederive_eps=False`` is a control that does not use the chapter's
    DDIM step: it clips x̂₀ but keeps ε̂ as predicted (as ``diffusers``' ``DDIMScheduler.step`` does with
    ``clip_sample=True, use_clipped_model_output=False``, though diffusers clamps x̂₀ element by element where this
    clips each row's norm) — the two terms of the update then disagree; that a state outside the data range then
    feeds itself step after step is a hypothesis the notebook does not print evidence for. The full-T DDPM
    step uses x̂₀ and x_t only, so there the clip means the same either way; on a subsequence, too, DDPM written as
    the posterior q(x_t' | x_t, x̂₀) (Ho et al.; improved-diffusion's respaced ``p_sample``; diffusers'
    ``DDPMScheduler``) uses no ε̂, and equals DDIM with η = 1 and ε̂ re-derived. So the ε̂-kept control with
    ``method="ddpm"`` is DDPM *written as* DDIM η = 1 with ε̂ kept — not how DDPM is implemented anywhere — and
    only the DDIM ε̂-kept run is a variant a library actually offers.

    Args:
        chapter: the chapter-4 module (``ddpm_step``, ``ddim_step``).
        denoise: callable ``denoise(parts, t) -> list of ε̂`` (one per part).
        x_T: a tensor or a list of tensors (the parts of the state, e.g. positions and atom types).
        alpha_bar: Tensor[T + 1].
        method: ``"ddpm"`` (ancestral; with ``steps < T`` on a subsequence = DDIM with η = 1) or
            ``"ddim"`` (η = 0, deterministic).
        steps: number of sampling steps (default: every step from the start, T or T − 1).
        clip: None, a number, or one value per part (row-norm clip of x̂₀).
        project: None or one callable (or None) per part applied to every fresh noise draw (e.g. remove
            the centre of mass of position noise).
        generator: ``torch.Generator`` for the noise.
        keep: if given, a callable ``keep(parts, t)`` called after every step (trajectories).
        rederive_eps: True (default) = the chapter's ``ddim_step`` with ``clip``; False = the "clip, ε̂ kept"
            control (:func:`ddim_step_eps_kept`, not the chapter's code) for the steps below full-T DDPM.
        status: None (default: a non-finite state or ε̂ makes the step functions raise ValueError) or a dict that
            switches on per-sample masking: a sample any of whose rows (in any part) or ε̂ rows stops being finite
            is marked failed, its rows are set to 0 for the rest of the run (so the step functions and the
            denoiser see finite input; the other samples' arithmetic and noise draws are unchanged, because every
            step draws noise of the full shape and the denoiser treats samples independently) and NaN in the
            returned state. Filled with ``n`` (samples), ``failed`` (list of bool per sample), ``k`` (failed
            samples), ``first_step`` (1-based index of the step after which the first sample failed; None if
            none did) and ``first_t`` (its t).
        groups: with ``status``: one LongTensor per part giving the sample index of each row (e.g. the molecule of
            each atom); default: row i of every part is sample i.
        start: ``"T"`` (default: the first step goes from t = T) or ``"T-1"`` (the control for the first jump: the
            schedule is :func:`step_schedule` ``(T, steps, "T-1")``, and ``x_T`` is used as the state at t = T − 1,
            unchanged). ``x_T`` stays pure N(0, I) noise: q(x_T−1 | x₀) = N(√ᾱ_T−1·x₀, (1 − ᾱ_T−1)·I) differs from
            N(0, I) by a mean offset of √ᾱ_T−1·|x₀| and a standard deviation 1 − √(1 − ᾱ_T−1) below 1. With the
            cosine schedule (β clipped at 0.999) ᾱ_T−1 = 1000·ᾱ_T: ᾱ_T−1 = 9.7e-6 at T = 500 (√ = 3.1e-3; molecule
            positions |x₀| ≤ 4.9 Å, so the offset is ≤ 0.015 noise standard deviations, the atom types' ≤ 0.001;
            the standard deviation 4.9e-6 below 1) and 2.4e-6 at T = 1000 (√ = 1.6e-3; toy |x₀| ≤ 2.4: offset ≤
            0.004): negligible against the unit noise. Starting below T from N(0, I) is common practice: the
            latent-diffusion DDIM sampler's "uniform" steps (range(0, T, T/steps) + 1) and diffusers' "leading"
            spacing start at T − T/steps + 1. Lin, Liu, Li & Yang (WACV 2024, *Common diffusion noise schedules
            and sample steps are flawed*) criticise that start for its non-zero signal and recommend the other
            remedy, "trailing" spacing from T with a zero-terminal-SNR schedule (and v-prediction, since ε̂ says
            nothing about x₀ at ᾱ = 0); here the signal left at T − 1 is the small offset just given.
    Returns:
        The final state (same structure as ``x_T``).
    """

    single = isinstance(x_T, torch.Tensor)
    parts = [x_T] if single else list(x_T)
    T = alpha_bar.numel() - 1
    steps = steps or _start_time(T, start)
    clips = clip if isinstance(clip, (list, tuple)) else [clip] * len(parts)
    projects = project if isinstance(project, (list, tuple)) else [project] * len(parts)
    if method not in ("ddpm", "ddim"):
        raise ValueError(f"method must be 'ddpm' or 'ddim', got {method!r}")

    def fresh(k, like):
        z = torch.randn(like.shape, generator=generator, dtype=like.dtype)
        return projects[k](z) if projects[k] is not None else z

    times = step_schedule(T, steps, start)
    if status is not None:
        if groups is None:
            groups = [torch.arange(parts[0].shape[0])] * len(parts)
        groups = groups if isinstance(groups, (list, tuple)) else [groups] * len(parts)
        n_samples = int(max(int(g.max()) + 1 if g.numel() else 0 for g in groups))
        failed = torch.zeros(n_samples, dtype=torch.bool)
        status.update(n=n_samples, failed=[False] * n_samples, k=0, first_step=None, first_t=None)

        def mask(tensors, step_index, t_now):
            """Mark samples with a non-finite row as failed; zero every failed sample's rows (in place of a copy).
            While no sample has failed and every value is finite, the tensors come back as they are (zeroing
            nothing would copy them unchanged): one whole-tensor check per part instead of per-row work."""
            if status["first_step"] is None and all(bool(torch.isfinite(x).all()) for x in tensors):
                return list(tensors)
            for g, x in zip(groups, tensors):
                bad = ~torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)
                if bool(bad.any()):
                    failed[g[bad]] = True
            if bool(failed.any()) and status["first_step"] is None:
                status.update(first_step=step_index, first_t=t_now)
            return [torch.where(failed[g].reshape(-1, *[1] * (x.dim() - 1)), torch.zeros((), dtype=x.dtype), x)
                    for g, x in zip(groups, tensors)]

        parts = mask(parts, 0, times[0])
    with torch.no_grad(), flush_denormals():
        for index, (t, t_prev) in enumerate(zip(times[:-1], times[1:]), start=1):
            eps = denoise(parts, t)
            if status is not None:
                eps = mask(list(eps), index, t)
                parts = mask(parts, index, t)  # a sample whose ε̂ failed: its state rows are zeroed too
            new = []
            for k, (x, e) in enumerate(zip(parts, eps)):
                if method == "ddpm" and t_prev == t - 1:
                    new.append(chapter.ddpm_step(x, t, e, alpha_bar, noise=fresh(k, x), clip=clips[k]))
                else:
                    step = chapter.ddim_step if rederive_eps or clips[k] is None else ddim_step_eps_kept
                    if method == "ddpm":
                        new.append(step(x, t, t_prev, e, alpha_bar, eta=1.0, noise=fresh(k, x), clip=clips[k]))
                    else:
                        new.append(step(x, t, t_prev, e, alpha_bar, eta=0.0, clip=clips[k]))
            parts = mask(new, index, t_prev) if status is not None else new
            if keep is not None:
                keep(parts, t_prev)
    if status is not None:
        status.update(failed=failed.tolist(), k=int(failed.sum()))
        parts = [torch.where(failed[g].reshape(-1, *[1] * (x.dim() - 1)), torch.full((), float("nan"), dtype=x.dtype), x)
                 for g, x in zip(groups, parts)]
    return parts[0] if single else parts


def ddim_step_eps_kept(x_t, t: int, t_prev: int, eps_pred, alpha_bar, eta: float = 0.0, noise=None, clip=None):
    """The "clip, ε̂ kept" control: a DDIM step that clips x̂₀ by row norm but keeps ε̂ as predicted
    (like ``diffusers``' ``DDIMScheduler.step`` default with ``clip_sample=True``, which clamps element-wise
    instead). Not the chapter's step: the
    notebook runs it only to show why exercise 4.5 re-derives ε̂. A non-finite input raises ValueError."""
    if not (torch.isfinite(x_t).all() and torch.isfinite(eps_pred).all()):
        raise ValueError("x_t or eps_pred contains NaN or inf values (the run diverged)")
    ab_t, ab_prev = float(alpha_bar[t]), float(alpha_bar[t_prev])
    x0 = (x_t - math.sqrt(1 - ab_t) * eps_pred) / math.sqrt(ab_t)
    if clip is not None:
        x0 = x0 * (clip / x0.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t)) * math.sqrt(max(1 - ab_t / ab_prev, 0.0))
    out = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps_pred
    if sigma > 0:
        out = out + sigma * (torch.randn_like(x_t) if noise is None else noise)
    return out


def sample_toy(chapter, model, n: int, method: str = "ddpm", steps: int | None = None, clip=None, seed: int = 0,
               rederive_eps: bool = True, status=None, start: str = "T"):
    """``n`` toy samples (Tensor[n, 2]) from ``model`` with the chapter's sampler; ``clip`` = row-norm bound.
    ``status``: a dict to mask and record samples that stop being finite (see :func:`run_sampler`); ``start``:
    ``"T"`` (default) or ``"T-1"`` (the same N(0, I) draw used as x_T−1; :func:`run_sampler`)."""

    alpha_bar = chapter.cosine_alpha_bar(model.T, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n, 2, generator=gen)
    return run_sampler(chapter, lambda parts, t: [model(parts[0], torch.full((n,), t))], x_T, alpha_bar,
                       method=method, steps=steps, clip=clip, generator=gen, rederive_eps=rederive_eps, status=status,
                       start=start)


def position_clip(data, margin: float = 1.2) -> float:
    """Row-norm clip for x̂₀ positions: ``margin`` × the largest atom distance from the centre in the data (Å)."""
    return margin * max(float(d["pos"].norm(dim=1).max()) for d in data)


def sample_molecules(chapter, model, sizes, alpha_bar, method: str = "ddpm", steps: int | None = None,
                     type_scale: float = 0.25, pos_clip: float | None = None, seed: int = 0, x_T=None,
                     recentre: bool = True, trajectory: int = 0, clip_types: bool = True,
                     rederive_eps: bool = True, mask_nonfinite: bool = False, start: str = "T"):
    """Generate molecules of the given ``sizes`` (list of atom counts) with the chapter's sampler.

    Positions start from Gaussian noise projected with ``chapter.remove_mean`` (or from ``x_T`` =
    ``(pos_T, h_T)``); noise of every step is projected the same way; x̂₀ is clipped by row norm
    (``pos_clip`` Å for positions — None = no clip —, ``type_scale`` for the types unless ``clip_types`` is
    False); with ``recentre`` each step's
    positions are re-centred (the row-norm clip of single atoms moves the centre; the notebook measures how far). Atom types are the argmax of h.
    With ``mask_nonfinite`` a molecule any of whose atoms stops being finite is masked and recorded
    (:func:`run_sampler`'s ``status``, in ``extra["status"]``; its positions are NaN) while the others continue;
    without it, such a state raises ValueError. ``start``: ``"T"`` (default) or ``"T-1"`` (the same N(0, I) draw
    used as the state at T − 1, the first step from there; :func:`run_sampler` gives the numbers of why that is
    standard).

    Returns:
        ``(samples, extra)``: samples a list of ``(z LongTensor[n], pos Tensor[n, 3])``; extra a dict with
        ``seconds``, ``x_T`` and, with ``trajectory=k``, ``trajectory`` = list of ``(t, pos, h)`` for the
        first k molecules (their atoms in order; ``trajectory_sizes`` = their sizes), ``com_drift`` = per
        step the largest |centre of mass| before re-centring, and with ``mask_nonfinite`` ``status``.
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
    drift, traj = [], [(_start_time(T, start), pos_T[first].clone(), h_T[first].clone())] if trajectory else []

    def denoise(parts, t):
        t_frac = torch.full((batch.numel(),), t / T)
        return list(model(parts[0], parts[1], t_frac, batch, edges))

    counts = torch.bincount(batch, minlength=n_graphs)  # atoms per molecule: the same at every step
    centre_here = bool((counts > 0).all())

    def keep(parts, t):
        pos = parts[0]
        means = torch.zeros(n_graphs, 3, dtype=pos.dtype).index_add_(0, batch, pos) / counts[:, None]
        drift.append(float(means.norm(dim=1).max()))
        if recentre:
            # the centres just measured are _centre's own (the same sums over the same atoms, divided by the same
            # counts), so subtracting them equals _centre(pos, batch, n_graphs) bit for bit without summing twice
            parts[0] = pos - means[batch] if centre_here else _centre(pos, batch, n_graphs)
        if trajectory:
            traj.append((t, parts[0][first].clone(), parts[1][first].clone()))

    clock = time.perf_counter()
    status = {} if mask_nonfinite else None
    pos, h = run_sampler(chapter, denoise, [pos_T, h_T], alpha_bar, method=method, steps=steps,
                         clip=[pos_clip, type_scale if clip_types else None], project=[lambda z: chapter.remove_mean(z, batch), None],
                         generator=gen, keep=keep, rederive_eps=rederive_eps, status=status, groups=[batch, batch],
                         start=start)
    seconds = time.perf_counter() - clock
    z_all = torch.tensor(ELEMENTS)[h.argmax(dim=1)]
    samples = [(z_all[batch == g], pos[batch == g]) for g in range(n_graphs)]
    extra = {"seconds": seconds, "x_T": (pos_T, h_T), "com_drift": drift}
    if status is not None:
        extra["status"] = status
    if trajectory:
        extra["trajectory"], extra["trajectory_sizes"] = traj, sizes[:trajectory]
    return samples, extra


def draw_sizes(data, n: int, seed: int = 0):
    """``n`` molecule sizes drawn from the training histogram (seeded)."""

    hist = size_histogram(data)
    sizes = torch.tensor(list(hist.keys()))
    probs = torch.tensor(list(hist.values()), dtype=torch.float64)
    return sizes[torch.multinomial(probs, n, replacement=True, generator=torch.Generator().manual_seed(seed))].tolist()


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
    ``x0_value``) next to the closed forms sqrt(ᾱ_t)·x_0 and 1 − ᾱ_t, with the standard errors a Gaussian
    sample of size ``n`` gives at that t (``SE mean`` = sqrt(var/n), ``SE variance`` = var·sqrt(2/(n−1)), from
    the closed-form variance). Returns a DataFrame, one row per t."""
    import pandas as pd

    gen = torch.Generator().manual_seed(seed)
    x0 = torch.full((n, 1), x0_value, dtype=torch.float64)
    rows = []
    for t in ts:
        xt = chapter.q_sample(x0, int(t), torch.randn(n, 1, generator=gen, dtype=torch.float64), alpha_bar)
        a = float(alpha_bar[int(t)])
        rows.append({"t": int(t), "mean": float(xt.mean()), "mean (closed form)": math.sqrt(a) * x0_value,
                     "SE mean": math.sqrt((1 - a) / n),
                     "variance": float(xt.var()), "variance (closed form)": 1 - a,
                     "SE variance": (1 - a) * math.sqrt(2 / (n - 1))})
    return pd.DataFrame(rows)
