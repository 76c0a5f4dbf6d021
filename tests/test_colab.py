"""The Colab setup cell, offline: ``google.colab`` simulated in a subprocess, a local bare clone as the remote.

- the cell clones ``MOLPRACTICE_REPO`` at ``MOLPRACTICE_REF``, installs, changes into ``notebooks/`` and ends with
  ``mp.setup()``; re-running it does nothing twice; a failed clone or install says what failed and leaves
  nothing half-done (no checkout, or no "installed" marker), and the next run recovers;
- on Colab the learner's ``exercises/`` is kept on (a simulated) Google Drive: the first run copies the stubs
  there, a new runtime uses the learner's files as they are, an update adds new stubs and never touches the
  learner's code; a declined or failed mount, or ``MOLPRACTICE_DRIVE=0``, says plainly that work is not kept;
- the pip commands it runs never replace an installed PyTorch: pip's own plan (``--dry-run --report``) for the
  exact commands, in this environment (real torch) and in a fresh one holding a Colab-like CUDA torch;
- ``molpractice colab-links`` points every badge and setup cell of a copy at a fork, and nothing else changes.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from molpractice import colab

REPO = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "cache", "*.egg-info", ".ipynb_checkpoints")


# ------------------------------------------------------------------------------------------ the cell
def test_setup_cell_is_valid_python_ending_with_setup():
    source = colab.setup_cell_source()
    compile(source, "setup-cell", "exec")
    assert source.splitlines()[-1] == "mp.setup();"
    assert len(source.splitlines()) <= 40
    for name in ("MOLPRACTICE_REPO", "MOLPRACTICE_REF", "MOLPRACTICE_HOME", colab.REPO_URL, colab.REPO_REF):
        assert name in source
    assert "torch" not in source.split("import molpractice")[0].replace("PyTorch", ""), "the cell never names torch"


def test_badge_and_cell_come_from_the_constants():
    assert colab.badge_markdown("00_start_here.ipynb") == (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google"
        f".com/github/{colab.github_path(colab.REPO_URL)}/blob/{colab.REPO_REF}/notebooks/00_start_here.ipynb)")
    fork = colab.badge_markdown("01_x.ipynb", "https://github.com/me/mp-fork.git", "workshop")
    assert fork.endswith("(https://colab.research.google.com/github/me/mp-fork/blob/workshop/notebooks/01_x.ipynb)")
    with pytest.raises(ValueError, match="GitHub only"):
        colab.badge_markdown("x.ipynb", "https://gitlab.com/me/molpractice")


def test_colab_packages_have_pyproject_bounds():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in colab.COLAB_PACKAGES:
        assert requirement in deps, f"{requirement} differs from pyproject.toml's {deps}"
    assert not any(r.split(">")[0].split("=")[0].strip() == "torch" for r in colab.COLAB_PACKAGES)


# ----------------------------------------------------------------------------- simulated Colab run
_RUNNER = textwrap.dedent('''
    import os, sys, types
    google = types.ModuleType("google"); google.__path__ = []
    google.colab = types.ModuleType("google.colab"); google.colab.__path__ = []
    drive, files = types.ModuleType("google.colab.drive"), types.ModuleType("google.colab.files")

    def mount(mountpoint, force_remount=False, **kwargs):
        """Colab's drive.mount, simulated: FAKE_DRIVE is the learner's Drive; FAKE_DRIVE_MODE=decline raises
        (access not allowed), =nothing returns without mounting."""
        mode = os.environ.get("FAKE_DRIVE_MODE", "allow")
        if mode == "decline":
            raise ValueError("mount failed")
        if mode == "allow":
            os.makedirs(mountpoint, exist_ok=True)
            os.symlink(os.environ["FAKE_DRIVE"], os.path.join(mountpoint, "MyDrive"))
            print("Mounted at " + mountpoint)

    drive.mount = mount
    files.download = lambda path: print("DOWNLOAD=" + path)
    google.colab.drive, google.colab.files = drive, files
    sys.modules.update({"google": google, "google.colab": google.colab, "google.colab.drive": drive,
                        "google.colab.files": files})
    cell = open(sys.argv[1]).read()
    if os.environ.get("RUNNER_NO_REPORT"):  # a run that checks only what comes before mp.setup() (saves torch's import)
        cell = cell.replace("mp.setup();", "")
    exec(compile(cell, "setup-cell", "exec"), {"__name__": "__main__"})
    import molpractice
    print("CWD=" + os.getcwd())
    print("MOLPRACTICE=" + molpractice.__file__)
    exec(os.environ.get("RUNNER_THEN", ""))
''')

_FAKE_PIP = textwrap.dedent('''
    """Stands in for pip: records its arguments (and the constraint file's text); fails while FAKE_PIP_FAIL exists."""
    import json, os, sys
    args = sys.argv[1:]
    constraint = open(args[args.index("-c") + 1]).read() if "-c" in args else None
    with open(os.environ["FAKE_PIP_LOG"], "a") as fh:
        fh.write(json.dumps({"args": args, "constraint": constraint}) + "\\n")
    if os.path.exists(os.environ["FAKE_PIP_FAIL"]):
        print("ERROR: No matching distribution found for rdkit>=2023.9", file=sys.stderr)
        sys.exit(1)
''')


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A bare repository holding this working tree (committed or not), as Colab's "GitHub"."""
    base = tmp_path_factory.mktemp("remote")
    work = base / "work"
    shutil.copytree(REPO, work, ignore=COPY_IGNORE)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"], ["branch", "-M", "workshop"]):
        subprocess.run([*git, *args], cwd=work, check=True, capture_output=True)
    subprocess.run([*git, "clone", "-q", "--bare", str(work), str(base / "molpractice.git")], check=True,
                   capture_output=True)
    return base / "molpractice.git"


class _Colab:
    def __init__(self, tmp_path, remote):
        self.tmp = tmp_path
        self.cell = tmp_path / "cell.py"
        self.cell.write_text(colab.setup_cell_source())
        (tmp_path / "runner.py").write_text(_RUNNER)
        fake = tmp_path / "fakepip" / "pip"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text("")
        (fake / "__main__.py").write_text(_FAKE_PIP)
        self.log, self.fail = tmp_path / "pip.log", tmp_path / "pip.fail"
        self.home = tmp_path / "content" / "molpractice"
        self.mount = tmp_path / "content" / "drive"
        self.drive = tmp_path / "google-drive"  # the learner's Drive: outlives every runtime
        self.drive.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MOLPRACTICE_")}
        self.env.update(MOLPRACTICE_HOME=str(self.home), MOLPRACTICE_REPO=f"file://{remote}",
                        MOLPRACTICE_REF="workshop", PYTHONPATH=str(tmp_path / "fakepip"), MPLBACKEND="Agg",
                        FAKE_PIP_LOG=str(self.log), FAKE_PIP_FAIL=str(self.fail),
                        MOLPRACTICE_DRIVE_MOUNT=str(self.mount), FAKE_DRIVE=str(self.drive))

    def new_runtime(self):
        """Colab recycled the runtime: its disk (the clone, the mount) is gone; Drive stays."""
        shutil.rmtree(self.home.parent)

    def run(self, **env):
        return subprocess.run([sys.executable, str(self.tmp / "runner.py"), str(self.cell)], cwd=self.tmp,
                              env=dict(self.env, **env), capture_output=True, text=True, timeout=300)

    def pip_calls(self):
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


def test_simulated_colab_first_run_and_rerun(tmp_path, remote):
    sim = _Colab(tmp_path, remote)
    first = sim.run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"cloning file://{remote} (workshop)" in first.stdout
    assert (sim.home / ".git").is_dir() and (sim.home / "exercises").is_dir()
    assert f"CWD={sim.home / 'notebooks'}" in first.stdout
    assert f"MOLPRACTICE={sim.home / 'molpractice' / '__init__.py'}" in first.stdout, "not the clone's package"
    assert "molpractice | device:" in first.stdout, "the cell must end with mp.setup()'s report"
    calls = sim.pip_calls()
    assert [c["args"][:1] for c in calls] == [["install"], ["install"]]
    import torch

    for call in calls:
        assert call["constraint"].strip() == f"torch=={torch.__version__}", call
        assert not any(re.match(r"torch([<>=!~ ]|$)", a) for a in call["args"]), f"installs torch: {call}"
    assert calls[1]["args"][-3:] == ["--no-deps", "-e", str(sim.home)]
    assert (sim.home / colab.MARKER).is_file()

    again = sim.run()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "cloning" not in again.stdout and "already installed" in again.stdout
    assert len(sim.pip_calls()) == 2, "a re-run must not install again"
    assert "molpractice | device:" in again.stdout and "ignored" not in again.stdout
    other = sim.run(MOLPRACTICE_REF="main")
    assert other.returncode == 0 and "MOLPRACTICE_REF=main is ignored" in other.stdout, other.stdout


def test_simulated_colab_failed_clone_says_so_and_leaves_nothing(tmp_path, remote):
    sim = _Colab(tmp_path, remote)
    bad = sim.run(MOLPRACTICE_REPO=f"file://{tmp_path / 'no-such-repo.git'}")
    assert bad.returncode != 0
    assert "could not clone" in bad.stderr and "no-such-repo.git" in bad.stderr and "MOLPRACTICE_REPO" in bad.stderr
    assert not sim.home.exists() and not Path(str(sim.home) + ".partial").exists()
    assert sim.pip_calls() == []
    wrong_ref = sim.run(MOLPRACTICE_REF="no-such-branch")
    assert wrong_ref.returncode != 0 and "'no-such-branch'" in wrong_ref.stderr
    assert sim.run().returncode == 0 and (sim.home / ".git").is_dir()


def test_simulated_colab_failed_install_is_retried(tmp_path, remote):
    sim = _Colab(tmp_path, remote)
    sim.fail.write_text("")
    bad = sim.run()
    assert bad.returncode != 0
    assert "installing failed" in bad.stderr and "No matching distribution found for rdkit" in bad.stderr
    assert "re-run this cell" in bad.stderr
    assert not (sim.home / colab.MARKER).exists(), "a failed install must not be marked done"
    sim.fail.unlink()
    good = sim.run()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "cloning" not in good.stdout, "the complete clone is reused"
    assert (sim.home / colab.MARKER).is_file() and len(sim.pip_calls()) == 3


# ------------------------------------------------------------------------ work kept on Google Drive
def _stub_names():
    return sorted(p.name for p in (REPO / "exercises").glob("*.py"))


def _solved_ch00(stub: str) -> str:
    """The chapter-0 stub with the reference's body in place of its ``raise NotImplementedError``."""
    solution = (REPO / "solutions" / "ch00_start_here.py").read_text().split("def softmax_energy_stats", 1)[1]
    body = solution.split("# BEGIN SOLUTION\n", 1)[1].split("    # END SOLUTION", 1)[0]
    line = next(x for x in stub.splitlines(keepends=True) if 'raise NotImplementedError("Exercise 0.1' in x)
    return stub.replace(line, body)


def _push_update(remote, tmp_path, branch):
    """A new commit on ``branch`` of the remote: a new exercise file ch99_extra.py, and changed stubs of ch01 and
    ch02 (an update of the curriculum during a course)."""
    work = tmp_path / "update-work"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "clone", "-q", "--branch", "workshop", f"file://{remote}", str(work)], check=True,
                   capture_output=True)
    (work / "exercises" / "ch99_extra.py").write_text('"""A chapter added by an update."""\n')
    changed = []
    for name in ("ch01_solubility_gnn.py", "ch02_equivariance.py"):
        path = work / "exercises" / name
        path.write_text(path.read_text() + "\n# updated spec\n")
        changed.append(name)
    for args in (["add", "-A"], ["commit", "-q", "-m", "update"], ["push", "-q", "origin", f"HEAD:{branch}"]):
        subprocess.run([*git, *args], cwd=work, check=True, capture_output=True)
    return changed


def test_simulated_colab_keeps_work_on_drive_across_runtimes(tmp_path, remote):
    sim = _Colab(tmp_path, remote)
    on_drive = sim.drive / "molpractice" / "exercises"
    names = _stub_names()
    # first run: Drive mounted, the stubs copied there, exercises/ of the clone links to it
    first = sim.run()
    print("--- first run\n" + first.stdout)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (f"your exercises are kept on Google Drive in MyDrive/molpractice/exercises ({len(names)} files copied "
            f"there now)") in first.stdout
    assert (sim.home / "exercises").is_symlink() and (sim.home / "exercises").resolve() == on_drive.resolve()
    assert sorted(p.name for p in on_drive.glob("*.py")) == names
    assert all((on_drive / n).read_bytes() == (REPO / "exercises" / n).read_bytes() for n in names)
    assert "molpractice | device:" in first.stdout and "NOT KEPT" not in first.stdout
    # the learner works: through the clone's path (what Colab's editor opens) and a file of their own
    mine = _solved_ch00((sim.home / "exercises" / "ch00_start_here.py").read_text()) + "\nLEARNER = 'my code'\n"
    (sim.home / "exercises" / "ch00_start_here.py").write_text(mine)
    (sim.home / "exercises" / "my_helpers.py").write_text("HELP = 1\n")
    assert (on_drive / "ch00_start_here.py").read_text() == mine and (on_drive / "my_helpers.py").is_file()
    again = sim.run(RUNNER_NO_REPORT="1")  # re-running the cell in the same runtime changes nothing
    assert again.returncode == 0 and "are used as they are" in again.stdout and "Mounted" not in again.stdout

    # second run: a new runtime (fresh clone); the learner's files are used as they are, and imported
    sim.new_runtime()
    second = sim.run(RUNNER_THEN="import molpractice as mp; print('LEARNER=' + "
                                 "mp.load_chapter('ch00_start_here').LEARNER); mp.check('0.1')")
    print("--- second run\n" + second.stdout)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "cloning" in second.stdout
    assert f"your {len(names) + 1} files are used as they are" in second.stdout
    assert "new from the curriculum" not in second.stdout
    assert (on_drive / "ch00_start_here.py").read_text() == mine and (on_drive / "my_helpers.py").is_file()
    assert "LEARNER=my code" in second.stdout, "the notebook must import the learner's file from Drive"
    assert re.search(r"0\.1 +passed", second.stdout), "mp.check must grade the learner's file on Drive"

    # an update: a new exercise file arrives as a stub; untouched stubs follow the update; the learner's never
    (on_drive / "ch02_equivariance.py").write_text("# my equivariance work\n")
    changed = _push_update(remote, tmp_path, "update-1")
    sim.new_runtime()
    third = sim.run(MOLPRACTICE_REF="update-1", RUNNER_NO_REPORT="1")
    print("--- after an update\n" + third.stdout)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "new from the curriculum: ch99_extra.py" in third.stdout
    assert (on_drive / "ch99_extra.py").read_text() == '"""A chapter added by an update."""\n'
    assert f"stubs you had not started, updated to the curriculum's: {changed[0]}" in third.stdout
    assert (on_drive / changed[0]).read_text().endswith("# updated spec\n")
    assert f"the curriculum changed {changed[1]} since you started it: yours is kept" in third.stdout
    assert (on_drive / changed[1]).read_text() == "# my equivariance work\n"
    assert (sim.home / colab.NEW_STUBS / changed[1]).read_text().endswith("# updated spec\n")
    assert (on_drive / "ch00_start_here.py").read_text() == mine and (on_drive / "my_helpers.py").is_file()


def test_simulated_colab_without_drive_says_work_is_not_kept(tmp_path, remote):
    sim = _Colab(tmp_path, remote)
    declined = sim.run(FAKE_DRIVE_MODE="decline",
                       RUNNER_THEN="import molpractice as mp; mp.save_work()")
    print("--- declined\n" + declined.stdout)
    assert declined.returncode == 0, declined.stdout + declined.stderr
    out = declined.stdout
    assert "YOUR WORK IS NOT KEPT: Google Drive was not mounted (ValueError: mount failed)" in out
    assert "mp.save_work()" in out and "restore-work" in out and "molpractice | device:" in out
    ex = sim.home / "exercises"
    assert ex.is_dir() and not ex.is_symlink() and not any(sim.drive.iterdir())
    archive = Path(re.search(r"DOWNLOAD=(\S+)", out).group(1))
    assert archive.is_file() and archive.parent == sim.home, "mp.save_work() on Colab offers the archive"
    nothing = sim.run(FAKE_DRIVE_MODE="nothing", RUNNER_NO_REPORT="1")
    assert "NOT KEPT: Google Drive was not mounted" in nothing.stdout and not ex.is_symlink()
    off = sim.run(MOLPRACTICE_DRIVE="0", RUNNER_NO_REPORT="1")
    assert "NOT KEPT: MOLPRACTICE_DRIVE=0" in off.stdout and "mounting" not in off.stdout
    # work done without Drive, then Drive allowed: that work is moved aside, never lost
    (ex / "ch00_start_here.py").write_text("# written before Drive\n")
    allowed = sim.run(RUNNER_NO_REPORT="1")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    aside = sim.home / "exercises.before-drive"
    assert f"moved to {aside}" in allowed.stdout
    assert (aside / "ch00_start_here.py").read_text() == "# written before Drive\n"
    assert ex.is_symlink() and (sim.drive / "molpractice" / "exercises" / "ch00_start_here.py").is_file()


def test_drive_folder_choice(monkeypatch):
    for raw, want in (("", "molpractice"), ("1", "molpractice"), ("yes", "molpractice"), ("0", None),
                      ("off", None), ("courses/ml-2027", "courses/ml-2027")):
        monkeypatch.setenv("MOLPRACTICE_DRIVE", raw)
        assert colab.drive_folder() == want, raw
    for bad in ("/abs", "../out", "a/../b"):
        monkeypatch.setenv("MOLPRACTICE_DRIVE", bad)
        with pytest.raises(ValueError, match="MOLPRACTICE_DRIVE"):
            colab.drive_folder()


# ------------------------------------------------------------------------ pip's plan keeps torch
# pip plans against the package index (the waits of this file): each plan is prepared by a function that the
# `early` mark starts when the session's tests are collected (tests/conftest.py), and the test asserts on it.
def _dry_run(python, commands, tmp_path):
    """Run each command with ``--dry-run --report``; return the names pip would install."""
    planned = []
    for i, command in enumerate(commands):
        report = tmp_path / f"report{i}.json"
        result = subprocess.run([*command, "--dry-run", "--report", str(report)], capture_output=True, text=True,
                                timeout=900, env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
        if result.returncode != 0 and re.search(r"No matching distribution|Could not find a version|"
                                                r"connection|Network is unreachable", result.stderr):
            pytest.skip(f"no package index reachable for pip's plan: {result.stderr.strip()[-300:]}")
        assert result.returncode == 0, result.stderr[-3000:]
        planned += [item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]]
    return planned


def _plan_in_this_environment(tmp_path):
    constraints = tmp_path / "keep-torch.txt"
    constraints.write_text(colab.torch_constraint())
    return _dry_run(sys.executable, colab.install_commands(REPO, constraints), tmp_path)


@pytest.mark.early(prepare=_plan_in_this_environment)
def test_install_commands_keep_this_environments_torch(early):
    planned = early
    print(f"{sys.executable}: pip would install {sorted(planned)}")
    assert "torch" not in planned, planned
    assert "molpractice" in planned


def _plan_in_a_colab_like_environment(tmp_path):
    """A fresh environment with only a Colab-like torch (a version no index has): pip's plan for the setup
    cell's commands there, and pip's answer to a requirement that would replace that torch."""
    venv = tmp_path / "colab-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    python = str(venv / "bin" / "python")
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    dist = site / "torch-2.5.1+cu121.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.5.1+cu121\n")
    (dist / "INSTALLER").write_text("pip\n")
    (dist / "RECORD").write_text("")
    constraints = tmp_path / "keep-torch.txt"
    constraints.write_text("torch==2.5.1+cu121\n")
    planned = _dry_run(python, colab.install_commands(REPO, constraints, python=python), tmp_path)
    clash = subprocess.run([python, "-m", "pip", "install", "-q", "-c", str(constraints), "--dry-run", "torch>=2.6"],
                           capture_output=True, text=True, timeout=600)
    return python, planned, clash


@pytest.mark.early(prepare=_plan_in_a_colab_like_environment)
def test_install_commands_keep_a_colab_cuda_torch(early):
    """A fresh environment with only a Colab-like torch (a version no index has): pip plans everything else."""
    python, planned, clash = early
    print(f"{python}: pip would install {sorted(planned)}")
    assert "torch" not in planned, planned
    assert {"rdkit", "datamol", "torch-geometric", "torch_geometric"} & set(planned) >= {"rdkit", "datamol"}, planned
    assert "molpractice" in planned
    # and the constraint is what holds torch: a requirement that would replace it makes pip refuse, not reinstall
    assert clash.returncode != 0, clash.stdout


# ------------------------------------------------------------------------------------ colab-links
def _fork_copy(tmp_path):
    copy = tmp_path / "fork"
    for part in ("molpractice", "notebooks", "exercises", "solutions", "tests"):
        shutil.copytree(REPO / part, copy / part, ignore=COPY_IGNORE)
    return copy


def _load_colab(copy):
    import importlib.util

    spec = importlib.util.spec_from_file_location("fork_colab", copy / "molpractice" / "colab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _without_links(nb):
    nb = json.loads(json.dumps(nb))
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["source"] = []
    for c in nb["cells"]:
        if c["cell_type"] == "markdown":
            c["source"] = colab._BADGE.sub("BADGE", "".join(c["source"]))
    return nb


def test_colab_links_points_a_fork_everywhere(tmp_path):
    copy = _fork_copy(tmp_path)
    notebooks = sorted((copy / "notebooks").glob("[0-9]*.ipynb"))
    assert notebooks
    before = {p.name: json.loads(p.read_text()) for p in notebooks}
    cli = [sys.executable, "-m", "molpractice", "colab-links"]
    result = subprocess.run([*cli, "https://github.com/acme/mp-workshop", "--ref", "spring-2027", "--repo", str(copy)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    fork = _load_colab(copy)
    assert (fork.REPO_URL, fork.REPO_REF) == ("https://github.com/acme/mp-workshop", "spring-2027")
    for path in notebooks:
        nb = json.loads(path.read_text())
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert "".join(first["source"]) == fork.setup_cell_source()
        assert 'os.environ.get("MOLPRACTICE_REPO", "https://github.com/acme/mp-workshop")' in fork.setup_cell_source()
        text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        assert fork.badge_markdown(path.name) in text and "github/acme/mp-workshop/blob/spring-2027/" in text
        assert "molpractice/molpractice" not in text
        assert _without_links(nb) == _without_links(before[path.name]), f"{path.name}: something else changed"
    again = subprocess.run([*cli, "--repo", str(copy), "--check"], capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
    refused = subprocess.run([*cli, "https://gitlab.com/acme/mp", "--repo", str(copy)], capture_output=True, text=True)
    assert refused.returncode == 2 and "GitHub only" in refused.stderr


def test_colab_links_check_finds_a_stale_notebook(tmp_path):
    copy = _fork_copy(tmp_path)
    cli = [sys.executable, "-m", "molpractice", "colab-links", "--repo", str(copy)]
    assert subprocess.run(cli, capture_output=True, text=True).returncode == 0
    path = sorted((copy / "notebooks").glob("[0-9]*.ipynb"))[0]
    nb = json.loads(path.read_text())
    next(c for c in nb["cells"] if c["cell_type"] == "code")["source"] = ["import molpractice as mp\n"]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    stale = subprocess.run([*cli, "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and path.name in stale.stderr
    assert json.loads(path.read_text()) == nb, "--check must not write"
