"""Prove that the chapter-5 complexity graders (5.1, 5.2) give the same verdicts on a machine whose every core is busy.

While one spinning process per core holds the CPU, the work-counting graders of 5.1 and 5.2 (``*_is_linear_time``:
the only ones whose verdict a busy machine could conceivably move — the others compare answers with an oracle,
and the mutation tests run them on every variant) run ``--repeats`` times against
the reference, against every correct variant of ``tests/test_ch05_graders.py`` (``WINDOW_CORRECT``,
``TREE_CORRECT``: each must be accepted every time) and against every super-linear variant
(``WINDOW_SUPERLINEAR``, ``TREE_SUPERLINEAR``: each must be rejected every time). Prints one table and exits 1
on any false rejection or false acceptance.

    .venv/bin/python scripts/prove_graders_under_load.py                 # 30 repeats, busy cores
    .venv/bin/python scripts/prove_graders_under_load.py --repeats 2     # what tests/test_grader_noise.py runs

The graders count operations (``molpractice.workcount``) instead of timing calls, so no load can flip them;
this script is the evidence. Run it under ``nice`` on a shared machine: the spinners and the graders then
compete with each other on equal terms and leave other users alone.
"""
from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _spin() -> None:  # pragma: no cover (runs in the busy processes)
    x = 0
    while True:
        x += 1


def _variants():
    """{exercise id: [(variant name, function, expected verdict)]} from the chapter-5 mutation tests."""
    spec = importlib.util.spec_from_file_location("ch05_grader_mutations", REPO / "tests" / "test_ch05_graders.py")
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    out = {}
    for ex, name, correct, slow in (("5.1", "longest_window_at_most_k_distinct", tests.WINDOW_CORRECT,
                                     tests.WINDOW_SUPERLINEAR),
                                    ("5.2", "induced_subgraph_is_tree", tests.TREE_CORRECT, tests.TREE_SUPERLINEAR)):
        out[ex] = [(label, name, f, "accepted") for label, f in correct.items()]
        out[ex] += [(label, name, f, "rejected") for label, f in slow.items()]
    return tests.SUITE, out


def _rejections(suite, impl, exercise_id: str) -> list[str]:
    """Messages of the work-counting graders of ``exercise_id`` that reject ``impl`` (empty: accepted)."""
    from molpractice.mutation import REJECTIONS

    out = []
    for grader in suite.graders_of(exercise_id):
        if not grader.__name__.endswith("_is_linear_time"):
            continue
        try:
            grader(impl)
        except REJECTIONS as err:
            out.append(f"{grader.__name__}: {type(err).__name__}: {err}")
    return out


def prove(repeats: int = 30, busy: int | None = None, out=print) -> int:
    """Run the proof; return the number of wrong verdicts (0: proven)."""
    sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    suite, variants = _variants()
    busy = (os.cpu_count() or 1) if busy is None else busy
    spinners = [mp.Process(target=_spin, daemon=True) for _ in range(busy)]
    for p in spinners:
        p.start()
    rows, wrong = [], 0
    try:
        for ex, items in variants.items():
            for label, name, func, expected in items:
                accepted = rejected = 0
                for _ in range(repeats):
                    getattr(suite.graders, "_TREE_GROWTH", {}).clear()  # no cached verdict: every run counts afresh
                    verdict = _rejections(suite, suite.implementation(**{name: func}), ex)
                    accepted += not verdict
                    rejected += bool(verdict)
                bad = rejected if expected == "accepted" else accepted
                wrong += bad
                rows.append((ex, label, expected, repeats, accepted, rejected, "ok" if not bad else "WRONG"))
                print(f"  {ex} {label}: {accepted} accepted, {rejected} rejected", file=sys.stderr, flush=True)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    finally:
        for p in spinners:
            p.terminate()
        for p in spinners:
            p.join()
    header = ("exercise", "variant", "expected", "runs", "accepted", "rejected", "verdict")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    out(f"busy processes: {busy} (cores: {os.cpu_count()}), 1-minute load average at the end: {load:.1f}")
    for r in [header, tuple("-" * w for w in widths)] + rows:
        out("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    out(f"false rejections + false acceptances: {wrong}")
    return wrong


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="gradings per variant (default 30)")
    parser.add_argument("--busy", type=int, default=None, help="spinning processes (default: one per core)")
    args = parser.parse_args(argv)
    return 1 if prove(args.repeats, args.busy) else 0


if __name__ == "__main__":
    sys.exit(main())
