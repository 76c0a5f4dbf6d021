"""Every chapter notebook follows the skeleton of CONTRIBUTING.md (after ../shared/STYLE.md), the
generated chapter tables are up to date, and the new-notebook generator produces that skeleton."""
import json
import re
import shutil
from pathlib import Path

import pytest

from molpractice import chapters
from molpractice.colab import badge_markdown, setup_cell_source

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = chapters.chapters(REPO)
MAX_CELL_LINES, MAX_CODE_LINES = 40, 300


def _cells(repo, chapter):
    return json.loads((Path(repo) / "notebooks" / chapter.notebook).read_text())["cells"]


def _src(cell):
    return "".join(cell.get("source", ""))


def _ids(chapter):
    return sorted({i for i, _ in chapter.exercises}, key=lambda i: tuple(map(int, i.split("."))))


def check_title_badge_goals_time(cells, chapter):
    first = cells[0]
    text = _src(first)
    assert first["cell_type"] == "markdown"
    assert re.match(rf"# {chapter.number:02d} · \S", text), f"{chapter.notebook}: the title must read '# {chapter.number:02d} · …'"
    assert badge_markdown(chapter.notebook) in text, f"{chapter.notebook}: the Colab badge is missing or stale"
    assert "You will learn" in text and "Time:" in text, f"{chapter.notebook}: 'You will learn' and 'Time:' go in the first cell"


def check_sections_in_order(cells, chapter):
    headings = [line[3:].strip() for c in cells if c["cell_type"] == "markdown"
                for line in _src(c).splitlines() if line.startswith("## ")]
    wanted = (["Background"] + [f"Exercise {i}" for i in _ids(chapter)]
              + ["Results", "Diagnostics", "Interview angle", "Going further", "References"])
    positions = []
    for want in wanted:
        hits = [k for k, h in enumerate(headings) if h.startswith(want)]
        assert hits, f"{chapter.notebook}: no '## {want}' heading (headings: {headings})"
        positions.append(hits[0])
    assert positions == sorted(positions), f"{chapter.notebook}: sections out of order: {list(zip(wanted, positions))}"


def check_specs_and_checks(cells, chapter):
    code = [_src(c) for c in cells if c["cell_type"] == "code"]
    assert code[0] == setup_cell_source(), f"{chapter.notebook}: the first code cell must be the shared setup cell"
    for ex in _ids(chapter):
        assert any(f'mp.show_spec("{ex}")' in s for s in code), \
            f"{chapter.notebook}: no `mp.show_spec(\"{ex}\")` cell (the docstring is the only spec)"
        assert any(s.lstrip().startswith("# NBVAL_CHECK_OUTPUT") and f'mp.check("{ex}")' in s for s in code), \
            f"{chapter.notebook}: no checked `mp.check(\"{ex}\")` cell"


def check_inline_code(cells, chapter):
    code = [_src(c) for c in cells if c["cell_type"] == "code"][1:]  # the setup cell is shared
    lines = [sum(1 for line in s.splitlines() if line.strip()) for s in code]
    longest = max(lines, default=0)
    assert longest <= MAX_CELL_LINES, (f"{chapter.notebook}: a code cell has {longest} lines (max {MAX_CELL_LINES}); "
                                       f"move reusable code into molpractice/, where it is tested")
    assert sum(lines) <= MAX_CODE_LINES, f"{chapter.notebook}: {sum(lines)} lines of code (max {MAX_CODE_LINES})"
    assert not any("set_num_threads" in s or "mp.pick(" in s for s in code), \
        f"{chapter.notebook}: run settings come from the chapter's SETTINGS and threads from mp.setup()"


CHECKS = (check_title_badge_goals_time, check_sections_in_order, check_specs_and_checks, check_inline_code)


def test_every_numbered_notebook_is_a_registered_chapter():
    on_disk = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert on_disk == sorted(c.notebook for c in CHAPTERS)
    for c in CHAPTERS:
        assert c.notebook.startswith(f"{c.number:02d}_"), f"{c.notebook}: its card says chapter {c.number}"
        assert c.exercises, f"{c.module}: the docstring lists no exercises"


def test_chapter_tables_are_generated_and_current():
    stale = chapters.write_tables(REPO, check=True)
    assert not stale, f"stale chapter tables in {stale}: run `molpractice chapters --write`"


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.notebook)
def test_notebook_skeleton(chapter, check):
    check(_cells(REPO, chapter), chapter)


def test_new_notebook_skeleton_passes_the_same_checks(tmp_path):
    from molpractice.templates import write_notebook_skeleton

    repo = tmp_path / "repo"
    for sub in ("solutions", "exercises", "tests/graders", "notebooks"):
        (repo / sub).mkdir(parents=True)
    shutil.copy(REPO / "solutions" / "ch00_start_here.py", repo / "solutions" / "ch07_demo.py")
    path = write_notebook_skeleton("ch07_demo", "A demo chapter", repo)
    assert path.name == "07_demo.ipynb"
    [chapter] = chapters.chapters(repo)
    assert chapter.exercises == (("0.1", "softmax_energy_stats"),) and chapter.title == "07 · A demo chapter"
    for check in CHECKS:
        check(_cells(repo, chapter), chapter)
    with pytest.raises(FileExistsError):
        write_notebook_skeleton("ch07_demo", "again", repo)


def test_structure_checks_reject_a_notebook_without_spec_cells():
    chapter = next(c for c in CHAPTERS if c.number == 0)
    cells = [c for c in _cells(REPO, chapter) if "mp.show_spec" not in _src(c)]
    with pytest.raises(AssertionError, match="show_spec"):
        check_specs_and_checks(cells, chapter)
