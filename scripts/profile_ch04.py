"""Where the CPU time of notebook 04 goes: run its code cells in one process (reference implementation,
full mode unless MOLPRACTICE_FAST=1, cached weights if present) and print CPU seconds per cell and the
cProfile breakdown per function.

Usage (from the repository root):

    MPLBACKEND=Agg .venv/bin/python scripts/profile_ch04.py                 # per-cell CPU s + top functions
    MPLBACKEND=Agg .venv/bin/python scripts/profile_ch04.py --no-profile    # per-cell CPU s only (no cProfile overhead)
    MPLBACKEND=Agg .venv/bin/python scripts/profile_ch04.py --dump out.pstats --fingerprint out.json

``--fingerprint`` writes a digest of the notebook's printed output per cell (everything the cells print),
so two runs (before / after a speed-up) can be compared for identical results.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def code_cells(path):
    nb = json.loads(Path(path).read_text())
    return [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--notebook", default=str(next((ROOT / "notebooks").glob("04_*.ipynb"))))
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--dump", default=None)
    p.add_argument("--fingerprint", default=None)
    p.add_argument("--top", type=int, default=45)
    args = p.parse_args()
    os.environ.setdefault("MOLPRACTICE_IMPL", "solutions")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(ROOT / "notebooks")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.show = lambda *a, **k: plt.close("all")
    ns = {"__name__": "__main__"}
    prof = None if args.no_profile else cProfile.Profile()
    rows, prints = [], {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for idx, src in code_cells(args.notebook):
        buf = io.StringIO()
        c0, w0 = time.process_time(), time.perf_counter()
        with contextlib.redirect_stdout(buf):
            if prof is not None:
                prof.enable()
            exec(compile(src, f"<cell {idx}>", "exec"), ns)
            if prof is not None:
                prof.disable()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        text = buf.getvalue()
        # timing figures differ between runs; everything else must not
        prints[idx] = text
        first = src.strip().splitlines()[0][:70] if src.strip() else ""
        rows.append((idx, cpu, wall, first))
        print(f"[{idx:>2}] {cpu:7.2f} CPU s {wall:7.2f} wall s  {first}", file=sys.stderr, flush=True)
    total_cpu, total_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"\nper cell (CPU s of this process; wall s):")
    for idx, cpu, wall, first in sorted(rows, key=lambda r: -r[1]):
        print(f"  cell {idx:>2}: {cpu:7.2f} CPU s  {wall:7.2f} wall s   {first}")
    print(f"total: {total_cpu:.1f} CPU s ({total_cpu / 60:.2f} CPU-min), {total_wall:.1f} wall s")
    if prof is not None:
        s = io.StringIO()
        st = pstats.Stats(prof, stream=s).sort_stats("cumulative")
        st.print_stats(args.top)
        st.sort_stats("tottime").print_stats(args.top)
        print(s.getvalue())
        if args.dump:
            st.dump_stats(args.dump)
    if args.fingerprint:
        Path(args.fingerprint).write_text(json.dumps(
            {str(k): {"sha1": hashlib.sha1(v.encode()).hexdigest(), "text": v} for k, v in prints.items()}, indent=1))


if __name__ == "__main__":
    main()
