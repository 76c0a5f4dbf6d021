"""Training-length curve of the chapter-4 molecule model, chosen on a validation split (never on samples).

The model of the notebook trains on every molecule for ``SETTINGS.train_steps`` steps. Whether more steps
(within the CPU budget) or another EMA decay would be better is decided here on the held-out *denoising loss*
— the training objective, on molecules the model never saw — not on the rates of generated samples (those
are what the chapter reports; choosing on them would make the report optimistic). Sample rates are printed
next to the losses as a report only.

* :func:`validation_split` — a seeded split of the data into training and validation molecules;
* :func:`curve_run` — one training run on the training part (the notebook's loop, :func:`~molpractice.
  diffusion_model.train_molecule_model`'s schedule over its own ``steps``) with EMA shadows of several decays,
  saving EMA weights at checkpoints (cached under ``mp.runtime.cache_dir()``);
* :func:`denoising_loss` — per-molecule ε-MSE over fixed draws of (t, noise): the same draws for every model,
  so two models' losses pair molecule by molecule;
* :func:`paired_loss_difference` — mean paired difference with a t interval over molecules;
* :func:`training_curve` — the table (``scripts/ch04_training_curve.py`` prints it);
* :func:`curve_record` / :func:`load_curve_record` / :func:`format_curve_record` — the table as a small JSON
  record with the command and commit that produced it (``data/ch04_training_curve.json``, committed; the notebook
  prints it), so the selection can be read without the git-ignored cache;
* :func:`add_budget_measurement` — a re-measurement of the final training of a run length (a fresh process, all
  molecules, no extra EMA shadows), stored in the record next to the curve runs' own CPU-min and printed as
  information: the rule judges the budget by the curve runs' own CPU-min, as it was fixed before looking, so a
  re-measurement taken after the results were seen cannot move the choice.

Sample rates of the final model against its training length, and the notebook's closing time verdicts, are in
:mod:`molpractice.diffusion_steps`.

A checkpoint taken before the end of a run is *not* the model a shorter run would give (the learning rate
follows a cosine over the run's own length); rows say which run and step they come from.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import types
from pathlib import Path

import torch

from . import diffusion_model as _dm

__all__ = ['validation_split', 'curve_run', 'denoising_loss', 'paired_loss_difference', 'training_curve',
           'format_curve', 'sample_report', 'format_sample_report',
           'curve_record', 'load_curve_record', 'format_curve_record', 'add_budget_measurement', 'CURVE_RECORD',
           'CURVE_DECAYS', 'rule_check_line']

CURVE_DECAYS = (0.99, 0.995, 0.999)  # EMA decays kept in every curve run (0.99 is SETTINGS.ema_decay)
CURVE_RECORD = "data/ch04_training_curve.json"  # the committed record, relative to the repository
_RECORD_COLUMNS = ("run steps", "step", "ema decay", "end of run", "CPU-min", "val loss", "train-subset loss",
                   "val − ref", "low", "high")
BUDGET_CPU_MIN = 8.0


def validation_split(data, fraction: float = 0.1, seed: int = 0):
    """``(train, validation)``: a seeded random split of ``data`` (lists), ``round(fraction·n)`` held out."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
    n_val = round(fraction * len(data))
    if not 1 <= n_val < len(data):
        raise ValueError(f"fraction {fraction} of {len(data)} molecules leaves an empty part")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    val = set(order[:n_val])
    return [d for i, d in enumerate(data) if i not in val], [d for i, d in enumerate(data) if i in val]


def _run_config(cfg, steps: int):
    out = types.SimpleNamespace(**vars(cfg))
    out.train_steps = int(steps)
    return out


def _run_path(cfg, steps, train, seed):
    blob = json.dumps({k: getattr(cfg, k) for k in ("T", "hidden", "layers", "batch_size", "lr", "type_scale")}
                      | {"steps": int(steps), "seed": seed, "model_version": _dm.MODEL_VERSION,
                         "decays": list(CURVE_DECAYS),
                         "smiles": hashlib.sha1("".join(d["smiles"] for d in train).encode()).hexdigest()[:10]},
                      sort_keys=True)
    from .runtime import cache_dir

    return Path(cache_dir()) / f"ch04_curve_{hashlib.sha1(blob.encode()).hexdigest()[:12]}.pt"


def curve_run(chapter, train, steps: int, checkpoints=(), cfg=None, seed: int = 0, progress: bool = False,
              cache: bool = True, cache_only: bool = False) -> dict:
    """Train on ``train`` for ``steps`` steps (the learning-rate cosine spans these ``steps``) with EMA shadows of
    every decay in :data:`CURVE_DECAYS`; keep the EMA weights after each step count in ``checkpoints`` and at
    the end. Cached by settings, steps, seed, data and ``MODEL_VERSION`` (a cached run without one of the
    ``checkpoints`` asked for is trained again; with ``cache_only`` it raises ``FileNotFoundError`` instead).

    Returns ``{"steps", "checkpoints": {step: {decay: state_dict}}, "cpu_seconds": {step: CPU s since the
    start}, "seconds" (wall), "threads", "cached"}``."""
    base = cfg or _dm.SETTINGS.current()
    cfg = _run_config(base, steps)
    path = _run_path(cfg, steps, train, seed)
    wanted = set(int(c) for c in checkpoints if 0 < int(c) <= steps) | {int(steps)}
    if cache and path.exists():
        saved = torch.load(path, weights_only=True)
        if wanted <= set(saved["checkpoints"]):  # else: trained again with the checkpoints asked for
            return dict(saved, cached=True, path=str(path))
    if cache_only:
        raise FileNotFoundError(f"no cached curve run of {steps} steps with checkpoints {sorted(wanted)} at {path}; "
                                "train it first with scripts/ch04_training_curve.py --train")
    saved, cpu = {}, {}

    def keep(step, models, cpu_seconds):
        saved[step] = {float(d): {k: v.clone() for k, v in m.state_dict().items()} for d, m in models.items()}
        cpu[step] = cpu_seconds

    torch.manual_seed(seed)
    model = _dm.EGNNDenoiser(len(_dm.ELEMENTS), cfg.hidden, cfg.layers)
    start = time.perf_counter()
    _dm._train_steps(chapter, train, cfg, model, seed, progress, extra_decays=CURVE_DECAYS,
                     checkpoints=sorted(wanted),
                     on_checkpoint=keep)
    out = {"steps": int(steps), "checkpoints": saved, "cpu_seconds": cpu, "seconds": time.perf_counter() - start,
           "threads": torch.get_num_threads()}
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # this process's own: concurrent writers never mix
        torch.save(out, tmp)
        tmp.replace(path)
    return dict(out, cached=False, path=str(path))


def _model_from(state, cfg):
    model = _dm.EGNNDenoiser(len(_dm.ELEMENTS), cfg.hidden, cfg.layers)
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def denoising_loss(chapter, model, molecules, cfg=None, draws: int = 100, seed: int = 123, batch_size: int = 64):
    """Per-molecule denoising loss (Tensor[len(molecules)], float64): the training objective — squared error of
    ε̂ over positions and types, per atom and channel — averaged over ``draws`` draws of (t ~ U{1..T}, noise)
    per molecule. The draws depend only on ``seed`` and the molecules, so every model sees the same ones."""
    cfg = cfg or _dm.SETTINGS.current()
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    alpha_bar = chapter.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(len(molecules), dtype=torch.float64)
    for _ in range(draws):
        for lo in range(0, len(molecules), batch_size):
            items = molecules[lo:lo + batch_size]
            z, pos, h, batch = _dm._collate(items, cfg.type_scale)
            t = torch.randint(1, cfg.T + 1, (len(items),), generator=gen)[batch]
            eps_x = chapter.remove_mean(torch.randn(pos.shape, generator=gen), batch)
            eps_h = torch.randn(h.shape, generator=gen)
            pred_x, pred_h = model(chapter.q_sample(pos, t, eps_x, alpha_bar), chapter.q_sample(h, t, eps_h, alpha_bar),
                                   t.float() / cfg.T, batch)
            err = (pred_x - eps_x).pow(2).sum(1) + (pred_h - eps_h).pow(2).sum(1)
            per_mol = torch.zeros(len(items), dtype=torch.float64).index_add_(0, batch, err.double())
            counts = torch.bincount(batch, minlength=len(items)).double() * 7
            total[lo:lo + len(items)] += per_mol / counts
    return total / draws


def _digest(state) -> str:
    return hashlib.sha1(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest()[:12]


def _write_atomic(path: Path, text: str) -> None:
    """``path.write_text(text)`` through a temporary file of this process's own and a rename: a reader (another
    process, e.g. a second test worker) never sees a half-written file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _cached_loss(chapter, state, model, molecules, cfg, draws):
    """:func:`denoising_loss` (seed 123) cached by weights, molecules, draws and T."""
    from .runtime import cache_dir

    mol = hashlib.sha1("".join(d["smiles"] for d in molecules).encode()).hexdigest()[:10]
    path = Path(cache_dir()) / f"ch04_curve_loss_{_digest(state)}_{mol}_{draws}_{cfg.T}.json"
    if path.exists():
        return torch.tensor(json.loads(path.read_text()), dtype=torch.float64)
    out = denoising_loss(chapter, model, molecules, cfg, draws)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(out.tolist()))
    return out


def paired_loss_difference(first, second, confidence: float = 0.95) -> dict:
    """Mean of ``first − second`` (per-molecule losses of two models on the same molecules and draws) with a
    Student-t interval over molecules. Returns ``{"difference", "low", "high", "n"}``."""
    from scipy import stats

    d = torch.as_tensor(first, dtype=torch.float64) - torch.as_tensor(second, dtype=torch.float64)
    if d.ndim != 1 or d.numel() < 2:
        raise ValueError(f"need two equal-length 1-D loss vectors with >= 2 molecules, got shape {tuple(d.shape)}")
    mean, se = float(d.mean()), float(d.std(unbiased=True)) / d.numel() ** 0.5
    half = float(stats.t.ppf(0.5 + confidence / 2, d.numel() - 1)) * se
    return {"difference": mean, "low": mean - half, "high": mean + half, "n": int(d.numel())}


def training_curve(chapter, runs, data=None, fraction: float = 0.1, seed: int = 0, draws: int = 100,
                   cfg=None, progress: bool = False, cache_only: bool = False) -> dict:
    """The curve: for each ``(steps, checkpoints)`` in ``runs`` one :func:`curve_run` on the training part; for
    every kept checkpoint and EMA decay the mean validation and training-subset denoising loss, and the paired
    validation difference against the reference row (the notebook's configuration: ``SETTINGS.train_steps``
    steps, ``SETTINGS.ema_decay``, end of its own run).

    Selection rule (fixed before looking): among rows at the *end* of a run whose CPU time fits
    ``budget_cpu_min`` (8), pick the lowest validation loss; keep the reference unless the chosen row's paired
    95 % interval lies entirely below 0.

    Returns ``{"table": DataFrame, "losses": {(steps, step, decay): Tensor}, "choice": row label, "models":
    {(steps, step, decay): state_dict}, "train", "validation", "draws", "runs": {steps: {"seconds" (wall),
    "threads", "cached", "path"}}}``. ``cache_only``: never train a curve run (raise if one is not cached).
    """
    import pandas as pd

    cfg = cfg or _dm.SETTINGS.current()
    data = data if data is not None else _dm.molecule_data()
    train, val = validation_split(data, fraction, seed)
    probe = train[:len(val)]  # a training subset of the validation size: the generalisation gap
    losses, models, rows, run_info = {}, {}, [], {}
    for steps, checkpoints in runs:
        res = curve_run(chapter, train, steps, checkpoints, cfg, seed=seed, progress=progress, cache_only=cache_only)
        run_info[int(steps)] = {"seconds": float(res["seconds"]), "threads": res.get("threads"),
                                "cached": bool(res["cached"]), "path": Path(res["path"]).name}
        for step, by_decay in sorted(res["checkpoints"].items()):
            for decay, state in sorted(by_decay.items()):
                model = _model_from(state, cfg)
                key = (int(steps), int(step), float(decay))
                losses[key] = _cached_loss(chapter, state, model, val, cfg, draws)
                models[key] = state
                rows.append({"run steps": int(steps), "step": int(step), "ema decay": float(decay),
                             "end of run": int(step) == int(steps),
                             "CPU-min": res["cpu_seconds"][step] / 60,
                             "val loss": float(losses[key].mean()),
                             "train-subset loss": float(_cached_loss(chapter, state, model, probe, cfg, draws).mean())})
    ref = (int(cfg.train_steps), int(cfg.train_steps), float(cfg.ema_decay))
    if ref not in losses:
        raise ValueError(f"runs must include the reference run of {cfg.train_steps} steps")
    for row in rows:
        key = (row["run steps"], row["step"], row["ema decay"])
        diff = paired_loss_difference(losses[key], losses[ref])
        row.update({"val − ref": diff["difference"], "low": diff["low"], "high": diff["high"]})
    table = pd.DataFrame(rows)
    return {"table": table, "losses": losses, "models": models, "choice": _select(table, ref), "reference": ref,
            "train": train, "validation": val, "draws": int(draws), "runs": run_info}


def _select(table, ref) -> tuple:
    """The selection rule on a curve table (see :func:`training_curve`); the budget test reads each row's own
    curve-run CPU-min (re-measurements in a record's ``budget`` are information only, never used here)."""
    import numpy as np

    within = table["CPU-min"].to_numpy(dtype=float) <= BUDGET_CPU_MIN
    eligible = table[table["end of run"].to_numpy(dtype=bool) & within]
    if eligible.empty:
        raise ValueError(f"no end-of-run row within {BUDGET_CPU_MIN:g} CPU-min: the rule has nothing to choose from")
    best = eligible.loc[eligible["val loss"].idxmin()]
    chosen = (int(best["run steps"]), int(best["step"]), float(best["ema decay"]))
    return chosen if best["high"] < 0 else tuple(ref)


def _format_table(table, ref, choice, n_train: int, n_val: int) -> str:
    import pandas as pd

    t = table.copy()
    t["val − ref [95 % CI]"] = [f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" for d, lo, hi in zip(t["val − ref"], t["low"], t["high"])]
    t = t.drop(columns=["val − ref", "low", "high"])
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        text = t.round({"CPU-min": 2, "val loss": 4, "train-subset loss": 4}).to_string(index=False)
    return (f"Denoising loss (training objective) on {n_val} held-out validation molecules and on "
            f"{n_val} training molecules, same (t, noise) draws for every row; runs trained on "
            f"{n_train} molecules; 'val − ref' paired over molecules against the reference {tuple(ref)} "
            "(run steps, step, EMA decay), Student-t 95 %.\n" + text +
            f"\nselection rule (end-of-run rows within {BUDGET_CPU_MIN:g} CPU-min by the curve run's own CPU-min"
            + f"; lowest validation loss; keep the reference unless the paired interval lies below 0): {tuple(choice)}"
            + (" = the reference" if tuple(choice) == tuple(ref) else ""))


def format_curve(curve: dict) -> str:
    """The curve table as text, with the selection rule's outcome."""
    return _format_table(curve["table"], curve["reference"], curve["choice"], len(curve["train"]),
                         len(curve["validation"]))


def _plain(value):
    """A JSON-native copy of a table cell (numpy / torch scalars → bool, int or float)."""
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    if isinstance(value, int) or type(value).__name__.startswith(("int", "uint")):
        return int(value)
    return float(value)


def curve_record(curve: dict, command: str, commit: str | None, dirty: bool | None = None,
                 created: str | None = None) -> dict:
    """The curve of :func:`training_curve` as a JSON-ready record: every table row (columns of
    :func:`training_curve`'s table), the reference, the rule's choice, the numbers of molecules and draws, the runs'
    wall time and threads, and the ``command`` and ``commit`` (``dirty``: uncommitted changes in the tree) that
    produced it, with the UTC time ``created`` (default: now)."""
    import datetime

    missing = [c for c in _RECORD_COLUMNS if c not in curve["table"].columns]
    if missing:
        raise ValueError(f"curve table lacks column(s) {missing}")
    rows = [{c: _plain(r[c]) for c in _RECORD_COLUMNS} for r in curve["table"].to_dict("records")]
    created = created or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"what": "chapter-4 training-length curve: validation denoising loss per (run steps, step, EMA decay) "
                    "and the selection rule's outcome",
            "command": command, "commit": commit, "dirty": dirty, "created": created,
            "n_train": len(curve["train"]), "n_validation": len(curve["validation"]), "draws": curve.get("draws"),
            "budget_cpu_min": BUDGET_CPU_MIN, "reference": list(curve["reference"]), "choice": list(curve["choice"]),
            "runs": {str(k): v for k, v in curve.get("runs", {}).items()}, "rows": rows}


_RECORD_KEYS = ("command", "commit", "created", "n_train", "n_validation", "reference", "choice", "rows")


def load_curve_record(path=None) -> dict:
    """Read a record written from :func:`curve_record` (default: :data:`CURVE_RECORD` in the repository).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a key or a row column is missing, or the stored choice is not what the selection rule gives
            on the stored rows.
    """
    import pandas as pd

    from .repository import load_record

    record, path = load_record(path, CURVE_RECORD, _RECORD_KEYS, "curve record")
    for i, row in enumerate(record["rows"]):
        lacks = [c for c in _RECORD_COLUMNS if c not in row]
        if lacks:
            raise ValueError(f"{path}: row {i} lacks column(s) {lacks}")
    table = pd.DataFrame(record["rows"], columns=list(_RECORD_COLUMNS))
    if tuple(record["reference"]) not in {(r["run steps"], r["step"], r["ema decay"]) for r in record["rows"]}:
        raise ValueError(f"{path}: the reference {record['reference']} is not a row")
    for steps, entry in (record.get("budget") or {}).items():
        if "cpu_min" not in entry:
            raise ValueError(f"{path}: budget entry for {steps} steps lacks 'cpu_min'")
    rule = _select(table, record["reference"])
    if list(rule) != list(record["choice"]):
        raise ValueError(f"{path}: stored choice {record['choice']} but the rule on the stored rows gives {list(rule)}")
    return record


def format_curve_record(record: dict) -> str:
    """A :func:`load_curve_record` record as text: where it came from (command, commit, date), then the table and
    the rule's outcome as :func:`format_curve` prints them."""
    import pandas as pd

    table = pd.DataFrame(record["rows"], columns=list(_RECORD_COLUMNS))
    runs = "\n".join(_run_line(int(k), v, table) for k, v in record.get("runs", {}).items())
    budget = record.get("budget") or {}
    remeasured = "\n".join(
        f"re-measured (information, not used by the rule): the final training of {k} steps (all {v.get('n_molecules', '?')} molecules, "
        f"no extra EMA shadows, {v.get('threads', '?')} thread(s), {v.get('trained_at', '?')}): "
        f"{v['cpu_min']:.2f} CPU-min, {v['wall_min']:.2f} min wall (wall/CPU {v['wall_min'] / v['cpu_min']:.2f}); "
        + (f"this entry written {v.get('created') or 'at a time not recorded'} from commit "
           f"{str(v['commit'])[:10] if v.get('commit') else 'not recorded'}{' (with uncommitted changes)' if v.get('dirty') else ''} by "
           f"{'`' + v['command'] + '`' if v.get('command') else 'a command not recorded'}"
           if any(v.get(f) for f in ("created", "commit", "command")) else "provenance of this entry not recorded")
        for k, v in budget.items())
    head = (f"training-length curve: table recorded {record['created']} from commit {str(record['commit'])[:10]}"
            + (" (with uncommitted changes)" if record.get("dirty") else "") + f": `{record['command']}`"
            + (f"; {record['draws']} (t, noise) draws per molecule" if record.get("draws") else "")
            + (f"\n{runs}" if runs else "") + (f"\n{remeasured}" if remeasured else ""))
    return head + "\n" + _format_table(table, record["reference"], record["choice"], record["n_train"],
                                       record["n_validation"])


def _run_line(steps: int, run: dict, table) -> str:
    """One curve run's clocks: wall minutes, the CPU-min at its end (from the table) and their ratio; a ratio
    far above 1 on one thread means the process waited for a CPU (an oversubscribed machine), which also
    slows the CPU-bound code itself (shared caches and cores), so its CPU-min are an upper estimate."""
    wall = run["seconds"] / 60
    end = table[(table["run steps"] == steps) & (table["step"] == steps)]
    line = f"run of {steps} steps: {wall:.1f} min wall on {run.get('threads', '?')} thread(s)"
    if len(end):
        cpu = float(end["CPU-min"].iloc[0])
        line += f", {cpu:.2f} CPU-min (wall/CPU {wall / cpu:.1f}" + ("; oversubscribed machine" if wall / cpu > 1.5 else "") + ")"
    return line


def add_budget_measurement(record: dict, steps: int, info: dict, n_molecules: int, note: str = "",
                           provenance: dict | None = None) -> dict:
    """A copy of a curve ``record`` with the budget of runs of ``steps`` steps re-measured: ``info`` is
    :func:`~molpractice.diffusion_model.train_molecule_model`'s for the *final* training of that length (all
    ``n_molecules`` molecules, the notebook's loop without the curve's extra EMA shadows) — its ``cpu_seconds``,
    ``seconds``, ``threads``, ``trained_at`` and weights file. The entry is information: the selection rule
    keeps judging the budget by the curve runs' own CPU-min, as it was fixed before looking, so ``choice`` is
    unchanged (a re-measurement taken after the results were seen must not decide them). ``provenance`` (``command``, ``commit``, ``dirty``, ``created``: what wrote
    this entry) is stored in the entry, so the printed line says which command, commit and date added it; ``note``
    is free text typed by hand and printed as such. Raises ``ValueError`` when ``steps`` is not a run of the
    record."""
    if str(int(steps)) not in {str(int(r["run steps"])) for r in record["rows"]}:
        raise ValueError(f"{steps} steps is not a run of the curve record (runs: "
                         f"{sorted({int(r['run steps']) for r in record['rows']})})")
    import pandas as pd

    entry = {"cpu_min": info["cpu_seconds"] / 60, "wall_min": info["seconds"] / 60, "threads": info.get("threads"),
             "trained_at": info.get("trained_at"), "weights": Path(str(info.get("path", ""))).name or None,
             "n_molecules": int(n_molecules), "note": note}
    entry |= {k: (provenance or {}).get(k) for k in ("command", "commit", "dirty", "created")}
    budget = dict(record.get("budget") or {}) | {str(int(steps)): entry}
    table = pd.DataFrame(record["rows"], columns=list(_RECORD_COLUMNS))
    choice = _select(table, record["reference"])
    return dict(record, budget=budget, choice=[int(choice[0]), int(choice[1]), float(choice[2])])


def _sample_outcomes(chapter, state, cfg, data, n: int, key) -> dict:
    """DDPM (all T steps, clip on) from ``state`` on the bench's sizes and seed; per-sample outcomes, cached."""
    from .diffusion_sampling import draw_sizes, position_clip, sample_molecules
    from .plausibility import plausibility
    from .runtime import cache_dir

    # "_p2": "plausible" = no implausible group (plausibility.IMPLAUSIBLE_GROUPS), no longer "no Brenk alert"
    path = Path(cache_dir()) / f"ch04_curve_samples_{_digest(state)}_{n}_{cfg.T}_p2.json"
    if path.exists():
        return json.loads(path.read_text())
    model = _model_from(state, cfg)
    alpha_bar = chapter.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    sizes = draw_sizes(data, n, seed=1)
    samples, extra = sample_molecules(chapter, model, sizes, alpha_bar, "ddpm", cfg.T, cfg.type_scale,
                                      position_clip(data), seed=1)
    rows = plausibility(chapter, samples)["rows"]
    out = {"key": list(key), "n": n, "seconds": extra["seconds"],
           "single fragment": [bool(v) for v in rows["single fragment"]], "plausible": [bool(v) for v in rows["plausible"]]}
    _write_atomic(path, json.dumps(out))
    return out


def sample_report(chapter, curve: dict, data, n: int, keys=None, cfg=None):
    """Report only (never a selection criterion): DDPM-T valid single-fragment and plausible rates
    (Clopper–Pearson 95 %) of ``n`` molecules from each model in ``keys`` (default: the reference, the longest
    run's end at the reference decay, and the chosen row), on the bench's sizes and seed (so rows pair sample by
    sample), with the paired difference to the reference (Newcombe interval, exact McNemar p)."""
    import pandas as pd

    from .diffusion_report import paired_rate_difference
    from .plausibility import clopper_pearson

    cfg = cfg or _dm.SETTINGS.current()
    ref = curve["reference"]
    if keys is None:
        longest = max(k[0] for k in curve["models"])
        keys = [ref, (longest, longest, ref[2]), curve["choice"]]
    keys = list(dict.fromkeys(tuple(k) for k in keys))
    outs = {k: _sample_outcomes(chapter, curve["models"][k], cfg, data, n, k) for k in keys}
    rows = []
    for k, o in outs.items():
        row = {"model (run steps, step, EMA decay)": str(k), "n": n, "sampling s": o["seconds"]}
        for name in ("single fragment", "plausible"):
            hits = int(sum(o[name]))
            low, high = clopper_pearson(hits, n)
            row[f"{name} [95 % CI]"] = f"{hits / n:.3f} [{low:.3f}, {high:.3f}]"
            if k != ref:
                d = paired_rate_difference(o[name], outs[ref][name])
                row[f"{name} − ref [95 % CI], McNemar p"] = (f"{d['difference']:+.3f} [{d['low']:+.3f}, "
                                                             f"{d['high']:+.3f}], p = {d['p_value']:.3f}")
            else:
                row[f"{name} − ref [95 % CI], McNemar p"] = "reference"
        rows.append(row)
    return pd.DataFrame(rows)


def format_sample_report(table) -> str:
    import pandas as pd

    with pd.option_context("display.width", 300, "display.max_columns", 20, "display.max_colwidth", 60):
        return ("Report only (not a selection criterion): DDPM, all T steps, clip on, the bench's sizes and seed "
                "(rows pair sample by sample); 'single fragment' = valid single fragment.\n"
                + table.round(1).to_string(index=False))



def budget_sensitivity_line(record: dict) -> str:
    """What the selection rule would have chosen had each end-of-run row's budget been judged by the re-measured
    *final* training of that length (a record's ``budget`` entries) instead of the curve run's own CPU-min: one line
    that says whether the choice depends on which CPU measurement the rule reads. Information only — the rule as
    fixed reads the curve runs' CPU-min (:func:`_select`). Rows without a re-measurement keep their curve CPU-min."""
    import pandas as pd

    budget = record.get("budget") or {}
    table = pd.DataFrame(record["rows"], columns=list(_RECORD_COLUMNS))
    swapped = table.copy()
    for i, row in table.iterrows():
        entry = budget.get(str(int(row["run steps"])))
        if entry is not None and bool(row["end of run"]):
            swapped.loc[i, "CPU-min"] = float(entry["cpu_min"])
    if not budget:
        return "no re-measured final training in the record: the rule's choice cannot be checked against one"
    other = _select(swapped, record["reference"])
    fixed = tuple(record["choice"])
    same = tuple(other) == fixed
    used = ", ".join(f"{k} steps {v['cpu_min']:.2f}" for k, v in budget.items())
    return (f"budget instrument: judged by the re-measured final trainings' CPU-min ({used}) instead of the curve runs' "
            f"(which include the curve's extra EMA shadows and checkpoint evaluations, and the load they ran under), "
            f"the same rule would choose {tuple(other)} — "
            + ("the same model: the choice does not depend on which measurement the rule reads"
               if same else f"not the shipped {fixed}: which model ships depended on the CPU measurement the rule read"))


def rule_check_line(record: dict, cfg) -> str:
    """Whether ``cfg`` (``SETTINGS.current()``) holds the rule's choice of a curve ``record``: one line, "SETTINGS:
    train_steps …, ema_decay … — the rule's choice (…): True/False"."""
    choice = tuple(record["choice"])
    held = (int(cfg.train_steps), int(cfg.train_steps), float(cfg.ema_decay)) == (int(choice[0]), int(choice[1]),
                                                                                   float(choice[2]))
    return f"SETTINGS: train_steps {cfg.train_steps}, ema_decay {cfg.ema_decay} — the rule's choice {choice}: {held}"
