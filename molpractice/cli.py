"""Command line: ``molpractice grade | grade-room | make-exercises | chapters | execute | doctor | bench``,
``colab-links``, ``save-work | restore-work`` (also ``python -m molpractice``)."""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import tempfile
from pathlib import Path


def _cmd_grade(args) -> int:
    from .grading import format_report, format_row, grade

    try:
        report = grade(args.which, implementation=args.impl, timeout=args.timeout, repo=args.repo,
                       progress=lambda r: print(format_row(r), flush=True), worker="subprocess")
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"molpractice grade: {err}", file=sys.stderr)
        return 2
    print(format_report(report).splitlines()[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json}")
    return 0


def _learner_of(copy: Path, seen: set) -> tuple[str, Path]:
    """(learner name, exercises folder) of one handed-in copy: ``NAME/`` (a whole repository, or an empty or
    broken submission) or ``NAME/exercises/``. A name met twice gets ``#2``, ``#3``… so no row is overwritten."""
    if (copy / "exercises").is_dir():
        name, ex_dir = copy.name, copy / "exercises"
    elif copy.name == "exercises":
        name, ex_dir = copy.resolve().parent.name, copy
    else:
        name, ex_dir = copy.resolve().name, copy
    unique, k = name, 1
    while unique in seen:
        k += 1
        unique = f"{name}#{k}"
    seen.add(unique)
    return unique, ex_dir


@contextlib.contextmanager
def _unpacked(copy: Path):
    """For a work archive: its checked ``exercises/`` in a temporary folder, removed afterwards; else None.
    A bad archive raises :class:`molpractice.work.WorkArchiveError` (a ValueError: one verdict row)."""
    if not copy.is_file():
        yield None
        return
    from .work import extract_for_grading

    with tempfile.TemporaryDirectory(prefix="molpractice-room-") as tmp:
        yield extract_for_grading(copy, tmp)


def _cmd_grade_room(args) -> int:
    """Grade several learner copies with this repository's graders into one CSV (+ JSON).

    A copy is a folder (see :func:`_learner_of`) or a work archive (``NAME.zip`` from ``save-work``: learner
    ``NAME``, checked and unpacked into a temporary folder that is removed after grading).
    One CSV row per learner and exercise, in the order the copies were given; a copy that cannot be graded at
    all (no ``__init__.py``, a missing folder, a corrupt or foreign archive) gets an ``error`` row for every
    exercise, and the room goes on."""
    from . import grading
    from .repository import find_repo

    try:  # the exercises to grade, and their points: for the rows of a copy that cannot be graded at all
        graders_dir = find_repo(args.repo) / "tests" / "graders"
        table = getattr(grading, "grader_table", None) or getattr(grading, "load_graders")
        graders = table(graders_dir)
        ids = grading.select_exercises(graders, args.which)
    except (FileNotFoundError, ValueError) as err:
        print(f"molpractice grade-room: {err}", file=sys.stderr)
        return 2
    max_points = {i: sum(g.points for g in graders if g.exercise == i) for i in ids}
    rows, reports, seen = [], {}, set()
    for copy in args.copies:
        copy = Path(copy)
        archive = copy.is_file()  # a work archive (`molpractice save-work`): graded like a folder
        learner, ex_dir = _learner_of(copy.with_suffix("") if archive else copy, seen)
        print(f"== {learner} ({copy if archive else ex_dir})", flush=True)
        try:
            with _unpacked(copy) as unpacked:
                report = grading.grade(args.which, implementation="exercises", timeout=args.timeout,
                                       repo=args.repo, package_dir=unpacked or ex_dir)
        except (OSError, ValueError, RuntimeError) as err:
            print(f"   could not grade: {err}", flush=True)
            rows += [{"learner": learner, "exercise": i, "status": "error", "points": 0.0,
                      "max_points": max_points[i], "message": f"could not grade this copy: {err}"} for i in ids]
            continue
        reports[learner] = report
        for r in report["exercises"]:
            rows.append({"learner": learner, "exercise": r["id"], "status": r["status"], "points": r["points"],
                         "max_points": r["max_points"], "message": r["message"]})
        print(f"   {report['total']:g} / {report['max']:g}", flush=True)
    with open(args.csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["learner", "exercise", "status", "points", "max_points", "message"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(args.copies)} copies graded; rows written to {args.csv}")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2) + "\n")
    return 0


def _cmd_save_work(args) -> int:
    from .work import save_work

    try:
        save_work(args.file, repo=args.repo, download=False)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"molpractice save-work: {err}", file=sys.stderr)
        return 2
    return 0


def _cmd_restore_work(args) -> int:
    from .work import restore_work

    try:
        restore_work(args.file, force=args.force, repo=args.repo)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"molpractice restore-work: {err}\nNothing was changed.", file=sys.stderr)
        return 2
    return 0


def _cmd_grade_bench(args) -> int:
    """Print cold and warm check times per exercise (not a test: numbers depend on the machine)."""
    from .grading import benchmark_checks

    try:
        rows = benchmark_checks(args.which, implementation=args.impl, repeats=args.repeats, repo=args.repo)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"molpractice grade-bench: {err}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps({"results": rows}, indent=2) + "\n")
    return 0


def _cmd_make_exercises(args) -> int:
    from .exercisegen import MarkerError, make_exercises
    from .repository import find_repo

    try:
        repo = find_repo(args.repo)
        changed = make_exercises(repo, check=args.check, force=args.force)
    except (FileNotFoundError, FileExistsError, MarkerError) as err:
        print(f"molpractice make-exercises: {err}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print("exercises/ is out of sync with solutions/: " + ", ".join(changed) +
                  "\nrun `molpractice make-exercises` and commit the result", file=sys.stderr)
            return 1
        print("exercises/ is in sync with solutions/")
        return 0
    print("rewrote: " + ", ".join(changed) if changed else "exercises/ already in sync")
    return 0


def _cmd_doctor(args) -> int:
    from .doctor import doctor

    return doctor()


def _cmd_bench(args) -> int:
    """Run the benchmark named by the chapter's card, passing only the options given."""
    import importlib
    import inspect

    from .chapters import find_chapter
    from .runtime import configure_threads

    options = {k: v for k, v in (("csv", args.csv), ("smiles_col", args.smiles_col), ("target_col", args.target_col),
                                 ("seeds", args.seeds), ("steps", args.steps), ("json_path", args.json),
                                 ("recipes", args.recipes or None))
               if v is not None}
    try:
        chapter = find_chapter(args.chapter)
        if not chapter.benchmark:
            raise ValueError(f"chapter {chapter.number:02d} has no benchmark")
        configure_threads()
        run_benchmark = importlib.import_module(chapter.benchmark).run_benchmark
        accepted = inspect.signature(run_benchmark).parameters
        refused = ["--" + k.replace("_path", "").replace("_", "-") for k in options if k not in accepted]
        if refused:
            raise ValueError(f"bench ch{chapter.number:02d} does not take {', '.join(refused)}")
        run_benchmark(implementation=args.impl, **options)
    except (FileNotFoundError, ValueError) as err:
        print(f"molpractice bench: {err}", file=sys.stderr)
        return 2
    return 0


def _cmd_chapters(args) -> int:
    from .chapters import chapters, write_tables

    try:
        stale = write_tables(check=not args.write)
    except (FileNotFoundError, ValueError) as err:
        print(f"molpractice chapters: {err}", file=sys.stderr)
        return 2
    for c in chapters():
        print(f"ch{c.number:02d}  {c.exercise_range:<9} {c.notebook}")
    if args.write:
        print("rewrote: " + ", ".join(stale) if stale else "chapter tables already up to date")
        return 0
    if stale:
        print("stale chapter tables in " + ", ".join(stale) + "; run `molpractice chapters --write`", file=sys.stderr)
        return 1
    return 0


def _cmd_new_notebook(args) -> int:
    from .templates import write_notebook_skeleton

    try:
        path = write_notebook_skeleton(args.module, args.title)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"molpractice new-notebook: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}: fill it in, set the card's summary, execute it (`molpractice execute`), then "
          f"`molpractice chapters --write`")
    return 0


def _cmd_execute(args) -> int:
    from .notebooks import execute_notebook, refresh_specs

    try:
        for which in args.notebooks:
            if args.specs_only:
                done = refresh_specs(which)
                print(f"{which}: spec outputs refreshed for {', '.join(done) if done else 'nothing (all current)'}")
            else:
                execute_notebook(which, fast=args.fast, implementation=args.impl)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"molpractice execute: {err}", file=sys.stderr)
        return 2
    return 0


def _cmd_colab_links(args) -> int:
    """Point every notebook's Colab badge and setup cell (and molpractice/colab.py) at a repository and ref."""
    from .colab import rewrite_links
    from .repository import find_repo

    try:
        changed = rewrite_links(find_repo(args.repo), args.url, args.ref, check=args.check)
    except (FileNotFoundError, ValueError) as err:
        print(f"molpractice colab-links: {err}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print("stale Colab links in " + ", ".join(changed) + "; run `molpractice colab-links`", file=sys.stderr)
            return 1
        print("Colab badges and setup cells are up to date")
        return 0
    print("rewrote: " + ", ".join(changed) if changed else "Colab badges and setup cells already up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="molpractice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="grade exercises/ (or solutions/) of this repository")
    g.add_argument("which", nargs="?", default=None, help="chapter (1, ch01) or exercise (1.2); default all")
    g.add_argument("--impl", choices=["exercises", "solutions"], default="exercises")
    g.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise (default 60)")
    g.add_argument("--repo", default=None, help="curriculum repository (default: found from the cwd)")
    g.set_defaults(func=_cmd_grade)

    r = sub.add_parser("grade-room", help="grade several learners' copies into one CSV/JSON")
    r.add_argument("copies", nargs="+",
                   help="learner repositories, their exercises/ folders, or their save-work .zip archives")
    r.add_argument("--which", default=None, help="chapter or exercise; default all")
    r.add_argument("--csv", required=True, metavar="FILE")
    r.add_argument("--json", metavar="FILE")
    r.add_argument("--timeout", type=float, default=60.0)
    r.add_argument("--repo", default=None, help="repository whose graders are used (default: the cwd's)")
    r.set_defaults(func=_cmd_grade_room)

    sw = sub.add_parser("save-work", help="save your exercises/ into one zip file (to hand in, or to keep)")
    sw.add_argument("file", nargs="?", default=None,
                    help="the .zip to write, or a folder (default: molpractice-work-DATE-TIME.zip in the repository)")
    sw.add_argument("--repo", default=None, help="curriculum repository (default: found from the cwd)")
    sw.set_defaults(func=_cmd_save_work)

    rw = sub.add_parser("restore-work", help="put the exercises of a save-work archive back into exercises/")
    rw.add_argument("file", help="a .zip written by `molpractice save-work` or mp.save_work()")
    rw.add_argument("--force", action="store_true",
                    help="also replace files modified after the archive's copy was saved (default: keep them)")
    rw.add_argument("--repo", default=None, help="curriculum repository (default: found from the cwd)")
    rw.set_defaults(func=_cmd_restore_work)

    gb = sub.add_parser("grade-bench", help="time one check per exercise: cold (new session) and warm")
    gb.add_argument("which", nargs="?", default=None, help="chapter or exercise; default all")
    gb.add_argument("--impl", choices=["exercises", "solutions"], default="solutions")
    gb.add_argument("--repeats", type=int, default=3, help="warm runs per exercise (median and max are printed)")
    gb.add_argument("--json", metavar="FILE")
    gb.add_argument("--repo", default=None)
    gb.set_defaults(func=_cmd_grade_bench)

    m = sub.add_parser("make-exercises", help="regenerate exercises/ from solutions/")
    m.add_argument("--check", action="store_true", help="only check; exit 1 when out of sync")
    m.add_argument("--force", action="store_true", help="overwrite files that contain learner code")
    m.add_argument("--repo", default=None)
    m.set_defaults(func=_cmd_make_exercises)

    d = sub.add_parser("doctor", help="versions, device, run mode, data availability")
    d.set_defaults(func=_cmd_doctor)

    b = sub.add_parser("bench", help="a chapter's benchmark table")
    b.add_argument("chapter", help="e.g. ch01")
    b.add_argument("--impl", choices=["exercises", "solutions"], default=None,
                   help="whose code runs (default: MOLPRACTICE_IMPL, else exercises with stubs falling back)")
    b.add_argument("--csv", default=None, help="your own CSV instead of the embedded data set")
    b.add_argument("--smiles-col", default=None)
    b.add_argument("--target-col", default=None)
    b.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the chapter's settings)")
    b.add_argument("--steps", type=int, default=None, help="sampling steps (diffusion chapter)")
    b.add_argument("--json", default=None, metavar="FILE")
    b.add_argument("--recipes", action="store_true",
                   help="uncertainty chapter: choose the training recipe by cross-validation inside train instead")
    b.set_defaults(func=_cmd_bench)

    c = sub.add_parser("chapters", help="list chapters; --write regenerates the README and start-here tables")
    c.add_argument("--write", action="store_true", help="rewrite stale tables (default: check, exit 1 if stale)")
    c.set_defaults(func=_cmd_chapters)

    n = sub.add_parser("new-notebook", help="write the skeleton notebook of a chapter from its solution module")
    n.add_argument("module", help="chapter module name, e.g. ch06_active_learning (solutions/<module>.py must exist)")
    n.add_argument("--title", required=True, help="the title, without the chapter number")
    n.set_defaults(func=_cmd_new_notebook)

    e = sub.add_parser("execute", help="re-execute notebooks in place (reference solutions, full mode)")
    e.add_argument("notebooks", nargs="+", help="chapter numbers (03) or notebook paths")
    e.add_argument("--fast", action="store_true", help="fast mode (for a quick look; never commit its outputs)")
    e.add_argument("--impl", choices=["exercises", "solutions"], default="solutions")
    e.add_argument("--specs-only", action="store_true",
                   help="only rewrite the outputs of mp.show_spec cells whose docstring changed (no kernel)")
    e.set_defaults(func=_cmd_execute)
    k = sub.add_parser("colab-links", help="point every Colab badge and setup cell at a fork / a workshop branch")
    k.add_argument("url", nargs="?", default=None,
                   help="https://github.com/OWNER/REPO (default: keep molpractice/colab.py's REPO_URL)")
    k.add_argument("--ref", default=None, help="branch or tag the badges open and the setup cell clones")
    k.add_argument("--check", action="store_true", help="only check; exit 1 when a notebook is stale")
    k.add_argument("--repo", default=None, help="curriculum repository (default: found from the cwd)")
    k.set_defaults(func=_cmd_colab_links)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
