"""The chapter-4 report: quality-vs-steps grids, the sampler controls (DDPM / DDIM × x̂₀ clip × steps) and
``molpractice bench ch04`` (:func:`run_benchmark`). Importable from :mod:`molpractice.diffusion`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from . import diffusion_model as _dm
from .diffusion_metrics import bond_recovery, metrics
from .diffusion_model import molecule_data, train_molecule_model, train_toy, toy_quality
from .diffusion_sampling import draw_sizes, position_clip, sample_molecules, sample_toy
from .runtime import run_mode

__all__ = ['CLIP_MODES', 'toy_quality_grid', 'molecule_quality_grid', 'toy_sampler_controls', 'sampler_controls', 'compare_controls',
           'run_toy',
           'run_benchmark']

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


def _cp(k, n):
    from .plausibility import clopper_pearson

    return clopper_pearson(int(k), int(n))


CLIP_MODES = ("on", "off", "on, ε̂ kept")


def _default_runs(steps):
    """Both samplers × clip on/off × ``steps``, plus clip with ε̂ kept (the literal 4.5 step) at the middle count."""
    runs = [(m, c, int(k)) for m in ("ddpm", "ddim") for c in ("on", "off") for k in steps]
    return runs + [(m, "on, ε̂ kept", int(steps[len(steps) // 2])) for m in ("ddpm", "ddim")]


def toy_sampler_controls(chapter, model, steps, n: int, clip: float, seed: int = 1, runs=None):
    """The toy's sampler controls: DDPM (ancestral; on a subsequence below T) and DDIM (η = 0) with the x̂₀ clip
    ``"on"`` (ε̂ re-derived from the clipped x̂₀), ``"off"``, and ``"on, ε̂ kept"`` (the clip inside the chapter's
    step, ε̂ as predicted), at the step counts of ``steps`` (or the ``(method, clip mode, steps)`` of ``runs``);
    same x_T seed for every row.

    Returns a DataFrame: ``sampler``, ``clip``, ``steps``, ``n``, ``within_3sigma`` with its Clopper–Pearson
    95 % interval (``low``, ``high``; samples are independent draws), ``modes_hit``, ``diverged`` (the state
    stopped being finite: the step functions raised ValueError; scored 0), ``seconds``.
    """
    import pandas as pd

    rows = []
    for method, mode, k in runs or _default_runs(steps):
        start, diverged = time.perf_counter(), False
        try:
            x = sample_toy(chapter, model, n, method, int(k), None if mode == "off" else clip, seed=seed,
                           rederive_eps=mode == "on")
            q = toy_quality(x)
        except ValueError:  # the step functions refuse a non-finite state: the run diverged
            q, diverged = {"within_3sigma": 0.0, "modes_hit": 0}, True
        hits = round(q["within_3sigma"] * n)
        low, high = _cp(hits, n)
        rows.append({"sampler": method.upper(), "clip": mode, "steps": int(k), "n": n, "within_3sigma": hits / n,
                     "low": low, "high": high, "modes_hit": q["modes_hit"], "diverged": diverged,
                     "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows)


def sampler_controls(chapter, model, data, alpha_bar, steps, n: int, type_scale: float, pos_clip: float,
                     seed: int = 2, reuse=None, runs=None):
    """Molecule sampler controls: DDPM and DDIM with the x̂₀ clip (positions and types) ``"on"`` (ε̂ re-derived
    from the clipped x̂₀), ``"off"`` and ``"on, ε̂ kept"``, at the step counts of ``steps``, on the same ``n`` sizes
    and seed (or only the ``runs`` given as ``(method, clip mode, steps)`` triples; default: both samplers ×
    on/off × ``steps`` plus "on, ε̂ kept" at the middle step count).

    ``reuse``: optional ``{(method, clip mode, steps): samples}`` of runs already made with these sizes and seed
    (e.g. the main result), not sampled again. A run whose state stops being finite (the step functions
    raise ValueError) counts as 0 valid molecules and is marked ``diverged``. Returns a DataFrame:
    ``sampler``, ``clip``, ``steps``, ``n``, ``valid``, ``connected`` (valid single fragment) with its
    Clopper–Pearson 95 % interval (``low``, ``high``), ``diverged``, ``seconds``.
    """
    import pandas as pd
    from rdkit import Chem

    from .diffusion_model import rdkit_quiet

    sizes = draw_sizes(data, n, seed=seed)
    reuse = reuse or {}
    rows = []
    for method, mode, k in runs or _default_runs(steps):
        start, diverged, clipped = time.perf_counter(), False, mode != "off"
        samples = reuse.get((method, mode, int(k)))
        if samples is None:
            try:
                samples, _ = sample_molecules(chapter, model, sizes, alpha_bar, method, int(k), type_scale,
                                              pos_clip if clipped else None, seed=seed, clip_types=clipped,
                                              rederive_eps=mode == "on")
            except ValueError:
                samples, diverged = [], True
        with rdkit_quiet():
            mols = [chapter.molecule_from_geometry(z, pos) for z, pos in samples]
        valid = [m for m in mols if m is not None]
        conn = sum(len(Chem.GetMolFrags(m)) == 1 for m in valid)
        low, high = _cp(conn, n)
        rows.append({"sampler": method.upper(), "clip": mode, "steps": int(k), "n": n,
                     "valid": len(valid) / n, "connected": conn / n, "low": low, "high": high,
                     "diverged": diverged, "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows)


def compare_controls(table, y: str = "connected"):
    """Paired readings of a controls table (from :func:`sampler_controls` or :func:`toy_sampler_controls`):
    DDPM − DDIM at each step count and clip mode, and clip "on" − "off" / − "on, ε̂ kept" for each sampler and
    step count, each
    with Newcombe's 95 % interval of the difference and a verdict ("higher", "lower", "no detectable
    difference"). The runs share x_T, so the independent-samples interval is conservative. Returns a
    DataFrame."""
    import pandas as pd

    from .plausibility import rate_difference

    def k(row):
        return int(round(row[y] * row["n"])), int(row["n"])

    rows = []
    idx = {(r["sampler"], r["clip"], int(r["steps"])): r for _, r in table.iterrows()}
    for (sampler, mode, steps), r in sorted(idx.items(), key=lambda x: (x[0][2], x[0][0], x[0][1])):
        pairs = []
        if sampler == "DDPM" and ("DDIM", mode, steps) in idx:
            pairs.append((f"DDPM − DDIM, {steps} steps, clip {mode}", r, idx[("DDIM", mode, steps)]))
        for other in ("off", "on, ε̂ kept"):
            if mode == "on" and (sampler, other, steps) in idx:
                pairs.append((f"{sampler}-{steps}: clip on − clip {other}", r, idx[(sampler, other, steps)]))
        for name, a, b in pairs:
            rows.append({"comparison": name, "first": a[y], "second": b[y], **rate_difference(*k(a), *k(b))})
    return pd.DataFrame(rows)


def run_toy(chapter, cfg=None, progress: bool = True, seed: int = 0):
    """Train the toy model and score DDPM (all steps), DDIM-50 with and without clipping. Returns rows."""
    cfg = cfg or _dm.SETTINGS.current()
    model, hist = train_toy(chapter, T=cfg.toy_T, steps=cfg.toy_steps, seed=seed,
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


def _fmt(rate: dict) -> str:
    return f"{rate['rate']:.3f} [{rate['low']:.3f}, {rate['high']:.3f}]"


def run_benchmark(implementation: str | None = None, steps: int | None = None, json_path=None) -> dict:
    """``molpractice bench ch04``: the chapter's target table.

    Trains the toy (fixed steps) and scores its samplers; trains the molecule model for its fixed number of
    steps (or loads it from the cache); samples ``bench_samples`` molecules with DDPM (``steps``, default all T)
    and ``n_fast_samples`` with DDIM-50 (timed); reports validity, valid single-fragment (Clopper–Pearson 95 %),
    molecule stability and "plausible" next to the training data's own rates, then the sampler controls
    (DDPM / DDIM × x̂₀ clip × ``control_steps``). No model choice is made here: every setting is fixed in
    ``SETTINGS`` (the data has no test split; the numbers describe samples, not held-out molecules).

    Args:
        implementation: ``"exercises"`` or ``"solutions"`` (default: ``MOLPRACTICE_IMPL``).
        steps: DDPM sampling steps of the main molecule row (default T; fewer = ancestral sampling on a
            subsequence).
        json_path: where to write the report as JSON.
    Returns:
        ``{"results": [...rows of the target table...], "controls": [...], "toy": [...], "training": {...},
        "data_recovery", "mode", "implementation", "seconds_total"}``.
    """
    import pandas as pd

    from .implementations import load_chapter
    from .plausibility import plausibility, stability
    from .runtime import implementation_name

    implementation = implementation or implementation_name()
    chapter = load_chapter("ch04_diffusion", implementation)
    cfg = _dm.SETTINGS.current()
    if steps is not None and not (isinstance(steps, int) and 1 <= steps <= cfg.T):
        raise ValueError(f"--steps must be an int in [1, {cfg.T}], got {steps!r}")
    start = time.perf_counter()
    toy_model, toy_hist, _ = run_toy(chapter, cfg, progress=False)
    toy = toy_sampler_controls(chapter, toy_model, (50, 100, cfg.toy_T), cfg.toy_samples, 2.0 + 4 * 0.1)
    data = molecule_data()
    data_samples = [(d["z"], d["pos"]) for d in data]
    recovery = bond_recovery(chapter.molecule_from_geometry, data)
    model, info = train_molecule_model(chapter, data, cfg, implementation=implementation, progress=False)
    alpha_bar = chapter.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    clip = position_clip(data)
    n_steps = steps or cfg.T
    sizes = draw_sizes(data, cfg.bench_samples, seed=1)
    main, extra = sample_molecules(chapter, model, sizes, alpha_bar, "ddpm", n_steps, cfg.type_scale, clip, seed=1)
    fast_sizes = draw_sizes(data, cfg.n_fast_samples, seed=1)
    fast, extra_fast = sample_molecules(chapter, model, fast_sizes, alpha_bar, "ddim", min(50, cfg.T), cfg.type_scale,
                                        clip, seed=1)
    rows = []
    for label, samples, seconds in (("training data (reference)", data_samples, float("nan")),
                                    (f"DDPM-{n_steps}", main, extra["seconds"]),
                                    (f"DDIM-{min(50, cfg.T)}", fast, extra_fast["seconds"])):
        plaus, stab = plausibility(chapter, samples), stability(chapter, samples)
        r = plaus["rates"]
        rows.append({"samples": label, "n": len(samples), "valid": _fmt(r["valid"]),
                     "valid single fragment": _fmt(r["single fragment"]), "atom stable": _fmt(stab["atom"]),
                     "molecule stable": _fmt(stab["molecule"]), "geometry checks": _fmt(r["geometry"]),
                     "plausible": _fmt(r["plausible"]), "sampling s": seconds,
                     "rates": {k: v for k, v in r.items()} | {"atom stable": stab["atom"]}})
    controls = sampler_controls(chapter, model, data, alpha_bar, cfg.control_steps, cfg.control_samples,
                                cfg.type_scale, clip, seed=2)
    table = pd.DataFrame([{k: v for k, v in row.items() if k != "rates"} for row in rows])
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 40):
        print(f"data: {len(data)} molecules; molecule_from_geometry recovers {recovery['recovered']:.1%} of them "
              "from their own geometry")
        print(f"molecule model: {'loaded from cache' if info['cached'] else 'trained'}: {info['steps']} steps "
              f"(fixed), {info['seconds']:.0f} s wall, {info.get('cpu_seconds', float('nan')) / 60:.1f} CPU-min")
        print(f"toy: {toy_hist['steps']} steps in {toy_hist['seconds']:.0f} s")
        print("\nTarget table (rates with Clopper-Pearson 95 % intervals; 'sampling s' = wall seconds for n molecules):")
        print(table.round(1).to_string(index=False))
        print(f"\nSampler controls ({cfg.control_samples} molecules each, same sizes and seed; valid single fragment "
              "with Clopper-Pearson 95 %):")
        print(controls.round(3).to_string(index=False))
        print("\nToy sampler controls (fraction within 3 sigma of a mode, Clopper-Pearson 95 %):")
        print(toy.round(3).to_string(index=False))
    if run_mode() == "fast":
        print("fast mode: tiny training and few samples — these numbers are not meaningful")
    report = {"chapter": "ch04", "mode": run_mode(), "implementation": implementation,
              "data_recovery": recovery["recovered"], "n_train": len(data),
              "training": {k: info.get(k) for k in ("steps", "seconds", "cpu_seconds", "cached")},
              "toy_training": {"steps": toy_hist["steps"], "seconds": toy_hist["seconds"]},
              "seconds_total": time.perf_counter() - start, "results": rows,
              "controls": controls.to_dict("records"), "toy": toy.to_dict("records")}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report
