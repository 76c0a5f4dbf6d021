"""Where the CPU time of notebook 04 goes: run its code cells in one process (reference implementation,
full mode unless MOLPRACTICE_FAST=1, cached weights if present) and print CPU seconds per cell and the
cProfile breakdown per function.

Usage (from the repository root):

    MPLBACKEND=Agg .venv/bin/python scripts/profile_ch04.py                 # per-cell CPU s + top functions
    MPLBACKEND=Agg .venv/bin/python scripts/profile_ch04.py --no-profile    # per-cell CPU s only (no cProfile overhead)
    MPLBACKEND=Agg .venv/bin/python scripts/profile_ch04.py --dump out.pstats --fingerprint out.json
    .venv/bin/python scripts/profile_ch04.py --compare before.json after.json

``--fingerprint`` writes a digest of the notebook's printed output per cell (everything the cells print),
so two runs (before / after a speed-up) can be compared for identical results. ``--compare`` reads two such
files and reports, per cell, whether the printed text is identical, identical once the timing figures are
masked (:func:`mask_timings`: wall / CPU times, the load average and the time verdicts that follow from them),
or different — printing every differing line, so a reader can check that only clocks differ.

CPU per cell is this process's (``CPU s``) and, separately, that of the worker processes reaped during the cell
(``workers CPU s``: the sampling pools of cells that run jobs in worker processes).
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
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def code_cells(path):
    nb = json.loads(Path(path).read_text())
    return [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


_TIME_UNITS = r"(?:s|CPU s|wall s|CPU-min|min wall|min|ms)"
_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def mask_timings(text: str) -> str:
    """``text`` with every figure that depends on the machine's clock or load replaced by ``#``: numbers followed
    by a time unit (``12.3 s``, ``4.6 CPU-min``, ``3.4 min wall``), the load average, the ``seconds`` column of a
    printed table (the last column, by its header), and the met / NOT met / on the limit verdicts of lines that
    judge a time target. Everything else — every model number, rate and interval — is kept."""
    out, seconds_table = [], False
    for line in text.splitlines():
        if line.rstrip().endswith(" seconds") and "sampler" in line:
            seconds_table = True
            out.append(line)
            continue
        if seconds_table:
            if not line.strip() or not re.search(_NUMBER + r"\s*$", line):
                seconds_table = False
            else:
                line = re.sub(r"\s+" + _NUMBER + r"\s*$", " #", line.rstrip())  # the column's width varies too
        line = re.sub(_NUMBER + r"(?=\s?" + _TIME_UNITS + r"\b)", "#", line)
        line = re.sub(r"load average.*", "load average #", line)
        if "target" in line and re.search(r"# (?:CPU-min|min)", line):
            line = re.sub(r"(≤ # min[^:]*: ).*?(?=\(|—|$)", r"\1<verdict> ", line)
        out.append(line)
    return "\n".join(out)


def compare(path_a, path_b) -> int:
    """Print, per cell, how the printed output of two ``--fingerprint`` files compares; return the number of
    cells that differ beyond their timing figures (0 = the same results)."""
    a, b = (json.loads(Path(x).read_text()) for x in (path_a, path_b))
    if set(a) != set(b):
        print(f"different cells: only in {path_a}: {sorted(set(a) - set(b))}; only in {path_b}: {sorted(set(b) - set(a))}")
        return 1
    raw = masked = 0
    bad = []
    for k in sorted(a, key=int):
        ta, tb = a[k]["text"], b[k]["text"]
        if ta == tb:
            raw += 1
            continue
        la, lb = ta.splitlines(), tb.splitlines()
        same = mask_timings(ta) == mask_timings(tb)
        masked += same
        if not same:
            bad.append(k)
        print(f"cell {k}: {'identical once timings are masked' if same else 'DIFFERENT'}; differing lines:")
        for x, y in zip(la, lb):
            if x != y:
                print(f"  - {x[:240]}\n  + {y[:240]}")
        if len(la) != len(lb):
            print(f"  ({len(la)} lines vs {len(lb)})")
    print(f"{len(a)} cells: {raw} identical, {masked} identical once timings are masked, {len(bad)} different {bad}")
    return len(bad)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--notebook", default=str(next((ROOT / "notebooks").glob("04_*.ipynb"))))
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--dump", default=None)
    p.add_argument("--fingerprint", default=None)
    p.add_argument("--top", type=int, default=45)
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), default=None)
    args = p.parse_args()
    if args.compare:
        sys.exit(1 if compare(*args.compare) else 0)
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

    def kids():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    cpu0, wall0, kids0 = time.process_time(), time.perf_counter(), kids()
    for idx, src in code_cells(args.notebook):
        buf = io.StringIO()
        c0, w0, k0 = time.process_time(), time.perf_counter(), kids()
        with contextlib.redirect_stdout(buf):
            if prof is not None:
                prof.enable()
            exec(compile(src, f"<cell {idx}>", "exec"), ns)
            if prof is not None:
                prof.disable()
        cpu, wall, kid = time.process_time() - c0, time.perf_counter() - w0, kids() - k0
        text = buf.getvalue()
        # timing figures differ between runs; everything else must not
        prints[idx] = text
        first = src.strip().splitlines()[0][:70] if src.strip() else ""
        rows.append((idx, cpu, kid, wall, first))
        print(f"[{idx:>2}] {cpu:7.2f} CPU s {kid:7.2f} workers CPU s {wall:7.2f} wall s  {first}", file=sys.stderr,
              flush=True)
    total_cpu, total_wall, total_kids = time.process_time() - cpu0, time.perf_counter() - wall0, kids() - kids0
    print(f"\nper cell (CPU s of this process; CPU s of the worker processes reaped during the cell; wall s):")
    for idx, cpu, kid, wall, first in sorted(rows, key=lambda r: -(r[1] + r[2])):
        print(f"  cell {idx:>2}: {cpu:7.2f} CPU s  {kid:7.2f} workers CPU s  {wall:7.2f} wall s   {first}")
    print(f"total: {total_cpu:.1f} CPU s here + {total_kids:.1f} CPU s in workers = {(total_cpu + total_kids) / 60:.2f} "
          f"CPU-min, {total_wall:.1f} wall s; load average at the end {os.getloadavg()[0]:.2f}")
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
