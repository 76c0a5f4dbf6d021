"""Chapter 4 — diffusion-model sampling for small molecules: schedule, forward process, DDPM and DDIM
steps, bond perception and sample metrics.

Exercises
---------
4.1 cosine_alpha_bar
4.2 q_sample
4.3 remove_mean
4.4 ddpm_step
4.5 ddim_step
4.6 molecule_from_geometry
4.7 sample_metrics
4.8 atom_stability
4.9 bond_length_outliers

Conventions used throughout:

* Time steps are integers ``t = 0 … T``; ``alpha_bar`` is the Tensor[T + 1] of ᾱ_t from
  :func:`cosine_alpha_bar`, with ``alpha_bar[0] = 1`` (no noise) and ``alpha_bar[T] ≈ 0`` (pure noise).
  One step's quantities follow from it: α_t = ᾱ_t / ᾱ_{t−1}, β_t = 1 − α_t.
* A state ``x`` is a Tensor[n, d]: one row per point (a 2D toy sample, or an atom's position in Å or
  its scaled one-hot type). The noise predictor returns ``eps_pred`` with the same shape.
* Molecules are heavy atoms only (C, N, O, F; atomic numbers 6, 7, 8, 9); RDKit adds the implicit
  hydrogens. SMILES are compared canonical and *without* stereochemistry
  (``Chem.MolToSmiles(mol, isomericSmiles=False)``): the metrics ask "which molecule", not "which
  stereoisomer".

References: Ho, Jain & Abbeel, *Denoising Diffusion Probabilistic Models*, NeurIPS 2020; Nichol &
Dhariwal, *Improved DDPM*, ICML 2021; Song, Meng & Ermon, *DDIM*, ICLR 2021; Hoogeboom et al.,
*Equivariant Diffusion for Molecule Generation in 3D* (EDM), ICML 2022; Vignac et al., *MiDi: Mixed
Graph and 3D Denoising Diffusion for Molecule Generation*, ECML PKDD 2023.
"""
from __future__ import annotations

import math

import torch

# --------------------------------------------------------------------------------------- helpers
# Reference bond lengths in Å between heavy atoms (single, double, triple), as in EDM's bond table
# (Hoogeboom et al. 2022, from standard covalent bond lengths). Keys are sorted atomic-number pairs.
ELEMENTS = {6: "C", 7: "N", 8: "O", 9: "F"}
VALENCE = {6: 4, 7: 3, 8: 2, 9: 1}
SINGLE = {(6, 6): 1.54, (6, 7): 1.47, (6, 8): 1.43, (6, 9): 1.35, (7, 7): 1.45, (7, 8): 1.40,
          (7, 9): 1.36, (8, 8): 1.48, (8, 9): 1.42, (9, 9): 1.42}
DOUBLE = {(6, 6): 1.34, (6, 7): 1.29, (6, 8): 1.20, (7, 7): 1.25, (7, 8): 1.21, (8, 8): 1.21}
TRIPLE = {(6, 6): 1.20, (6, 7): 1.16, (6, 8): 1.13, (7, 7): 1.10}
BOND_TOLERANCE = 0.25   # Å beyond the single-bond length that still counts as bonded
MIN_DISTANCE = 1.0      # Å; two heavy atoms closer than this are a clash (no C/N/O/F bond is shorter)


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a <= b else (b, a)


def _check_state(x, name="x_t"):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch.Tensor, got "
                         f"{type(x).__name__ if not isinstance(x, torch.Tensor) else x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")


def _check_like(other, x, name):
    if not isinstance(other, torch.Tensor) or other.shape != x.shape:
        raise ValueError(f"{name} must be a tensor of shape {tuple(x.shape)} like x_t, got "
                         f"{tuple(other.shape) if isinstance(other, torch.Tensor) else type(other).__name__}")
    if not torch.isfinite(other).all():
        raise ValueError(f"{name} contains NaN or inf values (did the model diverge?)")


def _check_alpha_bar(alpha_bar):
    if not isinstance(alpha_bar, torch.Tensor) or alpha_bar.ndim != 1 or alpha_bar.numel() < 2 \
            or not alpha_bar.is_floating_point():
        raise ValueError("alpha_bar must be a 1-D float tensor of length T + 1 >= 2 (see cosine_alpha_bar), got "
                         f"{tuple(alpha_bar.shape) if isinstance(alpha_bar, torch.Tensor) else type(alpha_bar).__name__}")
    if not (torch.isfinite(alpha_bar).all() and bool((alpha_bar > 0).all()) and bool((alpha_bar <= 1).all())):
        raise ValueError("alpha_bar values must lie in (0, 1]")


def _check_step(t, T, name="t", low=1):
    if isinstance(t, torch.Tensor) and t.ndim == 0 and not t.is_floating_point():
        t = int(t)
    if not isinstance(t, int) or isinstance(t, bool) or not low <= t <= T:
        raise ValueError(f"{name} must be an int in [{low}, {T}], got {t!r}")
    return t


def _check_clip(clip):
    if clip is not None and not (isinstance(clip, (int, float)) and not isinstance(clip, bool)
                                 and math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be None or a positive number, got {clip!r}")


# --------------------------------------------------------------------------------------- 4.1


def _check_atoms(atomic_numbers, pos):
    """``atomic_numbers`` as a 1-D long tensor, after checking it and ``pos`` (n, 3) against each other."""
    if not isinstance(atomic_numbers, torch.Tensor):
        try:
            atomic_numbers = torch.as_tensor(list(atomic_numbers), dtype=torch.long)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"atomic_numbers must be a sequence of ints: {err}") from None
    if atomic_numbers.is_floating_point() or atomic_numbers.ndim != 1:
        raise ValueError(f"atomic_numbers must be a 1-D integer tensor, got {atomic_numbers.dtype} "
                         f"{tuple(atomic_numbers.shape)}")
    if not isinstance(pos, torch.Tensor) or pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must be a tensor of shape (n, 3), got "
                         f"{tuple(pos.shape) if isinstance(pos, torch.Tensor) else type(pos).__name__}")
    if pos.shape[0] != atomic_numbers.shape[0] or pos.shape[0] == 0:
        raise ValueError(f"need n >= 1 atoms with one position each, got {atomic_numbers.shape[0]} atomic "
                         f"numbers and {pos.shape[0]} positions")
    if not torch.isfinite(pos).all():
        raise ValueError("pos contains NaN or inf coordinates")
    unknown = sorted(set(atomic_numbers.tolist()) - set(ELEMENTS))
    if unknown:
        raise ValueError(f"unknown element(s) with atomic number {unknown}; only C, N, O, F (6–9) are allowed "
                         "(hydrogens are implicit)")
    return atomic_numbers


def cosine_alpha_bar(T: int, s: float = 0.008, max_beta: float = 0.999,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The cosine noise schedule ᾱ_t, t = 0 … T (Nichol & Dhariwal 2021, eq. 17).

    ᾱ_t = f(t) / f(0) with f(t) = cos²( (t/T + s) / (1 + s) · π/2 ). The per-step β_t = 1 − ᾱ_t/ᾱ_{t−1}
    is clipped at ``max_beta`` (as in the paper), i.e. ᾱ_t = ᾱ_{t−1} · (1 − min(β_t, max_beta)):
    in practice only the last step is clipped, so ᾱ_T = (1 − max_beta) ᾱ_{T−1} is tiny but positive
    (the closed form gives ᾱ_T = 0, and x̂₀ = (x_T − …)/sqrt(ᾱ_T) would divide by zero).

    Args:
        T: number of diffusion steps, an int ≥ 1.
        s: small offset that keeps β_1 from being vanishingly small (0.008 in the paper).
        max_beta: upper bound on every β_t, in (0, 1).
        dtype: floating dtype of the result (compute in float64, cast at the end).
    Returns:
        Tensor[T + 1]: ᾱ_0 = 1 exactly, strictly decreasing, ᾱ_T > 0 and ≈ 0.
        The signal-to-noise ratio of step t is SNR(t) = ᾱ_t / (1 − ᾱ_t).
    Raises:
        ValueError: if ``T`` is not a positive int, ``s`` < 0, or ``max_beta`` is not in (0, 1).

    Hint:
        1. Idea: ᾱ is the squared cosine f(t) on the grid t = 0 … T (T + 1 points), normalised by f(0); the
           β's are then clipped and ᾱ rebuilt from them.
        2. Approach: evaluate f on the whole grid at once, recover each β_t from the ratio of neighbouring
           ᾱ values, clip it at ``max_beta``, and rebuild ᾱ as a running product of (1 − β) that starts at
           1.
        3. Tricky detail: compute in float64 and cast to ``dtype`` only at the end; with the default
           ``max_beta`` only the last β is clipped, so a missing clip shows only as ᾱ_T = 0.
    """
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if not (isinstance(s, (int, float)) and s >= 0):
        raise ValueError(f"s must be a non-negative number, got {s!r}")
    if not (isinstance(max_beta, (int, float)) and 0 < max_beta < 1):
        raise ValueError(f"max_beta must lie in (0, 1), got {max_beta!r}")
    # BEGIN SOLUTION
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    ab = f / f[0]
    beta = (1 - ab[1:] / ab[:-1]).clamp(max=max_beta)
    ab = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - beta, dim=0)])
    return ab.to(dtype)
    # END SOLUTION


# --------------------------------------------------------------------------------------- 4.2


def q_sample(x0: torch.Tensor, t, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """A draw from the forward process q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 − ᾱ_t) I).

    x_t = sqrt(ᾱ_t) · x0 + sqrt(1 − ᾱ_t) · noise      (Ho et al. 2020, eq. 4)

    Args:
        x0: Tensor[n, d] clean data (one row per point or atom).
        t: an int in [0, T] (same step for every row) or a LongTensor of shape () or (n,) (one step
            per row — e.g. each atom gets the step of its molecule).
        noise: Tensor[n, d] of standard-normal noise (the caller draws it, so it can be reused as the
            regression target of the noise predictor).
        alpha_bar: Tensor[T + 1] from :func:`cosine_alpha_bar`.
    Returns:
        Tensor[n, d] in ``x0.dtype``, a new tensor: ``x0``, ``noise`` and ``alpha_bar`` are not modified.
    Raises:
        ValueError: if shapes disagree, ``t`` is out of range or not an integer, or an input is not finite.

    Hint:
        1. Idea: x_t mixes the clean state and the noise with weights √ᾱ_t and √(1 − ᾱ_t).
        2. Approach: look ᾱ up at t (one int, or one step per row), combine the two terms in float64 and
           return ``x0``'s dtype.
        3. Tricky detail: for a per-row t the lookup has shape (n,): give it a trailing axis before
           multiplying, or it broadcasts along the columns instead of the rows; a 0-d t stays one scalar
           for every row.
    """
    _check_state(x0, "x0")
    _check_like(noise, x0, "noise")
    _check_alpha_bar(alpha_bar)
    T = alpha_bar.numel() - 1
    if isinstance(t, torch.Tensor):
        if t.is_floating_point() or t.ndim > 1 or (t.ndim == 1 and t.numel() != x0.shape[0]):
            raise ValueError(f"t must be an int or an integer tensor of shape () or ({x0.shape[0]},), got "
                             f"{t.dtype} {tuple(t.shape)}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) > T):
            raise ValueError(f"every t must lie in [0, {T}], got range [{int(t.min())}, {int(t.max())}]")
    else:
        t = _check_step(t, T, "t", low=0)
    # BEGIN SOLUTION
    ab = alpha_bar.to(device=x0.device, dtype=torch.float64)[t]
    if ab.ndim == 1:
        ab = ab[:, None]
    return (ab.sqrt() * x0 + (1 - ab).sqrt() * noise).to(x0.dtype)
    # END SOLUTION


# --------------------------------------------------------------------------------------- 4.3


def remove_mean(pos: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
    """Move every molecule's centre of mass (unweighted mean of its rows) to the origin.

    Diffusion over positions happens in the subspace Σ_i x_i = 0 of each molecule: translations carry
    no information, and the noise must live in the same subspace (EDM, Hoogeboom et al. 2022, §3.2).

    Args:
        pos: Tensor[n, d] (positions in Å, or noise of the same shape).
        batch: optional LongTensor[n] giving each row's molecule (PyG convention; rows of one molecule
            need not be contiguous, and the ids need not be consecutive: a filtered batch may have
            gaps). None = all rows are one molecule.
    Returns:
        A new Tensor[n, d] (``pos`` is not modified), same dtype; each molecule's rows sum to zero (a
        molecule of one atom becomes the zero row).
    Raises:
        ValueError: if ``pos`` is not 2-D and finite, or ``batch`` is not a non-negative integer
            tensor of shape (n,).

    Hint:
        1. Idea: subtract from every row the mean position of its own molecule (of all rows when ``batch``
           is None).
        2. Approach: sum each molecule's rows into a table with one row per id (largest id + 1 rows, so
           gapped ids leave empty rows), count each molecule's atoms, divide, then gather each row's mean
           back by its id.
        3. Tricky detail: keep the table in ``pos.dtype`` and on ``pos.device``, guard the empty rows
           against 0/0, and return a new tensor rather than editing ``pos`` in place.
    """
    _check_state(pos, "pos")
    if batch is not None:
        if not isinstance(batch, torch.Tensor) or batch.is_floating_point() or batch.shape != (pos.shape[0],):
            raise ValueError(f"batch must be an integer tensor of shape ({pos.shape[0]},), got "
                             f"{getattr(batch, 'dtype', type(batch).__name__)} {tuple(getattr(batch, 'shape', ()))}")
        if batch.numel() and int(batch.min()) < 0:
            raise ValueError("batch indices must be >= 0")
    # BEGIN SOLUTION
    if batch is None:
        return pos - pos.mean(dim=0, keepdim=True)
    n_graphs = int(batch.max()) + 1 if batch.numel() else 0
    sums = torch.zeros(n_graphs, pos.shape[1], dtype=pos.dtype, device=pos.device).index_add_(0, batch, pos)
    counts = torch.bincount(batch, minlength=n_graphs).clamp_min(1).to(pos.dtype)
    return pos - (sums / counts[:, None])[batch]
    # END SOLUTION


# --------------------------------------------------------------------------------------- 4.4


def ddpm_step(x_t: torch.Tensor, t: int, eps_pred: torch.Tensor, alpha_bar: torch.Tensor,
              noise: torch.Tensor | None = None, clip: float | None = None) -> torch.Tensor:
    """One ancestral DDPM step x_t → x_{t−1}, through the predicted clean sample x̂₀.

    1. x̂₀ = (x_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t); with ``clip``, every row of x̂₀ whose Euclidean norm
       exceeds ``clip`` is scaled back to norm ``clip`` (a rotation-equivariant clip, unlike clamping each
       coordinate), at every step including t = 1.
    2. Posterior mean  μ̃ = sqrt(ᾱ_{t−1}) β_t / (1 − ᾱ_t) · x̂₀ + sqrt(α_t) (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t,
       posterior variance β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t          (Ho et al. 2020, eqs. 6–7).
    3. x_{t−1} = μ̃ + sqrt(β̃_t) · noise.  At t = 1, β̃_1 = 0 (ᾱ_0 = 1): the last step adds no noise.

    Without clipping this equals the familiar ε form μ̃ = (x_t − β_t/sqrt(1 − ᾱ_t) ε̂)/sqrt(α_t).

    Args:
        x_t: Tensor[n, d], the current state.
        t: the current step, an int in [1, T].
        eps_pred: Tensor[n, d], the model's noise prediction ε̂(x_t, t).
        alpha_bar: Tensor[T + 1] (:func:`cosine_alpha_bar`).
        noise: Tensor[n, d] of standard-normal noise for this step (for molecules: already projected
            with :func:`remove_mean`); None = draw ``torch.randn_like(x_t)``.
        clip: None (no clipping) or the largest allowed row norm of x̂₀ (data units).
    Returns:
        Tensor[n, d], x_{t−1}, in ``x_t.dtype``.
    Raises:
        ValueError: for shapes that differ from ``x_t``, non-finite inputs, ``t`` outside [1, T] or a
            non-positive ``clip``.

    Hint:
        1. Idea: invert the forward process to estimate x̂₀ from x_t and the predicted noise, optionally
           clip it, then sample the Gaussian posterior q(x_{t−1} | x_t, x̂₀).
        2. Approach: compute the scalar coefficients in float64 from ᾱ_t and ᾱ_{t−1} (β_t follows from
           their ratio), then combine the tensors: posterior mean plus posterior std times the noise.
        3. Tricky detail: ᾱ_{t−1} is entry t − 1 of ``alpha_bar`` (entry 0 is ᾱ_0 = 1), not entry t. For
           the clip take each row's norm as a column so the factor broadcasts over the row, and cap the
           factor at 1. At t = 1 the posterior variance is 0: return the mean and draw no noise.
    """
    _check_state(x_t, "x_t")
    _check_like(eps_pred, x_t, "eps_pred")
    _check_alpha_bar(alpha_bar)
    t = _check_step(t, alpha_bar.numel() - 1)
    if noise is not None:
        _check_like(noise, x_t, "noise")
    _check_clip(clip)
    # BEGIN SOLUTION
    ab_t, ab_prev = float(alpha_bar[t]), float(alpha_bar[t - 1])
    alpha_t = ab_t / ab_prev
    beta_t = 1.0 - alpha_t
    x0_hat = (x_t - math.sqrt(1 - ab_t) * eps_pred) / math.sqrt(ab_t)
    if clip is not None:
        norm = x0_hat.norm(dim=-1, keepdim=True)
        x0_hat = x0_hat * (clip / norm.clamp_min(1e-12)).clamp(max=1.0)
    mean = (math.sqrt(ab_prev) * beta_t / (1 - ab_t)) * x0_hat \
        + (math.sqrt(alpha_t) * (1 - ab_prev) / (1 - ab_t)) * x_t
    var = (1 - ab_prev) / (1 - ab_t) * beta_t
    if var <= 0:
        return mean
    if noise is None:
        noise = torch.randn_like(x_t)
    return mean + math.sqrt(var) * noise
    # END SOLUTION


# --------------------------------------------------------------------------------------- 4.5


def ddim_step(x_t: torch.Tensor, t: int, t_prev: int, eps_pred: torch.Tensor, alpha_bar: torch.Tensor,
              eta: float = 0.0, noise: torch.Tensor | None = None, clip: float | None = None) -> torch.Tensor:
    """One DDIM step x_t → x_{t_prev} for any earlier step t_prev (Song, Meng & Ermon 2021, eq. 12).

    1. x̂₀ as in :func:`ddpm_step` (same row-norm ``clip``).
    2. If the clip binds (a row of x̂₀ was scaled back), that row's ε̂ is re-derived from the clipped x̂₀
       before the update, ε̂ ← (x_t − sqrt(ᾱ_t) · x̂₀_clipped) / sqrt(1 − ᾱ_t), so that x̂₀ and ε̂ again
       describe the same x_t; rows the clip leaves alone keep ``eps_pred``. (Keeping the predicted ε̂ next
       to a clipped x̂₀ mixes two inconsistent estimates; the notebook shows a few trajectories of that
       variant running away to non-finite values.)
    3. σ = η · sqrt((1 − ᾱ_{t_prev}) / (1 − ᾱ_t)) · sqrt(1 − ᾱ_t / ᾱ_{t_prev}).
    4. x_{t_prev} = sqrt(ᾱ_{t_prev}) x̂₀ + sqrt(1 − ᾱ_{t_prev} − σ²) · ε̂ + σ · noise.

    With η = 0 the step is deterministic (no noise is drawn): the same x_T always gives the same
    sample, and a subsequence of, say, 50 of the T steps gives a fast sampler. With η = 1 and
    t_prev = t − 1 it is the ancestral DDPM step. t_prev = 0 returns x̂₀ itself.

    Args:
        x_t: Tensor[n, d], the current state.
        t: the current step, an int in [1, T].
        t_prev: the step to jump to, an int in [0, t − 1].
        eps_pred: Tensor[n, d], ε̂(x_t, t).
        alpha_bar: Tensor[T + 1].
        eta: η ≥ 0 (0 = deterministic DDIM).
        noise: Tensor[n, d] standard-normal noise, used only when σ > 0; None = ``torch.randn_like``.
        clip: None or the largest allowed row norm of x̂₀.
    Returns:
        Tensor[n, d], x_{t_prev}, in ``x_t.dtype``.
    Raises:
        ValueError: for bad shapes or non-finite inputs, ``t`` / ``t_prev`` out of range, ``eta`` < 0
            or a non-positive ``clip``.

    Hint:
        1. Idea: same x̂₀ (and clip) as the DDPM step; then jump to step t_prev along the DDIM direction,
           plus noise of size σ.
        2. Approach: ᾱ_{t_prev} replaces ᾱ_{t−1} everywhere; σ grows linearly with η, and the weight of the
           noise estimate is the square root of what remains of 1 − ᾱ_{t_prev} after σ². After clipping,
           solve the forward-process equation for the noise that the clipped x̂₀ implies.
        3. Tricky detail: with η = 0, σ = 0 and there is no noise term at all — draw no random numbers;
           guard square roots against tiny negative rounding errors; the noise estimate changes only in the
           rows the clip actually scaled.
    """
    _check_state(x_t, "x_t")
    _check_like(eps_pred, x_t, "eps_pred")
    _check_alpha_bar(alpha_bar)
    t = _check_step(t, alpha_bar.numel() - 1)
    t_prev = _check_step(t_prev, t - 1, "t_prev", low=0)
    if not (isinstance(eta, (int, float)) and not isinstance(eta, bool) and eta >= 0):
        raise ValueError(f"eta must be a number >= 0, got {eta!r}")
    if noise is not None:
        _check_like(noise, x_t, "noise")
    _check_clip(clip)
    # BEGIN SOLUTION
    ab_t, ab_prev = float(alpha_bar[t]), float(alpha_bar[t_prev])
    x0_hat = (x_t - math.sqrt(1 - ab_t) * eps_pred) / math.sqrt(ab_t)
    if clip is not None:
        norm = x0_hat.norm(dim=-1, keepdim=True)
        x0_hat = x0_hat * (clip / norm.clamp_min(1e-12)).clamp(max=1.0)
        eps_pred = torch.where(norm > clip, (x_t - math.sqrt(ab_t) * x0_hat) / math.sqrt(1 - ab_t), eps_pred)
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t)) * math.sqrt(max(1 - ab_t / ab_prev, 0.0))
    out = math.sqrt(ab_prev) * x0_hat + math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps_pred
    if sigma > 0:
        if noise is None:
            noise = torch.randn_like(x_t)
        out = out + sigma * noise
    return out
    # END SOLUTION


# --------------------------------------------------------------------------------------- 4.6


def molecule_from_geometry(atomic_numbers, pos: torch.Tensor):
    """Perceive a molecule (bonds and bond orders) from heavy-atom coordinates; RDKit adds the hydrogens.

    The rule, with the reference lengths ``SINGLE``, ``DOUBLE``, ``TRIPLE`` (Å) of this module:

    1. **Clash**: if two atoms are closer than ``MIN_DISTANCE`` (1.0 Å) → None.
    2. **Connectivity**: atoms i, j are bonded when d_ij < SINGLE[pair] + ``BOND_TOLERANCE`` (0.25 Å).
       If an atom then has more bonds than its valence (``VALENCE``: C 4, N 3, O 2, F 1) → None.
    3. **Triple bonds**: a bond whose pair has a TRIPLE entry, shorter than (DOUBLE + TRIPLE)/2, and
       whose two atoms both have ≥ 2 free valences, becomes triple. Bonds are considered in ascending
       (i, j) order (i < j), so when two candidates share an atom the first one takes its free valences.
    4. **Double bonds** by a *maximum-weight matching*: a remaining single bond is a candidate when
       its pair has a DOUBLE entry, both atoms still have a free valence, and its shortness
       w = (SINGLE − d)/(SINGLE − DOUBLE) exceeds 0.5 (shorter than the midpoint). Each atom takes at
       most one double bond; among all such choices take the one with the largest total w. An aromatic
       ring (all bonds ≈ 1.39 Å for C–C, w ≈ 0.75) thereby gets one Kekulé structure, and a carbonyl
       carbon cannot also double-bond its amide nitrogen. (A greedy "shortest bond first" choice
       breaks benzene into a diene; plain distance thresholds read benzene as cyclohexane.)
    5. Build an RDKit molecule with these bonds, no charges and implicit hydrogens, and sanitize it
       (RDKit perceives aromaticity and adds the hydrogens); if sanitization fails → None.

    Stereochemistry is not assigned. Disconnected geometries give a valid molecule with several
    fragments (its SMILES contains ``"."``) — :func:`sample_metrics` counts those separately. A single
    atom is a valid molecule (one carbon is methane).

    What the rule cannot represent: formal charges (step 5 sets none, so nitro groups, N-oxides, azides and
    zwitterions cannot come out), and an atom with two double bonds (step 4 gives each atom at most one), so
    cumulated double bonds — CO₂, allenes, ketenes, isocyanates — cannot either. The training data were
    filtered to neutral molecules before this rule saw them: ``molpractice.geometry3d._reject_reason`` drops
    a molecule with ``any(a.GetFormalCharge() != 0 for a in mol.GetAtoms())`` ("charged atom(s)"). So its
    in-sample recovery is measured on molecules already filtered to what it can represent: no filter removes
    cumulated double bonds, but none of the training molecules has one.

    Args:
        atomic_numbers: LongTensor[n] (or a sequence of ints) of atomic numbers, each in {6, 7, 8, 9}.
        pos: Tensor[n, 3], coordinates in Å (any origin and orientation).
    Returns:
        A sanitized ``rdkit.Chem.Mol`` (heavy atoms in input order, hydrogens implicit) or None when
        the geometry is not a valid molecule. The result depends only on interatomic distances, so it
        does not change under rotations, translations or a reordering of the atoms.
    Raises:
        ValueError: if ``pos`` is not (n, 3) or contains NaN/inf, n = 0, the lengths differ, or an
            atomic number is not one of 6, 7, 8, 9 (hydrogens are implicit: no 1).

    Hints:
        1. Idea: bonds come from distances: first single bonds, then upgrade some to triple, then choose
           double bonds by a matching, following the steps above in order.
        2. Approach: compute every interatomic distance at once (torch has a pairwise-distance function) in
           float64, keeping a count of each atom's free valences; networkx has a maximum-weight matching
           for a graph whose edges carry the weights w (it returns each chosen atom pair once, in either
           order).
        3. Tricky detail: build the molecule with RDKit's editable molecule (atoms first, then bonds of the
           chosen types) and sanitize it inside try/except: sanitizing raises on an impossible valence or
           ring, which means None.
    """
    atomic_numbers = _check_atoms(atomic_numbers, pos)
    # BEGIN SOLUTION
    import networkx as nx
    from rdkit import Chem

    z = atomic_numbers.tolist()
    n = len(z)
    d = torch.cdist(pos.detach().double().cpu(), pos.detach().double().cpu())
    if n > 1 and float((d + torch.eye(n, dtype=d.dtype) * 1e9).min()) < MIN_DISTANCE:
        return None
    order = {}
    free = [VALENCE[a] for a in z]
    for i in range(n):
        for j in range(i + 1, n):
            if float(d[i, j]) < SINGLE[_pair(z[i], z[j])] + BOND_TOLERANCE:
                order[(i, j)] = 1
                free[i] -= 1
                free[j] -= 1
    if min(free) < 0:
        return None
    for (i, j) in order:
        key = _pair(z[i], z[j])
        if key in TRIPLE and float(d[i, j]) < (DOUBLE[key] + TRIPLE[key]) / 2 and free[i] >= 2 and free[j] >= 2:
            order[(i, j)] = 3
            free[i] -= 2
            free[j] -= 2
    graph = nx.Graph()
    for (i, j), o in order.items():
        key = _pair(z[i], z[j])
        if o == 1 and key in DOUBLE and free[i] >= 1 and free[j] >= 1:
            w = (SINGLE[key] - float(d[i, j])) / (SINGLE[key] - DOUBLE[key])
            if w > 0.5:
                graph.add_edge(i, j, weight=w)
    for i, j in nx.max_weight_matching(graph):
        order[(min(i, j), max(i, j))] = 2
    types = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    rw = Chem.RWMol()
    for a in z:
        rw.AddAtom(Chem.Atom(a))
    for (i, j), o in order.items():
        rw.AddBond(i, j, types[o])
    mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # RDKit raises several types (valence, kekulization)
        return None
    return mol
    # END SOLUTION


# --------------------------------------------------------------------------------------- 4.7


def sample_metrics(samples, train_smiles, perceive=None) -> dict:
    """Validity, connectivity, uniqueness and novelty of generated molecules.

    Each sample is perceived (``perceive(z, pos)``, default :func:`molecule_from_geometry`) and written
    as canonical SMILES without stereochemistry (``Chem.MolToSmiles(mol, isomericSmiles=False)``).

    * ``validity``   = (# samples giving a molecule) / (# samples)
    * ``connected``  = (# valid samples with one fragment, i.e. no "." in the SMILES) / (# samples)
    * ``uniqueness`` = (# distinct SMILES among the valid connected ones) / (# valid connected)
    * ``novelty``    = (# of those distinct SMILES not in the training set) / (# distinct SMILES)

    The training SMILES are canonicalised the same way first (a training SMILES written differently,
    e.g. ``"OCC"`` for ethanol, is still the same molecule). A ratio with an empty denominator is 0.0.

    Args:
        samples: list of ``(atomic_numbers LongTensor[n], pos Tensor[n, 3])`` pairs.
        train_smiles: iterable of SMILES strings of the training molecules (any valid spelling).
        perceive: callable ``(atomic_numbers, pos) -> Mol | None``; None = :func:`molecule_from_geometry`.
    Returns:
        dict with the four fractions above (floats in [0, 1]) and ``n_samples``, ``n_valid``,
        ``n_connected``, ``n_unique`` (ints) and ``smiles`` (list, one entry per sample: its canonical
        SMILES, or None when invalid).
    Raises:
        ValueError: if ``samples`` is empty or an entry is not a pair, or a training SMILES does not parse
            (its index is named).

    Hint:
        1. Idea: every metric is a fraction of canonical SMILES strings; sets of strings give the distinct
           and the novel ones.
        2. Approach: perceive each sample, canonicalise the valid ones and the training SMILES the same way
           (parse, then write without stereo), and count valid, single-fragment, distinct and novel
           strings.
        3. Tricky detail: mind each denominator — validity and connectivity over all samples, uniqueness
           over the connected samples, novelty over the distinct SMILES — and an empty denominator gives
           0.0.
    """
    from rdkit import Chem

    samples = list(samples)
    if not samples:
        raise ValueError("samples is empty: pass at least one (atomic_numbers, pos) pair")
    for k, item in enumerate(samples):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"samples[{k}] must be a pair (atomic_numbers, pos), got {type(item).__name__}")
    train_smiles = list(train_smiles)
    for k, s in enumerate(train_smiles):
        if not isinstance(s, str) or Chem.MolFromSmiles(s) is None:
            raise ValueError(f"train_smiles[{k}] = {s!r} is not a valid SMILES")
    perceive = perceive if perceive is not None else molecule_from_geometry
    # BEGIN SOLUTION
    train = {Chem.MolToSmiles(Chem.MolFromSmiles(s), isomericSmiles=False) for s in train_smiles}
    smiles = []
    for z, pos in samples:
        mol = perceive(z, pos)
        smiles.append(None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False))
    valid = [s for s in smiles if s is not None]
    connected = [s for s in valid if "." not in s]
    distinct = set(connected)
    n = len(smiles)
    return {
        "validity": len(valid) / n,
        "connected": len(connected) / n,
        "uniqueness": len(distinct) / len(connected) if connected else 0.0,
        "novelty": len(distinct - train) / len(distinct) if distinct else 0.0,
        "n_samples": n, "n_valid": len(valid), "n_connected": len(connected), "n_unique": len(distinct),
        "smiles": smiles,
    }
    # END SOLUTION


# --------------------------------------------------------------------------------------- 4.8


def atom_stability(atomic_numbers, pos: torch.Tensor) -> torch.Tensor:
    """Over-coordination / clash check per heavy atom (EDM-inspired; *not* EDM's stability).

    EDM (Hoogeboom et al. 2022) calls an atom stable when, with explicit hydrogens, the sum of its perceived
    bond orders equals its element's valence. This chapter's model places no hydrogens, and implicit
    hydrogens fill whatever valence the heavy-atom bonds leave free, so EDM's equality test cannot be run without
    hydrogens (*Results* runs EDM's bond-order table with "≤ valence" instead). What *can* go wrong is that an atom has more bonded neighbours than its valence allows, or sits on top of
    another atom. That is what this function checks (no bond orders are used):

    * atom i is bonded to atom j ≠ i when d_ij < SINGLE[pair] + ``BOND_TOLERANCE`` (the connectivity step
      of :func:`molecule_from_geometry`);
    * atom i **passes** when its number of bonded neighbours is at most ``VALENCE`` of its element
      (C 4, N 3, O 2, F 1) **and** no other atom is closer than ``MIN_DISTANCE`` (a clash).

    A molecule passes when all its atoms do; a single atom passes. Every geometry that
    :func:`molecule_from_geometry` accepts passes (its steps 1–2 reject the same cases), so the molecule
    rate bounds validity from above, and the rates are not comparable to EDM's stability numbers;
    predicting explicit hydrogens would be the real test.

    Args:
        atomic_numbers: LongTensor[n] (or a sequence of ints), each in {6, 7, 8, 9}.
        pos: Tensor[n, 3], coordinates in Å.
    Returns:
        BoolTensor[n] (``torch.bool``), True for each stable atom, on ``pos.device``.
    Raises:
        ValueError: if ``pos`` is not (n, 3) or not finite, n = 0, the lengths differ, or an atomic
            number is not one of 6, 7, 8, 9.

    Hint:
        1. Idea: count, for every atom, the other atoms within its pair's bonding distance, and look for
           any partner that is too close; compare the count with the element's valence.
        2. Approach: all interatomic distances at once (in float64), a matrix of bonding cutoffs built from
           the ``SINGLE`` table (one entry per atom pair), a boolean "bonded" matrix, row sums.
        3. Tricky detail: an atom's distance to itself is 0 — leave the diagonal out of both the neighbour
           count and the clash test; ``SINGLE`` keys are sorted pairs (C–O is ``(6, 8)``, never ``(8, 6)``).
    """
    atomic_numbers = _check_atoms(atomic_numbers, pos)
    # BEGIN SOLUTION
    z = atomic_numbers.tolist()
    n = len(z)
    d = torch.cdist(pos.detach().double(), pos.detach().double())
    cutoff = torch.tensor([[SINGLE[_pair(a, b)] + BOND_TOLERANCE for b in z] for a in z],
                          dtype=torch.float64, device=pos.device)
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=pos.device)
    bonded = (d < cutoff) & off_diagonal
    clash = ((d < MIN_DISTANCE) & off_diagonal).any(dim=1)
    valence = torch.tensor([VALENCE[a] for a in z], device=pos.device)
    return (bonded.sum(dim=1) <= valence) & ~clash
    # END SOLUTION


# --------------------------------------------------------------------------------------- 4.9


def bond_length_outliers(mol, pos, bounds, tolerance: float = 0.25) -> dict:
    """PoseBusters' bond-length check for one molecule: every bond within its distance-geometry bounds.

    ``bounds`` is the (n, n) matrix RDKit's distance geometry gives for ``mol``
    (``rdkit.Chem.rdDistGeom.GetMoleculeBoundsMatrix``), possibly adjusted (the notebook passes
    ``plausibility.bounds_matrix``, which gives the atom pairs of a conjugated terminal group such as a carboxylate
    the same bounds, as PoseBusters does): for i < j, the **upper** bound of the distance
    between atoms i and j is ``bounds[i, j]`` (upper triangle) and the **lower** bound is ``bounds[j, i]``
    (lower triangle). For each bond (i, j) of ``mol``, in the order of ``mol.GetBonds()``, with length d:

    * relative deviation r = (d − lower) / lower  if d < lower  (negative: too short),
      r = (d − upper) / upper  if d > upper  (positive: too long),  r = 0 otherwise;
    * the bond passes when |r| ≤ ``tolerance`` (PoseBusters' ``mol`` configuration: 0.25, i.e. a bond may
      be 25 % shorter than its lower or longer than its upper bound).

    Args:
        mol: an RDKit molecule whose atom i sits at ``pos[i]`` (hydrogens implicit or explicit: only its
            bonds are read).
        pos: Tensor[n, 3] (or array) of coordinates in Å.
        bounds: array-like of shape (n, n) (nested lists, NumPy array or tensor) of distance bounds in Å as
            described above.
        tolerance: the allowed relative deviation, ≥ 0.
    Returns:
        dict with ``deviation`` (Tensor[n_bonds], float64, r per bond in ``mol.GetBonds()`` order; empty for a
        molecule without bonds), ``worst`` (float, the largest |r|; 0.0 without bonds), ``n_outliers`` (int,
        bonds with |r| > tolerance) and ``passes`` (bool, no outlier). ``pos`` and ``bounds`` are not modified.
    Raises:
        ValueError: if ``pos`` is not (n, 3) or not finite, ``bounds`` is not (n, n), or ``tolerance`` < 0.

    Hint:
        1. Idea: look each bond's length up against the window [lower, upper] of its atom pair and express
           any excess as a fraction of the bound it crosses.
        2. Approach: collect the bonds' atom pairs, compute their lengths in float64, read both bounds of each
           pair from the matrix, and combine "too short", "too long" and "inside" into one signed value.
        3. Tricky detail: which triangle holds which bound depends on the order of the pair — sort each pair
           first; the deviation is relative to the crossed bound, not to the midpoint or in Å; and a
           deviation exactly at the tolerance still passes.
    """
    import numpy as np

    n = mol.GetNumAtoms()
    pos = torch.as_tensor(np.asarray(pos.detach().cpu() if isinstance(pos, torch.Tensor) else pos, dtype=np.float64))
    if pos.shape != (n, 3):
        raise ValueError(f"pos must have shape ({n}, 3) for a molecule of {n} atoms, got {tuple(pos.shape)}")
    if not torch.isfinite(pos).all():
        raise ValueError("pos contains NaN or inf coordinates")
    bounds = torch.as_tensor(np.asarray(bounds.detach().cpu() if isinstance(bounds, torch.Tensor) else bounds,
                                        dtype=np.float64))
    if bounds.shape != (n, n):
        raise ValueError(f"bounds must have shape ({n}, {n}), got {tuple(bounds.shape)}")
    if not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool) and tolerance >= 0):
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    # BEGIN SOLUTION
    pairs = [sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx())) for b in mol.GetBonds()]
    if not pairs:
        return {"deviation": torch.zeros(0, dtype=torch.float64), "worst": 0.0, "n_outliers": 0, "passes": True}
    i, j = torch.tensor(pairs).T
    d = (pos[i] - pos[j]).norm(dim=1)
    lower, upper = bounds[j, i], bounds[i, j]
    r = torch.where(d < lower, (d - lower) / lower, torch.where(d > upper, (d - upper) / upper, torch.zeros_like(d)))
    n_out = int((r.abs() > tolerance).sum())
    return {"deviation": r, "worst": float(r.abs().max()), "n_outliers": n_out, "passes": n_out == 0}
    # END SOLUTION
