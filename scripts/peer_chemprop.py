"""Opt-in peer measurement: Chemprop v2 on chapter 1's own splits, scored like the chapter's GNN.

    python scripts/peer_chemprop.py [--split scaffold|random] [--seeds 5] [--epochs 100] [--out DIR]

Uses the chapter's data (duplicates merged, ``molpractice.solubility.load_data``) and the same split
(``molpractice.splits.make_splits`` with the reference ``scaffold_split``, deterministic). For each seed it
runs ``chemprop train`` (default D-MPNN, regression, ``--splits-file`` with our indices, ``--pytorch-seed``)
and ``chemprop predict`` on the test part, then prints the single-model RMSE mean ± std over seeds and the RMSE
of the average of the seeds' predictions (the ensemble), with the Chemprop version, the date and the exact
commands. Per-molecule test predictions go to ``DIR/test_predictions.csv`` (one column per seed), so the peer
can be compared with the paired bootstrap (``molpractice.solubility.paired_bootstrap_rmse``).

Chemprop is not a dependency of this project and nothing installs it: without it this script exits with a
message (status 2). It needs the ``chemprop`` command of Chemprop 2.x on PATH (``pip install chemprop``).
Expect minutes per model on a CPU. Written against the Chemprop 2.x command line (``train --splits-file
--pytorch-seed``, ``predict --model-paths``) but never run in this repository's environment, where Chemprop is
not installed: if a flag changed in your version, the failing command is printed.
"""
from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np


def chemprop_version() -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version("chemprop")
    except PackageNotFoundError:
        return None


def run(cmd: list[str]) -> None:
    print("$ " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd)
    if done.returncode != 0:
        raise SystemExit(f"peer_chemprop: command failed with status {done.returncode}: {' '.join(cmd)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("scaffold", "random"), default="scaffold")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--out", default="peer_chemprop_runs")
    args = ap.parse_args(argv)

    ver = chemprop_version()
    exe = shutil.which("chemprop")
    if ver is None or exe is None:
        print("peer_chemprop: Chemprop is not installed here (it is not a dependency of molpractice and is "
              "never installed for you). To measure the peer: `pip install chemprop` (2.x) in an environment "
              "that also has molpractice, then rerun this script.", file=sys.stderr)
        return 2
    if not ver.startswith("2."):
        print(f"peer_chemprop: found Chemprop {ver}; this script drives the Chemprop 2.x command line.",
              file=sys.stderr)
        return 2

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from molpractice.implementations import load_chapter
    from molpractice.solubility import load_data
    from molpractice.splits import make_splits
    from molpractice.training import rmse

    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"Chemprop {ver} ({exe}); started {started:%Y-%m-%d %H:%M} UTC; split {args.split}; "
          f"{args.seeds} seeds; {args.epochs} epochs", flush=True)
    df, _ = load_data()
    smiles = df["smiles"].tolist()
    tr, va, te = make_splits(smiles, load_chapter("ch01_solubility_gnn", "solutions"))[args.split]
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data_csv, test_csv = out / "data.csv", out / "test.csv"
    df[["smiles", "target"]].to_csv(data_csv, index=False)
    df.iloc[te][["smiles"]].to_csv(test_csv, index=False)
    splits_json = out / "splits.json"
    splits_json.write_text(json.dumps([{"train": tr.tolist(), "val": va.tolist(), "test": te.tolist()}]))
    y_test = df["target"].to_numpy(dtype=float)[te]

    preds = {}
    for seed in range(args.seeds):
        run_dir = out / f"seed{seed}"
        run([exe, "train", "--data-path", str(data_csv), "--task-type", "regression", "--smiles-columns", "smiles",
             "--target-columns", "target", "--splits-file", str(splits_json), "--epochs", str(args.epochs),
             "--pytorch-seed", str(seed), "--output-dir", str(run_dir)])
        models = sorted(glob.glob(os.path.join(run_dir, "**", "best*.pt"), recursive=True)) or \
            sorted(glob.glob(os.path.join(run_dir, "**", "*.ckpt"), recursive=True))
        if not models:
            raise SystemExit(f"peer_chemprop: no trained model file found under {run_dir}")
        preds_csv = run_dir / "test_preds.csv"
        run([exe, "predict", "--test-path", str(test_csv), "--smiles-columns", "smiles", "--model-paths",
             models[0], "--preds-path", str(preds_csv)])
        import pandas as pd

        col = [c for c in pd.read_csv(preds_csv).columns if c != "smiles"][0]
        preds[f"seed{seed}"] = pd.read_csv(preds_csv)[col].to_numpy(dtype=float)

    import pandas as pd

    table = pd.DataFrame({"smiles": [smiles[i] for i in te], "target": y_test, **preds})
    table.to_csv(out / "test_predictions.csv", index=False)
    scores = np.array([rmse(y_test, p) for p in preds.values()])
    ens = rmse(y_test, np.mean(list(preds.values()), axis=0))
    spread = f"{scores.std(ddof=1):.3f}" if len(scores) > 1 else "— (one seed)"
    print(f"Chemprop {ver}, {started:%Y-%m-%d}, {args.split} test ({len(te)} molecules): single model RMSE "
          f"{scores.mean():.3f} ± {spread} over {len(scores)} seeds; ensemble of {len(scores)} RMSE {ens:.3f}; "
          f"per-molecule predictions in {out / 'test_predictions.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
