"""Starting and stopping ``bash scripts/env.sh lab`` for tests (tests/test_lab.py, tests/test_browser.py).

The server is started the way the README says, with the arguments a remote machine passes (``--port``,
``--no-browser``, ``--ip``), in its own process group; :func:`stop` asks it to shut down through its API and
then makes sure no process of the group is left.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url, token, follow=True):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def stop(proc, base, token):
    """Ask the server to shut down, then make sure the whole process group is gone."""
    pgid = proc.pid
    if proc.poll() is None:
        try:
            request = urllib.request.Request(f"{base}/api/shutdown", method="POST", data=b"",
                                             headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(request, timeout=10).close()
        except (OSError, urllib.error.URLError):
            pass
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not group_alive(pgid):
            break
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 10
        while group_alive(pgid) and time.monotonic() < deadline:
            try:
                proc.wait(0.2)
            except subprocess.TimeoutExpired:
                pass
    if proc.poll() is None:
        proc.wait(5)
    return not group_alive(pgid)



def start_lab(repo: Path, tmp: Path, token: str, env=None, timeout: float = 240, via_env_sh: bool = True):
    """``bash scripts/env.sh lab`` in ``repo`` on a free port, headless; returns ``(proc, base_url, log_path)``
    once ``/api/status`` answers (AssertionError with the log's tail otherwise; the server is then stopped).

    ``via_env_sh=False`` runs the ``jupyter lab`` command env.sh ends with (same root, start page and
    arguments) directly from this environment: for a *copy* of the repository, whose env.sh would otherwise
    reinstall this environment's editable package from the copy whenever its install stamp is stale."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    base_env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the tests' Agg would hide inline plots
    env = dict(base_env, MOLPRACTICE_VENV=sys.prefix, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_NO_CONFIG="1", BROWSER="false", **(env or {}))
    log_path = tmp / "lab.log"
    log = log_path.open("w")
    args = ["--port", str(port), "--no-browser", "--ip", "127.0.0.1", f"--IdentityProvider.token={token}"]
    if via_env_sh:
        command = ["bash", "scripts/env.sh", "lab", *args]
    else:
        root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        command = [str(Path(sys.executable).parent / "jupyter"), "lab", f"--ServerApp.root_dir={repo}",
                   "--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb", *root, *args]
    proc = subprocess.Popen(command,
                            cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log.close()
    deadline, status = time.monotonic() + timeout, None
    while time.monotonic() < deadline and proc.poll() is None:
        served = _served_port(log_path)
        if served is not None and served != port:  # the port was taken meanwhile (a test running next to this
            port, base = served, f"http://127.0.0.1:{served}"  # one): Jupyter moved on to another, as it says
        try:
            status = get(f"{base}/api/status", token)[0]
        except OSError:
            status = None
        if status == 200:
            return proc, base, log_path
        time.sleep(0.5)
    stop(proc, base, token)
    raise AssertionError(f"the server did not come up (exit {proc.poll()}):\n{log_path.read_text()[-3000:]}")


def _served_port(log_path: Path) -> int | None:
    """The port Jupyter says it serves on (its "running at" URL), once it has said so."""
    ports = re.findall(r"http://127\.0\.0\.1:(\d+)/", log_path.read_text(errors="replace"))
    return int(ports[-1]) if ports else None


def copy_checkout(repo: Path, dest: Path) -> Path:
    """Copy the files git tracks in ``repo`` (as they are in the work tree, uncommitted edits included) to ``dest``."""
    import shutil

    files = subprocess.run(["git", "ls-files", "-z"], cwd=repo, check=True, capture_output=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (repo / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, dest / name)
    return dest
