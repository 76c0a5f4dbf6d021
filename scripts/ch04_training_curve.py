"""Chapter 4: the molecule model's training-length curve, chosen on a validation split (prints a table).

    # train the curve runs (each is cached; two can run side by side, one per core):
    MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_training_curve.py --train 4500
    MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_training_curve.py --train 5600 --checkpoints 3000,4500,5000
    # the table (validation loss = the selection criterion) and, as a report, DDPM sample rates:
    MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_training_curve.py --runs 4500 5600:3000,4500,5000 --samples 400
    # the committed record the notebook prints (from the cached runs only: never trains):
    MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_training_curve.py --runs 4500 5600:3000,4500,5000 \
        --json data/ch04_training_curve.json
    # the budget test re-measured on the final trainings (cached weights of diffusion.train_molecule_model with
    # train_steps = each run's length, trained in a fresh process on 1 thread; never trains), added to the record:
    MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_training_curve.py --budget 4500 5600 \
        --json data/ch04_training_curve.json

See molpractice/diffusion_curve.py for what is measured and the selection rule (fixed before looking).
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import types
from pathlib import Path

import molpractice as mp
from molpractice import diffusion as D
from molpractice import diffusion_curve as C
from molpractice.runtime import configure_threads, implementation_name


def _runs(specs):
    out = []
    for spec in specs:
        steps, _, cps = spec.partition(":")
        out.append((int(steps), [int(c) for c in cps.split(",") if c]))
    return out


def _git(*args) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, help="train (and cache) one curve run of this many steps, then stop")
    ap.add_argument("--checkpoints", default="", help="comma-separated step counts to keep inside --train")
    ap.add_argument("--runs", nargs="*", default=[], help="STEPS[:CHECKPOINT,...] of the runs to tabulate")
    ap.add_argument("--draws", type=int, default=100, help="(t, noise) draws per validation molecule")
    ap.add_argument("--samples", type=int, default=0, help="DDPM molecules per reported model (0: no sampling)")
    ap.add_argument("--report", nargs="*", default=None,
                    help="RUN:STEP:DECAY rows to sample (default: the reference and the best end-of-run row)")
    ap.add_argument("--json", metavar="FILE", help="write the table as a record (command, commit) to FILE; "
                    "uses cached runs only (raises if one is missing, never trains)")
    ap.add_argument("--budget", nargs="*", type=int, default=None,
                    help="run lengths whose final training (cached weights) re-measures the budget in --json's record")
    ap.add_argument("--note", default="", help="with --budget: a hand-typed note stored with each measurement "
                    "(kept in the record's entry, never printed: it is not a measurement)")
    args = ap.parse_args(argv)
    configure_threads()
    chapter = mp.load_chapter("ch04_diffusion", implementation_name())
    data = D.molecule_data()
    if args.budget:
        if not args.json:
            ap.error("--budget needs --json FILE (the record to update)")
        record = C.load_curve_record(args.json)
        argv = sys.argv[1:] if argv is None else list(argv)
        provenance = {"command": "MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_training_curve.py "
                                 + shlex.join(argv),
                      "commit": _git("rev-parse", "HEAD") or None,
                      "dirty": bool(_git("status", "--porcelain", "--", "molpractice/diffusion*.py",
                                         "solutions/ch04_diffusion.py", "scripts/ch04_training_curve.py")),
                      "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        for steps in args.budget:
            cfg = types.SimpleNamespace(**vars(D.SETTINGS.current()))
            cfg.train_steps = int(steps)
            path = D.weights_path(cfg, implementation_name(), data, 0, chapter)
            if not path.exists():
                raise SystemExit(f"no cached final weights of {steps} steps at {path}: train them first "
                                 f"(diffusion.train_molecule_model with train_steps = {steps}, 1 thread)")
            _, info = D.train_molecule_model(chapter, data, cfg, progress=False)
            record = C.add_budget_measurement(record, steps, info, len(data), args.note, provenance)
        Path(args.json).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(C.format_curve_record(C.load_curve_record(args.json)))
        print(f"wrote {args.json}")
        return
    if args.train:
        train, _ = C.validation_split(data)
        cps = [int(c) for c in args.checkpoints.split(",") if c]
        res = C.curve_run(chapter, train, args.train, cps, progress=True)
        print({"steps": res["steps"], "cached": res["cached"], "wall s": round(res["seconds"], 1),
               "CPU-min": {k: round(v / 60, 2) for k, v in res["cpu_seconds"].items()}})
        return
    curve = C.training_curve(chapter, _runs(args.runs), data, draws=args.draws, cache_only=bool(args.json))
    print(C.format_curve(curve))
    if args.json:
        argv = sys.argv[1:] if argv is None else list(argv)
        command = "MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_training_curve.py " + shlex.join(argv)
        dirty = bool(_git("status", "--porcelain", "--", "molpractice/diffusion*.py", "solutions/ch04_diffusion.py",
                         "scripts/ch04_training_curve.py"))
        record = C.curve_record(curve, command, _git("rev-parse", "HEAD") or None, dirty)
        Path(args.json).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if args.samples:
        keys = [tuple(float(x) if i == 2 else int(x) for i, x in enumerate(r.split(":"))) for r in args.report] \
            if args.report else None
        print(C.format_sample_report(C.sample_report(chapter, curve, data, args.samples, keys)))


if __name__ == "__main__":
    main()
