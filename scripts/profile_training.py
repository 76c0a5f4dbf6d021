"""Where the time of a GNN training run goes, and the trainers before vs after the speed-ups of issue 20.

Usage (from the repository root; full settings unless MOLPRACTICE_FAST=1):

    .venv/bin/python scripts/profile_training.py                       # before/start/after: ch01 + ch03 member
    .venv/bin/python scripts/profile_training.py --what ch01-old,ch01 --path before,start,after  # issue-20 table
    .venv/bin/python scripts/profile_training.py --what ch01 --path before --profile   # cProfile breakdown
    .venv/bin/python scripts/profile_training.py --what ch01 --torch-profile --epochs 5 # torch op table
    .venv/bin/python scripts/profile_training.py --compare-settings    # ch01 epochs/patience on validation

Trainer paths (the whole earlier states live in :func:`before_path`):

* ``before``: torch_geometric's ``DataLoader`` collating every batch every epoch (training and validation),
  deep-copied checkpoints, AdamW's per-tensor step, torch's ``clip_grad_norm_``;
* ``start``: pre-collated batches (``molpractice.batching``) and the foreach AdamW, stepped by torch's own
  ``zero_grad`` / ``clip_grad_norm_`` / ``AdamW.step`` (the package when issue 20's second pass started);
* ``after``: the package as it is (``molpractice.training._Stepper``: the same arithmetic with less Python).

All run the same seeds, one after the other in one process, so they share the machine's load (printed, with
``os.getloadavg``); each row also says whether its per-epoch losses and predictions equal the first path's
bit for bit. CPU seconds are the better measure on a shared machine (one torch thread: on an idle machine
wall ≈ CPU).

What ``--what`` trains (one model each, seed 0):

* ``ch01``: chapter 1's GNN with the benchmark's settings (``molpractice.solubility.SETTINGS``; dropout 0.1,
  descriptor readout) on the scaffold split, early stopping on validation RMSE;
* ``ch01-old``: the same with the chapter's settings before issue 20 (:data:`CH01_BEFORE`: 60 epochs,
  patience 25);
* ``ch03``: a chapter-3 mean–variance member (``molpractice.ensembles.SETTINGS``: β-NLL, dropout 0.2);
* ``classifier``: a chapter-3 classifier member (binary cross-entropy).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: chapter 1's full-mode training settings before issue 20 (the other settings are unchanged)
CH01_BEFORE = {"epochs": 60, "patience": 25}
#: candidates of --compare-settings: (name, overrides of chapter 1's SETTINGS)
CH01_CANDIDATES = (
    ("60 epochs, patience 25 (before)", CH01_BEFORE),
    ("30 epochs, patience 15", {"epochs": 30, "patience": 15}),
    ("24 epochs, patience 10", {"epochs": 24, "patience": 10}),
    ("20 epochs, patience 8 (now)", {"epochs": 20, "patience": 8}),
    ("batch 64, 30 epochs, patience 15", {"batch_size": 64, "epochs": 30, "patience": 15}),
    ("batch 64, lr 2e-3, 30 epochs, patience 15", {"batch_size": 64, "lr": 2e-3, "epochs": 30, "patience": 15}),
)


@contextlib.contextmanager
def before_path(stage="before"):
    """The trainers as they were: ``before`` = before pre-collated batches; ``start`` = pre-collated batches and
    the foreach AdamW, but torch's own ``clip_grad_norm_`` and ``AdamW.step`` (the package before the lean step)."""
    from molpractice import batching, training

    def pyg_loader(graphs, batch_size, shuffle=False, generator=None):
        from torch_geometric.loader import DataLoader

        return DataLoader(list(graphs), batch_size=batch_size, shuffle=shuffle, generator=generator)

    saved = batching.loader, training._copy_state, training._FOREACH, training._LEAN
    if stage == "before":
        batching.loader = pyg_loader
        training._copy_state = lambda model: copy.deepcopy(model.state_dict())
        training._FOREACH = False
    training._LEAN = False
    try:
        yield
    finally:
        batching.loader, training._copy_state, training._FOREACH, training._LEAN = saved


def load(what):
    """Everything a run needs except the training itself (featurisation is timed apart)."""
    from molpractice import chem, ensembles, solubility
    from molpractice.graphs import build_graphs
    from molpractice.implementations import load_chapter
    from molpractice.splits import make_splits

    ch1 = load_chapter("ch01_solubility_gnn", "solutions")
    df, _ = solubility.load_data()
    start = time.perf_counter()
    if what.startswith("ch01"):
        smiles, y = df["smiles"].tolist(), df["target"].to_numpy(float)
        graphs = build_graphs(smiles, y, ch1)
        desc = chem.rdkit_descriptors(smiles)
        g_tr, g_va, g_te = solubility._split_graphs(graphs, desc, make_splits(smiles, ch1)["scaffold"], True)
        data = (g_tr, g_va, g_te)
    else:
        data = ensembles.prepare_splits(ch1, df, splits=("scaffold",))["scaffold"]
    return ch1, data, time.perf_counter() - start


def train(what, ch1, data, epochs=None):
    """One training run; returns (per-epoch training losses, test predictions, epochs run)."""
    from molpractice import ensembles, solubility, training

    over = dict(CH01_BEFORE) if what == "ch01-old" else {}
    if epochs is not None:
        over["epochs"] = epochs
    if what.startswith("ch01"):
        g_tr, g_va, g_te = data
        model, hist = solubility.fit_gnn(ch1, g_tr, g_va, 0, dropout=0.1, use_descriptors=True, **over)
        pred = training.predict(model, g_te)
    else:
        head = "gaussian" if what == "ch03" else "classifier"
        model, hist = ensembles.fit_member(ch1, data, 0, head=head, **over)
        pred = ensembles.Ensemble(head, data.name, [model], [hist], [0]).predict(data.graphs["test"])
    pred = np.concatenate([np.ravel(p) for p in (pred if isinstance(pred, tuple) else (pred,))])
    return np.asarray(hist["train_loss"]), pred, len(hist["train_loss"])


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def breakdown(prof: cProfile.Profile, total: float):
    """CPU seconds of a profiled run by part (cProfile inflates Python-heavy parts; read shares, not seconds)."""
    stats = pstats.Stats(prof).stats

    def find(file_part, name, caller=None):
        out = 0.0
        for (file, _, fn), (_, _, _, ct, callers) in stats.items():
            if file_part in file and fn == name:
                if caller is None:
                    out += ct
                else:
                    out += sum(c[3] for (cf, _, cn), c in callers.items() if cn == caller)
        return out

    parts = {
        "collate training batches": find("dataloader.py", "__next__", "train_epoch")
        + find("batching.py", "__iter__", "train_epoch"),
        "forward + loss (training)": find("training.py", "batch_loss") + find("ensembles.py", "batch_loss"),
        "backward": find("torch/_tensor.py", "backward"),
        "optimizer step (AdamW)": find("torch/optim/adam.py", "step", "train_epoch") + find("training.py", "step"),
        "gradient clipping": find("clip_grad.py", "clip_grad_norm_", "train_epoch") + find("training.py", "clip"),
        "validation pass (incl. its collation)": find("training.py", "predict", "train_regressor")
        + find("training.py", "_predict_batches", "train_regressor")
        + find("ensembles.py", "predict_logits", "train_classifier"),
        "checkpoint copies": find("copy.py", "deepcopy", "<lambda>")  # before_path's deepcopy
        + find("training.py", "_copy_state", "train_regressor") + find("training.py", "_copy_state", "train_classifier"),
    }
    parts["other (zero_grad, .to, loop, metrics, …)"] = total - sum(parts.values())
    print(f"\nprofile breakdown (cProfile on CPU time, total {total:.1f} CPU s):")
    for name, sec in parts.items():
        print(f"  {name:<42} {sec:7.2f} s  {100 * sec / total:5.1f} %")


def compare_settings(seeds=(100, 101, 102)):
    """Chapter 1's candidate epochs/patience/batch settings on the scaffold split's **validation** part: the
    chosen model kind (dropout 0.2, descriptor readout), the selection's seeds; mean validation RMSE, best
    epochs and CPU seconds per model. The test part is not read."""
    from molpractice import solubility

    ch1, data, _ = load("ch01")
    g_tr, g_va, _ = data
    print("\n| settings | val RMSE (mean) | per seed | best epoch / epochs run | CPU s/model |")
    print("|---|---|---|---|---|")
    for name, over in CH01_CANDIDATES:
        vals, epochs, cpu = [], [], []
        for seed in seeds:
            start = time.process_time()
            _, hist = solubility.fit_gnn(ch1, g_tr, g_va, seed, dropout=0.2, use_descriptors=True, **over)
            cpu.append(time.process_time() - start)
            vals.append(hist["best_val_rmse"])
            epochs.append(f"{hist['best_epoch'] + 1}/{hist['epochs_run']}")
        print(f"| {name} | {np.mean(vals):.3f} | {', '.join(f'{v:.3f}' for v in vals)} | {', '.join(epochs)} "
              f"| {np.mean(cpu):.1f} |", flush=True)


def main(argv=None):
    from molpractice.runtime import configure_threads, run_mode

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--what", default="ch01,ch03", help="comma-separated: ch01, ch01-old, ch03, classifier")
    ap.add_argument("--path", default="before,start,after", help="comma-separated: before, start, after")
    ap.add_argument("--epochs", type=int, default=None, help="override the maximum epochs")
    ap.add_argument("--profile", action="store_true", help="cProfile each run and print the breakdown")
    ap.add_argument("--torch-profile", action="store_true", help="torch.profiler op table of each run")
    ap.add_argument("--compare-settings", action="store_true",
                    help="chapter 1's candidate settings on scaffold validation RMSE (CH01_CANDIDATES)")
    args = ap.parse_args(argv)
    threads = configure_threads()
    print(f"mode {run_mode()} | torch threads {threads} | cores {os.cpu_count()} | load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.compare_settings:
        compare_settings()
        print(f"\nload average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return []
    rows, loaded = [], {}
    for what in args.what.split(","):
        key = "ch01" if what.startswith("ch01") else what
        if key not in loaded:
            loaded[key] = load(key)
        ch1, data, feat = loaded[key]
        print(f"{what}: featurisation + splits {feat:.1f} s (once per data set, not per model)")
        reference = None
        for path in args.path.split(","):
            ctx = before_path(path) if path in ("before", "start") else contextlib.nullcontext()
            with ctx:
                if args.torch_profile:
                    from torch.profiler import ProfilerActivity, profile

                    with profile(activities=[ProfilerActivity.CPU]) as tp:
                        (losses, pred, epochs), wall, cpu = timed(lambda: train(what, ch1, data, args.epochs))
                    print(f"\n{what} {path}: torch.profiler, top ops by self CPU time")
                    print(tp.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
                elif args.profile:
                    prof = cProfile.Profile(time.process_time)  # CPU time: not inflated by other processes
                    (losses, pred, epochs), wall, cpu = timed(
                        lambda: prof.runcall(train, what, ch1, data, args.epochs))
                    breakdown(prof, cpu)
                else:
                    (losses, pred, epochs), wall, cpu = timed(lambda: train(what, ch1, data, args.epochs))
            if reference is None:
                reference = (losses, pred)
            same = np.array_equal(losses, reference[0]) and np.array_equal(pred, reference[1])
            load1 = os.getloadavg()[0]
            rows.append((what, path, wall, cpu, epochs, same, load1))
            print(f"{what} {path}: {wall:.1f} s wall, {cpu:.1f} s CPU, {epochs} epochs, load {load1:.2f}", flush=True)
    print(f"\nload average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n| model | path | wall s | CPU s | epochs | CPU s/epoch | load (1 min) after | identical to first path |")
    print("|---|---|---|---|---|---|---|---|")
    for what, path, wall, cpu, epochs, same, load1 in rows:
        print(f"| {what} | {path} | {wall:.1f} | {cpu:.1f} | {epochs} | {cpu / epochs:.3f} | {load1:.2f} "
              f"| {'yes' if same else 'NO'} |")
    return rows


if __name__ == "__main__":
    main()
