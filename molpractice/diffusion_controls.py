"""The chapter-4 sampler controls: DDPM / DDIM × x̂₀ clip mode × steps on the toy (:func:`toy_sampler_controls`)
and on molecules (:func:`sampler_controls`; :func:`controls_and_samples` shares one pool of worker processes with
further sampling jobs), every sample scored on its own (:func:`nonfinite_lines` names the runs in which samples
stopped being finite), and the paired readings of a controls table with Holm's correction
(:func:`compare_controls`, :func:`holm`); the first-jump control (no clip, start at T − 1: :data:`START_MODE`)
is read by :func:`start_control_lines`. Importable from :mod:`molpractice.diffusion`.
"""
from __future__ import annotations

import time

import torch

from .comparisons import holm_adjusted
from .diffusion_model import toy_quality
from .diffusion_sampling import draw_sizes, sample_molecules, sample_toy
from .plausibility import paired_rate_difference

__all__ = ['CLIP_MODES', 'START_MODE', 'toy_sampler_controls', 'sampler_controls', 'controls_and_samples',
           'compare_controls', 'nonfinite_lines', 'holm', 'CONTROL_EXTRAS', 'control_runs', 'toy_control_runs',
           'start_control_lines', 'FAMILY_CONTROLS', 'FAMILY_START']


def _cp(k, n):
    from .plausibility import clopper_pearson

    return clopper_pearson(int(k), int(n))


CLIP_MODES = ("on", "off", "on, ε̂ kept", "positions only", "types only", "off, from T−1")
START_MODE = "off, from T−1"  # the first-jump control: no x̂₀ clip, the reverse process starts at T − 1 (not T)
FAMILY_CONTROLS = "clip and sampler"  # compare_controls' Holm family of the runs from T
FAMILY_START = "start at T−1"  # its Holm family of the comparisons that involve a START_MODE run


def _mode_settings(mode: str) -> dict:
    """What a clip mode of the control grids runs: ``clip_positions`` / ``clip_types`` (the x̂₀ clips), ``rederive_eps``
    (False only for "on, ε̂ kept") and ``start`` (:func:`run_sampler`'s; ``"T-1"`` only for :data:`START_MODE`)."""
    if mode not in CLIP_MODES:
        raise ValueError(f"clip mode must be one of {CLIP_MODES}, got {mode!r}")
    return {"clip_positions": mode not in ("off", "types only", START_MODE),
            "clip_types": mode not in ("off", "positions only", START_MODE),
            "rederive_eps": mode != "on, ε̂ kept", "start": "T-1" if mode == START_MODE else "T"}


def _default_runs(steps):
    """Both samplers × clip on/off × ``steps``, plus clip with ε̂ kept (the control) at the middle count."""
    runs = [(m, c, int(k)) for m in ("ddpm", "ddim") for c in ("on", "off") for k in steps]
    return runs + [(m, "on, ε̂ kept", int(steps[len(steps) // 2])) for m in ("ddpm", "ddim")]


def _toy_close(x, std: float = 0.1):
    """Per sample: finite and within 3σ of its nearest mode (the per-sample reading of ``toy_quality``)."""
    from .diffusion_model import toy_modes

    x = torch.as_tensor(x, dtype=torch.float64)
    finite = torch.isfinite(x).all(dim=1)
    d = torch.cdist(torch.nan_to_num(x, nan=1e6, posinf=1e6, neginf=-1e6), toy_modes())
    return ((d.min(dim=1).values < 3 * std) & finite).tolist()


def _nearest_neighbour(samples) -> float:
    """Median over all atoms (molecules of ≥ 2 atoms) of the distance to the nearest other atom (Å)."""
    import numpy as np

    vals = []
    for _, pos in samples:
        if pos.shape[0] > 1:
            d = torch.cdist(pos.double(), pos.double()).fill_diagonal_(float("inf"))
            vals.extend(d.min(dim=1).values.tolist())
    return float(np.median(vals)) if vals else float("nan")


def _status_columns(status: dict) -> dict:
    """The per-run columns of a masked run (:func:`run_sampler`'s ``status``)."""
    k = int(status.get("k", 0))
    return {"non-finite rows": k, "first non-finite step": status.get("first_step") if k else None}


def nonfinite_lines(table) -> list[str]:
    """One line per run of a controls table in which samples stopped being finite: "DDIM, clip on, ε̂ kept, 1000
    steps: k of n rows became non-finite (first at step s of 1000); they score 0, the other rows are scored as
    usual". Empty when no run had a non-finite row."""
    out = []
    for _, r in table.iterrows():
        if int(r["non-finite rows"]):
            out.append(f"{r['sampler']}, clip {r['clip']}, {int(r['steps'])} steps: {int(r['non-finite rows'])} of "
                       f"{int(r['n'])} rows became non-finite (first at step {int(r['first non-finite step'])} of "
                       f"{int(r['steps'])}); they score 0, the other rows are scored as usual")
    return out


def _with_interval(row: dict, k: int) -> dict:
    """Fill the row's ``low`` / ``high`` with the Clopper–Pearson 95 % interval of ``k`` of ``row["n"]``. Done here,
    after a job comes back, so a worker process never imports scipy.stats for it (a second of start-up each)."""
    row["low"], row["high"] = _cp(k, row["n"])
    return row


def _toy_job(chapter, model, n, method, mode, k, clip, seed):
    """One toy control run (module level: a worker process can run it; ``chapter`` may be a
    :func:`molpractice.parallel.chapter_reference`). Seeds itself, so the result does not depend on where or in
    which order it runs. Returns ``(its table row without the interval, the count of samples within 3σ)``."""
    from .parallel import load_reference

    if isinstance(chapter, tuple):
        chapter = load_reference(chapter)
    start, status = time.perf_counter(), {}
    how = _mode_settings(mode)
    x = sample_toy(chapter, model, n, method, int(k), clip if how["clip_positions"] else None, seed=seed,
                   rederive_eps=how["rederive_eps"], status=status, start=how["start"])
    close = _toy_close(x)
    finite = x[torch.isfinite(x).all(dim=1)]
    hits = int(sum(close))
    return {"sampler": method.upper(), "clip": mode, "steps": int(k), "n": n, "within_3sigma": hits / n,
            "low": None, "high": None, "modes_hit": toy_quality(finite)["modes_hit"] if len(finite) else 0,
            **_status_columns(status), "seconds": time.perf_counter() - start, "outcomes": list(close)}, hits


CONTROL_EXTRAS = ("on, ε̂ kept", "positions only", "types only")  # the clip variants run at the second step count (notebook and bench)


def control_runs(control_steps, T: int | None = None) -> list[tuple]:
    """The notebook's sampler-control grid as ``(sampler, clip, steps)`` runs: DDPM and DDIM × x̂₀ clip on / off at
    every count of ``control_steps``, then at the second count (the only one, if there is one) the clip with ε̂
    kept, on positions only and on types only (:data:`CONTROL_EXTRAS`), then DDPM and DDIM with no clip starting
    at T − 1 (:data:`START_MODE`, the first-jump control) at every count below ``T`` — without ``T``, at every
    count but the largest (the chapter's grids end at T).

    Why not at T steps: a start at T − 1 has only T − 1 steps left, so "T steps from T − 1" does not exist; its
    nearest run, T − 1 steps, costs as much as the full-T run (about 17 s of one core per sampler in full mode,
    notebook 04's stored table), while the counts below T add about 2 × (1.5 + 2.7 + 9) ≈ 27 CPU-s at 50, 100 and
    250 steps, and the first-jump factor √(ᾱ_t₁/ᾱ_t₀) that the control removes is largest at few steps
    (:func:`molpractice.diffusion_sampling.first_jump_table`). The new runs come last, so the rows of the runs from
    T keep their order."""
    steps = [int(k) for k in control_steps]
    if not steps:
        raise ValueError("control_steps must hold at least one step count")
    k_mid = steps[1] if len(steps) > 1 else steps[0]
    below = [k for k in steps if k < T] if T is not None else [k for k in steps if k < max(steps)]
    return ([(m, c, k) for k in steps for m in ("ddpm", "ddim") for c in ("on", "off")]
            + [(m, c, k_mid) for m in ("ddpm", "ddim") for c in CONTROL_EXTRAS]
            + [(m, START_MODE, k) for k in below for m in ("ddpm", "ddim")])


def toy_control_runs(toy_T: int) -> list[tuple]:
    """The toy's sampler-control grid as ``(sampler, clip, steps)`` runs, shared by the notebook and the bench: DDPM
    and DDIM × x̂₀ clip on / off at 50 and 100 steps (those below ``toy_T``) and at ``toy_T``, then DDIM with the clip
    and ε̂ kept at ``toy_T``, then DDPM and DDIM with no clip starting at T − 1 (:data:`START_MODE`) at the counts
    below ``toy_T`` (a start at T − 1 has only T − 1 steps; see :func:`control_runs`; about 0.7 CPU-s in full mode)."""
    below = [k for k in (50, 100) if k < toy_T]
    steps = below + [int(toy_T)]
    return ([(m, c, k) for m in ("ddpm", "ddim") for c in ("on", "off") for k in steps]
            + [("ddim", "on, ε̂ kept", int(toy_T))] + [(m, START_MODE, k) for k in below for m in ("ddpm", "ddim")])


def toy_sampler_controls(chapter, model, steps, n: int, clip: float, seed: int = 1, runs=None,
                         workers: int | None = 1):
    """The toy's sampler controls: DDPM (ancestral; on a subsequence below T) and DDIM (η = 0) with the x̂₀ clip
    ``"on"`` (the chapter's steps with the clip; 4.5 re-derives ε̂ from the clipped x̂₀), ``"off"``, and
    ``"on, ε̂ kept"`` (the control :func:`ddim_step_eps_kept`, ε̂ as predicted), at the step counts of ``steps`` (or the ``(method, clip mode, steps)`` of ``runs``);
    same x_T seed for every row.

    Every sample is scored on its own: a sample whose state stops being finite is masked (:func:`run_sampler`'s
    ``status``) and scores 0, the others continue. Returns a DataFrame: ``sampler``, ``clip``, ``steps``, ``n``,
    ``within_3sigma`` with its Clopper–Pearson 95 % interval (``low``, ``high``; samples are independent draws),
    ``modes_hit`` (of the finite samples), ``non-finite rows`` (samples that stopped being finite),
    ``first non-finite step`` (1-based step index at which the first did; None if none), ``seconds`` and
    ``outcomes`` (per sample, in x_T order: finite and within 3σ of a mode — what :func:`compare_controls` pairs).

    Every run is an independent job that seeds itself; ``workers`` processes share them (default 1: one after
    another here; ``None`` = :func:`molpractice.runtime.worker_count`; a chapter module a worker cannot re-import
    also runs here), longest (most steps) first: the table is the same for any number of workers (``seconds`` is
    each run's wall time, with workers while the other worker also runs). Why one by default: the full-mode runs
    take about 15 CPU-s; measured on a quiet 2-core machine, two workers finish the notebook's toy cell about 4 s
    sooner (11 s instead of 15 s) but cost about 6 CPU-s more (two interpreters importing torch), and on a busy
    machine they were slower.
    """
    import pandas as pd

    from .parallel import chapter_reference, run_jobs
    from .runtime import worker_count

    runs = [(m, c, int(k)) for m, c, k in (runs or _default_runs(steps))]
    workers = worker_count() if workers is None else int(workers)
    ref = chapter_reference(chapter) if workers > 1 else None
    jobs = [(ref if ref is not None else chapter, model, n, method, mode, k, clip, seed) for method, mode, k in runs]
    done = run_jobs(_toy_job, jobs, workers if ref is not None else 1, costs=[float(k) for _, _, k in runs])
    return pd.DataFrame([_with_interval(row, hits) for row, hits in done])


def _score_molecules(chapter, samples, failed) -> dict:
    """valid / connected outcomes of molecule samples; a failed (non-finite) sample scores 0."""
    from rdkit import Chem

    from .diffusion_model import rdkit_quiet

    with rdkit_quiet():
        mols = [None if bad else chapter.molecule_from_geometry(z, pos) for (z, pos), bad in zip(samples, failed)]
    finite = [s for s, bad in zip(samples, failed) if not bad]
    return {"valid": [m is not None for m in mols],
            "connected": [m is not None and len(Chem.GetMolFrags(m)) == 1 for m in mols],
            "median NN Å": _nearest_neighbour(finite)}


def _molecule_job(chapter, model, sizes, alpha_bar, method, mode, k, type_scale, pos_clip, seed, samples=None):
    """One molecule control run (module level: a worker process can run it; ``chapter`` may be a
    :func:`molpractice.parallel.chapter_reference`). Seeds itself, so the result does not depend on where or in
    which order it runs. Returns ``(its table row without the interval, the count of valid single fragments)``."""
    from .parallel import load_reference

    if isinstance(chapter, tuple):
        chapter = load_reference(chapter)
    start, status = time.perf_counter(), {}
    n = len(sizes)
    if samples is None:
        how = _mode_settings(mode)
        samples, extra = sample_molecules(chapter, model, sizes, alpha_bar, method, int(k), type_scale,
                                          pos_clip if how["clip_positions"] else None, seed=seed,
                                          clip_types=how["clip_types"], rederive_eps=how["rederive_eps"],
                                          mask_nonfinite=True, start=how["start"])
        status = extra["status"]
    failed = status.get("failed") or [False] * n
    score = _score_molecules(chapter, samples, failed)
    conn = int(sum(score["connected"]))
    return {"sampler": method.upper(), "clip": mode, "steps": int(k), "n": n, "valid": sum(score["valid"]) / n,
            "connected": conn / n, "low": None, "high": None, "median NN Å": score["median NN Å"],
            **_status_columns(status), "seconds": time.perf_counter() - start, "outcomes": score["connected"]}, conn


def sampler_controls(chapter, model, data, alpha_bar, steps, n: int, type_scale: float, pos_clip: float,
                     seed: int = 2, reuse=None, runs=None, workers: int | None = None):
    """Molecule sampler controls: DDPM and DDIM with the x̂₀ clip (positions and types) ``"on"`` (the chapter's
    steps; 4.5 re-derives ε̂ from the clipped x̂₀), ``"off"``, ``"on, ε̂ kept"`` (the control
    :func:`ddim_step_eps_kept`), ``"positions only"`` and ``"types only"``, at the step counts of ``steps``, on the same ``n`` sizes
    and seed (or only the ``runs`` given as ``(method, clip mode, steps)`` triples; default: both samplers ×
    on/off × ``steps`` plus "on, ε̂ kept" at the middle step count).

    Every run is an independent job that seeds itself (the same sizes and x_T for every run), shared by ``workers``
    processes (default :func:`molpractice.runtime.worker_count`; 1 = one after another here; a chapter module a
    worker cannot re-import also runs here), longest (most steps) first: the table is the same for any number of
    workers. ``reuse``: optional ``{(method, clip mode, steps): samples}`` of runs already made with these sizes
    and seed (e.g. the main result), not sampled again. Every molecule is scored on its own: a molecule whose state
    stops being finite is masked (:func:`run_sampler`'s ``status``) and scores 0 while the others continue.
    Returns a DataFrame: ``sampler``, ``clip``, ``steps``, ``n``, ``valid``, ``connected`` (valid single fragment)
    with its Clopper–Pearson 95 % interval (``low``, ``high``), ``median NN Å`` (median over the finite molecules'
    atoms of the distance to the nearest other atom: are the atoms close enough to bond?), ``non-finite rows``
    (molecules that stopped being finite), ``first non-finite step`` (1-based step index of the first; None if
    none), ``seconds`` (the run's wall time; with workers while the other worker also runs) and ``outcomes`` (per
    molecule, in x_T order: valid single fragment — what :func:`compare_controls` pairs).
    """
    return controls_and_samples(chapter, model, data, alpha_bar, steps, n, type_scale, pos_clip, (), seed=seed,
                                reuse=reuse, runs=runs, workers=workers)[0]


def _sample_job(chapter, model, alpha_bar, spec):
    """One :func:`sample_molecules` call with the keyword arguments ``spec`` (module level: a worker can run it)."""
    from .parallel import load_reference

    if isinstance(chapter, tuple):
        chapter = load_reference(chapter)
    return sample_molecules(chapter, model, alpha_bar=alpha_bar, **spec)


def _job(kind, *args):
    return _molecule_job(*args) if kind == "control" else _sample_job(*args)


def controls_and_samples(chapter, model, data, alpha_bar, steps, n: int, type_scale: float, pos_clip: float,
                         sample_specs=(), seed: int = 2, reuse=None, runs=None, workers: int | None = None):
    """:func:`sampler_controls` and further :func:`sample_molecules` calls in one pool of worker processes, so
    that the main samples and the controls grid share the workers (longest first; cost = steps × atoms).

    ``sample_specs``: a list of keyword-argument dicts for :func:`sample_molecules` (``sizes``, ``method``,
    ``steps``, ``type_scale``, ``pos_clip``, ``seed``, …; not ``chapter``, ``model``, ``alpha_bar``). Every job
    seeds itself, so each result equals the direct call bit for bit, for any number of workers. With workers a
    run's ``seconds`` (and ``extra["seconds"]``) is its wall time while the other worker also runs: time a
    sampler whose speed matters (e.g. DDIM-50 against a target) on its own. Returns ``(controls DataFrame as
    sampler_controls returns it, [(samples, extra) per spec, in order])``."""
    import pandas as pd

    from .parallel import chapter_reference, run_jobs
    from .runtime import worker_count

    sizes = draw_sizes(data, n, seed=seed)
    reuse = reuse or {}
    runs = [(m, c, int(k)) for m, c, k in (runs or _default_runs(steps))]
    specs = [dict(spec) for spec in sample_specs]
    for k, spec in enumerate(specs):
        if {"chapter", "model", "alpha_bar"} & set(spec) or "sizes" not in spec:
            raise ValueError(f"sample_specs[{k}] must give sizes and not chapter, model or alpha_bar; got {sorted(spec)}")
    workers = worker_count() if workers is None else int(workers)
    ref = chapter_reference(chapter) if workers > 1 else None
    here = ref if ref is not None else chapter
    jobs = [("control", here, model, sizes, alpha_bar, m, c, k, type_scale, pos_clip, seed, reuse.get((m, c, k)))
            for m, c, k in runs] + [("sample", here, model, alpha_bar, spec) for spec in specs]
    atoms = sum(sizes)
    costs = [0.0 if reuse.get(r) is not None else float(r[2]) * atoms for r in runs] \
        + [float(spec.get("steps") or alpha_bar.numel() - 1) * sum(int(a) for a in spec["sizes"]) for spec in specs]
    done = list(run_jobs(_job, jobs, workers if ref is not None else 1, costs=costs))
    return pd.DataFrame([_with_interval(row, k) for row, k in done[:len(runs)]]), done[len(runs):]


def holm(p_values) -> list:
    """Holm's step-down adjustment of a list of p-values (family-wise error rate), in the input order, as a
    list (:func:`molpractice.comparisons.holm_adjusted`, chapter 5's)."""
    return [float(v) for v in holm_adjusted(list(p_values))]


def compare_controls(table, y: str = "connected", alpha: float = 0.05):
    """Paired readings of a controls table (from :func:`sampler_controls` or :func:`toy_sampler_controls`):
    DDPM − DDIM at each step count and clip mode, and clip "on" − every other clip mode for each sampler and step
    count (Holm family :data:`FAMILY_CONTROLS`). Runs of the first-jump control (:data:`START_MODE`: no clip, start
    at T − 1) are read in their own Holm family :data:`FAMILY_START`, per sampler and step count: "clip off, from
    T−1 − clip on" (against the clipped run from T), "clip off, from T−1 − clip off" (against the unclipped run
    from T), and DDPM − DDIM between the two samplers' runs from T − 1; so adding them leaves the p (Holm) of the
    other family as it was. The runs of a table share sizes and x_T, so each comparison pairs the per-sample
    ``outcomes`` of its two runs: :func:`paired_rate_difference` (Newcombe's paired interval — the effect size — and
    the exact McNemar p-value). Both verdict columns read the same test: ``verdict`` is that one comparison's
    McNemar p < ``alpha`` (uncorrected), ``verdict (Holm)`` the same p after Holm's correction over the
    comparisons of its family (``Holm family``; family-wise α = ``alpha``); the exact test can be more conservative
    than the interval, so a row whose interval excludes 0 can still read "no detectable difference". A table
    without ``outcomes`` falls back to Newcombe's independent-sample interval (``verdict`` from the interval, no
    p-value, no Holm). Returns a DataFrame, the rows of :data:`FAMILY_CONTROLS` first (in their earlier order)."""
    import pandas as pd

    from .plausibility import rate_difference

    def k(row):
        return int(round(row[y] * row["n"])), int(row["n"])

    rows = []
    idx = {(r["sampler"], r["clip"], int(r["steps"])): r for _, r in table.iterrows()}
    for (sampler, mode, steps), r in sorted(idx.items(), key=lambda x: (x[0][2], x[0][0], x[0][1])):
        pairs = []
        family = FAMILY_START if mode == START_MODE else FAMILY_CONTROLS
        if sampler == "DDPM" and ("DDIM", mode, steps) in idx:
            pairs.append((f"DDPM − DDIM, {steps} steps, clip {mode}", r, idx[("DDIM", mode, steps)]))
        for other in CLIP_MODES[1:]:
            if mode == "on" and other != START_MODE and (sampler, other, steps) in idx:
                pairs.append((f"{sampler}-{steps}: clip on − clip {other}", r, idx[(sampler, other, steps)]))
        if mode == START_MODE:
            for other in ("on", "off"):
                if (sampler, other, steps) in idx:
                    pairs.append((f"{sampler}-{steps}: clip {START_MODE} − clip {other}", r, idx[(sampler, other, steps)]))
        for name, a, b in pairs:
            paired = "outcomes" in a and isinstance(a["outcomes"], list) and isinstance(b["outcomes"], list) \
                and len(a["outcomes"]) == len(b["outcomes"])
            res = paired_rate_difference(a["outcomes"], b["outcomes"]) if paired else \
                dict(rate_difference(*k(a), *k(b)), p_value=float("nan"))
            res.pop("verdict", None)
            res.pop("discordant", None)
            if paired:
                verdict = ("higher" if res["difference"] > 0 else "lower") if res["p_value"] < alpha else \
                    "no detectable difference"
            else:
                verdict = "higher" if res["low"] > 0 else "lower" if res["high"] < 0 else "no detectable difference"
            rows.append({"comparison": name, "first": a[y], "second": b[y], **res, "verdict": verdict,
                         "Holm family": family})
    out = pd.DataFrame(rows)
    if len(out):
        order = {FAMILY_CONTROLS: 0, FAMILY_START: 1}
        out = out.sort_values("Holm family", key=lambda f: f.map(order), kind="stable").reset_index(drop=True)
    if len(out) and out["p_value"].notna().all():
        adjusted = pd.Series(float("nan"), index=out.index)
        for _, members in out.groupby("Holm family", sort=False).groups.items():
            adjusted[members] = holm(out.loc[members, "p_value"].tolist())
        out["p (Holm)"] = adjusted.tolist()
        out["verdict (Holm)"] = [("higher" if d > 0 else "lower") if p < alpha else "no detectable difference"
                                 for d, p in zip(out["difference"], out["p (Holm)"])]
    if len(out):
        out = out[[c for c in out.columns if c != "Holm family"] + ["Holm family"]]
    return out


def _fmt_rate(row, y: str) -> str:
    return f"{row[y]:.3f} [{row['low']:.3f}, {row['high']:.3f}]"


def _fmt_p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"= {p:.3g}"


def start_control_lines(table, pairs=None, alpha_bar=None, y: str | None = None) -> list[str]:
    """Printable lines reading the first-jump control (:data:`START_MODE`: no x̂₀ clip, start at T − 1) of a
    controls table: one line per sampler and step count with its rate and Clopper–Pearson 95 % interval, next to
    the clipped and the unclipped run from T, then its two paired comparisons from :func:`compare_controls`
    (``pairs``; computed here when None): difference with Newcombe's paired 95 % interval, exact McNemar p, p after
    Holm over the family :data:`FAMILY_START` and the Holm verdict word ("higher" / "lower" / "no detectable
    difference", read from the table, never fixed here). With ``alpha_bar`` (the schedule the runs used) each line
    also gives the first jump's error factor √(ᾱ_t₁/ᾱ_t₀) from T and from T − 1
    (:func:`molpractice.diffusion_sampling.first_jump_table`). ``y``: the rate column (default ``connected`` when the
    table has one, else ``within_3sigma``). Returns ``[]`` when the table has no such run."""
    from .diffusion_sampling import first_jump_table

    y = y or ("connected" if "connected" in table.columns else "within_3sigma")
    if pairs is None:
        pairs = compare_controls(table, y=y)
    runs = table[table["clip"] == START_MODE]
    if not len(runs):
        return []
    by_name = {r["comparison"]: r for _, r in pairs.iterrows()} if len(pairs) else {}
    idx = {(r["sampler"], r["clip"], int(r["steps"])): r for _, r in table.iterrows()}
    factors = None
    if alpha_bar is not None:
        factors = {int(r["steps"]): r for _, r in first_jump_table(alpha_bar, sorted({int(k) for k in runs["steps"]})).iterrows()}
    n_family = int((pairs["Holm family"] == FAMILY_START).sum()) if len(pairs) else 0
    out = [f"no clip, start at T − 1 ({y}, Clopper–Pearson 95 %); paired differences with Newcombe's 95 % interval, "
           f"exact McNemar p and Holm over the {n_family} comparisons of the family '{FAMILY_START}':"]
    for _, r in runs.sort_values(["steps", "sampler"]).iterrows():
        s, k = r["sampler"], int(r["steps"])
        head = f"{s}-{k}, no clip from T−1: {_fmt_rate(r, y)}"
        ref = [f"clip {m} from T {_fmt_rate(idx[(s, m, k)], y)}" for m in ("on", "off") if (s, m, k) in idx]
        if ref:
            head += " (" + "; ".join(ref) + ")"
        if factors is not None and k in factors:
            f = factors[k]
            head += f"; first-jump factor {f['factor from T']:.0f} from T, {f['factor from T−1']:.1f} from T−1"
        parts = []
        for m in ("on", "off"):
            row = by_name.get(f"{s}-{k}: clip {START_MODE} − clip {m}")
            if row is None:
                continue
            holm_txt = (f", Holm p {_fmt_p(row['p (Holm)'])}: {row['verdict (Holm)']}" if "p (Holm)" in row.index
                        else f": {row['verdict']}")
            parts.append(f"− clip {m} from T: {row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}], "
                         f"p {_fmt_p(row['p_value'])}{holm_txt}")
        out.append(head + ("; " + "; ".join(parts) if parts else ""))
    return out
