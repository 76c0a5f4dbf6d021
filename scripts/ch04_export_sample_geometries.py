"""Export a few of chapter 4's own DDPM samples (elements and coordinates) as a committed test fixture.

    MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_export_sample_geometries.py --steps 4500 --n 40 \
        --json data/ch04_sample_geometries.json

Reads the plausible-vs-steps record (``data/ch04_plausible_vs_steps.json``) for the weights hash of the row with
``--steps`` training steps, loads that row's cached DDPM samples (``scripts/ch04_plausible_vs_steps.py`` writes
them under ``data/cache/``) and keeps the first ``--n`` samples, in sampling order, that RDKit's bond perception
(the chapter's ``molecule_from_geometry``) turns into a molecule. ``tests/test_plausibility.py`` runs the
geometry checks on them next to the ``posebusters`` package, so that cross-check covers the model's samples (with
their strained 3-rings), not only embedded test molecules. Coordinates are rounded to 1e-4 Å.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
from pathlib import Path

import molpractice as mp
from molpractice import diffusion_steps as S
from molpractice.runtime import implementation_name


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4500, help="the row of the plausible-vs-steps record")
    ap.add_argument("--n", type=int, default=40, help="samples to keep (the first that RDKit perceives)")
    ap.add_argument("--json", metavar="FILE", required=True)
    args = ap.parse_args(argv)
    chapter = mp.load_chapter("ch04_diffusion", implementation_name())
    record = S.load_steps_record()
    row = next((r for r in record["rows"] if int(r["steps"]) == args.steps), None)
    if row is None:
        ap.error(f"no row of {args.steps} steps in {S.STEPS_RECORD} (rows: {[r['steps'] for r in record['rows']]})")
    samples, _ = S._cached_step_samples(row["weights hash"], int(record["n"]), int(record["T"]))
    kept = []
    for index, (z, pos) in enumerate(samples):
        if chapter.molecule_from_geometry(z, pos) is not None:
            kept.append({"index": index, "z": [int(v) for v in z.tolist()],
                         "pos": [[round(float(v), 4) for v in xyz] for xyz in pos.tolist()]})
        if len(kept) == args.n:
            break
    argv = sys.argv[1:] if argv is None else list(argv)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    out = {"what": f"the first {len(kept)} perceivable DDPM-{record['T']} samples of chapter 4's {args.steps}-step "
                   "model (test fixture for the posebusters cross-check)",
           "command": "MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_export_sample_geometries.py "
                      + shlex.join(argv),
           "commit": head or None, "weights hash": row["weights hash"], "sampled_at": row.get("sampled_at"),
           "sampling commit": row.get("sampling commit"),
           "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "samples": kept}
    Path(args.json).write_text(json.dumps(out, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(kept)} samples (of the first {kept[-1]['index'] + 1 if kept else 0}) to {args.json}")


if __name__ == "__main__":
    main()
