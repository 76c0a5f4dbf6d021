"""Denoising diffusion on a 2D toy and on heavy-atom 3D molecules — the chapter-4 facade.

Every public name of the chapter's helpers is importable from here (``from molpractice import diffusion``);
the code lives in modules split by responsibility:

* :mod:`molpractice.diffusion_model` — ``SETTINGS``, the toy (:func:`toy_data`, :func:`toy_quality`,
  :class:`MLPDenoiser`, :func:`train_toy`), the molecule data (:func:`molecule_data`), the E(n)-equivariant
  :class:`EGNNDenoiser` and :func:`train_molecule_model` (a fixed number of steps, EMA weights cached under
  ``mp.runtime.cache_dir()`` by a key of every setting and the seed);
* :mod:`molpractice.diffusion_sampling` — :func:`run_sampler` (DDPM, DDPM on a subsequence = DDIM with
  η = 1, DDIM with η = 0; x̂₀ clip), :func:`sample_toy`, :func:`sample_molecules`, :func:`draw_sizes`,
  :func:`forward_moments`, :func:`sampler_equivariance`;
* :mod:`molpractice.diffusion_metrics` — :func:`metrics` (validity, connectivity, uniqueness, novelty with
  intervals), :func:`bond_recovery`, :func:`naive_molecule_from_geometry`, distance samples, memorisation;
* :mod:`molpractice.diffusion_controls` — the sampler controls (DDPM / DDIM × x̂₀ clip mode × steps):
  :func:`toy_sampler_controls`, :func:`sampler_controls`, :func:`controls_and_samples` (one pool of worker
  processes), :func:`nonfinite_lines`, :func:`compare_controls` (paired, with :func:`holm`);
* :mod:`molpractice.diffusion_report` — the toy run, the issue-24 target and time verdicts and
  :func:`run_benchmark` (``molpractice bench ch04``) with its JSON record.

The coordination/clash check, PoseBusters-style geometry checks, the cited implausible groups and the Brenk screening filters are in :mod:`molpractice.plausibility`, distribution metrics against the
training data in :mod:`molpractice.sample_distributions` (novelty, scaffolds and diversity in
:mod:`molpractice.sample_novelty`).

Every function that runs the diffusion maths receives the chapter module (``chapter``) that provides
``cosine_alpha_bar``, ``q_sample``, ``remove_mean``, ``ddpm_step``, ``ddim_step``,
``molecule_from_geometry``, ``sample_metrics``, ``atom_stability`` and ``bond_length_outliers`` — the learner's or the reference, from
``mp.load_chapter("ch04_diffusion")``. Nothing here imports ``solutions`` or ``exercises``.
"""
from __future__ import annotations

from .diffusion_controls import *  # noqa: F401,F403
from .diffusion_controls import __all__ as _controls_all
from .diffusion_metrics import *  # noqa: F401,F403
from .diffusion_metrics import __all__ as _metrics_all
from .diffusion_model import *  # noqa: F401,F403
from .diffusion_model import __all__ as _model_all
from .diffusion_model import _centre, _collate, _cache_key  # noqa: F401 (used by tests and chapter 6)
from .diffusion_report import *  # noqa: F401,F403
from .diffusion_report import __all__ as _report_all
from .diffusion_sampling import *  # noqa: F401,F403
from .diffusion_sampling import __all__ as _sampling_all

__all__ = sorted(set(_model_all) | set(_sampling_all) | set(_metrics_all) | set(_controls_all) | set(_report_all))
