"""Chapter 4's final model in the notebook's Results: its samples and controls, its sample rates against training
length, the closing tables and times (reports, never a selection).

* :func:`control_runs` / :func:`samples_and_controls` — the main DDPM samples and the sampler-control grid in one
  pool of worker processes;
* :func:`bench_and_steps_report` — the committed bench record with the bench's model next to the notebook's
  ("identical weights"), and the plausible-vs-steps table;
* :func:`plausible_vs_steps` / :func:`format_plausible_vs_steps` / :func:`load_steps_record` — DDPM sample rates
  (valid single fragment, plausible, the gap to the data's plausible rate) of the notebook's final model trained
  for several step counts (``scripts/ch04_plausible_vs_steps.py`` writes ``data/ch04_plausible_vs_steps.json``,
  committed; the notebook prints it): the evidence whether issue 24's plausible target is reachable by training
  longer inside the 8 CPU-min budget. A report, not a selection criterion (the step count is chosen by the
  validation-loss rule of :mod:`molpractice.diffusion_curve`).
* :func:`closing_time_lines` — the notebook's measured time against issue 24's and issue 20's targets, the time
  with training as a sum of two measured parts.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from . import diffusion_model as _dm
from .diffusion_controls import CONTROL_EXTRAS, control_runs  # noqa: F401 (re-exported: the notebook's grid)
from .diffusion_curve import BUDGET_CPU_MIN, _run_config
from .plausibility import scoring_code_hash

__all__ = ['plausible_vs_steps', 'format_plausible_vs_steps', 'load_steps_record', 'STEPS_RECORD', 'STEP_PAIRS',
           'paired_step_differences',
           'closing_time_lines', 'CONTROL_EXTRAS', 'control_runs', 'samples_and_controls', 'bench_and_steps_report',
           'run_clock']


STEPS_RECORD = "data/ch04_plausible_vs_steps.json"  # the committed plausible-vs-training-steps table


def sampling_code_hash(chapter) -> str:
    """A hash of the code that draws the DDPM samples of a plausible-vs-steps row (the package's
    :func:`~molpractice.diffusion_sampling.sample_molecules`, :func:`~molpractice.diffusion_sampling.draw_sizes`,
    :func:`~molpractice.diffusion_sampling.position_clip` and the chapter's ``cosine_alpha_bar``, ``ddpm_step`` and
    ``remove_mean``; docstrings, comments and layout excluded), recorded with the row's samples."""
    from . import diffusion_sampling as _ds

    parts = [_ds.sample_molecules, _ds.draw_sizes, _ds.position_clip]
    parts += [getattr(chapter, name) for name in ("cosine_alpha_bar", "ddpm_step", "remove_mean")]
    return _dm._code_hash(parts)


def _steps_samples(chapter, model, state_hash: str, data, cfg, n: int, resample: bool = False,
                   provenance: dict | None = None):
    """DDPM (all T steps, x̂₀ clip on) samples of ``model`` on the bench's sizes and seed (``draw_sizes(data, n,
    seed=1)``, sampler seed 1): the bench's own DDPM call, so a row pairs with the bench's main row sample by
    sample. Cached by the weights' hash, ``n`` and T (the samples, not their scores: scoring follows the
    installed plausibility code); ``resample=True`` draws them again and overwrites the cache. A new draw stores
    its provenance with the samples: the UTC time, :func:`sampling_code_hash` and whatever ``provenance`` holds
    (the script passes the commit). Returns ``(samples, seconds, provenance)``; samples cached before provenance
    was stored return ``{}``."""
    import datetime

    from .diffusion_sampling import draw_sizes, position_clip, sample_molecules
    from .runtime import cache_dir

    path = Path(cache_dir()) / f"ch04_steps_samples_{state_hash}_{n}_{cfg.T}.pt"
    if path.exists() and not resample:
        saved = torch.load(path, weights_only=True)
        return ([(z, pos) for z, pos in zip(saved["z"], saved["pos"])], saved["seconds"],
                dict(saved.get("provenance") or {}))
    alpha_bar = chapter.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    samples, extra = sample_molecules(chapter, model, draw_sizes(data, n, seed=1), alpha_bar, "ddpm", cfg.T,
                                      cfg.type_scale, position_clip(data), seed=1)
    meta = dict(provenance or {}) | {
        "sampled_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sampling code": sampling_code_hash(chapter)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"z": [z for z, _ in samples], "pos": [p for _, p in samples], "seconds": float(extra["seconds"]),
                "provenance": meta}, tmp)
    tmp.replace(path)
    return samples, float(extra["seconds"]), meta


def plausible_vs_steps(chapter, data, steps=(1500, 3000, 4500, 5600), n: int | None = None, cfg=None,
                       train: bool = True, resample: bool = False, provenance: dict | None = None) -> dict:
    """The sample rates against training length: for each step count the notebook's final model trained for that
    many steps (:func:`~molpractice.diffusion_model.train_molecule_model` with only ``train_steps`` changed: all
    molecules, its own cosine learning-rate schedule over those steps, cached like the notebook's), sampled with
    DDPM over all T steps on the bench's sizes and seeds (``n`` molecules, default ``bench_samples``; the same
    sizes and noise for every model), scored with :func:`molpractice.plausibility.plausibility`.

    Each row: ``steps``, the training's CPU-min and wall minutes as recorded with its weights (``trained_at``;
    ``within budget`` = CPU-min ≤ 8), the weights' :func:`~molpractice.diffusion_model.state_dict_hash`, the valid
    single-fragment and plausible rates (``{"k", "n", "rate", "low", "high"}``, Clopper–Pearson 95 %), and the
    plausible gap to the data (data − samples with its Newcombe 95 % interval; ``within 15 points`` = gap ≤ 0.15,
    the issue's target), and the samples' provenance (``sampled_at``, ``sampling commit`` from ``provenance["commit"]``,
    ``sampling code`` = :func:`sampling_code_hash`; "not recorded" for samples cached without it). ``train=False``
    raises ``FileNotFoundError`` for a step count whose weights are not cached; ``resample=True`` draws every row's
    samples again (same sizes and seeds) instead of reading the sample cache.
    Describes one training seed per step count: no trend beyond the printed rows is implied.

    Returns ``{"data": plausibility rates of the data, "rows": [...], "n", "T", "scoring code"}`` (the last:
    :func:`molpractice.plausibility.scoring_code_hash` of the code that scored the rows)."""
    from .plausibility import plausibility, rate_difference
    from .runtime import implementation_name

    cfg = cfg or _dm.SETTINGS.current()
    n = int(n or cfg.bench_samples)
    data_rates = plausibility(chapter, [(d["z"], d["pos"]) for d in data])["rates"]
    p_d = data_rates["plausible"]
    rows = []
    for s in steps:
        run_cfg = _run_config(cfg, s)
        if not train and not _dm.weights_path(run_cfg, implementation_name(), data, 0, chapter).exists():
            raise FileNotFoundError(f"no cached weights of {s} steps; run with train=True (scripts/ch04_plausible_vs_steps.py --train)")
        model, info = _dm.train_molecule_model(chapter, data, run_cfg, progress=False)
        state_hash = _dm.state_dict_hash(model.state_dict())
        samples, seconds, meta = _steps_samples(chapter, model, state_hash, data, cfg, n, resample, provenance)
        rates = plausibility(chapter, samples)["rates"]
        p_s = rates["plausible"]
        gap = rate_difference(p_d["k"], p_d["n"], p_s["k"], p_s["n"])
        cpu = info["cpu_seconds"] / 60
        rows.append({"steps": int(s), "training CPU-min": cpu, "training wall min": info["seconds"] / 60,
                     "trained_at": info.get("trained_at"), "threads": info.get("threads"),
                     "within budget": bool(cpu <= BUDGET_CPU_MIN), "weights hash": state_hash,
                     "sampling s": seconds, "sampled_at": meta.get("sampled_at") or "not recorded",
                     "sampling commit": meta.get("commit") or "not recorded",
                     "sampling code": meta.get("sampling code") or "not recorded",
                     "valid single fragment": {k: rates["single fragment"][k] for k in ("k", "n", "rate", "low", "high")},
                     "plausible": {k: p_s[k] for k in ("k", "n", "rate", "low", "high")},
                     "data − samples": {k: gap[k] for k in ("difference", "low", "high")},
                     "within 15 points": bool(p_d["rate"] - p_s["rate"] <= 0.15)})
    return {"data": {k: {q: data_rates[k][q] for q in ("k", "n", "rate", "low", "high")}
                     for k in ("single fragment", "plausible")}, "rows": rows, "n": n, "T": int(cfg.T),
            "scoring code": scoring_code_hash()}


STEP_PAIRS = ((1500, 3000), (3000, 4500), (4500, 5600), (1500, 5600))  # neighbours, and the shortest vs the longest
PAIRED_RATES = ("valid single fragment", "plausible")  # the two sample targets; Holm within each


def _cached_step_samples(weights_hash: str, n: int, T: int):
    """The DDPM samples :func:`plausible_vs_steps` cached for the weights ``weights_hash`` (``n`` molecules, T
    steps) and the cache file's modification time (UTC), when the samples were written; ``FileNotFoundError``
    naming the file when it is not cached."""
    import datetime

    from .runtime import cache_dir

    path = Path(cache_dir()) / f"ch04_steps_samples_{weights_hash}_{n}_{T}.pt"
    if not path.exists():
        raise FileNotFoundError(f"no cached samples {path.name} for weights {weights_hash}: run "
                                "scripts/ch04_plausible_vs_steps.py without --cached-only first")
    saved = torch.load(path, weights_only=True)
    written = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [(z, pos) for z, pos in zip(saved["z"], saved["pos"])], written


def paired_step_differences(chapter, record: dict, pairs=STEP_PAIRS) -> dict:
    """Paired differences of the valid single-fragment and the plausible rate (:data:`PAIRED_RATES`) between rows
    of a :func:`plausible_vs_steps` record: every row samples the same sizes and noise, so the rows pair sample by
    sample. Each row's cached samples (:func:`_cached_step_samples`) are re-scored with
    :func:`molpractice.plausibility.plausibility`; a re-scored count that differs from the record's raises
    ``ValueError`` (the pairs must describe the recorded rows). Per rate and pair ``(a, b)`` of step counts:
    ``a − b`` with Newcombe's paired 95 % interval, the exact McNemar p and Holm's adjusted p over ``pairs`` (within
    the rate; :func:`molpractice.diffusion_controls.holm`), a verdict from the Holm p.
    Returns ``{"pairs": [...] (rows with ``rate``), "samples cached at": {steps: UTC time the row's samples were
    written}}``."""
    from .diffusion_controls import holm
    from .plausibility import paired_rate_difference, plausibility

    by_steps = {int(r["steps"]): r for r in record["rows"]}
    missing = sorted({s for pair in pairs for s in pair} - set(by_steps))
    if missing:
        raise ValueError(f"no row of {missing} steps in the record (rows: {sorted(by_steps)})")
    outcomes, written = {}, {}
    for s in sorted({s for pair in pairs for s in pair}):
        samples, written[s] = _cached_step_samples(by_steps[s]["weights hash"], int(record["n"]), int(record["T"]))
        rows = plausibility(chapter, samples)["rows"]
        outcomes[s] = {"plausible": [bool(v) for v in rows["plausible"]],
                       "valid single fragment": [bool(v) for v in rows["single fragment"]]}
        for rate in PAIRED_RATES:
            if sum(outcomes[s][rate]) != by_steps[s][rate]["k"]:
                raise ValueError(f"re-scored {rate} count of {s} steps is {sum(outcomes[s][rate])}, the record says "
                                 f"{by_steps[s][rate]['k']}: the scoring code changed since the record was written")
    out = []
    for rate in PAIRED_RATES:
        block = []
        for a, b in pairs:
            g = paired_rate_difference(outcomes[a][rate], outcomes[b][rate])
            block.append({"rate": rate, "comparison": f"{a} − {b} steps", "difference": g["difference"],
                          "low": g["low"], "high": g["high"], "p_value": g["p_value"]})
        for row, p in zip(block, holm([r["p_value"] for r in block])):
            row["p (Holm)"] = float(p)
            row["verdict (Holm)"] = ("no detectable difference" if p >= 0.05 else
                                     "higher" if row["difference"] > 0 else "lower")
        out += block
    return {"pairs": out, "samples cached at": {str(k): v for k, v in written.items()}}


def _short_commit(commit) -> str:
    """A recorded commit as its first 10 hex digits (+ "(with uncommitted changes)"), or "not recorded"."""
    if not commit or commit == "not recorded":
        return "not recorded"
    return str(commit)[:10] + (" (with uncommitted changes)" if "uncommitted" in str(commit) else "")


def format_plausible_vs_steps(record: dict) -> str:
    """A :func:`plausible_vs_steps` result (or its committed record, with ``command`` / ``commit`` / ``created``)
    as a table: one row per training length."""
    import pandas as pd

    def ci(r):
        return f"{r['rate']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"

    rows = [{"train steps": r["steps"], "training CPU-min": round(r["training CPU-min"], 2),
             "wall/CPU": round(r["training wall min"] / r["training CPU-min"], 2),
             "final training ≤ 8 CPU-min": "yes" if r["within budget"] else "no",
             "valid single fragment": ci(r["valid single fragment"]), "plausible": ci(r["plausible"]),
             "data − samples, plausible": f"{r['data − samples']['difference']:+.3f} "
                                          f"[{r['data − samples']['low']:+.3f}, {r['data − samples']['high']:+.3f}]",
             "≤ 0.15": "yes" if r["within 15 points"] else "no",
             "samples written": (r.get("sampled_at") if r.get("sampled_at") not in (None, "not recorded") else
                                 ((record.get("paired") or {}).get("samples cached at") or {}).get(str(r["steps"]))
                                 or "not recorded"),
             "sampling commit": _short_commit(r.get("sampling commit")),
             "weights hash": r.get("weights hash", "not recorded")} for r in record["rows"]]
    recorded = all(r.get("sampling commit") not in (None, "not recorded") for r in record["rows"])
    head = ""
    if record.get("command"):
        head = (f"plausible vs training steps, table exported {record['created']} from commit "
                f"{str(record['commit'])[:10]}" + (" (with uncommitted changes)" if record.get("dirty") else "")
                + f": `{record['command']}` (each row's samples were drawn at the time in 'samples written'"
                + (" from the commit in 'sampling commit')\n" if recorded else
                   "; a row whose 'sampling commit' says \"not recorded\" came from the sample cache without it)\n"))
    now, then = scoring_code_hash(), record.get("scoring code")
    if then != now:
        head += (f"(its rates were scored with the plausibility code of its commit — scoring-code hash "
                 f"{then or 'not recorded'}, installed code {now}: the implausible-group list or the checks have "
                 "changed since, so a row's 'plausible' can differ from today's scoring by a few samples; "
                 "`scripts/ch04_plausible_vs_steps.py --cached-only --json FILE`, with each row's weights and samples "
                 "in the cache, scores them with the installed code)\n")
    paired = record.get("paired")
    if paired:
        import pandas as pd_

        n_pairs = sum(1 for r in paired["pairs"] if r.get("rate", "plausible") == "plausible")
        tail = (f"\npaired on the same sizes and noise (Newcombe paired 95 %, exact McNemar p, Holm over the "
                f"{n_pairs} pairs of each rate; computed {paired.get('created', 'date not recorded')} from commit "
                f"{str(paired['commit'])[:10] if paired.get('commit') else 'not recorded'} by `{paired.get('command', 'not recorded')}`, "
                "re-scoring the cached samples, counts checked equal to the rows'):\n"
                + pd_.DataFrame(paired["pairs"]).round(3).to_string(index=False))
    else:
        tail = "\npaired differences between rows: not recorded"
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        return (head + f"DDPM-{record['T']}, x̂₀ clip on, {record['n']} molecules per model on the bench's sizes and "
                "seeds (the same noise for every model); one trained model per row (all molecules, its own learning-"
                "rate schedule); rates with Clopper–Pearson 95 %, the gap with Newcombe 95 %; data: valid single "
                f"fragment {ci(record['data']['single fragment'])}, plausible {ci(record['data']['plausible'])}\n"
                + pd.DataFrame(rows).to_string(index=False) + tail)


def load_steps_record(path=None) -> dict:
    """Read the committed plausible-vs-steps record (default :data:`STEPS_RECORD`); ``ValueError`` naming a missing
    key."""
    from .repository import load_record

    return load_record(path, STEPS_RECORD, ("command", "commit", "created", "data", "rows", "n", "T"),
                       "plausible-vs-steps record")[0]


def closing_time_lines(clock0: dict, clock: dict, info: dict, mode: str, workers: int) -> list[str]:
    """The notebook's closing time verdicts, measured: ``clock0`` / ``clock`` are
    :func:`molpractice.rigor_report.run_clock` snapshots at the first timed cell and now (CPU = user + sys of the
    kernel and of its reaped child processes — the sampling workers included); ``info`` is
    :func:`~molpractice.diffusion_model.train_molecule_model`'s.

    With cached weights (``info["cached"]``) the run's own time is judged against issue 24's ≤ 4 min and issue
    20's ≤ 2.5 min, and the time *with* training is the sum of two measured parts — this run plus the training
    time recorded with the weights (CPU and wall; the wall part depends on the load that training ran under) —
    printed as "(estimate, not judged)" with no verdict word (a sum of two runs under different loads is not a
    measured run). When this run trained, its time is the with-training figure and the cached-weights
    targets are not measured. Issue 24's targets print CPU and wall (the issue does not say which) with
    :func:`molpractice.diffusion_report.time_verdict`'s ±5 % "on the limit" band; issue 20's ≤ 2.5 min is judged on
    the wall clock (its learner waits on a 2-core machine; CPU printed next to it); then training ≤ 8 CPU-min. The
    first line prints the 1-minute load average at ``clock0`` (``clock0["load"]``) and at this cell.
    The thread policy is stated: one torch thread per process."""
    from .diffusion_report import _both, _load_text, time_verdict

    cpu = (clock["self"] - clock0["self"] + clock["children"] - clock0["children"]) / 60
    wall = (clock["wall"] - clock0["wall"]) / 60
    kids = (clock["children"] - clock0["children"]) / 60
    n_cpu = os.cpu_count() or 1
    busy = (f" The machine was already busy when the run started (load {clock0['load']:.1f} on {n_cpu} CPU(s), before "
            "this run's own workers): the wall minutes below measure that load as much as the notebook, and the CPU "
            "minutes are inflated too (shared cores and caches); every verdict below holds for this machine at this "
            "load." if clock0.get("load", 0.0) >= n_cpu - 0.5 else " Verdicts below: this machine at this load.")
    t_cpu, t_wall = info.get("cpu_seconds", float("nan")) / 60, info["seconds"] / 60
    out = [f"this run: {cpu:.1f} CPU-min (user + sys of this kernel and of its reaped child processes — the {workers} "
           f"sampling worker process(es) and the grading workers, {kids:.1f} CPU-min of it), {wall:.1f} min wall, {mode} mode, "
           f"{'cached weights loaded' if info['cached'] else 'model trained in this run'}; 1-min load average when "
           f"the run started: {clock0.get('load', float('nan')):.1f}; " + _load_text() + "." + busy,
           "threads: one torch thread per process, the curriculum's policy (runtime.configure_threads): training gives "
           "the same weights bit for bit only with the same thread count (train_molecule_model's docstring); the 2 "
           f"cores of issue 24's CPU are used by {workers} worker process(es) for the samplers. Issue 24 does not say "
           "whether its minutes are CPU or wall time: both are judged; issue 20's learner waits on 2 cores: its "
           "minutes are judged on the wall clock; within ±5 % of a target = 'on the limit'."]
    if info["cached"]:
        out += [f"issue-24 target, notebook with cached weights ≤ 4 min: {_both(cpu, wall, 4)} (measured: "
                f"{cpu:.1f} CPU-min, {wall:.1f} min wall)",
                f"issue-20 target, notebook with cached weights ≤ 2.5 min (wall clock): {time_verdict(wall, 2.5)} (the "
                f"same run: {wall:.1f} min wall; {cpu:.1f} CPU-min)",
                f"issue-24 target, notebook with training ≤ 10 min: not measured in one run (this run loaded the "
                f"weights); an estimate, not a measured run: this run ({cpu:.1f} CPU-min, {wall:.1f} min wall) + the "
                f"training recorded with the weights ({t_cpu:.1f} CPU-min, {t_wall:.1f} min wall, "
                f"{info.get('trained_at', '?')}) = {cpu + t_cpu:.1f} CPU-min, {wall + t_wall:.1f} min wall "
                f"(estimate, not judged)"]
    else:
        out += ["issue-24 target, notebook with cached weights ≤ 4 min (issue 20: ≤ 2.5 min): not measured in this run "
                "(it trained)",
                f"issue-24 target, notebook with training ≤ 10 min: {_both(cpu, wall, 10)} (measured: {cpu:.1f} CPU-min, "
                f"{wall:.1f} min wall, training included)"]
    out.append(f"issue-24 target, training ≤ 8 CPU-min: {time_verdict(t_cpu, 8)} ({t_cpu:.2f} CPU-min, {t_wall:.1f} min "
               f"wall on {info.get('threads', '?')} thread(s), {info.get('trained_at', '?')})")
    return out


def samples_and_controls(chapter, model, data, alpha_bar, cfg, sizes, pos_clip, workers: int | None = None):
    """The notebook's main DDPM samples (all ``cfg.T`` steps on ``sizes``, sampler seed 1) and its sampler-control
    grid (:func:`control_runs` on ``cfg.control_samples`` molecules, seed 2) in one pool of worker processes
    (:func:`molpractice.diffusion_controls.controls_and_samples`; each result equals its direct call bit for bit).
    Returns ``(controls DataFrame, samples, extra)`` — ``extra["seconds"]`` is the DDPM run's wall time while the
    other worker also runs."""
    from .diffusion_controls import controls_and_samples

    spec = dict(sizes=sizes, method="ddpm", steps=cfg.T, type_scale=cfg.type_scale, pos_clip=pos_clip, seed=1)
    controls, [(samples, extra)] = controls_and_samples(chapter, model, data, alpha_bar, cfg.control_steps,
                                                        cfg.control_samples, cfg.type_scale, pos_clip,
                                                        sample_specs=[spec], runs=control_runs(cfg.control_steps),
                                                        workers=workers)
    return controls, samples, extra


def bench_and_steps_report(model, info: dict, fast: bool = False, bench: dict | None = None,
                           steps_record: dict | None = None) -> str:
    """The closing note's tables as text: the committed bench record
    (:func:`molpractice.diffusion_report.format_bench_record`), the bench's model next to this notebook's — weights
    file, training date, threads, PyTorch, the chapter code's and the package's code hashes, and
    :func:`~molpractice.diffusion_model.state_dict_hash` of every weight — with a line "identical weights:
    True/False", then the plausible-vs-steps table (:func:`format_plausible_vs_steps`). ``bench`` /
    ``steps_record`` default to the committed records."""
    from .diffusion_report import format_bench_record, load_bench_record

    bench = bench if bench is not None else load_bench_record()
    steps_record = steps_record if steps_record is not None else load_steps_record()
    tb = bench.get("training") or {}
    mine = {"weights": Path(str(info.get("path", ""))).name, "weights_hash": _dm.state_dict_hash(model.state_dict()),
            "trained_at": info.get("trained_at"), "threads": info.get("threads"), "torch": info.get("torch"),
            "source_hash": info.get("source_hash"), "package_code": _dm.package_source_hash()}
    lines = [format_bench_record(bench)]   # its repair table carries the readings rows and the footnote
    lines += ["",
             "the bench's model next to this notebook's (weights_hash: SHA-1 of every weight, diffusion.state_dict_hash):"]
    lines += [f"  {k:>12}: bench {str(tb.get(k)):<32} this notebook {v}" for k, v in mine.items()]
    lines.append(f"identical weights: {tb.get('weights_hash') is not None and tb.get('weights_hash') == mine['weights_hash']}")
    if fast:
        lines.append("fast mode: this notebook's tiny model is not the bench's full-mode model")
    return "\n".join(lines) + "\n\n" + format_plausible_vs_steps(steps_record)


def run_clock(reap_graders: bool = False) -> dict:
    """:func:`molpractice.rigor_report.run_clock` (wall, this process's CPU and its reaped children's), for
    :func:`closing_time_lines`. ``reap_graders=True`` first stops the grading workers' server
    (:func:`molpractice.grading_pool.shutdown`), so the CPU time of every grading worker it started is counted
    among the children (the next ``check`` starts a new server); use it for the closing snapshot."""
    from .rigor_report import run_clock as clock

    if reap_graders:
        from . import grading_pool

        grading_pool.shutdown()
    return clock()
