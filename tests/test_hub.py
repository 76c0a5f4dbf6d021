"""An instructor's day on a real JupyterHub (``scripts/workshop_hub.py``), checked against docs/instructors.md.

Five learners on a hub on 127.0.0.1 (configurable-http-proxy, SimpleLocalProcessSpawner, each learner in
their own home, this repository's environment). The course's "remote" is a local bare git repository holding
this checkout's files. Over the hub's REST API and HTTP, as a browser would:

1. every learner follows the nbgitpuller link written in docs/instructors.md and gets the curriculum;
2. two learners write code in exercise 0.1 (one correct, one wrong); the wrong one also edits a notebook; a
   third rewrites the very docstring line the instructor is about to change; a fourth deletes a notebook;
3. the instructor changes the exercise's docstring (in solutions/, then ``molpractice make-exercises``), a
   notebook and a file nobody touched, and pushes; every learner follows the link again;
4. what the guide promises is asserted: learners' edits survive (where both sides changed the same lines, the
   learner's side wins), other changes merge in (even into a file the learner wrote code in), untouched files
   are updated, deleted files come back, no conflict markers, notebooks still valid JSON;
5. the instructor collects the homes with the guide's own command and runs ``molpractice grade-room``.

Skips, naming what is missing, where jupyterhub, nbgitpuller or configurable-http-proxy are not installed
(``.ci/run`` installs them).
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import workshop_hub  # noqa: E402
from labserver import copy_checkout  # noqa: E402

MISSING = workshop_hub.missing_components()
REQUIRED = os.environ.get("MOLPRACTICE_REQUIRE_ROOM") == "1"  # set by .ci/run: there, missing tools fail
pytestmark = [
    pytest.mark.skipif(bool(MISSING) and not REQUIRED, reason="needs " + ", ".join(MISSING) + " (.ci/run installs them)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds leftover processes through /proc"),
]

GUIDE = REPO / "docs" / "instructors.md"
EXERCISE = "molpractice/exercises/ch00_start_here.py"
NOTEBOOK = "molpractice/notebooks/00_start_here.ipynb"
UNTOUCHED = "molpractice/data/README.md"
DELETED = "molpractice/notebooks/05_research_rigor_drills.ipynb"
LEARNERS = ["ada", "bo", "cy", "dee", "eve"]
OLD_LINE = "Boltzmann probabilities of a set of states, their mean energy and their entropy."
NEW_LINE = "Boltzmann probabilities of a set of states, their mean energy and their entropy (in nats)."
CY_LINE = "Boltzmann probabilities (cy: remember the log-sum-exp trick)."

CORRECT = '''
    logits = -(energies - energies.min()) / temperature
    log_p = logits - np.log(np.sum(np.exp(logits)))
    p = np.exp(log_p)
    return p, float(np.sum(p * energies)), float(-np.sum(p * log_p))
'''
WRONG = '''
    p = np.exp(-energies / temperature)
    p = p / p.sum()
    return p, float(p @ energies), float(-(p * np.log(p)).sum())
'''


def _git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=Instructor", "-c", "user.email=instructor@example.org",
                           "-c", "init.defaultBranch=main", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout


def _course_remote(tmp: Path, branch: str) -> Path:
    """A bare repository .../OWNER/molpractice holding this checkout's files (one commit on ``branch``)."""
    staging = copy_checkout(REPO, tmp / "staging")
    _git("init", "-q", "-b", branch, cwd=staging)
    _git("add", "-A", cwd=staging)
    _git("commit", "-q", "-m", "Course as handed out", cwd=staging)
    remote = tmp / "remote" / "OWNER" / "molpractice"
    remote.parent.mkdir(parents=True)
    _git("clone", "-q", "--bare", str(staging), str(remote), cwd=tmp)
    return remote


def _guide_link(hub_url: str, repo_url: str, branch: str) -> str:
    """The nbgitpuller link exactly as docs/instructors.md writes it, with this hub, remote and branch."""
    text = GUIDE.read_text()
    link = re.search(r"https://HUB/hub/user-redirect/git-pull\?\S+", text)
    assert link, "docs/instructors.md no longer shows an nbgitpuller link starting https://HUB/hub/user-redirect/"
    link = link.group(0)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert query["repo"] == ["https://github.com/OWNER/molpractice"], query
    link = link.replace("https://HUB", hub_url)
    link = link.replace(urllib.parse.quote("https://github.com/OWNER/molpractice", safe=""),
                        urllib.parse.quote(repo_url, safe=""))
    return link.replace(f"branch={query['branch'][0]}", f"branch={branch}")


def _guide_collect_command() -> str:
    """The shell block of the guide's 'Collect the copies' step (TLJH homes)."""
    text = GUIDE.read_text()
    block = re.search(r"```bash\n\s*(mkdir -p ~/room .*?)```", text, re.S)
    assert block, "docs/instructors.md no longer has the `mkdir -p ~/room …` collection block"
    return block.group(1)


def _replace_body(source: str, body: str) -> str:
    """Replace the stub's ``raise NotImplementedError(...)`` line with ``body`` (what a learner does)."""
    lines = source.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.strip().startswith("raise NotImplementedError")]
    assert len(at) == 1, "exercise 0.1's stub should have one NotImplementedError line"
    return "".join(lines[:at[0]]) + body.lstrip("\n") + "".join(lines[at[0] + 1:])


def test_an_instructors_day_on_a_real_hub(tmp_path):
    assert not MISSING, "MOLPRACTICE_REQUIRE_ROOM=1 but this machine lacks " + ", ".join(MISSING)
    branch = "workshop"
    remote = _course_remote(tmp_path, branch)
    room = workshop_hub.Room(LEARNERS, directory=tmp_path / "hub", env={"MOLPRACTICE_FAST": "1"})
    with room:
        link = _guide_link(room.url, remote.as_uri(), branch)
        # 1. every learner (all at once, as in a room) starts their server, follows the link and gets the curriculum
        room.start_servers(LEARNERS)
        room.follow_links(LEARNERS, link)
        for name in LEARNERS:
            assert (room.home(name) / EXERCISE).is_file(), f"{name} did not get the curriculum"
            stub = room.read_file(name, EXERCISE)
            assert "raise NotImplementedError" in stub
        original_notebook = json.loads(room.read_file(LEARNERS[0], NOTEBOOK))

        # 2. ada solves 0.1, bo writes a wrong answer and adds a note to the start notebook (through Lab's API)
        stub = room.read_file("ada", EXERCISE)
        room.write_file("ada", EXERCISE, _replace_body(stub, CORRECT))
        room.write_file("bo", EXERCISE, _replace_body(stub, WRONG))
        nb = json.loads(room.read_file("bo", NOTEBOOK))
        nb["cells"].append({"cell_type": "markdown", "id": "bo-notes", "metadata": {},
                            "source": ["My notes: subtract the minimum energy first."]})
        room.write_file("bo", NOTEBOOK, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        # cy rewrites the very docstring line the instructor will change; dee deletes a notebook
        room.write_file("cy", EXERCISE, stub.replace(OLD_LINE, CY_LINE))
        room.delete_file("dee", DELETED)
        assert not (room.home("dee") / DELETED).exists()

        # 3. the instructor edits the spec (solution docstring -> make-exercises), a notebook and an untouched file
        work = tmp_path / "instructor"
        _git("clone", "-q", "-b", branch, str(remote), str(work), cwd=tmp_path)
        solution = work / "solutions" / "ch00_start_here.py"
        assert OLD_LINE in solution.read_text()
        solution.write_text(solution.read_text().replace(OLD_LINE, NEW_LINE))
        subprocess.run([sys.executable, "-m", "molpractice", "make-exercises"], cwd=work, check=True,
                       capture_output=True, text=True)
        assert NEW_LINE in (work / "exercises" / "ch00_start_here.py").read_text()
        nb_path = work / "notebooks" / "00_start_here.ipynb"
        nb = json.loads(nb_path.read_text())
        title = nb["cells"][0]
        title["source"] = ["".join(title["source"]).rstrip("\n") + "\n\n*Workshop edition: ask for help any time.*"]
        nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        readme = work / "data" / "README.md"
        readme.write_text(readme.read_text() + "\nWorkshop note: the data sets are already cached on this hub.\n")
        _git("commit", "-q", "-am", "Workshop update", cwd=work)
        _git("push", "-q", "origin", branch, cwd=work)

        room.follow_links(LEARNERS, link)

        # 4. what the guide promises
        for name in LEARNERS:
            home = room.home(name) / "molpractice"
            exercise = room.read_file(name, EXERCISE)
            if name == "cy":  # both sides changed that line: the learner's side wins, silently
                assert CY_LINE in exercise and NEW_LINE not in exercise, "cy's own line should have won"
            else:  # a docstring change merges even into a file the learner wrote code in
                assert NEW_LINE in exercise, f"{name}: the updated docstring did not arrive"
            if name == "ada":
                assert CORRECT.strip() in exercise, "ada's solution was lost in the update"
            elif name == "bo":
                assert WRONG.strip() in exercise, "bo's code was lost in the update"
            else:
                assert "raise NotImplementedError" in exercise
            assert "Workshop note" in room.read_file(name, UNTOUCHED), f"{name}: untouched file not updated"
            notebook = json.loads(room.read_file(name, NOTEBOOK))  # still valid JSON
            assert len(notebook["cells"]) == len(original_notebook["cells"]) + (name == "bo")
            assert "Workshop edition" in "".join(notebook["cells"][0]["source"]), f"{name}: notebook update lost"
            assert (home / DELETED.split("/", 1)[1]).is_file(), f"{name}: a deleted file did not come back"
            if name == "bo":
                assert notebook["cells"][-1]["source"] == ["My notes: subtract the minimum energy first."]
            status = subprocess.run(["git", "status", "--porcelain"], cwd=home, capture_output=True,
                                    text=True).stdout
            markers = subprocess.run(["git", "grep", "-l", "-e", "^<<<<<<< ", "-e", "^>>>>>>> "], cwd=home,
                                     capture_output=True, text=True).stdout
            assert not markers, f"{name}: conflict markers in {markers}"
            assert "__20" not in status, f"{name}: nbgitpuller renamed a file out of the way: {status}"

        # 5. collect the homes as the guide says and grade the room
        script = _guide_collect_command().replace("sudo ", "").replace("/home/", f"{room.homes}/")
        env = dict(os.environ, HOME=str(tmp_path / "instructor-home"), USER=os.environ.get("USER", "root"))
        Path(env["HOME"]).mkdir()
        subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], env=env, check=True, capture_output=True,
                       text=True)
        collected = sorted((Path(env["HOME"]) / "room").iterdir())
        assert [p.name for p in collected] == sorted(LEARNERS)
        out = tmp_path / "room.csv"
        run = subprocess.run([sys.executable, "-m", "molpractice", "grade-room", *map(str, collected),
                              "--which", "0.1", "--csv", str(out), "--timeout", "60"],
                             cwd=REPO, env=dict(os.environ, HOME=env["HOME"]), capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
    assert room.leftovers() == [], f"processes left behind by the hub: {room.leftovers()}"

    rows = list(csv.DictReader(out.open()))
    verdicts = {row["learner"]: row for row in rows}
    assert len(rows) == len(LEARNERS) and set(verdicts) == set(LEARNERS), rows
    assert verdicts["ada"]["status"] == "passed", verdicts["ada"]
    assert verdicts["bo"]["status"] == "failed" and "minimum" in verdicts["bo"]["message"], verdicts["bo"]
    for name in ("cy", "dee", "eve"):
        assert verdicts[name]["status"] == "not started", verdicts[name]
