"""Chapter 4: plausible and valid-single-fragment rates of DDPM samples against training steps (a report).

    # train (and cache) the final model at each step count on 1 thread, sample DDPM-T on the bench's sizes and
    # seeds (cached), score, print the table and write the committed record:
    MOLPRACTICE_IMPL=solutions nice -n 5 .venv/bin/python scripts/ch04_plausible_vs_steps.py --steps 1500 3000 4500 5600 \
        --json data/ch04_plausible_vs_steps.json

    # draw every row's samples again at the current commit (recorded per row) instead of reading the sample cache:
    MOLPRACTICE_IMPL=solutions nice -n 5 .venv/bin/python scripts/ch04_plausible_vs_steps.py --cached-only --resample \
        --json data/ch04_plausible_vs_steps.json

    # add the paired differences between rows (re-scoring the rows' cached samples; the rows are not changed):
    MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_plausible_vs_steps.py --paired \
        --json data/ch04_plausible_vs_steps.json

Evidence whether issue 24's "plausible within 15 points of the data's" is reachable by training longer inside the
8 CPU-min budget: one training seed per step count, so read the printed rows, not a trend beyond them. See
molpractice.diffusion_steps.plausible_vs_steps.
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
from molpractice import diffusion as D
from molpractice import diffusion_steps as S
from molpractice.plausibility import scoring_code_hash
from molpractice.runtime import configure_threads, implementation_name


def _git(*args) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", nargs="+", type=int, default=[1500, 3000, 4500, 5600])
    ap.add_argument("--samples", type=int, default=None, help="molecules per model (default: bench_samples)")
    ap.add_argument("--cached-only", action="store_true", help="never train: raise if a model is not cached")
    ap.add_argument("--resample", action="store_true", help="draw every row's samples again (same sizes and seeds) "
                    "and record the commit they were drawn at, instead of reading the sample cache")
    ap.add_argument("--json", metavar="FILE", help="write the table as a record (command, commit) to FILE")
    ap.add_argument("--paired", action="store_true", help="add the paired differences between the rows of the "
                    "record in --json FILE (re-scoring its cached samples), leaving its rows unchanged")
    args = ap.parse_args(argv)
    configure_threads()
    chapter = mp.load_chapter("ch04_diffusion", implementation_name())
    if args.paired:
        if not args.json:
            ap.error("--paired needs --json FILE (the record to extend)")
        record = json.loads(Path(args.json).read_text(encoding="utf-8"))
        paired = S.paired_step_differences(chapter, record)
        argv = sys.argv[1:] if argv is None else list(argv)
        paired |= {"command": "MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_plausible_vs_steps.py "
                              + shlex.join(argv),
                   "commit": _git("rev-parse", "HEAD") or None,
                   "dirty": bool(_git("status", "--porcelain", "--", "molpractice/diffusion*.py",
                                      "molpractice/plausibility*.py", "scripts/ch04_plausible_vs_steps.py")),
                   "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   "scoring code": scoring_code_hash()}
        record["paired"] = paired
        Path(args.json).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(S.format_plausible_vs_steps(record))
        print(f"wrote the paired differences into {args.json}")
        return
    data = D.molecule_data()
    dirty = bool(_git("status", "--porcelain", "--", "molpractice/diffusion*.py", "molpractice/plausibility*.py",
                      "solutions/ch04_diffusion.py", "scripts/ch04_plausible_vs_steps.py"))
    head = _git("rev-parse", "HEAD")
    provenance = {"commit": (head + (" (with uncommitted changes)" if dirty else "")) if head else None}
    result = S.plausible_vs_steps(chapter, data, args.steps, args.samples, train=not args.cached_only,
                                  resample=args.resample, provenance=provenance)
    if args.json:
        argv = sys.argv[1:] if argv is None else list(argv)
        result = {"what": "chapter-4 DDPM sample rates against training steps (report, not a selection criterion)",
                  "command": "MOLPRACTICE_IMPL=solutions .venv/bin/python scripts/ch04_plausible_vs_steps.py "
                             + shlex.join(argv),
                  "commit": _git("rev-parse", "HEAD") or None, "dirty": dirty,
                  "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  "scoring code": scoring_code_hash()} | result
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(S.format_plausible_vs_steps(result))
    if args.json:
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
